"""How low can eq. 6 go on these walks? Step-length floors straight from the capture.

Why: `gaitloop eval mgait` reports the floor of eq. 6 on the angles and events the board
detects. This script asks the same question with no sensing and no streaming at all: the
skeleton's own angles at the capture's own frames, the front limb at the Zeni heel strike
(or at the knee minimum nearest to it) and the back limb at one of three instants (the same
heel strike, its foot-off = foot farthest behind the pelvis, or its hip-angle minimum, the
paper's Definition 5.1 and Sec. 4.4). For each, the lowest MAPE any (l1, l2, d5) reaches
fitted on the very steps it scores (`evaluate.min_mape`), and the best found with the
paper's angle correction free as well (`evaluate.min_mape_with_bias`). Two angle conventions: the
thigh's pitch about the pelvis's left-right axis (what a thigh IMU sees, as the simulator
builds it) with the 3-D knee angle (what a bend sensor sees), and both angles projected on
the walking direction (which no thigh-worn sensor measures).

    .venv/bin/python tools/mgait_floor.py [DIR]      # default: the Bandai-Namco walks
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gaitloop.mgait.evaluate import min_mape, min_mape_with_bias
from gaitloop.mgait.mocap import SIDES, list_walks, load_walk
from gaitloop.mgait.reference import features
from gaitloop.mgait.synth import hip_angle_from_rot, knee_angle
from gaitloop.mgait.truth import true_steps, walking_direction

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "mocap" / "bandai_namco"


def _walking_plane(w, fwd) -> tuple[dict, dict]:
    """Thigh and knee angles projected on the vertical plane through the walking direction."""
    alpha, beta = {}, {}
    for s in SIDES:
        th, sh = w.knee[s] - w.hip[s], w.ankle[s] - w.knee[s]
        a = np.degrees(np.arctan2(np.sum(th * fwd, axis=1), -th[:, 2]))
        g = np.degrees(np.arctan2(np.sum(sh * fwd, axis=1), -sh[:, 2]))
        alpha[s], beta[s] = a, a - g
    return alpha, beta


def floors(directory: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """{convention: {front/back instants: (floor MAPE %, best found with angle bias %)}}
    over every walk in `directory`."""
    rows: dict[str, dict[str, list]] = {}
    refs: list[float] = []
    for f in list_walks(directory):
        w = load_walk(f)
        fwd = walking_direction(w)
        conv = {
            "thigh IMU pitch + 3-D knee": ({s: hip_angle_from_rot(w.thigh_rot[s]) for s in SIDES},
                                           {s: knee_angle(w, s) for s in SIDES}),
            "walking-plane projection": _walking_plane(w, fwd),
        }
        rel = {s: np.sum((w.ankle[s] - w.pelvis) * fwd, axis=1) for s in SIDES}
        r = w.rate_hz
        for st in true_steps(w):
            k = int(round(st.t * r))
            s, o = st.side, ("r" if st.side == "l" else "l")
            after = slice(k, k + int(0.6 * r))
            if k + 3 > w.n:
                continue
            k_fo = k + int(np.argmin(rel[o][after]))
            refs.append(st.length)
            for name, (al, be) in conv.items():
                lo = max(0, k - int(0.2 * r))
                k_knee = lo + int(np.argmin(be[s][lo:k + int(0.2 * r)]))
                k_hip = k_knee + int(np.argmin(al[o][k_knee:k_knee + int(0.6 * r)]))
                for label, kf, kb in (("heel strike / same instant", k, k),
                                      ("heel strike / foot-off", k, k_fo),
                                      ("heel strike / hip minimum", k, k + int(np.argmin(al[o][after]))),
                                      ("knee minimum / hip minimum (paper)", k_knee, k_hip)):
                    rows.setdefault(name, {}).setdefault(label, []).append(
                        [al[s][kf], be[s][kf], al[o][kb], be[o][kb]])
    ref = np.array(refs)
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for name, by in rows.items():
        out[name] = {label: (min_mape(features(*np.array(v).T), ref)[0],
                             min_mape_with_bias(np.array(v), ref)[0]) for label, v in by.items()}
    out["steps"] = {"n": (float(len(ref)), 0.0)}
    return out


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    res = floors(directory)
    n = int(res.pop("steps")["n"][0])
    print(f"{n} true steps in {directory}; floor = lowest step MAPE of eq. 6 over all (l1, l2, d5), in-sample;")
    print("with bias = best found when the paper's four angle biases are free too (within its bounds)")
    for name, by in res.items():
        for label, (v, vb) in by.items():
            print(f"  {name:28s} front / back at {label:36s} {v:5.2f} %   with bias {vb:5.2f} %")


if __name__ == "__main__":
    main()
