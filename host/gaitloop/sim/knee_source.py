"""Knee-sleeve replay from a captured walk (called by `gaitloop.sim.sources.make_replay`).

Why here: the simulator only needs channel names, a rate and int16 counts; how a mocap walk
becomes thigh-IMU and bend-sensor counts lives in `gaitloop.mgait.synth`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitfw.boards import knee as board
from gaitloop.errors import DataError


def make_knee_replay(path: Path, side: str, limp: float = 0.0) -> tuple[tuple[str, ...], int, np.ndarray]:
    """Walk file (.bvh / .amc / .trc) -> (channels, rate_hz, counts (n, 14) int16).

    One knee board carries both legs' sleeves, so `side` does not select channels; it is
    accepted for the common replay signature. A 2 s standing period comes first (the
    board's standing calibration). `limp` > 0 shortens the `side` leg's steps by about that
    fraction from the start, through the kinematic model (`gaitloop.mgait.limp.limp_walk`),
    so the board's asymmetry feedback has a real case to act on.
    """
    from gaitloop.mgait.mocap import load_walk
    from gaitloop.mgait.synth import synthesize

    if side not in ("left", "right", "l", "r", "both"):
        raise DataError(f"unknown side {side!r} (left, right or both)")
    if not 0.0 <= limp < 0.6:
        raise DataError(f"limp must be a fraction from 0 to 0.6, not {limp}")
    walk = load_walk(Path(path))
    if limp > 0:
        from gaitloop.mgait.limp import limp_walk

        walk = limp_walk(walk, "r" if side in ("right", "r") else "l", limp, onset=0.0)
    streams = synthesize(walk, stop=True)  # loops join standing to standing
    return board.CHANNELS, board.RATE_HZ, streams.counts.astype(np.int16)
