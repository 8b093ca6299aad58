"""Gait parameters of a session, the numbers of the gait-lab report: a per-step table, the
series drawn over time, and the summary (mean, SD, CV, left/right asymmetry) of each parameter.

Why a module of its own: the report's figure (`report_lab`), its HTML and CSV (`report`), the
web sessions list (`web/sessions.py`) and the tests all read the same numbers, so they are
computed once, here, from the events the boards sent (the boards detect the gait events and
measure each step; this module only collects, aligns and summarises them).

One time axis for all boards: "session time", seconds of board time since the first sample of
any board. Each board's clock is put on the host timeline (`record.recorded_clock`, the same
mapping `gaitloop export` writes as `t_host`) and host seconds are scaled to board seconds
(a replay at N x runs N board seconds per host second), so two insoles and a knee sleeve that
booted at different moments share one axis, and a replayed walk reads in walked seconds.

Definitions (the papers are in /work/shared/papers; `docs/clinicians.md` explains each):
- insoles, CSM (Hu et al. 2019): stance while the foot contacts the ground (heel strike to toe
  off), swing while it has left it (toe off to the next heel strike); stride = heel strike to
  the next heel strike of the same foot; cadence = 2 steps per stride;
- knee sleeve, MGait (An et al.): step length, stride length, stance and swing time, walking
  speed over five strides, the per-stride percentage gait asymmetry (eq. 7);
- left/right asymmetry of a parameter: the symmetry index of Robinson et al. (1987),
  100 * |L - R| / ((L + R) / 2), on the left and right means (MGait's eq. 7 is the same formula
  on the two steps of one stride).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitfw import events as E
from gaitloop.record import Recording, recorded_clock
from gaitloop.report_twosleeve import TwoSleeveSession, two_sleeve_session

SIDES = {0: "left", 1: "right", 2: "both"}

#: short names of the papers each definition comes from (full titles in PAPERS)
CSM, MGAIT, ROBINSON = "CSM", "MGait", "Robinson 1987"
#: the source of the host's two-sleeve steps (a left and a right knee board); its method is
#: MGait's eq. 6 with both limbs at the front heel strike, named in its rows
TWO = "two_sleeves"
TWO_METHOD = "eq. 6, docs/mgait.md"
PAPERS = {
    CSM: "Hu et al., Curve Similarity Model for Real-Time Gait Phase Detection Based on Ground "
         "Contact Forces, Sensors 2019 (papers/csm-gait-phase-load-cells.txt)",
    MGAIT: "An et al., MGait: Model-Based Gait Analysis Using Wearable Bend and Inertial Sensors "
           "(papers/mgait-knee-sleeve-step-length.txt)",
    ROBINSON: "Robinson et al., Use of force platform variables to quantify the effects of "
              "chiropractic manipulation on gait symmetry, J Manipulative Physiol Ther 1987 "
              "(symmetry index; the formula of MGait's eq. 7)",
}

#: columns of the per-step table (steps.csv), in order
STEP_COLUMNS = ("t_s", "board", "side", "source", "step_length_m", "step_time_s", "stride_length_m",
                "stride_time_s", "stance_s", "swing_s", "cadence_spm")


@dataclass
class Board:
    """One board of the session: what it is and where its time sits on the session axis."""

    link: int
    name: str
    kind: str
    side: str
    offset_s: float  # session time = board time (s) + offset_s


@dataclass
class GaitData:
    """Everything the report draws or tabulates, on session time (s)."""

    boards: list[Board]
    steps: list[dict[str, Any]]  # one row per step (knee) or gait cycle (insole), STEP_COLUMNS
    stances: dict[str, list[tuple[float, float]]]  # board name -> (heel strike, toe off) spans
    speed: list[tuple[float, float]]  # (t, walking speed m/s), knee sleeve, five strides
    stride_speed: list[tuple[float, float]]  # (t, stride length / stride time m/s), knee sleeve
    cadence_knee: list[tuple[float, float]]  # (t, steps/min), knee sleeve
    asym_knee: list[tuple[float, float]]  # (t, per-stride step length asymmetry %), MGait eq. 7
    asym_insole: list[tuple[float, float]]  # (t, stance time symmetry index %, last 5 each side)
    feedback: dict[str, list[tuple[float, float | None, str]]]  # kind -> (start, end, label)
    end_s: float  # last sample, session time
    lacks: list[str] = field(default_factory=list)  # what the session cannot show, one line each
    # a left and a right knee board: the host's same-instant steps (rows of source TWO in
    # `steps`), their per-stride asymmetry and how many were left out (`report_twosleeve`)
    two_sleeves: TwoSleeveSession | None = None


def board_offsets(rec: Recording) -> dict[int, float]:
    """Per board, the offset that puts its board time (s) on session time (s)."""
    links = [lr for lr in rec.links.values() if lr.hello is not None and lr.frames]
    host: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    slopes = []
    for lr in links:
        clock = recorded_clock(rec, lr.link)
        slopes.append(clock.slope if clock.slope > 0 else 1.0)
        bt = np.array([fr.t_ms / 1000.0 for _, fr in lr.frames])
        ht = np.array([clock.to_host(pos, b) for pos, b in enumerate(bt)])
        host[lr.link] = (bt, ht)
    scale = len(slopes) / sum(slopes) if slopes else 1.0  # board s per host s
    finite = [h[np.isfinite(h)] for _, h in host.values()]
    if not any(len(f) for f in finite):  # no clock fit: each board from its own first frame
        return {lk: -float(bt[0]) for lk, (bt, _) in host.items()}
    h0 = min(float(f.min()) for f in finite if len(f))
    out = {}
    for lk, (bt, ht) in host.items():
        ok = np.isfinite(ht)
        out[lk] = float(np.median((ht[ok] - h0) * scale - bt[ok])) if ok.any() else -float(bt[0])
    # session time 0 = the first frame of any board
    first = min(float(host[lk][0][0]) + off for lk, off in out.items())
    return {lk: off - first for lk, off in out.items()}


def _row(t: float, board: Board, side: str, source: str, **vals: float | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(STEP_COLUMNS)
    row.update(t_s=round(t, 3), board=board.name, side=side, source=source)
    row.update({k: (None if v is None else float(v)) for k, v in vals.items()})  # rounded in the CSV only
    return row


def gait_data(rec: Recording) -> GaitData:
    offsets = board_offsets(rec)
    boards = [Board(lr.link, lr.name, lr.hello.kind, lr.hello.side, offsets[lr.link])
              for lr in rec.links.values() if lr.hello is not None and lr.link in offsets]
    steps: list[dict[str, Any]] = []
    stances: dict[str, list[tuple[float, float]]] = {}
    speed, stride_speed, cad_knee, asym_knee = [], [], [], []
    feedback: dict[str, list[tuple[float, float | None, str]]] = {"buzzer": [], "LED": [], "speed notice": []}
    open_fb: dict[tuple[str, str], tuple[float, str]] = {}
    hs_by_side: dict[str, list[float]] = {"left": [], "right": []}
    to_by_side: dict[str, list[tuple[float, float]]] = {"left": [], "right": []}  # (t, stance s)
    end = 0.0
    for b in boards:
        t_ms, _seq, _idx, _counts = rec.samples(b.link)
        if len(t_ms):
            end = max(end, float(t_ms[-1]) / 1000.0 + b.offset_s)
        evs = [(t / 1000.0 + b.offset_s, e) for t, _s, e in rec.events(b.link)]
        if b.kind == "insole":
            _insole_rows(b, evs, steps, stances, hs_by_side, to_by_side)
        for t, e in evs:
            side = SIDES.get(e.side, "?")
            if e.code == E.EV_MG_STEP:
                steps.append(_row(t, b, side, "knee", step_length_m=e.a / 1000.0, step_time_s=e.b / 1000.0 or None))
            elif e.code == E.EV_MG_STRIDE:
                steps.append(_row(t, b, side, "knee", stride_length_m=e.a / 1000.0, stride_time_s=e.b / 1000.0 or None))
                if e.a > 0 and e.b > 0:
                    stride_speed.append((t, e.a / e.b))  # mm / ms = m/s
            elif e.code == E.EV_MG_STANCE:
                steps.append(_row(t, b, side, "knee", stance_s=e.a / 1000.0 or None, swing_s=e.b / 1000.0 or None))
            elif e.code == E.EV_MG_SPEED:
                if e.a > 0:
                    speed.append((t, e.a / 1000.0))
                if e.b > 0:
                    cad_knee.append((t, e.b / 10.0))
            elif e.code == E.EV_MG_ASYM:
                asym_knee.append((t, e.a / 100.0))
            elif e.code in (E.EV_MG_BUZZ, E.EV_MG_LED):
                kind = "buzzer" if e.code == E.EV_MG_BUZZ else "LED"
                label = (f"asymmetry {e.a / 100:.0f} %" if kind == "buzzer"
                         else f"mean step {e.a / 1000:.2f} m < baseline {e.b / 1000:.2f} m")
                if (b.name, kind) not in open_fb:
                    open_fb[(b.name, kind)] = (t, label)
            elif e.code in (E.EV_MG_BUZZ_OFF, E.EV_MG_LED_OFF):
                kind = "buzzer" if e.code == E.EV_MG_BUZZ_OFF else "LED"
                start = open_fb.pop((b.name, kind), None)
                if start is not None:
                    feedback[kind].append((start[0], t, start[1]))
            elif e.code == E.EV_MG_SPEED_TREND:
                feedback["speed notice"].append((t, None, f"{e.a / 1000:.2f} m/s, -{e.b / 100:.0f} %"))
    for (_name, kind), (t, label) in open_fb.items():
        feedback[kind].append((t, None, label + " (still on at the end)"))
    _insole_step_times(steps, boards, hs_by_side)
    two = two_sleeve_session(rec, offsets)
    if two is not None:
        pair = Board(-1, " + ".join(two.boards), "knee", "both", 0.0)
        for s in two.steps:
            steps.append(_row(s.t_s, pair, s.side, TWO, step_length_m=s.length_m, step_time_s=s.step_time_s,
                              stride_length_m=s.stride_length_m, stride_time_s=s.stride_time_s))
    steps.sort(key=lambda r: (r["t_s"], r["board"], r["side"]))
    for v in feedback.values():
        v.sort()
    data = GaitData(boards, steps, stances, sorted(speed), sorted(stride_speed), sorted(cad_knee), sorted(asym_knee),
                    _stance_asymmetry(to_by_side), feedback, end, two_sleeves=two)
    data.lacks = lacks(data)
    return data


def _insole_rows(b: Board, evs: list, steps: list, stances: dict, hs_by_side: dict, to_by_side: dict) -> None:
    """Per gait cycle of an insole, at the heel strike that closes it: stride and swing from the
    heel strike event, stance from the toe off between the two heel strikes (CSM's phases)."""
    spans = stances.setdefault(b.name, [])
    last_hs: float | None = None
    last_to: tuple[float, float] | None = None
    for t, e in evs:
        if e.code == E.EV_TOE_OFF:
            stance = e.a / 1000.0
            last_to = (t, stance)
            if stance > 0:
                to_by_side.setdefault(b.side, []).append((t, stance))
                spans.append((t - stance, t))
        elif e.code == E.EV_HEEL_STRIKE:
            hs_by_side.setdefault(b.side, []).append(t)
            stride = e.b / 1000.0
            if last_hs is not None and stride > 0:
                stance = last_to[1] if last_to is not None and last_to[0] > last_hs and last_to[1] > 0 else None
                steps.append(_row(t, b, b.side, "insole", stride_time_s=stride,
                                  swing_s=(e.a / 1000.0) or None, stance_s=stance, cadence_spm=120.0 / stride))
            last_hs = t


def _insole_step_times(steps: list, boards: list[Board], hs_by_side: dict) -> None:
    """Step time of an insole's cycle row: from the other foot's latest heel strike to this one
    (needs a left and a right insole; the same rule as `asymmetry.StepAsymmetry`)."""
    from gaitloop.asymmetry import StepAsymmetry

    if not hs_by_side.get("left") or not hs_by_side.get("right"):
        return
    a = StepAsymmetry()
    for side, other in (("left", "right"), ("right", "left")):
        this = np.sort(np.asarray(hs_by_side[side]))
        oth = np.sort(np.asarray(hs_by_side[other]))
        by_t = {}
        for e in this:
            i = np.searchsorted(oth, e, side="right") - 1
            j = np.searchsorted(this, e, side="left") - 1
            if i >= 0 and not (j >= 0 and this[j] > oth[i]) and a.min_step_s <= e - oth[i] <= a.max_step_s:
                by_t[round(float(e), 3)] = float(e - oth[i])
        for r in steps:
            if r["source"] == "insole" and r["side"] == side and r["t_s"] in by_t:
                r["step_time_s"] = by_t[r["t_s"]]


def _stance_asymmetry(to_by_side: dict, keep: int = 5) -> list[tuple[float, float]]:
    """Stance time symmetry index over time: at each toe off, the mean stance of the last `keep`
    of each foot (a trend of the two insoles, drawn beside the knee's per-stride asymmetry)."""
    left, right = sorted(to_by_side.get("left", [])), sorted(to_by_side.get("right", []))
    if not left or not right:
        return []
    out = []
    for t, _ in sorted(left + right):
        ls = [s for tt, s in left if tt <= t][-keep:]
        rs = [s for tt, s in right if tt <= t][-keep:]
        if len(ls) >= 2 and len(rs) >= 2:
            out.append((t, symmetry_index(float(np.mean(ls)), float(np.mean(rs)))))
    return out


def symmetry_index(left: float, right: float) -> float:
    """Robinson's symmetry index (%): 100 |L - R| / ((L + R) / 2)."""
    m = (left + right) / 2.0
    return float("nan") if not m > 0 else 100.0 * abs(left - right) / m


#: summary rows: (label, column, source, unit, scale to the shown unit, paper, definition)
PARAMETERS = (
    ("Step length", "step_length_m", "knee", "m", 1.0, MGAIT,
     "front to back foot, front limb at initial contact, back limb at foot off (eq. 6)"),
    ("Stride length", "stride_length_m", "knee", "m", 1.0, MGAIT, "two consecutive steps"),
    ("Step time", "step_time_s", "knee", "s", 1.0, MGAIT, "the other leg's initial contact to this leg's"),
    ("Step time", "step_time_s", "insole", "s", 1.0, CSM,
     "other foot's heel strike to this foot's heel strike"),
    ("Stride time", "stride_time_s", "insole", "s", 1.0, CSM, "heel strike to the next heel strike of the same foot"),
    ("Stance time", "stance_s", "insole", "s", 1.0, CSM, "heel strike to toe off (foot on the ground)"),
    ("Swing time", "swing_s", "insole", "s", 1.0, CSM, "toe off to the next heel strike (foot off the ground)"),
    ("Stance time", "stance_s", "knee", "s", 1.0, MGAIT, "foot touches the ground to the same foot leaving it"),
    ("Swing time", "swing_s", "knee", "s", 1.0, MGAIT, "foot leaves the ground to the same foot touching it"),
    ("Cadence", "cadence_spm", "insole", "steps/min", 1.0, CSM, "2 steps per stride: 120 / stride time (s)"),
    ("Step length", "step_length_m", TWO, "m", 1.0, TWO_METHOD,
     "front to back foot with both limbs at the front foot's heel strike, one board per leg on the "
     "host's one timeline (the same instant; not the back limb's later foot off)"),
    ("Stride length", "stride_length_m", TWO, "m", 1.0, TWO_METHOD, "two consecutive same-instant steps"),
    ("Step time", "step_time_s", TWO, "s", 1.0, TWO_METHOD,
     "the other leg's heel strike to this leg's (sleeve heel strikes on the one timeline)"),
)


def _stats(v: list[float]) -> tuple[float, float | None, float | None]:
    arr = np.asarray(v, dtype=float)
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else None
    cv = 100.0 * sd / mean if sd is not None and mean > 0 else None
    return mean, sd, cv


def summary(data: GaitData) -> list[dict[str, Any]]:
    """One row per parameter the session measured: n, mean, SD (sample, n-1), CV % (SD/mean),
    left and right means and their symmetry index; the paper of the definition."""
    rows: list[dict[str, Any]] = []
    for label, col, source, unit, scale, paper, definition in PARAMETERS:
        vals = [(r["side"], r[col] * scale) for r in data.steps if r["source"] == source and r[col] is not None]
        if vals:
            rows.append(_summary_row(label, source, unit, vals, paper, definition))
    for label, series, unit, paper, definition in (
        ("Cadence", data.cadence_knee, "steps/min", MGAIT, "steps per minute over the last five strides"),
        ("Walking speed", data.speed, "m/s", MGAIT, "length of five strides / their time"),
        ("Stride speed", data.stride_speed, "m/s", MGAIT, "stride length / stride time, per stride"),
        ("Step length asymmetry", data.asym_knee, "%", MGAIT,
         "per stride, 100 |L_left - L_right| / ((L_left + L_right) / 2) (eq. 7); feedback above 25 %"),
    ):
        if series:
            rows.append(_summary_row(label, "knee", unit, [("", v) for _, v in series], paper, definition))
    if data.two_sleeves is not None and data.two_sleeves.asym:
        rows.append(_summary_row("Step length asymmetry", TWO, "%", [("", v) for _, v in data.two_sleeves.asym],
                                 TWO_METHOD, "per stride, eq. 7 on the two same-instant steps; the boards' "
                                 "buzzer acts on their own eq. 6 steps (row above), at 25 %"))
    return rows


SOURCE_NAMES = {"insole": "insoles", "knee": "knee sleeve", TWO: "two sleeves, same instant"}


def _summary_row(label: str, source: str, unit: str, vals: list[tuple[str, float]], paper: str,
                 definition: str) -> dict[str, Any]:
    mean, sd, cv = _stats([v for _, v in vals])
    left = [v for s, v in vals if s == "left"]
    right = [v for s, v in vals if s == "right"]
    ml = float(np.mean(left)) if left else None
    mr = float(np.mean(right)) if right else None
    asym = symmetry_index(ml, mr) if ml is not None and mr is not None else None
    return {"parameter": label, "source": SOURCE_NAMES.get(source, source), "unit": unit,
            "n": len(vals), "mean": mean, "sd": sd, "cv_pct": cv, "n_left": len(left), "n_right": len(right),
            "left": ml, "right": mr, "asym_pct": None if asym is None or math.isnan(asym) else asym,
            "paper": paper, "definition": definition}


def lacks(data: GaitData) -> list[str]:
    """What the session cannot show, one plain sentence each (instead of an empty axis)."""
    kinds = {b.kind for b in data.boards}
    sides = {b.side for b in data.boards if b.kind == "insole"}
    out = []
    if not data.boards:
        return ["no board with a HELLO in this session: nothing to report"]
    if "insole" not in kinds:
        out.append("no insole: no force curves, no heel strike / toe off phases; stance and swing "
                   "come from the knee sleeve only")
    else:
        for side in ("left", "right"):
            if side not in sides:
                out.append(f"no {side} insole: no {side} foot force, stance or swing from an insole, and no "
                           "insole left/right asymmetry")
    for b in data.boards:
        if b.kind == "insole" and not data.stances.get(b.name):
            out.append(f"{b.name} detected no gait cycle (no heel strike to toe off): was the patient walking?")
    if "knee" not in kinds:
        out.append("no knee sleeve: step length, walking speed and step length asymmetry are not measured "
                   "(insoles measure force, not distance), and no feedback was given (the knee sleeve gives it)")
    elif not any(r["step_length_m"] is not None for r in data.steps):
        out.append("the knee sleeve reported no step (no step length): was the patient walking?")
    if any(b.kind not in ("insole", "knee") for b in data.boards):
        other = sorted({b.name for b in data.boards if b.kind not in ("insole", "knee")})
        out.append("boards of no gait kind (" + ", ".join(other) + "): their signals are in the appendix only")
    return out


def step_csv(data: GaitData) -> str:
    """The per-step table as CSV text (empty cells where a source does not measure a column)."""
    lines = [",".join(STEP_COLUMNS)]
    for r in data.steps:
        lines.append(",".join("" if r[c] is None else f"{r[c]:g}" if isinstance(r[c], float) else str(r[c])
                              for c in STEP_COLUMNS))
    return "\n".join(lines) + "\n"
