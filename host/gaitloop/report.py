"""A self-contained HTML report of a session: per-board summary, signal plots with events.

Why one HTML file with inline PNGs: it can be mailed to a clinician or attached to a study
record and opens anywhere without the toolchain. Durations are computed from sample counts
and the board's rate (what was walked), not from the host clock (which runs N times slower
than the board's during an N x replay); both are shown, with the replay speed between them.
Event fields are shown in physical units and STATUS flags by name (`gaitloop.eventview`,
`gaitloop.flags`); the figures come from `gaitloop.report_fig`.

The page opens with what a gait lab hands out (`gaitloop.report_lab`: force curves with phases,
step lengths, asymmetry, speed and cadence, stance and swing, feedback, the summary table with
its papers), also written as report.png and, per step, steps.csv; the per-board signals follow
as an appendix. The web sessions page calls this same `write_report`.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from gaitfw import protocol as P
from gaitloop.eventview import CODED_FIELDS, DIAGNOSTIC_FIELDS, FLAG_FIELDS, scaled, shown_fields
from gaitloop.flags import flag_names, flag_text
from gaitloop.outpaths import ensure_out_dir, write_atomic
from gaitloop.record import LinkRecord, Recording, info
from gaitloop.report_fig import board_figure, board_series, figure_png, grf_curve
from gaitloop.report_gait import PAPERS, step_csv
from gaitloop.report_lab import TABLE_COLUMNS, LabReport, build_lab_report, table_cells


def board_times(rec: Recording, b: dict[str, Any], lr: LinkRecord) -> dict[str, Any]:
    """Board time from sample counts and rate; wall time of the recording; replay speed."""
    rate = b["rate_hz"] or 0
    board_s = (b["samples"] + b["sample_gaps"]) / rate if rate else 0.0
    wall_s = b["host_seconds"]
    replay = lr.hello.extra.get("replay") if lr.hello else None
    # speed from SAMPLES frames alone: board clock advance per host second while streaming
    stamps = [(t, fr.t_ms) for t, fr in lr.frames if fr.kind == P.MSG_SAMPLES]
    speed = None
    if len(stamps) >= 2 and stamps[-1][0] > stamps[0][0]:
        speed = (stamps[-1][1] - stamps[0][1]) / 1000.0 / (stamps[-1][0] - stamps[0][0])
    return {
        "board_s": board_s,
        "wall_s": wall_s,
        "speed": speed,
        "replay_s": (replay["samples"] / rate) if isinstance(replay, dict) and rate and replay.get("samples") else None,
        "restarts": len(board_series(rec, lr.link).restarts) if replay else 0,
    }


def _speed_text(t: dict[str, Any]) -> str:
    if t["speed"] is None:
        return "-"
    out = f"x{t['speed']:.2g}"
    if t["replay_s"]:
        out += f" ({t['replay_s']:.1f} s replay" + (
            f", starts again {t['restarts']}x" if t["restarts"] else "") + ")"
    return out


def write_report(rec: Recording, out_dir: str | Path) -> Path:
    """Write report.html, report.png (the gait-lab page), steps.csv (one row per step) and one
    PNG per board into out_dir, each atomically; return the HTML path."""
    out = ensure_out_dir(out_dir)
    lab = build_lab_report(rec)
    lab_png = figure_png(lab.figure, dpi=80)
    # everything is built in memory first, then each file is renamed into place (the HTML
    # last): a failure leaves the previous report as it was, never half of a new one
    files: list[tuple[Path, bytes | str]] = [(out / "report.png", lab_png), (out / "steps.csv", step_csv(lab.data))]
    summary = info(rec)
    times = {b["link"]: board_times(rec, b, rec.links[b["link"]]) for b in summary["boards"]}
    walked = [t["board_s"] for t in times.values() if t["board_s"]]
    head = (f"{html.escape(summary['file'])}: {len(summary['boards'])} board(s), "
            f"recorded for {summary['duration_s']:.1f} s of wall time")
    if walked:
        lo, hi = min(walked), max(walked)
        span = f"{lo:.1f} s" if abs(hi - lo) < 0.05 else f"{lo:.1f} - {hi:.1f} s"
        head += f"; {span} of board time (samples / rate)"
    parts = [
        "<!doctype html><meta charset='utf-8'><title>gaitloop session report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
        ".note{color:#555;font-size:90%}.lacks{color:#8b0000}td.num{text-align:right}</style>",
        f"<h1>gaitloop session</h1><p>{head}</p>",
        *lab_html(lab, lab_png),
        "<h2>Appendix: the boards and their signals</h2>",
        "<table><tr><th>board</th><th>kind</th><th>side</th><th>rate (Hz)</th><th>samples</th>"
        "<th>board time (s)</th><th>replay speed</th><th>events</th><th>frame gaps</th>"
        "<th>samples missing</th><th>CRC errors</th></tr>",
    ]
    for b in summary["boards"]:
        t = times[b["link"]]
        cells = [b["device"], b["kind"], b["side"], b["rate_hz"], b["samples"], f"{t['board_s']:.1f}",
                 _speed_text(t), b["events"], b["seq_gaps"], b["sample_gaps"], b["crc_errors"]]
        parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    parts.append("</table><p class='note'>board time = samples / rate, the time the sensors saw; "
                 "replay speed = board time per second of wall time (1 for a real board).</p>")
    parts.append(_left_right_html(rec))
    for lr in rec.links.values():
        if lr.hello is None:
            parts.append(f"<h2>{html.escape(lr.name)}</h2><p>no HELLO recorded: channel names and "
                         "units unknown, nothing plotted.</p>")
            continue
        parts.extend(_board_section(rec, lr, out, files))
    path = out / "report.html"
    files.append((path, "\n".join(parts)))
    for target, data in files:
        write_atomic(target, data)
    return path


def _board_section(rec: Recording, lr: LinkRecord, out: Path, files: list[tuple[Path, bytes | str]]) -> list[str]:
    events = rec.events(lr.link)
    counts = Counter(ev.name for _, _, ev in events)
    parts = [f"<h2>{html.escape(lr.name)}</h2>"]
    if counts:
        parts.append("<p>events: " + ", ".join(
            f"{html.escape(k)} &times; {v}" for k, v in sorted(counts.items())) + "</p>")
    parts.append(f"<p>{_status_html(rec, lr.link)}</p>")
    changes = status_changes(rec, lr.link)
    if changes:
        parts.append("<p>insole status changes: " + "; ".join(html.escape(c) for c in changes) + "</p>")
    parts.append(event_stats_html(events))
    grf = grf_curve(board_series(rec, lr.link)) if counts.get("student_grf") else None
    if grf is not None and grf[2] < 0:
        parts.append(f"<p class='note'>The on-board GRF student's force estimate dips below 0 N in "
                     f"swing (lowest {grf[2]:.1f} N). That is the model, not the board: its output layer "
                     "is linear, and the float model and its int8 reference give the same values "
                     "(the board is bit-exact with them), well inside its 92 N test error (model "
                     "card). Plots and the table clip it at 0 N, since a vertical ground reaction "
                     "force cannot be negative.</p>")
    fig = board_figure(rec, lr.link)
    png = figure_png(fig)
    files.append((out / f"{lr.name}.png", png))
    parts.append(f"<img style='width:100%' alt='{html.escape(lr.name)} signals and events' "
                 f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    return parts


def status_summary(rec: Recording, link: int) -> dict[str, int]:
    """Flag name -> number of STATUS reports it was set in (names from `gaitloop.flags`)."""
    out: Counter[str] = Counter()
    for _t, st in rec.statuses(link):
        for name in flag_text(st.flags).split(","):
            if name != "ok":
                out[name] += 1
    return dict(out)


def _status_html(rec: Recording, link: int) -> str:
    n = len(rec.statuses(link))
    if not n:
        return "board status: no STATUS report recorded"
    seen = status_summary(rec, link)
    if not seen:
        return f"board status: ok in all {n} STATUS reports"
    return "board status flags (STATUS reports they were set in, of " + str(n) + "): " + ", ".join(
        f"{html.escape(k)} {v}" for k, v in sorted(seen.items()))


def status_changes(rec: Recording, link: int) -> list[str]:
    """'12.3 s: guard set', '14.0 s: guard cleared' (board time) from the insole's status events."""
    names = flag_names()
    out = []
    for t_ms, _s, ev in rec.events(link):
        if ev.name != "insole_status":
            continue
        new, changed = ev.a, ev.b
        words = []
        for bit, name in sorted(names.items()):
            if changed & bit:
                words.append(f"{name} {'set' if new & bit else 'cleared'}")
        unknown = changed & ~sum(names)
        if unknown:
            words.append(f"0x{unknown:x} changed")
        out.append(f"{t_ms / 1000:.1f} s: " + ", ".join(words or ["no change"]))
    return out


