"""Teachers and neural baselines: 1-D ResNet-34 + 2-layer LSTM (with/without temporal
attention, TPA) after the ResNet-LSTM gait-phase paper, and a plain 2-layer LSTM.

Why the temporal layout differs from an image ResNet: our windows are only 40 samples, and
the LSTM needs a sequence, so the stem keeps full resolution (no stride-2 stem, no max-pool)
and only the first unit of blocks 2-4 halves time (40 -> 20 -> 10 -> 5); the LSTM then reads
the 5-step feature sequence instead of a single pooled vector. `width` scales the paper's
64/128/256/512 channels (width=64 is the paper); CPU-only training uses a smaller width,
stated wherever results are reported.

Every model returns logits from `forward`, and `forward_features` returns (output, temporal
feature map (N, F, T'), penultimate vector (N, D)) for distillation.
"""

from __future__ import annotations

import torch
from torch import nn

RESNET34_LAYERS = (3, 4, 6, 3)


class BasicBlock1d(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv1d(cin, cout, 1, stride=stride, bias=False),
                                      nn.BatchNorm1d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + idt)


class ResNet1d(nn.Module):
    """ResNet-34 layout in 1-D: 7-tap stem, blocks of (3, 4, 6, 3) basic units."""

    def __init__(self, in_channels: int, width: int = 64, layers=RESNET34_LAYERS):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(in_channels, width, 7, padding=3, bias=False),
                                  nn.BatchNorm1d(width), nn.ReLU(inplace=True))
        blocks = []
        cin = width
        for i, n in enumerate(layers):
            cout = width * 2**i
            for j in range(n):
                blocks.append(BasicBlock1d(cin, cout, stride=2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = cin

    def forward(self, x):
        return self.blocks(self.stem(x))


class TemporalAttention(nn.Module):
    """score_t = v^T tanh(W1 h_t + W2 q), q = h_T; context = sum softmax(score)_t h_t (eq. 7)."""

    def __init__(self, hidden: int, att: int | None = None):
        super().__init__()
        att = att or hidden
        self.w1 = nn.Linear(hidden, att, bias=False)
        self.w2 = nn.Linear(hidden, att, bias=True)
        self.v = nn.Linear(att, 1, bias=False)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = h[:, -1]
        score = self.v(torch.tanh(self.w1(h) + self.w2(q)[:, None, :])).squeeze(-1)
        weights = torch.softmax(score, dim=1)
        return (weights[:, :, None] * h).sum(dim=1), weights


class ResNetLSTM(nn.Module):
    """ResNet-34 features -> 2-layer LSTM over time -> (optional TPA) -> linear head."""

    def __init__(self, in_channels: int, n_out: int, width: int = 64, hidden: int = 128,
                 attention: bool = False, layers=RESNET34_LAYERS):
        super().__init__()
        self.resnet = ResNet1d(in_channels, width, layers)
        self.lstm = nn.LSTM(self.resnet.out_channels, hidden, num_layers=2, batch_first=True)
        self.attention = TemporalAttention(hidden) if attention else None
        self.head = nn.Linear(hidden, n_out)
        self.feature_dim = hidden

    def forward_features(self, x):
        fmap = self.resnet(x)  # (N, F, T')
        h, _ = self.lstm(fmap.transpose(1, 2))  # (N, T', H)
        if self.attention is not None:
            vec, self.attention_weights_ = self.attention(h)
        else:
            vec = h[:, -1]
        return self.head(vec), h.transpose(1, 2), vec

    def forward(self, x):
        return self.forward_features(x)[0]


class LSTMNet(nn.Module):
    """Baseline: 2-layer LSTM over the raw 40-sample window, last hidden state -> linear."""

    def __init__(self, in_channels: int, n_out: int, hidden: int = 64):
        super().__init__()
        self.lstm = nn.LSTM(in_channels, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, n_out)
        self.feature_dim = hidden

    def forward_features(self, x):
        h, _ = self.lstm(x.transpose(1, 2))
        return self.head(h[:, -1]), h.transpose(1, 2), h[:, -1]

    def forward(self, x):
        return self.forward_features(x)[0]


def build_model(name: str, in_channels: int, n_out: int, **kw) -> nn.Module:
    """'resnet_lstm' | 'resnet_lstm_tpa' | 'lstm' by name (the checkpoint's arch['name'])."""
    if name == "resnet_lstm":
        return ResNetLSTM(in_channels, n_out, attention=False, **kw)
    if name == "resnet_lstm_tpa":
        return ResNetLSTM(in_channels, n_out, attention=True, **kw)
    if name == "lstm":
        return LSTMNet(in_channels, n_out, **kw)
    raise ValueError(f"unknown model {name!r} (resnet_lstm | resnet_lstm_tpa | lstm)")
