"""Write and read .glrp replay files (the format is defined in firmware/gaitfw/hal.py)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitfw.hal import REPLAY_HEADER, REPLAY_MAGIC, REPLAY_VERSION
from gaitloop.errors import DataError

_HEADER = struct.Struct("<4sHHHI")
assert _HEADER.size == REPLAY_HEADER


@dataclass(frozen=True)
class Replay:
    """Sensor counts a board would read: int16 (n_samples, n_channels) at rate_hz."""

    channels: tuple[str, ...]
    rate_hz: int
    counts: np.ndarray

    def __post_init__(self) -> None:
        if self.counts.ndim != 2 or self.counts.shape[1] != len(self.channels):
            raise DataError(f"replay counts shape {self.counts.shape} does not match {len(self.channels)} channels")
        if self.counts.dtype != np.int16:
            raise DataError("replay counts must be int16")
        if len(self.counts) == 0:
            raise DataError("replay holds no samples")


def to_counts(values: np.ndarray, scale: float) -> np.ndarray:
    """Physical values -> int16 counts (value / scale, rounded, saturated at the int16 range)."""
    counts = np.rint(np.asarray(values, dtype=np.float64) / scale)
    return np.clip(counts, -32768, 32767).astype(np.int16)


def write_replay(replay: Replay, path: str | Path) -> Path:
    path = Path(path)
    n, c = replay.counts.shape
    with open(path, "wb") as f:
        f.write(_HEADER.pack(REPLAY_MAGIC, REPLAY_VERSION, c, replay.rate_hz, n))
        f.write(np.ascontiguousarray(replay.counts, dtype="<i2").tobytes())
    return path


def read_replay(path: str | Path, channels: tuple[str, ...] | None = None) -> Replay:
    raw = Path(path).read_bytes()
    if len(raw) < REPLAY_HEADER:
        raise DataError(f"{path}: too short for a replay file")
    magic, version, c, rate, n = _HEADER.unpack_from(raw)
    if magic != REPLAY_MAGIC or version != REPLAY_VERSION:
        raise DataError(f"{path}: not a version {REPLAY_VERSION} replay file")
    body = np.frombuffer(raw, dtype="<i2", offset=REPLAY_HEADER)
    if body.size != n * c:
        raise DataError(f"{path}: truncated ({body.size} values, header says {n * c})")
    names = channels or tuple(f"ch{i}" for i in range(c))
    return Replay(names, rate, body.reshape(n, c).astype(np.int16))
