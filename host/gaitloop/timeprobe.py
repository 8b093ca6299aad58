"""CMD_TIME clock probes for one board: when to send them and what their answers mean.

Why: over BLE at a 15 / 30 ms connection interval, receive times of frames sent on the
board's 10 ms sample grid leave the true delay unknown within up to 10 ms (the phase grid,
`gaitloop.sim.clocks.phase_grid_ms`). A probe asks the board where its sample clock is
*now*; the answer happened between the host's send and receive times, a lower bound the
timeline (`BoardClock.probe`) sets against the frames' upper bound.

Why jittered sends and not "right after a notification": a probe is tight when it reaches
the board just after it leaves, i.e. when it is sent just before a connection event. Sent at
random phases, some of every few dozen are; sent on a fixed schedule (or right after a
notification), all could sit at the same unlucky phase. Only causality is assumed, no model
of the link's timing, so the bound holds on any link.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

from gaitfw import protocol as P
from gaitloop.messages import Ack, Hello, Message, Nak
from gaitloop.timeline import BoardClock

#: mean seconds between probes (each 0.5-1.5 x this): 8 bytes up and 14 down per probe
PROBE_EVERY_S = 0.25
#: an unanswered probe is given up after this long (lost to a disconnect): send the next
PROBE_TIMEOUT_S = 2.0


def board_time_s(reply: bytes, rate_hz: int, speed: float) -> float | None:
    """Board time (s, its sample clock) at which a CMD_TIME arrived: the latest sample's
    time plus the real time from it to the arrival, run at the replay's speed. None when the
    reply is malformed."""
    if len(reply) != 12 or rate_hz <= 0:
        return None
    index, since_sample_us, since_arrival_us = struct.unpack("<III", reply)
    return index / rate_hz + (since_sample_us - since_arrival_us) * speed / 1e6


class TimeProbe:
    """Sends a CMD_TIME every ~PROBE_EVERY_S once the board streams, feeds answers to `clock`.
    Stops for good at a NAK (firmware without CMD_TIME)."""

    def __init__(self, clock: BoardClock, enabled: bool, seed: int = 0) -> None:
        self.clock = clock
        self.enabled = enabled
        self._rng = random.Random(seed)
        self._seq: int | None = None
        self._sent = 0.0
        self._next = 0.0
        self.sent = 0
        self.answered = 0

    def tick(self, now: float, hello: Hello | None, send: Callable[[int], int],
             host_clock: Callable[[], float]) -> None:
        """Send a probe when one is due (the board introduced itself and its clock has a fit)."""
        if not self.enabled or hello is None or self.clock.seg is None or now < self._next:
            return
        if self._seq is not None and now - self._sent < PROBE_TIMEOUT_S:
            return
        self._sent = host_clock()  # before the write: a lower bound on when the board reads it
        self._seq = send(P.CMD_TIME)
        self.sent += 1
        self._next = now + PROBE_EVERY_S * self._rng.uniform(0.5, 1.5)

    def answer(self, msg: Message, now: float, hello: Hello | None) -> None:
        """Take an ACK (or a NAK) to the outstanding probe; other messages are ignored."""
        if not isinstance(msg, Ack | Nak) or msg.cmd != P.CMD_TIME:
            return
        if isinstance(msg, Nak):
            self.enabled = False  # the firmware does not know CMD_TIME: frames only
            return
        if msg.cmd_seq != self._seq or hello is None:
            return  # a stale answer (its probe timed out): the send time is gone
        self._seq = None
        speed = float((hello.extra.get("replay") or {}).get("speed", 1.0) or 1.0)
        b = board_time_s(msg.reply, hello.rate, speed)
        if b is not None and self.clock.probe(b, self._sent, now):
            self.answered += 1
