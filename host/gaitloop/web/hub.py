"""The stream thread and the fan-out to pages.

Why this shape: the recorder must never wait for a browser. The StreamSession runs in its own
thread exactly as in `gaitloop stream`; every FRAME_S it builds one display frame and hands it
to the event loop with `call_soon_threadsafe` (never blocks). There each page has a bounded
queue; a full queue drops the display frame and counts it. Recording start/stop requests go
the other way through a thread-safe queue that the stream thread serves in its tick, so only
that thread ever touches the Recorder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from gaitfw import protocol as P
from gaitloop.errors import GaitloopError
from gaitloop.record import Recorder
from gaitloop.stream import StreamSession
from gaitloop.web.display import DisplayBuilder

#: a display frame goes out when new data arrived and this long passed since the last one
#: (at most 25 frames/s: more costs the stream thread CPU on a busy machine, tests/web/test_load.py)
FRAME_S = 0.04
#: ... and at least this often without new data (link health, a silent board)
IDLE_FRAME_S = 0.25
#: the stream thread's select timeout: a held-back frame waits at most this for the next tick
POLL_S = 0.02
#: display frames a page may have pending before new ones are dropped (2 s of frames)
CLIENT_QUEUE = 50


class Client:
    """One page's WebSocket: a bounded queue and its drop count."""

    def __init__(self, maxsize: int = CLIENT_QUEUE) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)  # display frames as JSON text
        self.drops = 0
        self.sent = 0

    def offer(self, frame: str) -> bool:
        try:
            self.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            self.drops += 1
            return False


class Hub:
    """Owns the StreamSession thread, the page clients and the recording switch."""

    def __init__(self, session: StreamSession, sessions_dir: Path, meta: dict[str, Any] | None = None,
                 require_board: float | None = None) -> None:
        self.session = session
        # as `gaitloop stream`: a link with no gaitloop frame after this many seconds is an error
        self.require_board = require_board
        self.sessions_dir = Path(sessions_dir)
        self.meta = meta or {}
        self.display = DisplayBuilder()
        session.sinks.append(self.display)
        session.poll_timeout = POLL_S
        self.clients: set[Client] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.requests: queue.Queue[tuple[str, concurrent.futures.Future]] = queue.Queue()
        self.recording: dict[str, Any] | None = None
        self.frames = 0
        self.error: str | None = None
        self._last_frame = 0.0
        self._thread: threading.Thread | None = None

    # -- stream thread --------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._thread = threading.Thread(target=self._run, name="gaitloop-stream", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.session.run(None, on_tick=self._tick, require_board=self.require_board)
        except Exception as exc:  # noqa: BLE001 - shown on the page and in the terminal
            self.error = str(exc) if isinstance(exc, GaitloopError) else f"{type(exc).__name__}: {exc}"
            print(f"error: {self.error}", file=sys.stderr, flush=True)
            self._publish({"type": "error", "error": self.error})

    def _tick(self) -> None:
        while True:
            try:
                what, fut = self.requests.get_nowait()
            except queue.Empty:
                break
            try:
                fut.set_result(self._record_start() if what == "start" else self._record_stop())
            except Exception as exc:  # noqa: BLE001 - returned to the page as an error
                fut.set_exception(exc)
        now = time.monotonic()
        since = now - self._last_frame
        if (self.display.new and since >= FRAME_S) or since >= IDLE_FRAME_S:
            self._last_frame = now
            frame = self.display.frame(self.session.channels)
            frame["recording"] = self._recording_view()
            self._publish(frame)

    def _publish(self, frame: dict[str, Any]) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.frames += 1
            self.loop.call_soon_threadsafe(self._fanout, frame)

    def _fanout(self, frame: dict[str, Any]) -> None:
        if not self.clients:
            return
        text = json.dumps(frame, separators=(",", ":"))  # once for all pages
        for c in list(self.clients):
            c.offer(text)

    def _recording_view(self) -> dict[str, Any] | None:
        r = self.recording
        if r is None:
            return None
        return {"file": r["file"], "seconds": round(time.monotonic() - r["t0"], 1)}

    def _record_start(self) -> dict[str, Any]:
        if self.session.recorder is not None:
            return {"file": self.recording["file"] if self.recording else None, "already": True}
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.sessions_dir / f"session-{stamp}.glsession"
        n = 1
        while path.exists():
            n += 1
            path = self.sessions_dir / f"session-{stamp}-{n}.glsession"
        rec = Recorder(path, {**self.meta, "source": "gaitloop serve"})
        for ch in self.session.channels:
            rec.add_link(ch.id, {"port": ch.link.name, "latency_floor_s": ch.clock.latency_s})
            ch.send(P.CMD_HELLO)  # the recording gets each board's HELLO (channels, units, rate)
        self.session.recorder = rec
        self.recording = {"file": path.name, "path": str(path), "t0": time.monotonic()}
        return {"file": path.name}

    def _record_stop(self) -> dict[str, Any]:
        rec = self.session.recorder
        if rec is None:
            return {"file": None}
        for ch in self.session.channels:
            rec.add_stats(ch.id, ch.stats())
        rec.close()
        self.session.recorder = None
        r, self.recording = self.recording, None
        return {"file": r["file"] if r else None, "seconds": round(time.monotonic() - r["t0"], 1) if r else 0}

    # -- event loop side ------------------------------------------------------------------
    async def request(self, what: str, timeout: float = 5.0) -> dict[str, Any]:
        """Ask the stream thread to start or stop recording; wait for its answer."""
        if self.error is not None or self._thread is None or not self._thread.is_alive():
            raise RuntimeError(self.error or "the stream is not running")
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self.requests.put((what, fut))
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self.session.stop()
        if self._thread is not None:
            self._thread.join(timeout)
