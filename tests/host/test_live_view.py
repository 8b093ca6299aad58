"""The live table: the board's rate and the replay speed apart, whole device names, event
fields in units without placeholders, STATUS flags by name.

Boards are played as real protocol frames (gaitfw's FrameWriter) through the host's own
BoardState; only the wall clock is driven by the test so the speed is known exactly.
"""

from __future__ import annotations

import json
import struct

import pytest
from rich.console import Console

from gaitfw import events as E
from gaitfw import foot
from gaitfw import protocol as P
from gaitloop.live import LiveView, RateMeter, rate_text
from gaitloop.messages import frame_from_decoded
from gaitloop.stream import StreamSession


class _NamedLink:
    """The session only reads a link's name here: frames are handed to it as `poll` would."""

    def __init__(self, name: str) -> None:
        self.name = name


def session_of(n: int) -> StreamSession:
    return StreamSession([_NamedLink(f"/dev/pts/{i}") for i in range(n)])


class Board:
    """A board's frames, built with the firmware's own writer, delivered like `poll` does:
    board state first, then every sink (the live view measures there)."""

    def __init__(self, session: StreamSession, link_id: int, device: str, rate: int = 100,
                 kind: str = "insole", channels=("heel", "ball"), units=("N", "N"),
                 scale=(0.1, 0.1)) -> None:
        self.session = session
        self.w = P.FrameWriter()
        self.ch = session.channels[link_id]
        self.rate = rate
        self.nch = len(channels)
        self.index = 0
        self.hello = {"device": device, "kind": kind, "side": "left", "fw": "0.1.0", "proto": 1,
                      "rate": rate, "channels": list(channels), "units": list(units),
                      "scale": list(scale)}
        self._feed(P.MSG_HELLO, 0, json.dumps(self.hello).encode())

    def _feed(self, kind: int, t_ms: int, payload: bytes) -> None:
        self.w.frame(kind, t_ms, payload)
        frame = frame_from_decoded(bytes(self.w.raw[: P.HEADER_LEN + len(payload) + P.CRC_LEN]))
        msg = self.ch.state.update(frame)
        assert msg is not None
        for sink in self.session.sinks:
            sink(self.ch.id, self.ch, frame, msg)

    def t_ms(self) -> int:
        return self.index * 1000 // self.rate

    def samples(self, n: int, value: int = 1000) -> None:
        payload = struct.pack("<IBB", self.index, self.nch, n) + struct.pack(f"<{n * self.nch}h", *[value] * (n * self.nch))
        self._feed(P.MSG_SAMPLES, self.t_ms(), payload)
        self.index += n

    def event(self, code: int, side: int, a: int, b: int) -> None:
        self._feed(P.MSG_EVENT, self.t_ms(), struct.pack("<BBii", code, side, a, b))

    def status(self, flags: int) -> None:
        self._feed(P.MSG_STATUS, self.t_ms(), struct.pack("<IIHHII", flags, self.index, 0, 0, 0, 0))


def _render(view: LiveView, width: int = 100) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(view)
    return console.export_text()


def _play(boards: list[Board], speeds: list[float], wall_s: float, clock: list[float]) -> None:
    """Advance wall time in 0.05 s steps; each board sends what its speed makes of that wall
    time, in 10-sample frames. The view is drawn once, at the end (as when `stream`'s output
    is redirected), so the measurement must come from the frames, not from redraws."""
    owed = [0.0] * len(boards)
    for _ in range(int(wall_s / 0.05)):
        clock[0] += 0.05
        for i, (b, sp) in enumerate(zip(boards, speeds, strict=True)):
            owed[i] += b.rate * sp * 0.05
            while owed[i] >= 10:
                b.samples(10)
                owed[i] -= 10


def _knee(session: StreamSession, link: int, name: str) -> Board:
    knee_ch = tuple(f"{n}_{s}" for s in "lr" for n in ("bend", "ax", "ay", "az", "gx", "gy", "gz"))
    units = ("deg", "g", "g", "g", "dps", "dps", "dps") * 2
    scale = ((0.01,) + (1 / 4096,) * 3 + (1 / 32.8,) * 3) * 2
    return Board(session, link, name, kind="knee", channels=knee_ch, units=units, scale=scale)


@pytest.mark.parametrize(("speed", "shown"), [(10.0, "100 Hz x10"), (1.0, "100 Hz x1"),
                                               (2.0, "100 Hz x2"), (0.5, "100 Hz x0.5")])
