"""Training loops: supervised, and distillation from precomputed teacher outputs.

Why precompute the teacher: it is frozen during distillation, so one forward pass over the
training set replaces one per epoch, which matters on a 2-core machine. Training is seeded
(torch, numpy) and single-threaded by default so runs repeat and do not starve other jobs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gaitloop.learn import distill

KD_MODES = ("none", "hinton", "hinton_feat", "sckd")


def set_seed(seed: int, threads: int = 1) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    torch.set_num_threads(threads)


@dataclass
class KDConfig:
    """Distillation weights (fall-detection paper: T = 4, soft weight alpha = 0.7)."""

    mode: str = "none"
    T: float = 4.0
    alpha: float = 0.7
    beta: float = 0.1  # feature MSE weight (hinton_feat) / correlation-map weight (sckd)
    k: int = 6  # SCKD selected steps

    def __post_init__(self):
        if self.mode not in KD_MODES:
            raise ValueError(f"unknown distillation {self.mode!r} ({' | '.join(KD_MODES)})")


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray, batch: int = 1024, features: bool = False):
    """Model outputs over X (numpy, channels first); with features=True (out, fmap, vec)."""
    model.eval()
    outs, fmaps, vecs = [], [], []
    for i in range(0, len(X), batch):
        xb = torch.from_numpy(np.ascontiguousarray(X[i:i + batch]))
        if features:
            o, fm, v = model.forward_features(xb)
            outs.append(o.numpy())
            fmaps.append(fm.numpy().astype(np.float16))
            vecs.append(v.numpy())
        else:
            outs.append(model(xb).numpy())
    if features:
        return np.concatenate(outs), np.concatenate(fmaps), np.concatenate(vecs)
    return np.concatenate(outs)


class Trainer:
    """Adam + cosine learning rate, fixed epochs (no early stopping: no test data peeking).

    `fit` trains in place; results: `history_` (mean loss per epoch), `train_time_s_`.
    """

    def __init__(self, epochs: int = 20, batch_size: int = 128, lr: float = 1e-3,
                 weight_decay: float = 1e-5, seed: int = 0, progress: bool = True,
                 desc: str = "train"):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.progress = progress
        self.desc = desc

    def fit(self, model: nn.Module, X: np.ndarray, y: np.ndarray, task: str = "phase",
            kd: KDConfig | None = None, teacher: tuple | None = None,
            input_fn: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
            class_weight: np.ndarray | None = None) -> Trainer:
        """Train `model` on (X, y). `input_fn(X_batch, rng)` turns stored rows into model input
        (channel subset, sensor faults); `teacher` = (out, fmap, vec) arrays aligned with X."""
        from tqdm.auto import tqdm

        kd = kd or KDConfig()
        set_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        if kd.mode != "none" and teacher is None:
            raise ValueError("distillation needs teacher outputs")
        proj = None
        params = list(model.parameters())
        if kd.mode == "hinton_feat":
            proj = nn.Linear(model.fc1.out_features, teacher[2].shape[1])
            params += list(proj.parameters())
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        steps = self.epochs * max(1, (len(X) + self.batch_size - 1) // self.batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
        cw = torch.as_tensor(class_weight, dtype=torch.float32) if class_weight is not None else None
        yt = torch.from_numpy(np.asarray(y))
        self.history_ = []
        t0 = time.perf_counter()
        bar = tqdm(total=steps, desc=self.desc, disable=not self.progress, unit="batch",
                   leave=False)
        for _epoch in range(self.epochs):
            model.train()
            order = rng.permutation(len(X))
            total, count = 0.0, 0
            for i in range(0, len(order), self.batch_size):
                idx = np.sort(order[i:i + self.batch_size])
                xb_np = X[idx] if input_fn is None else input_fn(X[idx], rng)
                xb = torch.from_numpy(np.ascontiguousarray(xb_np, dtype=np.float32))
                yb = yt[idx]
                if hasattr(model, "forward_features"):
                    out, fmap, vec = model.forward_features(xb)
                else:
                    out, fmap, vec = model(xb), None, None
                loss = self._loss(out, fmap, vec, yb, task, kd, teacher, idx, proj, cw)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
                count += len(idx)
                bar.update(1)
            self.history_.append(total / max(count, 1))
            bar.set_postfix(loss=f"{self.history_[-1]:.4f}")
        bar.close()
        self.train_time_s_ = time.perf_counter() - t0
        model.eval()
        return self

    @staticmethod
    def _loss(out, fmap, vec, yb, task, kd, teacher, idx, proj, cw):
        if task == "phase":
            hard = F.cross_entropy(out, yb, weight=cw)
        else:
            hard = F.mse_loss(out.squeeze(-1), yb.float())
        if kd.mode == "none":
            return hard
        t_out = torch.from_numpy(teacher[0][idx])
        if task == "phase":
            soft = distill.hinton_kl(out, t_out, kd.T)
        else:  # regression analogue of soft targets: match the teacher's estimate
            soft = F.mse_loss(out.squeeze(-1), t_out.squeeze(-1))
        if kd.mode == "hinton":
            return kd.alpha * soft + (1 - kd.alpha) * hard
        if kd.mode == "hinton_feat":
            t_vec = torch.from_numpy(teacher[2][idx])
            feat = distill.feature_mse(proj(vec), t_vec)
            return kd.alpha * soft + kd.beta * feat + (1 - kd.alpha - kd.beta) * hard
        t_fmap = torch.from_numpy(teacher[1][idx].astype(np.float32))
        corr = distill.sckd_loss(fmap, t_fmap, kd.k)
        return kd.alpha * soft + kd.beta * corr + (1 - kd.alpha - kd.beta) * hard


def teacher_outputs(teacher_path, inputs_for: Callable[[dict], np.ndarray],
                    cache: dict | None = None):
    """The teacher's (out, fmap, vec) on the training windows, computed once per teacher.

    `inputs_for(meta)` returns the windows in the teacher's own input form (and raises
    ValueError when the teacher does not fit the data); `cache` lets an ablation reuse the
    outputs across students instead of re-running the teacher.
    """
    from gaitloop.learn.checkpoint import load_model

    if teacher_path is None:
        raise ValueError("distillation needs --teacher")
    key = str(teacher_path)
    if cache is not None and key in cache:
        return cache[key]
    tmodel, tmeta = load_model(teacher_path)
    out = predict(tmodel, inputs_for(tmeta), features=True)
    if cache is not None:
        cache[key] = out
    return out
