"""TFLite int8 export: graph tracing errors (torch only) and a real conversion (TensorFlow).

TensorFlow is the optional `[tflite]` extra; CI does not install it, so the conversion test
skips there and the committed models/*.tflite carry the check instead (test_bitexact.py).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from gaitloop.export.tflite_export import ExportError, _layers_from_torch, export_tflite  # noqa: E402


def test_student_graph_is_traced_as_a_chain():
    from gaitloop.learn.students import build_student

    layers = _layers_from_torch(build_student("grf", 2, 1), 2, 40)
    assert [x.kind for x in layers] == ["conv", "relu", "maxpool", "conv", "relu", "maxpool",
                                        "conv", "relu", "linear", "relu", "linear"]
    # torch flattens (C, T); the channels-last mirror's fc1 columns are permuted to (T, C)
    assert layers[8].params["w"].shape == (32 * 10, 40)


@pytest.mark.parametrize("model, msg", [
    (nn.Sequential(nn.LSTM(2, 4)), "unsupported module"),
    (nn.Sequential(nn.Conv1d(2, 4, 5, padding=1)), "padding"),
    (nn.Sequential(nn.Conv1d(2, 4, 3, groups=2)), "groups"),
    (nn.Sequential(nn.Conv1d(2, 4, 3), nn.MaxPool1d(2, ceil_mode=True)), "ceil_mode"),
])
def test_unsupported_graphs_give_one_clear_error(model, msg):
    with pytest.raises(ExportError, match=msg):
        _layers_from_torch(model, 2, 40)


def test_bad_calibration_shape():
    with pytest.raises(ExportError, match="calib"):
        export_tflite(nn.Sequential(nn.Conv1d(2, 4, 3)), {}, np.zeros((5, 40)), "x.tflite")


@pytest.mark.slow
def test_export_runs_in_litert_and_on_the_board(tmp_path):
    pytest.importorskip("tensorflow")
    from gaitloop.export.device_format import write_device_model
    from gaitloop.export.device_runner import run_device_model
    from gaitloop.export.tflite_export import quantize_input, run_tflite

    torch.manual_seed(0)
    # no ReLU after the first conv and an average pool: exercises negative requantization
    model = nn.Sequential(nn.Conv1d(3, 8, 5, padding=2), nn.BatchNorm1d(8), nn.MaxPool1d(2),
                          nn.Conv1d(8, 6, 3), nn.ReLU(), nn.AvgPool1d(2), nn.Flatten(),
                          nn.Linear(6 * 9, 4)).eval()
    model[1].running_mean.uniform_(-0.2, 0.2)
    model[1].running_var.uniform_(0.5, 2.0)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.5, (400, 3, 40)).astype(np.float32).clip(-1, 1)
    tfl = export_tflite(model, {"window": 40, "in_channels": 3}, x, tmp_path / "m.tflite")
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tfl))
    (isc, izp), (osc, ozp) = (it.get_input_details()[0]["quantization"],
                              it.get_output_details()[0]["quantization"])
    q = quantize_input(x, isc, izp)
    out = run_tflite(tfl, q)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    deq = (out.astype(np.float32) - ozp) * osc
    assert np.mean(deq.argmax(1) == ref.argmax(1)) > 0.9
    assert np.max(np.abs(deq - ref)) < 0.1 * np.ptp(ref)
    dev = write_device_model(tfl, tmp_path / "m.gldm", {"task": "phase"})
    np.testing.assert_array_equal(run_device_model(dev, q), out)
