"""Training-time benchmark of the learned models (one CPU thread, batch 128, 40x8 windows).

Measures seconds per training batch side by side in one run, for the ResNet-34-LSTM-TPA
teacher at the trained width (16) and the paper's width (64), the 2-layer LSTM baseline and the
~17 k-parameter student, and projects seconds per epoch for the documented dataset sizes.
If runs/ablation_*.json exist, prints the measured wall-clock training times of those runs.

    .venv/bin/python tools/bench/bench_learn_training.py [--batches 10]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from gaitloop.learn.models import build_model
from gaitloop.learn.students import build_student, count_params

PHASE_TRAIN_WINDOWS = 15775  # recording split, every 4th training window (ablation default)


def time_batches(model, channels: int, n_out: int, batches: int) -> float:
    x = torch.randn(128, channels, 40)
    y = torch.randint(0, n_out, (128,))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    for _ in range(2):  # warm-up
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(batches):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / batches


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {
        "ResNet34-LSTM-TPA width 16 (trained)": build_model("resnet_lstm_tpa", 8, 4, width=16, hidden=128),
        "ResNet34-LSTM-TPA width 64 (paper)": build_model("resnet_lstm_tpa", 8, 4, width=64, hidden=128),
        "LSTM baseline (2x64)": build_model("lstm", 8, 4, hidden=64),
        "student (8/16/32), insole 2 ch": build_student("phase", 2, 4),
    }
    print(f"{'model':40s} {'params':>10s} {'s/batch':>9s} {'s/epoch':>9s}")
    base = None
    for name, m in models.items():
        ch = 2 if "insole" in name else 8
        s = time_batches(m, ch, 4, a.batches)
        base = base or s
        print(f"{name:40s} {count_params(m):10d} {s:9.4f} {s * PHASE_TRAIN_WINDOWS / 128:9.1f}"
              f"   ({s / base:.2f}x the width-16 teacher)")
    for p in sorted(Path("runs").glob("ablation_*.json")):
        res = json.loads(p.read_text())
        print(f"\n{p}:")
        for section in ("recording_split", "students", "random70_split"):
            for k, v in res.get(section, {}).items():
                if isinstance(v, dict) and "train_time_s" in v:
                    print(f"  {section}/{k}: {v['train_time_s']:.0f} s ({v.get('epochs', '-')} epochs)")
        if "teacher" in res:
            print(f"  grf/teacher: {res['teacher']['train_time_s']:.0f} s "
                  f"({res['teacher'].get('epochs')} epochs)")


if __name__ == "__main__":
    main()
