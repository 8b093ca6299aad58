"""Idle and wake under real MicroPython (gaitfw/power.py): the app's own sampler on a profile's
drivers and part models, in real time. A board that nobody moves goes idle after
`idle_after_s` (STATUS says so, the loop ticks at the idle rate, the LED goes off and, with the
radio off, `machine.lightsleep` is called between ticks); force or motion at an idle tick, a
BLE central connecting, or CMD_POWER 2 brings it back to full rate, and from the tick that saw
it on every sample is streamed (the host decoder counts the idle span as idle, not lost).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaitfw import protocol as P
from gaitloop.decoder import BoardState, StreamDecoder
from gaitloop.messages import Ack, Samples, Status
from gaitloop.sim.machine_world import run_on_models
from gaitloop.sim.sources import make_replay
from gaitloop.timeprobe import board_time_s
from tests.conftest import SHIPPED_CMU, SHIPPED_GAITPDB

pytestmark = pytest.mark.micropython

# The board script: stand still (constant readings); at each (ms, code) of STEPS the code runs
# (the wearer walks, a central connects, a command arrives); a watcher task notes the power
# state every 20 ms of real time.
_RUN = """
import json, asyncio, time, binascii
import machine
from gaitfw import profiles, app as A
from gaitfw import protocol as P
from gaitfw import powercmd
from gaitfw.boardhal import BoardHal
from bench import wire_profile
still = json.load(open("still.json"))
walk = json.load(open("walk.json"))
prof = profiles.get(NAME)
models = wire_profile(prof, still)
board = A.board_module(prof["board"])
hal = BoardHal(prof, len(board.CHANNELS))
class Sink:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(buf[off:off + n])
class Central:  # what link_ble.BleLink shows the app: conn >= 0 while a central is connected
    conn = -1
    adv = []
    queued = False  # bytes put since the last flush: the sampler's turn sends them
    def set_idle(self, idle): self.adv.append(idle)
    def put(self, buf, n, seq): self.queued = True
    def flush(self): self.queued = False
cfg = CFG
app = A.App(board, cfg, hal, Sink())
hal.attach(app)
if USE_BLE:
    app.ble = Central()
log = []
def walk_now():
    for s in prof["sensors"]:
        ch = s["ch"]
        w = 6 if s["drv"] == "mpu6050" else 1
        models[ch].play([r[ch] if w == 1 else r[ch:ch + w] for r in walk])
async def watch():
    t0 = time.ticks_ms()
    steps = STEPS
    while True:
        el = time.ticks_diff(time.ticks_ms(), t0)
        log.append((el, app.power.state, app.index))
        while steps and el >= steps[0][0]:
            exec(steps.pop(0)[1], globals())
        if el >= END_MS:
            break
        await asyncio.sleep_ms(20)
probe_at = None
async def main():
    global t_start
    t_start = time.ticks_ms()
    task = asyncio.create_task(app.sampler())
    await watch()
    app.running = False
    await task
asyncio.run(main())
led = hal.led.on if hal.led is not None else None
print(json.dumps({"log": log, "sleeps": len(machine.sleep_log), "sleep_ms": machine.sleep_log[:5],
                  "out": binascii.hexlify(app.out.b).decode(), "led": led, "index": app.index,
                  "adv": Central.adv, "timing": powercmd.stats(app.pacer),
                  "probe_ms": None if probe_at is None else time.ticks_diff(probe_at, t_start)}))
