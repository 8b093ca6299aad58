"""PhysioNet gaitpdb (Gait in Parkinson's Disease): vertical force under 8 sensors per foot.

Format (format.txt): whitespace separated, 19 columns at 100 Hz: time [s], L1..L8 [N],
R1..R8 [N], total left [N], total right [N]. A heel/ball insole is L1 (heel) and L6+L7 (ball).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitloop.errors import DataError
from gaitloop.inputs import check_input_file

RATE_HZ = 100
N_COLUMNS = 19
COL_TIME = 0
COL_LEFT = slice(1, 9)
COL_RIGHT = slice(9, 17)
COL_TOTAL_LEFT = 17
COL_TOTAL_RIGHT = 18


def load_gaitpdb(path: str | Path) -> np.ndarray:
    """All 19 columns as float64 (n, 19); a clear DataError for anything else."""
    path = check_input_file(path, "gaitpdb recording")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "input contained no data": a DataError below
            data = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (ValueError, UserWarning) as exc:
        raise DataError(f"{path}: not a gaitpdb text file ({exc})") from None
    if data.shape[1] != N_COLUMNS:
        raise DataError(f"{path}: expected {N_COLUMNS} columns of gaitpdb data, found {data.shape[1]}")
    if len(data) < 2:
        raise DataError(f"{path}: too few rows ({len(data)})")
    if not np.all(np.isfinite(data)):
        bad = int(np.argmax(~np.isfinite(data).all(axis=1)))
        raise DataError(f"{path}: non-numeric value (NaN/inf) in row {bad + 1}")
    return data


@dataclass(frozen=True)
class InsoleForces:
    """Heel and ball force of one foot in newtons, at RATE_HZ."""

    heel: np.ndarray
    ball: np.ndarray
    total: np.ndarray
    rate_hz: int = RATE_HZ


def insole_forces(data: np.ndarray, side: str) -> InsoleForces:
    """The two channels a heel/ball insole sees: heel = L1/R1, ball = L6+L7 / R6+R7."""
    if side not in ("left", "right"):
        raise DataError(f"side must be 'left' or 'right', not {side!r}")
    base = 1 if side == "left" else 9
    heel = data[:, base]
    ball = data[:, base + 5] + data[:, base + 6]
    total = data[:, COL_TOTAL_LEFT if side == "left" else COL_TOTAL_RIGHT]
    return InsoleForces(heel=heel, ball=ball, total=total)


def load_demographics(path: str | Path) -> dict[str, dict[str, str]]:
    """demographics.txt as {subject id: {column: value}} (weight in kg is 'Weight')."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    header = lines[0].split("\t")
    out: dict[str, dict[str, str]] = {}
    for ln in lines[1:]:
        cells = ln.split("\t")
        row = dict(zip(header, cells, strict=False))
        key = row.get(header[0], cells[0]).strip()
        out[key] = {k.strip(): v.strip() for k, v in row.items()}
    return out
