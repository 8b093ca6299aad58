"""Fixtures for the CSM tests: shared Huang streams and the shipped templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "csm_default.json"


@pytest.fixture(scope="session")
def huang_dir(huang: Path) -> Path:
    return huang / "events_and_forces"


@pytest.fixture(scope="session")
def huang_streams(huang_dir: Path):
    from gaitloop.csm.io import load_streams

    return load_streams(huang_dir)


@pytest.fixture(scope="session")
def shipped():
    from gaitloop.csm.model import CSMTemplates

    return CSMTemplates.load(SHIPPED)


def write_counts(path: Path, counts) -> None:
    """Counts as little-endian int16, the layout MicroPython reads with readinto."""
    np.asarray(counts, dtype="<i2").tofile(path)
