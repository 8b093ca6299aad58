"""The live page's two-sleeve steps: `LiveTwoSleeves` in the stream process, display only.

Why deferred: the two-sleeve step runs the board's MGait angle code on every sample of both
knee boards on the host (~0.1 ms per sample on CPython: 80 ms/s for two boards at 4x). The
stream loop must keep reading the boards' bytes and recording them, so the sink only queues
the SAMPLES frames of knee boards (bounded: the oldest are dropped when the angles fall behind,
the SAMPLES frames of knee boards; `work` runs the angles between two polls within a time budget.
When the angles fall too far behind (a loaded machine), the backlog is dropped and the
pipelines start again at the next stand (a hole in a leg's samples would give wrong angles,
not fewer steps); restarts are counted and shown. A failure here stops this display, never
the stream or the recorder.

What the page gets (`view`): the last step per side, the last stride and its eq. 7 asymmetry,
and the recent per-stride asymmetry with the board's bookkeeping (`report_twosleeve.chain_steps`,
the same as the report), or None while there is no left and right knee board.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from gaitloop.messages import Samples
from gaitloop.mgait.twoknee_live import SIDES, LiveTwoSleeves
from gaitloop.report_twosleeve import SIDE_NAMES, chain_steps

#: SAMPLES frames waiting for the angle pipelines (5 s of two boards at 4x, 2 s at 10x)
BACKLOG = 400
#: strides of asymmetry the page draws
STRIDES_SHOWN = 20


class TwoSleevesDisplay:
    """A StreamSession sink (queues knee SAMPLES frames) plus `work` and `view`."""

    def __init__(self, cfg: dict | None = None) -> None:
        self.cfg = cfg
        self.live = LiveTwoSleeves(cfg)
        self.backlog: deque[tuple[int, Any, Any, Any]] = deque()
        self.dropped = 0  # frames the angles never saw (backlog full)
        self.restarts = 0  # ... and how often the pipelines started again for it
        self.error: str | None = None
        self.devices: dict[str, str] = {}  # side -> device name of the knee board on that leg
        self._seen: Any = None
        self._view: dict[str, Any] | None = None

    def __call__(self, link: int, ch: Any, frame: Any, msg: Any) -> None:
        if self.error is not None or not isinstance(msg, Samples):
            return
        h = ch.state.hello
        if h is not None and (h.kind != "knee" or h.side not in SIDES):
            return
        if h is not None:
            self.devices.setdefault(h.side, h.device)
        # (a board not yet known by its HELLO: queued too, `LiveTwoSleeves` keeps its first
        # samples until the HELLO says which leg they are)
        if len(self.backlog) >= BACKLOG:  # fallen behind: start again (at the next stand)
            self.dropped += len(self.backlog)
            self.restarts += 1
            self.backlog.clear()
            self.live = LiveTwoSleeves(self.cfg)
            self._view = None
        self.backlog.append((link, ch, frame, msg))

    def work(self, budget_s: float) -> int:
        """Feed queued frames to the angle pipelines for at most `budget_s`; frames done."""
        end = time.monotonic() + budget_s
        done = 0
        while self.backlog and self.error is None and (done == 0 or time.monotonic() < end):
            link, ch, frame, msg = self.backlog.popleft()
            try:
                self.live(link, ch, frame, msg)
            except Exception as exc:  # noqa: BLE001 - display only: said on the page, stream goes on
                self.error = f"{type(exc).__name__}: {exc}"
                self.backlog.clear()
            done += 1
        return done

    def view(self) -> dict[str, Any] | None:
        if len(self.devices) < 2 and self.error is None:
            return None  # not a left and a right knee board (yet)
        # what changed: the newest step or one more rejected (the lists keep the last 200)
        n = (self.live.steps[-1] if self.live.steps else None, self.live.n_rejected)
        if n != self._seen or self._view is None:
            self._seen = n
            s = self.live.summary() or {"n_steps": 0}
            seq = [(t, SIDE_NAMES[side], d, False) for side, t, d in self.live.steps]
            seq += [(t, SIDE_NAMES[side], d, True) for side, t, d in self.live.rejected]
            steps, asym = chain_steps(seq)
            self._view = {
                "boards": [self.devices.get(side) for side in SIDES],
                "n_steps": s["n_steps"], "rejected": self.live.n_rejected,
                "last_l_m": s.get("last_l_m"), "last_r_m": s.get("last_r_m"),
                "median_l_m": s.get("median_l_m"), "median_r_m": s.get("median_r_m"),
                "stride_m": steps[-1].stride_length_m if steps else None,
                "asymmetry_pct": asym[-1][1] if asym else None,
                "strides": [[round(t, 2), round(v, 2)] for t, v in asym[-STRIDES_SHOWN:]],
                "waiting": len(self.live.legs) < 2 or not self.live.steps,
            }
        return {**self._view, "dropped": self.dropped, "restarts": self.restarts, "backlog": len(self.backlog),
                "link_gaps": sum(self.live.gaps.values()),
                "error": self.error}
