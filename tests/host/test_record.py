"""The session file: crash-safe, torn tails dropped, exports hold exactly what was recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitfw import protocol as P
from gaitloop.errors import RecordingError
from gaitloop.messages import frame_from_decoded
from gaitloop.record import Recorder, export, info, read_recording, sample_table


def board_frames(n_frames: int, per: int = 10, nch: int = 2):
    """Decoded frames of a fake insole: HELLO then SAMPLES with known values."""
    w = P.FrameWriter()
    out = []
    hello = json.dumps({"device": "t1", "kind": "insole", "side": "left", "fw": "0", "proto": 1,
                        "rate": 100, "channels": ["heel", "ball"][:nch], "units": ["N"] * nch,
                        "scale": [0.1] * nch}).encode()
    w.frame(P.MSG_HELLO, 0, hello)
    out.append(frame_from_decoded(bytes(w.raw[: P.HEADER_LEN + len(hello) + 2])))
    for i in range(n_frames):
        w.begin(P.MSG_SAMPLES, i * per * 10)
        P.samples_header(w.raw, i * per, nch, per)
        off = P.HEADER_LEN + P.SAMPLES_HEADER
        for k in range(per * nch):
            v = (i * per * nch + k) % 30000
            w.raw[off] = v & 0xFF
            w.raw[off + 1] = v >> 8
            off += 2
        length = P.SAMPLES_HEADER + 2 * per * nch
        w.finish(length)
        out.append(frame_from_decoded(bytes(w.raw[: P.HEADER_LEN + length + 2])))
    return out


def test_roundtrip_info_and_exports(tmp_path):
    path = tmp_path / "s.glsession"
    with Recorder(path) as rec:
        rec.add_link(0, {"port": "/dev/null"})
        for f in board_frames(20):
            rec.add_frame(0, f)
        rec.add_stats(0, {"crc_errors": 3})
    r = read_recording(path)
    summary = info(r)
    (b,) = summary["boards"]
    assert (b["samples"], b["seq_gaps"], b["sample_gaps"], b["crc_errors"]) == (200, 0, 0, 3)
    written = export(r, csv=tmp_path / "s.csv", parquet=tmp_path / "s.parquet")
    table = pq.read_table(tmp_path / "s.parquet").to_pydict()
    assert table["index"] == list(range(200))
    assert table["t_ms"][:3] == [0, 10, 20]
    assert table["heel"][1] == pytest.approx(0.2)  # counts 2 -> 0.2 N
    header = (tmp_path / "s.csv").read_text().splitlines()[0]
    assert header.replace('"', "") == "t_ms,t_host,seq,index,heel,ball"
    assert len(written) == 2


@given(st.integers(min_value=9, max_value=10_000))
@settings(max_examples=40, deadline=None)
def test_any_truncation_reads_a_prefix(cut):
    """A file cut anywhere (a killed recorder) opens and holds a prefix of the frames."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s.glsession")
        frames = board_frames(30)
        with Recorder(path) as rec:
            for f in frames:
                rec.add_frame(0, f)
        data = open(path, "rb").read()
        cut = min(cut, len(data))
        open(path, "wb").write(data[:cut])
        if cut < 200:  # the header record itself may be torn: a clear error, not a crash
            try:
                r = read_recording(path)
            except RecordingError:
                return
        else:
            r = read_recording(path)
        got = [f.raw for _, f in r.links.get(0, type("L", (), {"frames": []})()).frames]
        assert got == [f.raw for f in frames[: len(got)]]
        assert r.corrupt_records == 0


