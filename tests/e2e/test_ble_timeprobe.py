"""CMD_TIME over the virtual BLE link: the real firmware under MicroPython answers the stream
session's clock probes, and the probed mapping obeys causality against every frame."""

from __future__ import annotations

import pytest

from gaitloop.link.ble_link import BleLink
from gaitloop.messages import Samples
from gaitloop.stream import StreamSession
from gaitloop.timeline import last_sample_s
from tests.e2e.test_ble import _board, _pump

pytestmark = pytest.mark.micropython


def test_stream_probes_the_board_clock_over_ble():
    vb = _board(device="ble-probe", speed=2.0)
    got: list[tuple[float, float]] = []  # (board s of a frame's last sample, receive time)

    def sink(_i, ch, frame, msg):
        if isinstance(msg, Samples) and ch.state.hello is not None:
            got.append((last_sample_s(frame.t_ms, len(msg.counts), ch.state.hello.rate),
                        session.host_now()))

    try:
        link = BleLink(vb.ble_name(), vb.ble_transport)
        session = StreamSession([link], sinks=[sink])
        ch = session.channels[0]
        session.open()
        _pump(session, 8.0)
        probe, clock = ch.probe, ch.clock
        fit = clock.fit
        session.close()
    finally:
        vb.stop()
    assert probe.enabled and probe.sent >= 15, probe.sent
    assert probe.answered >= probe.sent * 0.8, (probe.answered, probe.sent)
    # a virtual board on a loaded 2-core machine runs its sampler late at times; a probe answered
    # then contradicts the frames and is dropped by design (it failed 3 of 7 runs asserting 0)
    assert clock.probes_rejected <= max(2, probe.answered // 4), (clock.probes_rejected, probe.answered)
    assert fit is not None and fit.probed
    # a replay at 2x: two board seconds per host second, seen by the probes' line
    assert fit.slope == pytest.approx(0.5, rel=0.01)
    # causality: no frame of the last 8 board s (4 s) was received before its last sample was taken
    late = [(b, t) for b, t in got if b >= got[-1][0] - 8.0]
    assert len(late) > 30
    early = [t - fit.to_host(b) for b, t in late]
    assert min(early) > -0.002, min(early)
