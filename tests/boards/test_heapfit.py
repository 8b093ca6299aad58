"""The firmware's heap after boot (plus one student model on the insole) against each
profile's free heap, measured under real MicroPython (`python -m gaitloop.sim.heapfit`).

The Unix port is 64-bit, so the measured figure is an upper bound for the 32-bit boards.
"""

from __future__ import annotations

import pytest

from gaitfw import profiles
from gaitloop.sim.heapfit import measure

pytestmark = pytest.mark.micropython


@pytest.mark.parametrize("name", ["picow-insole", "esp32s3-insole", "esp32s3-knee"])
def test_firmware_fits_the_profile_heap(name: str) -> None:
    r = measure(name)
    assert r["boot_error"] is None
    assert r["processors"] == (2 if name.endswith("insole") else 1)  # the student loaded
    assert 20000 < r["used"] < profiles.get(name)["heap_free"], r


@pytest.mark.xfail(strict=True, reason="64-bit upper bound (~156 kB) exceeds the Pico W's ~150 kB; "
                   "needs a 32-bit measurement or frozen modules (see docs/hardware.md)")
def test_knee_fits_the_pico_w_heap() -> None:
    r = measure("picow-knee")
    assert r["used"] < profiles.get("picow-knee")["heap_free"], r
