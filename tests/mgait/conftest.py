"""Shared fixtures for the MGait tests: one real walk, simulated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHIPPED_CMU, data_path, require_data

# Module-level paths for parametrize and helpers; a test using them carries
# @pytest.mark.dataset(...) (or a fixture below), which skips it when the data is absent.
BANDAI = data_path("bandai_namco")
NORMAL = BANDAI / "dataset-2" / "data" / "dataset-2_walk_normal_001.bvh"
ELDERLY = BANDAI / "dataset-2" / "data" / "dataset-2_walk_elderly_001.bvh"
CMU = SHIPPED_CMU / "35_01.amc"  # shipped: always present
TRC = data_path("opensim_walk", "subject01_walk1.trc")


@pytest.fixture(scope="session")
def normal_walk():
    from gaitloop.mgait.mocap import load_walk

    require_data("bandai_namco")
    return load_walk(NORMAL)


@pytest.fixture(scope="session")
def normal_streams(normal_walk):
    from gaitloop.mgait.synth import synthesize

    return synthesize(normal_walk)


@pytest.fixture(scope="session")
def knee_bin(normal_streams, tmp_path_factory) -> Path:
    """The walk's 14-channel counts as raw little-endian int16 rows (for MicroPython runs)."""
    p = tmp_path_factory.mktemp("knee") / "knee.bin"
    normal_streams.counts.astype("<i2").tofile(p)
    return p
