"""Total vertical GRF of a foot from a heel/ball insole (gaitpdb), teacher -> student.

Setup (issue 6): the teacher sees all eight clean sensors of a foot; the student sees only
heel (L1) and ball (L6+L7) with insole faults (`faults.InsoleFaults`) and estimates the foot's
total force (column 18 / 19) at the window's last sample. Both feet of every subject are used
(the right foot's R1..R8 are the mirror of L1..L8). Splits are by subject; results in newtons,
in % body weight (demographics `Weight` x 9.81) and R^2 on held-out subjects.

Normalisation: inputs min-max to [-1, 1] from clean training data (clipped); the target is
total force / TARGET_SCALE_N. Note: gaitpdb has no labels, and column 18 is exactly the sum of
the 8 sensors, so the teacher's task is easy by construction; the student's is not.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitloop.data.gaitpdb import COL_TOTAL_LEFT, COL_TOTAL_RIGHT, load_demographics, load_gaitpdb
from gaitloop.errors import DataError
from gaitloop.learn import train as tr
from gaitloop.learn.checkpoint import save_checkpoint
from gaitloop.learn.faults import InsoleFaults
from gaitloop.learn.metrics import grf_metrics
from gaitloop.learn.phase_data import MinMax

WINDOW = 40
TARGET_SCALE_N = 1000.0
G = 9.81
TEACHER_CHANNELS = tuple(f"s{i}" for i in range(1, 9))  # L1..L8 / R1..R8
STUDENT_CHANNELS = ("heel", "ball")


@dataclass
class Foot:
    subject: str
    side: str
    sensors: np.ndarray  # (n, 8) N
    total: np.ndarray  # (n,) N
    weight_n: float  # NaN if unknown


def load_feet(data_dir: str | Path) -> list[Foot]:
    """Both feet of every `*_01.txt`-like recording under `data_dir` (or `data_dir/data`)."""
    data_dir = Path(data_dir)
    demo_path = data_dir / "demographics.txt"
    files = sorted((data_dir / "data").glob("*.txt")) or sorted(
        p for p in data_dir.glob("*.txt") if re.match(r"^[A-Za-z]{4}\d+_\d+\.txt$", p.name))
    if not files:
        raise DataError(f"no gaitpdb recordings in {data_dir}")
    demo = load_demographics(demo_path) if demo_path.is_file() else {}
    feet = []
    for p in files:
        subj = p.stem.split("_")[0]
        d = load_gaitpdb(p)
        try:
            w = float(demo.get(subj, {}).get("Weight", "nan")) * G
        except ValueError:
            w = float("nan")
        feet.append(Foot(subj, "left", d[:, 1:9], d[:, COL_TOTAL_LEFT], w))
        feet.append(Foot(subj, "right", d[:, 9:17], d[:, COL_TOTAL_RIGHT], w))
    return feet


def _windows(foot: Foot, stride: int):
    n = len(foot.total)
    ends = np.arange(WINDOW - 1, n, stride)
    idx = ends[:, None] - np.arange(WINDOW - 1, -1, -1)[None, :]
    X = foot.sensors[idx].transpose(0, 2, 1).astype(np.float32)  # (m, 8, T)
    return X, foot.total[ends].astype(np.float32), np.full(len(ends), foot.weight_n)


def insole_view(X8: np.ndarray) -> np.ndarray:
    """(m, 8, T) sensors -> (m, 2, T) heel (s1) and ball (s6 + s7)."""
    return np.stack([X8[:, 0], X8[:, 5] + X8[:, 6]], axis=1)


@dataclass
class GRFDataset:
    X_train: np.ndarray  # (m, 8, T) raw N
    y_train: np.ndarray  # (m,) N
    X_test: np.ndarray
    y_test: np.ndarray
    w_test: np.ndarray  # body weight N per test window
    norm8: MinMax
    norm2: MinMax
    train_subjects: list[str]
    test_subjects: list[str]
    X2_test_faulty: np.ndarray  # fixed faulty insole view of the test set (raw N)


def make_dataset(data_dir, test_fraction: float = 0.3, seed: int = 0, train_stride: int = 8,
                 test_stride: int = 4, faults: InsoleFaults | None = None) -> GRFDataset:
    feet = load_feet(data_dir)
    subjects = sorted({f.subject for f in feet})
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * len(subjects))))
    test_s = sorted(rng.choice(subjects, n_test, replace=False).tolist())
    tr_parts = [_windows(f, train_stride) for f in feet if f.subject not in test_s]
    te_parts = [_windows(f, test_stride) for f in feet if f.subject in test_s]
    Xtr = np.concatenate([p[0] for p in tr_parts])
    ytr = np.concatenate([p[1] for p in tr_parts])
    Xte = np.concatenate([p[0] for p in te_parts])
    yte = np.concatenate([p[1] for p in te_parts])
    wte = np.concatenate([p[2] for p in te_parts])
    norm8 = MinMax.fit(Xtr.transpose(0, 2, 1))
    norm2 = MinMax.fit(insole_view(Xtr).transpose(0, 2, 1))
    faulty = (faults or InsoleFaults()).apply(insole_view(Xte), np.random.default_rng(seed + 1))
    return GRFDataset(Xtr, ytr, Xte, yte, wte, norm8, norm2,
                      [s for s in subjects if s not in test_s], test_s, faulty)


def norm_cf(norm: MinMax, X: np.ndarray) -> np.ndarray:
    """Apply a per-channel MinMax to channels-first windows."""
    return norm(X.transpose(0, 2, 1)).transpose(0, 2, 1).copy()


def _metrics(ds: GRFDataset, pred_n: np.ndarray) -> dict:
    m = grf_metrics(ds.y_test, pred_n)
    ok = np.isfinite(ds.w_test)
    m["rmse_pct_bw"] = grf_metrics(ds.y_test[ok], pred_n[ok], ds.w_test[ok])["rmse_pct_bw"]
    m["n_pct_bw"] = int(ok.sum())
    return m


def train_teacher(ds: GRFDataset, arch: str = "resnet_lstm", width: int = 16, hidden: int = 64,
                  epochs: int = 6, seed: int = 0, save_to: Path | None = None,
                  progress: bool = True) -> dict:
    from gaitloop.learn.models import build_model
    from gaitloop.learn.students import count_params

    tr.set_seed(seed)
    kw = {"width": width, "hidden": hidden}
    model = build_model(arch, 8, 1, **kw)
    X = norm_cf(ds.norm8, ds.X_train)
    trainer = tr.Trainer(epochs=epochs, seed=seed, progress=progress, desc=f"grf teacher {arch}")
    trainer.fit(model, X, ds.y_train / TARGET_SCALE_N, task="grf")
    pred = tr.predict(model, norm_cf(ds.norm8, ds.X_test))[:, 0] * TARGET_SCALE_N
    m = _metrics(ds, pred)
    res = {"model": f"teacher {arch} (8 clean sensors)", "params": count_params(model),
           "train_time_s": trainer.train_time_s_, "epochs": epochs, "metrics": m}
    if save_to is not None:
        meta = _meta("teacher", {"name": arch, "in_channels": 8, "n_out": 1, **kw}, ds,
                     TEACHER_CHANNELS, ds.norm8, m, seed, {"epochs": epochs})
        save_checkpoint(save_to, model, meta)
    return res


def evaluate_saved_teacher(ds: GRFDataset, path: Path) -> dict:
    """Re-evaluate a saved GRF teacher on `ds` (same subject split) instead of retraining it."""
    from gaitloop.learn.checkpoint import load_model
    from gaitloop.learn.students import count_params

    model, meta = load_model(path)
    if meta.get("test_subjects") != ds.test_subjects:
        raise ValueError(f"{path}: saved teacher was trained on another subject split")
    pred = tr.predict(model, norm_cf(ds.norm8, ds.X_test))[:, 0] * TARGET_SCALE_N
    return {"model": f"teacher {meta['arch']['name']} (8 clean sensors)", "params": count_params(model),
            "train_time_s": float(meta.get("train_time_s", float("nan"))), "epochs": meta.get("epochs"),
            "metrics": _metrics(ds, pred), "reused_checkpoint": str(path)}


def _meta(kind, arch, ds, channels, norm, metrics, seed, extra=None):
    meta = {"kind": kind, "task": "grf", "arch": arch, "channels": list(channels),
            "window": WINDOW, "layout": "torch (N, C, window); channels-last runtimes (1, window, C)",
            "norm": "minmax_to_pm1_clipped", "norm_min": norm.lo.tolist(),
            "norm_max": norm.hi.tolist(), "target_scale": TARGET_SCALE_N, "target_unit": "N",
            "target": "total vertical force of the foot at the window's last sample",
            "train_subjects": ds.train_subjects, "test_subjects": ds.test_subjects,
            "metrics": metrics, "seed": seed,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "data": "PhysioNet gaitpdb 1.0.0 (ODC-By), both feet, split by subject"}
    meta.update(extra or {})
    return meta


def train_student(ds: GRFDataset, kd: str = "none", teacher_path: Path | None = None,
                  epochs: int = 20, seed: int = 0, faults: InsoleFaults | None = None,
                  batch_size: int = 128,
                  save_to: Path | None = None, progress: bool = True,
                  teacher_cache: dict | None = None) -> dict:
    """Student on faulty heel+ball; kd in none | hinton (teacher-output MSE) | hinton_feat | sckd."""
    from gaitloop.learn.students import build_student, count_macs, count_params

    faults = faults or InsoleFaults()
    cfg = tr.KDConfig(mode=kd)
    teacher = None
    if kd != "none":
        teacher = tr.teacher_outputs(teacher_path, lambda _meta: norm_cf(ds.norm8, ds.X_train),
                                     teacher_cache)
    tr.set_seed(seed)
    model = build_student("grf", 2, 1)

    def input_fn(xb, rng):
        return norm_cf(ds.norm2, faults.apply(insole_view(xb), rng))

    trainer = tr.Trainer(epochs=epochs, batch_size=batch_size, seed=seed, progress=progress,
                         desc=f"grf student {kd}")
    trainer.fit(model, ds.X_train, ds.y_train / TARGET_SCALE_N, task="grf", kd=cfg,
                teacher=teacher, input_fn=input_fn)
    pred = tr.predict(model, norm_cf(ds.norm2, ds.X2_test_faulty))[:, 0] * TARGET_SCALE_N
    m = _metrics(ds, pred)
    res = {"model": f"student ({kd})", "kd": kd, "params": count_params(model),
           "macs": count_macs(model, 2), "train_time_s": trainer.train_time_s_, "epochs": epochs,
           "metrics": m}
    if save_to is not None:
        extra = {"distillation": {"mode": kd, "T": cfg.T, "alpha": cfg.alpha, "beta": cfg.beta,
                                  "k": cfg.k, "teacher": str(teacher_path) if teacher_path else None},
                 "faults": vars(faults), "epochs": epochs, "params": res["params"],
                 "macs": res["macs"]}
        save_checkpoint(save_to, model, _meta("student", {"name": "student", "n_out": 1}, ds,
                                              STUDENT_CHANNELS, ds.norm2, m, seed, extra))
    res["_model"] = model
    return res


def sum_baseline(ds: GRFDataset) -> dict:
    """Non-learned reference: least-squares gain on faulty heel + ball (fit on clean train)."""
    Xtr = insole_view(ds.X_train)[:, :, -1]
    A = np.c_[Xtr, np.ones(len(Xtr))]
    coef, *_ = np.linalg.lstsq(A, ds.y_train, rcond=None)
    Xte = ds.X2_test_faulty[:, :, -1]
    return {"model": "linear heel+ball (least squares)", "metrics": _metrics(ds, np.c_[Xte, np.ones(len(Xte))] @ coef)}


def run_grf_ablation(args) -> dict:
    t0 = time.perf_counter()
    ds = make_dataset(args.data, seed=args.split_seed, train_stride=args.train_stride)
    runs = Path(args.runs)
    out = {"settings": vars(args).copy(), "train_subjects": ds.train_subjects,
           "test_subjects": ds.test_subjects, "n_train": int(len(ds.y_train)),
           "n_test": int(len(ds.y_test)), "faults": vars(InsoleFaults())}
    teacher = runs / "teacher_grf.pt"
    if args.reuse and teacher.is_file():
        out["teacher"] = evaluate_saved_teacher(ds, teacher)
    else:
        out["teacher"] = train_teacher(ds, width=args.width, epochs=args.teacher_epochs,
                                       seed=args.seed, save_to=teacher)
    print("teacher", out["teacher"]["metrics"], flush=True)
    out["linear"] = sum_baseline(ds)
    studs, cache = {}, {}
    for kd in ("none", "hinton", "hinton_feat", "sckd"):
        save = Path(args.models) / "student_grf.pt" if kd == args.ship_kd else None
        r = train_student(ds, kd, teacher, epochs=args.student_epochs, seed=args.seed,
                          save_to=save, teacher_cache=cache)
        studs[kd] = {k: v for k, v in r.items() if not k.startswith("_")}
        print(kd, r["metrics"], flush=True)
    out["students"] = studs
    out["total_time_s"] = time.perf_counter() - t0
    return out