def test_rate_and_replay_speed_are_shown_apart(speed, shown):
    clock = [0.0]
    session = session_of(1)
    view = LiveView(session, clock=lambda: clock[0])
    b = Board(session, 0, "insole-L")
    _play([b], [speed], 6.0, clock)
    row = next(ln for ln in _render(view).splitlines() if "insole-L" in ln)
    assert shown in row, row
    assert "1000" not in row.split("Hz")[0]  # not the 1000 samples/s of a 10x replay


def test_each_board_keeps_its_own_rate_and_speed():
    clock = [0.0]
    session = session_of(2)
    view = LiveView(session, clock=lambda: clock[0])
    fast, slow = Board(session, 0, "insole-L"), Board(session, 1, "slow-board", rate=50)
    _play([fast, slow], [10.0, 1.0], 6.0, clock)
    lines = _render(view).splitlines()
    assert any("insole-L" in ln and "100 Hz x10" in ln for ln in lines)
    assert any("slow-board" in ln and "50 Hz x1 " in ln for ln in lines)


def test_before_two_readings_the_rate_is_the_hello_rate():
    session = session_of(1)
    view = LiveView(session, clock=lambda: 0.0)
    Board(session, 0, "insole-L").samples(10)
    row = next(ln for ln in _render(view).splitlines() if "insole-L" in ln)
    assert "100 Hz" in row and "x" not in row.split("100 Hz")[1].split()[0]


def test_rate_meter_starts_again_after_a_board_restart():
    m = RateMeter()
    for k in range(10):
        m.add(k * 0.1, k * 1000, k * 100)  # 100 Hz at 10x
    assert m.speed() == pytest.approx(10.0) and m.rate_hz() == pytest.approx(100.0)
    m.add(1.0, 0, 0)  # rebooted: clock and index back at zero
    assert m.speed() is None
    m.add(2.0, 1000, 100)
    assert m.speed() == pytest.approx(1.0)


def test_rate_text_forms():
    assert rate_text(None, None, None) == "-"
    assert rate_text(None, None, 100) == "100 Hz"
    assert rate_text(99.6, 9.97, 100) == "100 Hz x10"


@pytest.mark.parametrize("width", [80, 100, 140])
def test_long_device_names_are_never_cut(width):
    names = ["insole-left-foot-serial-0001234", "knee-sleeve-pair-clinic-room-4b"]
    session = session_of(2)
    view = LiveView(session, clock=lambda: 0.0)
    boards = [Board(session, 0, names[0]), _knee(session, 1, names[1])]
    for b in boards:
        b.samples(10)
        b.event(E.EV_FOOT_FLAT, 0, 120, 0)
    text = _render(view, width)
    for n in names:
        assert text.count(n) == 3, text  # boards, latest values, latest events
    assert "bend_l 10.0 deg" in text and "gz_r" in text  # every channel, in its unit


def test_event_fields_in_units_without_placeholders():
    session = session_of(1)
    view = LiveView(session, clock=lambda: 0.0, n_events=8)
    b = Board(session, 0, "insole-L")
    b.samples(10)
    b.event(E.EV_FOOT_FLAT, 0, 120, 0)  # b is "unused"
    b.event(E.EV_TOE_OFF, 0, 640, 10512)  # stance ms, cadence x100
    b.event(E.EV_ST_GRF, 0, 5123, -40)  # force in 0.1 N
    text = _render(view, 140)
    assert "unused" not in text
    assert "since heel strike 120 ms" in text
    assert "stance 640 ms, cadence 105.1 steps/min" in text
    assert "student GRF 512.3 N" in text  # a value, not one more row among the events
    assert "student_grf" not in text and "raw_int8" not in text


def test_grf_events_do_not_push_gait_events_out():
    session = session_of(1)
    view = LiveView(session, clock=lambda: 0.0, n_events=4)
    b = Board(session, 0, "insole-L")
    b.samples(10)
    b.event(E.EV_HEEL_STRIKE, 0, 470, 1230)
    for _ in range(20):
        b.event(E.EV_ST_GRF, 0, -196, -127)
    b.event(E.EV_MG_STEP_LOST, 2, 1, 0)
    text = _render(view, 140)
    assert "heel_strike" in text and "swing 470 ms, stride 1230 ms" in text
    assert "reason timeout" in text
    assert "student GRF 0.0 N (clipped)" in text


