"""Knee-sleeve replay from a captured walk (called by `gaitloop.sim.sources.make_replay`).

Why here: the simulator only needs channel names, a rate and int16 counts; how a mocap walk
becomes thigh-IMU and bend-sensor counts lives in `gaitloop.mgait.synth`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitfw.boards import knee as board
from gaitloop.errors import DataError


def make_knee_replay(path: Path, side: str) -> tuple[tuple[str, ...], int, np.ndarray]:
    """Walk file (.bvh / .amc / .trc) -> (channels, rate_hz, counts (n, 14) int16).

    One knee board carries both legs' sleeves, so `side` does not select channels; it is
    accepted for the common replay signature. A 2 s standing period comes first (the
    board's standing calibration).
    """
    from gaitloop.mgait.mocap import load_walk
    from gaitloop.mgait.synth import synthesize

    if side not in ("left", "right", "l", "r", "both"):
        raise DataError(f"unknown side {side!r} (left, right or both)")
    streams = synthesize(load_walk(Path(path)))
    return board.CHANNELS, board.RATE_HZ, streams.counts.astype(np.int16)
