"""`gaitloop serve`'s uvicorn server: its signals start the shutdown, are recorded, and are
never re-raised (a re-raised SIGINT under asyncio.run once ended `serve` with status 0)."""

from __future__ import annotations

import signal

import uvicorn

from gaitloop.web.uvserver import Server


def _app(scope, receive, send):  # noqa: ANN001, ANN202 - a do-nothing ASGI app
    raise AssertionError("not served")


def test_signals_are_recorded_and_handlers_restored_without_a_re_raise():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    server = Server(uvicorn.Config(_app))
    with server.capture_signals():
        assert signal.getsignal(signal.SIGINT) == server.handle_exit
        signal.raise_signal(signal.SIGINT)  # the handler runs in this (main) thread
        assert server.should_exit and not server.force_exit
    # leaving did not raise KeyboardInterrupt (uvicorn's own would re-raise it here)
    assert server.interrupted and server.signals == [signal.SIGINT]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_sigterm_alone_is_not_an_interrupt_and_a_second_ctrl_c_forces_the_exit():
    server = Server(uvicorn.Config(_app))
    with server.capture_signals():
        signal.raise_signal(signal.SIGTERM)
        assert server.should_exit and not server.interrupted
        signal.raise_signal(signal.SIGINT)
        assert server.force_exit
    assert server.signals == [signal.SIGTERM, signal.SIGINT] and server.interrupted
