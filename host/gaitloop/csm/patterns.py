"""Loading patterns that break per-sensor gait phase detection, found per sensor stream.

Why: the issue's worst unseen subject loses 43-48 % of the labelled transitions with every
method while others stay at 1-10 %; the question is which shape of loading causes it. Each
stream gets the patterns it shows (a stream may show several), from its clean signal and its
Lopez-Meyer labels only (no detector output), so the per-pattern error table can say which
pattern costs which method what:

* `flicker`: the labels chatter: more than a quarter of the labelled off runs are shorter
  than 150 ms (no real swing is), i.e. the swing baseline sits within its own noise of the
  threshold (eq. 2 puts it at 9.4 % of the cycle range above the mean cycle minimum).
* `never_unloads`: fewer real swings (labelled off runs of at least 150 ms) than half those
  of the foot's other sensor: the sensor stays above the threshold through swing.
* `double_peak`: in more than half of the labelled stances the force falls by more than 30 %
  of the stream's range between two peaks (heel and ball rolling through one sensor, or a
  sensor under the midfoot).
* `short_stance`: median labelled stance below 400 ms (fast walking: at 6 km/h the transition
  windows of 2 x 50 ms are a larger share of the cycle).
"""

from __future__ import annotations

import numpy as np

from .dataset import Stream
from .labels import runs

PATTERNS = ("flicker", "never_unloads", "double_peak", "short_stance")
RATE_HZ = 100


def _double_peaks(x: np.ndarray, a: int, b: int, drop: float) -> bool:
    seg = x[a:b]
    if len(seg) < 6:
        return False
    i1 = int(np.argmax(seg))
    for lo, hi in ((0, i1), (i1 + 1, len(seg))):  # a second peak before or after the first
        if hi - lo < 3:
            continue
        part = seg[lo:hi]
        j = int(np.argmax(part)) + lo
        between = seg[min(i1, j):max(i1, j) + 1]
        if min(seg[i1], seg[j]) - between.min() > drop:
            return True
    return False


def swings(s: Stream) -> int:
    """Labelled off runs of at least 150 ms (real swings, not label chatter)."""
    st, en, val = runs(np.asarray(s.labels, dtype=np.int8))
    return int(((val == 0) & (en - st >= 15)).sum())


def stream_patterns(s: Stream, strides: int | None = None) -> list[str]:
    """The patterns of one stream; `strides` = real swings of the foot (max over its sensors)."""
    g = np.asarray(s.labels, dtype=np.int8)
    st, en, val = runs(g)
    ln = en - st
    off = ln[(val == 0)[:]][1:-1] if len(ln) > 2 else ln[val == 0]
    on_idx = [k for k in range(1, len(st) - 1) if val[k] == 1]
    out = []
    if len(off) and (off < 15).mean() > 0.25:
        out.append("flicker")
    if strides and swings(s) < 0.5 * strides:
        out.append("never_unloads")
    x = np.asarray(s.raw, dtype=np.float64)
    x = np.where(np.isfinite(x), x, np.nanmedian(x))
    rng = float(np.percentile(x, 99) - np.percentile(x, 1))
    long_on = [k for k in on_idx if ln[k] >= 15]
    if long_on:
        dp = np.mean([_double_peaks(x, st[k], en[k], 0.3 * rng) for k in long_on])
        if dp > 0.5:
            out.append("double_peak")
        if np.median(ln[long_on]) < 0.40 * RATE_HZ:
            out.append("short_stance")
    return out


def all_patterns(streams: list[Stream]) -> dict[str, list[str]]:
    """`recording:sensor` -> patterns, with the foot's stride count from its sensors' labels."""
    strides: dict[tuple, int] = {}
    for s in streams:
        if s.labels is None:
            continue
        key = (s.recording, s.sensor.split("_")[0])
        strides[key] = max(strides.get(key, 0), swings(s))
    return {f"{s.recording}:{s.sensor}": stream_patterns(
        s, strides.get((s.recording, s.sensor.split("_")[0]))) for s in streams if s.usable}
