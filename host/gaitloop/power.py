"""Ask a board for its power state and sample-loop timing (CMD_POWER, CMD_TIMING).

Why a module apart from the CLI: the loop-timing benchmark and the bring-up test ask the same
questions of a virtual board as `gaitloop power` asks of a real one; the answers come from the
board's own counters (gaitfw/pacer.py, gaitfw/power.py), never from host timing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from gaitfw import protocol as P
from gaitloop.errors import BoardError
from gaitloop.link import open_link
from gaitloop.messages import POWER_NAMES, WAKE_NAMES, Ack, Hello, Status
from gaitloop.update.client import UpdateClient

_OPS = {"query": 0, "idle": 1, "wake": 2}


def _ack_json(msg: Ack) -> dict[str, Any]:
    try:
        out = json.loads(msg.reply.decode())
    except (UnicodeDecodeError, ValueError):
        raise BoardError("malformed TIMING answer: not JSON") from None
    if not isinstance(out, dict):
        raise BoardError("malformed TIMING answer: not a JSON object")
    return out


class PowerClient:
    """One open link to a board; `power()` and `timing()` ask it, `status()` waits for STATUS."""

    def __init__(self, spec: str) -> None:
        self.client = UpdateClient(open_link(spec))
        self.info = self.client.open()

    def power(self, op: str = "query") -> dict[str, Any]:
        ack = self.client.request(P.CMD_POWER, bytes((_OPS[op],)), what=f"power {op}")
        if len(ack.reply) < 2:
            raise BoardError("malformed POWER answer")
        state, reason = ack.reply[0], ack.reply[1]
        return {"state": POWER_NAMES[state] if state < len(POWER_NAMES) else state,
                "wake_reason": WAKE_NAMES[reason] if reason < len(WAKE_NAMES) else reason}

    def hello(self, timeout: float = 3.0) -> Hello:
        """The board's HELLO (asked for when none has arrived yet)."""
        state = self.client.ch.state
        if state.hello is None:
            self.client.request(P.CMD_HELLO, what="hello")
        end = time.monotonic() + timeout
        while state.hello is None and time.monotonic() < end:
            self.client.poll(0.05)
        if state.hello is None:
            raise BoardError(f"{self.client.link.name}: no HELLO within {timeout:.0f} s")
        return state.hello

    def timing(self, reset: bool = False) -> dict[str, Any]:
        out = _ack_json(self.client.request(P.CMD_TIMING, bytes((1 if reset else 0,)), what="timing"))
        p = out.get("power")
        if isinstance(p, int) and 0 <= p < len(POWER_NAMES):
            out["power"] = POWER_NAMES[p]
        return out

    def status(self, timeout: float = 3.0) -> Status:
        """The next STATUS the board sends (it is asked for one)."""
        state = self.client.ch.state
        before = state.last_status
        self.client.request(P.CMD_STATUS, what="status")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if state.last_status is not None and state.last_status is not before:
                return state.last_status
            self.client.poll(0.05)
        raise BoardError(f"{self.client.link.name}: no STATUS within {timeout:.0f} s")

    def close(self) -> None:
        self.client.close()


def describe(st: Status, timing: dict[str, Any] | None = None) -> list[str]:
    """Lines for people: power state, rate, overruns; the loop's lateness when asked."""
    from gaitloop.flags import flag_text

    reason = WAKE_NAMES[st.wake_reason] if st.wake_reason is not None and st.wake_reason < len(WAKE_NAMES) else "-"
    lines = [f"power {st.power_name}  rate {st.rate_hz if st.rate_hz is not None else '?'} Hz  "
             f"last wake: {reason}  overruns {st.overruns if st.overruns is not None else '?'}",
             f"flags {flag_text(st.flags)}  heap free {st.mem_free} B  allocated {st.mem_alloc} B"]
    if timing:
        lines.append(f"loop: {timing['n']} samples, lateness mean {timing['mean_us']} us, "
                     f"p99 {timing['p99_us']} us, max {timing['max_us']} us; "
                     f"{timing['late']} a period or more late, {timing['skipped']} ticks skipped")
        ble = timing.get("ble")
        if isinstance(ble, dict):  # host -> board losses on BLE since boot (docs/ble.md, "Lost writes")
            lines.append(f"ble rx: {ble.get('rx_lost', '?')} bytes lost, {ble.get('rx_full', '?')} "
                         f"full reads, {ble.get('bad_cmds', '?')} bad command frames")
    return lines