"""


def _rows(board: str, n: int = 400) -> tuple[list, list]:
    """(still, walk): a wearer sitting (insole: light load; knee: the walk's first posture,
    held) and the walk from its first clearly moving sample on. The part models advance one row
    per read, at whatever rate the board reads, so the walk starts where an idle tick sees it."""
    if board == "insole":
        walk = make_replay("insole", "left", sorted(SHIPPED_GAITPDB.glob("*.txt"))[0]).counts.astype(int)
        still = np.array([[50, 30]] * 10)  # 5 N / 3 N: a foot resting while seated
        chans, thr = [0, 1], 300
    else:
        walk = make_replay("knee", "both", sorted(SHIPPED_CMU.glob("*.amc"))[0]).counts.astype(int)
        still = np.repeat(walk[:1], 10, axis=0)
        still[:, [4, 5, 6, 11, 12, 13]] = 0  # gyros at rest
        chans, thr = [0, 4, 5, 6, 7, 11, 12, 13], 1000
    moving = np.abs(walk[:, chans] - still[0, chans]).max(axis=1) > 2 * thr
    start = int(np.argmax(moving))
    return still.tolist(), walk[start:start + n].tolist()


def _run(tmp_path: Path, name: str, board: str, cfg: dict, steps: list[tuple[int, str]],
         end_ms: int, ble: bool = False) -> dict:
    # this machine is shared and loaded: a late loop catches up here instead of skipping ticks
    # (the skip policy has its own test, test_loop_timing.py), so every gap is the idle span
    cfg = {"catchup": -1, **cfg}
    still, walk = _rows(board)
    (tmp_path / "still.json").write_text(json.dumps(still))
    (tmp_path / "walk.json").write_text(json.dumps(walk))
    code = (_RUN.replace("NAME", repr(name)).replace("CFG", repr(cfg)).replace("USE_BLE", str(ble))
            .replace("STEPS", repr(steps)).replace("END_MS", str(end_ms)))
    res = run_on_models(code, tmp_path, timeout=60)
    frames = StreamDecoder().feed(bytes.fromhex(res["out"]))
    st = BoardState()
    msgs = [st.update(f) for f in frames]
    res["statuses"] = [m for m in msgs if isinstance(m, Status)]
    res["samples"] = [m for m in msgs if isinstance(m, Samples)]
    res["acks"] = [m for m in msgs if isinstance(m, Ack)]
    res["state"] = st
    return res


def _idle_span(log: list) -> tuple[int, int | None]:
    """(ms when idle began, ms when it ended or None) from the watcher's log."""
    t_in = next(t for t, s, _ in log if s == P.POWER_IDLE)
    t_out = next((t for t, s, _ in log if t > t_in and s == P.POWER_ACTIVE), None)
    return t_in, t_out


def _check_stream_after_wake(res: dict, reason: int) -> None:
    powers = [(s.power, s.wake_reason) for s in res["statuses"]]
    i_idle = powers.index((P.POWER_IDLE, P.WAKE_NONE))
    assert (P.POWER_ACTIVE, reason) in powers[i_idle:], powers
    # an idle STATUS reports the idle rate; the one after the wake the board rate again
    idle_st = res["statuses"][i_idle]
    assert idle_st.rate_hz == 10
    assert res["statuses"][-1].rate_hz == 100
    # after the wake every sample is there: the only gap in the sample indices is the idle span,
    # which the decoder counts as idle
    st = res["state"]
    assert st.sample_gaps == 0, st.sample_gaps
    assert st.idle_samples > 0
    firsts = [m.first_index for m in res["samples"]]
    ends = [m.first_index + len(m.counts) for m in res["samples"]]
    jumps = [(e, f) for e, f in zip(ends, firsts[1:], strict=False) if f != e]
    assert len(jumps) == 1, jumps
    assert ends[-1] >= jumps[0][1] + 40  # full rate after the wake (>= 0.4 s of samples)


