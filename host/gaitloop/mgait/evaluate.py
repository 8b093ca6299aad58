"""`gaitloop eval mgait`: the full knee-sleeve path on every captured walk, against foot truth.

Why this protocol: per walk, sensors are simulated from the capture (gaitloop.mgait.synth),
run through the fixed-point firmware, the float64 reference and the ideal-angle path. Each
detected step is matched to a true heel strike of the same foot within 100 ms. Lengths use
the skeleton's nominal l1, l2 (d5 = 0, the stick model has no thigh width), then RLS: the
calibration walks (names matching `calib`, the user's constant-pace walk) tune w = [l1, l2,
d5] with their true step lengths, and every other walk is the test set (paper: calibrate
once per user, then measure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from gaitfw.mgait import step_mm
from gaitloop.mgait.calibrate import AngleBias, BatchLS, RlsRef
from gaitloop.mgait.mocap import MocapError, Walk, list_walks, load_walk
from gaitloop.mgait.reference import Step, board_path, closed_form, features, float_path, ideal_path
from gaitloop.mgait.synth import SensorModel, synthesize
from gaitloop.mgait.truth import TrueStep, true_steps

TOL_S = 0.100
PATHS = ("fixed", "float", "ideal")


@dataclass
class WalkResult:
    """Per walk: truth, and per path the detected steps and their matches."""

    name: str
    truth: list[TrueStep]
    steps: dict[str, list[Step]] = field(default_factory=dict)
    match: dict[str, list[int]] = field(default_factory=dict)  # index into truth or -1
    nominal: tuple[float, float, float] = (0.0, 0.0, 0.0)
    error: str = ""


def match_steps(steps: list[Step], truth: list[TrueStep], t_offset: float, tol: float = TOL_S) -> list[int]:
    """Greedy one-to-one matching by time, same front foot, within `tol` seconds."""
    used: set[int] = set()
    out = []
    for s in steps:
        best, bd = -1, tol + 1e-9
        for j, tr in enumerate(truth):
            if j in used or tr.side != s.side:
                continue
            d = abs(tr.t + t_offset - s.t_ic)
            if d <= bd:
                best, bd = j, d
        if best >= 0:
            used.add(best)
        out.append(best)
    return out


def run_walk(path: Path, cfg: dict | None = None, model: SensorModel | None = None, paths=PATHS, walk: Walk | None = None,
             subframe: bool = False) -> WalkResult:
    """Simulate, run the requested paths, match to truth (`subframe`: see `truth.true_steps`)."""
    w = walk if walk is not None else load_walk(path)
    truth = true_steps(w, subframe=subframe)
    st = synthesize(w, model)
    l1, l2, d5 = w.l1(), w.l2(), 0.0
    res = WalkResult(w.name, truth, nominal=(l1, l2, d5))
    cfg = dict(cfg or {})
    cfg.update({"l1_mm": round(l1 * 1000), "l2_mm": round(l2 * 1000), "d5_mm": 0, "bend_cal": st.bend_cal})
    for p in paths:
        if p == "fixed":
            steps = board_path(st, cfg)[0]
        elif p == "float":
            steps = float_path(st, l1, l2, d5, cfg)[0]
        else:
            steps = ideal_path(st, l1, l2, d5, cfg)
        res.steps[p] = steps
        res.match[p] = match_steps(steps, truth, st.t0_walk)
    return res


def _lengths(path: str, steps: list[Step], w: np.ndarray | None, bias=None) -> np.ndarray:
    """Step lengths [m] with weights w = (l1, l2, d5) in metres (None: as detected)."""
    if w is None:
        return np.array([s.length for s in steps])
    ang = np.array([[s.af, s.bf, s.ab, s.bb] for s in steps]) if steps else np.zeros((0, 4))
    return _lengths_of(path, ang, w, bias)


def _lengths_of(path: str, ang: np.ndarray, w: np.ndarray, bias=None) -> np.ndarray:
    """Eq. 6 on angles (n, 4) in degrees as this path computes it (the board: integer)."""
    if bias is not None:
        ang = ang - bias
    if path == "fixed":
        l1, l2, d5 = (int(round(v * 1000)) for v in w)
        return np.array([step_mm(l1, l2, d5, *(int(round(a * 100)) for a in row)) / 1000.0 for row in ang])
    return closed_form(*w, *ang.T) if len(ang) else np.zeros(0)


def metrics(results: list[WalkResult], path: str, w: np.ndarray | None = None, bias=None) -> dict:
    """step/stride/velocity MAPE, RMSE, event F1 over walks for one path and parameter set."""
    est, ref, s_est, s_ref, v_est, v_ref = [], [], [], [], [], []
    tp = n_det = n_true = 0
    for r in results:
        if path not in r.steps:
            continue
        steps, m = r.steps[path], r.match[path]
        L = _lengths(path, steps, w, bias)
        n_det += len(steps)
        n_true += len(r.truth)
        tp += sum(1 for j in m if j >= 0)
        for i, j in enumerate(m):
            if j >= 0:
                est.append(L[i])
                ref.append(r.truth[j].length)
            # stride: two consecutive detected steps, both matched, consecutive in truth
            if i >= 1 and j >= 0 and m[i - 1] == j - 1 and steps[i - 1].side != steps[i].side:
                s_est.append(L[i] + L[i - 1])
                s_ref.append(r.truth[j].length + r.truth[j - 1].length)
            # speed over five strides = ten steps, as the board computes it
            if i >= 10 and all(m[k] >= 0 for k in range(i - 10, i + 1)) and m[i] - m[i - 10] == 10:
                dt = steps[i].t_ic - steps[i - 10].t_ic
                dtt = r.truth[m[i]].t - r.truth[m[i - 10]].t
                if dt > 0 and dtt > 0:
                    v_est.append(L[i - 9 : i + 1].sum() / dt)
                    v_ref.append(sum(r.truth[m[k]].length for k in range(i - 9, i + 1)) / dtt)
    est, ref = np.array(est), np.array(ref)

    def mape(a, b):
        a, b = np.asarray(a), np.asarray(b)
        return float(np.mean(np.abs(a - b) / b) * 100) if len(b) else float("nan")

    prec = tp / n_det if n_det else 0.0
    rec = tp / n_true if n_true else 0.0
    return {
        "step_mape": mape(est, ref),
        "step_rmse_cm": float(np.sqrt(np.mean((est - ref) ** 2)) * 100) if len(ref) else float("nan"),
        "stride_mape": mape(s_est, s_ref),
        "stride_rmse_cm": float(np.sqrt(np.mean((np.array(s_est) - np.array(s_ref)) ** 2)) * 100) if s_ref else float("nan"),
        "velocity_mape": mape(v_est, v_ref),
        "n_steps": int(len(ref)),
        "n_strides": int(len(s_ref)),
        "n_velocity": int(len(v_ref)),
        "event_precision": prec * 100,
        "event_recall": rec * 100,
        "event_f1": (2 * prec * rec / (prec + rec) * 100) if prec + rec else 0.0,
    }


def matched_steps(results: list[WalkResult], path: str) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Angles, true lengths and (walk, step) ids of every matched step of one path."""
    ang, ref, ids = [], [], []
    for w, r in enumerate(results):
        for i, (s, j) in enumerate(zip(r.steps.get(path, []), r.match.get(path, []), strict=True)):
            if j >= 0:
                ang.append([s.af, s.bf, s.ab, s.bb])
                ref.append(r.truth[j].length)
                ids.append((w, i))
    return np.array(ang).reshape(-1, 4), np.array(ref), ids


