"""Insole fault injector: the faults real force sensors show, each at graded severity.

Why: on clean data a threshold detector reproduces threshold labels almost exactly, so clean
E4 cannot show what a shape detector is for. The fault benchmark (`eval csm --faults`) keeps
the labels of the clean signal and feeds the detectors the faulted counts made here.

Every fault works on one sensor stream of int counts (`MISSING` = no sample) and is scaled
by that stream's own load range R = p99 - p1 of the clean counts and its unloaded level
B = p1, so a level means the same on a 1 000-count and a 10 000-count sensor. Randomness
(noise, phases, which samples drop) comes only from the `seed` argument (numpy PCG64), so a
(stream, fault, level, seed) gives the same counts on every machine. Level 0 of every fault
is the clean signal; levels 1-4 grow in severity (`LEVELS` holds the value of each).

Faults (rate 100 Hz; "per 30 s" is about one recording):

* `drift`: baseline moves linearly by L x R per 30 s (sign from the seed); the load rides on it.
* `gain_sensor`: the load above B is multiplied by L (a sensor, or a whole insole, that is
  more or less sensitive than the ones the templates and factors were fitted on).
* `gain_time`: the load gain falls linearly from 1 to L over the recording (ageing, loosening).
* `noise`: white Gaussian noise, std L x R.
* `hum`: 50 Hz mains pickup of amplitude L x R, sampled at 100 Hz by an ADC clock 0.2-0.8 %
  off (the alias is a 0.1-0.4 Hz beat of alternating samples, as real boards show it).
* `creep`: FSR creep, the reading rises while loaded and relaxes slowly after unloading: a
  first-order state driven by the load (time constant 1 s up, 4 s down) adds L x its value.
* `lifted`: a partially lifted or shifted sensor only feels load above L x R (a dead zone).
* `saturation`: the count clips at B + L x R (an amplifier or ADC at its rail).
* `dropped`: a share L of the samples is lost in bursts of 1-8 samples (`MISSING`), as a
  radio link or a busy board drops them.
"""

from __future__ import annotations

import numpy as np

from gaitfw import csm as fw

RATE_HZ = 100
MISSING = fw.MISSING

#: fault -> severity values for levels 1..4 (level 0 = clean); unit in UNITS.
LEVELS: dict[str, tuple[float, ...]] = {
    "drift": (0.25, 0.5, 1.0, 2.0),
    "gain_sensor": (0.5, 0.25, 2.0, 4.0),
    "gain_time": (0.8, 0.6, 0.4, 0.2),
    "noise": (0.02, 0.05, 0.10, 0.20),
    "hum": (0.05, 0.10, 0.20, 0.40),
    "creep": (0.1, 0.2, 0.4, 0.8),
    "lifted": (0.05, 0.10, 0.20, 0.30),
    "saturation": (0.8, 0.6, 0.4, 0.25),
    "dropped": (0.01, 0.05, 0.10, 0.20),
}
UNITS: dict[str, str] = {
    "drift": "baseline change per 30 s, x load range",
    "gain_sensor": "load gain factor",
    "gain_time": "load gain at the end of the recording (1 at the start)",
    "noise": "noise std, x load range",
    "hum": "50 Hz amplitude, x load range",
    "creep": "creep gain on the load's slow state",
    "lifted": "dead zone, x load range",
    "saturation": "clip level above the unloaded level, x load range",
    "dropped": "share of samples lost (bursts of 1-8)",
}
FAULTS = tuple(LEVELS)
N_LEVELS = 4


def load_scale(counts: np.ndarray) -> tuple[float, float]:
    """(B, R): unloaded level (p1) and load range (p99 - p1) of the present samples."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c != MISSING]
    if not len(c):
        return 0.0, 1.0
    b, t = np.percentile(c, [1, 99])
    return float(b), float(max(t - b, 1.0))


def severity(fault: str, level: int) -> float:
    """The severity value of `level` (1..4) of `fault`."""
    if fault not in LEVELS:
        raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
    if not 1 <= level <= N_LEVELS:
        raise ValueError(f"level must be 1..{N_LEVELS}, got {level}")
    return LEVELS[fault][level - 1]


def _creep_state(load: np.ndarray, tau_up: float = 1.0, tau_down: float = 4.0) -> np.ndarray:
    """First-order state following the load, faster while it rises than while it falls."""
    a_up = 1.0 - np.exp(-1.0 / (tau_up * RATE_HZ))
    a_dn = 1.0 - np.exp(-1.0 / (tau_down * RATE_HZ))
    out = np.empty(len(load))
    s = 0.0
    for i, v in enumerate(load.tolist()):
        s += (a_up if v > s else a_dn) * (v - s)
        out[i] = s
    return out


def _drop_mask(n: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """Bursts of 1-8 lost samples until `share` of n is lost (starts uniform)."""
    mask = np.zeros(n, dtype=bool)
    target = int(round(share * n))
    while int(mask.sum()) < target:
        a = int(rng.integers(0, n))
        mask[a:a + int(rng.integers(1, 9))] = True
    return mask


def inject(counts: np.ndarray, fault: str, level: int, seed: int = 0) -> np.ndarray:
    """Faulted copy of one stream's int counts (`MISSING` kept; the result stays int16-range)."""
    L = severity(fault, level)
    c = np.asarray(counts, dtype=np.int64)
    miss = c == MISSING
    x = c.astype(np.float64)
    B, R = load_scale(c)
    if miss.any():  # fault maths on a filled copy; missing samples stay missing
        idx = np.where(miss, 0, np.arange(len(x)))
        np.maximum.accumulate(idx, out=idx)
        x = x[idx]
    n = len(x)
    t = np.arange(n) / RATE_HZ
    rng = np.random.default_rng(seed)
    load = np.maximum(x - B, 0.0)
    if fault == "drift":
        sign = 1.0 if rng.random() < 0.5 else -1.0
        y = x + sign * L * R * t / 30.0
    elif fault == "gain_sensor":
        y = B + (x - B) * L
    elif fault == "gain_time":
        g = 1.0 + (L - 1.0) * t / max(t[-1], 1e-9)
        y = B + (x - B) * g
    elif fault == "noise":
        y = x + rng.normal(0.0, L * R, n)
    elif fault == "hum":
        clock = 1.0 + rng.uniform(0.002, 0.008) * (1 if rng.random() < 0.5 else -1)
        phase = rng.uniform(0, 2 * np.pi)
        y = x + L * R * np.sin(2 * np.pi * 50.0 * t * clock + phase)
    elif fault == "creep":
        y = x + L * _creep_state(load)
    elif fault == "lifted":
        y = B + np.maximum(load - L * R, 0.0) + np.minimum(x - B, 0.0)
    elif fault == "saturation":
        y = np.minimum(x, B + L * R)
    elif fault == "dropped":
        y = x.copy()
        miss = miss | _drop_mask(n, L, rng)
    else:  # severity() has checked the name
        raise AssertionError(fault)
    out = np.clip(np.round(y), -32767, 32767).astype(np.int64)
    out[miss] = MISSING
    return out


def stream_seed(name: str, fault: str, level: int, seed: int = 0) -> int:
    """A stable per-(stream, fault, level) seed (crc32: the same on every run and machine)."""
    import zlib

    return zlib.crc32(f"{name}|{fault}|{level}|{seed}".encode())
