"""Live streaming from one or more boards: read links, decode, account, record, show.

One thread and `select` over the links' file descriptors: the decode + record path costs far
less than real time (tools/bench/bench_stream.py), so no thread per board is needed.
"""

from __future__ import annotations

import json
import select
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TextIO

from gaitfw import protocol as P
from gaitloop.decoder import BoardState, StreamDecoder
from gaitloop.errors import LinkError
from gaitloop.link import Link
from gaitloop.messages import Ack, CommandEncoder, Event, Hello, Message, Nak, Samples, Status
from gaitloop.record import Recorder
from gaitloop.timeline import BoardClock
from gaitloop.timeprobe import TimeProbe

Sink = Callable[[int, "BoardChannel", Any, Message], None]

# START / RESEND after a (re)connect: resent when no frame came back within this long. Over BLE
# a write without response can be lost with no error to anyone (docs/ble.md, "Lost writes"),
# and a board notifies nothing before one of them arrives, so a lost one meant silence.
RESUME_RETRY_S = 1.0
RESUME_TRIES = 10


class BoardChannel:
    """One link with its decoder, board state and command encoder."""

    def __init__(self, link_id: int, link: Link) -> None:
        self.id = link_id
        self.link = link
        self.decoder = StreamDecoder()
        self.state = BoardState()
        self.commands = CommandEncoder()
        self.woken = False
        # board time -> the session's host timeline (timeline.py); a link may declare a latency
        # floor every frame waits (a BLE board's flush timer) that receive times cannot show
        self.clock = BoardClock(latency_s=getattr(link, "latency_floor_s", 0.0))
        # CMD_TIME probes over BLE only (links that can drop): serial is within 2 ms already
        self.probe = TimeProbe(self.clock, enabled=hasattr(link, "take_resume"), seed=link_id)
        self.resumes = 0
        self.resume_retries = 0  # START / RESEND sent again: no frame came back (lost on the way)
        self.resend_gaps = 0  # reconnects after which the board could not resend everything
        self._resume_at: float | None = None  # when the unanswered START / RESEND went out
        self._resume_frames = 0  # frames accepted before it
        self._resume_tries = 0

    def host_time(self, t_ms: float) -> float | None:
        """This board's time on the one host timeline (unix s), once it has sent samples."""
        return self.clock.to_host(t_ms / 1000.0)

    def resume_if_needed(self, now: float | None = None) -> None:
        """After a (re)connect of a link that can drop (BLE): ask the board for the frames
        after the last one we hold (CMD_RESEND), or to start (first connect). Asked again
        while no frame comes back (RESUME_RETRY_S, at most RESUME_TRIES times): both are
        idempotent, and any frame means the board got one of them."""
        take = getattr(self.link, "take_resume", None)
        if take is None:
            return
        now = time.monotonic() if now is None else now
        if take():
            self.resumes += 1
            self._resume_tries = 0
        elif self._resume_at is None:
            return
        elif self.decoder.stats.frames > self._resume_frames or self._resume_tries >= RESUME_TRIES:
            self._resume_at = None  # the board streams (or never will: require_board says so)
            return
        elif now - self._resume_at < RESUME_RETRY_S or not getattr(self.link, "connected", True):
            return
        else:
            self.resume_retries += 1
            self._resume_tries += 1
        self._resume_at = now
        self._resume_frames = self.decoder.stats.frames
        last = self.state.last_seq
        if last is None:
            self.send(P.CMD_START)
        else:
            nxt = (last + 1) & 0xFFFF
            self.send(P.CMD_RESEND, bytes((nxt & 0xFF, nxt >> 8)))

    def send(self, cmd: int, args: bytes = b"") -> int:
        seq = self.commands.next_seq
        self.link.write(self.commands.encode(cmd, args))
        return seq

    def stats(self) -> dict[str, Any]:
        d = asdict(self.decoder.stats)
        st = self.state
        d.update(
            device=st.hello.device if st.hello else None,
            board_frames=st.frames,
            samples=st.samples,
            seq_gaps=st.seq_gaps,
            sample_gaps=st.sample_gaps,
            resets=st.resets,
            resend_gaps=self.resend_gaps,
            resume_retries=self.resume_retries,
            bad_payloads=st.bad_payloads,
            events=st.events,
            clock=self.clock.summary(),
            probes_sent=self.probe.sent,
        )
        return d


