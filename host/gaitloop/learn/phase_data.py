"""Windows, splits and min-max normalisation for the gait-phase task.

Why split by recording: windows of one recording overlap by 39 of 40 samples, so a random
window split (the paper's 70/30) puts near-copies of every test window into training. We
report that split only for comparison, labelled as such; the headline split holds out whole
(content-deduplicated) recordings.

A window's label is the phase of the sample `delay` samples before its end (default 0: the
last sample): the board classifies the phase *now* (or D samples ago, with a decision delay)
from the past 40 samples, so the model never sees beyond its window. Why a delay: the phase
rules are offline (a label can depend on samples after it), so letting the answer lag by D
samples gives the model D samples of "future" for that label, at D / SAMPLE_RATE_HZ latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitloop.data.imu_figs import list_recordings, load_fig, nan_gaps
from gaitloop.errors import DataError
from gaitloop.learn.phase_labels import CLASSES, UNLABELED, label_recording

WINDOW = 40
#: Sample rate of the Huang imu_figs recordings (the model card's "40 samples at 100 Hz").
SAMPLE_RATE_HZ = 100
#: Teacher inputs: the paper's Force + Angle (hip and knee angles, heel/ball force both feet).
ALL_CHANNELS: tuple[str, ...] = ("hip_l", "hip_r", "knee_l", "knee_r", "heel_l", "ball_l",
                                 "heel_r", "ball_r")
#: What the insole board measures on the labelled (left) foot: heel and ball force.
INSOLE_CHANNELS: tuple[str, ...] = ("heel_l", "ball_l")
CHANNEL_SETS = {"all": ALL_CHANNELS, "insole": INSOLE_CHANNELS}


class PhaseDataError(DataError):
    """The phase data directory or its arguments cannot make a dataset."""


@dataclass
class Recording:
    name: str
    signals: np.ndarray  # (n, C) float64, channel order as requested
    labels: np.ndarray  # (n,) int8, -1 unlabeled
    nan_gaps: dict = field(default_factory=dict)


def load_recordings(directory: str | Path, channels=ALL_CHANNELS) -> list[Recording]:
    """Every distinct recording in `directory` (an `imu_figs/`-like folder), labelled."""
    directory = Path(directory)
    paths = list_recordings(directory)
    if not paths:
        raise PhaseDataError(f"no .fig recordings in {directory}")
    out = []
    for p in paths:
        rec = load_fig(p)
        sig = np.stack([rec[c] for c in channels], axis=1)
        out.append(Recording(p.name, sig, label_recording(rec), nan_gaps(rec)))
    return out


def check_delay(delay: int, window: int = WINDOW) -> int:
    """`delay` as an int in [0, window): the labelled sample must lie inside the window."""
    if not 0 <= int(delay) < window:
        raise PhaseDataError(f"decision delay must be 0..{window - 1} samples, got {delay}")
    return int(delay)


def delay_ms(delay: int) -> float:
    """A decision delay in samples as milliseconds at the data's sample rate."""
    return 1000.0 * delay / SAMPLE_RATE_HZ


def windows_of(rec: Recording, stride: int = 1, window: int = WINDOW, delay: int = 0
               ) -> tuple[np.ndarray, np.ndarray]:
    """(X (m, window, C), y (m,)) of all windows ending every `stride` samples; y is the label of
    the sample `delay` samples before the window's end. Windows with a NaN sample or an
    unlabeled target sample are dropped."""
    delay = check_delay(delay, window)
    n, c = rec.signals.shape
    if n < window:
        return np.zeros((0, window, c), np.float32), np.zeros(0, np.int64)
    ends = np.arange(window - 1, n, stride)
    bad = np.isnan(rec.signals).any(axis=1).astype(np.int64)
    cbad = np.concatenate(([0], np.cumsum(bad)))
    ok = (cbad[ends + 1] - cbad[ends + 1 - window] == 0) & (rec.labels[ends - delay] != UNLABELED)
    ends = ends[ok]
    idx = ends[:, None] - np.arange(window - 1, -1, -1)[None, :]
    return rec.signals[idx].astype(np.float32), rec.labels[ends - delay].astype(np.int64)


