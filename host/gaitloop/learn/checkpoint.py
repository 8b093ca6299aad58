"""Checkpoints that carry everything needed to run a model outside training.

Why metadata beside the weights: the exporter, the evaluator and the board all need the same
channel order, window, normalisation and class names; keeping them in the file means a model
can never be fed data prepared differently from its training data.

File layout (one `torch.save` dict, loadable with `weights_only=True`):
  {"format": "gaitloop-model", "version": 1, "meta": {...JSON-able...}, "state_dict": {...}}
meta keys: kind ("student" | "teacher" | ...), arch (dict of build arguments), task
("phase" | "grf"), channels (list of input names), window (int), norm_min / norm_max (per
channel lists; phase: min-max to [-1, 1]), target_scale (GRF: newtons per output unit),
classes (list of names, phase), metrics (dict), created (ISO date), seed, data (provenance).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gaitloop.errors import GaitloopError
from gaitloop.outpaths import write_with

FORMAT = "gaitloop-model"
VERSION = 1
REQUIRED_META = ("kind", "task", "channels", "window", "norm_min", "norm_max")


class CheckpointError(GaitloopError):
    """A model file is missing, unreadable or lacks required metadata."""


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> Path:
    """Write state dict + metadata; the metadata must round-trip through JSON."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint metadata lacks {', '.join(missing)}")
    meta = json.loads(json.dumps(meta))  # fail early on non-JSON values, normalise tuples
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "version": VERSION, "meta": meta, "state_dict": state}
    write_with(path, lambda tmp: torch.save(blob, tmp))  # never a half-written checkpoint
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, meta) of a gaitloop model file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path.name}: not a gaitloop model file ({exc})") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not a gaitloop model file")
    if blob.get("version", 0) > VERSION:
        raise CheckpointError(f"{path.name}: format version {blob['version']} is newer than {VERSION}")
    return blob["state_dict"], blob["meta"]


def build_from_meta(meta: dict[str, Any]) -> nn.Module:
    """Rebuild the module a checkpoint's metadata describes (weights not loaded)."""
    from gaitloop.learn import models, students

    arch = dict(meta.get("arch", {}))
    name = arch.pop("name", "student")
    if name == "student":
        return students.build_student(meta["task"], len(meta["channels"]), arch.get("n_out", 1),
                                      meta["window"])
    return models.build_model(name, **arch)


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode with weights loaded, meta)."""
    state, meta = load_checkpoint(path)
    model = build_from_meta(meta)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(path).name}: weights do not match the architecture ({exc})") from exc
    model.eval()
    return model, meta