def event_stats_html(events: list) -> str:
    """Median and spread of every numeric event field, in physical units (e.g. stance ms, step
    length mm, cadence steps/min); flags and diagnostic fields are left out, and said so."""
    fields: dict[tuple[str, str], list[int]] = {}
    for _t, _s, ev in events:
        for k, v in shown_fields(ev).items():
            if (ev.name, k) in FLAG_FIELDS or (ev.name, k) in CODED_FIELDS or k in DIAGNOSTIC_FIELDS:
                continue
            fields.setdefault((ev.name, k), []).append(v)
    rows = []
    for (name, key), vals in sorted(fields.items()):
        label, _, unit = scaled(key, 0)
        scale = scaled(key, 1)[1]
        arr = np.asarray(vals, dtype=float) * scale
        if name == "student_grf" and label == "force":
            arr = np.clip(arr, 0.0, None)  # see the note under the board's heading
        if not len(arr):
            continue
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(label)}</td>"
                    f"<td>{html.escape(unit)}</td><td>{len(arr)}</td><td>{_num(np.median(arr), unit)}</td>"
                    f"<td>{_num(np.percentile(arr, 5), unit)} - {_num(np.percentile(arr, 95), unit)}</td></tr>")
    if not rows:
        return ""
    return ("<table><tr><th>event</th><th>value</th><th>unit</th><th>n</th><th>median</th>"
            "<th>5-95 %</th></tr>" + "".join(rows) + "</table>"
            "<p class='note'>Not in this table: status flags (above, by name), codes (reasons, states) and diagnostic fields ("
            + ", ".join(sorted(DIAGNOSTIC_FIELDS)) + "); every field is in the events CSV.</p>")


