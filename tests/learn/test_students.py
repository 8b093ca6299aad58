"""Student contract (size, ops, shapes), MAC count, checkpoints."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaitloop.learn.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from gaitloop.learn.students import build_student, count_macs, count_params

ALLOWED = (nn.Conv1d, nn.ReLU, nn.MaxPool1d, nn.AvgPool1d, nn.Flatten, nn.Linear)


@pytest.mark.parametrize("task,c,n", [("phase", 2, 4), ("phase", 8, 4), ("grf", 2, 1)])
def test_student_size_ops_and_shape(task, c, n):
    m = build_student(task, c, n)
    assert 15_000 <= count_params(m) <= 18_000
    for mod in m.modules():
        if mod is not m:
            assert isinstance(mod, ALLOWED), type(mod)
    for mod in m.modules():
        if isinstance(mod, nn.Conv1d):
            assert mod.groups == 1 and mod.dilation == (1,)
    out = m(torch.zeros(3, c, 40))
    assert out.shape == (3, n)
    # conv 8*c*5*40 + 16*8*5*20 + 32*16*5*10 + 320*40 + 40*n
    assert count_macs(m, c) == 8 * c * 5 * 40 + 16 * 8 * 5 * 20 + 32 * 16 * 5 * 10 + 320 * 40 + 40 * n


def test_build_student_rejects_bad_task():
    with pytest.raises(ValueError, match="unknown task"):
        build_student("gait", 2, 4)


def test_checkpoint_round_trip(tmp_path):
    m = build_student("phase", 2, 4)
    meta = {"kind": "student", "task": "phase", "arch": {"name": "student", "n_out": 4},
            "channels": ["heel_l", "ball_l"], "window": 40, "norm_min": [0, 0],
            "norm_max": [300, 600], "classes": ["HS", "ST", "HO", "SW"], "metrics": {}}
    p = save_checkpoint(tmp_path / "s.pt", m, meta)
    state, meta2 = load_checkpoint(p)
    assert meta2["classes"] == meta["classes"]
    m2, _ = load_model(p)
    x = torch.randn(5, 2, 40)
    assert torch.equal(m(x), m2(x))


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a gaitloop model"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="lacks"):
        save_checkpoint(tmp_path / "x.pt", build_student("grf", 2, 1), {"task": "grf"})
