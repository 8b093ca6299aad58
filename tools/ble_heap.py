"""BLE's share of a board's RAM: the MicroPython GC heap it takes at run time, and the static
RAM the radio stacks take in a firmware image.

Why a script: the Pico W's heap figures (docs/hardware.md, "Heap") are read on an emulated
RP2040 with its radio never started (rp2040js has no CYW43439), so what BLE takes from the
heap on a board was not known. Two measurements, each printed with what it is:

`heap`: a MicroPython Unix port built with BTstack (the Pico W's stack: MICROPY_PY_BLUETOOTH=1
MICROPY_BLUETOOTH_BTSTACK=1, H4 transport; docs/hardware.md has the build) or NimBLE speaks HCI
over a pty to a bumble controller on the simulator's virtual link (`sim/ble_nimble.py`). The
board runs the firmware's own BLE start-up as `gaitfw.app.start_ble` does it (`BleLink`: BLE on,
service registered, RX buffer enlarged, frame ring), then streams an insole replay to a bleak
host on bumble that asks for MTU 247, subscribes and sends START. `gc.mem_alloc()` after
`gc.collect()` is read before `BLE()`, after it, after `active(True)`, after the service, while
advertising, every 0.5 s while connected and streaming, and after the host left. The link's
own Python objects are measured apart (the same `BleLink` on a stack stand-in whose calls do
nothing), so the stack's share of the service is the rest.

`static`: a firmware image's linker map (`firmware.elf.map` beside the ELF) summed per part:
.data and .bss of BTstack, its CYW43 HCI transport, the cyw43 driver, lwIP, MicroPython's
Bluetooth glue, TinyUSB and the rest. Static RAM comes off the GC heap, which on the rp2 port
is what is left between .bss and the stack (`__GcHeapStart`..`__GcHeapEnd`).

Run:
  python tools/ble_heap.py heap --micropython PATH [--seconds 10] [--jam 5] [--ring 16384] [--json]
  python tools/ble_heap.py static PATH/firmware.elf.map [PATH2/firmware.elf.map ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"

_BOARD = r"""
import gc, time, asyncio, bluetooth
from array import array
from micropython import const
from gaitfw import app as A
from gaitfw.boards import insole
from gaitfw.hal import ReplayHal
from gaitfw.link_ble import BleLink

RING = %(ring)d
R = array("i", bytes(4 * 3 * 400))  # readings: (state, ms, heap) x 400, preallocated before "base"
TIMEOUT_MS = %(timeout_ms)d
out = []

class Sink:
    def write(self, buf, off, n):
        pass

def used():
    gc.collect()
    gc.collect()
    return gc.mem_alloc()

def note(stage):
    out.append("stage %%s %%d" %% (stage, used()))

class StubBle:
    # the link's own objects: the same BleLink, with the stack's calls doing nothing
    def active(self, *a):
        return True
    def config(self, *a, **k):
        return (0, b"\x00\x00\x00\x00\x00\x01") if a and a[0] == "mac" else None
    def irq(self, h):
        pass
    def gatts_register_services(self, s):
        return ((1, 2),)
    def gatts_set_buffer(self, *a):
        pass

hal = ReplayHal(%(replay)r, 2, True)
app = A.App(insole, {"board": "insole", "side": "left"}, hal, Sink())
note("base")
stub = BleLink(bluetooth, "insole", "left", app._ble_command, RING, ble=StubBle())
note("link_objects")
stub = None
note("base2")
ble = bluetooth.BLE()
note("ble_object")
ble.active(True)
note("active")
link = BleLink(bluetooth, "insole", "left", app._ble_command, RING, ble=ble)
app.attach_ble(link)
note("service")
link.poll()
note("advertising")

_ADV = const(0)
_LIVE = const(1)
_GONE = const(2)