def _num(x: float, unit: str = "") -> str:
    if x == 0 or unit in ("ms", "mm", "mm/s") or abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _left_right_html(rec: Recording) -> str:
    """Left/right asymmetry across two insoles, on the host timeline (empty without them)."""
    from gaitloop.asymmetry import recording_asymmetry

    lr = recording_asymmetry(rec)
    if lr is None:
        return ""
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:g}"

    rows = "".join(f"<tr><td>{k}</td><td>{f(v['left_ms'])}</td><td>{f(v['right_ms'])}</td>"
                   f"<td>{v['n_left']} / {v['n_right']}</td><td>{f(v['si_pct'])} %</td></tr>"
                   for k, v in lr.items())
    return ("<h2>Left and right on one timeline</h2><table><tr><th>median (ms)</th><th>left</th>"
            "<th>right</th><th>n</th><th>symmetry index</th></tr>" + rows + "</table>")



def lab_html(lab: LabReport, png: bytes) -> list[str]:
    """The gait-lab part of the page: what the session lacks, the figure, the summary table with
    each definition and its paper, and the per-step table (also in steps.csv)."""
    parts = []
    if lab.notes:
        parts.append("<p class='lacks'>This file was damaged or cut and has been recovered: "
                     + html.escape("; ".join(lab.notes)) + ". The report shows what was read.</p>")
    if lab.data.lacks:
        parts.append("<p><b>Not in this session:</b></p><ul class='lacks'>"
                     + "".join(f"<li>{html.escape(x)}</li>" for x in lab.data.lacks) + "</ul>")
    parts.append("<h2>Gait parameters</h2>")
    if lab.summary:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in TABLE_COLUMNS) + "<th>definition</th>"
        rows = []
        for r in lab.summary:
            cells = table_cells(r)
            tds = "".join(f"<td class='num'>{html.escape(c)}</td>" if 1 < i < 9 else f"<td>{html.escape(c)}</td>"
                          for i, c in enumerate(cells))
            rows.append(f"<tr>{tds}<td>{html.escape(r['definition'])}</td></tr>")
        parts.append(f"<table data-testid='gait-summary'><tr>{head}</tr>{''.join(rows)}</table>")
        parts.append("<p class='note'>n: values; SD: sample standard deviation (n - 1); CV: SD / mean; "
                     "left, right: means of each side (the front leg for the knee sleeve's steps); "
                     "L/R asym.: 100 |left - right| / ((left + right) / 2). Papers: "
                     + "; ".join(f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in PAPERS.items())
                     + ".</p>")
    else:
        parts.append("<p>no gait event in this session: no gait parameter to summarise.</p>")
    parts.append(f"<img style='width:100%' alt='gait report: force, step length, asymmetry, speed, "
                 f"cadence, stance, swing, feedback' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    steps = lab.data.steps
    if steps:
        from gaitloop.report_gait import STEP_COLUMNS

        body = "".join("<tr>" + "".join(f"<td>{'' if r[c] is None else html.escape(str(r[c]))}</td>"
                                        for c in STEP_COLUMNS) + "</tr>" for r in steps)
        parts.append(f"<details><summary>every step ({len(steps)} rows; also steps.csv)</summary><table>"
                     + "<tr>" + "".join(f"<th>{c}</th>" for c in STEP_COLUMNS) + "</tr>" + body
                     + "</table></details>")
    return parts
