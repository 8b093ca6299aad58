"""CMD_TIME clock probes for one board: when to send them and what their answers mean.

Why: over BLE at a 15 / 30 ms connection interval, receive times of frames sent on the
board's 10 ms sample grid leave the true delay unknown within up to 10 ms (the phase grid,
`gaitloop.sim.clocks.phase_grid_ms`). A probe asks the board where its sample clock was when
the command arrived; that instant lies after the host's send time, a lower bound the
timeline (`BoardClock.probe`) sets against the frames' upper bound.

When to send: a probe is tight when it reaches the board just after it leaves, i.e. when it
is sent just before a connection event. Right after a notification is the worst moment (the
next event is a whole interval away), and a fixed period can lock onto one phase of the
connection events; so probes leave on their own timer at random intervals (0.5-1.5 x
PROBE_FAST_S for a clock segment's first minute, then x PROBE_EVERY_S), i.e. at random
phases, and some of every few dozen are tight; the fast start gives the line enough tight
probes by 30 s (at PROBE_EVERY_S from the start, a third of the simulated runs missed 2 ms). (Aiming at a
learnt delay after a notification was tried in the simulation and did worse: a
notification's own stack delay blurs the reference.) Only causality is used, so every probe
is a valid bound on any link.
"""

from __future__ import annotations

import random
import struct

from gaitfw import protocol as P
from gaitloop.messages import Ack, Hello, Message, Nak
from gaitloop.timeline import BoardClock

#: mean seconds between probes (each 0.5-1.5 x this): 15 bytes up, a 28-byte ACK down
PROBE_EVERY_S = 0.25
#: ... but every PROBE_FAST_S for the first PROBE_FAST_FOR_S of a clock segment, so the line
#: has its tight probes (a few percent of them) by 30 s
PROBE_FAST_S = 0.1
PROBE_FAST_FOR_S = 60.0
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


class ProbePolicy:
    """When to send the next probe, and what its answer says (message-free, so the clock
    simulation drives the very same code). Host times are the session's clock, seconds."""

    def __init__(self, clock: BoardClock, every_s: float = PROBE_EVERY_S, seed: int = 0) -> None:
        self.clock = clock
        self.every_s = every_s
        self._rng = random.Random(seed)
        self._next: float | None = None  # the next probe's send time, once the clock has a fit
        self._out: float | None = None  # send time of the probe awaiting an answer
        self.sent = 0
        self.answered = 0

    def on_receive(self, now: float) -> None:
        """A frame from this board arrived at `now`: the first one with a fit starts the timer."""
        if self._next is None and self.clock.seg is not None:
            self._next = now + self.every_s * self._rng.uniform(0.0, 1.0)

    def due_at(self) -> float | None:
        """Host time at which to send the next probe (None: not before frames arrive)."""
        if self._next is None:
            return None
        if self._out is not None:  # one probe at a time; a lost one is given up after a while
            return max(self._next, self._out + PROBE_TIMEOUT_S)
        return self._next

    def mark_sent(self, t_s: float) -> None:
        self._out = t_s
        seg = self.clock.seg
        young = seg is None or not seg.px or seg.px[-1] - seg.px[0] < PROBE_FAST_FOR_S
        every = min(self.every_s, PROBE_FAST_S) if young else self.every_s
        self._next = t_s + every * self._rng.uniform(0.5, 1.5)
        self.sent += 1

    def take_answer(self, board_s: float, recv_s: float) -> bool:
        """The outstanding probe's answer: feed the clock."""
        if self._out is None:
            return False
        t_s, self._out = self._out, None
        if not self.clock.probe(board_s, t_s, recv_s):
            return False
        self.answered += 1
        return True


class TimeProbe(ProbePolicy):
    """The policy on a stream session's channel: sends CMD_TIME, matches ACKs by command seq.
    Stops for good at a NAK (firmware without CMD_TIME)."""

    def __init__(self, clock: BoardClock, enabled: bool, seed: int = 0) -> None:
        super().__init__(clock, seed=seed)
        self.enabled = enabled
        self._seq: int | None = None

    def wake_in(self, now: float) -> float | None:
        """Seconds until a probe is due (for the session's select timeout)."""
        t = self.due_at() if self.enabled else None
        return None if t is None else max(0.0, t - now)

    def tick(self, now: float, send, host_now) -> None:
        """Send the probe when it is due."""
        t = self.due_at() if self.enabled else None
        if t is None or now < t:
            return
        t_s = host_now()  # before the write: a lower bound on when the board reads it
        self._seq = send(P.CMD_TIME)
        self.mark_sent(t_s)

    def answer(self, msg: Message, now: float, hello: Hello | None) -> None:
        """Take a frame: the first starts the timer; an ACK (or NAK) to CMD_TIME answers."""
        if not self.enabled:
            return
        self.on_receive(now)
        if not isinstance(msg, Ack | Nak) or msg.cmd != P.CMD_TIME:
            return
        if isinstance(msg, Nak):
            self.enabled = False  # the firmware does not know CMD_TIME: frames only
            return
        if msg.cmd_seq != self._seq or hello is None:
            return  # a stale answer (its probe timed out): its send time is gone
        self._seq = None
        speed = float((hello.extra.get("replay") or {}).get("speed", 1.0) or 1.0)
        b = board_time_s(msg.reply, hello.rate, speed)
        if b is not None:
            self.take_answer(b, now)