def test_status_flags_by_name():
    session = session_of(1)
    view = LiveView(session, clock=lambda: 0.0)
    Board(session, 0, "insole-L").status(foot.ST_MISSING | foot.ST_GUARD)
    text = _render(view, 140)
    assert "missing, guard" in text
    assert "4096" not in text and "12288" not in text


class _CountingLive:
    def __init__(self) -> None:
        self.refreshes = 0

    def refresh(self) -> None:
        self.refreshes += 1


def test_redraw_draws_on_arrival_within_its_cap_and_keeps_ticking_when_idle():
    """The terminal view is drawn when a frame arrived (not on a 4/s timer), at most max_hz
    times a second, at least min_hz; a held-back draw makes the session's select wake when it
    is due, so a new value never waits more than 1 / max_hz."""
    from gaitloop.live import Redraw

    clock = [100.0]
    session = session_of(1)
    view = LiveView(session, clock=lambda: clock[0])
    live = _CountingLive()
    redraw = Redraw(live, view, max_hz=25.0, min_hz=4.0, clock=lambda: clock[0], cpu_clock=lambda: 0.0)
    board = Board(session, 0, "insole-L")
    redraw()
    assert live.refreshes == 1  # the HELLO: drawn at once
    clock[0] += 0.005
    board.samples(10)
    redraw()
    assert live.refreshes == 1  # 5 ms after a draw: held back ...
    assert session.poll_timeout == pytest.approx(0.035, abs=1e-5)  # ... and the select wakes when due
    clock[0] += 0.035
    redraw()
    assert live.refreshes == 2  # drawn 40 ms after the last draw (1 / 25 Hz)
    clock[0] += 0.1
    board.samples(10)
    redraw()
    assert live.refreshes == 3  # a frame after a quiet spell: drawn in the same turn
    for _ in range(5):  # no frames for 0.25 s: 4 draws a second still move the clocks
        clock[0] += 0.05
        redraw()
    assert live.refreshes == 4
    assert 0 < session.poll_timeout <= 0.25


def test_redraw_keeps_its_cpu_share_when_drawing_is_slow():
    """A draw that costs 20 ms of CPU at a 20 % share: at most one draw per 100 ms, whatever
    the frames; a cheap draw goes back to the 25/s cap."""
    from gaitloop.live import Redraw

    clock, cpu = [100.0], [0.0]
    session = session_of(1)
    view = LiveView(session, clock=lambda: clock[0])

    class SlowLive(_CountingLive):
        def refresh(self) -> None:
            super().refresh()
            cpu[0] += self.cost

    live = SlowLive()
    live.cost = 0.020
    redraw = Redraw(live, view, max_hz=25.0, cpu_share=0.2, clock=lambda: clock[0], cpu_clock=lambda: cpu[0])
    board = Board(session, 0, "insole-L")
    for _ in range(100):  # a frame every 10 ms for 1 s
        clock[0] += 0.01
        board.samples(1)
        redraw()
    assert 9 <= live.refreshes <= 11
    live.cost = 0.001
    n0 = live.refreshes
    for _ in range(200):  # the smoothed cost falls within a few draws
        clock[0] += 0.01
        board.samples(1)
        redraw()
    assert live.refreshes - n0 >= 40  # 2 s at up to 25/s once cheap


class _Vt:
    """A VT100 screen (pyte) behind a file: what a terminal shows for what the view writes.
    The tty driver turns "\n" into "\r\n" (onlcr); so does this file."""

    def __init__(self, cols: int, rows: int) -> None:
        import pyte

        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        self.stream.feed(text.replace("\n", "\r\n"))
        return len(text)

    def flush(self) -> None:
        pass

    def shown(self) -> list[str]:
        return [ln.rstrip() for ln in self.screen.display]


def _block(view: LiveView, width: int) -> list[str]:
    return [text.rstrip() for _, text in view.lines(width)]


