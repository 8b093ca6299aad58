"""The gait-lab page of a session report: one figure and one summary table, built once.

Why one builder: `gaitloop report` (HTML + PNG + CSV) and the web sessions page show the same
report, so both call `build_lab_report` and only render its result. Panels, top to bottom:
force curves of each insole with stance shaded; step length per step, left and right; left/right
asymmetry over time with MGait's 25 % line; walking speed and cadence; stance and swing times
(one gait-cycle bar per foot and source); the feedback the boards gave on the time axis; the
summary table. A panel without data says why in words (e.g. "no knee sleeve: ..."), never an
empty axis. Numbers come from `gaitloop.report_gait`; drawing is matplotlib objects (Agg, no
pyplot state), so the output is deterministic and tests inspect the objects.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from gaitloop.record import Recording
from gaitloop.report_fig import _with_gaps
from gaitloop.report_gait import TWO, GaitData, gait_data, summary

WINDOW_S = 10.0
THRESHOLD_PCT = 25.0  # MGait's feedback threshold on the per-stride asymmetry
SIDE_COLOURS = {"left": "#1f77b4", "right": "#d62728", "both": "#555555"}
TWO_COLOURS = {"left": "#08306b", "right": "#67000d"}  # the two-sleeve steps: darker, bold
STANCE_COLOUR, SWING_COLOUR = "#9ecae1", "#fdd0a2"
FEEDBACK_ROWS = ("buzzer", "LED", "speed notice")
FEEDBACK_COLOURS = {"buzzer": "#984ea3", "LED": "#e6ab02", "speed notice": "#f781bf"}


@dataclass
class LabReport:
    """What both renderers (files and web) show: the figure, the summary rows, the data."""

    title: str
    figure: Figure
    summary: list[dict[str, Any]]
    data: GaitData
    notes: list[str]  # what reading the file had to repair (cut file, recovered session)


def build_lab_report(rec: Recording) -> LabReport:
    data = gait_data(rec)
    rows = summary(data)
    names = ", ".join(f"{b.name} ({b.kind}, {b.side})" for b in data.boards) or "no board"
    title = f"{rec.path.name}: {names}; {data.end_s:.1f} s recorded (board time)"
    notes = list(rec.notes)
    if rec.truncated_tail:
        notes.append("the file ends in the middle of a record: the recording was cut off")
    return LabReport(title, lab_figure(rec, data, rows, title), rows, data, notes)


def _say(ax: Any, text: str) -> None:
    """A panel with nothing to draw says why, in words, instead of showing an empty axis."""
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_color("#cccccc")
    ax.text(0.5, 0.5, textwrap.fill(text, 70), ha="center", va="center", fontsize=9, color="#444444",
            transform=ax.transAxes)


def lab_figure(rec: Recording, data: GaitData, rows: list[dict[str, Any]], title: str) -> Figure:
    insoles = [b for b in data.boards if b.kind == "insole"]
    n_force = max(1, len(insoles))
    n_table = max(1, len(rows))
    heights = [2.0] * n_force + [2.7, 2.9, 1.3, 0.5 + 0.24 * n_table]
    fig = Figure(figsize=(12, sum(heights) + 0.9), layout="constrained")
    gs = fig.add_gridspec(len(heights), 2, height_ratios=heights)
    fig.suptitle(title, fontsize=11)
    end = max(data.end_s, 1e-3)
    z0 = _window_start(data)
    for i in range(n_force):
        ax = fig.add_subplot(gs[i, :])
        if insoles:
            _force_panel(ax, rec, data, insoles[i], z0)
        else:
            ax.set_title("force curves", fontsize=10, loc="left")
            _say(ax, "no insole in this session: no force curves and no stance/swing phases from the feet")
    r = n_force
    _step_panel(fig.add_subplot(gs[r, 0]), data, end)
    _asym_panel(fig.add_subplot(gs[r, 1]), data, end)
    _speed_panel(fig.add_subplot(gs[r + 1, 0]), data, end)
    _phase_panel(fig.add_subplot(gs[r + 1, 1]), data)
    _feedback_panel(fig.add_subplot(gs[r + 2, :]), data, end)
    _table_panel(fig.add_subplot(gs[r + 3, :]), rows)
    if data.lacks:
        fig.supxlabel(textwrap.fill("Not in this session: " + "; ".join(data.lacks), 170), fontsize=8,
                      color="#8b0000")
    return fig


def _window_start(data: GaitData) -> float:
    """One window for every insole (left and right read side by side): from 1 s before the
    first stance of any foot, within the session."""
    firsts = [sp[0][0] for sp in data.stances.values() if sp]
    first = min(firsts) if firsts else 0.0
    return max(0.0, min(first - 1.0, data.end_s - WINDOW_S))


def _force_panel(ax: Any, rec: Recording, data: GaitData, b: Any, z0: float) -> None:
    h = rec.links[b.link].hello
    t_ms, _seq, idx, counts = rec.samples(b.link)
    t = t_ms / 1000.0 + b.offset_s
    spans = data.stances.get(b.name, [])
    z1 = z0 + WINDOW_S
    force = [(c, name) for c, (name, unit) in enumerate(zip(h.channels, h.units, strict=True)) if unit == "N"]
    ax.set_title(f"{b.name} ({b.side} foot): force, {WINDOW_S:.0f} s from {z0:.1f} s; "
                 "shaded = stance (heel strike to toe off), white = swing", fontsize=10, loc="left")
    if not force or not len(t):
        _say(ax, f"{b.name}: no force samples recorded")
        return
    for i, (s0, s1) in enumerate(sp for sp in spans if sp[1] >= z0 and sp[0] <= z1):
        ax.axvspan(s0, s1, color=STANCE_COLOUR, alpha=0.5, lw=0, label="stance" if i == 0 else None)
    colours = ("#000000", "#1f3f8f", "#8b4513", "#2f6f3f")
    keep = (t >= z0 - 0.5) & (t <= z1 + 0.5)
    for k, (c, name) in enumerate(force):
        tt, yy = _with_gaps(t[keep], counts[keep, c] * h.scale[c], idx[keep])
        ax.plot(tt, yy, color=colours[k % len(colours)], lw=1.2, label=f"{name} (N)")
    ax.set_xlim(z0, z1)
    shown = counts[keep][:, [c for c, _ in force]] * max(h.scale[c] for c, _ in force)
    ax.set_ylim(min(0.0, float(shown.min()) if shown.size else 0.0),
                max(1.0, float(shown.max()) if shown.size else 1.0) * 1.35)  # room for the legend
    ax.set_ylabel("force (N)")
    ax.set_xlabel("session time (s)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncols=3, framealpha=0.8)


def _by_side(data: GaitData, col: str, source: str, board: str | None = None) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r in data.steps:
        if r["source"] == source and r[col] is not None and (board is None or r["board"] == board):
            ts, vs = out.setdefault(r["side"], ([], []))
            ts.append(r["t_s"])
            vs.append(r[col])
    return out


def _step_panel(ax: Any, data: GaitData, end: float) -> None:
    """Each knee board's own eq. 6 steps per front leg; with a left and a right knee board the
    host's same-instant steps beside them (bold squares), so both methods read on one axis."""
    knee_boards = sorted({r["board"] for r in data.steps if r["source"] == "knee" and r["step_length_m"] is not None})
    two = _by_side(data, "step_length_m", TWO)
    ax.set_title("step length per step (knee sleeve, MGait)" if not two else
                 "step length per step: two sleeves, same instant (bold); each board's eq. 6",
                 fontsize=10, loc="left")
    if not knee_boards and not two:
        why = ("no knee sleeve step in this session: step length is measured by the knee sleeve "
               "(insoles measure force, not distance)")
        if data.two_sleeves is not None:
            why = ("no step from the left and right knee boards: neither their own (eq. 6) nor the host's "
                   "same-instant steps (the host starts each leg's angles at a 2 s stand)")
        _say(ax, why)
        return
    tops = []
    thin = bool(two)
    for k, board in enumerate(knee_boards):
        for side, (ts, vs) in sorted(_by_side(data, "step_length_m", "knee", board).items()):
            label = f"{side} (front leg), mean {np.mean(vs):.2f} m, n={len(vs)}"
            if len(knee_boards) > 1 or two:
                label = f"{board}, eq. 6, {side}: {np.mean(vs):.2f} m"
            ax.plot(ts, vs, ("o-", "^-", "v-", "d-")[k % 4], ms=2.5 if thin else 3, lw=0.6 if thin else 0.8,
                    alpha=0.55 if thin else 1.0, color=SIDE_COLOURS.get(side, "#555"), label=label)
            tops += vs
    for side, (ts, vs) in sorted(two.items()):
        ax.plot(ts, vs, "s-", ms=4.5, lw=1.8, color=TWO_COLOURS.get(side, "#000"),
                label=f"two sleeves, {side}: {np.mean(vs):.2f} m, n={len(vs)}")
        tops += vs
    ax.set_xlim(0, end)
    ax.set_ylim(0, max(tops) * 1.2)  # from 0: no exaggerated gap
    ax.set_ylabel("step length (m)")
    ax.set_xlabel("session time (s)")
    ax.grid(alpha=0.3)
    if two:  # many series: under the axis, as the asymmetry panel beside it
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7, frameon=False, ncols=2)
    else:
        ax.legend(loc="lower left", fontsize=8, framealpha=0.9)