class StreamSession:
    """Stream from links until `seconds` pass, `stop()` is called, or a link fails."""

    def __init__(self, links: list[Link], recorder: Recorder | None = None,
                 sinks: list[Sink] | None = None) -> None:
        self.channels = [BoardChannel(i, link) for i, link in enumerate(links)]
        self.recorder = recorder
        self.sinks = sinks or []
        self._stop = False
        self._closed = False
        self.poll_timeout = 0.05  # run()'s select timeout: how long on_tick may wait without data
        self.started = time.monotonic()
        # one step-free host clock for receive times, live alignment and the recording
        self._wall0 = time.time() - time.monotonic()
        if recorder is not None:
            for ch in self.channels:
                recorder.add_link(ch.id, {"port": ch.link.name, "latency_floor_s": ch.clock.latency_s})

    def stop(self) -> None:
        self._stop = True

    def host_now(self) -> float:
        """The session's host clock (receive times, the timeline, the recording)."""
        return self._wall0 + time.monotonic()

    def open(self) -> None:
        """Drop bytes queued before we listened, then ask every board to introduce itself."""
        for ch in self.channels:
            ch.link.reset_input()
            ch.resume_if_needed()
            ch.send(P.CMD_HELLO)

    def poll(self, timeout: float = 0.05) -> int:
        """Read what is ready; return the number of frames accepted."""
        fds = {ch.link.fileno(): ch for ch in self.channels}
        waits = [w for ch in self.channels if (w := ch.probe.wake_in(self.host_now())) is not None]
        ready, _, _ = select.select(list(fds), [], [], min([timeout, *waits]))
        n = 0
        for fd in ready:
            ch = fds[fd]
            data = ch.link.read_available()
            # the receive time is taken after the read: every byte read had arrived by then.
            # Taken before it (or before an earlier link's frames were handled, up to tens of
            # ms on a loaded host), bytes that arrived meanwhile got a time before they were
            # sent, and the clock fit, a lower envelope of receive times, put that board early
            # (35 ms seen: 130 ms of walk between two sleeves at 4x; tests/host/test_stream_clock.py)
            now = self._wall0 + time.monotonic()
            for frame in ch.decoder.feed(data):
                msg = ch.state.update(frame)
                if msg is None:
                    continue  # malformed payload: counted, never recorded
                ch.clock.observe_message(msg, frame, now, ch.state.hello.rate if ch.state.hello else 0)
                ch.probe.answer(msg, now, ch.state.hello)
                if isinstance(msg, Nak) and msg.cmd == P.CMD_RESEND:
                    ch.resend_gaps += 1  # the frames before the ones resent are gone: a gap
                if self.recorder is not None:
                    self.recorder.add_frame(ch.id, frame, now)
                for sink in self.sinks:
                    sink(ch.id, ch, frame, msg)
                n += 1
        for ch in self.channels:
            ch.resume_if_needed()
            ch.probe.tick(self.host_now(), ch.send, self.host_now)
        if self.recorder is not None:
            self.recorder.tick()
        return n

    def wake_silent(self) -> None:
        """A board that sent nothing since open() is likely sitting at its REPL (after an
        mpremote session): Ctrl-D soft-resets it into the app. A streaming app ignores a stray
        0x04 outside a frame, so this is harmless when the board was only slow."""
        for ch in self.channels:
            if ch.decoder.stats.frames == 0 and not ch.woken and not hasattr(ch.link, "take_resume"):
                ch.woken = True
                ch.link.write(b"\x02\r\x04")  # Ctrl-B leaves a raw REPL; Ctrl-D resets
                ch.send(P.CMD_HELLO)

    def silent_channels(self) -> list[BoardChannel]:
        """Channels on which no valid gaitloop frame has arrived."""
        return [ch for ch in self.channels if ch.decoder.stats.frames == 0]

    def no_board_error(self, ch: BoardChannel, waited: float) -> LinkError:
        """One line saying that no board answered on `ch`, and what did arrive instead."""
        st = ch.decoder.stats
        if ch.decoder.text:
            what = f"it printed: {ch.decoder.text[-1][:80]}"
        elif st.bytes_in == 0:
            what = "not a byte came back: nothing is connected, or the board is off"
        else:
            what = f"{st.bytes_in} bytes came back, none a gaitloop frame"
        return LinkError(f"no board answered on {ch.link.name} within {waited:.0f} s ({what}; "
                         "is the gaitloop firmware on it? `gaitloop flash`)")

    def run(self, seconds: float | None = None, on_tick: Callable[[], None] | None = None,
            wake_after: float = 1.5, require_board: float | None = None) -> None:
        """Stream until `seconds` pass or `stop()`. With `require_board`, a link that has sent
        no valid frame after that many seconds (or by the end) raises LinkError."""
        self.open()
        t_open = time.monotonic()
        end = None if seconds is None else t_open + seconds
        last_stats = t_open
        try:
            while not self._stop and (end is None or time.monotonic() < end):
                self.poll(self.poll_timeout)
                waited = time.monotonic() - t_open
                if require_board is not None and waited > require_board:
                    silent = self.silent_channels()
                    if silent:
                        raise self.no_board_error(silent[0], waited)
                    require_board = None
                if wake_after and time.monotonic() - t_open > wake_after:
                    self.wake_silent()
                if on_tick is not None:
                    on_tick()
                if self.recorder is not None and time.monotonic() - last_stats > 1.0:
                    last_stats = time.monotonic()
                    for ch in self.channels:
                        self.recorder.add_stats(ch.id, ch.stats())
            if require_board is not None and not self._stop and self.silent_channels():
                raise self.no_board_error(self.silent_channels()[0], time.monotonic() - t_open)
        finally:
            self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for ch in self.channels:
            ch.decoder.finish()
        if self.recorder is not None:
            for ch in self.channels:
                self.recorder.add_stats(ch.id, ch.stats())
            self.recorder.close()
        for ch in self.channels:
            ch.link.close()


