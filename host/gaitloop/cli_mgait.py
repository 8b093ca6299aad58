"""`gaitloop calibrate` and `gaitloop eval mgait` (CLI plug-in for the knee sleeve).

Wired by listing "gaitloop.cli_mgait" in cli.py's _PLUGINS; `register(app, train, eval_)`
adds `calibrate` to the top level and `mgait` to the `eval` sub-app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _clean(x):
    """Strict JSON: NaN (a metric with no data, e.g. velocity on a 3 s walk) becomes null."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, float) and x != x:
        return None
    return x


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code=2)


def calibrate(
    data: Annotated[list[Path], typer.Option("--data", help="walk file(s) (.bvh/.amc/.trc) with foot truth")],
    out: Annotated[Path, typer.Option("--out", help="calibration JSON to write (board config keys)")],
    path: str = typer.Option("fixed", help="angles from: fixed (board), float or ideal"),
    l1: float = typer.Option(0.0, help="nominal thigh length m (0: from the skeleton)"),
    l2: float = typer.Option(0.0, help="nominal shank length m (0: from the skeleton)"),
    d5: float = typer.Option(0.0, help="nominal d5 m"),
    seed: int = typer.Option(0, help="sensor-noise seed of the simulation"),
) -> None:
    """Fit l1, l2, d5 (bounded batch LS, eq. 8), the angle biases and an RLS reference.

    Writes the keys the board reads from config.json: l1_mm, l2_mm, d5_mm, bias_cdeg,
    baseline_mm, plus the fit report under "_report" (keys starting with "_" are not kept
    on the board).
    """
    import numpy as np

    from gaitloop.errors import DataError
    from gaitloop.mgait.calibrate import AngleBias, BatchLS, RlsRef
    from gaitloop.mgait.evaluate import matched_steps, metrics, run_walk
    from gaitloop.mgait.synth import SensorModel
    from gaitloop.outpaths import check_file_target, write_atomic

    if path not in ("fixed", "float", "ideal"):
        _fail(f"unknown path {path!r} (fixed, float or ideal)")
    try:
        check_file_target(out)  # before the fit, not after it
    except DataError as exc:
        _fail(str(exc))
    try:
        res = [run_walk(p, paths=(path,), model=SensorModel(seed=seed)) for p in data]
        ang, ref, _ = matched_steps(res, path)
        nom = np.array(res[0].nominal)
        if l1 > 0:
            nom[0] = l1
        if l2 > 0:
            nom[1] = l2
        nom[2] = d5
        bls = BatchLS().fit(ang, ref, tuple(nom))
        bias = AngleBias().fit(ang, ref, tuple(bls.params_))
        rls = RlsRef(nom * 1000).fit(ang, ref * 1000)
    except DataError as exc:
        _fail(str(exc))
    p = bls.params_
    cfg = {
        "l1_mm": int(round(p[0] * 1000)),
        "l2_mm": int(round(p[1] * 1000)),
        "d5_mm": int(round(p[2] * 1000)),
        "bias_cdeg": [int(round(b * 100)) for b in bias.bias_],
        "baseline_mm": int(round(float(np.mean(ref)) * 1000)),
        "_report": {
            "steps": int(len(ref)),
            "nominal_m": nom.round(4).tolist(),
            "batch_ls_m": p.round(4).tolist(),
            "rls_m": (rls.w / 1000).round(4).tolist(),
            "bias_deg": bias.bias_.round(3).tolist(),
            "fit_nominal": metrics(res, path),
            "fit_batch_ls": metrics(res, path, p),
            "fit_batch_ls_bias": metrics(res, path, p, bias.bias_),
        },
    }
    write_atomic(out, json.dumps(_clean(cfg), indent=1, allow_nan=False))
    r = cfg["_report"]
    typer.echo(
        f"wrote {out}: {len(ref)} steps, l1 {cfg['l1_mm']} mm, l2 {cfg['l2_mm']} mm, d5 {cfg['d5_mm']} mm, "
        f"fit MAPE {r['fit_nominal']['step_mape']:.2f} % -> {r['fit_batch_ls_bias']['step_mape']:.2f} %"
    )


