"""Gait-phase labels from heel/ball force, after the ResNet-LSTM paper's section II.C rules.

Why rules and not the authors' labels: the figures carry no phase annotation, so the reference
is derived from force exactly as the paper describes (a force threshold plus flat-zone ends):

- HS (heel strike): from the primary foot's contact until the secondary foot leaves the
  ground (initial double support), at most `max_hs` samples.
- ST (full stance): after HS while the primary heel is loaded (the flat zone of heel force);
  if the heel never loads in that stance (forefoot contact, stairs), until the ball-force peak.
- HO (heel off): the rest of the stance, ball loaded, heel near zero.
- SW (swing): both primary forces near zero.

The primary foot is the left one, as in the paper's Fig. 9. Labels are per sample; NaN samples
get -1 (no label).
"""

from __future__ import annotations

import numpy as np

CLASSES: tuple[str, ...] = ("HS", "ST", "HO", "SW")
HS, ST, HO, SW = range(4)
UNLABELED = -1


def _drop_short_runs(mask: np.ndarray, min_run: int) -> np.ndarray:
    """Flip runs (of either value) shorter than `min_run` samples: sensor chatter, not gait."""
    out = mask.copy()
    if min_run <= 1 or len(out) == 0:
        return out
    for _ in range(2):  # short on-runs first, then short off-runs that the first pass exposed
        edges = np.flatnonzero(np.diff(out.astype(np.int8))) + 1
        bounds = np.concatenate(([0], edges, [len(out)]))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if b - a < min_run and a > 0 and b < len(out):
                out[a:b] = not out[a]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate(([0], mask.astype(np.int8), [0]))
    d = np.diff(padded)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


class PhaseLabeler:
    """Force-threshold phase labels for one foot.

    Parameters are in the recording's raw force units (Huang insoles: 0..~800, zero baseline).
    """

    def __init__(self, threshold: float = 10.0, min_run: int = 3, max_hs: int = 30):
        self.threshold = threshold
        self.min_run = min_run
        self.max_hs = max_hs

    def label(self, heel: np.ndarray, ball: np.ndarray, heel_other: np.ndarray,
              ball_other: np.ndarray) -> PhaseLabeler:
        """Label every sample; results in `labels_` (int8, -1 where any input is NaN)."""
        arrays = [np.asarray(a, dtype=np.float64) for a in (heel, ball, heel_other, ball_other)]
        n = len(arrays[0])
        if any(len(a) != n for a in arrays):
            raise ValueError("heel/ball series must have equal length")
        heel, ball, heel_o, ball_o = arrays
        bad = np.zeros(n, bool)
        for a in arrays:
            bad |= np.isnan(a)
        th = self.threshold
        with np.errstate(invalid="ignore"):
            heel_on = np.nan_to_num(heel) > th
            contact = _drop_short_runs(heel_on | (np.nan_to_num(ball) > th), self.min_run)
            other = _drop_short_runs((np.nan_to_num(heel_o) > th) | (np.nan_to_num(ball_o) > th),
                                     self.min_run)
        labels = np.full(n, SW, np.int8)
        for a, b in _runs(contact):
            # HS: until the other foot is off the ground (capped), starting at contact.
            off = np.flatnonzero(~other[a:b])
            c = a + (int(off[0]) if len(off) else b - a)
            c = min(c, a + self.max_hs, b)
            labels[a:c] = HS
            if c >= b:
                continue
            heel_idx = np.flatnonzero(heel_on[c:b])
            if len(heel_idx):
                h = c + int(heel_idx[-1]) + 1
            else:
                h = c + int(np.argmax(np.nan_to_num(ball[c:b]))) + 1
            labels[c:h] = ST
            labels[h:b] = HO
        labels[bad] = UNLABELED
        self.labels_ = labels
        self.contact_ = contact
        return self


def label_recording(rec: dict[str, np.ndarray], side: str = "l", **params) -> np.ndarray:
    """Per-sample phase labels of one `imu_figs` recording for the `side` ('l' | 'r') foot."""
    if side not in ("l", "r"):
        raise ValueError(f"side must be 'l' or 'r', got {side!r}")
    o = "r" if side == "l" else "l"
    lab = PhaseLabeler(**params).label(rec[f"heel_{side}"], rec[f"ball_{side}"], rec[f"heel_{o}"],
                                       rec[f"ball_{o}"])
    return lab.labels_