def split_by_recording(recs: list[Recording], test_fraction: float = 0.3, seed: int = 0):
    """(train, test) recordings: a seeded shuffle, files go to test until it holds
    `test_fraction` of the samples."""
    if not 0 < test_fraction < 1:
        raise PhaseDataError("test_fraction must be in (0, 1)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(recs))
    total = sum(len(r.labels) for r in recs)
    test, n_test = [], 0
    for i in order:
        if n_test >= test_fraction * total:
            break
        test.append(int(i))
        n_test += len(recs[i].labels)
    train = [r for i, r in enumerate(recs) if i not in test]
    return train, [recs[i] for i in sorted(test)]


@dataclass
class MinMax:
    """Per-channel min-max to [-1, 1] (paper eq. 1) with statistics from training data only.
    Values outside the training range are clipped so int8 inputs stay in range."""

    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> MinMax:
        flat = X.reshape(-1, X.shape[-1])
        lo, hi = np.nanmin(flat, axis=0), np.nanmax(flat, axis=0)
        hi = np.where(hi > lo, hi, lo + 1.0)
        return cls(lo.astype(np.float64), hi.astype(np.float64))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        z = 2.0 * (X - self.lo) / (self.hi - self.lo) - 1.0
        return np.clip(z, -1.0, 1.0).astype(np.float32)


@dataclass
class PhaseDataset:
    """Normalised windows, channels-first for torch: X (m, C, window) float32, y (m,) int64."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    norm: MinMax
    channels: tuple[str, ...]
    train_names: list[str]
    test_names: list[str]
    split: str
    classes: tuple[str, ...] = CLASSES
    delay: int = 0  # decision delay in samples (label of the sample `delay` before the end)


def _stack(recs, stride, delay=0):
    parts = [windows_of(r, stride, delay=delay) for r in recs]
    X = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, WINDOW, 0), np.float32)
    y = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    return X, y


def make_dataset(directory: str | Path, channels=ALL_CHANNELS, split: str = "recording",
                 test_fraction: float = 0.3, seed: int = 0, train_stride: int = 2,
                 test_stride: int = 1, recordings: list[Recording] | None = None,
                 delay: int = 0) -> PhaseDataset:
    """Windows for training and test.

    split='recording': held-out recording files (the headline result).
    split='random70': the paper's 70/30 random split of windows (for comparison only: leaks).
    `delay`: decision delay in samples (see `windows_of`); the split does not depend on it.
    """
    delay = check_delay(delay)
    channels = tuple(channels)
    all_recs = recordings if recordings is not None else load_recordings(directory, ALL_CHANNELS)
    col = [ALL_CHANNELS.index(c) for c in channels]
    recs = [Recording(r.name, r.signals[:, col], r.labels, r.nan_gaps) for r in all_recs]
    if split == "recording":
        tr, te = split_by_recording(recs, test_fraction, seed)
        Xtr, ytr = _stack(tr, train_stride, delay)
        Xte, yte = _stack(te, test_stride, delay)
        trn, ten = [r.name for r in tr], [r.name for r in te]
    elif split == "random70":
        X, y = _stack(recs, test_stride, delay)
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(y))
        k = int(round(len(y) * (1 - test_fraction)))
        tr_idx, te_idx = perm[:k], perm[k:]
        tr_idx = np.sort(tr_idx)[::train_stride]
        Xtr, ytr, Xte, yte = X[tr_idx], y[tr_idx], X[te_idx], y[te_idx]
        trn = ten = [r.name for r in recs]
    else:
        raise PhaseDataError(f"unknown split {split!r} (recording | random70)")
    if len(ytr) == 0 or len(yte) == 0:
        raise PhaseDataError("split left no training or no test windows")
    norm = MinMax.fit(Xtr)
    return PhaseDataset(norm(Xtr).transpose(0, 2, 1).copy(), ytr, norm(Xte).transpose(0, 2, 1).copy(),
                        yte, norm, channels, trn, ten, split, delay=delay)


def windows_for_eval(directory: str | Path, channels, norm: MinMax, stride: int = 1,
                     delay: int = 0):
    """Every labelled window of every distinct recording in `directory`, normalised with a
    model's stored statistics: (X (m, C, window), y)."""
    all_recs = load_recordings(directory, ALL_CHANNELS)
    col = [ALL_CHANNELS.index(c) for c in channels]
    recs = [Recording(r.name, r.signals[:, col], r.labels) for r in all_recs]
    X, y = _stack(recs, stride, delay)
    return norm(X).transpose(0, 2, 1).copy(), y