def test_insole_goes_idle_after_n_s_and_wakes_on_force(tmp_path: Path) -> None:
    cfg = {"idle_after_s": 1, "stream": True}
    probe = "probe_at = time.ticks_ms(); app.handle_command(9, P.CMD_TIME, b'')"
    res = _run(tmp_path, "picow-insole", "insole", cfg, [(1800, probe), (2200, "walk_now()")], 3200)
    t_in, t_out = _idle_span(res["log"])
    assert 900 <= t_in <= 1500, res["log"]  # 1 s without motion (+ one idle-rate check)
    assert t_out is not None and 2200 <= t_out <= 2500  # the next idle tick (100 ms) sees the force
    # while idle the index moves on at the board rate: board time stays the wall clock
    idle = [(t, i) for t, s, i in res["log"] if s == P.POWER_IDLE]
    rate = (idle[-1][1] - idle[0][1]) / ((idle[-1][0] - idle[0][0]) / 1000)
    assert 80 <= rate <= 120, rate
    # radio off, profile allows it: lightsleep between the idle ticks, about one per tick
    assert res["sleeps"] >= 5 and all(50 <= ms <= 100 for ms in res["sleep_ms"]), res["sleep_ms"]
    _check_stream_after_wake(res, P.WAKE_MOTION)
    # CMD_TIME while idle still places the arrival on the sample clock (the idle tick's instant)
    (ack,) = [a for a in res["acks"] if a.cmd == P.CMD_TIME]
    board_s = board_time_s(ack.reply, 100, 1.0)
    assert board_s is not None and abs(board_s - res["probe_ms"] / 1000) < 0.015, (board_s, res["probe_ms"])


def test_knee_wakes_on_motion_of_the_thighs(tmp_path: Path) -> None:
    cfg = {"idle_after_s": 1, "stream": True, "lightsleep": False}
    res = _run(tmp_path, "picow-knee", "knee", cfg, [(2000, "walk_now()")], 3000)
    _t_in, t_out = _idle_span(res["log"])
    assert t_out is not None and 2000 <= t_out <= 2300
    assert res["sleeps"] == 0  # config turned lightsleep off: asyncio waits instead
    _check_stream_after_wake(res, P.WAKE_MOTION)


def test_wakes_on_a_ble_connection_with_slow_advertising_while_idle(tmp_path: Path) -> None:
    cfg = {"idle_after_s": 1, "stream": True}
    res = _run(tmp_path, "picow-insole", "insole", cfg, [(2000, "app.ble.conn = 0")], 3000, ble=True)
    _t_in, t_out = _idle_span(res["log"])
    assert t_out is not None and 2000 <= t_out <= 2300
    assert res["sleeps"] == 0  # a radio is up: no lightsleep, it would drop advertising
    assert res["adv"] == [True, False]  # advertising slowed while idle, fast again on wake
    _check_stream_after_wake(res, P.WAKE_LINK)


def test_connected_board_never_idles_and_cmd_power_idle_is_refused(tmp_path: Path) -> None:
    cfg = {"idle_after_s": 1, "stream": True}
    idle_cmd = "app.handle_command(7, P.CMD_POWER, bytes((1,)))"
    res = _run(tmp_path, "picow-insole", "insole", cfg, [(300, "app.ble.conn = 0"), (1800, idle_cmd)], 2500,
               ble=True)
    assert all(s == P.POWER_ACTIVE for _, s, _ in res["log"])
    naks = [f for f in StreamDecoder().feed(bytes.fromhex(res["out"])) if f.kind == P.MSG_NAK]
    assert len(naks) == 1 and naks[0].payload[3] == P.ERR_POWER_STATE


def test_cmd_power_idles_and_wakes_a_board_that_never_idles_by_itself(tmp_path: Path) -> None:
    cfg = {"idle_after_s": 0, "stream": True, "lightsleep": False}  # 0: never idle by itself
    steps = [(500, "app.handle_command(7, P.CMD_POWER, bytes((1,)))"),
             (1500, "app.handle_command(8, P.CMD_POWER, bytes((2,)))")]
    res = _run(tmp_path, "picow-insole", "insole", cfg, steps, 2200)
    t_in, t_out = _idle_span(res["log"])
    assert 500 <= t_in <= 700
    assert t_out is not None and 1500 <= t_out <= 1600
    assert [a.cmd for a in res["acks"]] == [P.CMD_POWER, P.CMD_POWER]
    _check_stream_after_wake(res, P.WAKE_COMMAND)
