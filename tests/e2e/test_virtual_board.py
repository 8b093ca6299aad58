"""End to end: the real firmware under MicroPython behind a pty, streamed over pyserial.

A virtual board replays a real gaitpdb walk at 10x; `gaitloop stream` records it through the
CLI; the export must hold exactly the samples the board sent, equal to the source file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gaitloop.data.gaitpdb import insole_forces, load_gaitpdb
from gaitloop.record import read_recording
from gaitloop.sim.vboard import LinkFaults, VirtualBoard
from tests.conftest import SHIPPED_GAITPDB

ROOT = Path(__file__).resolve().parents[2]
GAITLOOP = [sys.executable, "-m", "gaitloop.cli"]


@pytest.fixture(scope="module")
def walk() -> Path:
    return SHIPPED_GAITPDB / "GaPt03_01.txt"  # shipped: runs on a fresh clone


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*GAITLOOP, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(ROOT))


def check_against_source(parquet: Path, walk: Path, side: str) -> np.ndarray:
    t = pq.read_table(parquet).to_pydict()
    idx = np.asarray(t["index"])
    src = insole_forces(load_gaitpdb(walk), side)
    rows = idx % len(src.heel)
    # exactly the samples the board sent, in order: contiguous indices, no gaps
    assert np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx)))
    # equal to the source file within one count (0.1 N)
    assert np.max(np.abs(np.asarray(t["heel"]) - src.heel[rows])) <= 0.1 + 1e-9
    assert np.max(np.abs(np.asarray(t["ball"]) - src.ball[rows])) <= 0.1 + 1e-9
    assert np.all(np.diff(t["t_ms"]) == 10)
    return idx


def test_stream_record_export_equals_source(tmp_path, walk):
    with VirtualBoard("insole", "left", walk, speed=10) as vb:
        rec = tmp_path / "s.glsession"
        res = cli("stream", "--port", vb.port, "--seconds", "5", "--record", str(rec),
                  "--format", "jsonl")
        assert res.returncode == 0, res.stderr
        assert vb.alive()
    lines = res.stdout.splitlines()
    assert any('"type": "hello"' in ln for ln in lines)
    r = read_recording(rec)
    (lr,) = r.links.values()
    st = lr.state
    assert st.seq_gaps == 0 and st.sample_gaps == 0 and st.resets == 0
    assert lr.stats["crc_errors"] == 0 and lr.stats["bad_frames"] == 0
    res = cli("export", str(rec), "--parquet", str(tmp_path / "s.parquet"))
    assert res.returncode == 0, res.stderr
    idx = check_against_source(tmp_path / "s.parquet", walk, "left")
    assert len(idx) >= 4000  # 5 s at 10 x 100 Hz, less start-up
    # the board's own count agrees: every sample it reports sent up to its last STATUS is here
    t_last, status = read_recording(rec).statuses(0)[-1]
    assert status.samples_sent <= idx[-1] + 1
    res = cli("info", str(rec), "--json")
    assert res.returncode == 0 and '"sample_gaps": 0' in res.stdout


@pytest.mark.parametrize("drop,flip", [(0.002, 0.0), (0.0, 0.002), (0.003, 0.003)])
def test_link_faults_are_counted_and_nothing_corrupt_is_recorded(tmp_path, walk, drop, flip):
    with VirtualBoard("insole", "right", walk, speed=10,
                      faults=LinkFaults(drop, flip, seed=7)) as vb:
        rec = tmp_path / "f.glsession"
        res = cli("stream", "--port", vb.port, "--seconds", "3", "--record", str(rec),
                  "--format", "jsonl")
        assert res.returncode == 0, res.stderr
        damaged = vb.bytes_dropped + vb.bytes_flipped
    assert damaged > 0
    r = read_recording(rec)
    (lr,) = r.links.values()
    visible = lr.stats["crc_errors"] + lr.stats["bad_frames"] + lr.state.seq_gaps
    assert visible > 0
    # every recorded sample is still the source's: losses are gaps, never wrong values
    t, seq, idx, counts = r.samples(0)
    src = insole_forces(load_gaitpdb(walk), "right")
    rows = idx % len(src.heel)
    assert np.max(np.abs(counts[:, 0] * 0.1 - src.heel[rows])) <= 0.1 + 1e-9
    assert np.max(np.abs(counts[:, 1] * 0.1 - src.ball[rows])) <= 0.1 + 1e-9
    assert lr.state.sample_gaps == (idx[-1] - idx[0] + 1) - len(idx)


def test_bad_data_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not\ngait data\n")
    for args in (["--data", str(bad)], ["--data", str(tmp_path / "missing.txt")]):
        res = cli("sim", "--board", "insole", *args, timeout=30)
        assert res.returncode != 0
        err = res.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), res.stderr


def test_unknown_port_is_one_line_error():
    res = cli("stream", "--port", "/dev/does-not-exist", "--seconds", "1", timeout=30)
    assert res.returncode == 1
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot open serial port" in err[0], res.stderr


def test_sim_cli_prints_port_and_stops_on_sigterm(walk):
    proc = subprocess.Popen([*GAITLOOP, "sim", "--data", str(walk), "--speed", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(ROOT))
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("port: /dev/pts/")
        fs_line = proc.stdout.readline().strip()
        fs = Path(fs_line.split(": ", 1)[1])
        assert (fs / "lib" / "gaitfw" / "app.mpy").is_file()  # compiled with mpy-cross
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not fs.exists()  # cleaned up
    finally:
        if proc.poll() is None:
            proc.kill()


def mpremote(port: str, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("mpremote")
    return subprocess.run([str(exe), "connect", port, "resume", *args], capture_output=True,
                          text=True, timeout=30)


def test_mpremote_exec_ls_cp_then_stream_again(tmp_path, walk):
    with VirtualBoard("insole", "left", walk, speed=5) as vb:
        time.sleep(0.5)
        res = mpremote(vb.port, "exec", "import sys; print('on', sys.implementation.name)")
        assert res.returncode == 0 and "on micropython" in res.stdout, res.stderr
        res = mpremote(vb.port, "fs", "ls")
        assert res.returncode == 0 and "main.py" in res.stdout and "config.json" in res.stdout
        src = tmp_path / "note.txt"
        src.write_text("calibration 1\n")
        res = mpremote(vb.port, "fs", "cp", str(src), ":note.txt")
        assert res.returncode == 0, res.stderr
        assert (vb.fs / "note.txt").read_text() == "calibration 1\n"
        # the board now sits at its REPL; streaming wakes it (soft reset -> reboot -> app)
        res = cli("stream", "--port", vb.port, "--seconds", "4", "--format", "jsonl")
        assert res.returncode == 0, res.stderr
        assert '"type": "samples"' in res.stdout
        assert vb.restarts >= 1


def test_commands_ack_nak_and_stop_start(walk):
    from gaitfw import protocol as P
    from gaitloop.link import open_link
    from gaitloop.messages import Ack, Nak, Samples
    from gaitloop.stream import StreamSession

    with VirtualBoard("insole", "left", walk, speed=10) as vb:
        got: list = []
        session = StreamSession([open_link(vb.port)], sinks=[lambda i, ch, f, m: got.append(m)])
        session.open()
        ch = session.channels[0]
        deadline = time.monotonic() + 5
        while ch.state.hello is None and time.monotonic() < deadline:
            session.poll()
        s_ping = ch.send(P.CMD_PING)
        s_bad = ch.send(99)
        s_set = ch.send(P.CMD_SET, b"[not json")
        s_stop = ch.send(P.CMD_STOP)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            session.poll()
        acks = {m.cmd_seq for m in got if isinstance(m, Ack)}
        naks = {m.cmd_seq: m for m in got if isinstance(m, Nak)}
        assert s_ping in acks and s_stop in acks
        assert naks[s_bad].error == P.ERR_UNKNOWN_CMD
        assert naks[s_set].error == P.ERR_BAD_ARGS
        # after STOP no samples arrive
        got.clear()
        for _ in range(20):
            session.poll()
        assert not any(isinstance(m, Samples) for m in got)
        ch.send(P.CMD_START)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(isinstance(m, Samples) for m in got):
            session.poll()
        assert any(isinstance(m, Samples) for m in got)
        session.close()
    os.environ.pop("_", None)


def test_killed_launcher_leaves_no_board_running(walk):
    """SIGKILL of `gaitloop sim` (no cleanup possible) still ends its MicroPython board."""
    proc = subprocess.Popen([*GAITLOOP, "sim", "--data", str(walk)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        assert proc.stdout.readline().startswith("port: ")
        fs = Path(proc.stdout.readline().strip().split(": ", 1)[1])
        time.sleep(0.5)
        pids = subprocess.run(["pgrep", "-f", "main.py"], capture_output=True, text=True).stdout.split()
        mine = [p for p in pids if Path(f"/proc/{p}/cwd").exists()
                and os.path.realpath(f"/proc/{p}/cwd") == str(fs.resolve())]
        assert mine, "the board process was not found"
        proc.kill()
        proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in mine):
            time.sleep(0.1)
        assert not any(Path(f"/proc/{p}").exists() for p in mine)
    finally:
        if proc.poll() is None:
            proc.kill()
