"""Firmware heap after boot on each board profile, against the profile's free heap.

Run: `python -m gaitloop.sim.heapfit` (prints one line per profile). Measured under the real
MicroPython Unix port with `gc.mem_alloc()`: the app booted on the profile's drivers (part
models under the `machine` stand-in, their own heap subtracted), processors built, the insole
profiles with one student model loaded, 300 samples taken. The part models' own heap is
subtracted twice over: what `wire_profile` allocates, and the register blocks the IMU model
builds on its first read (once per range setting; 2 IMUs x 300 rows, ~47 kB, which earlier
versions counted as firmware), and the stand-in's own modules (`machine`, `partmodels`,
`bench`: ~16 kB of code and names, in ROM on a board) are loaded before the baseline. The Unix port is 64-bit: every
object pointer is 8 bytes where the boards use 4, so the figure is an upper bound of what the
ESP32-S3 and the Pico W will use; the board's own `gaitloop status` prints the real one.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from gaitfw import profiles
from gaitloop.sim.machine_world import run_on_models
from gaitloop.sim.sources import make_replay

ROOT = Path(__file__).resolve().parents[3]
STUDENT = ROOT / "models" / "student_grf.gldm"
_N = 300

_CODE = """
import gc, json
rows = json.load(open("rows.json"))
cfg = json.load(open("cfg.json"))
# the stand-in for the board's `machine` and the part models are test harness: on a board
# `machine` is in ROM, so their code and names are loaded before the baseline
import machine, partmodels
from bench import wire_profile, profile_for_bench
gc.collect(); a0 = gc.mem_alloc()
from gaitfw import profiles
prof = profile_for_bench(profiles.get(cfg["profile"]))
gc.collect(); m0 = gc.mem_alloc()
models = wire_profile(prof, rows)
gc.collect(); models_bytes = gc.mem_alloc() - m0
from gaitfw import app as A
from gaitfw.boardhal import BoardHal
board = A.board_module(prof["board"])
hal = BoardHal(prof, len(board.CHANNELS))
class Sink:
    def write(self, b, off=0, n=None):
        return len(b) - off if n is None else n
app = A.App(board, cfg, hal, Sink())
app._next_status = 1000; app._next_hello = 5000
i = 0
while i < len(rows):
    app.step()
    i += 1
gc.collect()
total = gc.mem_alloc()
for m in models.values():  # the part models' lazily built register blocks are not firmware
    c = getattr(m, "_cache", None)
    if c:
        c.clear()
gc.collect()
lazy = total - gc.mem_alloc()
used = total - a0 - models_bytes - lazy
print(json.dumps({"used": used, "models_lazy": lazy, "processors": len(app.processors), "boot_error": app.boot_error}))
"""


def measure(name: str) -> dict:
    """{"used": bytes, "processors": n, "boot_error": ...} for profile `name`."""
    prof = profiles.get(name)
    if prof["board"] == "insole":
        src = sorted((ROOT / "data" / "gaitpdb").glob("*.txt"))[0]
        counts = make_replay("insole", "left", src).counts[:_N]
        cfg = {"profile": name, "student": str(STUDENT)}
    else:
        src = sorted((ROOT / "data" / "mocap" / "cmu").glob("*.amc"))[0]
        counts = make_replay("knee", "both", src).counts[:_N]
        cfg = {"profile": name}
    with tempfile.TemporaryDirectory(prefix="gaitloop-heap-") as tmp:
        Path(tmp, "rows.json").write_text(json.dumps(counts.astype(int).tolist()))
        Path(tmp, "cfg.json").write_text(json.dumps(cfg))
        res = run_on_models(_CODE, Path(tmp))
    assert isinstance(res, dict)
    res["heap_free"] = prof["heap_free"]
    return res


def main() -> None:
    for name in sorted(profiles.PROFILES):
        r = measure(name)
        print(f"{name:16s} firmware heap {r['used']:7d} B of {r['heap_free']:7d} B free "
              f"({100 * r['used'] / r['heap_free']:.0f} %), {r['processors']} processors")


if __name__ == "__main__":
    main()
