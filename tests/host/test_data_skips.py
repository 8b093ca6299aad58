"""A fresh clone: tests needing an absent dataset skip with one summary line per dataset, and
GAITLOOP_REQUIRE_DATA=1 (CI) turns that into a failure."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

TARGET = "tests/mgait/test_limp.py"  # two tests, both need the Bandai-Namco walks


def _pytest(tmp_path, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "GAITLOOP_REQUIRE_DATA"}
    e.update(GAITLOOP_DATA=str(tmp_path / "no-data"), GAITLOOP_CACHE=str(tmp_path / "no-cache"), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET],
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT), env=e)


def test_missing_dataset_skips_with_one_summary_line(tmp_path):
    r = _pytest(tmp_path)
    assert r.returncode == 0, r.stdout
    lines = [ln for ln in r.stdout.splitlines() if "dataset bandai_namco" in ln]
    assert len(lines) == 1, r.stdout
    assert lines[0].startswith("skipped 2 test(s)") and "BandaiNamcoResearchInc" in lines[0]
    assert "2 skipped" in r.stdout


def test_required_data_turns_the_skip_into_a_failure(tmp_path):
    r = _pytest(tmp_path, GAITLOOP_REQUIRE_DATA="1")
    assert r.returncode != 0
    assert "GAITLOOP_REQUIRE_DATA=1" in r.stdout and "skipped" not in r.stdout.splitlines()[-1]
