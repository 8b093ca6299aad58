"""A self-contained HTML report of a session: per-board summary, signal plots with events.

Why one HTML file with inline PNGs: it can be mailed to a clinician or attached to a study
record and opens anywhere without the toolchain.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from pathlib import Path

import numpy as np

from gaitloop.outpaths import ensure_out_dir, write_atomic
from gaitloop.record import Recording, info, sample_table


def _plot_board(rec: Recording, link: int, window_s: float = 10.0) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = sample_table(rec, link)
    t = (cols["t_ms"] - (cols["t_ms"][0] if len(cols["t_ms"]) else 0)) / 1000.0
    names = [c for c in cols if c not in ("t_ms", "seq", "index")]
    h = rec.links[link].hello
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), constrained_layout=True)
    for ax, span in zip(axes, (None, window_s), strict=True):
        sel = slice(None) if span is None else t <= (t[0] + span if len(t) else 0)
        for name in names[:8]:
            ax.plot(t[sel], cols[name][sel], lw=0.8, label=name)
        ax.set_xlabel("board time (s)")
        unit = h.units[0] if h and h.units else ""
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        if span is not None and len(t):
            t0 = cols["t_ms"][0]
            for t_ms, _seq, _ev in rec.events(link):
                x = (t_ms - t0) / 1000.0
                if x <= t[0] + span:
                    ax.axvline(x, color="k", alpha=0.15, lw=0.6)
            ax.set_title(f"first {span:.0f} s with events")
        else:
            ax.set_title(f"{rec.links[link].name}: whole session")
        ax.legend(loc="upper right", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write_report(rec: Recording, out_dir: str | Path) -> Path:
    """Write report.html (and one PNG per board) into out_dir; return the HTML path."""
    out = ensure_out_dir(out_dir)
    summary = info(rec)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>gaitloop session report</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style>",
        f"<h1>gaitloop session</h1><p>{html.escape(summary['file'])}: "
        f"{summary['duration_s']:.1f} s, {len(summary['boards'])} board(s)</p>",
        "<table><tr><th>board</th><th>kind</th><th>side</th><th>rate</th><th>samples</th>"
        "<th>events</th><th>frame gaps</th><th>samples missing</th><th>CRC errors</th></tr>",
    ]
    for b in summary["boards"]:
        parts.append(
            "<tr>" + "".join(
                f"<td>{html.escape(str(b[k]))}</td>"
                for k in ("device", "kind", "side", "rate_hz", "samples", "events", "seq_gaps",
                          "sample_gaps", "crc_errors")
            ) + "</tr>"
        )
    parts.append("</table>")
    for lr in rec.links.values():
        if lr.hello is None:
            continue
        events = rec.events(lr.link)
        counts = Counter(ev.name for _, _, ev in events)
        parts.append(f"<h2>{html.escape(lr.name)}</h2>")
        if counts:
            parts.append("<p>events: " + ", ".join(
                f"{html.escape(k)} &times; {v}" for k, v in sorted(counts.items())) + "</p>")
            parts.append(_event_stats_html(events))
        png = _plot_board(rec, lr.link)
        write_atomic(out / f"{lr.name}.png", png)
        parts.append(f"<img style='width:100%' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    path = out / "report.html"
    write_atomic(path, "\n".join(parts))
    return path


def _event_stats_html(events: list) -> str:
    """Median and spread of every numeric event field (e.g. stance ms, step length mm)."""
    fields: dict[tuple[str, str], list[int]] = {}
    for _t, _s, ev in events:
        for k, v in ev.fields().items():
            fields.setdefault((ev.name, k), []).append(v)
    rows = []
    for (name, key), vals in sorted(fields.items()):
        arr = np.asarray(vals, dtype=float)
        if len(arr) < 2 or np.all(arr == arr[0]):
            continue
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(key)}</td><td>{len(arr)}</td>"
                    f"<td>{np.median(arr):.0f}</td><td>{np.percentile(arr, 5):.0f} - "
                    f"{np.percentile(arr, 95):.0f}</td></tr>")
    if not rows:
        return ""
    return ("<table><tr><th>event</th><th>field</th><th>n</th><th>median</th><th>5-95 %</th></tr>"
            + "".join(rows) + "</table>")
