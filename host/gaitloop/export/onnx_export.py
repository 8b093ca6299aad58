"""ONNX export (float) and onnxruntime static int8 quantisation (QDQ).

Why the TorchScript exporter (`dynamo=False`): the student is a plain chain of Conv/ReLU/
MaxPool/Gemm, which the classic exporter writes without the `onnxscript` dependency the newer
exporter needs. Why static QDQ with per-channel weights: it is what the distillation paper
deploys (ONNX Runtime, 8-bit), and calibration from training windows fixes activation ranges
ahead of time, as on the board.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from gaitloop.errors import GaitloopError

INPUT = "x"
OUTPUT = "y"


class OnnxExportError(GaitloopError):
    """The model cannot be exported to ONNX or quantised."""


def export_onnx(model, in_channels: int, window: int, out: Path, opset: int = 17) -> Path:
    """Float ONNX with a dynamic batch axis; input (N, C, window) float32."""
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (torch.zeros(1, in_channels, window),), str(out),
                              input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "n"}, OUTPUT: {0: "n"}},
                              opset_version=opset, dynamo=False)
        except Exception as exc:
            raise OnnxExportError(f"ONNX export failed: {exc}") from exc
    return out


class _Calib:
    """onnxruntime CalibrationDataReader over normalised training windows."""

    def __init__(self, windows: np.ndarray, batch: int = 64):
        self._it = iter([{INPUT: windows[i:i + batch].astype(np.float32)}
                         for i in range(0, len(windows), batch)])

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # pragma: no cover - not used by MinMax calibration
        pass


def quantize_int8(onnx_float: Path, calib: np.ndarray, out: Path) -> Path:
    """Static int8 QDQ model: per-channel int8 weights, int8 activations, MinMax calibration
    on `calib` (N, C, window) training windows."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if len(calib) == 0:
        raise OnnxExportError("int8 calibration needs training windows")
    out = Path(out)
    quantize_static(str(onnx_float), str(out), _Calib(calib), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=CalibrationMethod.MinMax)
    return out


def run_onnx(path: Path, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Outputs of an ONNX model on (N, C, window) float32 windows (one CPU thread)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    outs = [sess.run(None, {INPUT: np.ascontiguousarray(X[i:i + batch], np.float32)})[0]
            for i in range(0, len(X), batch)]
    return np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)
