"""Gait-phase experiments: teacher, baselines and students on the Huang `imu_figs` data.

Each function trains one thing, evaluates it on the held-out test set and returns a result
dict (metrics, parameters, MACs, training time); `save_to` writes a checkpoint whose metadata
carries channels, window, normalisation and class names.
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

import numpy as np

from gaitloop.learn import train as tr
from gaitloop.learn.checkpoint import load_model, save_checkpoint
from gaitloop.learn.metrics import phase_metrics
from gaitloop.learn.phase_data import (
    ALL_CHANNELS,
    CHANNEL_SETS,
    SAMPLE_RATE_HZ,
    WINDOW,
    PhaseDataset,
    delay_ms,
    make_dataset,
)
from gaitloop.learn.phase_labels import CLASSES


def _meta(kind, arch, ds: PhaseDataset, channels, metrics, seed, extra=None):
    col = [ds.channels.index(c) for c in channels]
    meta = {
        "kind": kind, "task": "phase", "arch": arch, "channels": list(channels),
        "window": WINDOW, "layout": "torch (N, C, window); channels-last runtimes (1, window, C)",
        "norm": "minmax_to_pm1_clipped", "norm_min": ds.norm.lo[col].tolist(),
        "norm_max": ds.norm.hi[col].tolist(), "classes": list(CLASSES),
        "label_rule": ("ResNet-LSTM paper II.C force thresholds, left foot, last sample of window"
                       if ds.delay == 0 else "ResNet-LSTM paper II.C force thresholds, left foot, "
                       f"sample {ds.delay} before the window's end"),
        "decision_delay": ds.delay, "decision_delay_ms": delay_ms(ds.delay),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "split": ds.split, "train_files": ds.train_names, "test_files": ds.test_names,
        "metrics": metrics, "seed": seed, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "data": "huang_gait_phase/imu_figs (content-deduplicated)",
    }
    meta.update(extra or {})
    return meta


def dataset(data_dir, split="recording", seed=0, train_stride=2, recordings=None,
            delay: int = 0) -> PhaseDataset:
    """All-channel windows; `delay` is the decision delay in samples (phase_data.windows_of)."""
    return make_dataset(data_dir, ALL_CHANNELS, split=split, seed=seed, train_stride=train_stride,
                        recordings=recordings, delay=delay)


def train_teacher(ds: PhaseDataset, arch: str = "resnet_lstm_tpa", width: int = 16,
                  hidden: int = 128, epochs: int = 8, batch_size: int = 128, seed: int = 0,
                  save_to: Path | None = None, progress: bool = True) -> dict:
    """ResNet-LSTM(-TPA) or LSTM teacher on all channels (the paper's Force + Angle)."""
    from gaitloop.learn.models import build_model
    from gaitloop.learn.students import count_params

    tr.set_seed(seed)
    kw = {"width": width, "hidden": hidden} if arch.startswith("resnet") else {"hidden": hidden}
    model = build_model(arch, len(ds.channels), len(CLASSES), **kw)
    trainer = tr.Trainer(epochs=epochs, batch_size=batch_size, seed=seed, progress=progress,
                         desc=f"teacher {arch}").fit(model, ds.X_train, ds.y_train)
    t0 = time.perf_counter()
    pred = tr.predict(model, ds.X_test).argmax(1)
    m = phase_metrics(ds.y_test, pred, CLASSES)
    res = {"model": arch, "params": count_params(model), "train_time_s": trainer.train_time_s_,
           "eval_time_s": time.perf_counter() - t0, "epochs": epochs, "width": width,
           "metrics": m, "n_train": int(len(ds.y_train))}
    if save_to is not None:
        arch_d = {"name": arch, "in_channels": len(ds.channels), "n_out": len(CLASSES), **kw}
        save_checkpoint(save_to, model, _meta("teacher", arch_d, ds, ds.channels, m, seed,
                                              {"epochs": epochs, "width": width,
                                               "train_time_s": trainer.train_time_s_}))
    res["_model"] = model
    return res


def evaluate_saved_teacher(ds: PhaseDataset, path: Path) -> dict:
    """Re-evaluate a saved teacher on `ds` (its split must match) instead of retraining it."""
    from gaitloop.learn.students import count_params

    model, meta = load_model(path)
    if meta.get("test_files") != ds.test_names:
        raise ValueError(f"{path}: saved teacher was trained on another split")
    if int(meta.get("decision_delay", 0)) != ds.delay:
        raise ValueError(f"{path}: saved teacher was trained for another decision delay")
    pred = tr.predict(model, ds.X_test).argmax(1)
    return {"model": meta["arch"]["name"], "params": count_params(model),
            "train_time_s": float(meta.get("train_time_s", float("nan"))),
            "epochs": meta.get("epochs"), "width": meta.get("width"),
            "metrics": phase_metrics(ds.y_test, pred, CLASSES), "reused_checkpoint": str(path),
            "_model": model}


def baselines(ds: PhaseDataset, seed: int = 0, svm_max_train: int = 6000) -> dict:
    """KNN (k=5) and RBF SVM on flattened windows (scikit-learn). The SVM trains on a seeded
    subsample of `svm_max_train` windows: kernel SVM training is quadratic in samples."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    Xtr = ds.X_train.reshape(len(ds.X_train), -1)
    Xte = ds.X_test.reshape(len(ds.X_test), -1)
    out = {}
    t0 = time.perf_counter()
    knn = KNeighborsClassifier(n_neighbors=5).fit(Xtr, ds.y_train)
    out["KNN"] = {"metrics": phase_metrics(ds.y_test, knn.predict(Xte), CLASSES),
                  "train_time_s": time.perf_counter() - t0}
    rng = np.random.default_rng(seed)
    sub = rng.choice(len(Xtr), min(svm_max_train, len(Xtr)), replace=False)
    t0 = time.perf_counter()
    svm = SVC(kernel="rbf", C=10.0, gamma="scale").fit(Xtr[sub], ds.y_train[sub])
    out["SVM"] = {"metrics": phase_metrics(ds.y_test, svm.predict(Xte), CLASSES),
                  "train_time_s": time.perf_counter() - t0, "n_train": int(len(sub))}
    return out


def train_student(ds: PhaseDataset, kd: str = "none", teacher_path: Path | None = None,
                  channels: tuple[str, ...] | str = "insole", epochs: int = 30,
                  batch_size: int = 128, seed: int = 0, save_to: Path | None = None,
                  progress: bool = True, teacher_cache: dict | None = None) -> dict:
    """A ~17 k-parameter student on `channels` (default: the insole's heel+ball), trained
    without distillation or from the teacher at `teacher_path` ('hinton', 'hinton_feat')."""
    from gaitloop.learn.students import build_student, count_macs, count_params

    if isinstance(channels, str):
        if channels not in CHANNEL_SETS:
            raise ValueError(f"unknown channel set {channels!r} ({' | '.join(CHANNEL_SETS)})")
        channels = CHANNEL_SETS[channels]
    col = [ds.channels.index(c) for c in channels]
    cfg = tr.KDConfig(mode=kd)
    teacher = None
    if kd != "none":

        def inputs_for(tmeta: dict) -> np.ndarray:
            if list(tmeta["channels"]) != list(ds.channels):
                raise ValueError("teacher was trained on other channels than this dataset")
            if int(tmeta.get("decision_delay", 0)) != ds.delay:
                raise ValueError("teacher was trained for another decision delay than this dataset")
            return ds.X_train

        teacher = tr.teacher_outputs(teacher_path, inputs_for, teacher_cache)
    tr.set_seed(seed)
    model = build_student("phase", len(channels), len(CLASSES))
    trainer = tr.Trainer(epochs=epochs, batch_size=batch_size, seed=seed, progress=progress,
                         desc=f"student {kd}")
    trainer.fit(model, ds.X_train, ds.y_train, task="phase", kd=cfg, teacher=teacher,
                input_fn=lambda xb, rng: xb[:, col])
    pred = tr.predict(model, ds.X_test[:, col]).argmax(1)
    m = phase_metrics(ds.y_test, pred, CLASSES)
    res = {"model": f"student ({kd})", "kd": kd, "params": count_params(model),
           "macs": count_macs(model, len(channels)), "train_time_s": trainer.train_time_s_,
           "epochs": epochs, "channels": list(channels), "metrics": m}
    if save_to is not None:
        arch = {"name": "student", "n_out": len(CLASSES)}
        extra = {"distillation": {"mode": kd, "T": cfg.T, "alpha": cfg.alpha, "beta": cfg.beta,
                                  "teacher": str(teacher_path) if teacher_path else None},
                 "epochs": epochs, "params": res["params"], "macs": res["macs"]}
        save_checkpoint(save_to, model, _meta("student", arch, ds, channels, m, seed, extra))
    res["_model"] = model
    return res
