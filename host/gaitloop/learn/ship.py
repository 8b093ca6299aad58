"""Ship a trained student: board artifacts via part B's `tools/ship_student.py`, then the
human-readable model card.

    python -m gaitloop.learn.ship models/student_phase_insole.pt

`tools/ship_student.py` (part B) exports the checkpoint (ONNX, ONNX int8, TFLite int8, device
file), runs the device file under MicroPython on every test window and writes
`models/<stem>_int8.tflite`, `<stem>_int8.onnx`, `<stem>.gldm` and `<stem>.card.json`. This
module then writes `<stem>.md` from that card and the checkpoint metadata: every number on it
is read from those files, never typed by hand.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def model_card(stem: str, meta: dict, card: dict) -> str:
    m = meta.get("metrics", {})
    lines = [f"# Model card: {stem}", "",
             f"- task: **{meta['task']}**; kind: {meta['kind']}; trained {meta.get('created')}; "
             f"shipped {card.get('created')}",
             f"- inputs: {', '.join(meta['channels'])} (window {meta['window']} samples at 100 Hz); "
             f"layout {meta.get('layout')}",
             f"- normalisation: {meta.get('norm')}, min {meta['norm_min']}, max {meta['norm_max']}"]
    if meta["task"] == "phase":
        lines += [f"- classes: {', '.join(meta['classes'])} (label rule: {meta.get('label_rule')})",
                  f"- data: {meta.get('data')}; split {meta.get('split')}; test recordings: "
                  f"{', '.join(meta.get('test_files', []))}",
                  "- units: the Huang insoles report raw units (0..~800), not newtons; a board must "
                  "feed the same scale (device file count_scale) or be recalibrated",
                  f"- decision delay: {meta.get('decision_delay', 0)} samples = "
                  f"{1000.0 * meta.get('decision_delay', 0) / meta.get('sample_rate_hz', 100):.0f} ms "
                  "(each answer is the phase of the sample that long before the window's end; "
                  "docs/learn.md \"Decision delay\")"]
    else:
        lines += [f"- target: {meta.get('target')} [N] = output x {meta.get('target_scale')}",
                  f"- data: {meta.get('data')}; test subjects: {', '.join(meta.get('test_subjects', []))}",
                  f"- insole faults on the input: {meta.get('faults')}"]
    d = meta.get("distillation", {})
    lines += [f"- distillation: {d.get('mode')} (T={d.get('T')}, alpha={d.get('alpha')}, "
              f"beta={d.get('beta')}); teacher not shipped ({d.get('teacher')})",
              f"- size: {meta.get('params')} parameters, {meta.get('macs')} MACs per inference; "
              f"epochs {meta.get('epochs')}, seed {meta.get('seed')}",
              f"- files: {', '.join(card['files'].values())} (+ {stem}.pt, {stem}.card.json)", "",
              "## Test metrics (float)", ""]
    for k in ("accuracy", "macro_f1", "micro_f1", "rmse_n", "rmse_pct_bw", "r2"):
        if k in m:
            lines.append(f"- {k}: {_fmt(m[k])}")
    if "f1" in m:
        lines.append("- per-phase F1: " + ", ".join(f"{c} {v:.4f}" for c, v in m["f1"].items()))
    lines += ["", f"## Export parity ({card['test_set']}, {card['n_test']} windows)", ""]
    keys = sorted({k for r in card["parity"].values() for k in r})
    lines.append("| model | " + " | ".join(keys) + " |")
    lines.append("|---" * (len(keys) + 1) + "|")
    for name, r in card["parity"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(r.get(k, "-")) for k in keys) + " |")
    lines += ["", f"int8 checks (<= 1 point): {json.dumps(card['int8_checks'])}", "",
              "## On the board (firmware interpreter under MicroPython)", ""]
    for k, v in card.get("device", {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "Reproduce: docs/learn.md."]
    return "\n".join(lines) + "\n"


def ship(ckpt: Path, data: Path | None = None) -> Path:
    from gaitloop.learn.checkpoint import load_checkpoint

    ckpt = Path(ckpt)
    cmd = [sys.executable, str(ROOT / "tools" / "ship_student.py"), str(ckpt), "--name",
           ckpt.stem, "--models", str(ckpt.parent)]
    if data is not None:
        cmd += ["--data", str(data)]
    subprocess.run(cmd, check=True)
    card = json.loads(ckpt.with_suffix(".card.json").read_text())
    _, meta = load_checkpoint(ckpt)
    out = ckpt.with_suffix(".md")
    out.write_text(model_card(ckpt.stem, meta, card))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", type=Path, default=None)
    a = ap.parse_args(argv)
    print(ship(a.checkpoint, a.data))


if __name__ == "__main__":
    main()
