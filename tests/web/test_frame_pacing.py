"""Display frames leave the stream process in the loop turn that read their data (issue 16's
latency goal): no fixed hold-back period, a token bucket only caps the rate of a fast replay,
and the left/right summary (ms of numpy) is computed after a frame went out, never before.

Boards are played as real protocol frames through the host's own BoardState (the live view
tests' `Board`); the worker is the real `StreamWorker` on a real `StreamSession`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from gaitfw import events as E
from gaitfw import protocol as P
from gaitloop.messages import frame_from_decoded
from gaitloop.web import worker as W
from tests.host.test_live_view import Board as _Board
from tests.host.test_live_view import session_of


class Board(_Board):
    """... whose frames also feed the board's clock (as `StreamSession.poll` does), received
    at their board time: events get a place on the one timeline."""

    def _feed(self, kind: int, t_ms: int, payload: bytes) -> None:
        self.w.frame(kind, t_ms, payload)
        frame = frame_from_decoded(bytes(self.w.raw[: P.HEADER_LEN + len(payload) + P.CRC_LEN]))
        msg = self.ch.state.update(frame)
        assert msg is not None
        self.ch.clock.observe_message(msg, frame, 1000.0 + t_ms / 1000.0, self.rate)
        for sink in self.session.sinks:
            sink(self.ch.id, self.ch, frame, msg)


def _worker(n_boards: int, tmp_path: Path) -> tuple[W.StreamWorker, list[dict], list[Board]]:
    session = session_of(n_boards)
    out: list[dict] = []

    def emit(text: str) -> bool:
        out.append(json.loads(text))
        return True

    wk = W.StreamWorker(session, tmp_path, {}, emit, lambda _m: None, lambda: None)
    boards = [Board(session, i, f"insole-{i}") for i in range(n_boards)]
    wk.tick()  # the HELLOs' frame
    out.clear()
    time.sleep(W.FRAME_BURST / W.FRAMES_PER_S)  # the bucket full again, as between board frames at 1x
    return wk, out, boards


def test_each_board_frame_goes_out_in_the_turn_that_read_it(tmp_path):
    wk, out, boards = _worker(3, tmp_path)
    for b in boards:  # three boards' frames within a millisecond: none waits for a period
        b.samples(10)
        wk.tick()
    assert len(out) == 3
    assert [len(f["boards"][i]["t"]) for i, f in enumerate(out)] == [3, 3, 3]  # 25 Hz block means
    assert all(f["boards"][i]["now"] is not None for i, f in enumerate(out))


def test_a_fast_replay_is_capped_and_loses_no_display_point(tmp_path):
    wk, out, boards = _worker(1, tmp_path)
    t0 = time.monotonic()
    for _ in range(400):  # 400 frames of 4 samples as fast as the loop runs
        boards[0].samples(4)
        wk.tick()
    elapsed = time.monotonic() - t0
    assert len(out) <= W.FRAME_BURST + elapsed * W.FRAMES_PER_S + 1
    if elapsed < 400 / W.FRAMES_PER_S / 2:  # the cap bit: frames carry several board frames
        assert len(out) < 400
    # what was held back goes out with the next token: every sample reaches a point
    time.sleep(2 / W.FRAMES_PER_S)
    wk.tick()
    assert wk.session.poll_timeout == W.POLL_S  # nothing held back any more
    pts = sum(len(f["boards"][0]["t"]) for f in out)
    assert pts == 400  # 1600 samples at 100 Hz = 400 points of 4 (25 Hz)


def test_held_back_data_sets_a_short_poll_timeout(tmp_path):
    wk, out, boards = _worker(1, tmp_path)
    for _ in range(int(W.FRAME_BURST) + 1):
        boards[0].samples(10)
        wk.tick()
    if len(out) == int(W.FRAME_BURST):  # no token left for the last one (the usual case)
        assert wk.display.new
        assert wk.session.poll_timeout <= 1.0 / W.FRAMES_PER_S + 1e-9


def _walk_steps(left: Board, right: Board, n: int) -> None:
    for _ in range(n):
        for side, b in ((0, left), (1, right)):
            b.samples(30)
            b.event(E.EV_HEEL_STRIKE, side, 0, 0)
            b.samples(30)
            b.event(E.EV_TOE_OFF, side, 600, 0)


def test_left_right_summary_is_computed_after_the_frame_not_before(tmp_path):
    wk, out, boards = _worker(2, tmp_path)
    boards[1].hello["side"] = "right"
    boards[1]._feed(1, 0, json.dumps(boards[1].hello).encode())  # MSG_HELLO: right insole
    for b in boards:  # the timeline needs samples to place events
        b.samples(10)
    _walk_steps(boards[0], boards[1], 6)
    time.sleep(2 / W.FRAMES_PER_S)
    wk.tick()
    assert out[-1]["asymmetry"] is None  # this frame did not wait for the numpy summary
    assert wk.display.new  # ... which was computed right after it and is due next
    time.sleep(2 / W.FRAMES_PER_S)
    wk.tick()
    assert out[-1]["asymmetry"] is not None
    assert out[-1]["asymmetry"] == json.loads(json.dumps(wk.display.steps.summary()))
    assert out[-1]["asymmetry"]["stance"]["left_ms"] == 300.0
