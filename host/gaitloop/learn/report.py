"""Markdown tables of the ablation results beside the papers' numbers (docs/learn.md).

    python -m gaitloop.learn.report runs/ablation_phase.json runs/ablation_grf.json
    python -m gaitloop.learn.report --seeds runs/ablation_phase.json runs/seeds/phase_s1.json ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

PAPER_PHASE = {  # ResNet-LSTM paper, Tables I, V, VI (their data: 6 IMUs + 4 FSRs, 70/30 split)
    "resnet_lstm": ("ResNet-LSTM", "92.67 % acc, F1 95.63 % (Table V); macro-F1 95.33 %, micro-F1 94.73 % (Table I, 92.47 %)"),
    "resnet_lstm_tpa": ("ResNet-LSTM-TPA", "93.33 % acc, F1 95.80 % (Table VI)"),
    "lstm": ("LSTM", "89.10 % acc, F1 90.53 %"),
    "KNN": ("KNN", "72.66 % acc, F1 74.00 %"),
    "SVM": ("SVM", "74.33 % acc, F1 75.57 %"),
}


def _pct(x):
    return f"{100 * x:.2f}"


def phase_tables(res: dict) -> str:
    out = []
    for section, title in (("recording_split", "Held-out recordings (headline)"),
                           ("random70_split", "Paper's 70/30 random window split (leaks: for comparison only)")):
        if not res.get(section):
            continue
        out += [f"### {title}", "",
                "| model | params | acc % | macro-F1 % | micro-F1 % | F1 HS | F1 ST | F1 HO | F1 SW | train s | paper |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for key, r in res[section].items():
            m = r["metrics"]
            f1 = m["f1"]
            name, paper = PAPER_PHASE.get(key, (key, ""))
            out.append(f"| {name} | {r.get('params', '-')} | {_pct(m['accuracy'])} | {_pct(m['macro_f1'])} | "
                       f"{_pct(m['micro_f1'])} | {_pct(f1['HS'])} | {_pct(f1['ST'])} | {_pct(f1['HO'])} | "
                       f"{_pct(f1['SW'])} | {r.get('train_time_s', 0):.0f} | {paper} |")
        out.append("")
    if "students" in res:
        out += ["### Students (held-out recordings)", "",
                "| inputs / distillation | params | MACs | acc % | macro-F1 % | micro-F1 % | F1 HS | F1 ST | F1 HO | F1 SW | train s |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for key, r in res["students"].items():
            m = r["metrics"]
            f1 = m["f1"]
            out.append(f"| {key} | {r['params']} | {r['macs']} | {_pct(m['accuracy'])} | {_pct(m['macro_f1'])} | "
                       f"{_pct(m['micro_f1'])} | {_pct(f1['HS'])} | {_pct(f1['ST'])} | {_pct(f1['HO'])} | "
                       f"{_pct(f1['SW'])} | {r['train_time_s']:.0f} |")
        out.append("")
    return "\n".join(out)


def grf_tables(res: dict) -> str:
    out = [f"Test subjects: {', '.join(res['test_subjects'])} ({res['n_test']} windows); "
           f"faults: {res['faults']}", "",
           "| model | inputs | params | MACs | RMSE N | RMSE % BW | R^2 | train s |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    t = res["teacher"]
    m = t["metrics"]
    out.append(f"| {t['model']} | 8 clean sensors | {t['params']} | - | {m['rmse_n']:.1f} | "
               f"{m['rmse_pct_bw']:.2f} | {m['r2']:.4f} | {t['train_time_s']:.0f} |")
    m = res["linear"]["metrics"]
    out.append(f"| {res['linear']['model']} | faulty heel+ball | 3 | 2 | {m['rmse_n']:.1f} | "
               f"{m['rmse_pct_bw']:.2f} | {m['r2']:.4f} | 0 |")
    for key, r in res["students"].items():
        m = r["metrics"]
        out.append(f"| student ({key}) | faulty heel+ball | {r['params']} | {r['macs']} | {m['rmse_n']:.1f} | "
                   f"{m['rmse_pct_bw']:.2f} | {m['r2']:.4f} | {r['train_time_s']:.0f} |")
    return "\n".join(out) + "\n"


def _student_score(res: dict, key: str) -> float:
    m = res["students"][key]["metrics"]
    return m["rmse_n"] if "rmse_n" in m else 100 * m["accuracy"]


def seed_table(results: list[dict]) -> str:
    """Mean, sd, min and max of every student variant over runs that differ only in the
    training seed (same split), so a ranking can be read against seed-to-seed spread."""
    seeds = [r["settings"]["seed"] for r in results]
    # runs from before --split-seed existed split with their training seed
    splits = {r["settings"].get("split_seed", r["settings"]["seed"]) for r in results}
    if len(splits) > 1:
        raise ValueError(f"runs use different splits {sorted(splits)}: seeds are not comparable")
    grf = "teacher" in results[0]
    unit = "RMSE N" if grf else "acc %"
    keys = [k for k in results[0]["students"] if all(k in r.get("students", {}) for r in results)]
    out = [f"Training seeds {', '.join(map(str, seeds))} (split fixed):", "",
           f"| student | {unit} mean | sd | min | max | per seed |", "|---|---:|---:|---:|---:|---|"]
    for k in keys:
        v = np.array([_student_score(r, k) for r in results])
        sd = v.std(ddof=1) if len(v) > 1 else float("nan")
        out.append(f"| {k} | {v.mean():.2f} | {sd:.2f} | {v.min():.2f} | {v.max():.2f} | "
                   f"{' / '.join(f'{x:.2f}' for x in v)} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    args = list(argv if argv is not None else sys.argv[1:])
    if args and args[0] == "--seeds":
        print(seed_table([json.loads(Path(p).read_text()) for p in args[1:]]))
        return
    for p in args:
        res = json.loads(Path(p).read_text())
        print(f"<!-- from {p} -->")
        print(grf_tables(res) if "teacher" in res else phase_tables(res))


if __name__ == "__main__":
    main()
