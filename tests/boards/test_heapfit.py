"""The firmware's heap on each profile, update included, against the profile's free heap,
measured under real MicroPython (`python -m gaitloop.sim.heapfit`): boot as `app.run()` boots
(the `Updater` first), one student on the insole, then a real signed push through the command
handler, whose peak (old and new processors alive at the switch) is what must fit.

The Unix port is 64-bit, so the figures are upper bounds for the 32-bit boards. On the Pico W
the firmware is frozen into the MicroPython image (firmware/freeze/board.py): `frozen` here is
its upper bound (the same .mpy files run in place from a ROMFS image, machine code in flash),
or the frozen build itself when GAITLOOP_FROZEN_MICROPYTHON names a Unix port built with
firmware/freeze/unix.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gaitfw import profiles
from gaitloop.sim.heapfit import measure

pytestmark = pytest.mark.micropython
_FROZEN = Path(os.environ["GAITLOOP_FROZEN_MICROPYTHON"]) if os.environ.get("GAITLOOP_FROZEN_MICROPYTHON") else None


def _ran_the_push(r: dict, name: str) -> None:
    assert r["boot_error"] is None and r["push_error"] is None, r
    assert r["confirmed"], r  # the new slot ran its trial and was kept
    assert r["processors"] == (2 if name.endswith("insole") else 1)  # the student loaded
    assert {"gaitfw.update", "gaitfw.store", "gaitfw.manifest"} <= set(r["modules"])
    assert r["boot"] > 20000 and r["peak"] > r["boot"] and r["peak"] == r["at_switch"], r


@pytest.mark.parametrize("name", ["picow-insole", "picow-knee"])
def test_pico_w_fits_its_heap_during_a_push(name: str) -> None:
    """Fails when the Pico W firmware (frozen; the frozen build when GAITLOOP_FROZEN_MICROPYTHON
    names one, else its bound; 64-bit upper bounds) no longer fits its heap at the push's peak."""
    r = measure(name, "frozen", _FROZEN)
    _ran_the_push(r, name)
    assert r["bound"] == (_FROZEN is None) and r["native"] == 0  # frozen machine code is in flash
    assert r["peak"] < profiles.get(name)["heap_free"], (
        f"{name}: push peak {r['peak']} B by the frozen bound (ROMFS run) is over the free heap; "
        "the bound is conservative (the frozen build measured 31 kB below it on 2026-12-07): "
        "measure the frozen build itself (docs/hardware.md, 'Frozen firmware'; "
        "GAITLOOP_FROZEN_MICROPYTHON) before deciding the board no longer fits", r)


@pytest.mark.parametrize("name", ["esp32s3-insole", "esp32s3-knee"])
def test_esp32s3_fits_as_gaitloop_flash_installs_it(name: str) -> None:
    r = measure(name, "mpy")
    _ran_the_push(r, name)
    assert r["native"] == 0  # the ESP32 port keeps machine code in IRAM
    assert r["peak"] < profiles.get(name)["heap_free"], r


def test_the_pico_w_measure_counts_what_a_board_holds() -> None:
    """The .mpy install on the Pico W: the viper machine code is counted (the RP2040 keeps it
    in the heap), and the push's peak holds a second copy of the model; ROMFS (bytecode in
    place) costs less heap than .mpy files, which cost less than compiling the sources."""
    mpy = measure("picow-insole", "mpy")
    _ran_the_push(mpy, "picow-insole")
    assert mpy["native"] > 10000
    assert mpy["peak"] - mpy["boot"] > mpy["push_bytes"]  # the new model next to the old one
    romfs = measure("picow-insole", "romfs")
    assert romfs["native"] == mpy["native"] and romfs["boot"] < mpy["boot"] - 20000
    assert measure("picow-insole", "source")["boot"] > mpy["boot"]


@pytest.mark.skipif(_FROZEN is None,
                    reason="GAITLOOP_FROZEN_MICROPYTHON (a Unix port built with firmware/freeze/unix.py) not set")
def test_a_frozen_build_is_within_its_bound() -> None:
    for name in ("picow-insole", "picow-knee"):
        got = measure(name, "frozen", _FROZEN)
        _ran_the_push(got, name)
        assert not got["bound"]
        assert got["peak"] <= measure(name, "frozen")["peak"], got
