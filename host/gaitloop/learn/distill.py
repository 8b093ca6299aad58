"""Distillation losses: Hinton soft targets, feature MSE, and selective correlation-based
distillation (SCKD) for GRF.

Hinton / feature MSE follow the fall-detection student paper, eq. 5:
    L = alpha * T^2 * KL(p_T || p_S) + beta * MSE(f_T, g(f_S)) + (1 - alpha - beta) * CE
with T = 4, alpha = 0.7; g is a linear regressor (training only, never exported) that maps the
student's 40-d hidden vector to the teacher's feature size.

SCKD: the paper is available to us only as its abstract ("selected features considering
temporal characteristics in the process of extracting correlation maps"), so this is our
reading of it, stated as such: per window, select the K time steps where the teacher's
temporal features change most (gait events: loading, push-off), build the K x K correlation map
between the feature vectors at those steps, and match the student's map (same steps) to the
teacher's with MSE. Correlation maps are dimension-free, so teacher and student widths need not
match, and the selection keeps the map small and focused on informative moments.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hinton_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 4.0
              ) -> torch.Tensor:
    """T^2 * KL(softmax(z_T / T) || softmax(z_S / T)), batch mean (eq. 2-3)."""
    log_ps = F.log_softmax(student_logits / T, dim=1)
    pt = F.softmax(teacher_logits / T, dim=1)
    return F.kl_div(log_ps, pt, reduction="batchmean") * T * T


def feature_mse(student_vec: torch.Tensor, teacher_vec: torch.Tensor) -> torch.Tensor:
    """MSE between projected student features and (batch-standardised) teacher features."""
    t = (teacher_vec - teacher_vec.mean(0)) / (teacher_vec.std(0) + 1e-6)
    return F.mse_loss(student_vec, t)


def _align_time(fmap: torch.Tensor, steps: int) -> torch.Tensor:
    return fmap if fmap.shape[-1] == steps else F.adaptive_avg_pool1d(fmap, steps)


def select_steps(teacher_fmap: torch.Tensor, k: int) -> torch.Tensor:
    """(N, k) indices of the time steps where the teacher's features change most."""
    d = torch.zeros_like(teacher_fmap[:, 0, :])
    d[:, 1:] = (teacher_fmap[:, :, 1:] - teacher_fmap[:, :, :-1]).norm(dim=1)
    d[:, 0] = d[:, 1]
    k = min(k, d.shape[1])
    return d.topk(k, dim=1).indices.sort(dim=1).values


def correlation_map(fmap: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """(N, k, k) Pearson correlation between the feature vectors at the selected steps."""
    sel = torch.gather(fmap, 2, idx[:, None, :].expand(-1, fmap.shape[1], -1))  # (N, F, k)
    sel = sel - sel.mean(dim=1, keepdim=True)
    sel = sel / (sel.norm(dim=1, keepdim=True) + 1e-6)
    return sel.transpose(1, 2) @ sel


def sckd_loss(student_fmap: torch.Tensor, teacher_fmap: torch.Tensor, k: int = 6) -> torch.Tensor:
    """MSE between student and teacher correlation maps over the teacher-selected steps."""
    steps = student_fmap.shape[-1]
    tf = _align_time(teacher_fmap.detach(), steps)
    idx = select_steps(tf, k)
    return F.mse_loss(correlation_map(student_fmap, idx), correlation_map(tf, idx))
