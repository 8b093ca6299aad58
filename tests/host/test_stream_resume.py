"""The stream's START / RESEND after a (re)connect is asked again while the board stays silent.

Why: over BLE a write without response can vanish with no error (a full RX buffer on the
board, a lost write IRQ; firmware/gaitfw/link_ble.py), and a board notifies nothing before
START or RESEND arrives, so one lost write used to mean a silent stream. The link here is a
stand-in with `take_resume` (what makes a link "one that can drop") that loses the first N
command writes and answers the rest with an ACK frame, as a board does. Last, the `gaitloop
power` lines that show the board's own count of such losses.
"""

from __future__ import annotations

import os
import struct
import time

import pytest

from gaitfw import protocol as P
from gaitloop import stream as S
from gaitloop.decoder import StreamDecoder
from gaitloop.stream import StreamSession


class LossyLink:
    name = "lossy"
    connected = True

    def __init__(self, lose: int) -> None:
        self.lose = lose
        self.sent: list[tuple[int, bytes]] = []  # (cmd, args) of every command written
        self.answered: list[int] = []
        self._resume = True
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        self._dec = StreamDecoder()
        self._w = P.FrameWriter()

    def fileno(self) -> int:
        return self._rfd

    def read_available(self) -> bytes:
        try:
            return os.read(self._rfd, 65536)
        except BlockingIOError:
            return b""

    def write(self, data: bytes) -> None:
        for f in self._dec.feed(data):
            cmd, args = f.payload[0], f.payload[1:]
            self.sent.append((cmd, args))
            if self.lose > 0:
                self.lose -= 1  # gone on the way: the board never saw it
                continue
            self.answered.append(cmd)
            n = self._w.frame(P.MSG_ACK, 0, struct.pack("<HB", f.seq, cmd))
            os.write(self._wfd, b"\x00" + bytes(self._w.enc[:n]))

    def take_resume(self) -> bool:
        r, self._resume = self._resume, False
        return r

    def reconnect(self) -> None:
        self._resume = True

    def reset_input(self) -> None:
        self.read_available()

    def close(self) -> None:
        for fd in (self._rfd, self._wfd):
            os.close(fd)


@pytest.fixture(autouse=True)
def _fast_retry(monkeypatch):
    monkeypatch.setattr(S, "RESUME_RETRY_S", 0.05)


def _poll_until(session: StreamSession, pred, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        session.poll(0.01)


def _starts(link: LossyLink) -> list[bytes]:
    return [a for c, a in link.sent if c == P.CMD_START]


def test_a_lost_start_is_sent_again_until_the_board_answers():
    link = LossyLink(lose=2)  # START and HELLO lost
    session = StreamSession([link])
    session.open()
    ch = session.channels[0]
    _poll_until(session, lambda: P.CMD_START in link.answered)
    assert P.CMD_START in link.answered and ch.resume_retries == 1, link.sent
    n = len(_starts(link))
    _poll_until(session, lambda: False, timeout=0.3)  # six retry periods: the board answered
    assert len(_starts(link)) == n == 2 and ch.stats()["resume_retries"] == 1
    session.close()


def test_an_answered_start_is_not_repeated():
    link = LossyLink(lose=0)
    session = StreamSession([link])
    session.open()
    _poll_until(session, lambda: False, timeout=0.3)
    assert len(_starts(link)) == 1 and session.channels[0].resume_retries == 0
    session.close()


def test_a_lost_resend_asks_for_the_same_frames_again():
    link = LossyLink(lose=0)
    session = StreamSession([link])
    session.open()
    ch = session.channels[0]
    _poll_until(session, lambda: ch.state.last_seq is not None)
    last = ch.state.last_seq
    link.lose = 1
    link.reconnect()  # the link came back: RESEND from the frame after the last one held
    _poll_until(session, lambda: P.CMD_RESEND in link.answered)
    resends = [a for c, a in link.sent if c == P.CMD_RESEND]
    want = struct.pack("<H", (last + 1) & 0xFFFF)
    assert resends == [want, want] and ch.resume_retries == 1, link.sent
    session.close()


def test_a_board_that_never_answers_is_asked_a_bounded_number_of_times():
    link = LossyLink(lose=10**6)
    session = StreamSession([link])
    session.open()
    _poll_until(session, lambda: len(_starts(link)) > S.RESUME_TRIES, timeout=10.0)
    _poll_until(session, lambda: False, timeout=0.3)  # six retry periods more: no further one
    assert len(_starts(link)) == 1 + S.RESUME_TRIES
    session.close()


def test_power_lines_show_the_boards_ble_rx_losses():
    """`gaitloop power` prints CMD_TIMING's `ble` counters when the board has BLE."""
    from gaitloop.messages import Status
    from gaitloop.power import describe

    st = Status(0, 0, 0, 0, 1000, 2000, 0, 0, 100, 0)
    timing = {"n": 10, "mean_us": 1, "p99_us": 2, "max_us": 3, "late": 0, "skipped": 0}
    assert not any(ln.startswith("ble rx") for ln in describe(st, timing))
    lines = describe(st, {**timing, "ble": {"rx_lost": 701, "rx_full": 1, "bad_cmds": 4}})
    assert lines[-1] == "ble rx: 701 bytes lost, 1 full reads, 4 bad command frames"
