"""The Pico W firmware on an emulated RP2040: the rp2 port (RPI_PICO) with gaitfw frozen in,
run in rp2040js (`python -m gaitloop.sim.rp2040`, tools/rp2040/run.mjs), measured with
`gc.mem_alloc()` on the emulated board: heapfit's own run (boot with the Updater, one student,
a signed push, the trial), then the cycles per `App.step` on the Cortex-M0+, on both Pico W
profiles (the sensors' readings streamed from the board's filesystem, bit for bit the part
models': tests/boards/test_streamrows.py); the cycles split by part (`--split`); and that the
image's frozen armv6m code that reads literal words is 4-aligned (issue #15).

Needs an image (GAITLOOP_RP2040_IMAGE=.../ports/rp2/build-RPI_PICO/firmware.elf, built as
docs/hardware.md "Frozen firmware" says), node and `npm install` in tools/rp2040; CI has none
of them (no registry ships MicroPython's source to build the image from), so it skips there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gaitfw import profiles
from gaitloop.sim import armv6m, rp2040

_IMAGE = os.environ.get("GAITLOOP_RP2040_IMAGE")


def _needs() -> Path:
    if not _IMAGE:
        pytest.skip("GAITLOOP_RP2040_IMAGE not set: no RP2040 firmware image to emulate "
                    "(docs/hardware.md 'Frozen firmware')")
    why = rp2040.node_ready()
    if why:
        pytest.skip(why)
    return Path(_IMAGE)


@pytest.mark.parametrize("name", ["picow-insole", "picow-knee"])
def test_pico_w_boots_with_its_student_within_the_free_heap(name: str) -> None:
    """Fails when the frozen firmware booted on the rp2 port (the Updater, the profile's
    drivers, the insole's student model loaded) no longer fits the profile's free heap, or the
    image itself no longer leaves that free heap after MicroPython's boot."""
    image = _needs()
    r = rp2040.measure_boot(image, name)
    assert r["boot_error"] is None, r
    assert r["processors"] == (2 if name.endswith("insole") else 1), r  # the student loaded
    assert r["modules"] and r["frozen_modules"] == r["modules"], r  # all of gaitfw from flash
    heap_free = profiles.get(name)["heap_free"]
    assert 20000 < r["boot"] < heap_free, f"{name}: boot + student {r['boot']} B over {heap_free} B: {r}"
    assert r["gc_free_after_boot"] > heap_free, f"{name}: the image leaves {r['gc_free_after_boot']} B: {r}"


def test_frozen_armv6m_code_reading_literal_words_is_4_aligned() -> None:
    """Fails when the image holds a frozen viper function that reads a literal word (a 32-bit
    constant, a jump further than 2 kB) at an address 2 mod 4: built without
    tools/rp2040/mpy-tool-armv6m-align.patch, where `App.step` jumps into data (issue #15;
    gaitloop.sim.armv6m says why)."""
    if not _IMAGE:
        pytest.skip("GAITLOOP_RP2040_IMAGE not set: no RP2040 firmware image")
    funs = armv6m.frozen_native(Path(_IMAGE))
    assert sum(1 for f in funs if f.literals > 1) >= 3, funs  # app, csm, drvnative at least
    bad = [f for f in funs if f.literals and not f.aligned]
    assert not bad, f"frozen native code not 4-aligned (mpy-tool unpatched?): {bad}"


@pytest.fixture(scope="module", params=["picow-insole", "picow-knee"])
def full_run(request: pytest.FixtureRequest) -> dict:
    image = _needs()
    return rp2040.measure(image, request.param, steps=100, timeout=600)


def test_pico_w_push_fits_its_heap_on_the_emulated_rp2040(full_run: dict) -> None:
    """Fails when the frozen firmware's push peak, measured on the rp2 port itself (heapfit's
    script, the sensors' readings streamed from the board's filesystem: the insole's ADC, the
    knee's ADC and two MPU-6050s), no longer fits the profile's free heap, or the board's own
    heap cannot hold that free heap. On an RPI_PICO_W image (41 kB less heap) the insole's was
    a strict xfail until the student's loader stopped needing three 16 kB blocks at once
    (issue #15, gaitfw/devmodel.py)."""
    r = full_run
    name = r["profile"]
    assert r["boot_error"] is None and r["push_error"] is None, r
    assert r["confirmed"], r  # the pushed slot ran its trial and was kept
    assert r["processors"] == (2 if name.endswith("insole") else 1), r  # the student loaded
    assert r["modules"] and r["frozen_modules"] == r["modules"], r
    assert r["boot"] > 20000 and r["peak"] > r["boot"] and r["peak"] == r["at_switch"], r
    heap_free = profiles.get(name)["heap_free"]
    assert r["peak"] < heap_free, f"{name}: push peak {r['peak']} B over the {heap_free} B free heap: {r}"
    assert r["gc_free_after_boot"] > heap_free, r


def test_sample_cycles_on_the_emulated_m0plus(full_run: dict) -> None:
    """Fails when App.step stops running on the M0+ (the issue #15 hang), the stand-in's reads
    (ADC; the knee's I2C bursts too) are no longer a part of what it times, or the sample path
    allocates on the board (31-bit small ints: a constant or a result over 2^30 is a heap
    object there, as EVENT's `& 0xFFFFFFFF` masks were, 64 B an event)."""
    r = full_run
    knee = r["profile"].endswith("knee")
    assert r["steps"] == 100 and r["adc_cycles"] > 0 and (r["i2c_cycles"] > 0) == knee, r
    assert r["adc_cycles"] + r["i2c_cycles"] < r["step_cycles"], r
    assert r["heap_growth"] == 0, r


@pytest.fixture(scope="module", params=["picow-insole", "picow-knee"])
def split_run(request: pytest.FixtureRequest) -> dict:
    image = _needs()
    return rp2040.measure_split(image, request.param, timeout=600)


def test_sample_cycles_split_by_part(split_run: dict) -> None:
    """Fails when `--split` stops switching off what it says: each run must leave the
    processors as named (the insole's foot on its bytecode feed beside the student, then in
    the tick, then none), every part a sample costs must show (streaming, the processors,
    STATUS / HELLO; the student's row must hold its inference) and no run may allocate."""
    r = split_run
    rows = {k: v for k, _, v in r["rows"]}
    assert r["growth"] == [0] * (len(rows) + 1), r
    assert rows["stream"] > 0 and rows["proc"] > 0 and rows["due"] > 0 and r["rest"] > r["stand_in"] > 0, r
    if r["profile"].endswith("insole"):
        assert list(rows) == ["student", "foot_tick", "out", "stream", "proc", "due"], r
        assert r["feed_mode"] == [1, 1, 2, 2, 2, 0, 0], r  # _FEED_ALL, then _FEED_FOOT, then none
        assert rows["student"] > r["invoke_per_sample"] > 0, r
        assert rows["foot_tick"] > 0, r  # the foot costs more on its bytecode feed than in the tick
    else:
        assert list(rows) == ["out", "stream", "proc", "due"] and rows["out"] > 0, r
        assert r["feed_mode"] == [1, 1, 1, 0, 0], r