async def watch():
    # one reading every 0.5 s into R (a list of strings would grow the heap it measures)
    t0 = time.ticks_ms()
    live_at = -1
    gone = -1
    n = 0
    while time.ticks_diff(time.ticks_ms(), t0) < TIMEOUT_MS and n < 400:
        await asyncio.sleep_ms(500)
        a = used()
        now = time.ticks_diff(time.ticks_ms(), t0)
        if link.live and link.conn >= 0:
            if live_at < 0:
                live_at = now
            R[3 * n] = _LIVE
            R[3 * n + 1] = now - live_at
        elif live_at >= 0 and link.conn < 0:
            if gone < 0:
                gone = now
            R[3 * n] = _GONE
            R[3 * n + 1] = now - gone
        elif live_at < 0:
            R[3 * n] = _ADV
            R[3 * n + 1] = now
        else:
            continue  # connected, not yet live
        R[3 * n + 2] = a
        n += 1
        if gone >= 0 and now - gone >= 2000:  # what the stack keeps after the host left, for 2 s
            break
    note("after_disconnect")
    out.append("mtu %%d" %% link.mtu)
    for i in range(n):
        out.append("r %%s %%d %%d" %% (("adv", "live", "gone")[R[3 * i]], R[3 * i + 1], R[3 * i + 2]))
    out.append("stats %%d %%d %%d %%d" %% (link.notifications, link.enomem, link.partials, link.ring.overrun))
    app.running = False

async def main():
    await asyncio.gather(app.main(), watch())

asyncio.run(main())
link.close()
for line in out:
    print(line)
