"""Ship a trained student to models/: int8 TFLite, device model (.gldm) and a model card.

Usage (needs the [tflite] extra and ../shared/data):
    .venv/bin/python tools/ship_student.py CHECKPOINT.pt --name student_grf

Runs the export pipeline (ONNX, ONNX int8, TFLite int8, device file, parity report on the
model's own test set), then runs the device file in the firmware interpreter under real
MicroPython on every test window and records whether its outputs are bit-exact with
ai-edge-litert. Writes models/NAME_int8.tflite, NAME_int8.onnx (benchmarks), NAME.gldm and
NAME.card.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--name", required=True, help="file stem under models/, e.g. student_grf")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--data", type=Path, default=None, help="dataset dir (default: shared data)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from gaitloop.export.device_format import read_device_model
    from gaitloop.export.device_runner import run_device_model
    from gaitloop.export.pipeline import export_model
    from gaitloop.learn.checkpoint import load_checkpoint

    _, meta = load_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory(prefix="gaitloop-ship-") as tmp:
        out = Path(tmp)
        report = export_model(args.checkpoint, out, device=True, data=args.data)
        if "device" not in report["files"]:
            print("no device model written: " + "; ".join(report["notes"]), file=sys.stderr)
            return 1
        q_in = np.load(out / "test_input_int8.npy")
        q_ref = np.load(out / "test_output_tflite_int8.npy")
        t0 = time.perf_counter()
        q_dev = run_device_model(out / "model.gldm", q_in)
        dev_s = time.perf_counter() - t0
        args.models.mkdir(parents=True, exist_ok=True)
        tfl = args.models / f"{args.name}_int8.tflite"
        gldm = args.models / f"{args.name}.gldm"
        onnx8 = args.models / f"{args.name}_int8.onnx"
        shutil.copyfile(out / "model_int8.tflite", tfl)
        shutil.copyfile(out / "model_int8.onnx", onnx8)
        shutil.copyfile(out / "model.gldm", gldm)
    dm = read_device_model(gldm)
    mism = int(np.sum(q_dev != q_ref))
    cs = meta.get("count_scale") or ([0.1] * dm.in_channels if meta["task"] == "grf" else None)
    card = {
        "name": args.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checkpoint": args.checkpoint.name,
        "task": meta["task"],
        "data": meta.get("data"),
        "files": {"tflite_int8": tfl.name, "device": gldm.name, "onnx_int8": onnx8.name},
        "count_scale": cs,
        "metrics_float": meta.get("metrics"),
        "parity": report["parity"],
        "int8_checks": report["int8_checks"],
        "test_set": report["test_set"],
        "n_test": report["n_test"],
        "device": {
            "bit_exact_vs_ai_edge_litert": mism == 0,
            "mismatched_outputs": mism,
            "n_windows": int(len(q_in)),
            "micropython_seconds": round(dev_s, 1),
            "ram_bytes": dm.ram_bytes(),
            "file_bytes": gldm.stat().st_size,
            "int8_params": dm.n_params,
        },
        "meta": meta,
    }
    (args.models / f"{args.name}.card.json").write_text(json.dumps(card, indent=1) + "\n")
    print(json.dumps(card["device"], indent=1))
    return 0 if mism == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
