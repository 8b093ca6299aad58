"""The .fig loader on the real Huang figures: keys, dedup, NaN gaps, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop.data.imu_figs import (
    KEYS,
    FigFormatError,
    content_hash,
    duplicate_groups,
    list_recordings,
    load_fig,
    nan_gaps,
)
from gaitloop.errors import DataError


def test_load_fig_keys_and_lengths(figs_dir):
    rec = load_fig(figs_dir / "0 0 1 1.fig")
    assert tuple(rec) == KEYS
    assert {len(v) for v in rec.values()} == {3689}
    # total is heel + ball in these insoles: a check that the names map to the right lines
    assert np.nanmax(np.abs(rec["total_l"] - rec["heel_l"] - rec["ball_l"])) < 1e-9
    assert set(np.unique(rec["mode"][~np.isnan(rec["mode"])])) <= set(range(7))


def test_list_recordings_deduplicates_known_copies(figs_dir):
    all_files = list_recordings(figs_dir, with_duplicates=True)
    kept = list_recordings(figs_dir)
    assert len(all_files) == 57
    assert len(kept) == 26
    hashes = [content_hash(load_fig(p)) for p in kept]
    assert len(set(hashes)) == len(hashes)
    groups = [{p.name for p in g} for g in duplicate_groups(figs_dir)]
    assert any({"0 0 1 1.fig", "0 0 2 1.fig", "1 0 1 1.fig"} <= g for g in groups)
    assert any({"12 0 1 3.fig", "21 0 1 3.fig"} <= g for g in groups)
    # copies that differ only in the mode annotation are still one recording
    assert any({"5 1 1 32.fig", "5 1 2 32.fig"} <= g for g in groups)


def test_nan_gaps_reported_not_hidden(figs_dir):
    rec = load_fig(figs_dir / "0 1 1 1.fig")
    gaps = nan_gaps(rec)
    assert gaps["heel_l"] == [(5244, 5245)]
    assert "hip_l" not in gaps
    assert np.isnan(rec["heel_l"][5244])


def test_bad_files_give_one_clear_error(tmp_path):
    junk = tmp_path / "junk.fig"
    junk.write_bytes(b"not a figure")
    with pytest.raises(FigFormatError, match="junk.fig"):
        load_fig(junk)
    with pytest.raises(DataError):
        list_recordings(tmp_path / "missing")
