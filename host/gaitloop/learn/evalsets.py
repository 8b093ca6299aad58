"""Rebuild a model's calibration and test windows from its checkpoint metadata.

Why from metadata: export parity and evaluation must use exactly the split, channels and
normalisation the model was trained with, not a re-derived guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitloop.errors import DataError
from gaitloop.learn.phase_data import ALL_CHANNELS, MinMax, Recording, _stack, load_recordings

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
DEFAULT_DATA = {"phase": SHARED / "huang_gait_phase" / "imu_figs", "grf": SHARED / "gaitpdb"}


@dataclass
class EvalSet:
    calib: np.ndarray  # (m, C, T) normalised training windows
    X_test: np.ndarray  # (n, C, T) normalised test windows
    y_test: np.ndarray  # labels (phase) or newtons (grf)
    w_test: np.ndarray | None = None  # body weight [N] (grf)
    description: str = ""


def norm_of(meta: dict) -> MinMax:
    return MinMax(np.asarray(meta["norm_min"], float), np.asarray(meta["norm_max"], float))


def delay_of(meta: dict) -> int:
    """A phase model's decision delay in samples (0 for models written before it existed)."""
    return int(meta.get("decision_delay", 0))


def phase_windows(recs: list[Recording], channels, norm: MinMax, stride: int, delay: int = 0):
    col = [ALL_CHANNELS.index(c) for c in channels]
    X, y = _stack([Recording(r.name, r.signals[:, col], r.labels) for r in recs], stride, delay)
    return norm(X).transpose(0, 2, 1).copy(), y


def from_meta(meta: dict, data: Path | None = None, calib_stride: int = 8,
              test_stride: int = 1, max_calib: int = 2000) -> EvalSet:
    task = meta["task"]
    data = Path(data) if data is not None else DEFAULT_DATA[task]
    if not data.exists():
        raise DataError(f"data for calibration/parity not found: {data} (give --data)")
    if task == "phase":
        recs = load_recordings(data)
        train = [r for r in recs if r.name in set(meta.get("train_files", []))]
        test = [r for r in recs if r.name in set(meta.get("test_files", []))]
        if meta.get("split") != "recording" or not train or not test:
            raise DataError(f"{data}: the model's train/test recordings are not in this folder")
        norm = norm_of(meta)
        calib, _ = phase_windows(train, meta["channels"], norm, calib_stride, delay_of(meta))
        X, y = phase_windows(test, meta["channels"], norm, test_stride, delay_of(meta))
        desc = f"held-out recordings {', '.join(r.name for r in test)} (stride {test_stride})"
        rng = np.random.default_rng(0)
        calib = calib[np.sort(rng.permutation(len(calib))[:max_calib])]
        return EvalSet(calib, X, y, None, desc)
    from gaitloop.learn import grf

    ds = grf.make_dataset(data, seed=meta.get("seed", 0), train_stride=calib_stride * 4,
                          test_stride=4)
    if sorted(ds.test_subjects) != sorted(meta.get("test_subjects", [])):
        raise DataError(f"{data}: subject split differs from the model's metadata")
    norm = norm_of(meta)
    rng = np.random.default_rng(0)
    from gaitloop.learn.faults import InsoleFaults

    faulty = InsoleFaults(**meta.get("faults", {})).apply(grf.insole_view(ds.X_train), rng)
    calib = grf.norm_cf(norm, faulty)  # as the student sees it: with insole faults
    calib = calib[np.sort(rng.permutation(len(calib))[:max_calib])]
    X = grf.norm_cf(norm, ds.X2_test_faulty)
    return EvalSet(calib, X, ds.y_test, ds.w_test,
                   f"held-out subjects {', '.join(ds.test_subjects)} with insole faults")