def paper_split(results: list[WalkResult], path: str, nominal, splits: int = 10, seed: int = 0,
                train_frac: float = 0.7) -> dict:
    """The paper's Table 5 protocol (Sec. 6.4): batch LS and angle bias fitted on a random
    70 % of the user's steps, scored on the other 30 %; mean and sd over `splits` splits.

    Strides are scored where both steps are test steps; velocity is not (it needs ten
    consecutive steps, which a random 30 % almost never holds)."""
    ang, ref, ids = matched_steps(results, path)
    n = len(ref)
    if n < 10:
        return {}
    pos = {k: i for i, k in enumerate(ids)}
    # stride pairs: consecutive detected steps, both matched, consecutive in truth, other foot
    pairs = []
    for w, r in enumerate(results):
        m, steps = r.match.get(path, []), r.steps.get(path, [])
        for i in range(1, len(m)):
            if m[i] >= 0 and m[i - 1] == m[i] - 1 and steps[i - 1].side != steps[i].side:
                pairs.append((pos[(w, i - 1)], pos[(w, i)]))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(splits):
        perm = rng.permutation(n)
        k = int(round(train_frac * n))
        tr, te = perm[:k], perm[k:]
        bls = BatchLS().fit(ang[tr], ref[tr], tuple(nominal))
        bias = AngleBias().fit(ang[tr], ref[tr], tuple(bls.params_))
        est = _lengths_of(path, ang, bls.params_, bias.bias_)
        test = np.zeros(n, bool)
        test[te] = True
        e = est[te] - ref[te]
        sp = [(a, b) for a, b in pairs if test[a] and test[b]]
        s_est = np.array([est[a] + est[b] for a, b in sp])
        s_ref = np.array([ref[a] + ref[b] for a, b in sp])
        rows.append([np.mean(np.abs(e) / ref[te]) * 100, np.sqrt(np.mean(e * e)) * 100,
                     np.mean(np.abs(s_est - s_ref) / s_ref) * 100 if sp else np.nan, len(sp)])
    a = np.array(rows)
    return {"step_mape": float(a[:, 0].mean()), "step_mape_sd": float(a[:, 0].std()),
            "step_rmse_cm": float(a[:, 1].mean()), "stride_mape": float(np.nanmean(a[:, 2])),
            "n_strides": int(a[:, 3].mean()), "n_train": int(round(train_frac * n)),
            "n_test": n - int(round(train_frac * n)), "splits": splits}


