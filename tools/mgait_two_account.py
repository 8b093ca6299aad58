"""Where the two-sleeve step error goes: truth, instant and angles, one at a time.

Why: `gaitloop eval mgait --two-sleeves` gives one number per configuration; this script
takes the same matched steps apart. For every step the two sleeves detect (the board's
angle code per leg, the right board's ticks half a tick off, no clock error), both legs'
angles are read at one of two instants -- the sleeve's heel strike (what the host
estimates, `TwoSleeves`) or the true heel strike -- from one of three angle sources: the
board's 25 Hz ticks joined by straight lines (the host before eq. 1's smoothing was
undone), the board's ticks as the host reads them now (`_LegBuf.angle_at`), and the
skeleton's own angles at 100 Hz (thigh pitch without the mounting tilt, 3-D knee). Each is
scored against the truth at the capture's frames and between them (`truth.true_steps`):
the lowest MAPE any (l1, l2, d5) gives in sample (the floor) and the held-out MAPE after
RLS on the calibration walks (the `eval mgait` protocol).

    .venv/bin/python tools/mgait_two_account.py [DIR] [--seed N]   # default: all 27 Bandai-Namco walks, ~1 min
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gaitloop.mgait.calibrate import RlsRef
from gaitloop.mgait.evaluate import match_steps, min_mape
from gaitloop.mgait.mocap import list_walks, load_walk
from gaitloop.mgait.reference import closed_form, features
from gaitloop.mgait.synth import SensorModel, synthesize
from gaitloop.mgait.truth import feet, true_steps, walking_direction
from gaitloop.mgait.twoknee import _LegBuf, leg_ticks, two_sleeve_steps
from gaitloop.mgait.twoknee_eval import PHASE_SAMPLES

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai_namco"
SOURCES = ("board ticks, linear", "board ticks, reconstructed", "skeleton, 100 Hz")
INSTANTS = ("sleeve's heel strike", "true heel strike")
TRUTHS = ("at frames", "between frames")


def _reader(ticks: np.ndarray) -> _LegBuf:
    b = _LegBuf()
    b.t.extend(ticks[:, 0].tolist())
    b.a.extend(ticks[:, 1].tolist())
    b.b.extend(ticks[:, 2].tolist())
    return b


def collect(directory: Path, seed: int = 0, calib: str = "normal") -> dict:
    """{truth: {"ref", "cal", (instant, source): angles (n, 4)}} over every matched step."""
    out: dict = {t: {"ref": [], "cal": []} for t in TRUTHS}
    for f in list_walks(directory):
        w = load_walk(f)
        st = synthesize(w, SensorModel(seed=seed))
        cfg = {"l1_mm": round(w.l1() * 1000), "l2_mm": round(w.l2() * 1000), "d5_mm": 0}
        ticks = (leg_ticks(st.counts, 0, cfg, st.bend_cal[0], st.rate_hz),
                 leg_ticks(st.counts, 1, cfg, st.bend_cal[1], st.rate_hz, skip=PHASE_SAMPLES))
        steps = [s.step(w.l1(), w.l2(), 0.0) for s in two_sleeve_steps(*ticks, reach=(w.l1(), w.l2()))]
        bufs = [_reader(t) for t in ticks]
        t_ideal = np.arange(len(st.alpha_deg["l"])) * 1000.0 / st.rate_hz

        def read(source: str, side: int, t_ms: float, bufs=bufs, st=st, t_ideal=t_ideal) -> tuple[float, float]:
            if source == SOURCES[0]:
                a, b = bufs[side].at(t_ms)
            elif source == SOURCES[1]:
                a, b = bufs[side].angle_at(t_ms)
            else:
                s = "lr"[side]
                return float(np.interp(t_ms, t_ideal, st.alpha_deg[s])), float(np.interp(t_ms, t_ideal, st.beta_deg[s]))
            return a / 100.0, b / 100.0

        for tname, truth in zip(TRUTHS, (true_steps(w), true_steps(w, subframe=True)), strict=True):
            d = out[tname]
            for s, j in zip(steps, match_steps(steps, truth, st.t0_walk), strict=True):
                if j < 0:
                    continue
                front = "lr".index(s.side)
                t_true = (truth[j].t + st.t0_walk) * 1000.0
                d["ref"].append(truth[j].length)
                d["cal"].append(calib in w.name)
                for inst, t in zip(INSTANTS, (s.t_ic * 1000.0, t_true), strict=True):
                    for src in SOURCES:
                        d.setdefault((inst, src), []).append([*read(src, front, t), *read(src, 1 - front, t)])
    return out


def truth_quantization(directory: Path) -> dict:
    """How far the frame truth's heel strike and step sit from the truth between frames."""
    rate, dt, dl = [], [], []
    for f in list_walks(directory):
        w = load_walk(f)
        fwd, ft = walking_direction(w), feet(w)
        for a, b in zip(true_steps(w), true_steps(w, subframe=True), strict=True):
            k = int(round(a.t * w.rate_hz))
            if not 0 < k < w.n - 1:
                continue
            o = "r" if a.side == "l" else "l"
            sep = np.sum((ft[a.side][k - 1:k + 2] - ft[o][k - 1:k + 2]) * fwd[k - 1:k + 2], axis=1)
            rate.append((sep[2] - sep[0]) / 2 * w.rate_hz)
            dt.append((b.t - a.t) * 1000.0)
            dl.append((b.length - a.length) / a.length * 100)
    rate_a, dt_a, dl_a = np.array(rate), np.array(dt), np.array(dl)
    return {"n": len(rate), "rate_median": float(np.median(rate_a)), "rate_q1": float(np.percentile(rate_a, 25)),
            "rate_q3": float(np.percentile(rate_a, 75)), "dt_sd_ms": float(dt_a.std()),
            "dt_max_ms": float(np.abs(dt_a).max()), "mae_pct": float(np.mean(np.abs(dl_a))), "sd_pct": float(dl_a.std())}


