"""Give device models (.gldm) a self-test vector (format version 2), in place.

Why: a model pushed to a board runs this window before it goes live, and must reproduce the
int8 outputs stored with it (docs/update.md). `write_device_model` (the export path) adds
the same vector to every model it writes; this re-stamps files written before it did. By
default the window is the deterministic int8 pattern of `self_test_input` (what the export
writes); `--walk` uses heel and ball counts of the shipped gaitpdb walk instead.

    .venv/bin/python tools/add_selftest.py models/student_grf.gldm models/student_phase_insole.gldm
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gaitloop.export.device_format import add_self_test, read_device_model

ROOT = Path(__file__).resolve().parents[1]
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--walk", action="store_true", help="a window of the shipped walk instead")
    ap.add_argument("--at", type=int, default=600, help="--walk: first sample of the window")
    args = ap.parse_args()
    counts = None
    if args.walk:
        from gaitloop.sim.sources import make_replay

        counts = make_replay("insole", "left", WALK).counts
    for path in args.models:
        dm = read_device_model(path)
        window = None if counts is None else counts[args.at:args.at + dm.window, :dm.in_channels]
        path.write_bytes(add_self_test(path.read_bytes(), window))
        out = read_device_model(path).test_out
        print(f"{path}: self-test window {dm.window} x {dm.in_channels}, "
              f"outputs {np.frombuffer(out, np.int8).tolist()}")


if __name__ == "__main__":
    main()
