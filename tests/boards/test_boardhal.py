"""Each board profile's HAL on its part models under real MicroPython: the replay comes back
through every driver, the sample path allocates nothing, and a sensor fault reaches STATUS
while the board keeps sampling (the app's own STATUS frame, decoded by the host decoder).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaitfw import profiles
from gaitfw import protocol as P
from gaitloop.decoder import StreamDecoder
from gaitloop.messages import Status, decode_payload
from gaitloop.sim.machine_world import run_on_models
from gaitloop.sim.sources import make_replay
from tests.conftest import SHIPPED_CMU, SHIPPED_GAITPDB

pytestmark = pytest.mark.micropython

_N = 300
_TOL = {"hx711": 0, "fsr": 5, "bend": 3, "mpu6050": 1}  # counts: the part's resolution


def _counts(board: str) -> np.ndarray:
    if board == "insole":
        src = sorted(SHIPPED_GAITPDB.glob("*.txt"))[0]
        return make_replay("insole", "left", src).counts[:_N].astype(int)
    src = sorted(SHIPPED_CMU.glob("*.amc"))[0]
    return make_replay("knee", "both", src).counts[:_N].astype(int)


_CODE = """
import json, gc
from array import array
from gaitfw import profiles
from gaitfw.boardhal import BoardHal
from bench import wire_profile, profile_for_bench
rows = json.load(open("rows.json"))
prof = profile_for_bench(profiles.get(NAME))
models = wire_profile(prof, rows)
nch = len(rows[0])
hal = BoardHal(prof, nch)
s = array("h", [0] * nch)
out = []
for _ in range(20):
    hal.read(s); out.append(list(s))
def steady(n):
    gc.collect()
    a0 = gc.mem_alloc()
    i = 0
    while i < n:
        hal.read(s)
        i += 1
    return gc.mem_alloc() - a0
grew = steady(len(rows) - 40)
for _ in range(20):
    hal.read(s); out.append(list(s))
print(json.dumps({"out": out, "grew": grew, "status": hal.status(), "faults": hal.fault_counts()}))
"""


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_reads_the_replay_through_its_drivers_without_allocating(name: str, tmp_path: Path) -> None:
    prof = profiles.get(name)
    counts = _counts(prof["board"])
    (tmp_path / "rows.json").write_text(json.dumps(counts.tolist()))
    res = run_on_models(_CODE.replace("NAME", repr(name)), tmp_path)
    got = np.array(res["out"])
    want = np.concatenate([counts[:20], counts[-20:]])
    for s in prof["sensors"]:
        width = 6 if s["drv"] == "mpu6050" else 1
        sl = slice(s["ch"], s["ch"] + width)
        want_s = np.maximum(want[:, sl], 0) if s["drv"] == "fsr" else want[:, sl]
        err = np.abs(got[:, sl] - want_s).max()
        assert err <= _TOL[s["drv"]], f"{name} {s['drv']} ch {s['ch']}: error {err}"
    assert res["grew"] == 0, f"{name}: the sample path allocated {res['grew']} bytes"
    assert res["status"] == 0 and res["faults"] == [0] * len(prof["sensors"])


_APP = """
import json
from array import array
from gaitfw import profiles, app as A
from gaitfw.boardhal import BoardHal
from bench import wire_profile
rows = json.load(open("rows.json"))
prof = profiles.get("picow-knee")
models = wire_profile(prof, rows)
board = A.board_module("knee")
hal = BoardHal(prof, len(board.CHANNELS))
out = open("out.bin", "wb")
app = A.App(board, {"stream": True}, hal, out)
app._next_status = 100000; app._next_hello = 100000  # as sampler() sets them; STATUS by hand here
for _ in range(50):
    assert app.step()
models[8].nack = True  # right thigh IMU unplugged
for _ in range(50):
    assert app.step()  # the board keeps sampling
app.send_status()
models[8].nack = False
models[8].reset()
for _ in range(50):
    app.step()
