"""uvicorn's server with a Ctrl-C that always ends `gaitloop serve` as the CLI's other
commands end (exit status 130, "interrupted").

Why not uvicorn's own: after its graceful shutdown uvicorn re-raises a caught SIGINT with
`signal.raise_signal`, into the handler that was there before it, which under
`asyncio.run` is asyncio's own: that one cancels the main task, or raises KeyboardInterrupt
wherever the main thread happens to be, depending on whether the task has finished when the
handler runs. Once, on a loaded machine, `serve` exited 0 after a Ctrl-C. Here the signals
only start the shutdown and are recorded; `interrupted` says whether Ctrl-C was among them,
and the caller raises KeyboardInterrupt itself once the server is down.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator
from types import FrameType

import uvicorn


class Server(uvicorn.Server):
    """`uvicorn.Server` whose SIGINT/SIGTERM start the shutdown and are never re-raised."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.signals: list[int] = []

    @property
    def interrupted(self) -> bool:
        return signal.SIGINT in self.signals

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.signals.append(sig)
        super().handle_exit(sig, frame)  # the first starts the shutdown, a second Ctrl-C forces it

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