def score(ang: np.ndarray, ref: np.ndarray, cal: np.ndarray, nominal: tuple[float, float, float]) -> tuple[float, float]:
    """(in-sample floor over all steps, held-out MAPE after RLS on the calibration steps) in %."""
    floor = min_mape(features(*ang.T), ref)[0]
    w = RlsRef(np.asarray(nominal) * 1000).fit(ang[cal], ref[cal] * 1000).w / 1000
    test = ~cal
    return floor, float(np.mean(np.abs(closed_form(*w, *ang[test].T) - ref[test]) / ref[test]) * 100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", nargs="?", default=str(DEFAULT))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    directory = Path(args.directory)
    walk0 = load_walk(list_walks(directory)[0])
    nominal = (walk0.l1(), walk0.l2(), 0.0)
    data = collect(directory, args.seed)
    d = data[TRUTHS[1]]
    for src in SOURCES[:2]:
        diff = np.array(d[(INSTANTS[0], src)]) - np.array(d[(INSTANTS[0], SOURCES[2])])
        print(f"{src} minus skeleton angles at the sleeve's heel strike, deg "
              "[alpha front, beta front, alpha back, beta back]: mean "
              f"{np.round(diff.mean(axis=0), 2).tolist()}, sd {np.round(diff.std(axis=0), 2).tolist()}")
    q = truth_quantization(directory)
    print(f"truth at frames vs between frames ({q['n']} heel strikes): the feet's separation grows at "
          f"{q['rate_median']:.2f} m/s (IQR {q['rate_q1']:.2f}-{q['rate_q3']:.2f}) at the heel strike; "
          f"instant off by sd {q['dt_sd_ms']:.1f} ms (max {q['dt_max_ms']:.1f}); "
          f"true step moved by {q['mae_pct']:.2f} % mean absolute (sd {q['sd_pct']:.2f} %)")
    for tname in TRUTHS:
        d = data[tname]
        ref, cal = np.array(d["ref"]), np.array(d["cal"])
        print(f"truth {tname}: {len(ref)} matched steps, {int(cal.sum())} calibrate (in-sample floor / held-out RLS)")
        for inst in INSTANTS:
            cells = [score(np.array(d[(inst, src)]), ref, cal, nominal) for src in SOURCES]
            txt = "   ".join(f"{src}: {f:4.2f} / {h:4.2f} %" for src, (f, h) in zip(SOURCES, cells, strict=True))
            print(f"  at the {inst:22s} {txt}")


if __name__ == "__main__":
    main()
