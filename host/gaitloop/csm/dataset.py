"""Sensor streams ready for training and scoring: counts, Lopez-Meyer labels, statuses.

Why one place: training, evaluation and the protocol runner must see the same streams, the
same exclusions (flat-lined sensors) and the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gaitfw import csm as fw

from .features import BLK, curve_features, normalize
from .labels import binary_labels, four_states


@dataclass
class Stream:
    """One force sensor of one recording."""

    recording: str
    subject: str
    speed_kmh: float
    sensor: str
    counts: np.ndarray  # int16-range counts as the board would read them
    raw: np.ndarray  # the file's values (labels are computed on these)
    labels: np.ndarray = field(default=None)  # 1 on / 0 off (Lopez-Meyer)
    states: np.ndarray = field(default=None)  # 3/1/0/2
    valid: np.ndarray = field(default=None)  # samples scored (warm-up excluded)
    ref_states: dict = field(default_factory=dict)  # authors' onsets for this foot, if any

    def prepare(self, min_range: int = fw.DEFAULT_PARAMS["min_range"]) -> Stream:
        raw = np.where(np.isfinite(self.raw), self.raw, np.nan)
        filled = _ffill_nan(raw)
        self.labels = binary_labels(filled)
        self.states = four_states(self.labels)
        self.valid = np.arange(len(self.counts)) >= BLK
        return self

    @property
    def usable(self) -> bool:
        """False for a flat-lined sensor (range below min_range) or one without gait cycles."""
        c = self.counts[self.counts != fw.MISSING]
        if len(c) < 4 * BLK:
            return False
        if np.percentile(c, 99) - np.percentile(c, 1) < fw.DEFAULT_PARAMS["min_range"]:
            return False
        return self.labels is not None and int(np.abs(np.diff(self.labels)).sum()) >= 4

    def features(self, fixed: bool = False) -> np.ndarray:
        nz = normalize(self.counts, fw.DEFAULT_PARAMS["min_range"], fixed)
        return curve_features(nz["y"])


def _ffill_nan(x: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    if bad.all():
        return np.zeros_like(x)
    idx = np.where(bad, 0, np.arange(len(x)))
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    first = np.flatnonzero(~bad)[0]
    out[:first] = x[first]
    return out


def to_counts(values: np.ndarray, scale: float) -> np.ndarray:
    """File values -> int16 counts (value * scale, rounded, clipped); NaN -> MISSING."""
    v = np.asarray(values, dtype=np.float64) * scale
    c = np.clip(np.round(np.nan_to_num(v, nan=0.0)), -32767, 32767).astype(np.int64)
    c[~np.isfinite(v)] = fw.MISSING
    return c
