"""Decision-delay sweep of the phase task (issue 17 part 3): how late may the student answer?

The II.C phase rules are offline (a label can depend on samples after it), while the board
answers at the last sample of its window. With a decision delay of D samples the target of a
window is the label of the sample D samples before its end: the model sees D samples "after"
the sample it classifies, and the answer arrives D / 100 Hz late. This sweep trains the
shipped student architecture (insole heel+ball, no distillation: a distilled student would
need a teacher per delay, and distillation did not help at D = 0) for several D and seeds on
the fixed recording split, scores it in float and as full-integer TFLite int8 (what the
board runs bit for bit), and optionally trains the 8-channel teacher once per D.

    python -m gaitloop.learn.delay --delays 0,5,10,20 --seeds 0,1,2 --out docs/runs/phase_delay.json
    python -m gaitloop.learn.delay --table docs/runs/phase_delay_*.json

Results are written after every run and runs already in `--out` are skipped, so an
interrupted sweep resumes. Checkpoints go to `--runs` (not committed); the JSON holds metrics
only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from gaitloop.learn.phase_data import delay_ms

METRIC_KEYS = ("accuracy", "macro_f1", "micro_f1", "f1")


def _small(m: dict) -> dict:
    return {k: m[k] for k in METRIC_KEYS}


def int8_metrics(model, X_calib: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 meta: dict, workdir: Path) -> dict:
    """Metrics of `model` as full-integer TFLite int8 (the graph the board runs bit-exactly)."""
    from gaitloop.export.tflite_export import export_tflite, quantize_input, run_tflite
    from gaitloop.learn.metrics import phase_metrics
    from gaitloop.learn.phase_labels import CLASSES

    rng = np.random.default_rng(0)
    calib = X_calib[np.sort(rng.permutation(len(X_calib))[:2000])]
    tfl = export_tflite(model, {**meta, "in_channels": int(X_test.shape[1])}, calib,
                        workdir / "model_int8.tflite")
    from ai_edge_litert.interpreter import Interpreter

    (isc, izp) = Interpreter(model_path=str(tfl)).get_input_details()[0]["quantization"]
    q_out = run_tflite(tfl, quantize_input(X_test, isc, izp))
    return _small(phase_metrics(y_test, q_out.argmax(1), CLASSES))


def run_student(data: Path, recs, delay: int, seed: int, args, runs: Path) -> dict:
    from gaitloop.learn import phase
    from gaitloop.learn.phase_data import CHANNEL_SETS

    ds = phase.dataset(data, seed=args.split_seed, train_stride=args.train_stride,
                       recordings=recs, delay=delay)
    ck = runs / f"student_phase_insole_d{delay}_s{seed}.pt"
    res = phase.train_student(ds, "none", None, "insole", epochs=args.epochs, seed=seed,
                              save_to=ck, progress=False)
    col = [ds.channels.index(c) for c in CHANNEL_SETS["insole"]]
    with tempfile.TemporaryDirectory(prefix="gaitloop-delay-") as tmp:
        q = int8_metrics(res["_model"], ds.X_train[:, col], ds.X_test[:, col], ds.y_test,
                         {"window": ds.X_test.shape[2]}, Path(tmp))
    return {"delay": delay, "delay_ms": delay_ms(delay), "seed": seed, "epochs": args.epochs,
            "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)),
            "train_time_s": round(res["train_time_s"], 1), "float": _small(res["metrics"]),
            "int8": q, "checkpoint": str(ck)}


def run_teacher(data: Path, recs, delay: int, args, runs: Path) -> dict:
    from gaitloop.learn import phase

    ds = phase.dataset(data, seed=args.split_seed, train_stride=args.teacher_train_stride,
                       recordings=recs, delay=delay)
    ck = runs / f"teacher_phase_{args.teacher_arch}_d{delay}.pt"
    res = phase.train_teacher(ds, args.teacher_arch, width=16, epochs=args.teacher_epochs,
                              seed=0, save_to=ck, progress=False)
    return {"delay": delay, "delay_ms": delay_ms(delay), "seed": 0, "arch": args.teacher_arch,
            "width": 16, "epochs": args.teacher_epochs, "train_stride": args.teacher_train_stride,
            "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)),
            "train_time_s": round(res["train_time_s"], 1), "float": _small(res["metrics"]),
            "checkpoint": str(ck)}


def sweep(args) -> dict:
    import torch

    from gaitloop.learn.phase_data import load_recordings

    torch.set_num_threads(1)
    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.is_file() else {}
    out.setdefault("students", [])
    out.setdefault("teachers", [])
    out["settings"] = {"student": {"arch": "student (insole heel+ball, no distillation)",
                                   "epochs": args.epochs, "train_stride": args.train_stride,
                                   "split_seed": args.split_seed},
                       "teacher": {"arch": args.teacher_arch, "width": 16,
                                   "epochs": args.teacher_epochs,
                                   "train_stride": args.teacher_train_stride},
                       "data": str(args.data), "sample_rate_hz": 100}
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    recs = load_recordings(args.data)
    delays = [int(d) for d in args.delays.split(",") if d]

    def save():
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1) + "\n")

    done_s = {(r["delay"], r["seed"]) for r in out["students"]}
    done_t = {r["delay"] for r in out["teachers"]}
    for what in args.stages.split(","):
        for seed in [int(s) for s in args.seeds.split(",") if s] if what == "students" else [0]:
            for d in delays:
                t0 = time.perf_counter()
                if what == "students" and (d, seed) not in done_s:
                    r = run_student(args.data, recs, d, seed, args, runs)
                    out["students"].append(r)
                    print(f"student D={d} seed={seed}: float {r['float']['accuracy']:.4f} "
                          f"int8 {r['int8']['accuracy']:.4f} ({time.perf_counter() - t0:.0f} s)",
                          flush=True)
                elif what == "teacher" and d not in done_t:
                    r = run_teacher(args.data, recs, d, args, runs)
                    out["teachers"].append(r)
                    print(f"teacher D={d}: {r['float']['accuracy']:.4f} "
                          f"({time.perf_counter() - t0:.0f} s)", flush=True)
                else:
                    continue
                save()
    save()
    return out


def load_runs(paths) -> dict:
    """Students and teachers of several sweep files (e.g. one per seed, run in parallel), one
    entry per (epochs, delay, seed): a run found twice is counted once."""
    merged: dict = {"students": [], "teachers": []}

    def key(r):
        return r["epochs"], r["delay"], r["seed"]

    for p in sorted(paths):
        res = json.loads(Path(p).read_text())
        for k in merged:
            seen = {key(r) for r in merged[k]}
            merged[k] += [r for r in res.get(k, []) if key(r) not in seen]
    return merged


def _mean_sd(vals: list[float]) -> str:
    a = 100.0 * np.asarray(vals)
    return f"{a.mean():.2f}" if len(a) == 1 else f"{a.mean():.2f} ± {a.std(ddof=1):.2f}"


def table(res: dict) -> str:
    """Markdown: per delay, teacher and student (float, int8) accuracy and per-phase F1;
    students as mean ± sd over seeds."""
    lines = ["| model | D samples | delay ms | seeds | acc % | macro-F1 % | F1 HS | F1 ST | F1 HO | F1 SW |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    phases = ("HS", "ST", "HO", "SW")

    def row(name, d, group, key):
        ms = [r[key] for r in group]
        cells = [_mean_sd([m["accuracy"] for m in ms]), _mean_sd([m["macro_f1"] for m in ms])]
        cells += [_mean_sd([m["f1"][p] for m in ms]) for p in phases]
        lines.append(f"| {name} | {d} | {delay_ms(d):.0f} | {len(group)} | " + " | ".join(cells) + " |")

    teachers = res.get("teachers", [])
    for ep, st, d in sorted({(r["epochs"], r["train_stride"], r["delay"]) for r in teachers}):
        row(f"teacher {teachers[0]['arch']} (float, {ep} epochs, every {st}th window)", d,
            [r for r in teachers if (r["epochs"], r["train_stride"], r["delay"]) == (ep, st, d)],
            "float")
    studs = res.get("students", [])
    for ep in sorted({r["epochs"] for r in studs}):
        for key in ("float", "int8"):
            for d in sorted({r["delay"] for r in studs if r["epochs"] == ep}):
                row(f"student insole ({key}, {ep} epochs)", d,
                    [r for r in studs if (r["epochs"], r["delay"]) == (ep, d)], key)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="imu_figs folder (default: shared data)")
    ap.add_argument("--delays", default="0,5,10,20")
    ap.add_argument("--seeds", default="0,1,2", help="student training seeds (split fixed)")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30, help="student epochs")
    ap.add_argument("--train-stride", type=int, default=4)
    ap.add_argument("--stages", default="students,teacher")
    ap.add_argument("--teacher-arch", default="resnet_lstm_tpa")
    ap.add_argument("--teacher-epochs", type=int, default=3)
    ap.add_argument("--teacher-train-stride", type=int, default=8)
    ap.add_argument("--runs", default="runs/delay")
    ap.add_argument("--out", default="docs/runs/phase_delay.json")
    ap.add_argument("--table", type=Path, nargs="+", default=None,
                    help="print the table of sweep JSON files (students and teachers merged)")
    args = ap.parse_args(argv)
    if args.table is not None:
        print(table(load_runs(args.table)))
        return
    if args.data is None:
        from gaitloop.learn.evalsets import DEFAULT_DATA

        args.data = DEFAULT_DATA["phase"]
    sweep(args)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
