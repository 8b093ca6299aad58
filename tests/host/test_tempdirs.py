"""Stale `gaitloop-*` temp folders (a `kill -9` of sim/demo) are removed at the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gaitloop import tempdirs
from tests.conftest import ROOT, SHIPPED_GAITPDB


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait(timeout=10)
    return p.pid


def _owned(root: Path, name: str, owner: str | None) -> Path:
    d = root / f"gaitloop-{name}"
    d.mkdir()
    (d / "file").write_text("x")
    if owner is not None:
        (d / tempdirs.OWNER_FILE).write_text(owner)
    return d


def test_only_folders_of_dead_owners_are_removed(tmp_path):
    me = os.getpid()
    dead = _owned(tmp_path, "dead", f"{_dead_pid()} -\n")
    alive = _owned(tmp_path, "alive", f"{me} {tempdirs._start_time(me)}\n")
    reused = _owned(tmp_path, "reused", f"{os.getppid()} 1\n")  # same pid, other start time
    foreign = _owned(tmp_path, "foreign", None)  # no owner file: not ours to judge
    other = tmp_path / "unrelated"
    other.mkdir()
    removed = tempdirs.clean_stale(tmp_path)
    assert sorted(removed) == sorted([dead, reused])
    assert alive.is_dir() and foreign.is_dir() and other.is_dir()
    assert not dead.exists() and not reused.exists()


def test_make_tempdir_records_its_owner(tmp_path, monkeypatch):
    monkeypatch.setattr(tempdirs.tempfile, "tempdir", str(tmp_path))
    d = tempdirs.make_tempdir("unit")
    pid, started = (d / tempdirs.OWNER_FILE).read_text().split()
    assert int(pid) == os.getpid() and started == tempdirs._start_time(os.getpid())
    assert d.parent == tmp_path and d.name.startswith("gaitloop-unit-")


def _start_sim(env: dict) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-m", "gaitloop.cli", "sim", "--data",
                             str(SHIPPED_GAITPDB / "GaCo01_01.txt")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(ROOT), env=env)
    assert proc.stdout.readline().startswith("port: ")
    fs = Path(proc.stdout.readline().strip().split(": ", 1)[1])
    return proc, fs


def test_kill_9_of_sim_leaves_folders_the_next_start_removes(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))  # only this test's folders are in play
    first, fs = _start_sim(env)
    try:
        first.kill()  # SIGKILL: no cleanup runs
        first.wait(timeout=10)
        left = sorted(p.name for p in tmp_path.glob("gaitloop-*"))
        assert fs.is_dir() and fs.name in left and any(n.startswith("gaitloop-mpy-") for n in left)
        second, fs2 = _start_sim(env)
        try:
            assert not fs.exists()
            assert sorted(p.name for p in tmp_path.glob("gaitloop-*")) != left
            assert all(p.name not in left for p in tmp_path.glob("gaitloop-*"))
        finally:
            time.sleep(1)  # let it reach its signal wait (as test_virtual_board does)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=15) in (0, 128 + signal.SIGTERM)  # both clean up
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and list(tmp_path.glob("gaitloop-*")):
            time.sleep(0.1)
        assert not list(tmp_path.glob("gaitloop-*"))  # a clean exit removes its own
    finally:
        for p in (first,):
            if p.poll() is None:
                p.kill()
