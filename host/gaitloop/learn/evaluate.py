"""Evaluation of a phase model on a folder of recordings, float and (optionally) on-device.

The device path runs the int8 device-format model in the firmware interpreter under real
MicroPython (`gaitloop.export.device_runner`) and checks its int8 outputs bit for bit against
ai-edge-litert running the TFLite int8 model it came from.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from gaitloop.errors import GaitloopError
from gaitloop.learn.checkpoint import load_model
from gaitloop.learn.evalsets import delay_of, norm_of, phase_windows
from gaitloop.learn.metrics import phase_metrics
from gaitloop.learn.phase_data import SAMPLE_RATE_HZ, load_recordings
from gaitloop.learn.train import predict


class EvaluationError(GaitloopError):
    """The model and data cannot be evaluated together."""


def _device_files(model_path: Path, net, meta: dict, calib: np.ndarray, workdir: Path):
    """(tflite, device file): the shipped siblings of the checkpoint if present, else exported."""
    stem = model_path.with_suffix("")
    tfl = Path(f"{stem}_int8.tflite")  # names written by tools/ship_student.py
    dev = Path(f"{stem}.gldm")
    if tfl.is_file() and dev.is_file():
        return tfl, dev
    try:
        from gaitloop.export.device_format import write_device_model
        from gaitloop.export.tflite_export import export_tflite
    except ImportError as exc:
        raise EvaluationError(f"device evaluation needs the TFLite exporter: {exc}") from exc
    try:
        tfl = export_tflite(net, {**meta, "in_channels": len(meta["channels"])}, calib,
                            workdir / "model_int8.tflite")
    except Exception as exc:
        raise EvaluationError(f"TFLite export for --device failed: {exc}") from exc
    return tfl, write_device_model(tfl, workdir / "model.gldm", meta, meta.get("count_scale"))


def evaluate_phase(model: Path, data: Path, device: bool = False, stride: int = 1) -> dict:
    """Metrics of `model` on every labelled window of every distinct recording in `data`."""
    model, data = Path(model), Path(data)
    if stride < 1:
        raise EvaluationError("--stride must be >= 1")
    net, meta = load_model(model)
    if meta["task"] != "phase":
        raise EvaluationError(f"{model.name} is a {meta['task']} model, not a phase model")
    recs = load_recordings(data)
    delay = delay_of(meta)
    X, y = phase_windows(recs, meta["channels"], norm_of(meta), stride, delay)
    if len(y) == 0:
        raise EvaluationError(f"{data}: no labelled windows")
    classes = meta["classes"]
    m = phase_metrics(y, predict(net, X).argmax(1), classes)
    res = {"model": str(model), "data": str(data), "n_windows": int(len(y)),
           "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "micro_f1": m["micro_f1"],
           "f1": m["f1"], "recordings": [r.name for r in recs],
           # the answer is about the sample this long before the window's end (its latency)
           "decision_delay": delay,
           "decision_delay_ms": 1000.0 * delay / float(meta.get("sample_rate_hz", SAMPLE_RATE_HZ))}
    overlap = sorted(set(meta.get("train_files", [])) & {r.name for r in recs})
    if overlap:
        res["warning"] = f"{len(overlap)} of these recordings were used in training"
    if not device:
        return res
    from gaitloop.export.tflite_export import quantize_input, run_tflite

    try:
        from gaitloop.export.device_runner import run_device_model
    except ImportError as exc:
        raise EvaluationError(f"the firmware device runner is not available: {exc}") from exc
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as tmp:
        tfl, dev = _device_files(model, net, meta, X[:: max(1, len(X) // 500)], Path(tmp))
        it = Interpreter(model_path=str(tfl))
        (isc, izp) = it.get_input_details()[0]["quantization"]
        q_in = quantize_input(X, isc, izp)
        ref = run_tflite(tfl, q_in)
        out = np.asarray(run_device_model(dev, q_in))
    dm = phase_metrics(y, out.argmax(1), classes)
    res["device"] = {"accuracy": dm["accuracy"], "macro_f1": dm["macro_f1"],
                     "micro_f1": dm["micro_f1"], "f1": dm["f1"]}
    res["bit_exact"] = bool(out.shape == ref.shape and np.array_equal(out, ref))
    res["n_mismatch"] = int((out != ref).any(axis=1).sum()) if out.shape == ref.shape else int(len(y))
    return res
