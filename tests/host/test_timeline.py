"""Clock alignment (host/gaitloop/timeline.py) on simulated boards with known clocks.

Seeded simulations (gaitloop.sim.clocks): offsets up to 5 s, drift up to +-200 ppm, BLE
connection-event clumps, extra delays, host stalls, gaps and a reboot. The error of the live
mapping is measured on every frame received 30 s or more into a boot.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gaitloop.sim.clocks import ClockScenario, LinkModel, align_errors, phase_grid_ms, scenarios
from gaitloop.timeline import BoardClock, fit_lower_envelope, lower_hull
from gaitloop.timeprobe import PROBE_EVERY_S

SCENARIOS = {sc.name: sc for sc in scenarios()}


@pytest.mark.parametrize("name", [n for n, sc in SCENARIOS.items() if phase_grid_ms(sc) <= 2.5])
def test_error_under_2ms_after_30s(name: str) -> None:
    """USB, BLE at 7.5 ms and 28.75 ms (with gaps, a reboot, heavy outliers): under 2 ms."""
    sc = SCENARIOS[name]
    for kind, err in align_errors(sc).items():
        assert len(err) > 300, kind
        worst = np.abs(err).max() * 1000
        # 7.5 ms with almost no drift may sit up to the 2.5 ms phase grid (see phase_grid_ms)
        limit = 2.0 if (phase_grid_ms(sc) < 2.0 or abs(sc.drift_ppm) >= 100 or kind == "offline") else 2.5
        assert worst < limit, f"{kind}: {worst:.3f} ms"


@pytest.mark.parametrize("name", [n for n, sc in SCENARIOS.items() if phase_grid_ms(sc) > 2.5])
def test_error_within_phase_grid(name: str) -> None:
    """At 15 / 30 ms intervals the one-way bound is the phase grid (5 / 10 ms): never worse."""
    sc = SCENARIOS[name]
    err = align_errors(sc)
    g = phase_grid_ms(sc)
    assert np.abs(err["live"]).max() * 1000 < g + 1.0
    assert np.abs(err["offline"]).max() * 1000 < g + 1.0


@pytest.mark.parametrize("seed", range(6))
def test_random_offsets_and_drift(seed: int) -> None:
    """Offsets up to seconds and drift up to 200 ppm drawn at random (seeded), serial link."""
    rng = np.random.default_rng(seed)
    sc = ClockScenario(f"rand{seed}", offset_s=float(rng.uniform(0, 5)),
                       drift_ppm=float(rng.uniform(-200, 200)),
                       link=LinkModel("usb", 1.0, per_event=64, stack_mean_ms=0.5), seconds=60, seed=seed)
    err = align_errors(sc)["live"]
    assert np.abs(err).max() < 0.002


def test_estimates_drift_and_offset() -> None:
    sc = ClockScenario("d", offset_s=2.5, drift_ppm=-180, link=LinkModel("ble7.5", 7.5), seconds=60)
    from gaitloop.sim.clocks import HOST_EPOCH, simulate

    clock = BoardClock()
    for p in simulate(sc):
        clock.observe(p.board_s, p.host_s)
    fit = clock.fit
    assert fit is not None
    assert abs(fit.drift_ppm - (-180)) < 20
    assert abs(fit.to_host(0.0) - (HOST_EPOCH + 2.5)) < 0.003


def test_late_points_never_pull_the_line() -> None:
    """A burst of very late frames (a host stall, a resend) leaves the fit where it was."""
    clock = BoardClock()
    for i in range(400):
        clock.observe(i * 0.1, 1000.0 + i * 0.1)
    before = clock.to_host(40.0)
    for i in range(400, 450):
        clock.observe(i * 0.1, 1000.0 + i * 0.1 + 3.0)
    assert clock.to_host(40.0) == pytest.approx(before, abs=1e-9)


def test_resend_is_not_a_reboot_but_a_reboot_is() -> None:
    clock = BoardClock()
    t = 1000.0
    for i in range(300):  # 30 s
        clock.observe(i * 0.1, t + i * 0.1)
    # a resend of the last 5 s, arriving within 0.5 s, then the stream goes on
    for k, i in enumerate(range(250, 300)):
        clock.observe(i * 0.1, t + 30.0 + k * 0.01)
    for i in range(300, 320):
        clock.observe(i * 0.1, t + i * 0.1)
    assert clock.restarts == 0
    assert clock.to_host(31.0) == pytest.approx(t + 31.0, abs=1e-6)
    # a reboot: board time starts over 0.8 s after the last frame
    t2 = t + 32.0 + 0.8
    for i in range(60):
        clock.observe(i * 0.1, t2 + i * 0.1)
    assert clock.restarts == 1
    assert clock.to_host(5.0) == pytest.approx(t2 + 5.0, abs=1e-6)


def test_boot_event_restarts_at_once() -> None:
    clock = BoardClock()
    for i in range(100):
        clock.observe(i * 0.1, 50.0 + i * 0.1)
    clock.reset()
    clock.observe(0.0, 70.0)
    assert clock.to_host(0.0) == pytest.approx(70.0)


def test_points_below_the_line_mean_a_clock_jump() -> None:
    """One impossible early frame is dropped; several in a row restart the segment."""
    clock = BoardClock()
    for i in range(100):
        clock.observe(i * 0.1, 10.0 + i * 0.1)
    clock.observe(10.0, 10.0 + 10.0 - 0.5)  # 0.5 s early: impossible
    assert clock.dropped_below == 1 and clock.restarts == 0
    assert clock.to_host(5.0) == pytest.approx(15.0)
    for i in range(101, 110):  # the board clock really jumped ahead by 0.5 s
        clock.observe(i * 0.1 + 0.5, 10.0 + i * 0.1)
    assert clock.restarts == 1
    assert clock.to_host(11.0) == pytest.approx(10.0 + 10.5, abs=1e-6)


def test_lower_hull_and_lp_fit() -> None:
    xs = [0.0, 1.0, 2.0, 3.0, 4.0]
    ys = [0.0, 0.5, 0.05, 0.7, 0.2]
    assert lower_hull(xs, ys) == [0, 2, 4]
    a, b = fit_lower_envelope(xs, ys)
    assert (a, b) == pytest.approx((0.0, 0.025))
    assert all(y >= a + b * x - 1e-12 for x, y in zip(xs, ys, strict=True))


def test_a_declared_latency_floor_is_subtracted() -> None:
    """A link whose every frame waits a known time (a BLE board's flush timer) declares it;
    receive times alone cannot show a constant delay."""
    clock = BoardClock(latency_s=0.04)
    for i in range(100):
        clock.observe(i * 0.1, 500.0 + i * 0.1 + 0.04)
    assert clock.to_host(5.0) == pytest.approx(505.0)


# -- CMD_TIME probes (host/gaitloop/timeprobe.py): the 15 / 30 ms intervals -------------------

SLOW = [n for n, sc in SCENARIOS.items() if sc.link.interval_ms >= 15]


@pytest.mark.parametrize("name", SLOW)
def test_probes_beat_the_phase_grid(name: str) -> None:
    """At 15 / 30 ms the frames alone may be off by the whole phase grid (5 / 10 ms); with
    probes (every ~0.1 s for a minute, then ~0.25 s) the live mapping is within 2 ms after 30 s."""
    sc = SCENARIOS[name]
    err = np.abs(align_errors(sc, probe_every_s=PROBE_EVERY_S)["live"]) * 1000
    assert len(err) > 400
    assert err.mean() < 1.2, f"mean {err.mean():.3f} ms"
    assert err.max() < 2.0, f"max {err.max():.3f} ms"


def test_probes_fix_the_worst_phase() -> None:
    """The case receive times cannot resolve (first frames 9 ms before a connection event,
    10 ppm drift): ~9.9 ms without probes, under 2 ms with them."""
    sc = SCENARIOS["ble 30 ms, +10 ppm, worst phase"]
    assert np.abs(align_errors(sc)["live"]).min() * 1000 > 9.0
    assert np.abs(align_errors(sc, probe_every_s=PROBE_EVERY_S)["live"]).max() * 1000 < 2.0


def test_probes_over_many_seeds_typically_under_2ms() -> None:
    """Spread over other seeds (deterministic): the worst case after 30 s is under 2 ms at
    15 / 30 ms but for the odd draw whose tight probes come late, which stays far under the grid."""
    worst = []
    for name in ("ble 15 ms, -200 ppm", "ble 30 ms, +120 ppm", "ble 30 ms, 2 packets/event"):
        for seed in range(6):
            sc = dataclasses.replace(SCENARIOS[name], seed=200 + seed)
            worst.append(np.abs(align_errors(sc, probe_every_s=PROBE_EVERY_S)["live"]).max() * 1000)
    assert float(np.median(worst)) < 1.5, worst
    assert sum(w > 2.0 for w in worst) <= 1, worst
    assert max(worst) < 3.0, worst


def test_probe_bounds_are_two_sided() -> None:
    """A probe is a lower bound (the board read its clock after the host sent): frames alone
    put the line on their lowest receive times (a constant 8 ms link delay is invisible); a
    few probes with a short round trip pull it down to the truth."""
    frames = BoardClock()
    clock = BoardClock()
    for i in range(300):  # 30 s, every frame delayed exactly 8 ms
        frames.observe(i * 0.1, 100.0 + i * 0.1 + 0.008)
        clock.observe(i * 0.1, 100.0 + i * 0.1 + 0.008)
        if i % 5 == 0:  # a probe sent 0.3 ms before the board read its clock
            b = i * 0.1 + 0.05
            assert clock.probe(b, 100.0 + b - 0.0003, 100.0 + b + 0.030)
    assert frames.to_host(29.0) == pytest.approx(129.008, abs=1e-6)
    assert clock.to_host(29.0) == pytest.approx(129.0, abs=0.0005)
    assert clock.fit is not None and clock.fit.probed


def test_probe_from_another_clock_is_refused() -> None:
    """A probe the frames contradict (the line would have to rise above frames already
    received: a reboot mid round trip) is dropped, not fitted."""
    clock = BoardClock()
    for i in range(100):
        clock.observe(i * 0.1, 50.0 + i * 0.1)
    assert not clock.probe(5.0, 50.0 + 5.0 + 0.5, 50.0 + 5.0 + 0.6)
    assert clock.probes_rejected == 1 and clock.fit is not None and not clock.fit.probed


def test_latency_floor_is_not_subtracted_from_a_probed_fit() -> None:
    clock = BoardClock(latency_s=0.04)
    for i in range(100):
        clock.observe(i * 0.1, 500.0 + i * 0.1 + 0.04)
    for k in range(10):
        b = 9.0 + k * 0.05
        assert clock.probe(b, 500.0 + b - 0.0002, 500.0 + b + 0.05)
    assert clock.to_host(5.0) == pytest.approx(505.0, abs=0.0005)


def test_young_segment_mapping_error_stays_within_the_jitter() -> None:
    """The online mapping in the first seconds. Frames every 100 ms of board time wait for a
    connection event; over the first 1.2 s their wait happens to slide from 15 ms to 0 (the
    frame grid beating against the event grid), then it is random in 0-15 ms. A slope taken from
    that first stretch is 1.2 % off; held until the 5 s refit it put ~45 ms into `to_host`
    (as `bench_serve_latency.py --ble` showed). Refitting once a quarter of the span has passed
    keeps the error within about one jitter."""
    rng = np.random.default_rng(7)
    clock = BoardClock()
    worst = 0.0
    for k in range(1, 121):  # 12 s
        board_s = 0.1 * k
        true_host = 1000.0 + board_s * (1 + 50e-6)
        wait = 0.015 * (1 - board_s / 1.2) if board_s <= 1.2 else rng.uniform(0.0, 0.015)
        clock.observe(board_s, true_host + wait + 0.001)
        if k > 3:  # a few points in: an offset exists
            worst = max(worst, abs(clock.to_host(board_s) - true_host))
    assert worst < 0.020, f"young-segment mapping off by {worst * 1000:.1f} ms"


def test_a_slope_band_keeps_a_late_first_half_from_tilting_the_fit():
    """A board that sent 30 ms late for its first 6 s (a starved process), on time after: the
    free lower envelope tilts (its hull edge over the mean joins the late and the on-time
    points); within the band the slope is the clock's (its nominal +-500 ppm), and the line
    is still under every point."""
    from gaitloop.timeline import fit_lower_envelope, slope_band

    xs = [i * 0.4 for i in range(30)]  # board s of a replay at 4x: 0.1 host s per point
    ys = [0.25 * x + (0.030 if x < 6.0 else 0.0) for x in xs]
    _, free = fit_lower_envelope(xs, ys)
    a, b = fit_lower_envelope(xs, ys, band=slope_band(0.25))
    assert abs(free / 0.25 - 1) > 5e-3 and abs(b / 0.25 - 1) <= 500e-6 + 1e-12
    assert all(y >= a + b * x - 1e-12 for x, y in zip(xs, ys, strict=True))
    assert max(abs(a + b * x - 0.25 * x) for x in xs if x >= 6.0) < 0.002


def test_a_hello_gives_the_clock_its_nominal_rate():
    """A replay's HELLO (4x): the first second's prior slope is 1/4 and the fits stay within
    500 ppm of it; a board without a replay: 1."""
    from gaitloop.messages import Hello
    from gaitloop.timeline import BoardClock, nominal_slope

    def hello(extra: dict) -> Hello:
        return Hello("d", "knee", "left", "fw", 1, 100, (), (), (), extra)

    assert nominal_slope(hello({})) == 1.0 and nominal_slope(None) == 1.0
    assert nominal_slope(hello({"replay": {"speed": 4.0}})) == 0.25
    clock = BoardClock()
    clock.set_nominal(nominal_slope(hello({"replay": {"speed": 4.0}})))
    clock.observe(10.0, 100.0)
    clock.observe(10.4, 100.1)  # 0.4 s of board time: the prior's slope, not a fit
    assert clock.fit.slope == 0.25 and clock.to_host(12.0) == pytest.approx(100.5)
    for i in range(2, 60):  # frames 0-20 ms late at random-looking phases: slope within the band
        clock.observe(10.0 + 0.4 * i, 100.0 + 0.1 * i + 0.020 * ((i * 7) % 3 == 0))
    assert abs(clock.fit.slope / 0.25 - 1) <= 500e-6 + 1e-12
