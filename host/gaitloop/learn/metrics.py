"""The metrics the papers report, computed the same way (phase: accuracy, micro/macro F1 and
per-phase F1, ResNet-LSTM paper eqs. 4-6; GRF: RMSE in N and % body weight, R^2)."""

from __future__ import annotations

import numpy as np


def phase_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes) -> dict:
    """accuracy, micro_f1, macro_f1, f1 per class name, precision/recall per class, confusion."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    k = len(classes)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(float)
    pred_pos = cm.sum(axis=0).astype(float)
    true_pos = cm.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(pred_pos > 0, tp / pred_pos, 0.0)
        rec = np.where(true_pos > 0, tp / true_pos, 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    present = true_pos > 0
    micro_p = tp.sum() / max(pred_pos.sum(), 1)
    micro_r = tp.sum() / max(true_pos.sum(), 1)
    micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0
    return {
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "micro_f1": float(micro_f1),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "f1": {c: float(f1[i]) for i, c in enumerate(classes)},
        "precision": {c: float(prec[i]) for i, c in enumerate(classes)},
        "recall": {c: float(rec[i]) for i, c in enumerate(classes)},
        "confusion": cm.tolist(),
        "n": int(len(y_true)),
    }


def grf_metrics(y_true_n: np.ndarray, y_pred_n: np.ndarray, body_weight_n: np.ndarray | None = None
                ) -> dict:
    """RMSE [N], RMSE [% body weight] (per-window body weight), R^2 and MAE [N]."""
    y = np.asarray(y_true_n, float).ravel()
    p = np.asarray(y_pred_n, float).ravel()
    err = p - y
    ss_res = float((err**2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    out = {"rmse_n": float(np.sqrt(np.mean(err**2))), "mae_n": float(np.mean(np.abs(err))),
           "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"), "n": int(len(y))}
    if body_weight_n is not None:
        bw = np.asarray(body_weight_n, float).ravel()
        out["rmse_pct_bw"] = float(np.sqrt(np.mean((err / bw * 100.0) ** 2)))
    return out