"""


def _replay(tmp: Path) -> Path:
    from gaitloop.sim.replayfile import write_replay
    from gaitloop.sim.sources import make_replay

    return write_replay(make_replay("insole", "left", WALK), tmp / "walk.glrp")


async def _host(transport: str, name: str, radio: Any, t: dict[str, float]) -> dict[str, Any]:
    """A host on bumble: wait while the board advertises and runs, connect, wait for the board's
    MTU request, subscribe, START, listen; then (t["jam"] > 0) hold the board's packets as an
    out-of-reach central would, and hang up while they are held."""
    from bleak import BleakClient

    from gaitfw import protocol as P
    from gaitloop.decoder import StreamDecoder
    from gaitloop.link.ble_link import RX_UUID, TX_UUID, find_board
    from gaitloop.link.bleak_bumble import BleakClientBumble, close_bumble_devices
    from gaitloop.messages import CommandEncoder

    await asyncio.sleep(t["adv"])
    dev = await find_board(name, transport, 30)
    if dev is None:
        raise RuntimeError(f"board {name} not found on {transport}")
    notes: list[bytes] = []
    try:
        async with BleakClient(dev, backend=BleakClientBumble, transport=transport) as client:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            while client.mtu_size != 247 and loop.time() - t0 < 5:
                await asyncio.sleep(0.05)
            mtu = client.mtu_size
            await client.start_notify(TX_UUID, lambda _c, d: notes.append(bytes(d)))
            await client.write_gatt_char(RX_UUID, CommandEncoder().encode(P.CMD_START), response=False)
            await asyncio.sleep(t["stream"])
            if t["jam"] > 0:
                radio.jam(True)
                await asyncio.sleep(t["jam"])
    finally:
        await close_bumble_devices()
        radio.jam(False)
    frames = StreamDecoder().feed(b"\x00" + b"".join(notes))
    return {"host_mtu": mtu, "notifications": len(notes), "bytes": sum(map(len, notes)),
            "samples_frames": sum(f.kind == P.MSG_SAMPLES for f in frames)}


def measure_heap(binary: str, seconds: float = 10.0, jam: float = 0.0, ring: int = 16384,
                 adv: float = 5.0, heapsize: str = "1M") -> dict[str, Any]:
    """Run the board on `binary` (a BTstack or NimBLE Unix port) against a bumble host; the
    heap at each stage, in bytes of `gc.mem_alloc()` (the binary's own word size)."""
    from gaitloop.sim.ble_world import BleWorld, socket_path

    world = BleWorld()
    radio = world.add_nimble_board("ble-heap", socket_path().with_name("hci"))
    t = {"adv": adv, "stream": seconds, "jam": jam}
    with tempfile.TemporaryDirectory(prefix="ble-heap-") as tmp:
        code = _BOARD % {"ring": ring, "timeout_ms": int((adv + seconds + jam + 60) * 1000),
                         "replay": str(_replay(Path(tmp)))}
        env = dict(os.environ, MICROPYBTUART=str(radio.pty_path),
                   MICROPYPATH=f"{FIRMWARE}:.frozen:{Path(binary).parent / 'lib'}")
        proc = subprocess.Popen([binary, "-X", f"heapsize={heapsize}", "-c", code], env=env, cwd=tmp,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        result: dict[str, Any] = {"seconds": t}
        try:
            for _ in range(300):  # 30 s for the board to start BLE and advertise
                if radio.named.wait(0.1) or proc.poll() is not None:
                    break
            if not radio.named.is_set():
                err = ((proc.stdout.read() + proc.stderr.read()).strip().splitlines() if proc.poll() is not None
                       else ["still running"])
                raise RuntimeError(f"the board never advertised (BLE did not start): {(err or ['?'])[-1]}")
            result.update(asyncio.run(_host(world.transports[1], str(radio.name), radio, t)))
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            radio.close()
    if proc.returncode != 0 and not (proc.returncode == -11 and "stats" in stdout):
        raise RuntimeError(f"board exited {proc.returncode}:\n{stdout}\n{stderr[-2000:]}")
    stages: dict[str, int] = {}
    readings: list[tuple[str, int, int]] = []
    for line in stdout.splitlines():
        f = line.split()
        if f and f[0] == "stage":
            stages[f[1]] = int(f[2])
        elif f and f[0] == "r":
            readings.append((f[1], int(f[2]), int(f[3])))
        elif f and f[0] == "mtu":
            result["board_mtu"] = int(f[1])
        elif f and f[0] == "stats":
            result.update(zip(("board_notifications", "enomem", "partials", "ring_overrun"), map(int, f[1:]), strict=True))
    result["readings"] = readings
    if not any(state == "live" for state, _, _ in readings):
        raise RuntimeError(f"the board never streamed to the host:\n{stdout}\n{stderr[-2000:]}")
    result["stages"] = stages
    result["shares"] = shares(stages, readings, seconds, jam)
    return result


def shares(s: dict[str, int], readings: list[tuple[str, int, int]], seconds: float, jam: float) -> dict[str, int]:
    """Each step's share of the heap, bytes (see the module docstring for what each step is).

    The app's own growth once it runs (HELLO, first STATUS, the processors' first events) is
    in the readings taken while it advertised before the host came, so the connection's share
    is counted from their largest; readings within 0.5 s of the jam's start are left out."""
    link_objects = s["link_objects"] - s["base"]
    running = max(a for state, _, a in readings if state == "adv")
    live = [(ms, a) for state, ms, a in readings if state == "live"]
    streaming = [a for ms, a in live if ms < (seconds - 0.5) * 1000] or [a for _, a in live]
    out = {
        "BLE() object": s["ble_object"] - s["base2"],
        "active(True)": s["active"] - s["ble_object"],
        "service: stack's share (registration, RX buffer 2048 B, name)": s["service"] - s["active"] - link_objects,
        "service: the link's own objects (frame ring, inbox, buffers)": link_objects,
        "advertising": s["advertising"] - s["service"],
        "app running while advertising (not BLE: the app's first seconds)": running - s["advertising"],
        "connected and streaming, least": min(streaming) - running,
        "connected and streaming, most": max(streaming) - running,
    }
    if jam > 0:
        jammed = [a for ms, a in live if ms > (seconds + 0.5) * 1000]
        if jammed:
            out[f"packets held ({jam:g} s), most"] = max(jammed) - running
    out["after the host left (2 s later)"] = s["after_disconnect"] - running
    out["all of BLE while streaming, most"] = max(streaming) - running + s["advertising"] - s["base2"]
    return out


# -- static RAM from a linker map ------------------------------------------------------------

_PARTS = (("pico_cyw43_driver/btstack", "BTstack HCI transport (CYW43)"),
          ("cybt_shared_bus", "BTstack HCI transport (CYW43)"),
          ("lib/btstack/", "BTstack"), ("cyw43", "cyw43 driver"), ("mpbt", "MicroPython Bluetooth glue"),
          ("modbluetooth", "MicroPython Bluetooth glue"), ("lwip", "lwIP"), ("mbedtls", "mbedTLS"),
          ("tinyusb", "TinyUSB"))


def static_ram(map_path: Path) -> dict[str, Any]:
    """.data and .bss bytes per part of a GNU ld map, and the GC heap's bounds."""
    lines = map_path.read_text(errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Linker script and memory map"))
    per: Counter[tuple[str, str]] = Counter()
    section, pending = "", False
    heap: dict[str, int] = {}
    for line in lines[start:]:
        m = re.match(r"^(\.[\w.]+)", line)
        if m:
            section, pending = m.group(1), False
            continue
        m = re.match(r"^\s+(0x[0-9a-f]+)\s+(__GcHeap(?:Start|End)) = ", line)
        if m:
            heap[m.group(2)] = int(m.group(1), 16)
        if section not in (".data", ".bss"):
            continue
        m = re.match(r"^ (\S+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", line)
        if m and not m.group(1).startswith("0x"):
            per[(_part(m.group(4)), section)] += int(m.group(3), 16)
            pending = False
            continue
        m = re.match(r"^ (\S+)$", line)
        if m and not m.group(1).startswith(("0x", "*")):
            pending = True  # a long input section name: its address and size are on the next line
            continue
        if pending:
            m = re.match(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$", line)
            if m:
                per[(_part(m.group(3)), section)] += int(m.group(2), 16)
            pending = False
    parts = sorted({p for p, _ in per})
    return {
        "parts": {p: {"data": per[(p, ".data")], "bss": per[(p, ".bss")]} for p in parts},
        "gc_heap": heap.get("__GcHeapEnd", 0) - heap.get("__GcHeapStart", 0),
    }


def _part(obj: str) -> str:
    for key, name in _PARTS:
        if key in obj:
            return name
    return "the rest"


def _print_static(paths: list[Path]) -> None:
    got = [static_ram(p) for p in paths]
    names = sorted({n for g in got for n in g["parts"]}, key=lambda n: (n == "the rest", n))
    print("static RAM (.data + .bss, bytes) per part, from the linker map:")
    print(f"{'part':34s}" + "".join(f"{p.parent.name[:22]:>24s}" for p in paths))
    for n in names:
        cells = []
        for g in got:
            d = g["parts"].get(n, {"data": 0, "bss": 0})
            cells.append(f"{d['data'] + d['bss']:>10d} ({d['data']}+{d['bss']})")
        print(f"{n:34s}" + "".join(f"{c:>24s}" for c in cells))
    print(f"{'total':34s}" + "".join(f"{sum(d['data'] + d['bss'] for d in g['parts'].values()):>24d}" for g in got))
    print(f"{'GC heap (__GcHeapStart..End)':34s}" + "".join(f"{g['gc_heap']:>24d}" for g in got))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("Run:")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("heap", help="GC heap BLE takes, on a BTstack / NimBLE Unix port against bumble")
    h.add_argument("--micropython", required=True, help="a Unix port built with BTstack (or NimBLE), H4 over MICROPYBTUART")
    h.add_argument("--seconds", type=float, default=10.0, help="how long the host streams (default 10)")
    h.add_argument("--jam", type=float, default=0.0,
                   help="then hold the board's packets this long (an out-of-reach host) and hang up (default 0)")
    h.add_argument("--ring", type=int, default=16384, help="the link's frame ring, config 'ble_ring' (default 16384)")
    h.add_argument("--json", action="store_true", help="print everything measured as JSON")
    s = sub.add_parser("static", help="static RAM per part from firmware.elf.map files")
    s.add_argument("maps", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "static":
        for p in args.maps:
            if not p.is_file():
                print(f"error: no linker map at {p}", file=sys.stderr)
                return 2
        _print_static(args.maps)
        return 0
    if not os.access(args.micropython, os.X_OK):
        print(f"error: {args.micropython} is not an executable MicroPython", file=sys.stderr)
        return 2
    try:
        r = measure_heap(args.micropython, args.seconds, args.jam, args.ring)
    except RuntimeError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"GC heap BLE takes, bytes of gc.mem_alloc() after gc.collect() on {args.micropython}:")
    for k, v in r["shares"].items():
        print(f"  {k:64s} {v:>8d}")
    print(f"  (host: MTU {r['host_mtu']}, {r['notifications']} notifications, {r['samples_frames']} SAMPLES frames; "
          f"board: {r['board_notifications']} notifications, ENOMEM {r['enomem']}, ring overrun {r['ring_overrun']}; "
          f"{len(r['readings'])} readings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
