"""Bad input and bad places (issue #11): one line on stderr, a non-zero exit, nothing damaged.

Each case runs the real CLI as a subprocess and checks the four things a user sees: the exit
status, exactly one line on stderr, no "Traceback" anywhere, and the target (a file, a folder,
a device node, a place that must stay absent) exactly as it was before.
Tests run as root, so "read-only" places are paths under /proc (root cannot create files
there either) and paths through a regular file, not chmod'ed folders.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gaitloop.record import MAGIC, REC_META, Recorder, read_recording
from tests.conftest import ROOT, SHIPPED_CMU
from tests.host.test_record import board_frames

GAITLOOP = [sys.executable, "-m", "gaitloop.cli"]
PRECIOUS = b"the user's own data, never to be touched\n"


def run_cli(*args: str, timeout: float = 60, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([*GAITLOOP, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(cwd), env=dict(os.environ, COLUMNS="200"))


def fingerprint(p: Path):
    """What must not change: kind, identity, size, mtime and content (or absence)."""
    if not os.path.lexists(p):
        return None
    st = os.lstat(p)
    if p.is_dir():
        return ("dir", st.st_ino, sorted(os.listdir(p)))
    if p.is_file():
        return ("file", st.st_ino, st.st_size, st.st_mtime_ns, p.read_bytes())
    return ("node", st.st_ino, st.st_mode, st.st_rdev)


def assert_one_line_failure(r: subprocess.CompletedProcess, *needles: str) -> str:
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]
    return lines[0]


@dataclass
class Env:
    tmp: Path
    session: Path
    precious: Path
    folder: Path
    empty: Path
    cut_amc: Path


@pytest.fixture
def env(tmp_path) -> Env:
    session = tmp_path / "walk.glsession"
    with Recorder(session) as rec:
        for f in board_frames(20):
            rec.add_frame(0, f)
    precious = tmp_path / "precious.txt"
    precious.write_bytes(PRECIOUS)
    folder = tmp_path / "afolder"
    folder.mkdir()
    (folder / "keep.txt").write_bytes(PRECIOUS)
    empty = tmp_path / "empty.txt"
    empty.touch()
    cmu = tmp_path / "cmu"
    cmu.mkdir()
    (cmu / "35.asf").write_bytes((SHIPPED_CMU / "35.asf").read_bytes())
    amc = (SHIPPED_CMU / "35_01.amc").read_bytes()
    cut = amc[: amc.index(b"\n300\r\n") + 40]  # frame 300 cut after its first lines
    (cmu / "35_01.amc").write_bytes(cut)
    return Env(tmp_path, session, precious, folder, empty, cmu / "35_01.amc")


# (id, argv builder, target builder, words the one line must contain)
Case = tuple[str, Callable[[Env], list[str]], Callable[[Env], Path], tuple[str, ...]]
CASES: list[Case] = [
    # 1. export to a place that cannot be written
    ("export-csv-missing-folder", lambda e: ["export", str(e.session), "--csv", str(e.tmp / "no" / "x.csv")],
     lambda e: e.tmp / "no", ("does not exist",)),
    ("export-csv-to-folder", lambda e: ["export", str(e.session), "--csv", str(e.folder)],
     lambda e: e.folder, ("is a folder",)),
    ("export-parquet-to-folder", lambda e: ["export", str(e.session), "--parquet", str(e.folder)],
     lambda e: e.folder, ("is a folder",)),
    ("export-parquet-readonly-system-folder", lambda e: ["export", str(e.session), "--parquet", "/proc/gaitloop-t.parquet"],
     lambda e: Path("/proc/gaitloop-t.parquet"), ("/proc",)),
    ("export-csv-through-a-file", lambda e: ["export", str(e.session), "--csv", str(e.precious / "x.csv")],
     lambda e: e.precious, ("not a folder",)),
    ("export-parquet-full-device", lambda e: ["export", str(e.session), "--parquet", "/dev/full"],
     lambda e: Path("/dev/full"), ("not a regular file",)),
    ("export-events-full-device", lambda e: ["export", str(e.session), "--events", "/dev/full"],
     lambda e: Path("/dev/full"), ("not a regular file",)),
    ("export-second-target-bad-writes-nothing",
     lambda e: ["export", str(e.session), "--csv", str(e.tmp / "ok.csv"), "--parquet", str(e.folder)],
     lambda e: e.tmp / "ok.csv", ("is a folder",)),
    ("export-session-is-a-folder", lambda e: ["export", str(e.folder), "--csv", str(e.tmp / "x.csv")],
     lambda e: e.tmp / "x.csv", ("is a folder, not a session file",)),
    # 2. report / demo --out that cannot be a folder
    ("report-out-existing-file", lambda e: ["report", str(e.session), "--out", str(e.precious)],
     lambda e: e.precious, ("cannot be an output folder",)),
    ("report-out-through-a-file", lambda e: ["report", str(e.session), "--out", str(e.precious / "rep")],
     lambda e: e.precious, ("not a folder",)),
    ("report-out-readonly-system-folder", lambda e: ["report", str(e.session), "--out", "/proc/gaitloop-rep"],
     lambda e: Path("/proc/gaitloop-rep"), ("/proc",)),
    ("demo-out-existing-file", lambda e: ["demo", "--out", str(e.precious), "--no-live"],
     lambda e: e.precious, ("cannot be an output folder",)),
    # 3. a CMU capture cut mid-frame
    ("sim-knee-cut-amc", lambda e: ["sim", "--board", "knee", "--data", str(e.cut_amc)],
     lambda e: e.cut_amc, ("frame 300", "cut short")),
    ("calibrate-cut-amc", lambda e: ["calibrate", "--data", str(e.cut_amc), "--out", str(e.tmp / "cal.json")],
     lambda e: e.tmp / "cal.json", ("frame 300",)),
    # other writers: the output is checked before the long work, and written atomically
    ("calibrate-out-is-a-folder", lambda e: ["calibrate", "--data", str(SHIPPED_CMU / "35_01.amc"), "--out", str(e.folder)],
     lambda e: e.folder, ("is a folder",)),
    ("train-csm-out-through-a-file", lambda e: ["train", "csm", "--data", str(e.tmp), "--out", str(e.precious / "t.json")],
     lambda e: e.precious, ("not a folder",)),
    # 9. arguments checked before work starts
    ("demo-empty-data", lambda e: ["demo", "--data", str(e.empty), "--out", str(e.tmp / "d"), "--no-live"],
     lambda e: e.tmp / "d", ("empty",)),
    ("sim-empty-data", lambda e: ["sim", "--data", str(e.empty)], lambda e: e.empty, ("empty",)),
    ("eval-csm-empty-data", lambda e: ["eval", "csm", "--data", str(e.empty)], lambda e: e.empty, ("empty",)),
    ("calibrate-data-is-a-folder", lambda e: ["calibrate", "--data", str(e.folder), "--out", str(e.tmp / "c.json")],
     lambda e: e.tmp / "c.json", ("is a folder",)),
    ("sim-data-is-a-folder", lambda e: ["sim", "--data", str(e.folder)], lambda e: e.folder, ("is a folder",)),
    ("demo-zero-seconds", lambda e: ["demo", "--seconds", "0", "--out", str(e.tmp / "d"), "--no-live"],
     lambda e: e.tmp / "d", ("--seconds",)),
    ("info-of-a-folder", lambda e: ["info", str(e.folder)], lambda e: e.folder, ("is a folder",)),
    # a recording never overwrites an existing file
    ("stream-record-over-existing-file", lambda e: ["stream", "--port", "/dev/null", "--record", str(e.precious)],
     lambda e: e.precious, ("already exists",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_invocation_is_one_line_and_touches_nothing(env, case):
    _id, argv, target, needles = case
    t = target(env)
    before = fingerprint(t)
    t0 = time.monotonic()
    r = run_cli(*argv(env), cwd=env.tmp)
    assert_one_line_failure(r, *needles)
    assert fingerprint(t) == before
    assert time.monotonic() - t0 < 30  # checked up front: no board was booted first
    assert not list(env.tmp.rglob("*.part"))  # no temporary file left beside a target


@pytest.mark.parametrize("cmd", [["sim"], ["eval", "csm"]])
def test_empty_data_leaks_no_numpy_warning(env, cmd):
    r = run_cli(*cmd, "--data", str(env.empty))
    assert "UserWarning" not in r.stderr and "loadtxt" not in r.stderr
    assert_one_line_failure(r, "empty")


# 5. stream on a port where no board answers


@pytest.fixture
def silent_port():
    """A pseudo-terminal with nothing behind it: bytes written to it are never answered."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    yield name
    os.close(slave)
    os.close(master)


