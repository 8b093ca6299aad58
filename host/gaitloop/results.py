"""Headline figures recomputed from fixed inputs, checked against the values the docs state.

Why one module: the regression tests (tests/*) and `make results-quick` (tools/results.py)
must compute a figure the same way, and the value each is held to must live in one place,
`docs/results.json`, next to the doc page and the command that prints the figure. Every
group here is deterministic for a fixed input: fixed-point CSM/MGait code, fixed sensor-noise
seeds, shipped (frozen) model weights, integer int8 kernels. The tolerance of each figure
says where it comes from (exact integer code, float rounding, or the spread over seeds of a
noise model whose seed is fixed here).

A group takes the shared data folder (the non-redistributable datasets); callers that
already hold the loaded data (test fixtures) may pass it in to avoid loading it twice.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "docs" / "results.json"

CSM_DIR = "huang_gait_phase/events_and_forces"
BANDAI_DIR = "mocap/bandai_namco"
STUDENT_DATA = {"student_phase_insole": "huang_gait_phase/imu_figs", "student_grf": "gaitpdb"}
DEVICE_EVERY = 11  # device-model sample: every 11th test window (~2 800 / ~2 300 windows)


def expected() -> dict:
    """The committed expectations: {group: {doc, command, figures: {name: {value, tol, ...}}}}."""
    return json.loads(EXPECTED.read_text())


def compare(group: str, got: dict[str, float], exp: dict | None = None) -> list[str]:
    """One line per figure of `group` that is missing or outside value +- tol."""
    exp = exp or expected()
    bad = []
    for name, spec in exp[group]["figures"].items():
        if name not in got:
            bad.append(f"{group}.{name}: not computed")
            continue
        v = float(got[name])
        if not abs(v - spec["value"]) <= spec["tol"]:
            bad.append(f"{group}.{name} = {v:.6g}, expected {spec['value']} +- {spec['tol']} "
                       f"({exp[group]['doc']})")
    return bad


def csm_report(data: Path | None = None, streams=None) -> dict:
    """`evaluate` of the shipped CSM templates on every held-out recording (subjects not in
    `trained_on`), PM / STTTA fitted on the training subjects: the `eval csm` report."""
    from gaitloop.csm.baselines import Baselines
    from gaitloop.csm.evaluate import evaluate
    from gaitloop.csm.io import load_streams
    from gaitloop.csm.model import CSMTemplates

    shipped = CSMTemplates.load(ROOT / "models" / "csm_default.json")
    if streams is None:
        streams = load_streams(Path(data) / CSM_DIR)
    trained = set(shipped.meta["trained_on"])
    train = [s for s in streams if s.subject in trained]
    test = [s for s in streams if s.subject not in trained]
    return evaluate(test, shipped, Baselines().fit(train))


def csm_figures(r: dict) -> dict[str, float]:
    """The figures docs/csm.md states, from a `csm_report`."""
    fx, fl = r["csm_fixed"], r["csm_float"]
    return {"E4_fixed": fx["E4"], "E4_strict_fixed": fx["E4_strict"],
            "E4_strict_floor": fx["E4_strict_floor"], "E4_float": fl["E4"],
            "E4_strict_float": fl["E4_strict"], "E4_pm": r["pm"]["E4"],
            "E4_sttta": r["sttta"]["E4"], "n_recordings": r["n_recordings"]}


def csm_heldout(data: Path) -> dict[str, float]:
    return csm_figures(csm_report(data))


def mgait_bandai(data: Path, seed: int = 0) -> dict[str, float]:
    """`gaitloop eval mgait` on the 27 Bandai-Namco walks, board (fixed-point) path."""
    from gaitloop.mgait.evaluate import evaluate_dir
    from gaitloop.mgait.synth import SensorModel

    rep = evaluate_dir(Path(data) / BANDAI_DIR, "normal", ("fixed",), model=SensorModel(seed=seed))
    f = rep["fixed"]
    return {"step_mape_rls": f["rls"]["step_mape"], "step_rmse_cm_rls": f["rls"]["step_rmse_cm"],
            "step_mape_paper_70_30": f["paper_70_30"]["step_mape"],
            "step_rmse_cm_paper_70_30": f["paper_70_30"]["step_rmse_cm"],
            "step_mape_nominal": f["nominal"]["step_mape"], "n_steps": f["rls"]["n_steps"]}


def mgait_two_sleeves(data: Path, seed: int = 0) -> dict[str, float]:
    """`gaitloop eval mgait --two-sleeves` on dataset-2 (14 walks; the one-sleeve baseline is
    not rerun here, `mgait_bandai` guards it): same-instant steps of two sleeve boards."""
    from gaitloop.mgait.synth import SensorModel
    from gaitloop.mgait.twoknee_eval import evaluate_two

    r = evaluate_two(Path(data) / BANDAI_DIR / "dataset-2", "normal", SensorModel(seed=seed), one_sleeve=False,
                     timeline_links=("ble7.5",))
    t, c = r["two_sleeve"], r["two_sleeve"]["clock_error_ms"]
    return {"step_mape_rls": t["rls"]["step_mape"], "step_mape_rls_2.1ms": c["2.1"]["rls"]["step_mape"],
            "step_mape_rls_30ms": c["30.0"]["rls"]["step_mape"], "step_mape_nominal": t["nominal"]["step_mape"],
            "paper_events_step_mape_rls": r["paper_events"]["rls"]["step_mape"], "n_steps": t["rls"]["n_steps"],
            "step_mape_rls_timeline_ble7.5": t["timeline"]["ble7.5"]["rls"]["step_mape"],
            "step_mape_rls_2.1ms_frame_truth": t["frame_truth"]["clock_error_ms"]["2.1"]["rls"]["step_mape"]}


def limp_whole_trial(data: Path, seed: int = 0) -> dict[str, float]:
    """Limp rule per stride on the 27 walks with the limp from the first step (`--limp-onset 0`)."""
    from gaitloop.mgait.limp import evaluate_limp
    from gaitloop.mgait.synth import SensorModel

    r = evaluate_limp(Path(data) / BANDAI_DIR, model=SensorModel(seed=seed), onset=0.0)
    return {"f1_per_stride": r["per_stride"]["f1"], "f1_confirmed": r["confirmed"]["f1"],
            "f1_live": r["live"]["f1"], "strides": r["strides"]}


def student(name: str, data: Path, device_every: int = DEVICE_EVERY) -> dict[str, float]:
    """A shipped student on its own held-out test set: float metrics, TFLite int8 metrics and
    the board's device model against ai-edge-litert on every `device_every`-th window, on the
    Unix port's 64-bit words and on emulated 32-bit words (gaitloop.word32), all recomputed
    here (the model card is not read)."""
    from ai_edge_litert.interpreter import Interpreter

    from gaitloop.export.device_runner import run_device_model
    from gaitloop.export.pipeline import _score
    from gaitloop.export.tflite_export import quantize_input, run_tflite
    from gaitloop.learn.checkpoint import load_model
    from gaitloop.learn.evalsets import from_meta
    from gaitloop.learn.train import predict
    from gaitloop.word32 import emulate

    models = ROOT / "models"
    net, meta = load_model(models / f"{name}.pt")
    ev = from_meta(meta, Path(data) / STUDENT_DATA[name])
    flt = _score(meta, predict(net, ev.X_test), ev)
    tfl = models / f"{name}_int8.tflite"
    it = Interpreter(model_path=str(tfl))
    (isc, izp), (osc, ozp) = (it.get_input_details()[0]["quantization"],
                              it.get_output_details()[0]["quantization"])
    q_in = quantize_input(ev.X_test, isc, izp)
    q_ref = run_tflite(tfl, q_in)
    i8 = _score(meta, (q_ref.astype(np.float32) - ozp) * osc, ev)
    idx = np.arange(0, len(q_in), device_every)
    dev = np.asarray(run_device_model(models / f"{name}.gldm", q_in[idx]))
    with tempfile.TemporaryDirectory(prefix="gaitloop-fw32-") as td:  # 32-bit words, emulated
        fw32 = Path(td) / "firmware"
        emulate(ROOT / "firmware", fw32)
        dev32 = np.asarray(run_device_model(models / f"{name}.gldm", q_in[idx], firmware=fw32))

    def mismatched(d: np.ndarray) -> int:
        return int((d != q_ref[idx]).sum()) if d.shape == q_ref[idx].shape else int(q_ref[idx].size)

    out = {"n_test": len(ev.y_test), "device_windows": len(idx),
           "device_mismatched_outputs": mismatched(dev),
           "device32_mismatched_outputs": mismatched(dev32),
           "device_distinct_outputs": len(np.unique(dev))}
    if meta["task"] == "phase":
        out.update(accuracy_float=flt["accuracy"], accuracy_int8=i8["accuracy"],
                   int8_drop_points=(flt["accuracy"] - i8["accuracy"]) * 100)
    else:
        out.update(rmse_n_float=flt["rmse_n"], rmse_n_int8=i8["rmse_n"],
                   rmse_pct_bw_float=flt["rmse_pct_bw"], int8_rmse_growth_n=i8["rmse_n"] - flt["rmse_n"])
    return out


def _bench(name: str):
    """A benchmark script of tools/bench/ as a module (its counting helpers, not its main)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "tools" / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def instructions(data: Path) -> dict[str, float]:
    """Callgrind instructions of the board's hot paths under MicroPython, counted the way
    the benchmarks count them (difference of two run lengths, start-up cancels): the int8
    student's viper inference (bench_student.py) and the insole foot processor per sample
    (bench_csm.py, `foot_viper`, on the same recording N03_2), and the insole's and knee
    sleeve's whole `App.step` (bench_stream.py). ~3.5 min on the loaded machine; needs valgrind."""
    import shutil

    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind not found (apt-get install valgrind)")
    # the PyPI MicroPython runs inside a CPython process, whose start-up differs with the hash
    # seed by ~0.1 M instructions: per sample over 2000 that was a spread of 11 840-12 013 on
    # one input. With one seed the counts repeat (to ~1 instruction a sample).
    seed = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"
    try:
        return _instructions(data)
    finally:
        if seed is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = seed


