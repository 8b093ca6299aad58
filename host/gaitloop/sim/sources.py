"""Turn a recording into the sensor counts a virtual board plays (one function per board kind)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitfw.boards import insole
from gaitloop.data.gaitpdb import insole_forces, load_gaitpdb
from gaitloop.errors import DataError
from gaitloop.inputs import check_input_file
from gaitloop.sim.replayfile import Replay, to_counts

BOARD_KINDS = ("insole", "knee")


def insole_replay(path: Path, side: str) -> Replay:
    """gaitpdb text -> heel/ball counts at the insole's scale (0.1 N per count)."""
    forces = insole_forces(load_gaitpdb(path), side)
    counts = np.column_stack(
        [to_counts(forces.heel, insole.SCALE[0]), to_counts(forces.ball, insole.SCALE[1])]
    )
    return Replay(insole.CHANNELS, insole.RATE_HZ, counts)


def make_replay(board: str, side: str, path: str | Path, limp: float = 0.0) -> Replay:
    """The replay for `board` from a data file; DataError with one clear line otherwise."""
    path = check_input_file(path, "recording")
    if board == "insole":
        if limp:
            raise DataError("--limp applies to the knee sleeve (an insole replays forces as recorded)")
        return insole_replay(path, side)
    if board == "knee":
        try:
            from gaitloop.sim.knee_source import make_knee_replay
        except ImportError as exc:
            raise DataError(f"knee replay is not available: {exc}") from None
        channels, rate, counts = make_knee_replay(path, side, limp=limp)
        return Replay(tuple(channels), int(rate), np.asarray(counts, dtype=np.int16))
    raise DataError(f"unknown board kind {board!r} (choose from {', '.join(BOARD_KINDS)})")