def _asym_panel(ax: Any, data: GaitData, end: float) -> None:
    ax.set_title("left/right asymmetry over time", fontsize=10, loc="left")
    two = data.two_sleeves.asym if data.two_sleeves is not None else []
    if not data.asym_knee and not data.asym_insole and not two:
        _say(ax, "no left/right asymmetry: it needs the knee sleeve's strides (step length) or the "
                 "stances of a left and a right insole, and this session has neither")
        return
    if data.asym_knee:
        t, v = zip(*data.asym_knee, strict=True)
        ax.plot(t, v, "o-", ms=3, lw=0.8, color="#6a0dad",
                label="step length, per stride (MGait eq. 7)" + (", boards' eq. 6 steps" if two else ""))
    if two:
        t, v = zip(*two, strict=True)
        ax.plot(t, v, "s-", ms=4, lw=1.6, color="#000000", label="step length, per stride, two sleeves, same instant")
    if data.asym_insole:
        t, v = zip(*data.asym_insole, strict=True)
        ax.plot(t, v, "-", lw=1.2, color="#2f6f3f", label="stance time, last 5 steps each foot (insoles)")
    ax.axhline(THRESHOLD_PCT, color="#b22222", lw=1.2, linestyle="--", label="25 % (feedback threshold)")
    top = max([THRESHOLD_PCT * 1.6] + [v for _, v in data.asym_knee + data.asym_insole + two])
    ax.set_ylim(0, top * 1.1)
    ax.set_xlim(0, end)
    ax.set_ylabel("asymmetry (%)")
    ax.set_xlabel("session time (s)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=8, frameon=False, ncols=2)


def _speed_panel(ax: Any, data: GaitData, end: float) -> None:
    ax.set_title("walking speed and cadence", fontsize=10, loc="left")
    cad = _by_side(data, "cadence_spm", "insole")
    if not data.speed and not data.stride_speed and not data.cadence_knee and not cad:
        _say(ax, "no speed or cadence: it needs the knee sleeve's strides (speed, cadence) or an insole's "
                 "gait cycles (cadence), and this session has neither")
        return
    handles = []
    if data.speed or data.stride_speed:
        if data.stride_speed:
            t, v = zip(*data.stride_speed, strict=True)
            handles += ax.plot(t, v, ".", ms=4, color="#777777", label="speed per stride (m/s)")
        if data.speed:
            t, v = zip(*data.speed, strict=True)
            handles += ax.plot(t, v, "-", lw=1.6, color="#000000", label="speed, five strides (m/s)")
        ax.set_ylabel("walking speed (m/s)")
        ax.set_ylim(0, max(v for _, v in data.speed + data.stride_speed) * 1.3)
        cax = ax.twinx()
    else:
        ax.set_ylabel("cadence (steps/min)")
        why = ("the knee sleeve reported no stride" if any(b.kind == "knee" for b in data.boards)
               else "no knee sleeve")
        ax.text(0.99, 0.03, f"{why}: walking speed not measured", ha="right", va="bottom",
                fontsize=8, color="#8b0000", transform=ax.transAxes)
        cax = ax
    for side in sorted(cad):
        ts, vs = cad[side]
        handles += cax.plot(ts, vs, ".", ms=4, color=SIDE_COLOURS.get(side, "#555"),
                            label=f"cadence, {side} insole per stride")
    if data.cadence_knee:
        t, v = zip(*data.cadence_knee, strict=True)
        handles += cax.plot(t, v, "-", lw=1.2, color="#8b4513", label="cadence, knee sleeve")
    if cax is not ax:
        cax.set_ylabel("cadence (steps/min)")
    vals = [v for _, vs in cad.values() for v in vs] + [v for _, v in data.cadence_knee]
    if vals:
        lo, hi = float(np.percentile(vals, 2)), float(np.percentile(vals, 98))
        cax.set_ylim(max(0.0, lo - 0.3 * (hi - lo) - 5), hi + 0.6 * (hi - lo) + 5)
    ax.set_xlim(0, end)
    ax.set_xlabel("session time (s)")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=8, frameon=False,
              ncols=2)