def test_kill_9_keeps_everything_up_to_the_last_flush(tmp_path):
    """A recorder process killed with SIGKILL leaves a readable file."""
    path = tmp_path / "k.glsession"
    code = f"""
import sys, time
sys.path.insert(0, {str(os.path.dirname(__file__))!r})
from test_record import board_frames
from gaitloop.record import Recorder
rec = Recorder({str(path)!r}, flush_s=0.05)
frames = board_frames(100000, per=5)
print("go", flush=True)
for f in frames:
    rec.add_frame(0, f)
    time.sleep(0.0005)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "go"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = read_recording(path)
    t, seq, idx, counts = r.samples(0)
    assert len(idx) > 100
    assert np.array_equal(idx, np.arange(len(idx)))  # contiguous, in order, nothing corrupt
    assert r.corrupt_records == 0


def test_not_a_recording(tmp_path):
    p = tmp_path / "x.glsession"
    p.write_bytes(b"hello")
    with pytest.raises(RecordingError):
        read_recording(p)
    with pytest.raises(RecordingError):
        read_recording(tmp_path / "missing.glsession")


def test_export_aligned_time_from_receive_times(tmp_path):
    """The recorded receive times give export its host-timeline column: a board whose clock runs
    200 ppm fast and started 2.5 s into the session lands on the host clock."""
    path = tmp_path / "s.glsession"
    host0 = 1.8e9
    with Recorder(path) as rec:
        rec.add_link(0, {"port": "/dev/null"})
        for i, f in enumerate(board_frames(400)):
            last_sample_s = (i - 1) * 0.1 + 0.09 if i else 0.0
            delay = 0.004 * ((i * 7) % 5)  # bursty, >= 0, exact zero every 5th frame
            rec.add_frame(0, f, host0 + 2.5 + last_sample_s / 1.0002 + delay)
    r = read_recording(path)
    table = sample_table(r, 0)
    true = host0 + 2.5 + table["t_ms"] / 1000.0 / 1.0002
    assert np.abs(table["t_host"] - true).max() < 1e-4


def test_export_aligned_time_across_a_reboot(tmp_path):
    """A board reboots mid-recording (BOOT event, sample index back to 0, a new clock offset):
    samples and events on both sides of it land on the host clock."""
    from gaitfw import events as ev
    from gaitloop.record import aligned_event_times

    path = tmp_path / "s.glsession"
    boots = (1.8e9 + 3.0, 1.8e9 + 3.0 + 45.0)  # host time of board time 0, per boot
    rate_err = 1.00015
    truth_events = []
    with Recorder(path) as rec:
        rec.add_link(0, {"port": "/dev/null"})
        for boot in boots:
            frames = board_frames(400)  # HELLO, then 40 s of SAMPLES
            w = P.FrameWriter()
            w.event(0, ev.EV_BOOT, 2, 1, 0)
            boot_frame = frame_from_decoded(bytes(w.raw[: P.HEADER_LEN + 12]))
            rec.add_frame(0, boot_frame, boot + 0.001)
            truth_events.append(boot)
            for i, f in enumerate(frames):
                last = (i - 1) * 0.1 + 0.09 if i else 0.0
                rec.add_frame(0, f, boot + last / rate_err + 0.003 * ((i * 3) % 4))
                if i == 200:  # an event stamped 20.0 s, sent 0.25 s later
                    w.event(20000, ev.EV_HEEL_STRIKE, 0, 0, 0)
                    rec.add_frame(0, frame_from_decoded(bytes(w.raw[: P.HEADER_LEN + 12])),
                                  boot + 20.25 / rate_err)
                    truth_events.append(boot + 20.0 / rate_err)
    r = read_recording(path)
    assert r.links[0].state.resets == 1
    (b,) = info(r)["boards"]
    assert b["sample_seconds"] == 80.0  # 2 x 4000 samples at 100 Hz, across the reboot
    table = sample_table(r, 0)
    second = np.arange(len(table["t_ms"])) >= len(table["t_ms"]) // 2
    true = np.where(second, boots[1], boots[0]) + table["t_ms"] / 1000.0 / rate_err
    assert np.abs(table["t_host"] - true).max() < 1e-4
    got = aligned_event_times(r, 0)
    assert np.abs(np.asarray(got) - np.asarray(truth_events)).max() < 1e-3


def test_export_subtracts_the_links_declared_latency_floor(tmp_path):
    path = tmp_path / "s.glsession"
    with Recorder(path) as rec:
        rec.add_link(0, {"port": "ble:x", "latency_floor_s": 0.04})
        for i, f in enumerate(board_frames(100)):
            last_sample_s = (i - 1) * 0.1 + 0.09 if i else 0.0
            rec.add_frame(0, f, 1.8e9 + last_sample_s + 0.04)
    table = sample_table(read_recording(path), 0)
    assert np.abs(table["t_host"] - (1.8e9 + table["t_ms"] / 1000.0)).max() < 1e-5
