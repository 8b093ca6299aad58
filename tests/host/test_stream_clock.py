"""Receive times are taken after the read: a frame is never stamped before it was sent.

Why it matters: the board clock fit (gaitloop.timeline) is a lower envelope of receive
times, so one time stamped too early pulls a board's whole mapping early. The session once
took one time per poll before reading any link; bytes that reached the second link while
the first one's frames were handled (its sinks, tens of ms on a loaded host) got that older
time. Two knee sleeves at 4x then paired instants 130 ms of walk apart."""

from __future__ import annotations

import os
import struct
import time

from gaitfw import protocol as P
from gaitloop.stream import StreamSession


class PipeLink:
    def __init__(self, name: str) -> None:
        self.name = name
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        self._w = P.FrameWriter()

    def fileno(self) -> int:
        return self._rfd

    def read_available(self) -> bytes:
        try:
            return os.read(self._rfd, 65536)
        except BlockingIOError:
            return b""

    def board_sends(self, cmd: int) -> None:
        n = self._w.frame(P.MSG_ACK, 0, struct.pack("<HB", 0, cmd))
        os.write(self._wfd, b"\x00" + bytes(self._w.enc[:n]))

    def write(self, data: bytes) -> None:
        pass

    def reset_input(self) -> None:
        self.read_available()

    def close(self) -> None:
        for fd in (self._rfd, self._wfd):
            os.close(fd)


class TimesRecorder:
    def __init__(self) -> None:
        self.times: list[tuple[int, float]] = []

    def add_link(self, link: int, info: dict) -> None:
        pass

    def add_frame(self, link: int, frame, now: float) -> None:  # noqa: ANN001
        self.times.append((link, now))

    def tick(self) -> None:
        pass


def test_bytes_arriving_while_another_link_is_handled_are_stamped_after_they_arrived():
    a, b = PipeLink("a"), PipeLink("b")
    rec = TimesRecorder()
    sent: list[float] = []

    def slow_sink(link, ch, frame, msg):  # noqa: ANN001 - link a's handling takes 30 ms...
        if link == 0 and not sent:
            time.sleep(0.03)
            b.board_sends(P.CMD_START)  # ...and link b's board sends meanwhile
            sent.append(session.host_now())

    session = StreamSession([a, b], recorder=rec, sinks=[slow_sink])
    try:
        a.board_sends(P.CMD_HELLO)
        b.board_sends(P.CMD_HELLO)  # both ready at the same select
        assert session.poll(1.0) == 3
    finally:
        a.close()
        b.close()
    got_b = [t for link, t in rec.times if link == 1]
    assert len(got_b) == 2 and min(got_b) >= sent[0], (got_b, sent)
