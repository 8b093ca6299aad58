"""The board's int8 interpreter is bit-exact with ai-edge-litert on the whole test set.

Runs the committed device model in the firmware interpreter under the real MicroPython Unix
port (viper kernels) on every held-out window of the committed student, and the committed
TFLite model in ai-edge-litert (builtin kernels, XNNPACK off), and compares every output.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop.export.device_runner import DeviceRunError, run_device_model
from gaitloop.export.tflite_export import quantize_input, run_tflite
from tests.conftest import require_data
from tests.int8.models import GLDM, TFLITE, card


@pytest.fixture(scope="module")
def test_windows():
    from ai_edge_litert.interpreter import Interpreter

    from gaitloop.learn.evalsets import from_meta

    meta = card()["meta"]
    data = require_data("gaitpdb") if meta["task"] == "grf" else require_data("huang_gait_phase") / "imu_figs"
    ev = from_meta(meta, data)
    it = Interpreter(model_path=str(TFLITE))
    scale, zp = it.get_input_details()[0]["quantization"]
    return quantize_input(ev.X_test, scale, zp)


@pytest.mark.micropython
def test_bit_exact_on_whole_test_set(test_windows):
    assert len(test_windows) == card()["n_test"]
    ref = run_tflite(TFLITE, test_windows)
    dev = run_device_model(GLDM, test_windows)
    assert dev.shape == ref.shape
    bad = np.argwhere(dev != ref)
    assert len(bad) == 0, f"{len(bad)} outputs differ, first at window {bad[0][0]}"
    # the outputs are not trivially constant
    assert len(np.unique(ref)) > 50


@pytest.mark.micropython
def test_plain_and_signed_viper_twins_match(test_windows):
    sub = test_windows[:: max(1, len(test_windows) // 150)]
    plain = run_device_model(GLDM, sub, viper=False)
    viper = run_device_model(GLDM, sub, viper=True)
    signed = run_device_model(GLDM, sub, viper=True, fast=False)
    np.testing.assert_array_equal(plain, viper)
    np.testing.assert_array_equal(signed, viper)
    np.testing.assert_array_equal(viper, run_tflite(TFLITE, sub))


def test_cpython_plain_kernels_match(test_windows):
    """The same firmware module on CPython (the host's simulator path) agrees too."""
    from gaitfw.devmodel import Model

    m = Model(str(GLDM))
    sub = test_windows[:: max(1, len(test_windows) // 60)]
    ref = run_tflite(TFLITE, sub)
    for w, r in zip(sub, ref, strict=True):
        for i, v in enumerate(w.reshape(-1).tolist()):
            m.inp[i] = v
        m.invoke()
        assert list(m.out[: m.n_out]) == r.tolist()


def test_runner_rejects_bad_shape():
    with pytest.raises(DeviceRunError):
        run_device_model(GLDM, np.zeros((3, 39, 2), np.int8))


@pytest.mark.micropython
def test_reference_rounding_matches_litert_reference_kernels(test_windows, tmp_path):
    """rounding="reference": bit-exact with TFLite's reference kernels (BUILTIN_REF)."""
    from gaitloop.export.device_format import write_device_model

    sub = test_windows[::8]
    dev = write_device_model(TFLITE, tmp_path / "ref.gldm", card()["meta"],
                             card()["count_scale"], rounding="reference")
    ref = run_tflite(TFLITE, sub, reference_kernels=True)
    np.testing.assert_array_equal(run_device_model(dev, sub), ref)
    # the two TFLite kernel sets do differ on this model, so the test can tell them apart
    assert np.any(run_tflite(TFLITE, sub) != ref)
