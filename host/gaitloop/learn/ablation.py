"""Run the documented experiments and write their results as JSON (docs/learn.md tables).

    python -m gaitloop.learn.ablation phase --data ../shared/data/huang_gait_phase/imu_figs
    python -m gaitloop.learn.ablation grf --data ../shared/data/gaitpdb

Teachers go to runs/ (not committed); the chosen students go to models/. Sizes (epochs, width,
strides) are arguments so CI can run the same code in seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _strip(res):
    if isinstance(res, dict):
        return {k: _strip(v) for k, v in res.items() if not k.startswith("_")}
    return res


def run_phase(args) -> dict:
    from gaitloop.learn import phase
    from gaitloop.learn.phase_data import load_recordings

    out = {"settings": vars(args).copy()}
    runs = Path(args.runs)
    recs = load_recordings(args.data)
    ds = phase.dataset(args.data, seed=args.split_seed, train_stride=args.train_stride, recordings=recs)
    out["split"] = {"train_files": ds.train_names, "test_files": ds.test_names,
                    "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test))}
    res = {}
    out["recording_split"] = res

    def save():
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(_strip(out), indent=1))

    stages = set(args.stages.split(","))
    for arch in ("resnet_lstm", "resnet_lstm_tpa") if "teachers" in stages else ():
        ck = runs / f"teacher_phase_{arch}.pt"
        if args.reuse and ck.is_file():
            res[arch] = phase.evaluate_saved_teacher(ds, ck)
        else:
            res[arch] = phase.train_teacher(ds, arch, width=args.width,
                                            epochs=args.teacher_epochs, seed=args.seed,
                                            save_to=ck)
        print(arch, res[arch]["metrics"]["accuracy"], flush=True)
        save()
    if "baselines" in stages:
        res["lstm"] = phase.train_teacher(ds, "lstm", hidden=64, epochs=args.teacher_epochs,
                                          seed=args.seed)
        res.update(phase.baselines(ds, seed=args.seed))
        save()
    teacher = runs / "teacher_phase_resnet_lstm_tpa.pt"
    studs = {}
    cache: dict = {}
    for chans in args.student_channels.split(",") if "students" in stages else ():
        for kd in ("none", "hinton", "hinton_feat", "sckd"):
            ship = kd == args.ship_kd and chans == "insole"
            ship_to = (Path(args.models) if ship else runs) / f"student_phase_{chans}_{kd}.pt"
            r = phase.train_student(ds, kd, teacher, chans, epochs=args.student_epochs,
                                    seed=args.seed, save_to=ship_to, teacher_cache=cache)
            studs[f"{chans}/{kd}"] = _strip(r)
            print(chans, kd, r["metrics"]["accuracy"], flush=True)
            out["students"] = studs
            save()
    if "random70" in stages:
        out["random70_split"] = r70 = {}
        ds70 = phase.dataset(args.data, split="random70", seed=args.split_seed,
                             train_stride=args.train_stride, recordings=recs)
        r70.update(phase.baselines(ds70, seed=args.seed))
        save()
        for arch in filter(None, args.random70_archs.split(",")):
            r70[arch] = phase.train_teacher(ds70, arch, width=args.width,
                                            epochs=args.teacher_epochs, seed=args.seed)
            print("random70", arch, r70[arch]["metrics"]["accuracy"], flush=True)
            save()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="task", required=True)
    p = sub.add_parser("phase")
    p.add_argument("--data", default="../shared/data/huang_gait_phase/imu_figs")
    p.add_argument("--runs", default="runs")
    p.add_argument("--models", default="models")
    p.add_argument("--out", default="runs/ablation_phase.json")
    p.add_argument("--seed", type=int, default=0, help="training seed (weights, batches, faults)")
    p.add_argument("--split-seed", type=int, default=0,
                   help="train/test split seed; keep it fixed across --seed runs so saved teachers "
                        "never saw the test recordings")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--train-stride", type=int, default=4)
    p.add_argument("--teacher-epochs", type=int, default=10)
    p.add_argument("--student-epochs", type=int, default=30)
    p.add_argument("--student-channels", default="insole,all")
    p.add_argument("--ship-kd", default="hinton_feat", help="student written to --models ('' = none)")
    p.add_argument("--random70-archs", default="resnet_lstm,resnet_lstm_tpa",
                   help="teachers trained on the paper's 70/30 random window split")
    p.add_argument("--stages", default="teachers,baselines,students,random70")
    p.add_argument("--reuse", action="store_true", help="evaluate saved teachers, do not retrain")
    g = sub.add_parser("grf")
    g.add_argument("--data", default="../shared/data/gaitpdb")
    g.add_argument("--runs", default="runs")
    g.add_argument("--models", default="models")
    g.add_argument("--out", default="runs/ablation_grf.json")
    g.add_argument("--seed", type=int, default=0, help="training seed")
    g.add_argument("--split-seed", type=int, default=0, help="subject split and test-fault seed")
    g.add_argument("--width", type=int, default=16)
    g.add_argument("--train-stride", type=int, default=8)
    g.add_argument("--teacher-epochs", type=int, default=6)
    g.add_argument("--student-epochs", type=int, default=20)
    g.add_argument("--ship-kd", default="sckd", help="student written to --models ('' = none)")
    g.add_argument("--reuse", action="store_true", help="reuse runs/teacher_grf.pt, do not retrain")
    args = ap.parse_args(argv)
    if args.task == "phase":
        out = run_phase(args)
    else:
        from gaitloop.learn.grf import run_grf_ablation

        out = run_grf_ablation(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(_strip(out), indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
