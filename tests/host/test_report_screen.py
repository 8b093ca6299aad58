"""The session report as a clinician reads it: units on every axis (from HELLO), replay restarts
marked, durations from samples and rate, STATUS flags by name, the GRF estimate clipped with a
note, events coloured by kind with a legend, nothing dropped without saying so.

Sessions are written with the real Recorder from frames built by the firmware's FrameWriter;
the figure is inspected as matplotlib objects (axes labels, lines, legends), not as pixels.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from gaitfw import events as E
from gaitfw import foot
from gaitfw import protocol as P
from gaitfw.boards import knee
from gaitloop.eventview import kinds_text
from gaitloop.messages import frame_from_decoded
from gaitloop.record import Recorder, read_recording
from gaitloop.report import status_changes, write_report
from gaitloop.report_fig import board_figure

RATE = 100
SPEED = 2.0  # board seconds per host second


class Writer:
    """Frames of one board into a Recorder, host time = board time / SPEED."""

    def __init__(self, rec: Recorder, link: int, hello: dict) -> None:
        self.rec, self.link, self.w = rec, link, P.FrameWriter()
        rec.add_link(link, {"port": f"/dev/pts/{link}"})
        self.nch = len(hello["channels"])
        self.put(P.MSG_HELLO, 0, json.dumps(hello).encode())

    def put(self, kind: int, t_ms: int, payload: bytes) -> None:
        self.w.frame(kind, t_ms, payload)
        frame = frame_from_decoded(bytes(self.w.raw[: P.HEADER_LEN + len(payload) + P.CRC_LEN]))
        self.rec.add_frame(self.link, frame, 1_000_000.0 + t_ms / 1000.0 / SPEED)

    def samples(self, first: int, rows: np.ndarray) -> None:
        n = len(rows)
        payload = struct.pack("<IBB", first, self.nch, n) + rows.astype("<i2").tobytes()
        self.put(P.MSG_SAMPLES, first * 1000 // RATE, payload)

    def event(self, index: int, code: int, side: int, a: int, b: int) -> None:
        self.put(P.MSG_EVENT, index * 1000 // RATE, struct.pack("<BBii", code, side, a, b))

    def status(self, index: int, flags: int) -> None:
        self.put(P.MSG_STATUS, index * 1000 // RATE, struct.pack("<IIHHII", flags, index, 0, 0, 0, 0))


def _hello(device, kind, channels, units, scale, replay=None):
    h = {"device": device, "kind": kind, "side": "left", "fw": "0.1.0", "proto": 1, "rate": RATE,
         "channels": list(channels), "units": list(units), "scale": list(scale)}
    if replay:
        h["replay"] = replay
    return h


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A knee sleeve replaying a 3 s walk in a loop (1000 samples from index 50: restarts at
    300, 600, 900) and an insole with a GRF student that dips below zero."""
    path = tmp_path_factory.mktemp("rep") / "s.glsession"
    with Recorder(path) as rec:
        kw = Writer(rec, 0, _hello("knee-sleeve", "knee", knee.CHANNELS, knee.UNITS, knee.SCALE,
                                   {"samples": 300, "loop": True, "speed": SPEED}))
        iw = Writer(rec, 1, _hello("insole-R", "insole", ("heel", "ball"), ("N", "N"), (0.1, 0.1)))
        k = np.arange(50, 1050)
        phase = np.sin(2 * np.pi * k / 110.0)
        knee_rows = np.zeros((len(k), 14))
        knee_rows[:, 0] = knee_rows[:, 7] = 3000 + 2000 * phase  # bend, 0.01 deg
        knee_rows[:, 3] = knee_rows[:, 10] = 4096  # az 1 g
        knee_rows[:, 5] = knee_rows[:, 12] = 1000 * phase  # gy
        heel = np.clip(4000 * phase, 0, None)
        ins_rows = np.stack([heel, np.roll(heel, 30)], axis=1)
        for first in range(0, len(k), 10):
            kw.samples(int(k[first]), knee_rows[first:first + 10])
            iw.samples(int(k[first]), ins_rows[first:first + 10])
            i = int(k[first])
            if i % 110 == 60:
                kw.event(i, E.EV_MG_IC, 0, 2300, 1600)
                kw.event(i, E.EV_MG_STEP, 0, 620, 540)
                iw.event(i, E.EV_HEEL_STRIKE, 1, 470, 1230)
            if i % 110 == 0:
                iw.event(i, E.EV_FOOT_FLAT, 1, 60, 0)
                iw.event(i, E.EV_TOE_OFF, 1, 750, 9756)
            iw.event(i, E.EV_ST_GRF, 1, -196 if i % 110 > 60 else 6000 + i, -127)
            if i % 100 == 0:
                iw.status(i, foot.ST_MISSING | foot.ST_GUARD if 400 <= i < 600 else 0)
                kw.status(i, 0)
            if i == 500:
                kw.event(i, E.EV_MG_BUZZ, 2, 4100, 1)
            if i in (400, 600):
                both = foot.ST_MISSING | foot.ST_GUARD
                iw.event(i, E.EV_INSOLE_STATUS, 1, both if i == 400 else 0, both)
    return read_recording(path)


@pytest.fixture(scope="module")
def html(session, tmp_path_factory):
    return write_report(session, tmp_path_factory.mktemp("out")).read_text()


