"""Simulated board clocks and link latency, to measure the timeline's alignment error.

Why a simulation: the error of a clock estimate needs the true mapping, which no real link
gives. Here each board boots at a known host time with a known crystal error, stamps SAMPLES
frames exactly as the firmware does (every 10 samples at 100 Hz, stamped at the last one),
and the link delivers them the way BLE and USB do: held until the next connection event
(BLE: every 7.5-30 ms, at most a few packets per event) or USB frame (1 ms), then handed to
the host in one clump after a random stack delay, sometimes late, rarely very late (a host
stall delays everything queued behind it). Gaps drop frames; a reboot restarts the clock.

Probes (CMD_TIME, `probe_every_s`): the host sends one every ~0.25 s (jittered, so it leaves
at a random phase against the connection events), after a host stack delay it reaches the
controller and goes out at the next connection event; the board stamps its arrival in the
write IRQ (ticks_us, within ~0.2 ms) and answers when its pump gets to it (up to 15 ms
later), with the board time at the stamp; the ACK leaves at the next connection event after that (write without response or write request: the board's handling
time is the same, only the radio's reply differs), then host stack, extra delay, stalls.
Board time has ticks_us' 1 us resolution.

Used by tests/host/test_timeline.py and tools/bench/bench_align.py (seeded, deterministic).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

import numpy as np

from gaitloop.timeline import BoardClock, SegmentFits
from gaitloop.timeprobe import ProbePolicy

HOST_EPOCH = 1.8e9  # unix seconds: the stream session's clock is unix-like, test float precision


@dataclass(frozen=True)
class LinkModel:
    """How frames reach the host. `interval_ms`: BLE connection interval, or 1 for USB."""

    name: str = "ble30"
    interval_ms: float = 30.0
    per_event: int = 4  # packets a connection event carries (frames beyond wait for the next)
    stack_mean_ms: float = 1.0  # host stack + poll delay of a clump, exponential
    extra_p: float = 0.05  # share of clumps delayed further ...
    extra_max_ms: float = 40.0  # ... by up to this
    stall_per_s: float = 0.02  # host stalls per second (GC, scheduling) ...
    stall_max_s: float = 2.0  # ... each up to this long: frames queue behind it


@dataclass(frozen=True)
class ClockScenario:
    name: str
    offset_s: float = 1.3  # board boot, host seconds after HOST_EPOCH
    drift_ppm: float = 150.0  # + : the board's crystal runs fast
    link: LinkModel = field(default_factory=LinkModel)
    seconds: float = 90.0
    gaps: tuple[tuple[float, float], ...] = ()  # host seconds after boot with the link down
    reboot_at: float | None = None  # host seconds after boot
    reboot_delay_s: float = 0.7
    rate_hz: int = 100
    frame_samples: int = 10
    seed: int = 1
    phase_ms: float | None = None  # the shortest wait a first frame sees (None: random)


@dataclass
class Point:
    board_s: float  # last sample of the frame, board clock
    host_s: float  # receive time on the host
    true_s: float  # true host time of board_s
    segment: int  # which boot of the board
    seg_start: float  # host time that boot started


@dataclass
class Probe:
    board_s: float  # the board's sample clock when it handled the command
    sent_s: float  # host send time
    recv_s: float  # host receive time of the ACK
    segment: int


def simulate(sc: ClockScenario) -> list[Point]:
    """Receive-ordered points of one board over `sc.seconds` of host time."""
    return simulate_with_probes(sc)[0]


def simulate_with_probes(sc: ClockScenario) -> tuple[list[Point], ProbeLink]:
    """Points as `simulate` (the same ones), and the link a CMD_TIME probe takes."""
    rng = random.Random(sc.seed)
    k = 1.0 + sc.drift_ppm * 1e-6
    boots = [HOST_EPOCH + sc.offset_s]
    if sc.reboot_at is not None:
        boots.append(boots[0] + sc.reboot_at + sc.reboot_delay_s)
    end = boots[0] + sc.seconds
    # frames in send order
    sent: list[tuple[float, float, float, int, float]] = []  # send, board, true, seg, start
    for seg, boot in enumerate(boots):
        stop = boots[seg + 1] - sc.reboot_delay_s if seg + 1 < len(boots) else end
        i = sc.frame_samples - 1
        while True:
            board = i / sc.rate_hz
            true = boot + board / k
            if true >= stop:
                break
            send = true + rng.expovariate(1 / 0.0002)  # board framing + queueing
            down = any(boots[0] + g0 <= send < boots[0] + g1 for g0, g1 in sc.gaps)
            if not down:
                sent.append((send, board, true, seg, boot))
            i += sc.frame_samples
    # the link: connection events / USB frames at host rate, a random phase
    link = sc.link
    iv = link.interval_ms / 1000.0
    phase = rng.random() * iv
    if sc.phase_ms is not None:  # the first frame leaves phase_ms before a connection event
        phase = ((sc.frame_samples - 1) / sc.rate_hz + sc.phase_ms / 1000.0) % iv
    stalls: list[tuple[float, float]] = []
    t = boots[0]
    while link.stall_per_s > 0:
        t += rng.expovariate(link.stall_per_s)
        if t >= end + 5:
            break
        stalls.append((t, t + rng.uniform(0.05, link.stall_max_s)))
    out: list[Point] = []
    event_i = -1
    used = 0
    event_delay = 0.0
    for send, board, true, seg, boot in sent:
        j = max(math.ceil((send - boots[0] - phase) / iv), event_i)
        if j == event_i and used >= link.per_event:
            j += 1
        if j != event_i:
            event_i, used = j, 0
            event_delay = rng.expovariate(1000.0 / link.stack_mean_ms)
            if rng.random() < link.extra_p:
                event_delay += rng.uniform(0, link.extra_max_ms / 1000.0)
        used += 1
        recv = boots[0] + phase + j * iv + event_delay
        for s0, s1 in stalls:
            if s0 <= recv < s1:
                recv = s1
        # links deliver in order: a late clump holds back the ones behind it
        recv = max(recv, out[-1].host_s) if out else recv
        out.append(Point(board, recv, true, seg, boot))
    return out, ProbeLink(sc, boots, k, phase, iv, stalls)


class ProbeLink:
    """The path of one CMD_TIME probe through the simulated link and board (its own random
    stream, so probes leave the frames' timing unchanged)."""

    def __init__(self, sc: ClockScenario, boots: list[float], k: float, phase: float, iv: float,
                 stalls: list[tuple[float, float]]) -> None:
        self.sc, self.boots, self.k, self.iv, self.stalls = sc, boots, k, iv, stalls
        self.t0 = boots[0] + phase
        self.rng = random.Random(sc.seed * 7919 + 17)

    def stalled(self, t: float) -> float:
        """When a host that means to act at `t` does (after a stall it is caught in)."""
        for s0, s1 in self.stalls:
            if s0 <= t < s1:
                return s1
        return t

    def _down(self, t: float) -> bool:
        b0 = self.boots[0]
        if any(b0 + g0 <= t < b0 + g1 for g0, g1 in self.sc.gaps):
            return True
        return any(b - self.sc.reboot_delay_s <= t < b for b in self.boots[1:])

    def send(self, sent: float) -> Probe | None:
        """A probe the host sends at `sent`: its answer, or None when the link lost it."""
        rng, iv, t0, link = self.rng, self.iv, self.t0, self.sc.link
        j = math.ceil((sent + rng.expovariate(1 / 0.0003) - t0) / iv)  # host stack -> radio
        # the board stamps the write in its IRQ (ticks_us): the scheduler runs it within
        # ~0.2 ms; the pump answers up to a tick (5 ms) and a sample later
        stamped = t0 + j * iv + rng.expovariate(1 / 0.0002)
        handled = stamped + rng.uniform(0.0, 0.015)
        m = max(math.ceil((handled - t0) / iv), j + 1)  # the ACK: a later connection event
        recv = t0 + m * iv + rng.expovariate(1000.0 / link.stack_mean_ms)
        if rng.random() < link.extra_p:
            recv += rng.uniform(0, link.extra_max_ms / 1000.0)
        recv = self.stalled(recv)
        if self._down(handled) or self._down(t0 + m * iv):
            return None
        seg = max(i for i, b in enumerate(self.boots) if b <= stamped)
        return Probe(round((stamped - self.boots[seg]) * self.k, 6), sent, recv, seg)


def align_errors(sc: ClockScenario, settle_s: float = 30.0, probe_every_s: float = 0.0) -> dict[str, np.ndarray]:
    """Alignment errors (s) of points at least `settle_s` into their boot:
    `live` (the online mapping when the frame arrived) and `offline` (export's hindsight,
    which has no probes). With `probe_every_s`, the live clock also takes CMD_TIME probes."""
    pts, plink = simulate_with_probes(sc)
    clock = BoardClock(keep_history=True)
    policy = ProbePolicy(clock, probe_every_s, seed=sc.seed) if probe_every_s > 0 else None
    acks: list[tuple[float, int, Probe]] = []  # heap by receive time
    live, seg_of = [], []
    for p in pts:
        while policy is not None:  # the host's probe traffic up to this frame's arrival
            t_send = policy.due_at()
            t_ack = acks[0][0] if acks else math.inf
            if t_send is not None and t_send <= min(t_ack, p.host_s):
                t_s = plink.stalled(t_send)
                policy.mark_sent(t_s)
                q = plink.send(t_s)
                if q is not None:
                    heapq.heappush(acks, (q.recv_s, policy.sent, q))
            elif t_ack <= p.host_s:
                q = heapq.heappop(acks)[2]
                policy.take_answer(q.board_s, q.recv_s)
                policy.on_receive(q.recv_s)
            else:
                break
        sid = clock.observe(p.board_s, p.host_s)
        if policy is not None:
            policy.on_receive(p.host_s)
        seg_of.append(sid)
        if p.host_s - p.seg_start < settle_s:
            continue
        est = clock.to_host(p.board_s)
        live.append(np.inf if est is None or clock.seg is None or clock.seg.first_host < p.seg_start
                     else est - p.true_s)
    fits = {s.id: SegmentFits(s) for s in clock.segments}
    offline = []
    for p, sid in zip(pts, seg_of, strict=True):
        if p.host_s - p.seg_start < settle_s:
            continue
        sid = clock.merged.get(sid, sid)
        offline.append(fits[sid].to_host(p.board_s) - p.true_s if sid in fits else np.inf)
    return {"live": np.asarray(live), "offline": np.asarray(offline)}


def phase_grid_ms(sc: ClockScenario) -> float:
    """The resolution one-way receive times allow when the relative drift is ~0: frames leave on
    the board's frame period P, the link delivers on its interval I, so the wait before the
    first delivery takes only the values phi + k * gcd(P, I); phi in [0, gcd) is unobservable
    until drift slides it. Frame stamps carry no finer time, so no estimator on receive times
    does better in the worst case: 10 ms at P = 100 ms, I = 30 ms; 1.25 ms at I = 28.75 ms."""
    p = Fraction(sc.frame_samples * 1000, sc.rate_hz)
    i = Fraction(sc.link.interval_ms).limit_denominator(1000)
    return float(Fraction(gcd(p.numerator * i.denominator, i.numerator * p.denominator),
                          p.denominator * i.denominator))


def scenarios() -> list[ClockScenario]:
    """The benchmark's and the tests' scenarios: offsets up to seconds, drift up to +-200 ppm,
    BLE clumps at 7.5 / 15 / 30 ms (and 28.75 ms, incommensurate with the 100 ms frames),
    USB, gaps, a reboot, heavy outliers, a crowded connection."""
    ble = {iv: LinkModel(f"ble{iv:g}", iv) for iv in (7.5, 15.0, 28.75, 30.0)}
    bad = {"extra_p": 0.3, "extra_max_ms": 200.0, "stall_per_s": 0.1, "stall_max_s": 3.0}
    return [
        ClockScenario("usb serial, -150 ppm", offset_s=1.1, drift_ppm=-150,
                      link=LinkModel("usb", 1.0, per_event=64, stack_mean_ms=0.5), seed=5),
        ClockScenario("ble 7.5 ms, +200 ppm", offset_s=0.4, drift_ppm=200, link=ble[7.5], seed=1),
        ClockScenario("ble 7.5 ms, -20 ppm", offset_s=3.3, drift_ppm=-20, link=ble[7.5], seed=11),
        ClockScenario("ble 15 ms, -200 ppm", offset_s=3.7, drift_ppm=-200, link=ble[15.0], seed=2),
        ClockScenario("ble 28.75 ms, +30 ppm", offset_s=2.6, drift_ppm=30, link=ble[28.75], seed=9),
        ClockScenario("ble 30 ms, +120 ppm", offset_s=2.2, drift_ppm=120, link=ble[30.0], seed=3),
        ClockScenario("ble 30 ms, -200 ppm", offset_s=4.9, drift_ppm=-200, link=ble[30.0], seed=10),
        ClockScenario("ble 30 ms, +10 ppm", offset_s=1.9, drift_ppm=10, link=ble[30.0], seed=13),
        ClockScenario("ble 30 ms, +10 ppm, worst phase", offset_s=1.9, drift_ppm=10, link=ble[30.0],
                      phase_ms=9.0, seed=13),
        ClockScenario("ble 30 ms, 2 packets/event", offset_s=5.0, drift_ppm=-80,
                      link=LinkModel("ble30x2", 30.0, per_event=2), seed=4),
        ClockScenario("ble 7.5 ms, gaps 5 s + 12 s", offset_s=0.9, drift_ppm=190, link=ble[7.5],
                      gaps=((20.0, 25.0), (40.0, 52.0)), seconds=100.0, seed=6),
        ClockScenario("ble 7.5 ms, reboot at 25 s", offset_s=4.4, drift_ppm=-170, link=ble[7.5],
                      reboot_at=25.0, seconds=100.0, seed=7),
        ClockScenario("ble 7.5 ms, heavy outliers", offset_s=2.8, drift_ppm=200,
                      link=LinkModel("ble7.5bad", 7.5, **bad), seed=8),
        ClockScenario("usb serial, gaps + reboot + outliers", offset_s=1.7, drift_ppm=200,
                      link=LinkModel("usbbad", 1.0, per_event=64, stack_mean_ms=0.5, **bad),
                      gaps=((12.0, 15.0),), reboot_at=40.0, seconds=110.0, seed=12),
    ]
