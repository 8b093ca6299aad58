"""The two-sleeve step in the gait-lab report: a recording of two virtual knee boards (the left
and the right sleeve of the shipped CMU walk, firmware under MicroPython, streamed and recorded
by `gaitloop stream`) -> same-instant steps per step L/R beside each board's own eq. 6 steps,
stride and asymmetry from them, summary rows naming the method, rows in steps.csv."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gaitloop.report_twosleeve import chain_steps

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"  # shipped: no dataset needed


def test_chain_follows_the_boards_bookkeeping():
    """Step time from the other leg's contact, stride over three contiguous contacts, eq. 7 on
    non-overlapping pairs (as gaitfw.feedback), and a rejected step or a same-leg contact or a
    gap over 2 s restarts the chain (as gaitfw.mgait's nic = 0)."""
    seq = [(1.0, "right", 0.60, False), (1.5, "left", 0.50, False), (2.0, "right", 0.62, False),
           (2.5, "left", 0.40, True),  # rejected: breaks the chain
           (3.0, "right", 0.58, False), (3.6, "left", 0.56, False),
           (3.9, "left", 0.57, False),  # same leg twice: a missed contact, restart
           (6.5, "right", 0.59, False)]  # 2.6 s later: another walk
    steps, asym = chain_steps(seq)
    assert [s.t_s for s in steps] == [1.0, 1.5, 2.0, 3.0, 3.6, 3.9, 6.5]
    assert [s.step_time_s for s in steps] == [None, pytest.approx(0.5), pytest.approx(0.5), None,
                                              pytest.approx(0.6), None, None]
    assert steps[2].stride_length_m == pytest.approx(1.12) and steps[2].stride_time_s == pytest.approx(1.0)
    assert all(s.stride_length_m is None for i, s in enumerate(steps) if i != 2)
    # pairs: (1.0, 1.5); 2.0 waits and is dropped by the rejection; (3.0, 3.6); 3.9 and 6.5 alone
    assert [t for t, _ in asym] == [1.5, 3.6]
    assert asym[0][1] == pytest.approx(100 * 0.1 / 0.55)
    assert asym[1][1] == pytest.approx(100 * 0.02 / 0.57)


def test_one_knee_board_has_no_two_sleeve_rows(tmp_path):
    from gaitloop.record import read_recording
    from gaitloop.report_gait import TWO, gait_data
    from tests.host.gait_session import write_gait_session

    data = gait_data(read_recording(write_gait_session(tmp_path / "s.glsession")))
    assert data.two_sleeves is None and not any(r["source"] == TWO for r in data.steps)


@pytest.fixture(scope="module")
def sleeves_recording(tmp_path_factory) -> Path:
    """~48 s of walk (12 s at 4x, six passes of the walk with a stand between) from two knee
    boards replaying one walk clock (sim --epoch-ms), recorded by `gaitloop stream`."""
    from gaitloop.sim.vboard import VirtualBoard

    out = tmp_path_factory.mktemp("sleeves") / "sleeves.glsession"
    epoch = time.time_ns() // 1_000_000
    boards = [VirtualBoard("knee", side, WALK, speed=4, device=f"sleeve-{side}", replay_epoch_ms=epoch)
              for side in ("left", "right")]
    try:
        ports = [b.start() for b in boards]
        res = subprocess.run([sys.executable, "-m", "gaitloop.cli", "stream", "--port", ports[0], "--port",
                              ports[1], "--seconds", "12", "--format", "jsonl", "--record", str(out)],
                             capture_output=True, text=True, timeout=120, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr[-2000:]
    finally:
        for b in boards:
            b.stop()
    out.with_suffix(".epoch").write_text(str(epoch))  # for the alignment check below
    return out


@pytest.mark.micropython
@pytest.mark.timeout(300)
def test_both_sleeves_land_on_the_walks_clock(sleeves_recording):
    """The boards play row r of the shared walk at epoch + r periods (`app.join_replay`
    starts each board's sample grid there), and the host's timeline puts every sample within
    a few ms of that instant on both boards: 10 ms of host time is 40 ms of walk at 4x, and
    the same-instant step moves by ~3 cm per 10 ms (a board mapped 35 ms early once gave
    0.33 m steps). Receive times lie after their samples, so no sample maps early by more
    than the clock fit's slope tolerance allows."""
    from gaitloop.record import aligned_sample_times, read_recording

    rec = read_recording(sleeves_recording)
    epoch_s = int(sleeves_recording.with_suffix(".epoch").read_text()) / 1000.0
    errs = {}
    for lr in rec.links.values():
        _t, _seq, idx, _c = rec.samples(lr.link)
        replay = lr.hello.extra["replay"]
        period = 1.0 / (lr.hello.rate * replay["speed"])
        loop_s = replay["samples"] * period  # the replay loops: its start row is known mod the walk
        err = aligned_sample_times(rec, lr.link) - (epoch_s + (replay["start"] + idx) * period)
        errs[lr.hello.side] = (err + 0.5 * loop_s) % loop_s - 0.5 * loop_s
    for side, e in errs.items():
        assert np.percentile(e, 1) > -0.005 and np.median(np.abs(e)) < 0.010, (side, np.percentile(e, [1, 50, 99]))


@pytest.mark.micropython
@pytest.mark.timeout(300)
def test_report_of_two_virtual_knee_boards(sleeves_recording, tmp_path):
    from gaitloop.mgait.twoknee_live import recording_two_sleeve_steps
    from gaitloop.record import read_recording
    from gaitloop.report import write_report
    from gaitloop.report_gait import TWO
    from gaitloop.report_lab import build_lab_report

    rec = read_recording(sleeves_recording)
    lab = build_lab_report(rec)
    two = [r for r in lab.data.steps if r["source"] == TWO]
    eq6 = [r for r in lab.data.steps if r["source"] == "knee" and r["step_length_m"] is not None]
    # beside, not instead of: every eq. 6 step the boards sent is still there (how many depends
    # on where each board's boot-time standing calibration fell in the replayed walk)
    sent = sum(1 for lk in rec.links for _t, _s, e in rec.events(lk) if e.name == "mg_step")
    assert len(eq6) == sent
    assert len(two) >= 8 and {r["side"] for r in two} == {"left", "right"}
    assert {r["board"] for r in two} == {"sleeve-left + sleeve-right"}
    # the same steps as the recording's two-sleeve pipeline, in time order on the session axis
    got = recording_two_sleeve_steps(rec)
    assert [r["step_length_m"] for r in two] == pytest.approx([d for _, _, d in got.live.steps])
    assert all(b["t_s"] > a["t_s"] for a, b in zip(two, two[1:], strict=False))
    assert 0 <= two[0]["t_s"] <= lab.data.end_s
    lengths = np.array([r["step_length_m"] for r in two])
    # the CMU walk's steps: ~0.55-0.6 m at nominal lengths. A normal walk, but the two replays'
    # alignment on a loaded machine (late samples at 4x) moves L against R by a few cm
    assert np.all((lengths > 0.45) & (lengths < 0.75)), lengths
    # on the session axis each step sits at its front leg's heel strike: that leg's knee (its
    # board's recorded bend channel, independent of the boards' own calibration) is within 5 deg
    # of its extension minimum over +-0.15 s there (a step moved by 0.1 s fails this for all)
    boards = {b.side: b for b in lab.data.boards}
    near = []
    for r in two:
        b = boards[r["side"]]
        t_ms, _seq, _idx, counts = rec.samples(b.link)
        t = t_ms / 1000.0 + b.offset_s
        bend = counts[:, list(rec.links[b.link].hello.channels).index("bend_" + r["side"][0])] * 0.01
        i = int(np.argmin(np.abs(t - r["t_s"])))
        win = bend[(t > r["t_s"] - 0.15) & (t < r["t_s"] + 0.15)]
        near.append(bend[i] - win.min() < 5.0)
    assert np.mean(near) >= 0.8, near
    strides = [r for r in two if r["stride_length_m"] is not None]
    assert len(strides) >= 3
    for r in strides:
        assert 0.9 < r["stride_length_m"] < 1.5 and 0.8 < r["stride_time_s"] < 1.6
    rows = {(r["parameter"], r["source"]): r for r in lab.summary}
    step = rows[("Step length", "two sleeves, same instant")]
    assert "docs/mgait.md" in step["paper"] and step["n"] == len(two)
    assert step["mean"] == pytest.approx(lengths.mean())
    assert step["asym_pct"] < 25
    assert ("Stride length", "two sleeves, same instant") in rows
    asym = rows[("Step length asymmetry", "two sleeves, same instant")]
    pairs = lab.data.two_sleeves.asym
    assert asym["n"] == len(pairs) >= 3 and asym["mean"] < 25
    by_t = {r["t_s"]: r for r in two}
    for t, v in pairs:  # eq. 7 on the stride's two steps (this one and the one before it)
        i = two.index(by_t[t])
        a, b = two[i - 1]["step_length_m"], two[i]["step_length_m"]
        assert two[i - 1]["side"] != two[i]["side"] and v == pytest.approx(200 * abs(a - b) / (a + b))
    assert (("Step length", "knee sleeve") in rows) == bool(eq6)  # the boards' own row stays
    # the figure: bold two-sleeve series beside the boards', and the asymmetry with its 25 % line
    axes = {ax.get_title(loc="left"): ax for ax in lab.figure.axes}
    step_ax = next(ax for t, ax in axes.items() if t.startswith("step length per step"))
    labels = [ln.get_label() for ln in step_ax.get_lines()]
    assert any(x.startswith("two sleeves, left") for x in labels)
    assert any(x.startswith("two sleeves, right") for x in labels)
    assert sum("eq. 6" in x for x in labels) == len({(r["board"], r["side"]) for r in eq6})
    asym_labels = [ln.get_label() for ln in axes["left/right asymmetry over time"].get_lines()]
    assert "step length, per stride, two sleeves, same instant" in asym_labels
    assert any(x.startswith("25 %") for x in asym_labels)
    # the files: the CSV has the rows, the HTML names the method
    write_report(rec, tmp_path / "report")
    table = list(csv.DictReader(io.StringIO((tmp_path / "report" / "steps.csv").read_text())))
    csv_two = [r for r in table if r["source"] == TWO]
    assert len(csv_two) == len(two)
    assert float(csv_two[0]["step_length_m"]) == pytest.approx(two[0]["step_length_m"], abs=1e-5)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "two sleeves, same instant" in html and "docs/mgait.md" in html
    # the sessions list counts each step once (the two-sleeve steps, not both boards' eq. 6 too)
    from gaitloop.web.sessions import summarize

    listed = summarize(sleeves_recording)
    assert listed["steps"] == len(two) and listed["mean_step_m"] == pytest.approx(step["mean"], abs=1e-3)
    assert listed["step_length_asym_pct"] == pytest.approx(step["asym_pct"], abs=1e-3)


def test_live_leg_starts_again_after_lost_samples():
    """A hole in one leg's samples (first_index jumps) replaces that leg's angle pipeline (it
    waits for the next stand) and is counted; contiguous frames keep it."""
    from types import SimpleNamespace

    from gaitfw.boards import knee
    from gaitloop.messages import Samples
    from gaitloop.mgait.twoknee_live import LiveTwoSleeves

    live = LiveTwoSleeves()
    chans = {side: SimpleNamespace(state=SimpleNamespace(hello=SimpleNamespace(
        kind="knee", side=side, channels=knee.CHANNELS, rate=100, device=side)),
        clock=SimpleNamespace(fit=None), host_time=lambda t: t / 1000.0) for side in ("left", "right")}

    def feed(side: str, first: int) -> None:
        msg = Samples(first_index=first, counts=np.zeros((10, 14), dtype=np.int16))
        live(0 if side == "left" else 1, chans[side], SimpleNamespace(t_ms=first * 10), msg)

    for i in range(0, 100, 10):
        feed("left", i)
        feed("right", i)
    before = live.legs["right"][0]
    assert live.gaps == {} and live.legs["left"][0] is not None
    feed("left", 100)
    feed("right", 120)  # 100-119 lost
    assert live.gaps == {"right": 1} and live.legs["right"][0] is not before
    feed("right", 130)
    assert live.gaps == {"right": 1}


@pytest.mark.micropython
@pytest.mark.timeout(300)
def test_recording_leg_starts_again_after_lost_samples(sleeves_recording):
    """From a recording as live: SAMPLES frames missing on one leg (a hole in its sample
    index) restart that leg's angles at its next stand, so the rest of that pass has no
    two-sleeve steps (its angles would be wrong), and the later passes are the same."""
    from gaitfw import protocol as P
    from gaitloop.mgait.twoknee_live import recording_two_sleeve_steps
    from gaitloop.record import read_recording, recorded_clock

    full = recording_two_sleeve_steps(read_recording(sleeves_recording))
    assert full.live.gaps == {}
    ts = [t for _, t, _ in full.live.steps]
    passes = [[ts[0]]]  # the walk's passes, a stand (> 2 s without a step) between
    for a, b in zip(ts, ts[1:], strict=False):
        if b - a > 2.0:
            passes.append([])
        passes[-1].append(b)
    assert len(passes) >= 3 and len(passes[1]) >= 3, passes
    hole = (passes[1][0] + 0.2, passes[1][0] + 0.7)  # on the merged timeline (walk s)
    rec = read_recording(sleeves_recording)
    lr = rec.links[full.links["right"]]
    clock = recorded_clock(rec, lr.link)
    cut = {pos for pos, (_, fr) in enumerate(lr.frames) if fr.kind == P.MSG_SAMPLES
           and hole[0] < (clock.to_host(pos, fr.t_ms / 1000.0) - full.t0) / full.scale < hole[1]}
    assert cut
    lr.frames = [x for pos, x in enumerate(lr.frames) if pos not in cut]
    got = recording_two_sleeve_steps(rec)
    assert got.live.gaps == {"right": 1}
    assert not [t for _, t, _ in got.live.steps if hole[1] < t <= passes[1][-1] + 0.1]
    later = [s for s in full.live.steps if s[1] >= passes[2][0] - 0.1]
    for side, t, d in later:  # the same steps again once the leg stood
        assert any(s == side and abs(u - t) < 0.05 and abs(e - d) < 0.02 for s, u, e in got.live.steps), (t, d)


def test_live_keeps_a_boards_samples_until_its_hello():
    """A host joining a running stream gets a board's SAMPLES before its HELLO (repeated every
    5 s): they wait and run through that leg's angles first, in order, once the HELLO is
    there (the stand a leg calibrates on is often in those seconds); at most EARLY_SAMPLES."""
    from types import SimpleNamespace

    from gaitfw.boards import knee
    from gaitloop.messages import Samples
    from gaitloop.mgait import twoknee_live as T

    live = T.LiveTwoSleeves()
    rng = np.random.default_rng(0)  # walking-size gyro noise: never a stand, every sample seen
    ch = SimpleNamespace(state=SimpleNamespace(hello=None), clock=SimpleNamespace(fit=None),
                         host_time=lambda t: t / 1000.0)
    counts = rng.integers(-3000, 3000, size=(10, 14)).astype(np.int16)

    def feed(first: int) -> None:
        live(0, ch, SimpleNamespace(t_ms=first * 10), Samples(first_index=first, counts=counts))

    for i in range(0, 1200, 10):  # 12 s without a HELLO: the newest 1000 samples are kept
        feed(i)
    assert not live.legs and sum(len(m.counts) for _, m in live._early[0]) == T.EARLY_SAMPLES
    ch.state.hello = SimpleNamespace(kind="knee", side="left", channels=knee.CHANNELS, rate=100, device="l")
    feed(1200)
    la, _ = live.legs["left"]
    assert la.n_seen == T.EARLY_SAMPLES + 10 and not live._early
    assert live.gaps == {}  # kept in order: contiguous indexes, no restart
