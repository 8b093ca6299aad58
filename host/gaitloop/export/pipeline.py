"""`gaitloop export MODEL --out DIR [--device]`: ONNX, ONNX int8, TFLite int8, device file,
and a parity report on the model's own test set.

Why a parity report with every export: quantisation can silently cost accuracy; the report
puts float, ONNX int8 and TFLite int8 side by side (accuracy or RMSE, max abs output difference
from float, argmax agreement) so a bad export is visible before it reaches a board. The
accuracy drop of int8 must stay within 1 point (`INT8_MAX_DROP`); `ok` says whether it did.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gaitloop.errors import GaitloopError

INT8_MAX_DROP = 0.01  # accuracy (fraction) for phase; GRF: RMSE may grow by <= 1 % of range


class ExportPipelineError(GaitloopError):
    """The model export failed."""


def _score(meta: dict, out: np.ndarray, ev) -> dict:
    from gaitloop.learn.metrics import grf_metrics, phase_metrics

    if meta["task"] == "phase":
        m = phase_metrics(ev.y_test, out.argmax(1), meta["classes"])
        return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "micro_f1": m["micro_f1"]}
    pred = out[:, 0] * float(meta.get("target_scale", 1.0))
    m = grf_metrics(ev.y_test, pred)
    ok = np.isfinite(ev.w_test) if ev.w_test is not None else None
    if ok is not None and ok.any():
        m["rmse_pct_bw"] = grf_metrics(ev.y_test[ok], pred[ok], ev.w_test[ok])["rmse_pct_bw"]
    return {k: m[k] for k in ("rmse_n", "r2", "rmse_pct_bw") if k in m}


def _compare(meta: dict, ref: np.ndarray, out: np.ndarray) -> dict:
    d = {"max_abs_diff": float(np.max(np.abs(out - ref))) if len(ref) else 0.0}
    if meta["task"] == "phase":
        d["argmax_agreement"] = float(np.mean(out.argmax(1) == ref.argmax(1)))
    return d


def _print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = report["parity"]
    keys = [k for k in ("accuracy", "macro_f1", "rmse_n", "r2", "max_abs_diff", "argmax_agreement")
            if any(k in r for r in rows.values())]
    t = Table(title=f"parity on {report['test_set']} ({report['n_test']} windows)")
    t.add_column("model")
    for k in keys:
        t.add_column(k, justify="right")
    for name, r in rows.items():
        t.add_row(name, *[f"{r[k]:.4f}" if isinstance(r.get(k), float) else str(r.get(k, "-"))
                          for k in keys])
    Console(stderr=True).print(t)


def export_model(model: Path, out_dir: Path, device: bool = False, data: Path | None = None,
                 print_table: bool = True) -> dict:
    """Export a student checkpoint; returns (and writes to out_dir/parity.json) the report."""
    from gaitloop.export.onnx_export import export_onnx, quantize_int8, run_onnx
    from gaitloop.learn.checkpoint import load_model
    from gaitloop.learn.evalsets import from_meta
    from gaitloop.learn.train import predict

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net, meta = load_model(model)
    n_ch, window = len(meta["channels"]), int(meta["window"])
    ev = from_meta(meta, data)
    files = {"onnx": str(export_onnx(net, n_ch, window, out_dir / "model.onnx"))}
    files["onnx_int8"] = str(quantize_int8(out_dir / "model.onnx", ev.calib,
                                           out_dir / "model_int8.onnx"))
    ref = predict(net, ev.X_test)
    outs = {"float (torch)": ref, "onnx float": run_onnx(out_dir / "model.onnx", ev.X_test),
            "onnx int8 (QDQ)": run_onnx(out_dir / "model_int8.onnx", ev.X_test)}
    notes = []
    tfl = None
    try:
        from gaitloop.export.tflite_export import export_tflite, quantize_input, run_tflite

        tfl = export_tflite(net, {**meta, "in_channels": n_ch}, ev.calib, out_dir / "model_int8.tflite")
        files["tflite_int8"] = str(tfl)
    except ImportError as exc:
        notes.append(f"TFLite skipped: {exc}")
    except Exception as exc:  # B's ExportError when TensorFlow is missing, or a bad graph
        if "TensorFlow" in str(exc) or "tensorflow" in str(exc):
            notes.append(f"TFLite skipped: {exc}")
        else:
            raise ExportPipelineError(f"TFLite export failed: {exc}") from exc
    if tfl is not None:
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(tfl))
        inp, outp = it.get_input_details()[0], it.get_output_details()[0]
        (isc, izp), (osc, ozp) = inp["quantization"], outp["quantization"]
        q_in = quantize_input(ev.X_test, isc, izp)
        q_out = run_tflite(tfl, q_in)
        outs["tflite int8"] = (q_out.astype(np.float32) - ozp) * osc
        if device:
            from gaitloop.export.device_format import write_device_model

            cs = meta.get("count_scale")
            if cs is None and meta["task"] == "grf":
                cs = [0.1] * n_ch  # insole board: 0.1 N per count (boards/insole.py)
            files["device"] = str(write_device_model(tfl, out_dir / "model.gldm", meta, cs))
            np.save(out_dir / "test_input_int8.npy", q_in)
            np.save(out_dir / "test_output_tflite_int8.npy", q_out)
    elif device:
        notes.append("device model skipped: it is written from the TFLite int8 model")
    parity = {}
    for name, o in outs.items():
        parity[name] = {**_score(meta, o, ev), **_compare(meta, ref, o)}
    key = "accuracy" if meta["task"] == "phase" else "rmse_n"
    checks = {}
    for name in ("onnx int8 (QDQ)", "tflite int8"):
        if name in parity:
            if meta["task"] == "phase":
                drop = parity["float (torch)"][key] - parity[name][key]
                checks[name] = {"accuracy_drop": drop, "ok": bool(drop <= INT8_MAX_DROP)}
            else:
                span = float(np.ptp(ev.y_test))
                growth = parity[name][key] - parity["float (torch)"][key]
                checks[name] = {"rmse_growth_n": growth,
                                "ok": bool(growth <= INT8_MAX_DROP * span)}
    report = {"model": str(model), "task": meta["task"], "test_set": ev.description,
              "n_test": int(len(ev.y_test)), "files": files, "parity": parity,
              "int8_checks": checks, "notes": notes}
    (out_dir / "parity.json").write_text(json.dumps(report, indent=1))
    if print_table:
        _print_table(report)
    return report
