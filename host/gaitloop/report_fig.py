"""The figure of one board in a session report: signals grouped by unit, events by kind.

Why these choices, each from reading the figures as a clinician would:
- one axis per physical unit (from the board's HELLO `units`): a knee sleeve's bend angle
  (deg), thigh acceleration (g) and angular rate (dps) never share a y label;
- the whole session on top, a 10 s window from the first gait event below, with every gait
  event drawn as a line coloured by kind and named in a legend with its count; kinds not
  drawn as lines are named in the caption (their values are in the report's table);
- a replayed recording that loops (HELLO `replay`) has its restart points marked, so five
  passes of one captured walk with standing between them read as what they are;
- the insole's on-board GRF student is drawn as a curve over the measured forces, clipped
  at 0 N with the clipping said in its label (a linear output head dips below zero in swing);
- lines break where samples are missing instead of bridging the gap.

`board_figure` returns a matplotlib `Figure` (no pyplot state), so tests inspect the objects
and a later, fuller report can reuse this one code path.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from gaitloop.record import Recording, sample_table

#: y-axis quantity per HELLO unit
QUANTITIES = {"N": "force", "deg": "angle", "g": "acceleration", "dps": "angular rate",
              "deg/s": "angular rate", "mm": "length", "%": "percent"}

#: events shown as a value curve rather than as lines (one every `hop` samples)
VALUE_EVENTS = frozenset({"student_grf"})

#: events reported at the moment of another, drawn one (their values are in the table)
NOT_MARKED = frozenset({
    "mg_step", "mg_stride", "mg_stance_swing", "mg_asymmetry", "mg_speed", "mg_rls_step",
    "mg_rls_done", "mg_rls_d5", "command", "config", "boot", "student_model", "csm_sensor",
})

#: feedback and faults: rare and what a clinician looks for, so marked on the whole session too
WHOLE_SESSION_EVENTS = frozenset({"mg_buzzer_on", "mg_buzzer_off", "mg_led_on", "mg_led_off",
                                  "mg_speed_trend", "sensor_fault", "insole_status"})

#: fixed bright colours for the common event kinds, so every report colours them alike;
#: signals are drawn in dark tones (_CHANNEL_COLOURS) so an event line never looks like one
EVENT_COLOURS = {
    "heel_strike": "#e41a1c", "foot_flat": "#4daf4a", "heel_off": "#ff7f00", "toe_off": "#00bfff",
    "mg_initial_contact": "#e41a1c", "mg_foot_off": "#00bfff",
    "mg_buzzer_on": "#984ea3", "mg_buzzer_off": "#d4a6d9", "mg_led_on": "#ffd700",
    "mg_led_off": "#eee8aa", "mg_speed_trend": "#f781bf",
    "mg_step_lost": "#a6a6a6", "mg_step_rejected": "#a6a6a6", "insole_status": "#f781bf",
    "sensor_fault": "#ff00ff", "student_phase": "#66c2a5", "mg_standing_calibration": "#b2df8a",
}
_SPARE_COLOURS = ("#fdbf6f", "#cab2d6", "#a6cee3", "#fb9a99", "#ffff99", "#b15928")
_CHANNEL_COLOURS = ("#000000", "#1f3f8f", "#8b4513", "#2f6f3f", "#6a0dad", "#555555", "#8b0000")

WINDOW_S = 10.0


@dataclass
class BoardSeries:
    """One board's samples and events on the board's own clock (s since its boot)."""

    name: str
    t: np.ndarray  # board time, s since the board's boot
    index: np.ndarray
    channels: dict[str, np.ndarray]  # physical units
    units: dict[str, str]
    events: list[tuple[float, str, object]]  # (t s, kind, Event)
    restarts: list[float]  # t of each replay restart inside the recording
    replay_s: float | None  # length of one replay pass (s), when the board replays
    rate: int


def board_series(rec: Recording, link: int) -> BoardSeries:
    lr = rec.links[link]
    h = lr.hello
    cols = sample_table(rec, link)
    t_ms = cols["t_ms"]
    # board time as the board stamps it (s since boot): the same clock as the live table,
    # the demo summary and the events CSV's t_ms, so a time read in one is found in another
    t = t_ms / 1000.0
    idx = cols["index"]
    chans = {c: cols[c] for c in h.channels}
    units = dict(zip(h.channels, h.units, strict=True))
    events = [(t_ev / 1000.0, ev.name, ev) for t_ev, _s, ev in rec.events(link)]
    replay = h.extra.get("replay") if isinstance(h.extra.get("replay"), dict) else None
    restarts: list[float] = []
    replay_s = None
    if replay and int(replay.get("samples", 0)) > 0:
        n = int(replay["samples"])
        replay_s = n / h.rate
        if replay.get("loop", False) and len(idx):
            start = int(replay.get("start", 0))  # the row a board joining a shared walk began at
            at = np.nonzero(((idx + start) % n == 0) & (idx > 0))[0]
            restarts = [float(t[i]) for i in at]
    return BoardSeries(lr.name, t, idx, chans, units, events, restarts, replay_s, h.rate)


def unit_groups(units: dict[str, str]) -> dict[str, list[str]]:
    """Channel names per unit, in channel order: {'deg': ['bend_l', 'bend_r'], 'g': [...]}."""
    groups: dict[str, list[str]] = {}
    for ch, u in units.items():
        groups.setdefault(u, []).append(ch)
    return groups


def y_label(unit: str) -> str:
    q = QUANTITIES.get(unit)
    return f"{q} ({unit})" if q else (unit or "counts")


def _channel_style(name: str, order: list[str]) -> dict:
    """Same colour for one quantity on both legs (ax_l, ax_r), solid left, dashed right."""
    base, side = name, ""
    if name[-2:] in ("_l", "_r"):
        base, side = name[:-2], name[-1]
    bases = list(dict.fromkeys(n[:-2] if n[-2:] in ("_l", "_r") else n for n in order))
    colour = _CHANNEL_COLOURS[bases.index(base) % len(_CHANNEL_COLOURS)]
    return {"color": colour, "linestyle": "--" if side == "r" else "-", "lw": 0.9}


def _with_gaps(t: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN between samples whose index is not consecutive: a lost stretch is not bridged."""
    if len(idx) < 2:
        return t, y
    breaks = np.nonzero(np.diff(idx) != 1)[0] + 1
    if not len(breaks):
        return t, y
    return (np.insert(t.astype(float), breaks, np.nan), np.insert(y.astype(float), breaks, np.nan))


