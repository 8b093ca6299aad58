"""BLE's share of a board's RAM (tools/ble_heap.py; docs/hardware.md, "BLE's share").

The heap tests run the firmware's own BLE start-up and a streaming session on a MicroPython
Unix port built with BTstack, the Pico W's stack (GAITLOOP_BTSTACK_MICROPYTHON=PATH, built as
docs/hardware.md says, with tools/rp2040/btstack-free-queued-notifications.patch), against a
bumble host; without that build they skip in one line. The
linker-map reader is checked on a fixed map excerpt, and on a Pico W image's own map when
GAITLOOP_RP2040_IMAGE names one with `firmware.elf.map` beside it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gaitfw import profiles

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ble_heap", ROOT / "tools" / "ble_heap.py")
assert _spec and _spec.loader
ble_heap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ble_heap)

_BTSTACK = os.environ.get("GAITLOOP_BTSTACK_MICROPYTHON")
# What BLE may take beside the firmware: the Pico W profiles' 150 kB planning figure less the
# frozen insole's push peak by the 64-bit upper bound (114.9 kB, docs/hardware.md "Heap")
_BLE_BUDGET = profiles.PICOW_INSOLE["heap_free"] - 115000

_MAP = """\
Discarded input sections

 .bss.unused    0x00000000      0x400 CMakeFiles/firmware.dir/lib/btstack/src/hci.c.o

Linker script and memory map

.text           0x10000000     0x1000
 .text.main     0x10000000      0x100 CMakeFiles/firmware.dir/main.c.o
.data           0x20000000      0x30 load address 0x10001000
 .data.x        0x20000000       0x10 CMakeFiles/firmware.dir/lib/lwip/src/core/mem.c.o
 .time_critical.y
                0x20000010       0x20 CMakeFiles/firmware.dir/main.c.o
.bss            0x20000030      0x150
 .bss.hci_stack
                0x20000030      0x104 CMakeFiles/firmware.dir/lib/btstack/src/hci.c.o
 .bss.buf       0x20000134       0x20 CMakeFiles/firmware.dir/lib/pico-sdk/src/rp2_common/pico_cyw43_driver/btstack_hci_transport_cyw43.c.o
 .bss.st        0x20000154       0x2c CMakeFiles/firmware.dir/lib/cyw43-driver/src/cyw43_ctrl.c.o
 *(COMMON)
.heap           0x20000180      0x800
                0x20000980                        __GcHeapStart = __StackLimit
                0x20040000                        __GcHeapEnd = (ORIGIN (RAM) + LENGTH (RAM))
"""


def test_static_ram_sums_each_part_of_a_linker_map(tmp_path: Path) -> None:
    """Input sections of .data and .bss only (not the discarded ones, not .text), a long
    section name with its size on the next line, and the GC heap's bounds."""
    p = tmp_path / "firmware.elf.map"
    p.write_text(_MAP)
    got = ble_heap.static_ram(p)
    assert got["parts"] == {
        "BTstack": {"data": 0, "bss": 0x104},
        "BTstack HCI transport (CYW43)": {"data": 0, "bss": 0x20},
        "cyw43 driver": {"data": 0, "bss": 0x2C},
        "lwIP": {"data": 0x10, "bss": 0},
        "the rest": {"data": 0x20, "bss": 0},
    }
    assert got["gc_heap"] == 0x20040000 - 0x20000980


def test_pico_w_image_map_adds_up_to_its_sections() -> None:
    image = os.environ.get("GAITLOOP_RP2040_IMAGE")
    size = shutil.which("arm-none-eabi-size")
    if not image or not Path(image + ".map").is_file() or not size:
        pytest.skip("GAITLOOP_RP2040_IMAGE with firmware.elf.map beside it, and arm-none-eabi-size, "
                    "needed (docs/hardware.md 'Frozen firmware')")
    got = ble_heap.static_ram(Path(image + ".map"))
    sections = {f[0]: int(f[1]) for f in (line.split() for line in subprocess.run(
        [size, "-A", image], capture_output=True, text=True, check=True).stdout.splitlines()) if len(f) >= 2
        and f[1].isdigit()}
    total = sum(d["data"] + d["bss"] for d in got["parts"].values())
    assert abs(total - (sections[".data"] + sections[".bss"])) < 64  # alignment fill only
    assert got["gc_heap"] > 32768


@pytest.fixture(scope="module")
def btstack() -> dict[str, Any]:
    if not _BTSTACK or not os.access(_BTSTACK, os.X_OK):
        pytest.skip("GAITLOOP_BTSTACK_MICROPYTHON not set: no BTstack Unix port to measure BLE's heap on "
                    "(docs/hardware.md, \"BLE's share\")")
    return ble_heap.measure_heap(_BTSTACK, seconds=8, jam=5)


def test_btstack_share_of_the_heap_fits_beside_the_firmware(btstack: dict[str, Any]) -> None:
    """Fails when BTstack's own allocations (BLE(), active(True), the service, advertising)
    grow past 4 kB, when a connection that streams takes more than 1 kB on top of the running
    app, or when BLE as a whole (with the link's frame ring) no longer fits the Pico W's free
    heap beside the frozen firmware's push peak."""
    s = btstack["shares"]
    stack = (s["BLE() object"] + s["active(True)"] + s["service: stack's share (registration, RX buffer 2048 B, name)"]
             + s["advertising"])
    assert 0 < stack < 4000, s
    assert s["connected and streaming, most"] < 1000, s
    assert s["all of BLE while streaming, most"] < _BLE_BUDGET, s
    assert btstack["host_mtu"] == btstack["board_mtu"] == 247
    assert btstack["samples_frames"] >= 60  # it streamed: ~100 a 10 s at 100 Hz


def test_btstack_queues_notifications_on_the_heap_instead_of_enomem(btstack: dict[str, Any]) -> None:
    """The Pico W's stack never raises ENOMEM from gatts_notify: with the controller's buffers
    full it copies each notification into the GC heap and sends it later
    (extmod/btstack/modbluetooth_btstack.c, m_tracked_calloc), so while the host is out of
    reach the heap grows with the stream, and the firmware's ENOMEM back-off never runs.
    Fails when that changes (then the back-off is what bounds the queue again, docs/ble.md)."""
    assert btstack["enomem"] == 0
    held = btstack["shares"]["packets held (5 s), most"]
    assert held > 1000, btstack["shares"]
    assert btstack["board_notifications"] > btstack["notifications"] + 20  # queued, never delivered


def test_btstack_frees_queued_notifications_when_a_host_drops(btstack: dict[str, Any]) -> None:
    """Regression (issue #15): BTstack's binding freed a queued copy only when it was sent, and
    BTstack forgets a dropped connection's queue without a word, so every outage while streaming
    left ~1.2 kB per second of it in the heap until reboot (MicroPython af47daf3b0, unchanged in
    1c3c201149). tools/rp2040/btstack-free-queued-notifications.patch frees them on disconnect;
    the Pico W image and the BTstack build this test runs on must carry it."""
    s = btstack["shares"]
    assert s["after the host left (2 s later)"] < 512, (
        f"{s['after the host left (2 s later)']} B of queued notifications kept after the host left: build "
        "MicroPython with tools/rp2040/btstack-free-queued-notifications.patch (docs/hardware.md)")
