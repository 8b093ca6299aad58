"""The server side of `gaitloop serve`: the stream process and the fan-out to pages.

Why this shape: the recorder must never wait for a browser, and the boards' bytes must not
wait for the server's GIL. The StreamSession runs in its own process (`worker.py`), which
sends display frames as JSON text over a bounded queue (full: the frame is dropped there,
never a sample). A reader thread here hands each frame to the event loop with
`call_soon_threadsafe`; each page has a bounded queue that drops display frames when full,
counted. Recording start/stop (and a board push) go the other way as requests that the
stream process serves between two polls, so only it ever touches the Recorder and the links.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing as mp
import queue
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gaitloop.errors import GaitloopError
from gaitloop.web import worker as W

#: display frames a page may have pending before new ones are dropped (2 s of frames)
CLIENT_QUEUE = 50
#: how long the stream process may take to open its links and say it is ready
READY_S = 60.0
#: how long a stopped stream process may take to close the recording before it is killed
STOP_S = 10.0


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
    """Owns the stream process, the page clients and the recording state the pages see."""

    def __init__(self, specs: list[str], sessions_dir: Path, meta: dict[str, Any] | None = None,
                 require_board: float | None = None, ble_transport: str | None = None) -> None:
        self.specs = list(specs)
        self.ble_transport = ble_transport
        # as `gaitloop stream`: a link with no gaitloop frame after this many seconds is an error
        self.require_board = require_board
        self.sessions_dir = Path(sessions_dir)
        self.meta = meta or {}
        self.clients: set[Client] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.recording: dict[str, Any] | None = None
        self.frames = 0  # display frames received from the stream process
        self.worker_stats: dict[str, Any] = {}  # its counters: frames built, dropped in the pipe
        self.push_progress: dict[str, Any] | None = None  # the last progress of a model push
        self.error: str | None = None
        self.pid: int | None = None
        self.closed: dict[str, Any] | None = None  # the stream process's last word
        ctx = mp.get_context("spawn")  # never fork a process that runs threads (uvicorn, bumble)
        # display frames: one datagram each (never torn), read by the event loop (start())
        self._frames, self._child_frames = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._child_frames.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, W.PIPE_BYTES)
        self._frames.setblocking(False)
        self._buf = bytearray(1 << 20)
        self._replies: Any = ctx.Queue()
        self._requests: Any = ctx.Queue()
        self._stop = ctx.Event()
        self._ctx = ctx
        self._proc: Any = None
        self._ready = threading.Event()
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self._running = True

    # -- the stream process -----------------------------------------------------------------
    def launch(self, timeout: float = READY_S) -> None:
        """Start the stream process and wait until its links are open: GaitloopError (one
        line) when a link cannot be opened, before the server binds."""
        self._proc = self._ctx.Process(
            target=W.run, name="gaitloop-stream", daemon=True,
            args=(self.specs, self.ble_transport, str(self.sessions_dir), self.meta, self.require_board,
                  self._child_frames, self._replies, self._requests, self._stop))
        self._proc.start()
        self._child_frames.close()  # the child holds its own copy
        self._spawn(self._read_replies, "gaitloop-replies")
        end = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.error is not None or not self._proc.is_alive() or time.monotonic() > end:
                self.stop()
                raise GaitloopError(self.error or "the stream process did not start "
                                    f"(exit code {self._proc.exitcode})")

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forward display frames to `loop`'s pages (launches the process if not yet)."""
        self.loop = loop
        if self._proc is None:
            self.launch()
        loop.add_reader(self._frames.fileno(), self._read_frames)

    def _spawn(self, target: Any, name: str) -> None:
        th = threading.Thread(target=target, name=name, daemon=True)
        th.start()
        self._threads.append(th)

    def _read_frames(self) -> None:
        """In the event loop, when the socket is readable: every frame waiting, to every page."""
        while True:
            try:
                n = self._frames.recv_into(self._buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._unwatch()
                return
            if n == 0:
                return
            self.frames += 1
            # when this process forwarded it (unix s; the bench's breakdown by stage)
            self._fanout(f'{self._buf[:n - 1].decode()},"fwd":{time.time():.4f}}}')

    def _unwatch(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.remove_reader(self._frames.fileno())
            except (ValueError, OSError):
                pass

    def _read_replies(self) -> None:
        while True:
            try:
                msg = self._replies.get(timeout=0.25)
            except queue.Empty:
                if not self._running and (self._proc is None or not self._proc.is_alive()):
                    return
                continue
            except (EOFError, OSError, ValueError):
                return
            kind = msg.get("type")
            if kind == "ready":
                self.pid = msg["pid"]
                self._ready.set()
            elif kind == "stats":
                self.worker_stats = msg
            elif kind == "push":  # a model push's progress: to every page as it happens
                self.push_progress = msg
                self._publish(json.dumps(msg))
            elif kind == "error":
                self.error = msg["error"]
                if self._ready.is_set():  # before that, launch() raises it (the CLI prints it)
                    print(f"error: {self.error}", file=sys.stderr, flush=True)
                self._publish(json.dumps({"type": "error", "error": self.error}))
                self._fail_pending(self.error)
            elif kind == "closed":
                self.closed = msg
                self.recording = None
                self._fail_pending(self.error or "the stream stopped")
            elif kind == "reply":
                waiter = self._pending.pop(msg["id"], None)
                if waiter is not None:
                    loop, fut = waiter
                    loop.call_soon_threadsafe(_settle, fut, msg)

    def _fail_pending(self, why: str) -> None:
        for rid in list(self._pending):
            loop, fut = self._pending.pop(rid)
            loop.call_soon_threadsafe(_settle, fut, {"ok": False, "error": why})

    def _publish(self, text: str) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._fanout, text)
            except RuntimeError:  # the loop closed meanwhile (shut-down)
                pass

    def _fanout(self, text: str) -> None:
        for c in list(self.clients):
            c.offer(text)

    # -- event loop side ------------------------------------------------------------------
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive() and self.closed is None

    async def request(self, what: str, args: Any = None, timeout: float = 5.0) -> dict[str, Any]:
        """Ask the stream process to start or stop recording (or push); wait for its answer.
        RuntimeError with the process's one-line reason when it refused or is not running."""
        if self.error is not None or not self.alive():
            raise RuntimeError(self.error or "the stream is not running")
        rid = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[rid] = (asyncio.get_running_loop(), fut)
        self._requests.put((what, rid, args))
        try:
            msg = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)
        if not msg["ok"]:
            raise RuntimeError(msg["error"])
        result = msg["result"]
        if what == "start" and result.get("file"):
            self.recording = {"file": result["file"]}
        elif what == "stop":
            self.recording = None
        return result

    def stop(self, timeout: float = STOP_S) -> None:
        """End the stream process: it closes the open recording with every sample it read.
        Killed only when it does not end within `timeout` (said on stderr)."""
        self._stop.set()
        proc = self._proc
        if proc is not None:
            proc.join(timeout)
            if proc.is_alive():
                print("error: the stream process did not stop; killed", file=sys.stderr, flush=True)
                proc.kill()
                proc.join(5)
        self._running = False
        if self.loop is not None:
            if self.loop.is_running():
                self.loop.call_soon_threadsafe(self._unwatch)
            else:
                self._unwatch()
        for th in self._threads:
            if th is not threading.current_thread():
                th.join(1.0)


def _settle(fut: asyncio.Future, msg: dict[str, Any]) -> None:
    if not fut.done():
        fut.set_result(msg)
