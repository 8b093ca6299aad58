"""The two-sleeve steps of a session, on the report's session time axis.

Why a module of its own: with a left and a right knee board the host measures each step with
both legs at the same instant (`gaitloop.mgait.twoknee_live`, docs/mgait.md "Two knee
sleeves"), a different method from each board's own eq. 6 step (the back limb at its later
foot-off). The report shows both side by side, so this module only recomputes the host's
steps from the recording and puts them on the axis `report_gait` uses for the boards' events
(each step through its front leg's board: host time -> that board's time -> session time).

Stride and asymmetry follow the board's own bookkeeping (`gaitfw.mgait`, `gaitfw.feedback`)
so the two methods differ only in the step: step time = this contact - the other leg's
previous one (alternating, at most 2 s apart); stride = this step + the previous one over
three contiguous contacts, stride time = this contact - the one two steps before; the
asymmetry (eq. 7) on each stride's two steps taken pairwise without overlap, as the board's
feedback does. A step outside the board's plausibility range (100-1500 mm) is left out and
breaks the chain, as the board's `EV_MG_STEP_REJECT` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitloop.mgait.twoknee import asymmetry_pct

#: contacts further apart than this are not one walk (the board's 2000 ms rule)
MAX_STEP_S = 2.0
SIDE_NAMES = {"l": "left", "r": "right"}


@dataclass
class TwoSleeveStep:
    """One same-instant step on session time (s): front leg, length and what follows from it."""

    t_s: float
    side: str  # "left" / "right": the front leg at contact
    length_m: float
    step_time_s: float | None = None
    stride_length_m: float | None = None
    stride_time_s: float | None = None


@dataclass
class TwoSleeveSession:
    """The two-sleeve part of a report: steps, per-stride asymmetry, and what was left out."""

    boards: tuple[str, str]  # names of the left and the right knee board
    steps: list[TwoSleeveStep] = field(default_factory=list)
    asym: list[tuple[float, float]] = field(default_factory=list)  # (t, eq. 7 %) per stride
    rejected: int = 0  # steps outside the plausibility range, left out


def two_sleeve_session(rec: Any, offsets: dict[int, float]) -> TwoSleeveSession | None:
    """The recording's two-sleeve steps on session time (`offsets`: link -> session time =
    board s + offset, from `report_gait.board_offsets`). None without a left and a right
    knee board."""
    from gaitloop.mgait.twoknee_live import recording_two_sleeve_steps
    from gaitloop.record import aligned_sample_times

    got = recording_two_sleeve_steps(rec)
    if got is None:
        return None
    out = TwoSleeveSession((rec.links[got.links["left"]].name, rec.links[got.links["right"]].name),
                           rejected=got.live.n_rejected)
    to_session = {}
    for letter, side in SIDE_NAMES.items():
        link = got.links[side]
        t_ms = rec.samples(link)[0].astype(float)
        host = aligned_sample_times(rec, link)
        ok = np.isfinite(host)
        if link not in offsets or ok.sum() < 2:
            return out
        order = np.argsort(host[ok], kind="stable")
        to_session[letter] = (host[ok][order], t_ms[ok][order] / 1000.0 + offsets[link])
    seq = sorted([(float(np.interp(got.host_s(t), *to_session[letter])), SIDE_NAMES[letter], d, False)
                  for letter, t, d in got.live.steps]
                 + [(float(np.interp(got.host_s(t), *to_session[letter])), SIDE_NAMES[letter], d, True)
                    for letter, t, d in got.live.rejected])
    out.steps, out.asym = chain_steps(seq)
    return out


def chain_steps(seq: list[tuple[float, str, float, bool]]) -> tuple[list[TwoSleeveStep], list[tuple[float, float]]]:
    """(session s, front side, length m, rejected?) in time order -> steps with step time and
    stride, and the per-stride asymmetry: the board's bookkeeping (module docstring)."""
    steps: list[TwoSleeveStep] = []
    asym: list[tuple[float, float]] = []
    chain: list[TwoSleeveStep] = []  # contiguous accepted steps, alternating legs
    pend: TwoSleeveStep | None = None  # first step of a stride for the asymmetry pair
    for ts, side, d, rejected in sorted(seq):
        if rejected:  # breaks the chain, as the board's EV_MG_STEP_REJECT
            chain, pend = [], None
            continue
        step = TwoSleeveStep(round(ts, 3), side, d)
        if chain and (chain[-1].side == side or not 0 < ts - chain[-1].t_s <= MAX_STEP_S):
            chain, pend = [], None
        if chain:
            step.step_time_s = ts - chain[-1].t_s
        if len(chain) >= 2:
            step.stride_length_m = d + chain[-1].length_m
            step.stride_time_s = ts - chain[-2].t_s
        chain.append(step)
        steps.append(step)
        if pend is None:
            pend = step
        else:
            asym.append((step.t_s, asymmetry_pct(pend.length_m, step.length_m)))
            pend = None
    return steps, asym
