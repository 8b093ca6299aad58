"""Display frames and the page queues, without boards: the reduction and the drop rule."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gaitloop.cli_web import is_loopback, parse_listen
from gaitloop.errors import GaitloopError
from gaitloop.web.app import _authorized
from gaitloop.web.display import DISPLAY_HZ, BoardTrace
from gaitloop.web.hub import Client


def test_trace_is_block_means_across_frames():
    """100 Hz in frames of 7 samples -> 25 points/s, each the mean of 4 consecutive samples,
    the remainder carried into the next frame (no sample skipped or counted twice); a take
    also shows the unfinished block, so every sample received is drawn at once."""
    tr = BoardTrace()
    x = np.arange(100, dtype=float)[:, None] * np.array([[1.0, -1.0]])
    for i in range(0, 98, 7):
        tr.add(i / 100.0, 100, x[i:i + 7])
    t, v = tr.take()
    k = 100 // DISPLAY_HZ
    full = 98 // k
    assert len(t) == full + 1
    np.testing.assert_allclose(np.asarray(v)[:full, 0], x[: full * k, 0].reshape(-1, k).mean(axis=1))
    np.testing.assert_allclose(t[:full], np.arange(full) * k / 100.0, atol=1e-9)
    assert t[-1] == pytest.approx(full * k / 100.0) and v[-1][0] == pytest.approx(x[full * k:98, 0].mean())
    assert tr.shown_t == pytest.approx(0.97)
    assert tr.take() == ([], [])
    tr.add(0.98, 100, x[98:100])  # the next block starts afresh after a take
    t, v = tr.take()
    assert t == [0.98] and v[0][0] == pytest.approx(98.5)


def test_full_queue_drops_display_frames_and_counts_them():
    async def go() -> Client:
        c = Client(maxsize=3)
        for i in range(10):
            c.offer(str(i))
        return c

    c = asyncio.run(go())
    assert c.queue.qsize() == 3 and c.drops == 7
    assert [c.queue.get_nowait() for _ in range(3)] == ["0", "1", "2"]


def test_listen_and_loopback():
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("8765", "host:", "h:99999", ":80"):
        with pytest.raises(GaitloopError):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_token_check():
    assert _authorized(None, {}, {})
    assert _authorized("s3cret", {"token": "s3cret"}, {})
    assert _authorized("s3cret", {}, {"gaitloop_token": "s3cret"})
    assert not _authorized("s3cret", {}, {})
    assert not _authorized("s3cret", {"token": "nope"}, {})