def message_json(ch: BoardChannel, frame: Any, msg: Message) -> dict[str, Any]:
    """One JSON object per message, for scripts (`--format jsonl`)."""
    st = ch.state
    d: dict[str, Any] = {
        "link": ch.id,
        "device": st.hello.device if st.hello else None,
        "type": frame.kind_name,
        "seq": frame.seq,
        "t_ms": frame.t_ms,
        "t_host": ch.host_time(frame.t_ms),
    }
    if isinstance(msg, Samples):
        d["first_index"] = msg.first_index
        if st.hello is not None:
            for c, (name, scale) in enumerate(zip(st.hello.channels, st.hello.scale, strict=False)):
                d[name] = [round(float(v) * scale, 4) for v in msg.counts[:, c]]
        else:
            d["counts"] = msg.counts.tolist()
    elif isinstance(msg, Event):
        d.update(event=msg.name, code=msg.code, side=msg.side, **msg.fields())
    elif isinstance(msg, Hello):
        d.update(asdict(msg))
    elif isinstance(msg, Status):
        d.update(asdict(msg))
    elif isinstance(msg, Ack):
        d.update(cmd=P.CMD_NAMES.get(msg.cmd, msg.cmd), cmd_seq=msg.cmd_seq)
    elif isinstance(msg, Nak):
        d.update(cmd=P.CMD_NAMES.get(msg.cmd, msg.cmd), cmd_seq=msg.cmd_seq,
                 error=P.ERR_NAMES.get(msg.error, msg.error), reason=msg.reason)
    d["gaps"] = st.seq_gaps
    d["crc_errors"] = ch.decoder.stats.crc_errors
    return d


def jsonl_sink(out: TextIO = sys.stdout) -> Sink:
    def sink(_link: int, ch: BoardChannel, frame: Any, msg: Message) -> None:
        out.write(json.dumps(message_json(ch, frame, msg)) + "\n")
        out.flush()

    return sink
