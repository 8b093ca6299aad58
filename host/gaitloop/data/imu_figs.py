"""Loader for the Huang gait-phase MATLAB figures (`../shared/data/huang_gait_phase/imu_figs/`).

Why a figure walker: the authors published only `.fig` files (MAT v5 handle-graphics trees),
so the series live in line objects' `YData`, named by Chinese `DisplayName`s. We map those to
English keys and keep NaN gaps as they are (`nan_gaps` reports them) so that callers decide how
to treat them instead of inheriting a silent fill.

Many files repeat another file's series under another name; `list_recordings` keeps one file
per distinct content so a train/test split by file cannot leak.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from gaitloop.errors import DataError

#: Chinese DisplayName -> English key (see ../shared/data/README.md).
SERIES_NAMES: dict[str, str] = {
    "左髋": "hip_l",
    "右髋": "hip_r",
    "左膝": "knee_l",
    "右膝": "knee_r",
    "运动模式": "mode",
    "左足掌压力": "ball_l",
    "左足跟压力": "heel_l",
    "左足总压力": "total_l",
    "右足掌压力": "ball_r",
    "右足跟压力": "heel_r",
    "右足总压力": "total_r",
}
KEYS: tuple[str, ...] = tuple(SERIES_NAMES.values())
#: Sensor series (everything but the annotated motion mode): the content used for dedup.
SENSOR_KEYS: tuple[str, ...] = tuple(k for k in KEYS if k != "mode")


class FigFormatError(DataError):
    """A file is not a MATLAB figure holding the expected gait series."""


def _walk_lines(node, out: dict[str, np.ndarray]) -> None:
    """Collect every line object (a node whose properties hold YData) below `node`."""
    props = getattr(node, "properties", None)
    if props is not None and "YData" in getattr(props, "_fieldnames", ()):
        label = getattr(props, "DisplayName", None)
        if isinstance(label, str) and label in SERIES_NAMES:
            out[SERIES_NAMES[label]] = np.atleast_1d(np.asarray(props.YData, dtype=np.float64))
    children = getattr(node, "children", None)
    if children is not None:
        for child in np.atleast_1d(children):
            _walk_lines(child, out)


def load_fig(path: str | Path) -> dict[str, np.ndarray]:
    """Read one `.fig` into {hip_l, hip_r, knee_l, knee_r, mode, ball_l, heel_l, total_l,
    ball_r, heel_r, total_r} -> float64 arrays of equal length (NaN gaps kept)."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as exc:  # scipy raises several types for non-MAT input
        raise FigFormatError(f"{path.name}: not a MATLAB figure ({exc})") from exc
    roots = [v for k, v in mat.items() if k.startswith("hgS_")]
    if not roots:
        raise FigFormatError(f"{path.name}: no handle-graphics tree (hgS_*) in file")
    series: dict[str, np.ndarray] = {}
    _walk_lines(roots[0], series)
    missing = [k for k in KEYS if k not in series]
    if missing:
        raise FigFormatError(f"{path.name}: missing series {', '.join(missing)}")
    lengths = {len(v) for v in series.values()}
    if len(lengths) != 1:
        raise FigFormatError(f"{path.name}: series of unequal length {sorted(lengths)}")
    return {k: series[k] for k in KEYS}


def nan_gaps(rec: dict[str, np.ndarray]) -> dict[str, list[tuple[int, int]]]:
    """NaN runs per series as [start, stop) sample ranges; empty dict when there are none."""
    gaps: dict[str, list[tuple[int, int]]] = {}
    for key, values in rec.items():
        bad = np.isnan(values).astype(np.int8)
        if not bad.any():
            continue
        edges = np.diff(np.concatenate(([0], bad, [0])))
        starts = np.flatnonzero(edges == 1)
        stops = np.flatnonzero(edges == -1)
        gaps[key] = [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
    return gaps


def content_hash(rec: dict[str, np.ndarray]) -> str:
    """Hash of the sensor series (mode excluded: some copies differ only in its annotation)."""
    h = hashlib.sha256()
    for key in SENSOR_KEYS:
        h.update(key.encode())
        h.update(np.ascontiguousarray(rec[key], dtype=np.float64).tobytes())
    return h.hexdigest()


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_recordings(directory: str | Path, with_duplicates: bool = False) -> list[Path]:
    """`.fig` files in `directory`, one per distinct sensor content, in natural order.

    The first file (natural sort of names) of each content group is kept. With
    `with_duplicates=True` every file is returned (for inspection only, never for a split).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"recording directory not found: {directory}")
    files = sorted(directory.glob("*.fig"), key=_natural_key)
    if with_duplicates:
        return files
    seen: set[str] = set()
    kept: list[Path] = []
    for path in files:
        digest = content_hash(load_fig(path))
        if digest not in seen:
            seen.add(digest)
            kept.append(path)
    return kept


def duplicate_groups(directory: str | Path) -> list[list[Path]]:
    """Groups of files with identical sensor content (only groups of two or more)."""
    groups: dict[str, list[Path]] = {}
    for path in list_recordings(directory, with_duplicates=True):
        groups.setdefault(content_hash(load_fig(path)), []).append(path)
    return [g for g in groups.values() if len(g) > 1]
