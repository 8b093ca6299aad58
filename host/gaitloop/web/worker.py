"""The stream process of `gaitloop serve`: links, decoder, recorder and display frames.

Why a process of its own: in one process the stream thread shared the GIL with uvicorn, the
page fan-out and (with BLE) the bumble stack; on 2 cores that put the display latency's p99
at 159 ms with three boards and once let a 10x replay's pty overflow. Here nothing but the
boards' bytes, the recorder and the display reduction runs, and the server process only
forwards the JSON text it receives (docs/benchmarks.md, "Web dashboard latency").

Channels (never waited on by the stream loop):
  frames  -> server: display frames as JSON text, one datagram each on a Unix socketpair,
             sent without blocking from this loop itself (no feeder thread: each hop is a
             wake-up, and on a loaded machine a wake-up costs milliseconds); the server's event
             loop reads the socket directly. Bounded by the socket's queue: full = the frame
             is dropped and counted; the recorder never waits (a sample is recorded before any
             display work).
  (the rest are `multiprocessing` queues)
  replies -> server: answers to requests, errors and the once-a-second stats; small, unbounded.
  requests <- server: ("start" | "stop" | "push", id, args), served between two polls, so only
             this process ever touches the Recorder and the links.
  stop    <- server: an Event; the loop ends, the recording is closed with every sample read.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from gaitfw import protocol as P
from gaitloop.errors import GaitloopError
from gaitloop.record import Recorder
from gaitloop.stream import StreamSession
from gaitloop.web.display import DisplayBuilder

#: a display frame goes out in the same loop turn that read new data (one `select` over all
#: links: what arrived together goes out together), spending a token of this bucket: at 1x
#: three boards send ~30 SAMPLES frames/s, so none waits; in a faster replay the pages get at
#: most FRAMES_PER_S (a page draws at most 60/s) and a frame waits at most 1 / FRAMES_PER_S
#: for its token, carrying everything read meanwhile
FRAMES_PER_S = 60.0
#: ... tokens saved up: three boards whose frames arrive within a few ms each go out at once
FRAME_BURST = 3.0
#: ... and at least this often without new data (link health, a silent board)
IDLE_FRAME_S = 0.25
#: the stream loop's select timeout when nothing is held back (requests, stats, idle frames)
POLL_S = 0.02
#: bytes of display frames in flight to the server process before new ones are dropped
#: (~1 s of frames at the most a page gets; Linux also caps the datagrams queued)
PIPE_BYTES = 256 * 1024
#: how often the server learns the worker's counters
STATS_S = 1.0


def describe(exc: BaseException) -> str:
    """One line for the page and the terminal."""
    return str(exc) if isinstance(exc, GaitloopError) else f"{type(exc).__name__}: {exc}"


class StreamWorker:
    """A StreamSession plus the display reduction and the recording switch. Runs in one
    thread only (the stream process's main thread); `emit` must never block."""

    def __init__(self, session: StreamSession, sessions_dir: Path, meta: dict[str, Any],
                 emit: Any, reply: Any, next_request: Any) -> None:
        self.session = session
        self.sessions_dir = Path(sessions_dir)
        self.meta = meta
        self.emit = emit  # (json text) -> bool: False when the frame was dropped
        self.reply = reply  # (dict) -> None
        self.next_request = next_request  # () -> (what, id, args) | None
        self.display = DisplayBuilder()
        session.sinks.append(self.display)
        session.poll_timeout = POLL_S
        self.recording: dict[str, Any] | None = None
        self.frames = 0
        self.dropped = 0
        self._last_frame = 0.0
        self._tokens = FRAME_BURST
        self._refill = time.monotonic()
        self._last_stats = 0.0
        self.extra_requests: dict[str, Any] = {}  # name -> handler(args) -> dict (the push)

    def tick(self, requests: bool = True) -> None:
        """Serve requests (not while one is being served: a push polls through here), then
        send a display frame when one is due."""
        while requests and (req := self.next_request()) is not None:
            what, rid, args = req
            try:
                if what == "start":
                    out = self.record_start()
                elif what == "stop":
                    out = self.record_stop()
                elif what in self.extra_requests:
                    out = self.extra_requests[what](args)
                else:
                    raise ValueError(f"unknown request {what!r}")
                self.reply({"type": "reply", "id": rid, "ok": True, "result": out})
            except Exception as exc:  # noqa: BLE001 - returned to the page as an error
                self.reply({"type": "reply", "id": rid, "ok": False, "error": describe(exc)})
        now = time.monotonic()
        self._tokens = min(FRAME_BURST, self._tokens + (now - self._refill) * FRAMES_PER_S)
        self._refill = now
        if (self.display.new and self._tokens >= 1.0) or now - self._last_frame >= IDLE_FRAME_S:
            self._tokens = max(0.0, self._tokens - 1.0)
            self._last_frame = now
            frame = self.display.frame(self.session.channels)
            frame["recording"] = self.recording_view()
            self.frames += 1
            if not self.emit(json.dumps(frame, separators=(",", ":"))):
                self.dropped += 1
            self.display.refresh()  # after the frame went out: lower-priority work
        # data held back for want of a token goes out the moment the token is there, not at the
        # next poll's end (the select returns earlier when more bytes arrive)
        held = (1.0 - self._tokens) / FRAMES_PER_S if self.display.new else POLL_S
        self.session.poll_timeout = min(POLL_S, max(0.001, held))
        if now - self._last_stats >= STATS_S:
            self._last_stats = now
            self.reply({"type": "stats", "frames": self.frames, "dropped": self.dropped,
                        "recording": self.recording["file"] if self.recording else None})

    def recording_view(self) -> dict[str, Any] | None:
        r = self.recording
        if r is None:
            return None
        return {"file": r["file"], "seconds": round(time.monotonic() - r["t0"], 1)}

    def record_start(self) -> dict[str, Any]:
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

    def record_stop(self) -> dict[str, Any]:
        rec = self.session.recorder
        if rec is None:
            return {"file": None}
        for ch in self.session.channels:
            rec.add_stats(ch.id, ch.stats())
        rec.close()
        self.session.recorder = None
        r, self.recording = self.recording, None
        return {"file": r["file"] if r else None, "seconds": round(time.monotonic() - r["t0"], 1) if r else 0}


def run(specs: list[str], ble_transport: str | None, sessions_dir: str, meta: dict[str, Any],
        require_board: float | None, frames: Any, replies: Any, requests: Any, stop: Any) -> None:
    """The stream process's entry point (spawned by `hub.Hub.launch`).

    Ctrl-C reaches the whole process group: this process ignores SIGINT and ends when the
    server sets `stop` (after uvicorn's shutdown), or when the server process is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    from gaitloop.link import open_link

    links = []
    try:
        for spec in specs:
            links.append(open_link(spec, ble_transport))
    except Exception as exc:  # noqa: BLE001 - the server prints it in one line
        for link in links:
            link.close()
        replies.put({"type": "error", "error": describe(exc), "at": "open"})
        return
    session = StreamSession(links)

    frames.setblocking(False)

    def emit(text: str) -> bool:
        try:
            frames.send(text.encode())
            return True
        except (BlockingIOError, InterruptedError):  # the server is behind: drop this frame
            return False
        except OSError:  # the server is gone (or the frame is too big): dropped, counted
            return False

    def next_request() -> tuple[str, int, Any] | None:
        try:
            return requests.get_nowait()
        except queue.Empty:
            return None

    worker = StreamWorker(session, Path(sessions_dir), meta, emit, replies.put, next_request)
    from gaitloop.web import push

    push.register(worker)

    def tick() -> None:
        if stop.is_set() or os.getppid() != parent:
            session.stop()
            return
        worker.tick()

    replies.put({"type": "ready", "pid": os.getpid()})
    try:
        session.run(None, on_tick=tick, require_board=require_board)
    except Exception as exc:  # noqa: BLE001 - shown on the page and in the terminal
        replies.put({"type": "error", "error": describe(exc), "at": "stream"})
    finally:
        session.close()  # idempotent: the open recording gets its stats and is closed
        replies.put({"type": "closed", "recording": worker.recording["file"] if worker.recording else None,
                     "frames": worker.frames, "dropped": worker.dropped})
        sys.stderr.flush()
