"""Export a trained student, copy its board artifacts beside it, and write its model card.

    python -m gaitloop.learn.ship models/student_phase_insole.pt [--data DIR]

Writes `<stem>.tflite` (int8), `<stem>.gldm` (device format), `<stem>.parity.json` and the
card `<stem>.md` next to the checkpoint. Every number on the card is read from the checkpoint
metadata and the parity report, never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def model_card(ckpt: Path, meta: dict, report: dict) -> str:
    m = meta.get("metrics", {})
    lines = [f"# Model card: {ckpt.stem}", "",
             f"- task: **{meta['task']}**; kind: {meta['kind']}; created {meta.get('created')}",
             f"- inputs: {', '.join(meta['channels'])} (window {meta['window']} samples at 100 Hz); "
             f"layout {meta.get('layout')}",
             f"- normalisation: {meta.get('norm')}, min {meta['norm_min']}, max {meta['norm_max']}"]
    if meta["task"] == "phase":
        lines += [f"- classes: {', '.join(meta['classes'])} (label rule: {meta.get('label_rule')})",
                  f"- data: {meta.get('data')}; split {meta.get('split')}; test recordings: "
                  f"{', '.join(meta.get('test_files', []))}"]
    else:
        lines += [f"- target: {meta.get('target')} [N] = output x {meta.get('target_scale')}",
                  f"- data: {meta.get('data')}; test subjects: {', '.join(meta.get('test_subjects', []))}",
                  f"- insole faults on the input: {meta.get('faults')}"]
    d = meta.get("distillation", {})
    lines += [f"- distillation: {d.get('mode')} (T={d.get('T')}, alpha={d.get('alpha')}, "
              f"beta={d.get('beta')}); teacher not shipped ({d.get('teacher')})",
              f"- size: {meta.get('params')} parameters, {meta.get('macs')} MACs per inference; "
              f"epochs {meta.get('epochs')}, seed {meta.get('seed')}", "",
              "## Test metrics (float, at training time)", ""]
    for k in ("accuracy", "macro_f1", "micro_f1", "rmse_n", "rmse_pct_bw", "r2"):
        if k in m:
            lines.append(f"- {k}: {_fmt(m[k])}")
    if "f1" in m:
        lines.append("- per-phase F1: " + ", ".join(f"{c} {v:.4f}" for c, v in m["f1"].items()))
    lines += ["", f"## Export parity ({report['test_set']}, {report['n_test']} windows)", ""]
    keys = sorted({k for r in report["parity"].values() for k in r})
    lines.append("| model | " + " | ".join(keys) + " |")
    lines.append("|---" * (len(keys) + 1) + "|")
    for name, r in report["parity"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(r.get(k, "-")) for k in keys) + " |")
    lines += ["", f"int8 checks (<= 1 point accuracy drop): {json.dumps(report['int8_checks'])}"]
    if report.get("notes"):
        lines += ["", "Notes: " + "; ".join(report["notes"])]
    lines += ["", "Reproduce: see docs/learn.md."]
    return "\n".join(lines) + "\n"


def ship(ckpt: Path, data: Path | None = None, workdir: Path | None = None) -> dict:
    from gaitloop.export.pipeline import export_model
    from gaitloop.learn.checkpoint import load_checkpoint

    ckpt = Path(ckpt)
    work = Path(workdir or Path("runs") / f"export_{ckpt.stem}")
    report = export_model(ckpt, work, device=True, data=data)
    for key, suffix in (("tflite_int8", ".tflite"), ("device", ".gldm")):
        if key in report["files"]:
            shutil.copyfile(report["files"][key], ckpt.with_suffix(suffix))
    ckpt.with_suffix(".parity.json").write_text(json.dumps(report, indent=1))
    _, meta = load_checkpoint(ckpt)
    ckpt.with_suffix(".md").write_text(model_card(ckpt, meta, report))
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", type=Path, default=None)
    a = ap.parse_args(argv)
    ship(a.checkpoint, a.data)


if __name__ == "__main__":
    main()