app.send_status()  # the fault was seen since the last STATUS: still reported once
app.send_status()  # recovered: clear
out.close()
print(json.dumps({"faults": hal.fault_counts(), "nacks": hal.drivers[3].nacks, "index": app.index}))
"""


def test_unplugged_imu_sets_sensor_fault_in_status_and_the_board_keeps_running(tmp_path: Path) -> None:
    counts = _counts("knee")
    (tmp_path / "rows.json").write_text(json.dumps(counts[:200].tolist()))
    res = run_on_models(_APP, tmp_path)
    assert res["index"] == 150
    assert res["faults"] == [0, 0, 0, 50] and res["nacks"] == 50
    frames = StreamDecoder().feed((tmp_path / "out.bin").read_bytes())
    statuses = [m for m in (decode_payload(f) for f in frames if f.kind == P.MSG_STATUS) if isinstance(m, Status)]
    flags = [st.flags & P.ST_SENSOR_FAULT for st in statuses[-3:]]
    assert flags == [P.ST_SENSOR_FAULT, P.ST_SENSOR_FAULT, 0]
    samples = [f for f in frames if f.kind == P.MSG_SAMPLES]
    assert len(samples) >= 14  # 10 samples a frame: streaming went on through the fault


_FROM_CFG = """
import json
from array import array
from gaitfw import profiles, app as A
from gaitfw.boardhal import from_config
from bench import wire_profile
rows = json.load(open("rows.json"))
res = {}
# picow-insole with a per-sensor calibration from config.json: the heel FSR reads 2x
wire_profile(profiles.get("picow-insole"), rows)
cal = list(profiles.PICOW_INSOLE["sensors"][0]["cal"])
cal[3] = cal[3] * 2
hal = from_config({"profile": "picow-insole", "hal_cal": {"0": cal}}, A.board_module("insole"))
s = array("h", [0, 0]); hal.read(s); res["fsr"] = list(s)
# esp32s3-insole with the cells' tare from config.json
wire_profile(profiles.get("esp32s3-insole"), rows, tare=5000)
hal = from_config({"profile": "esp32s3-insole", "hx711_tare": {"0": 5000, "1": 5000}}, A.board_module("insole"))
hal.read(s); res["hx"] = list(s)
try:
    from_config({"profile": "picow-knee"}, A.board_module("insole"))
except ValueError as e:
    res["kind"] = str(e)
print(json.dumps(res))
"""


def test_config_json_selects_profile_calibration_and_tare(tmp_path: Path) -> None:
    rows = [[2000, 1000]] * 5  # 200 N heel, 100 N ball
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    res = run_on_models(_FROM_CFG, tmp_path)
    assert abs(res["fsr"][0] - 4000) <= 5 and abs(res["fsr"][1] - 1000) <= 5
    assert res["hx"] == [2000, 1000]
    assert res["kind"] == "profile picow-knee is for the knee, this board is the insole"


_SWAP = """
import json
from gaitfw import profiles, app as A
from gaitfw.boardhal import BoardHal
from bench import wire_profile
rows = json.load(open("rows.json"))
prof = profiles.get("picow-knee")
wire_profile(prof, rows)
board = A.board_module("knee")
hal = BoardHal(prof, len(board.CHANNELS))
app = A.App(board, {"stream": True}, hal, open("out.bin", "wb"))
app._next_status = app._next_hello = 100000
class Rec:
    def __init__(self): self.got = []
    def feed(self, t, s): self.got.append([t] + list(s))
    def status(self): return 0
for _ in range(20):
    app.step()
a, b = Rec(), Rec()
app.processors = [a]  # an update swaps the processors while the board samples
for _ in range(30):
    assert app.step() == 1
app.processors = [a, b]
for _ in range(10):
    app.step()
app.processors = []
for _ in range(10):
    app.step()
print(json.dumps({"a": a.got, "b": b.got, "drv": type(app._st).__name__, "index": app.index}))
"""


def test_drivers_step_feeds_the_processors_an_update_swapped_in() -> None:
    """On the board drivers `App.step` is the native tick bound to its state array (`app._Drv`),
    which calls the processors' `feed` hanging on that array: replacing the processors (an
    update) must reach it, each sample fed once with its time and counts, none after []."""
    import tempfile

    counts = _counts("knee")
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        (tmp / "rows.json").write_text(json.dumps(counts[:100].tolist()))
        res = run_on_models(_SWAP, tmp)
    assert res["drv"] == "_Drv" and res["index"] == 70
    a, b = res["a"], res["b"]
    assert len(a) == 40 and len(b) == 10
    assert [r[0] for r in a] == [t * 10 for t in range(20, 60)]  # 100 Hz: 10 ms a sample
    assert a[30:] == b  # both fed the same samples
    # the counts the drivers read, within the parts' resolution (_TOL)
    assert np.abs(np.array([r[1:] for r in a]) - counts[20:60]).max() <= max(_TOL.values())
