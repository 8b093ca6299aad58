"""Distillation losses: Hinton KL, feature MSE, SCKD correlation maps."""

from __future__ import annotations

import torch

from gaitloop.learn import distill


def test_hinton_kl_zero_for_equal_logits_and_scaled_by_t2():
    z = torch.randn(16, 4)
    assert distill.hinton_kl(z, z, 4.0).abs() < 1e-6
    other = torch.randn(16, 4)
    kl1 = distill.hinton_kl(z, other, 1.0)
    assert kl1 > 0
    manual = (torch.softmax(other, 1) * (torch.log_softmax(other, 1) - torch.log_softmax(z, 1))).sum(1).mean()
    assert torch.allclose(kl1, manual, atol=1e-5)


def test_correlation_map_properties():
    f = torch.randn(3, 32, 10)
    idx = distill.select_steps(f, 6)
    assert idx.shape == (3, 6) and (idx[:, 1:] > idx[:, :-1]).all()
    c = distill.correlation_map(f, idx)
    assert c.shape == (3, 6, 6)
    assert torch.allclose(torch.diagonal(c, dim1=1, dim2=2), torch.ones(3, 6), atol=1e-4)


def test_sckd_dimension_free_and_zero_on_match():
    teacher = torch.randn(4, 64, 5)
    # a student whose features are a channel mix of the teacher's has the same correlations
    mix = torch.randn(64, 64)
    same = torch.einsum("oc,nct->not", mix, teacher)
    same = torch.nn.functional.interpolate(same, size=5)
    assert distill.sckd_loss(same, teacher, k=5) < distill.sckd_loss(torch.randn(4, 32, 5), teacher, k=5)
    assert distill.sckd_loss(teacher.clone(), teacher, k=5) < 1e-8
    # different widths and lengths work
    assert distill.sckd_loss(torch.randn(4, 32, 10, requires_grad=True), teacher, k=4).requires_grad


def test_feature_mse_uses_standardised_teacher():
    t = torch.randn(32, 8) * 100 + 50
    zt = (t - t.mean(0)) / t.std(0)
    assert distill.feature_mse(zt, t) < 1e-6
