"""Compact students (~17 k parameters) that the board runs as int8.

Why this shape: the distillation paper's student is three conv layers of 8/16/32 channels
(17,203 parameters); we keep that and use only ops the board's integer kernels implement
(Conv1d without groups/dilation, ReLU, MaxPool1d, Flatten, Linear). No BatchNorm, no softmax:
the exported graph ends in logits (phase) or one value (GRF).

Layout: torch input is (N, C, 40) (channels first, as torch Conv1d wants). A channels-last
runtime (TFLite, the board) sees (1, 40, C); Flatten in torch is channel-major over (32, 10),
so a channels-last mirror must permute `fc1`'s input columns from (c, t) to (t, c) order.
"""

from __future__ import annotations

import torch
from torch import nn

WINDOW = 40
CONV_CHANNELS = (8, 16, 32)
KERNEL = 5
HIDDEN = 40


class Student(nn.Module):
    """conv(8,k5)-relu-pool2, conv(16,k5)-relu-pool2, conv(32,k5)-relu, flatten, fc40-relu, fc."""

    def __init__(self, in_channels: int, n_out: int, window: int = WINDOW):
        super().__init__()
        if window % 4:
            raise ValueError(f"window must be a multiple of 4, got {window}")
        c1, c2, c3 = CONV_CHANNELS
        pad = KERNEL // 2
        self.conv1 = nn.Conv1d(in_channels, c1, KERNEL, padding=pad)
        self.pool1 = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(c1, c2, KERNEL, padding=pad)
        self.pool2 = nn.MaxPool1d(2)
        self.conv3 = nn.Conv1d(c2, c3, KERNEL, padding=pad)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(c3 * (window // 4), HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, n_out)
        self.relu = nn.ReLU()
        self.in_channels = in_channels
        self.n_out = n_out
        self.window = window

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, temporal feature map (N, 32, T/4), hidden (N, 40)): the distillation hooks."""
        x = self.pool1(self.relu(self.conv1(x)))
        x = self.pool2(self.relu(self.conv2(x)))
        fmap = self.relu(self.conv3(x))
        hidden = self.relu(self.fc1(self.flatten(fmap)))
        return self.fc2(hidden), fmap, hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


def build_student(task: str, in_channels: int, n_out: int, window: int = WINDOW) -> nn.Module:
    """The student for `task` ('phase': n_out logits; 'grf': n_out = 1 force value)."""
    if task not in ("phase", "grf"):
        raise ValueError(f"unknown task {task!r} (phase | grf)")
    if in_channels < 1 or n_out < 1:
        raise ValueError("in_channels and n_out must be positive")
    return Student(in_channels, n_out, window)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, in_channels: int, window: int = WINDOW) -> int:
    """Multiply-accumulates of one inference: Conv1d, Linear (per row it is applied to) and
    LSTM gates (4 H (in + H) per step and layer); pools, ReLU, BatchNorm not counted."""
    macs = 0
    hooks = []

    def conv_hook(mod, inp, out):
        nonlocal macs
        k = mod.kernel_size[0] * (mod.in_channels // mod.groups)
        macs += out.shape[1] * out.shape[2] * k

    def lin_hook(mod, inp, out):
        nonlocal macs
        macs += mod.in_features * mod.out_features * (out.numel() // out.shape[-1])

    def lstm_hook(mod, inp, out):
        nonlocal macs
        steps = out[0].shape[1] if mod.batch_first else out[0].shape[0]
        h = mod.hidden_size
        for layer in range(mod.num_layers):
            n_in = mod.input_size if layer == 0 else h
            macs += steps * 4 * h * (n_in + h)

    for m in model.modules():
        if isinstance(m, nn.Conv1d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
        elif isinstance(m, nn.LSTM):
            hooks.append(m.register_forward_hook(lstm_hook))
    with torch.no_grad():
        model.eval()
        model(torch.zeros(1, in_channels, window))
    for h in hooks:
        h.remove()
    return macs