def min_mape(h: np.ndarray, d_ref: np.ndarray) -> tuple[float, np.ndarray]:
    """The lowest MAPE [%] of h @ w against d_ref over all w, and that w.

    Minimising sum |h.w - D| / D is a linear programme (one slack per step)."""
    from scipy.optimize import linprog

    n = len(d_ref)
    a = h / d_ref[:, None]
    eye = np.eye(n)
    r = linprog(np.r_[np.zeros(h.shape[1]), np.ones(n)],
                A_ub=np.block([[a, -eye], [-a, -eye]]), b_ub=np.r_[np.ones(n), -np.ones(n)],
                bounds=[(None, None)] * h.shape[1] + [(0, None)] * n, method="highs")
    if not r.success:
        raise RuntimeError(f"min-MAPE programme failed: {r.message}")
    return float(r.fun / n * 100), r.x[: h.shape[1]]


def min_mape_with_bias(ang: np.ndarray, d_ref: np.ndarray) -> tuple[float, np.ndarray]:
    """The lowest MAPE [%] found when the paper's angle correction is free as well: four
    constant angle biases within its bounds (`AngleBias`) on top of any w.

    Nonconvex, so this is the best of a few robust fits (soft-L1 on relative errors with
    shrinking scale), each polished by the exact programme over w: an upper bound on the
    true optimum, close to it in practice. Returns (MAPE, biases in degrees)."""
    best, w0 = min_mape(features(*ang.T), d_ref)
    best_b = np.zeros(4)
    span = AngleBias().span(ang)

    def resid(q):
        return (closed_form(q[0], q[1], q[2], *(ang - q[3:]).T) - d_ref) / d_ref

    lo = np.r_[np.full(3, -np.inf), -span]
    hi = np.r_[np.full(3, np.inf), span]
    for scale in (0.05, 0.02, 0.01, 0.005):
        q = least_squares(resid, np.r_[w0, np.zeros(4)], loss="soft_l1", f_scale=scale, bounds=(lo, hi)).x
        m, _ = min_mape(features(*(ang - q[3:]).T), d_ref)
        if m < best:
            best, best_b = m, q[3:]
    return best, best_b


def best_possible(results: list[WalkResult], path: str) -> dict:
    """The lowest step MAPE any w = (l1, l2, d5) can give on these steps, fitted on the very
    steps it scores, without bounds: a floor for eq. 6 with these angles and events; and the
    best found with the paper's angle correction free too (`with_angle_bias`)."""
    ang, ref, _ = matched_steps(results, path)
    if len(ref) < 8:
        return {}
    mape, w = min_mape(features(*ang.T), ref)
    mape_b, bias = min_mape_with_bias(ang, ref)
    return {"step_mape": mape, "params_m": w.round(4).tolist(), "n_steps": len(ref),
            "step_mape_with_angle_bias": mape_b, "angle_bias_deg": bias.round(3).tolist()}


