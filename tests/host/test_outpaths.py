"""The shared atomic writer: a failed write changes nothing, a good one replaces in one step."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from gaitloop.errors import DataError
from gaitloop.outpaths import atomic_path, check_out_dir, ensure_out_dir, write_atomic, write_with


def test_replaces_whole_and_keeps_permissions(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("old")
    os.chmod(p, 0o640)
    write_atomic(p, "new")
    assert p.read_text() == "new" and stat.S_IMODE(p.stat().st_mode) == 0o640
    assert [x.name for x in tmp_path.iterdir()] == ["a.csv"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    p = tmp_path / "a.parquet"
    p.write_bytes(b"precious")

    def full_disk(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DataError, match="no space left.*nothing was changed"):
        write_with(p, full_disk)
    assert p.read_bytes() == b"precious"
    assert [x.name for x in tmp_path.iterdir()] == ["a.parquet"]


def test_other_errors_also_clean_up(tmp_path):
    p = tmp_path / "a.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_symlink_target_is_replaced_link_kept(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"


@pytest.mark.parametrize("bad, msg", [
    ("missing/x.csv", "does not exist"),
    ("file.txt/x.csv", "not a folder"),
    ("dir", "is a folder"),
])
def test_refused_targets(tmp_path, bad, msg):
    (tmp_path / "file.txt").write_text("keep")
    (tmp_path / "dir").mkdir()
    with pytest.raises(DataError, match=msg):
        write_atomic(tmp_path / bad, "x")
    assert (tmp_path / "file.txt").read_text() == "keep"


def test_device_node_is_refused_and_survives():
    before = os.stat("/dev/null")
    with pytest.raises(DataError, match="not a regular file"):
        write_atomic("/dev/null", "x")
    after = os.stat("/dev/null")
    assert (before.st_ino, before.st_rdev) == (after.st_ino, after.st_rdev)


def test_out_dirs(tmp_path):
    (tmp_path / "f").write_text("x")
    for bad in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(DataError, match="cannot be an output folder"):
            check_out_dir(bad)
    assert ensure_out_dir(tmp_path / "a" / "b").is_dir()
    with pytest.raises(DataError, match="cannot create"):
        ensure_out_dir("/proc/gaitloop-nope")
