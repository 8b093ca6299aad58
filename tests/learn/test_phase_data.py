"""Windows, the split by recording (no leak) and training-only normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop.learn import phase
from gaitloop.learn.phase_data import PhaseDataError, Recording, windows_of


def test_windows_end_label_and_nan_drop():
    sig = np.arange(100, dtype=float).reshape(50, 2)
    sig[20, 0] = np.nan
    lab = np.arange(50) % 4
    X, y = windows_of(Recording("r", sig, lab.astype(np.int8)), stride=1, window=10)
    # windows ending at 9..19 are clean; those containing sample 20 (ends 20..29) are dropped
    assert len(y) == 11 + 20
    assert X[0, -1, 0] == sig[9, 0] and y[0] == lab[9]
    assert not np.isnan(X).any()


def test_split_by_recording_has_no_shared_file_or_window(small_phase_ds):
    ds = small_phase_ds
    assert not set(ds.train_names) & set(ds.test_names)
    assert 0.2 < len(ds.y_test) / (len(ds.y_test) + 10 * len(ds.y_train)) < 0.5
    train_rows = {w.tobytes() for w in ds.X_train[:, :, -5:]}
    hits = sum(w.tobytes() in train_rows for w in ds.X_test[::7, :, -5:])
    assert hits <= 2  # only coincidental all-clipped/flat tails may repeat


def test_normalisation_from_training_only(small_phase_ds):
    ds = small_phase_ds
    assert ds.X_train.min() == pytest.approx(-1.0) and ds.X_train.max() == pytest.approx(1.0)
    assert ds.X_test.min() >= -1.0 and ds.X_test.max() <= 1.0
    per_ch = ds.X_train.transpose(1, 0, 2).reshape(len(ds.channels), -1)
    assert np.allclose(per_ch.min(1), -1.0) and np.allclose(per_ch.max(1), 1.0)


def test_random70_split_is_labelled_and_sized(figs_dir, phase_recordings):
    ds = phase.dataset(figs_dir, split="random70", train_stride=1, recordings=phase_recordings)
    assert ds.split == "random70"
    total = len(ds.y_train) + len(ds.y_test)
    assert abs(len(ds.y_test) / total - 0.3) < 0.01


def test_bad_split_is_one_clear_error(figs_dir, phase_recordings):
    with pytest.raises(PhaseDataError, match="unknown split"):
        phase.dataset(figs_dir, split="bogus", recordings=phase_recordings)