def evaluate_dir(directory: str | Path, calib: str = "normal", paths=PATHS, progress=None, model: SensorModel | None = None,
                 subframe: bool = False) -> dict:
    """Every walk under `directory`; returns the JSON-ready report."""
    files = list_walks(directory)
    results: list[WalkResult] = []
    skipped = []
    for f in files:
        try:
            results.append(run_walk(f, paths=paths, model=model, subframe=subframe))
        except MocapError as exc:
            skipped.append(str(exc))
        if progress:
            progress(f)
    if not results:
        raise MocapError(f"{directory}: no walk could be evaluated ({'; '.join(skipped)[:200]})")
    cal = [r for r in results if calib and calib in r.name]
    test = [r for r in results if r not in cal] or results
    report: dict = {"walks": len(results), "calibration_walks": [r.name for r in cal], "skipped": skipped}
    for p in paths:
        nominal = np.array(results[0].nominal)
        nom = metrics(test, p)
        out = {"nominal": nom, "nominal_params_m": nominal.round(4).tolist()}
        if cal:
            ang, ref = matched_steps(cal, p)[:2]
            if len(ref) >= 4:
                rls = RlsRef(nominal * 1000).fit(ang, ref * 1000)
                w_rls = rls.w / 1000
                out["rls"] = metrics(test, p, w_rls)
                out["rls_params_m"] = w_rls.round(4).tolist()
                bls = BatchLS().fit(ang, ref, tuple(nominal))
                out["batch_ls"] = metrics(test, p, bls.params_)
                out["batch_ls_params_m"] = bls.params_.round(4).tolist()
                bias = AngleBias().fit(ang, ref, tuple(bls.params_))
                out["batch_ls_bias"] = metrics(test, p, bls.params_, bias.bias_)
                out["bias_deg"] = bias.bias_.round(3).tolist()
                # the paper's Table 5 reading: one batch LS + bias fit per user over all of that
                # user's steps, scored on the same steps (in-sample; for comparison only)
                ang_all, ref_all = matched_steps(results, p)[:2]
                bls_all = BatchLS().fit(ang_all, ref_all, tuple(nominal))
                bias_all = AngleBias().fit(ang_all, ref_all, tuple(bls_all.params_))
                out["in_sample_batch_ls_bias"] = metrics(results, p, bls_all.params_, bias_all.bias_)
                if p == "fixed":
                    w_board = board_rls(files, cal[0], model)
                    if w_board is not None:
                        out["board_rls"] = metrics(test, p, w_board)
                        out["board_rls_params_m"] = w_board.round(4).tolist()
        if len(results) > 1:
            out["paper_70_30"] = paper_split(results, p, nominal)
            out["best_possible_in_sample"] = best_possible(results, p)
        report[p] = out
    per_walk = {}
    for r in results:
        row = {}
        for p in paths:
            m = metrics([r], p)
            row[p] = {"step_mape": m["step_mape"], "n_steps": m["n_steps"], "n_true": len(r.truth)}
        per_walk[r.name] = row
    report["per_walk"] = per_walk
    best = report["fixed"] if "fixed" in report else report[paths[0]]
    head = best.get("rls", best["nominal"])
    for k in ("step_mape", "step_rmse_cm", "stride_mape", "velocity_mape", "n_steps", "event_f1"):
        report[k] = head[k]
    return report


def board_rls(files: list[Path], cal: WalkResult, model: SensorModel | None = None, steps: int = 10) -> np.ndarray | None:
    """The on-device flow: the board's own RLS (calibration mode) on one calibration walk.

    The user walks at a constant step length whose value the app enters (here: the walk's
    mean true step length); after `steps` steps the board emits EV_MG_RLS_DONE/D5.
    """
    from gaitfw.events import EV_MG_RLS_D5, EV_MG_RLS_DONE

    path = next(f for f in files if Path(f).stem == cal.name)
    w = load_walk(path)
    st = synthesize(w, model)
    ref_mm = int(round(np.mean([t.length for t in cal.truth]) * 1000))
    cfg = {"l1_mm": round(w.l1() * 1000), "l2_mm": round(w.l2() * 1000), "d5_mm": 0, "bend_cal": st.bend_cal,
           "calibrate_rls": 1, "ref_step_mm": ref_mm, "rls_steps": steps}
    _, events, _ = board_path(st, cfg)
    done = [e for e in events if e[1] == EV_MG_RLS_DONE]
    d5 = [e for e in events if e[1] == EV_MG_RLS_D5]
    if not done or not d5:
        return None
    return np.array([done[0][3], done[0][4], d5[0][3]]) / 1000.0


def rls_features(steps: list[Step]) -> np.ndarray:
    """Regressors of detected steps (for tests and the calibrate command)."""
    return features(*np.array([[s.af, s.bf, s.ab, s.bb] for s in steps]).T)