def _phase_panel(ax: Any, data: GaitData) -> None:
    """One bar per (source, foot): mean stance then mean swing (a gait cycle), SD as error bars."""
    ax.set_title("stance and swing per gait cycle (mean ± SD; stance % of cycle)", fontsize=10, loc="left")
    bars = []
    for source, name in (("insole", "insoles"), ("knee", "knee sleeve")):
        st, sw = _by_side(data, "stance_s", source), _by_side(data, "swing_s", source)
        for side in ("left", "right"):
            if side in st and side in sw:
                bars.append((f"{side}\n{name}", st[side][1], sw[side][1]))
    if not bars:
        _say(ax, "no stance or swing time: it needs an insole's gait cycles (heel strike, toe off) or the "
                 "knee sleeve's stances, and this session has neither")
        return
    for y, (_label, st, sw) in enumerate(bars):
        ms, ss = float(np.mean(st)), float(np.std(st, ddof=1)) if len(st) > 1 else 0.0
        mw, sdw = float(np.mean(sw)), float(np.std(sw, ddof=1)) if len(sw) > 1 else 0.0
        ax.barh(y, ms, color=STANCE_COLOUR, edgecolor="#333", label="stance" if y == 0 else None)
        ax.barh(y, mw, left=ms, color=SWING_COLOUR, edgecolor="#333", label="swing" if y == 0 else None)
        pct = 100 * ms / (ms + mw) if ms + mw > 0 else 0
        # mean ± SD in words (error bars on stacked bars cross the other phase's label)
        ax.text(0.02, y, f"{ms:.2f} ± {ss:.2f} s ({pct:.0f} %)", ha="left", va="center", fontsize=8)
        ax.text(ms + mw + 0.02, y, f"swing {mw:.2f} ± {sdw:.2f} s", ha="left", va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time (s), stance then swing")
    ax.set_xlim(0, max(float(np.mean(b[1]) + np.mean(b[2])) for b in bars) * 1.55)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=8, frameon=False, ncols=2)