def event_colour(kind: str, kinds: list[str]) -> str:
    if kind in EVENT_COLOURS:
        return EVENT_COLOURS[kind]
    spare = [k for k in kinds if k not in EVENT_COLOURS]
    return _SPARE_COLOURS[spare.index(kind) % len(_SPARE_COLOURS)] if kind in spare else "#7f7f7f"


def grf_curve(s: BoardSeries) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(t, force N clipped at 0, lowest force before clipping) of the on-board GRF student."""
    pts = [(t, ev.a * 0.1) for t, kind, ev in s.events if kind == "student_grf"]
    if not pts:
        return None
    arr = np.asarray(pts, dtype=float)
    return arr[:, 0], np.clip(arr[:, 1], 0.0, None), float(arr[:, 1].min())


def zoom_start(s: BoardSeries) -> float:
    """The window starts 1 s before the first drawn gait event (not in the standing start)."""
    first = float(s.t[0]) if len(s.t) else 0.0
    drawn = [t for t, kind, _ in s.events if kind not in NOT_MARKED | VALUE_EVENTS and t > first]
    start = (drawn[0] - 1.0) if drawn else first
    end = float(s.t[-1]) if len(s.t) else 0.0
    return max(first, min(start, end - WINDOW_S))


def board_figure(rec: Recording, link: int) -> Figure:
    """The board's figure: per unit, the whole session, then a 10 s window with events."""
    s = board_series(rec, link)
    groups = unit_groups(s.units)
    n = len(groups)
    fig = Figure(figsize=(10, 1.0 + 2.1 * 2 * n), layout="constrained")
    axes = fig.subplots(2 * n, 1, squeeze=False)[:, 0]
    grf = grf_curve(s)
    end = float(s.t[-1]) if len(s.t) else 0.0
    z0 = zoom_start(s)
    z1 = z0 + WINDOW_S
    counts = Counter(kind for _, kind, _ in s.events)
    marked = sorted(k for k in counts if k not in NOT_MARKED | VALUE_EVENTS)
    duration = len(s.t) / s.rate if s.rate else 0.0
    for row, (unit, names) in enumerate(groups.items()):
        for part, ax in enumerate((axes[row], axes[n + row])):
            for name in names:
                tt, yy = _with_gaps(s.t, s.channels[name], s.index)
                ax.plot(tt, yy, label=name, **_channel_style(name, list(s.units)))
            if grf is not None and unit == "N":
                gt, gf, low = grf
                note = f" (clipped at 0 N; lowest {low:.1f} N)" if low < 0 else ""
                ax.plot(gt, gf, color="#777777", lw=1.2, linestyle=":",
                        label=f"student: total vertical force estimate{note}")
            ax.set_ylabel(y_label(unit))
            ax.grid(alpha=0.3)
            for i, x in enumerate(s.restarts):
                ax.axvline(x, color="k", lw=1.2, linestyle=(0, (6, 3)),
                           label="replay starts again" if i == 0 else None)
            if part == 0:
                ax.set_xlim(float(s.t[0]) if len(s.t) else 0.0, max(end, 1e-3))
                for kind in sorted(k for k in counts if k in WHOLE_SESSION_EVENTS):
                    for i, x in enumerate(t for t, k, _ in s.events if k == kind):
                        ax.axvline(x, color=event_colour(kind, marked), lw=1.6,
                                   label=f"{kind} ({counts[kind]})" if i == 0 else None)
                ax.set_title(f"{s.name}: {y_label(unit)}, whole session ({duration:.1f} s of board time"
                             + (f"; the {s.replay_s:.1f} s replay starts again {len(s.restarts)}x"
                                if s.restarts else "") + ")", fontsize=10)
            else:
                for kind in marked:
                    xs = [t for t, k, _ in s.events if k == kind and z0 <= t <= z1]
                    for i, x in enumerate(xs):
                        # the event legend once, on the first window row
                        label = f"{kind} ({counts[kind]} in session)" if i == 0 and row == 0 else None
                        ax.axvline(x, color=event_colour(kind, marked), lw=1.1, alpha=0.9, label=label)
                ax.set_xlim(z0, z1)
                ax.set_title(f"{s.name}: {y_label(unit)}, {WINDOW_S:.0f} s from {z0:.1f} s with events",
                             fontsize=10)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    axes[-1].set_xlabel("board time (s)")
    axes[n - 1].set_xlabel("board time (s)")
    hidden = sorted(k for k in counts if k in NOT_MARKED)
    if hidden:
        note = ("events not drawn as lines (their values are in the report's table): "
                + ", ".join(f"{k} x{counts[k]}" for k in hidden))
        fig.supxlabel(textwrap.fill(note, 160), fontsize=7)
    return fig


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