@pytest.fixture(scope="module")
def figs(session):
    return {link: board_figure(session, link) for link in (0, 1)}


def _axes(fig):
    return [ax for ax in fig.axes if ax.get_ylabel()]


def _line_labels(ax):
    return [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def test_knee_axes_carry_each_channels_own_unit(session, figs, html):
    fig = figs[0]
    axes = _axes(fig)
    assert {ax.get_ylabel() for ax in axes} == {"angle (deg)", "acceleration (g)", "angular rate (dps)"}
    units = dict(zip(knee.CHANNELS, knee.UNITS, strict=True))
    suffix = {"deg": "(deg)", "g": "(g)", "dps": "(dps)"}
    for ax in axes:
        chans = [lab for lab in _line_labels(ax) if lab in units]
        assert chans, ax.get_ylabel()
        for ch in chans:
            assert ax.get_ylabel().endswith(suffix[units[ch]]), (ch, ax.get_ylabel())
    plotted = {lab for ax in axes for lab in _line_labels(ax)}
    assert set(knee.CHANNELS) <= plotted  # all 14 channels, none dropped


def test_replay_restarts_are_marked_where_the_index_wraps(session, figs, html):
    fig = figs[0]
    whole = _axes(fig)[0]
    xs = sorted(ln.get_xdata()[0] for ln in whole.get_lines()
                if ln.get_linestyle() != "None" and len(set(ln.get_xdata())) == 1 and ln.get_color() == "k")
    assert xs == pytest.approx([i / RATE for i in (300, 600, 900)])  # board time of the wrap
    assert "replay starts again" in _line_labels(whole)
    assert "starts again 3x" in whole.get_title()


def test_durations_come_from_samples_and_rate(session, figs, html):
    # 1000 samples at 100 Hz = 10.0 s of board time, streamed in ~5 s of wall time (2x)
    assert "; 10.0 s of board time (samples / rate)" in html
    assert "<td>10.0</td><td>x2 (3.0 s replay, starts again 3x)</td>" in html


def test_status_flags_by_name_never_as_numbers(session, figs, html):
    assert "guard 2" in html and "missing 2" in html  # STATUS reports they were set in
    assert status_changes(session, 1) == ["4.0 s: missing set, guard set", "6.0 s: missing cleared, guard cleared"]
    for number in ("4096", "8192", "12288"):
        assert number not in html


def test_grf_estimate_clipped_at_zero_with_a_note(session, figs, html):
    fig = figs[1]
    grf = [ln for ax in _axes(fig) for ln in ax.get_lines() if "force estimate" in ln.get_label()]
    assert grf and all(np.nanmin(ln.get_ydata()) >= 0 for ln in grf)
    assert "clipped at 0 N; lowest -19.6 N" in grf[0].get_label()
    assert "lowest -19.6 N" in html and "clip it at 0 N" in html
    assert "-19.6</td>" not in html and "-196" not in html


def test_events_coloured_by_kind_with_a_legend(session, figs, html):
    fig = figs[1]
    zoom = _axes(fig)[1]
    legend = [t.get_text() for t in zoom.get_legend().get_texts()]
    for kind in ("heel_strike", "foot_flat", "toe_off"):
        assert any(t.startswith(f"{kind} (") for t in legend), legend
    colours = {}
    for ln in zoom.get_lines():
        lab = ln.get_label()
        if lab.split(" (")[0] in ("heel_strike", "foot_flat", "toe_off"):
            colours[lab.split(" (")[0]] = ln.get_color()
    assert len(set(colours.values())) == 3  # one colour per kind, not grey for all
    assert "#7f7f7f" not in colours.values() and "k" not in colours.values()


def test_feedback_is_marked_on_the_whole_session(session, figs, html):
    whole = _axes(figs[0])[0]
    buzz = [ln for ln in whole.get_lines() if ln.get_label().startswith("mg_buzzer_on")]
    # on the board's clock, as the live table, the demo summary and events.csv give it
    assert len(buzz) == 1 and buzz[0].get_xdata()[0] == pytest.approx(5.0)


def test_kinds_not_drawn_are_named(session, figs, html):
    fig = figs[0]
    assert "mg_step x" in fig.get_supxlabel()


def test_event_table_in_units(session, figs, html):
    assert "<td>toe_off</td><td>cadence</td><td>steps/min</td>" in html
    assert "unused" not in html and "cadence_x100" not in html


def test_terminal_summary_names_what_it_leaves_out():
    text = kinds_text({"a": 40, "b": 9, "c": 8, "d": 7, "e": 6, "f": 5, "g": 2, "h": 1}, limit=6)
    assert text == "a x40, b x9, c x8, d x7, e x6, f x5 and 2 more kinds (3 events): g, h"
    assert kinds_text({}) == "none"


def test_a_board_that_sent_only_hello_still_reports(tmp_path):
    path = tmp_path / "h.glsession"
    with Recorder(path) as rec:
        Writer(rec, 0, _hello("insole-L", "insole", ("heel", "ball"), ("N", "N"), (0.1, 0.1)))
    html = write_report(read_recording(path), tmp_path / "out").read_text()
    assert "insole-L" in html and "<td>0.0</td>" in html  # 0 samples: 0.0 s of board time
