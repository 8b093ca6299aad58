"""Input for `train csm` / `eval csm`: a Huang `events_and_forces` directory or gaitpdb files.

Why counts: the board sees integers, so every recording is turned into the counts an insole
would send. Huang raw units (~2.5-4.5, an amplified load-cell voltage) become millivolt counts
(x 1000); gaitpdb newtons become the insole board's 0.1 N counts (x 10). The CSM normaliser
makes the templates independent of that choice (gain and offset).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from gaitloop.data import huang
from gaitloop.inputs import check_input_file

from .dataset import Stream, to_counts
from .errors import InputError

HUANG_SCALE = 1000.0  # raw units -> counts (1 mV per count)
GAITPDB_SCALE = 10.0  # newtons -> counts (0.1 N per count, boards/insole.py)
_GAITPDB = re.compile(r"^[A-Za-z]{2}(Co|Pt)\d+_\d+$")


def _huang_streams(directory: Path) -> list[Stream]:
    try:
        recs = huang.load_dir(directory)
    except huang.DataError as exc:
        raise InputError(str(exc)) from exc
    out = []
    for r in recs:
        for sensor in huang.SENSORS:
            raw = r.signals[sensor]
            ref = r.states if sensor.startswith("left") else {}
            out.append(Stream(r.name, r.subject, r.speed_kmh, sensor,
                              to_counts(raw, HUANG_SCALE), raw, ref_states=ref).prepare())
    return out


def read_gaitpdb(path: Path) -> dict[str, np.ndarray]:
    """gaitpdb text (19 columns, N) -> heel = L1 / R1, ball = L6 + L7 / R6 + R7."""
    check_input_file(path, "gaitpdb recording", error=InputError)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's "no data" warning: an InputError instead
            d = np.loadtxt(path, dtype=np.float64)
    except (ValueError, UserWarning) as exc:
        raise InputError(f"{Path(path).name}: not gaitpdb text ({exc})") from None
    if d.ndim != 2 or d.shape[1] != 19:
        raise InputError(f"{Path(path).name}: expected 19 columns, got {d.shape}")
    return {"left_heel": d[:, 1], "left_ball": d[:, 6] + d[:, 7],
            "right_heel": d[:, 9], "right_ball": d[:, 14] + d[:, 15]}


def _gaitpdb_streams(paths: list[Path]) -> list[Stream]:
    out = []
    for p in paths:
        sig = read_gaitpdb(p)
        for sensor, raw in sig.items():
            out.append(Stream(p.stem, p.stem.split("_")[0], 0.0, sensor,
                              to_counts(raw, GAITPDB_SCALE), raw).prepare())
    return out


def load_streams(path: Path) -> list[Stream]:
    """All sensor streams under `path` (a directory of either layout, or one gaitpdb file)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    if p.is_file():
        return _gaitpdb_streams([p])
    if any(p.glob("*.mat")):
        return _huang_streams(p)
    txt = sorted(q for q in p.glob("*.txt") if _GAITPDB.match(q.stem))
    if not txt and (p / "data").is_dir():
        txt = sorted(q for q in (p / "data").glob("*.txt") if _GAITPDB.match(q.stem))
    if txt:
        return _gaitpdb_streams(txt)
    raise InputError(f"{p}: neither Nss_k.mat recordings nor gaitpdb *_NN.txt files")