def _instructions(data: Path) -> dict[str, float]:
    import tempfile

    bs = _bench("bench_student")
    gldm = str(ROOT / "models" / "student_grf.gldm")
    out = {"student_viper_per_inference": bs._instr(
        lambda n: bs._mpy([gldm, "viper", str(n), "count"], callgrind=True)[1], 50)}
    bc = _bench("bench_csm")
    from gaitloop.csm.io import load_streams

    streams = load_streams(Path(data) / CSM_DIR)
    h = next(s for s in streams if s.recording == "N03_2" and s.sensor == "left_heel")
    b = next(s for s in streams if s.recording == "N03_2" and s.sensor == "left_ball")
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        np.asarray(h.counts, "<i2").tofile(tmp / "h.bin")
        np.asarray(b.counts, "<i2").tofile(tmp / "b.bin")
        files = {"n_file": len(h.counts), "heel": str(tmp / "h.bin"), "ball": str(tmp / "b.bin")}
        n = 2000
        for v in ("foot_viper", "fixed_viper"):
            i1 = int(bc._run(bc._code(v, "count", n, files), True, tmp))
            i2 = int(bc._run(bc._code(v, "count", 2 * n, files), True, tmp))
            out[f"csm_{v}_per_sample"] = (i2 - i1) / n
    out.update(sample_path(data))
    return out


