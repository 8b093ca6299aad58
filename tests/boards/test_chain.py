"""From a register read to a gait event: the app on a profile's drivers (part models fed by a
walk) gives the gait events the same app gives on the replay HAL with that walk's counts.

The insole on HX711 load cells reads the counts exactly, so its events must be identical;
the knee reads bend angles through the ADC divider (within 3 centidegrees) and IMU counts
through range scaling (within 1 count), so its MGait events must come at the same times with
values within 2 units (measured: 3 of 27 events differ, by 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaitfw import protocol as P
from gaitloop.decoder import StreamDecoder
from gaitloop.messages import Event, decode_payload
from gaitloop.sim.machine_world import run_on_models
from gaitloop.sim.replayfile import write_replay
from gaitloop.sim.sources import make_replay
from tests.conftest import SHIPPED_CMU, SHIPPED_GAITPDB

pytestmark = pytest.mark.micropython

_CODE = """
import json
from gaitfw import profiles, app as A
from gaitfw.boardhal import BoardHal
from gaitfw.hal import ReplayHal
from bench import wire_profile, profile_for_bench
rows = json.load(open("rows.json"))
cfg = json.load(open("cfg.json"))
prof = profile_for_bench(profiles.get(cfg["profile"]))
board = A.board_module(prof["board"])
for which in ("drivers", "replay"):
    if which == "drivers":
        wire_profile(prof, rows)
        hal = BoardHal(prof, len(board.CHANNELS))
    else:
        hal = ReplayHal("walk.glrp", len(board.CHANNELS), False)
    out = open(which + ".bin", "wb")
    app = A.App(board, dict(cfg, stream=False), hal, out)
    app._next_status = 10 ** 9; app._next_hello = 10 ** 9
    while app.step():
        if app.index >= len(rows):
            break
    out.close()
print(json.dumps(True))
"""


def _events(path: Path) -> list[tuple[int, int, int, int, int]]:
    frames = StreamDecoder().feed(path.read_bytes())
    out = []
    for f in frames:
        e = decode_payload(f) if f.kind == P.MSG_EVENT else None
        if isinstance(e, Event):
            out.append((f.t_ms, e.code, e.side, e.a, e.b))
    return out


def _run(tmp_path: Path, profile: str, replay) -> tuple[list, list]:
    write_replay(replay, tmp_path / "walk.glrp")
    (tmp_path / "rows.json").write_text(json.dumps(replay.counts.astype(int).tolist()))
    (tmp_path / "cfg.json").write_text(json.dumps({"profile": profile}))
    run_on_models(_CODE, tmp_path, timeout=300)
    return _events(tmp_path / "drivers.bin"), _events(tmp_path / "replay.bin")


def test_insole_on_load_cells_gives_the_replay_events(tmp_path: Path) -> None:
    src = sorted(SHIPPED_GAITPDB.glob("*.txt"))[0]
    drv, ref = _run(tmp_path, "esp32s3-insole", make_replay("insole", "left", src))
    assert len(ref) > 20  # heel strikes, toe-offs, ... over the recording
    assert drv == ref


def test_knee_on_adc_and_imu_gives_the_replay_events(tmp_path: Path) -> None:
    src = sorted(SHIPPED_CMU.glob("*.amc"))[0]
    drv, ref = _run(tmp_path, "picow-knee", make_replay("knee", "both", src))
    assert len(ref) > 5
    assert [e[:3] for e in drv] == [e[:3] for e in ref]  # same events at the same times
    # step lengths / angles: the drivers' rounding moves a value by a unit at most
    assert max(max(abs(a[3] - b[3]), abs(a[4] - b[4])) for a, b in zip(drv, ref, strict=True)) <= 2


_BUZZ = """
import json, machine
from gaitfw import profiles, app as A
from gaitfw.boardhal import BoardHal
from bench import wire_profile
rows = json.load(open("rows.json"))
prof = profiles.get("picow-knee")
wire_profile(prof, rows)
board = A.board_module("knee")
hal = BoardHal(prof, len(board.CHANNELS))
out = open("drivers.bin", "wb")
app = A.App(board, {"stream": False, "wait_steps": 1, "asym_pct": 10, "asym_off_pct": 5}, hal, out)
hal.attach(app)
app._next_status = 10 ** 9; app._next_hello = 10 ** 9
on = []
while app.index < 3 * len(rows) and app.step():  # the part models loop the walk
    if app.index % 10 == 0:
        on.append([app.t_ms, hal.buzzer.pwm.duty_u16()])
out.close()
print(json.dumps(on))
"""


def test_asymmetry_feedback_drives_the_buzzer_pwm(tmp_path: Path) -> None:
    """A limping walk read through the drivers: MGait's asymmetry rule turns on (after one
    asymmetric step at 10 %: the shipped walk is short), and the buzzer's PWM beeps (50 % duty)
    only after the first mg_buzzer_on event."""
    src = sorted(SHIPPED_CMU.glob("*.amc"))[0]
    replay = make_replay("knee", "left", src, limp=0.35)
    (tmp_path / "rows.json").write_text(json.dumps(replay.counts.astype(int).tolist()))
    on = run_on_models(_BUZZ, tmp_path, timeout=300)
    events = _events(tmp_path / "drivers.bin")
    buzz_on = [e[0] for e in events if e[1] == 55]  # EV_MG_BUZZ
    assert buzz_on, "the limp did not turn the asymmetry rule on"
    beeping = [t for t, duty in on if duty == 32768]
    assert beeping and min(beeping) >= buzz_on[0]
    assert all(duty in (0, 32768) for _, duty in on)