def test_stream_on_a_silent_port_says_no_board(silent_port):
    t0 = time.monotonic()
    r = run_cli("stream", "--port", silent_port, "--format", "jsonl", timeout=60)
    line = assert_one_line_failure(r, "no board answered", silent_port)
    assert time.monotonic() - t0 < 25, "a silent port is detected within seconds"
    assert "not a byte" in line or "bytes came back" in line


def test_stream_for_short_seconds_on_a_silent_port_fails_too(silent_port):
    r = run_cli("stream", "--port", silent_port, "--seconds", "2", "--format", "jsonl")
    assert_one_line_failure(r, "no board answered")


# 10. one program per port


def test_a_locked_port_names_who_holds_it(silent_port):
    fd = os.open(silent_port, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = run_cli("stream", "--port", silent_port, "--seconds", "2")
        assert_one_line_failure(r, "in use by", f"pid {os.getpid()}")
    finally:
        os.close(fd)


# 4 and 6. flash: a silent port is found in seconds; a bad --arch says why, before the board


def test_flash_on_a_silent_port_fails_within_seconds(silent_port):
    t0 = time.monotonic()
    r = run_cli("flash", "--port", silent_port, timeout=90)
    assert_one_line_failure(r, "no board answered", silent_port)
    assert time.monotonic() - t0 < 30


def test_flash_bogus_arch_names_the_known_ones(silent_port):
    t0 = time.monotonic()
    r = run_cli("flash", "--port", silent_port, "--arch", "bogus")
    line = assert_one_line_failure(r, "-march=bogus", "xtensawin")
    assert not line.rstrip().endswith(":")
    assert time.monotonic() - t0 < 20  # refused before talking to the port


# 8. a session whose header record has a flipped bit


def _meta_span(data: bytes) -> tuple[int, int]:
    """Byte range of the first record (the header) after the magic."""
    start = len(MAGIC)
    return start, data.index(b"\x00", start)


def test_flipped_bit_in_the_header_is_recovered_from_its_copy(env):
    data = bytearray(env.session.read_bytes())
    a, b = _meta_span(data)
    data[(a + b) // 2] ^= 0x10
    env.session.write_bytes(bytes(data))
    rec = read_recording(env.session)
    assert rec.meta.get("format") == "gaitloop-session"  # the redundant copy
    assert rec.corrupt_records == 1
    assert len(rec.links[0].frames) == 21
    r = run_cli("info", str(env.session))
    assert r.returncode == 0 and "Traceback" not in r.stderr


def test_old_single_header_file_with_a_flipped_bit_recovers_the_frames(env):
    """A recording from before the redundant header: frames recovered, the loss said."""
    data = bytearray(env.session.read_bytes())
    a, b = _meta_span(data)
    del data[b + 1 : data.index(b"\x00", b + 1) + 1]  # drop the copy: the old layout
    data[(a + b) // 2] ^= 0x10
    env.session.write_bytes(bytes(data))
    rec = read_recording(env.session)
    assert rec.meta == {} and len(rec.links[0].frames) == 21
    assert any("header lost" in n for n in rec.notes)
    r = run_cli("info", str(env.session))
    assert r.returncode == 0 and "header lost" in r.stdout
    r = run_cli("export", str(env.session), "--csv", str(env.tmp / "out.csv"))
    assert r.returncode == 0, r.stderr
    assert "header lost" in r.stderr  # the export says what the file lost
    assert len((env.tmp / "out.csv").read_text().splitlines()) == 1 + 200


def test_old_recordings_stay_readable(env):
    """A file with one META record (the old layout) reads exactly as before."""
    data = env.session.read_bytes()
    a, b = _meta_span(data)
    old = data[: b + 1] + data[data.index(b"\x00", b + 1) + 1 :]
    env.session.write_bytes(old)
    rec = read_recording(env.session)
    assert rec.meta["format"] == "gaitloop-session" and rec.notes == [] and rec.corrupt_records == 0


def test_header_written_twice():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "s.glsession"
        Recorder(p, {"x": 1}).close()
        from gaitloop.record import _iter_records

        kinds = [r[0] for r in _iter_records(p.read_bytes()) if r is not None]
        assert kinds == [REC_META, REC_META]
        assert json.loads(list(_iter_records(p.read_bytes()))[1][3])["x"] == 1


def test_flash_on_a_locked_port_names_who_holds_it(silent_port):
    fd = os.open(silent_port, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = run_cli("flash", "--port", silent_port)
        assert_one_line_failure(r, "in use by", f"pid {os.getpid()}")
    finally:
        os.close(fd)


@pytest.fixture
def full_fs(tmp_path):
    """A 64 KiB tmpfs: a real 'no space left on device' (needs root and mount; skipped else)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)


@pytest.mark.parametrize("fmt", ["--csv", "--parquet"])
def test_export_to_a_full_device_keeps_the_old_file(tmp_path, full_fs, fmt):
    session = tmp_path / "big.glsession"
    with Recorder(session) as rec:
        for f in board_frames(3000):
            rec.add_frame(0, f)
    target = full_fs / "walk.out"
    target.write_bytes(PRECIOUS)
    before = fingerprint(target)
    r = run_cli("export", str(session), fmt, str(target))
    assert_one_line_failure(r, "no space left", "nothing was changed")
    assert fingerprint(target) == before
    assert sorted(p.name for p in full_fs.iterdir()) == ["walk.out"]  # no temporary left