def eval_mgait(
    data: Annotated[Path, typer.Option("--data", help="directory of walks (.bvh/.amc/.trc), searched recursively")],
    as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
    calib: str = typer.Option("normal", help="walks whose name contains this calibrate RLS/LS; the rest are tested"),
    paths: str = typer.Option("fixed,float,ideal", help="comma-separated paths: fixed, float, ideal"),
    seed: int = typer.Option(0, help="sensor-noise seed of the simulation"),
    limp: bool = typer.Option(False, help="also build limp cases and score the buzzer rule"),
    limp_onset: float = typer.Option(1 / 3, min=0.0, max=0.9,
                                     help="fraction of each walk before the limp starts (0: the whole trial limps)"),
    limp_wait: int = typer.Option(5, min=1, max=20, help="steps the buzzer waits above the threshold"),
    imu_figs: Annotated[Path | None, typer.Option("--imu-figs", help="also score angle events on Huang imu_figs/")] = None,
    two_sleeves: bool = typer.Option(False, "--two-sleeves",
                                     help="one sleeve board per leg: same-instant step length vs eq. 6 (docs/mgait.md)"),
    clock_errors: str = typer.Option("0.4,2.1,10,30", help="with --two-sleeves: residual left/right alignment errors, ms"),
    frame_truth: bool = typer.Option(False, "--frame-truth",
                                     help="with --two-sleeves: score against heel strikes at the capture's frames "
                                          "(default: between frames, docs/mgait.md)"),
) -> None:
    """Simulated sensors -> fixed-point firmware -> steps, against foot truth (paper Table 5)."""
    if two_sleeves:
        _eval_two(data, as_json, calib, seed, clock_errors, not frame_truth)
        return
    from rich.progress import Progress

    from gaitloop.errors import DataError
    from gaitloop.mgait.evaluate import PATHS, evaluate_dir
    from gaitloop.mgait.mocap import list_walks
    from gaitloop.mgait.synth import SensorModel

    sel = tuple(p.strip() for p in paths.split(",") if p.strip())
    bad = [p for p in sel if p not in PATHS]
    if bad or not sel:
        _fail(f"unknown path(s) {bad} (choose from {', '.join(PATHS)})")
    try:
        n = len(list_walks(data))
        with Progress(transient=True) as prog:
            task = prog.add_task("walks", total=n)
            rep = evaluate_dir(data, calib, sel, progress=lambda _f: prog.advance(task), model=SensorModel(seed=seed))
        if limp:
            from gaitloop.mgait.limp import evaluate_limp

            rep["limp"] = evaluate_limp(data, model=SensorModel(seed=seed), onset=limp_onset, wait_steps=limp_wait)
        if imu_figs is not None:
            from gaitloop.mgait.figs import evaluate_figs

            rep["imu_figs"] = evaluate_figs(imu_figs)
    except DataError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(_clean(rep), indent=1, allow_nan=False))
        return
    cal = rep["calibration_walks"]
    how = f"RLS-calibrated on {', '.join(cal)}; tested on the others" if cal else "nominal lengths (no walk matches --calib)"
    typer.echo(f"{rep['walks']} walks, {rep['n_steps']} test steps ({how})")
    for p in sel:
        for k in ("nominal", "rls", "batch_ls", "batch_ls_bias", "in_sample_batch_ls_bias"):
            if k in rep[p]:
                m = rep[p][k]
                label = "in-sample fit*" if k.startswith("in_sample") else k
                typer.echo(
                    f"{p:6s} {label:14s} step MAPE {m['step_mape']:6.2f} %  RMSE {m['step_rmse_cm']:5.2f} cm  "
                    f"stride {m['stride_mape']:6.2f} %  velocity {m['velocity_mape']:6.2f} %  event F1 {m['event_f1']:5.1f} %"
                )
        m = rep[p].get("paper_70_30")
        if m:
            typer.echo(
                f"{p:6s} {'paper 70/30':14s} step MAPE {m['step_mape']:6.2f} %  RMSE {m['step_rmse_cm']:5.2f} cm  "
                f"stride {m['stride_mape']:6.2f} %  ({m['splits']} random step splits, sd {m['step_mape_sd']:.2f})"
            )
        b = rep[p].get("best_possible_in_sample")
        if b:
            typer.echo(f"{p:6s} {'floor':14s} step MAPE {b['step_mape']:6.2f} %  (best any l1, l2, d5 can do on these steps; "
                       f"{b['step_mape_with_angle_bias']:.2f} % with the angle biases free too)")
    typer.echo("paper (Table 5): step 5.49 % / 4.08 cm, stride 4.17 %, velocity 2.15 %")
    if any("in_sample_batch_ls_bias" in rep[p] for p in sel):
        typer.echo("* batch LS + angle bias fitted on every walk and scored on the same steps (leaks; comparison only)")


