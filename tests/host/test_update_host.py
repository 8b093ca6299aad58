"""Host side of the update path without a board: artifact checks name the file, the
calibration schema per board kind, the master key's permissions, version defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gaitfw import calib
from gaitloop.errors import DataError
from gaitloop.update import image, keys

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("board,cal,problem", [
    ("insole", {"baseline_mm": 640}, "'baseline_mm' is not known to insole boards"),
    ("knee", {"csm_params": {"min_range": 1}}, "'csm_params' is not known to knee boards"),
    ("knee", {"l1_mm": 5000}, "l1_mm=5000 is out of range"),
    ("knee", {"l1_mm": "400"}, "l1_mm='400' is out of range"),
    ("knee", {"bias_cdeg": [1, 2, 3]}, "bias_cdeg=[1, 2, 3] is out of range"),
    ("knee", {"bend_cal": [[0, 0], [0, 9000]]}, "bend_cal="),
    ("knee", {"min_step_mm": 900, "max_step_mm": 800}, "min_step_mm must be below max_step_mm"),
    ("insole", {"csm_params": {"guard_n": -1}}, "csm_params.guard_n must be an integer in 0..1000"),
    ("insole", {"csm_params": {"gain": 2}}, "csm_params.gain is not a CSM parameter"),
    ("insole", {}, "the calibration is empty"),
    ("insole", [1, 2], "must be a JSON object"),
])
def test_calibration_schema_names_the_problem(board, cal, problem):
    err = calib.check(board, cal)
    assert err is not None and problem in err, err


@pytest.mark.parametrize("board,cal", [
    ("insole", {"csm_params": {"min_range": 120, "sat_level": 30000}, "student_hop": 5}),
    ("knee", {"l1_mm": 400, "l2_mm": 420, "bias_cdeg": [0, 10, 0, -10], "beta": 0.05,
              "bend_cal": [[10, 9100], [0, 8800]], "calibrate_rls": True}),
])
def test_valid_calibrations_pass(board, cal):
    assert calib.check(board, cal) is None


def test_artifact_checks_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"csm_default.json: not a device model \(bad magic\)"):
        image.model(ROOT / "models" / "csm_default.json")
    with pytest.raises(DataError, match="nope.gldm: no such file"):
        image.model(tmp_path / "nope.gldm")
    with pytest.raises(DataError, match=f"{tmp_path}: not a file"):
        image.model(tmp_path)
    bad = tmp_path / "t.json"
    bad.write_text('{"on": 1}')
    with pytest.raises(DataError, match="t.json: not a valid CSM template file"):
        image.templates(bad)
    bad.write_text("[1]")
    with pytest.raises(DataError, match="t.json: a calibration must be a JSON object"):
        image.calibration(bad, "insole")
    bad.write_text('{"baseline_mm": 640}')
    with pytest.raises(DataError, match="t.json: calibration key 'baseline_mm' is not known to insole boards"):
        image.calibration(bad, "insole")
    art = image.calibration(bad, "knee", version=7)
    assert art.version == 7 and json.loads(art.payload) == {"baseline_mm": 640}


def test_default_version_is_the_files_mtime_so_a_retry_resumes(tmp_path):
    f = tmp_path / "cal.json"
    f.write_text('{"l1_mm": 400}')
    os.utime(f, (1_700_000_000, 1_700_000_000))
    a, b = image.calibration(f, "knee"), image.calibration(f, "knee")
    assert a.version == b.version == 1_700_000_000
    assert a.manifest(bytes(32), "knee") == b.manifest(bytes(32), "knee")  # same manifest


def test_master_key_created_private_and_device_keys_differ(tmp_path):
    p = tmp_path / "cfg" / "master.key"
    k = keys.master_key(path=p)
    assert len(k) == 32 and p.stat().st_mode & 0o777 == 0o600
    assert keys.master_key(create=False, path=p) == k
    assert keys.device_key("a", k) != keys.device_key("b", k)
    p.write_bytes(b"short")
    p.chmod(0o600)
    with pytest.raises(keys.KeyFileError, match="5 bytes, not 32"):
        keys.master_key(path=p)
    with pytest.raises(keys.KeyFileError, match="no master key"):
        keys.master_key(create=False, path=tmp_path / "missing.key")


def test_push_of_a_non_model_fails_before_opening_the_port():
    res = subprocess.run([sys.executable, "-m", "gaitloop.cli", "push", "--port", "/dev/not-used",
                          "--model", str(ROOT / "models" / "csm_default.json")],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    assert "csm_default.json: not a device model (bad magic)" in res.stderr
