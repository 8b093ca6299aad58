"""Fixtures for the learned-model tests: the real Huang figures and gaitpdb, loaded once."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="session")
def figs_dir(huang):
    return huang / "imu_figs"


@pytest.fixture(scope="session")
def phase_recordings(figs_dir):
    from gaitloop.learn.phase_data import load_recordings

    return load_recordings(figs_dir)


@pytest.fixture(scope="session")
def small_phase_ds(figs_dir, phase_recordings):
    """Recording split with every 10th training window: enough to learn, seconds to train."""
    from gaitloop.learn import phase

    return phase.dataset(figs_dir, train_stride=10, recordings=phase_recordings)