def _eval_two(data: Path, as_json: bool, calib: str, seed: int, clock_errors: str, subframe: bool = True) -> None:
    """`eval mgait --two-sleeves`: one sleeve (the board's eq. 6) beside two sleeves."""
    from rich.progress import Progress

    from gaitloop.errors import DataError
    from gaitloop.mgait.mocap import list_walks
    from gaitloop.mgait.synth import SensorModel
    from gaitloop.mgait.twoknee_eval import PAPER2, REALISTIC_MS, TWO, evaluate_two

    try:
        errs = tuple(float(v) for v in clock_errors.split(",") if v.strip())
    except ValueError:
        _fail(f"--clock-errors must be comma-separated milliseconds, not {clock_errors!r}")
    if any(e < 0 for e in errs):
        _fail("--clock-errors must be >= 0 (both signs are tried)")
    try:
        n = len(list_walks(data))
        with Progress(transient=True) as prog:
            task = prog.add_task("walks", total=2 * n)
            rep = evaluate_two(data, calib, SensorModel(seed=seed), errors=errs,
                               progress=lambda _f: prog.advance(task), subframe=subframe)
    except DataError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(_clean(rep), indent=1, allow_nan=False))
        return
    typer.echo(f"{rep['walks']} walks, calibration: {', '.join(rep['calibration_walks'])}; held-out steps {rep['n_steps']}; "
               f"truth: {rep['truth']}")

    def line(label: str, m: dict) -> None:
        asym = f"{m['asym_mae_pts']:5.2f}" if m.get("asym_mae_pts") is not None else "    -"
        typer.echo(f"{label:40s} step MAPE {m['step_mape']:6.2f} %  RMSE {m['step_rmse_cm']:5.2f} cm  "
                   f"stride {m['stride_mape']:6.2f} %  velocity {m['velocity_mape']:6.2f} %  "
                   f"asym err {asym} pts  F1 {m['event_f1']:5.1f} %")

    for name, key in (("one sleeve (board, eq. 6)", "one_sleeve"), ("two boards, paper's events", PAPER2),
                      ("two sleeves, same instant", TWO)):
        for k in ("nominal", "rls", "batch_ls"):
            if k in rep.get(key, {}):
                line(f"{name} {k}", rep[key][k])
    for e, row in rep[TWO]["clock_error_ms"].items():
        if "rls" in row:
            line(f"two sleeves, rls, clock error {e} ms", row["rls"])
    for kind, row in rep[TWO].get("timeline", {}).items():
        if "rls" in row:
            le = row["lr_error_ms"]
            line(f"two sleeves, rls, timeline {kind}", row["rls"])
            typer.echo(f"{'':40s} (left-right error of the fitted clocks: median {le['median']:.2f} ms, "
                       f"95 % {le['p95']:.2f} ms, max {le['max']:.2f} ms)")
    ft = rep[TWO].get("frame_truth")
    if ft and "rls" in ft:
        line("two sleeves, rls, truth at frames", ft["rls"])
        line(f"  ... clock error {REALISTIC_MS} ms", ft["clock_error_ms"][str(REALISTIC_MS)]["rls"])
    fl = rep["floor_reference"]
    typer.echo(f"floors (tools/mgait_floor.py): same instant {fl['same_instant_pct']} %, paper's events "
               f"{fl['paper_events_pct']} %; in-sample floor of these two-sleeve steps "
               f"{rep[TWO]['best_possible_in_sample'].get('step_mape', float('nan')):.2f} %")
    typer.echo("paper (Table 5): step 5.49 % / 4.08 cm, stride 4.17 %, velocity 2.15 %")
    typer.echo("asym err: per stride |eq. 7 estimated - eq. 7 true|, percentage points; clock error: worst of "
               "calibrating at -e and testing at +e, and the reverse")


def register(app: typer.Typer, train: typer.Typer, eval_: typer.Typer) -> None:
    """Add the knee-sleeve commands (called once by cli.py)."""
    app.command("calibrate")(calibrate)
    eval_.command("mgait")(eval_mgait)
