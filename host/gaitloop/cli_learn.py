"""`gaitloop train teacher|student` and `gaitloop eval phase`: the learned-model commands.

Registered from cli.py's `_PLUGINS` ("gaitloop.cli_learn"). Heavy imports (torch, sklearn,
onnxruntime) happen inside the commands so `gaitloop --help` stays fast and works without the
`ml` extra.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from gaitloop.errors import GaitloopError

console = Console(stderr=True)


class Task(StrEnum):
    phase = "phase"
    grf = "grf"


class KD(StrEnum):
    none = "none"
    hinton = "hinton"
    hinton_feat = "hinton_feat"
    sckd = "sckd"


class Arch(StrEnum):
    resnet_lstm = "resnet_lstm"
    resnet_lstm_tpa = "resnet_lstm_tpa"
    lstm = "lstm"


class Channels(StrEnum):
    insole = "insole"
    all = "all"


class LearnError(GaitloopError):
    """A training or evaluation command cannot run with the given inputs."""


def _need_ml():
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise LearnError("training needs the ml extra: pip install -e .[ml]") from exc


def _default_data(task: Task) -> Path:
    from gaitloop.learn.evalsets import DEFAULT_DATA

    return DEFAULT_DATA[task.value]


def _summary(res: dict, task: str) -> dict:
    m = res["metrics"]
    keys = ("accuracy", "macro_f1", "micro_f1", "f1") if task == "phase" else (
        "rmse_n", "rmse_pct_bw", "r2")
    return {"model": res["model"], "params": res.get("params"), "macs": res.get("macs"),
            "train_time_s": round(res["train_time_s"], 1), **{k: m[k] for k in keys if k in m}}


def _check_delay(task: Task, delay: int) -> None:
    from gaitloop.learn.phase_data import WINDOW

    if delay and task is not Task.phase:
        raise LearnError("--delay applies to the phase task only")
    if not 0 <= delay < WINDOW:
        raise LearnError(f"--delay must be 0..{WINDOW - 1} samples, got {delay}")


def register(app: typer.Typer, train: typer.Typer, eval_: typer.Typer) -> None:
    @train.command("teacher")
    def train_teacher(
        task: Annotated[Task, typer.Option(help="phase (imu_figs) or grf (gaitpdb).")] = Task.phase,
        data: Annotated[Path | None, typer.Option(help="Data folder (default: ../shared/data/...).")] = None,
        arch: Annotated[Arch, typer.Option(help="Teacher architecture.")] = Arch.resnet_lstm_tpa,
        width: Annotated[int, typer.Option(help="ResNet base width (paper: 64).")] = 16,
        epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
        train_stride: Annotated[int, typer.Option(help="Take every n-th training window.")] = 4,
        seed: Annotated[int, typer.Option(help="Random seed (split, init, batches).")] = 0,
        delay: Annotated[int, typer.Option(help="Phase: decision delay in samples (the target is the label of the sample this many samples before the window's end; 10 ms each at 100 Hz).")] = 0,
        out: Annotated[Path | None, typer.Option(help="Checkpoint to write (default runs/teacher_TASK.pt; teachers stay out of git).")] = None,
    ) -> None:
        """Train a teacher on all sensors and report test metrics (held-out recordings/subjects)."""
        _need_ml()
        _check_delay(task, delay)
        out = out or Path(f"runs/teacher_{task.value}.pt")
        data = data or _default_data(task)
        if task is Task.phase:
            from gaitloop.learn import phase

            ds = phase.dataset(data, seed=seed, train_stride=train_stride, delay=delay)
            res = phase.train_teacher(ds, arch.value, width=width, epochs=epochs, seed=seed,
                                      save_to=out, hidden=128 if arch is not Arch.lstm else 64)
        else:
            from gaitloop.learn import grf

            if arch is Arch.lstm:
                raise LearnError("the GRF teacher is a ResNet-LSTM (resnet_lstm | resnet_lstm_tpa)")
            ds = grf.make_dataset(data, seed=seed, train_stride=train_stride)
            res = grf.train_teacher(ds, arch.value, width=width, epochs=epochs, seed=seed,
                                    save_to=out)
        print(json.dumps(_summary(res, task.value), indent=1))
        console.print(f"teacher: {out}")

    @train.command("student")
    def train_student(
        task: Annotated[Task, typer.Option(help="phase (imu_figs) or grf (gaitpdb).")] = Task.phase,
        data: Annotated[Path | None, typer.Option(help="Data folder (default: ../shared/data/...).")] = None,
        teacher: Annotated[Path | None, typer.Option(help="Teacher checkpoint for distillation.")] = None,
        kd: Annotated[KD, typer.Option(help="Distillation: none, hinton (T=4, 0.7), hinton_feat, sckd.")] = KD.none,
        channels: Annotated[Channels, typer.Option(help="Phase inputs: insole (heel+ball, left) or all.")] = Channels.insole,
        epochs: Annotated[int, typer.Option(help="Training epochs.")] = 30,
        train_stride: Annotated[int, typer.Option(help="Take every n-th training window.")] = 4,
        batch_size: Annotated[int, typer.Option(help="Mini-batch size (small data: smaller).")] = 128,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        delay: Annotated[int, typer.Option(help="Phase: decision delay in samples (the target is the label of the sample this many samples before the window's end; 10 ms each at 100 Hz).")] = 0,
        out: Annotated[Path | None, typer.Option(help="Checkpoint to write (default runs/student_TASK.pt).")] = None,
    ) -> None:
        """Train a ~17 k-parameter student (optionally distilled) and report test metrics."""
        _need_ml()
        _check_delay(task, delay)
        out = out or Path(f"runs/student_{task.value}.pt")
        data = data or _default_data(task)
        if kd is not KD.none and teacher is None:
            raise LearnError(f"--kd {kd.value} needs --teacher FILE (or use --kd none)")
        try:
            if task is Task.phase:
                from gaitloop.learn import phase

                ds = phase.dataset(data, seed=seed, train_stride=train_stride, delay=delay)
                res = phase.train_student(ds, kd.value, teacher, channels.value, epochs=epochs,
                                          batch_size=batch_size, seed=seed, save_to=out)
            else:
                from gaitloop.learn import grf

                ds = grf.make_dataset(data, seed=seed, train_stride=train_stride)
                res = grf.train_student(ds, kd.value, teacher, epochs=epochs, seed=seed,
                                        batch_size=batch_size, save_to=out)
        except ValueError as exc:
            raise LearnError(str(exc)) from exc
        print(json.dumps(_summary(res, task.value), indent=1))
        console.print(f"student: {out}")

    @eval_.command("phase")
    def eval_phase(
        model: Annotated[Path, typer.Option(help="Student or teacher checkpoint (.pt).")],
        data: Annotated[Path | None, typer.Option(help="Folder laid out like imu_figs/ (every distinct .fig is evaluated).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        device: Annotated[bool, typer.Option(help="Also run the device-format model in the firmware interpreter under MicroPython and check it bit-exact against ai-edge-litert.")] = False,
        stride: Annotated[int, typer.Option(help="Evaluate every n-th window (1 = all).")] = 1,
    ) -> None:
        """Accuracy, macro/micro F1 and per-phase F1 on a folder of recordings."""
        _need_ml()
        from gaitloop.learn.evaluate import evaluate_phase

        res = evaluate_phase(model, data or _default_data(Task.phase), device=device,
                             stride=stride)
        if as_json:
            print(json.dumps(res))
            return
        from rich.table import Table

        t = Table(title=f"{model.name} on {res['data']}")
        t.add_column("metric")
        t.add_column("float", justify="right")
        if device:
            t.add_column("device int8", justify="right")
        for k in ("accuracy", "macro_f1", "micro_f1"):
            t.add_row(k, f"{res[k]:.4f}", *([f"{res['device'][k]:.4f}"] if device else []))
        for c, v in res["f1"].items():
            t.add_row(f"F1 {c}", f"{v:.4f}", *([f"{res['device']['f1'][c]:.4f}"] if device else []))
        console.print(t)
        console.print(f"decision delay: {res['decision_delay']} samples = "
                      f"{res['decision_delay_ms']:.0f} ms")
        if device:
            console.print(f"bit_exact vs ai-edge-litert: {res['bit_exact']} ({res['n_windows']} windows)")