def test_terminal_shows_the_view_in_place_and_rewrites_only_changed_lines():
    """Drawn into a real VT screen, frame after frame, the terminal shows exactly the view's
    lines (the block stays where it is, nothing scrolls or is left over), and a frame from one
    board rewrites only the lines it changed, not the whole block."""
    pytest.importorskip("pyte")
    from gaitloop.termscreen import TermScreen

    clock = [0.0]
    session = session_of(3)
    view = LiveView(session, clock=lambda: clock[0])
    left, right = Board(session, 0, "insole-L"), Board(session, 1, "insole-R")
    knee = _knee(session, 2, "knee-sleeve")
    vt = _Vt(120, 40)
    vt.write("$ gaitloop stream\n")
    screen = TermScreen(vt, size=lambda: (120, 40))
    for k in range(30):
        clock[0] += 0.1
        for b in (left, right, knee):
            b.samples(10, value=1000 + 37 * k)
        if k % 7 == 3:
            left.event(E.EV_HEEL_STRIKE, 0, 470 + k, 1230)
        if k == 12:
            knee.status(foot.ST_MISSING | foot.ST_GUARD)
        screen.draw(view.lines(120))
        want = _block(view, 120)
        assert vt.shown()[: 1 + len(want)] == ["$ gaitloop stream", *want]
        assert all(not ln for ln in vt.shown()[1 + len(want):])
    whole = sum(len(t) + 1 for _, t in view.lines(120))
    n = len(vt.written)
    clock[0] += 0.001  # same tenth of a second on the clock: only the left board's rows change
    left.samples(10, value=4321)
    screen.draw(view.lines(120))
    assert len(vt.written) == n + 1 and "432.1 N" in vt.written[-1]
    assert len(vt.written[-1]) < whole / 3, (len(vt.written[-1]), whole)
    assert "knee-sleeve" not in vt.written[-1]  # the knee's rows were not written again
    assert vt.shown()[1: 1 + len(_block(view, 120))] == _block(view, 120)


def test_terminal_block_fits_a_small_terminal_and_prints_go_above_it():
    """Lines are cut to the terminal's width and the block to its height (the cursor cannot
    go above the top); text printed while the view is up appears above the block."""
    pytest.importorskip("pyte")
    from gaitloop.termscreen import TermScreen, screen_open

    session = session_of(3)
    view = LiveView(session, clock=lambda: 0.0)
    boards = [Board(session, i, f"insole-{i}") for i in range(3)]
    for b in boards:
        b.samples(10)
        b.event(E.EV_TOE_OFF, 0, 0, 0)
    vt = _Vt(60, 20)  # the screen is told 12 rows: room above the block for the print
    screen = TermScreen(vt, size=lambda: (60, 12))
    with screen_open(screen):
        screen.draw(view.lines(60))
        shown = vt.shown()
        assert len([ln for ln in shown if ln]) == 11 and "more lines" in shown[10]
        assert shown[:10] == _block(view, 60)[:10]
        print("reconnected insole-1")
        shown = vt.shown()
        assert shown[0] == "reconnected insole-1" and shown[1:11] == _block(view, 60)[:10]
        boards[0].samples(10, value=777)
        screen.draw(view.lines(60))
        assert vt.shown()[0] == "reconnected insole-1" and vt.shown()[1:11] == _block(view, 60)[:10]
    assert vt.written[-1].endswith("\x1b[?25h")  # the cursor is shown again
    assert all(len(ln) <= 60 for ln in _block(view, 60))


def test_narrow_terminal_folds_the_status_and_values_columns():
    session = session_of(1)
    view = LiveView(session, clock=lambda: 0.0)
    b = _knee(session, 0, "knee-sleeve-with-a-long-name")
    b.samples(10)
    b.status(foot.ST_MISSING | foot.ST_GUARD)
    lines = _block(view, 60)
    assert max(len(ln) for ln in lines) <= 60
    assert "knee-sleeve-with-a-long-name" in "\n".join(lines)  # names are never cut
    text = " ".join(ln.replace("│", " ") for ln in lines)
    assert "bend_r" in text and "gz_r" in text  # the values wrapped, not cut


def test_live_table_on_a_pipe_prints_the_view_once_at_the_end():
    import io

    from gaitloop.live import live_table

    session = session_of(1)
    view = LiveView(session, clock=lambda: 0.0)
    out = io.StringIO()
    console = Console(file=out, width=100)
    with live_table(view, console) as redraw:
        b = Board(session, 0, "insole-L")
        for _ in range(5):
            b.samples(10)
            redraw()
        assert out.getvalue() == ""
    assert out.getvalue().count("gaitloop live") == 1 and "insole-L" in out.getvalue()
    assert "\x1b[" not in out.getvalue()
