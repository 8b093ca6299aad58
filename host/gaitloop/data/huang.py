"""Loader for the Huang/Hu heel-ball insole data (`huang_gait_phase/events_and_forces`).

Why a loader of its own: the files are MATLAB v5 with a fixed column order, the `.ini` state
files are mostly GBK-encoded with a full-width colon, and some recordings are byte-identical
copies of others under another name. Splitting by subject without removing those copies leaks
test data into training, so `load_dir` deduplicates by content and reports what it dropped.

Columns of `data1` (see ../shared/data/README.md): sample index, left sum, right sum, left ball,
right ball, right heel, left heel. Values are raw sensor units (unloaded ~2.5-2.75), not newtons.
The `.ini` indices are 1-based sample numbers (column 0 starts at 1); we store them 0-based.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitloop.errors import DataError as _BaseDataError

RATE_HZ = 100
SPEEDS_KMH = {1: 2, 2: 3, 3: 4, 4: 5, 5: 6}
SENSORS = ("left_heel", "left_ball", "right_heel", "right_ball")
_COLUMNS = {"left_heel": 6, "left_ball": 3, "right_heel": 5, "right_ball": 4}
_STATE_KEYS = {
    "initial off-ground": "initial_off",
    "off-ground": "off",
    "initial on-ground": "initial_on",
    "on-ground": "on",
}
_NAME = re.compile(r"^N(\d+)_(\d)$")


class DataError(_BaseDataError):
    """A recording file is missing, malformed or unreadable (one-line message)."""


@dataclass
class Recording:
    """One walking trial: force per sensor (raw units) and, when present, the authors' states."""

    name: str
    subject: str
    speed_kmh: float
    signals: dict[str, np.ndarray]
    rate_hz: int = RATE_HZ
    states: dict[str, np.ndarray] = field(default_factory=dict)
    units: str = "raw"
    duplicates: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return len(next(iter(self.signals.values())))


def read_states(path: Path) -> dict[str, np.ndarray]:
    """Parse an `.ini` state file (GBK or UTF-8, full-width or ASCII colon) -> 0-based onsets."""
    raw = path.read_bytes()
    for enc in ("utf-8", "gbk"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DataError(f"{path.name}: not UTF-8 or GBK text")
    out: dict[str, np.ndarray] = {}
    for line in text.splitlines():
        line = line.replace("\uff1a", ":").strip()
        if ":" not in line:
            continue
        key, _, vals = line.partition(":")
        k = _STATE_KEYS.get(key.strip().lower())
        if k is None:
            continue
        nums = [int(v) - 1 for v in vals.split() if v.strip().lstrip("-").isdigit()]
        out[k] = np.asarray(nums, dtype=np.int64)
    return out


def read_mat(path: Path) -> np.ndarray:
    """The `data1` matrix of one `.mat` file, shape (n, 7)."""
    import scipy.io

    try:
        m = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for a bad file
        raise DataError(f"{path.name}: cannot read MAT file ({exc})") from exc
    if "data1" not in m:
        raise DataError(f"{path.name}: no 'data1' variable")
    d = np.asarray(m["data1"], dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != 7:
        raise DataError(f"{path.name}: data1 has shape {d.shape}, expected (n, 7)")
    return d


def load_recording(mat_path: Path) -> Recording:
    """One `Nss_k.mat` (+ its `.ini` if present)."""
    mat_path = Path(mat_path)
    m = _NAME.match(mat_path.stem)
    subject = f"N{int(m.group(1)):02d}" if m else mat_path.stem
    speed = float(SPEEDS_KMH.get(int(m.group(2)), 0)) if m else 0.0
    d = read_mat(mat_path)
    signals = {s: d[:, c].copy() for s, c in _COLUMNS.items()}
    ini = mat_path.with_suffix(".ini")
    states = read_states(ini) if ini.exists() else {}
    return Recording(mat_path.stem, subject, speed, signals, states=states)


def load_dir(directory: Path) -> list[Recording]:
    """All recordings in a directory, exact copies removed (the first name in sort order stays).

    Each kept recording lists the names of its dropped copies in `duplicates`.
    """
    directory = Path(directory)
    paths = sorted(directory.glob("*.mat"))
    if not paths:
        raise DataError(f"{directory}: no .mat recordings")
    kept: dict[str, Recording] = {}
    for p in paths:
        rec = load_recording(p)
        key = hashlib.sha256(
            np.ascontiguousarray(np.stack([rec.signals[s] for s in SENSORS], 1)).tobytes()
        ).hexdigest()
        if key in kept:
            kept[key].duplicates.append(rec.name)
        else:
            kept[key] = rec
    return list(kept.values())
