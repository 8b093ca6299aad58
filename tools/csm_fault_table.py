"""Markdown tables (and a compact JSON summary) from `gaitloop eval csm --faults --per-subject`.

    gaitloop eval csm --faults --per-subject --data ../shared/data/huang_gait_phase/events_and_forces \
        --json > faults.json
    .venv/bin/python tools/csm_fault_table.py faults.json --summary docs/csm_faults.json

Why: docs/csm.md shows the fault table and the per-subject table; this prints both from the
command's JSON so the page can be regenerated, and writes the kilobyte summary committed
beside it (E4 / E4 strict / timing / step-count error per cell, verdict, per-subject E1-E4).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

METHODS = ("csm_fixed", "pm", "sttta", "threshold")
CELL_KEYS = ("E4", "E4_strict", "E1", "timing_abs_median_ms", "step_count_error_pct")


def _cell(c: dict) -> dict:
    return {k: c[k] for k in CELL_KEYS if k in c}


def summary(res: dict) -> dict:
    out = {"clean": {m: _cell(res["clean"][m]) for m in METHODS},
           "faults": {f: {lv: {m: _cell(c[m]) for m in METHODS} for lv, c in levels.items()}
                      for f, levels in res["faults"].items()},
           "levels": res["levels"], "verdict": res["verdict"],
           "subjects": res.get("subjects"), "seed": res.get("seed")}
    ps = res.get("per_subject")
    if ps:
        keys = ("E1", "E2", "E3", "E4", "E4_strict", "n_steps")
        out["per_subject"] = {
            "pooled": {m: {k: ps["pooled"][m][k] for k in keys} for m in METHODS},
            "subjects": {s: {m: {k: r[m][k] for k in keys} for m in METHODS}
                         for s, r in ps["subjects"].items()},
            "by_pattern": {p: {m: {k: r[m][k] for k in keys} for m in METHODS}
                           for p, r in ps["by_pattern"].items()},
            "pattern_streams": ps["pattern_streams"]}
    return out


def fault_table(res: dict) -> str:
    head = ("| fault | level | " + " | ".join(f"{m} E4 (strict)" for m in METHODS)
            + " | CSM loss | best threshold loss | goal |")
    lines = [head, "|" + "---|" * (len(METHODS) + 5)]

    def row(name: str, lv: str, cell: dict, v: dict | None) -> str:
        vals = " | ".join(f"{cell[m]['E4']:.2f} ({cell[m]['E4_strict']:.2f})" for m in METHODS)
        if v is None:
            return f"| {name} | {lv} | {vals} | | | |"
        goal = "n/a" if not v["goal_applies"] else ("met" if v["goal_met"] else "**not met**")
        return (f"| {name} | {lv} | {vals} | {v['csm_loss']:+.2f} | {v['best_threshold_loss']:+.2f}"
                f" ({v['best_threshold']}) | {goal} |")

    lines.append(row("clean", "-", res["clean"], None))
    for f, levels in res["faults"].items():
        for lv, cell in levels.items():
            val = res["levels"][f]["values"][int(lv) - 1]
            lines.append(row(f, f"{lv} ({val:g})", cell, res["verdict"][f][lv]))
    return "\n".join(lines)


def subject_table(ps: dict) -> str:
    lines = ["| subject | steps | " + " | ".join(f"{m} E1 / E4" for m in METHODS) + " |",
             "|" + "---|" * (len(METHODS) + 2)]
    for s, r in [*ps["subjects"].items(), ("pooled", ps["pooled"])]:
        lines.append(f"| {s} | {r['csm_fixed']['n_steps']} | " + " | ".join(
            f"{r[m]['E1']:.1f} / {r[m]['E4']:.2f}" for m in METHODS) + " |")
    lines += ["", "| pattern | streams | " + " | ".join(f"{m} E1 / E4" for m in METHODS) + " |",
              "|" + "---|" * (len(METHODS) + 2)]
    for p, r in ps["by_pattern"].items():
        n = len(ps["pattern_streams"].get(p, [])) if p != "none" else "rest"
        if r["csm_fixed"]["n_steps"] == 0:
            lines.append(f"| {p} | 0 | " + " | ".join("-" for _ in METHODS) + " |")
            continue
        lines.append(f"| {p} | {n} | " + " | ".join(
            f"{r[m]['E1']:.1f} / {r[m]['E4']:.2f}" for m in METHODS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", type=Path)
    ap.add_argument("--summary", type=Path, help="write the compact JSON summary here")
    a = ap.parse_args(argv)
    try:
        res = json.loads(a.result.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {a.result}: {exc}", file=sys.stderr)
        return 2
    if "faults" in res:
        print(fault_table(res))
    if "per_subject" in res:
        print()
        print(subject_table(res["per_subject"]))
    if a.summary and "faults" in res:
        a.summary.write_text(json.dumps(summary(res), indent=None, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
