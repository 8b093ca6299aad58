"""The sample grid (gaitfw/pacer.py): deadlines start + n x period that never drift, lateness
statistics, and overruns that are counted and skipped, never carried into later samples.

The grid arithmetic runs under CPython (the firmware module imports there); the loop itself
runs under real MicroPython on a profile's drivers in real time, with a stall injected.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaitfw import protocol as P
from gaitfw.compat import ticks_diff
from gaitfw.pacer import Pacer
from gaitfw.powercmd import stats
from gaitloop.decoder import BoardState, StreamDecoder
from gaitloop.messages import Samples
from gaitloop.sim.machine_world import run_on_models
from gaitloop.sim.sources import make_replay
from tests.conftest import SHIPPED_GAITPDB


@pytest.mark.parametrize(("rate", "speed"), [(100, 1.0), (3, 1.0), (100, 7.0), (64, 2.5)])
def test_deadlines_are_start_plus_n_periods_exactly(rate: int, speed: float) -> None:
    pc = Pacer(rate, speed)
    pc.start(1000)
    n = rate * 50  # 50 s of board time
    for _ in range(n):
        pc.advance()
    # 50 s / speed of real time, to the microsecond: the fraction's remainder is carried
    assert ticks_diff(pc.due, 1000) == round(50e6 / speed)


def test_lateness_statistics() -> None:
    pc = Pacer(100)
    for late in [0] * 900 + [100] * 90 + [5000] * 9 + [30000]:
        pc.record(late)
    st = stats(pc)
    assert st["n"] == 1000 and st["max_us"] == 30000
    assert st["late"] == 1  # >= one period (10 ms)
    assert abs(st["mean_us"] - (90 * 100 + 9 * 5000 + 30000) / 1000) <= 100  # bins of 200 us
    assert 100 <= st["p99_us"] <= 200  # the 990th sample: 100 us, to a bin
    pc.reset_stats()
    assert stats(pc)["n"] == 0 and pc.overruns() == 0


def test_skip_moves_the_grid_past_a_stall_and_counts_it() -> None:
    pc = Pacer(100, catchup=2)
    pc.start(0)
    now = 95_000  # 9.5 periods late
    assert pc.behind(ticks_diff(now, pc.due))
    k = pc.skip(now)
    assert k == 7 and pc.skipped == 7  # ticks 0-6 skipped; 7, 8, 9 are caught up (2 + the due one)
    assert ticks_diff(now, pc.due) == 25_000
    assert not pc.behind(ticks_diff(now, pc.due))
    assert not Pacer(100, catchup=-1).behind(10**6)  # a replay never skips


_LOOP = """
import json, asyncio, time, binascii
from gaitfw import profiles, app as A
from gaitfw import powercmd
from gaitfw.boardhal import BoardHal
from bench import wire_profile
rows = json.load(open("rows.json"))
prof = profiles.get("picow-insole")
models = wire_profile(prof, rows)
board = A.board_module("insole")
hal = BoardHal(prof, 2)
class Sink:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(buf[off:off + n])
app = A.App(board, CFG, hal, Sink())
async def main():
    t0 = time.ticks_us()
    task = asyncio.create_task(app.sampler())
    await asyncio.sleep_ms(1000)
    time.sleep_ms(STALL_MS)  # a stall the loop cannot see coming (a long command, a GC pass)
    await asyncio.sleep_ms(1500)
    el = time.ticks_diff(time.ticks_us(), t0)
    idx = app.index
    app.running = False
    await task
    print(json.dumps({"el_us": el, "index": idx, "timing": powercmd.stats(app.pacer), "flags": app.flags,
                      "out": binascii.hexlify(app.out.b).decode()}))
asyncio.run(main())
"""


def _loop(tmp_path: Path, catchup: int, stall_ms: int) -> dict:
    walk = make_replay("insole", "left", SHIPPED_GAITPDB / "GaCo01_01.txt").counts[:600].astype(int)
    (tmp_path / "rows.json").write_text(json.dumps(walk.tolist()))
    cfg = {"stream": True, "idle_after_s": 0, "catchup": catchup}
    res = run_on_models(_LOOP.replace("CFG", repr(cfg)).replace("STALL_MS", str(stall_ms)), tmp_path, timeout=60)
    st = BoardState()
    res["samples"] = [m for m in (st.update(f) for f in StreamDecoder().feed(bytes.fromhex(res["out"])))
                      if isinstance(m, Samples)]
    res["state"] = st
    return res


@pytest.mark.micropython
def test_stall_is_skipped_and_counted_and_the_clock_does_not_drift(tmp_path: Path) -> None:
    res = _loop(tmp_path, 2, 120)
    t = res["timing"]
    # the sample index stays on the wall clock: the stall did not delay the grid
    assert abs(res["index"] - res["el_us"] / 10_000) <= 3, (res["index"], res["el_us"])
    assert t["skipped"] >= 8  # 120 ms = 12 periods, 2 caught up (more when the machine is busy)
    # no sample is read more than the catch-up (2 periods) + one late: the stall is not carried
    assert t["late"] >= 2 and t["max_us"] < 40_000
    assert res["flags"] & P.ST_SAMPLE_LATE
    # the host sees the skipped ticks as lost samples, exactly
    assert res["state"].sample_gaps == t["skipped"]


@pytest.mark.micropython
def test_a_replay_catches_up_instead(tmp_path: Path) -> None:
    res = _loop(tmp_path, -1, 120)
    t = res["timing"]
    assert t["skipped"] == 0 and t["late"] >= 10  # every tick taken, late ones back to back
    assert t["max_us"] >= 100_000
    assert abs(res["index"] - res["el_us"] / 10_000) <= 3
    assert res["state"].sample_gaps == 0


_ALLOC = """
import gc, json
from array import array
from gaitfw.pacer import Pacer
from gaitfw.power import Power
pc = Pacer(100, catchup=2)
pw = Power("knee", 14, 100, {"idle_after_s": 1})
s = array("h", [0] * 14)
pc.start(0)
def run(n):
    gc.collect()
    a0 = gc.mem_alloc()
    i = 0
    while i < n:
        pc.record(i % 20000)
        pc.behind(i % 40000)
        pc.advance()
        s[5] = (i // 7) % 3000
        if i % 10 == 0:
            pw.check_now(s)
        i += 1
    return gc.mem_alloc() - a0
run(100)
grew = run(20000)
print(json.dumps({"grew": grew, "late": pc.late()}))
"""


@pytest.mark.micropython
def test_the_per_sample_timing_and_idle_checks_allocate_nothing(tmp_path: Path) -> None:
    res = run_on_models(_ALLOC, tmp_path)
    assert res["grew"] == 0, res
    assert res["late"] > 0  # the control: the loop did record late samples