def sample_path(data: Path) -> dict[str, float]:
    """The whole per-sample path `App.step` (replay HAL read, processors, SAMPLES framing,
    send) of the insole (gaitpdb GaCo01_01 left) and the knee sleeve (CMU 35_01), counted as
    bench_stream.py counts them: (I(4000) - I(2000)) / 2000 under callgrind; then the same
    walks through the board drivers of three profiles, as bench_drivers.py counts them."""
    import tempfile

    bst = _bench("bench_stream")
    from gaitloop.sim.replayfile import write_replay
    from gaitloop.sim.sources import insole_replay, make_replay

    bd = _bench("bench_drivers")

    def replay_path(td: Path) -> dict[str, float]:
        ri, rk = td / "i.glrp", td / "k.glrp"
        write_replay(insole_replay(bst.WALK, "left"), ri)
        write_replay(make_replay("knee", "both", bst.KNEE_WALK), rk)
        got = {}
        for mode, path in (("insole", ri), ("knee", rk)):
            i1 = bst.mpy_step(path, mode, 2000, callgrind=True)[2]
            i2 = bst.mpy_step(path, mode, 4000, callgrind=True)[2]
            got[f"{mode}_step_per_sample"] = (i2 - i1) / 2000
        return got

    def drivers_path(name: str, td: Path) -> dict[str, float]:
        # the same path through a profile's board drivers (bench_drivers.py: a machine
        # stand-in whose every call is a call into C)
        return {f"{name.replace('-', '_')}_drivers_step_per_sample": bd.whole_path(name, td / "drivers")}

    # two at a time, each in its own folder: the counts are callgrind's, the same whichever
    # runs beside them, and CI (2 cores) saves ~40 s of its 30 minutes
    from concurrent.futures import ThreadPoolExecutor

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as td, ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [pool.submit(replay_path, _mkdir(Path(td) / "replay"))]
        jobs += [pool.submit(drivers_path, name, _mkdir(Path(td) / name))
                 for name in ("picow-insole", "esp32s3-insole", "esp32s3-knee")]
        for job in jobs:
            out.update(job.result())
    return out


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


GROUPS: dict[str, Callable[[Path], dict[str, float]]] = {
    "csm_heldout": csm_heldout,
    "mgait_bandai": mgait_bandai,
    "mgait_two_sleeves": mgait_two_sleeves,
    "limp_whole_trial": limp_whole_trial,
    "student_phase_insole": lambda d: student("student_phase_insole", d),
    "student_grf": lambda d: student("student_grf", d),
    "instructions": instructions,
}
