"""KNN and SVM rows of docs/learn.md's gait-phase tables, recomputed, as a committed summary.

    .venv/bin/python tools/phase_classical.py [--data ../shared/data/huang_gait_phase/imu_figs]
        [--out docs/runs/phase_classical.json] [--check]

Why this script: the phase tables of docs/learn.md come from `python -m gaitloop.learn.ablation
phase`, whose run files (runs/*.json) hold hours of teacher training and were not committed.
The two classical baselines need no training loop (KNN k=5, RBF SVM on a seeded 6 000-window
subsample: `gaitloop.learn.phase.baselines`), so they are recomputed here, on both splits the
docs use (held-out recordings; the paper's leaky 70/30 random windows), in about a minute, and
their summary is committed (docs/runs/phase_classical.json). `--check` compares a fresh run
with the committed summary (accuracy and F1 to 0.01 points; exit 1 if one differs). Train
times are printed, never compared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = ROOT / "docs" / "runs" / "phase_classical.json"
KEYS = ("accuracy", "macro_f1", "micro_f1")


def _data_default() -> Path:
    base = Path(os.environ["GAITLOOP_DATA"]) if os.environ.get("GAITLOOP_DATA") else ROOT.parent / "shared" / "data"
    return base / "huang_gait_phase" / "imu_figs"


def compute(data: Path, seed: int = 0) -> dict:
    """{split: {KNN|SVM: {accuracy, macro_f1, micro_f1, per-class f1, train_time_s}}}, percent."""
    from gaitloop.learn import phase
    from gaitloop.learn.phase_data import load_recordings

    recs = load_recordings(str(data))
    out = {}
    for split in ("recording", "random70"):
        ds = phase.dataset(str(data), split=split, seed=0, train_stride=4, recordings=recs)
        res = phase.baselines(ds, seed=seed)
        out[split] = {"n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test))}
        for name, r in res.items():
            m = r["metrics"]
            row = {k: round(100 * float(m[k]), 2) for k in KEYS if k in m}
            row.update({f"f1_{c}": round(100 * float(v), 2) for c, v in m.get("f1", {}).items()})
            row["train_time_s"] = round(float(r["train_time_s"]), 1)
            out[split][name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help=f"write the summary (e.g. {SUMMARY.relative_to(ROOT)})")
    ap.add_argument("--check", action="store_true", help="compare with the committed summary")
    a = ap.parse_args(argv)
    data = a.data or _data_default()
    if not data.is_dir():
        print(f"phase_classical: dataset folder not found: {data}", file=sys.stderr)
        return 2
    got = compute(data)
    for split, rows in got.items():
        for name, row in rows.items():
            if isinstance(row, dict):
                print(f"{split:9} {name}: acc {row['accuracy']:.2f} %, macro-F1 {row.get('macro_f1', 0):.2f} %, "
                      f"trained in {row['train_time_s']} s")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(got, indent=1) + "\n")
    if a.check:
        ref = json.loads(SUMMARY.read_text())
        bad = [f"{s}.{n}.{k}: {got[s][n][k]} vs {ref[s][n][k]}" for s in ref for n in ref[s]
               if isinstance(ref[s][n], dict) for k in ref[s][n]
               if k != "train_time_s" and abs(got[s][n].get(k, -1e9) - ref[s][n][k]) > 0.01]
        for line in bad:
            print(f"phase_classical: differs: {line}", file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