def _feedback_panel(ax: Any, data: GaitData, end: float) -> None:
    ax.set_title("feedback the boards gave the patient", fontsize=10, loc="left")
    if not any(b.kind == "knee" for b in data.boards):
        _say(ax, "no feedback possible: the knee sleeve gives it (buzzer, LED, speed notice), and this "
                 "session has none")
        return
    n = sum(len(v) for v in data.feedback.values())
    for y, kind in enumerate(FEEDBACK_ROWS):
        few = len(data.feedback[kind]) <= 8  # labelled when they cannot crowd each other
        for t0, t1, label in data.feedback[kind]:
            if few:
                ax.text(t0, y - 0.32, " " + label, fontsize=7, va="bottom", ha="left", color="#333333")
            if t1 is None and kind == "speed notice":
                ax.plot([t0], [y], "v", ms=8, color=FEEDBACK_COLOURS[kind])
            else:
                ax.broken_barh([(t0, (t1 if t1 is not None else end) - t0)], (y - 0.3, 0.6),
                               color=FEEDBACK_COLOURS[kind])
    ax.set_yticks(range(len(FEEDBACK_ROWS)),
                  [f"{k} ({len(data.feedback[k])})" for k in FEEDBACK_ROWS], fontsize=8)
    ax.set_ylim(len(FEEDBACK_ROWS) - 0.5, -0.9)
    ax.set_xlim(0, end)
    ax.set_xlabel("session time (s)")
    ax.grid(alpha=0.3, axis="x")
    if n == 0:
        ax.text(0.5, 0.5, "no feedback given in this session", ha="center", va="center", fontsize=9,
                color="#444444", transform=ax.transAxes)


def fmt(v: float | None, unit: str = "") -> str:
    """A table number: '-' for none; 2 decimals for s and m, 1 for the rest."""
    if v is None:
        return "–"
    return f"{v:.2f}" if unit in ("s", "m", "m/s") else f"{v:.1f}"


TABLE_COLUMNS = ("parameter", "unit", "n", "mean", "SD", "CV %", "left", "right", "L/R asym. %", "source, paper")


def table_cells(row: dict[str, Any]) -> list[str]:
    u = row["unit"]
    return [f"{row['parameter']}", u, str(row["n"]), fmt(row["mean"], u), fmt(row["sd"], u),
            fmt(row["cv_pct"]), fmt(row["left"], u), fmt(row["right"], u), fmt(row["asym_pct"]),
            f"{row['source']}, {row['paper']}"]


def _table_panel(ax: Any, rows: list[dict[str, Any]]) -> None:
    ax.set_title("gait parameters (SD: sample SD; CV = SD / mean; asymmetry = 100 |L - R| / ((L + R) / 2) "
                 "of the left and right means)", fontsize=10, loc="left")
    ax.axis("off")
    if not rows:
        ax.text(0.5, 0.5, "no gait event in this session: no gait parameter to summarise", ha="center",
                va="center", fontsize=9, transform=ax.transAxes)
        return
    tab = ax.table(cellText=[table_cells(r) for r in rows], colLabels=list(TABLE_COLUMNS),
                   loc="upper center", cellLoc="center",
                   colWidths=[0.15, 0.07, 0.05, 0.07, 0.07, 0.06, 0.07, 0.07, 0.08, 0.26])
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    tab.scale(1, 1.25)
    for (r, c), cell in tab.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if r == 0:
            cell.set_facecolor("#eeeeee")
        if c in (0, 9) and r > 0:
            cell.set_text_props(ha="left")
            cell.PAD = 0.03
