"""Walk files -> one kinematic record (world Z up, metres) with forward kinematics.

Why one record for three formats: BVH (Bandai-Namco), CMU ASF+AMC and OpenSim TRC+MOT all
reduce to what MGait needs -- hip, knee and ankle positions per leg, the pelvis path and the
thigh orientation (where the IMU sits) -- so truth steps, sensor synthesis and evaluation are
written once against `Walk`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gaitloop.errors import DataError
from gaitloop.inputs import check_input_file

SIDES = ("l", "r")


class MocapError(DataError):
    """A walk file is unreadable, of an unknown format, or lacks the joints MGait needs."""


@dataclass
class Walk:
    """One captured walk, resampled to nothing: positions (n, 3) in metres, Z up."""

    name: str
    rate_hz: float
    pelvis: np.ndarray
    hip: dict[str, np.ndarray]
    knee: dict[str, np.ndarray]
    ankle: dict[str, np.ndarray]
    #: world-from-segment rotations of the thigh (any body-fixed frame; IMU mount is added later)
    thigh_rot: dict[str, Rotation] = field(default_factory=dict)
    source: str = ""

    @property
    def n(self) -> int:
        return len(self.pelvis)

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.n) / self.rate_hz

    def l1(self) -> float:
        """Nominal thigh length (hip-knee), median over frames and legs [m]."""
        return float(np.median([np.linalg.norm(self.hip[s] - self.knee[s], axis=1) for s in SIDES]))

    def l2(self) -> float:
        """Nominal shank length (knee-ankle) [m]."""
        return float(np.median([np.linalg.norm(self.knee[s] - self.ankle[s], axis=1) for s in SIDES]))

    def validate(self) -> None:
        """Refuse NaN/inf frames and degenerate legs instead of producing a silent wrong step."""
        arrays = [self.pelvis] + [d[s] for d in (self.hip, self.knee, self.ankle) for s in SIDES]
        for a in arrays:
            if not np.all(np.isfinite(a)):
                bad = int(np.argmax(~np.all(np.isfinite(a.reshape(len(a), -1)), axis=1)))
                raise MocapError(f"{self.name}: non-finite joint position at frame {bad}")
        if self.n < int(2 * self.rate_hz):
            raise MocapError(f"{self.name}: only {self.n} frames, need at least 2 s of walking")
        if not (0.15 < self.l1() < 0.8 and 0.15 < self.l2() < 0.8):
            raise MocapError(f"{self.name}: implausible segment lengths l1={self.l1():.3f} m, l2={self.l2():.3f} m")


# Y-up (BVH, CMU) -> Z-up, right handed: (x, y, z) -> (x, -z, y)
_YUP_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
_YUP_ROT = Rotation.from_matrix(_YUP_TO_ZUP)


def _frame_from_thigh(hip: np.ndarray, knee: np.ndarray, lateral: np.ndarray) -> Rotation:
    """Segment frame from the thigh axis and a lateral hint: z up the thigh, y left, x forward."""
    z = hip - knee
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = lateral - np.sum(lateral * z, axis=1, keepdims=True) * z
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    x = np.cross(y, z)
    return Rotation.from_matrix(np.stack([x, y, z], axis=2))


# ----------------------------------------------------------------------------- BVH
_BVH_JOINTS = {
    "pelvis": ("Hips",),
    "hip": ("UpperLeg_{S}", "LeftUpLeg|RightUpLeg"),
    "knee": ("LowerLeg_{S}", "LeftLeg|RightLeg"),
    "ankle": ("Foot_{S}", "LeftFoot|RightFoot"),
}


def _parse_bvh(path: Path) -> tuple[list[dict], np.ndarray, float]:
    text = path.read_text(errors="replace")
    if "HIERARCHY" not in text or "MOTION" not in text:
        raise MocapError(f"{path.name}: not a BVH file (no HIERARCHY/MOTION)")
    head, motion = text.split("MOTION", 1)
    tokens = head.split()
    joints: list[dict] = []
    stack: list[int] = []
    i = 0
    pending: dict | None = None
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            pending = {"name": tokens[i + 1], "parent": stack[-1] if stack else -1, "channels": []}
            joints.append(pending)
            i += 2
        elif tok == "End":
            pending = {"name": "_end", "parent": stack[-1], "channels": [], "end": True}
            i += 2
        elif tok == "{":
            stack.append(len(joints) - 1 if not (pending and pending.get("end")) else -2)
            i += 1
        elif tok == "}":
            stack.pop()
            i += 1
        elif tok == "OFFSET":
            if pending is not None and not pending.get("end"):
                pending["offset"] = np.array([float(v) for v in tokens[i + 1 : i + 4]])
            i += 4
        elif tok == "CHANNELS":
            k = int(tokens[i + 1])
            if pending is not None:
                pending["channels"] = tokens[i + 2 : i + 2 + k]
            i += 2 + k
        else:
            i += 1
    m = re.search(r"Frames:\s*(\d+)\s*Frame Time:\s*([0-9.eE+-]+)", motion)
    if not m:
        raise MocapError(f"{path.name}: BVH MOTION header missing Frames/Frame Time")
    n_frames, dt = int(m.group(1)), float(m.group(2))
    body = motion[m.end() :].split()
    n_ch = sum(len(j["channels"]) for j in joints)
    try:
        data = np.array(body, dtype=np.float64)
    except ValueError as exc:
        raise MocapError(f"{path.name}: BVH motion data is not numeric") from exc
    if n_ch == 0 or data.size < n_ch:
        raise MocapError(f"{path.name}: BVH has no motion channels")
    n_frames = min(n_frames, data.size // n_ch)
    data = data[: n_frames * n_ch].reshape(n_frames, n_ch)
    return joints, data, 1.0 / dt


def _find(names: list[str], pattern: str, side: str) -> int:
    for pat in pattern.split("|"):
        pat = pat.replace("{S}", side.upper())
        if pat in names:
            return names.index(pat)
    return -1


def load_bvh(path: Path, units_m: float | None = None) -> Walk:
    """BVH with forward kinematics; channel rotations composed in the order listed."""
    joints, data, rate = _parse_bvh(path)
    names = [j["name"] for j in joints]
    want: dict[str, dict[str, int]] = {}
    for key, pats in _BVH_JOINTS.items():
        want[key] = {}
        for s in SIDES:
            idx = -1
            for p in pats:
                if key != "pelvis" and "|" in p:
                    left, right = p.split("|")
                    p = left if s == "l" else right
                idx = _find(names, p, s)
                if idx >= 0:
                    break
            if idx < 0:
                raise MocapError(f"{path.name}: missing joint for {key} ({'/'.join(pats)}) side {s}")
            want[key][s] = idx
    n = len(data)
    pos = [None] * len(joints)
    rot = [None] * len(joints)
    col = 0
    for j, jt in enumerate(joints):
        ch = jt["channels"]
        vals = data[:, col : col + len(ch)]
        col += len(ch)
        trans = np.tile(jt.get("offset", np.zeros(3)), (n, 1))
        order, angles = "", []
        for k, c in enumerate(ch):
            if c.endswith("position"):
                trans[:, "XYZ".index(c[0])] = vals[:, k]
            elif c.endswith("rotation"):
                order += c[0]
                angles.append(vals[:, k])
        local = Rotation.from_euler(order, np.stack(angles, axis=1), degrees=True) if order else Rotation.identity(n)
        p = jt["parent"]
        if p < 0:
            pos[j], rot[j] = trans, local
        else:
            pos[j] = pos[p] + rot[p].apply(trans)
            rot[j] = rot[p] * local
    # units: BVH files in this project are centimetres (Bandai); guess from the leg length.
    leg = np.median(np.linalg.norm(pos[want["hip"]["l"]] - pos[want["ankle"]["l"]], axis=1))
    scale = units_m if units_m is not None else (0.01 if leg > 10 else 1.0)
    conv = lambda a: (a * scale) @ _YUP_TO_ZUP.T  # noqa: E731
    hip = {s: conv(pos[want["hip"][s]]) for s in SIDES}
    knee = {s: conv(pos[want["knee"][s]]) for s in SIDES}
    ankle = {s: conv(pos[want["ankle"][s]]) for s in SIDES}
    pelvis = conv(pos[want["pelvis"]["l"]])
    w = Walk(path.stem, rate, pelvis, hip, knee, ankle, source="bvh")
    w.validate()
    lat = hip["l"] - hip["r"]
    w.thigh_rot = {s: _frame_from_thigh(hip[s], knee[s], lat) for s in SIDES}
    return w


# ------------------------------------------------------------------------- ASF/AMC
def _asf(path: Path) -> dict:
    text = path.read_text(errors="replace")
    if ":bonedata" not in text or ":hierarchy" not in text:
        raise MocapError(f"{path.name}: not an ASF skeleton")
    length_unit = 1.0
    m = re.search(r"length\s+([0-9.]+)", text.split(":root")[0])
    if m:
        length_unit = float(m.group(1))
    bones: dict[str, dict] = {"root": {"dir": np.zeros(3), "len": 0.0, "axis": np.zeros(3), "dof": ["rx", "ry", "rz"]}}
    for blk in re.findall(r"begin(.*?)end", text.split(":bonedata")[1].split(":hierarchy")[0], re.S):
        b: dict = {"dof": []}
        for line in blk.strip().splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "name":
                b["name"] = parts[1]
            elif parts[0] == "direction":
                b["dir"] = np.array([float(v) for v in parts[1:4]])
            elif parts[0] == "length":
                b["len"] = float(parts[1])
            elif parts[0] == "axis":
                b["axis"] = np.array([float(v) for v in parts[1:4]])
            elif parts[0] == "dof":
                b["dof"] = parts[1:]
        bones[b["name"]] = b
    parent: dict[str, str] = {}
    hier = text.split(":hierarchy")[1]
    for line in re.findall(r"begin(.*?)end", hier, re.S)[0].strip().splitlines():
        parts = line.split()
        for child in parts[1:]:
            parent[child] = parts[0]
    return {"bones": bones, "parent": parent, "unit_m": 0.0254 / length_unit}


def _read_amc(amc: Path, bones: dict) -> list[dict[str, list[float]]]:
    """AMC frames, each checked whole: every frame names the same bones as the first, each with
    as many finite values as the skeleton gives it degrees of freedom (root: 6).

    Why check: a capture cut mid-frame (a copy that stopped early) otherwise becomes NaN
    rotations deep inside scipy; here it is one line naming the first bad frame.
    """
    frames: list[dict[str, list[float]]] = []
    where: list[tuple[str, int]] = []  # (frame number as written, line number)
    cur: dict[str, list[float]] | None = None
    for lineno, line in enumerate(amc.read_text(errors="replace").splitlines(), 1):
        if not line.strip() or line.startswith(("#", ":")):
            continue
        parts = line.split()
        if len(parts) == 1 and parts[0].isdigit():
            cur = {}
            frames.append(cur)
            where.append((parts[0], lineno))
        elif cur is not None:
            try:
                vals = [float(v) for v in parts[1:]]
            except ValueError:
                raise MocapError(f"{amc.name}: frame {where[-1][0]} (line {lineno}): bad AMC line "
                                 f"{line[:40]!r}") from None
            want = 6 if parts[0] == "root" else len(bones.get(parts[0], {}).get("dof", vals))
            if len(vals) != want or not np.all(np.isfinite(vals)):
                raise MocapError(f"{amc.name}: frame {where[-1][0]} (line {lineno}): {parts[0]} has "
                                 f"{len(vals)} value(s), expected {want} finite (file cut short?)")
            cur[parts[0]] = vals
    if not frames:
        raise MocapError(f"{amc.name}: no AMC frames")
    need = set(frames[0]) | {"root"}
    for f, (num, lineno) in zip(frames, where, strict=True):
        missing = sorted(need - set(f))
        if missing:
            raise MocapError(f"{amc.name}: frame {num} (line {lineno}) is incomplete, missing "
                             f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} "
                             "(file cut short?)")
    return frames


def load_asf_amc(asf: Path, amc: Path) -> Walk:
    """CMU skeleton + motion: bone rotation = C * R(dofs) * C^-1 down the hierarchy."""
    sk = _asf(asf)
    bones, parent = sk["bones"], sk["parent"]
    for need in ("lfemur", "rfemur", "ltibia", "rtibia", "lfoot", "rfoot"):
        if need not in bones:
            raise MocapError(f"{asf.name}: missing bone {need}")
    frames = _read_amc(amc, bones)
    n = len(frames)
    order = ["root"]
    while len(order) < len(parent) + 1:
        for c, p in parent.items():
            if p in order and c not in order:
                order.append(c)
    gpos: dict[str, np.ndarray] = {}
    grot: dict[str, Rotation] = {}
    for b in order:
        if b == "root":
            vals = np.array([f.get("root", [np.nan] * 6) for f in frames])
            gpos["root"] = vals[:, :3]
            grot["root"] = Rotation.from_euler("xyz", vals[:, 3:6], degrees=True)
            continue
        info = bones[b]
        C = Rotation.from_euler("xyz", info["axis"], degrees=True)
        ang = np.zeros((n, 3))
        for k, d in enumerate(info["dof"]):
            ang[:, "xyz".index(d[1])] = [f.get(b, [0.0] * len(info["dof"]))[k] if b in f else np.nan for f in frames]
        local = C * Rotation.from_euler("xyz", ang, degrees=True) * C.inv()
        p = parent[b]
        grot[b] = grot[p] * local
        gpos[b] = gpos[p] + grot[b].apply(info["dir"] * info["len"])
    um = sk["unit_m"]
    conv = lambda a: (a * um) @ _YUP_TO_ZUP.T  # noqa: E731
    hip = {s: conv(gpos[f"{s}hipjoint"]) for s in SIDES}
    knee = {s: conv(gpos[f"{s}femur"]) for s in SIDES}
    ankle = {s: conv(gpos[f"{s}tibia"]) for s in SIDES}
    pelvis = conv(gpos["root"])
    w = Walk(amc.stem, 120.0, pelvis, hip, knee, ankle, source="amc")
    w.validate()
    lat = hip["l"] - hip["r"]
    w.thigh_rot = {s: _frame_from_thigh(hip[s], knee[s], lat) for s in SIDES}
    return w


# ------------------------------------------------------------------------- TRC/MOT
def _read_table(path: Path, header_end: str | None) -> tuple[list[str], np.ndarray]:
    lines = path.read_text(errors="replace").splitlines()
    start = 0
    if header_end:
        for k, line in enumerate(lines):
            if line.strip() == header_end:
                start = k + 1
                break
        else:
            raise MocapError(f"{path.name}: no '{header_end}' line")
    cols = lines[start].split("\t")
    rows = [ln.split() for ln in lines[start + 1 :] if ln.strip()]
    try:
        data = np.array([[float(v) for v in r] for r in rows if len(r) == len(rows[0])])
    except ValueError as exc:
        raise MocapError(f"{path.name}: non-numeric table row") from exc
    return [c.strip() for c in cols], data


def load_trc_mot(trc: Path, mot: Path) -> Walk:
    """OpenSim markers (.trc, mm) + inverse-kinematics angles (_ik.mot): a planar leg model.

    Why planar: the trial has no hip/knee joint centres, only skin markers. The hip centre
    is estimated from the ASIS/sacral markers (Harrington-style fixed offsets), thigh and
    shank are drawn from the IK hip-flexion/knee angles with lengths chosen so the planar
    ankle meets the measured heel path, and the truth steps come from the heel markers.
    """
    lines = trc.read_text(errors="replace").splitlines()
    if len(lines) < 6 or not lines[0].startswith("PathFileType"):
        raise MocapError(f"{trc.name}: not a TRC marker file")
    meta = dict(zip(lines[1].split("\t"), lines[2].split("\t"), strict=False))
    rate = float(meta.get("DataRate", "60"))
    unit = {"mm": 0.001, "m": 1.0, "cm": 0.01}.get(meta.get("Units", "mm").strip(), 0.001)
    names = [c for c in lines[3].split("\t")[2:] if c.strip()]
    rows = []
    for ln in lines[5:]:
        parts = ln.split("\t")
        if len(parts) < 2 + 3 * len(names):
            continue
        rows.append([float(v) if v.strip() else np.nan for v in parts[: 2 + 3 * len(names)]])
    m = np.array(rows)
    t_trc = m[:, 1]
    mk = {nm: m[:, 2 + 3 * k : 5 + 3 * k] * unit for k, nm in enumerate(names)}
    for need in ("R.ASIS", "L.ASIS", "V.Sacral", "R.Heel", "L.Heel"):
        if need not in mk:
            raise MocapError(f"{trc.name}: missing marker {need}")
    cols, ik = _read_table(mot, "endheader")
    need = ["time", "pelvis_tilt", "hip_flexion_l", "hip_flexion_r", "knee_angle_l", "knee_angle_r"]
    for c in need:
        if c not in cols:
            raise MocapError(f"{mot.name}: missing column {c}")
    ci = {c: cols.index(c) for c in need}
    t = ik[:, ci["time"]]
    keep = (t >= t_trc[0]) & (t <= t_trc[-1])
    t = t[keep]
    ik = ik[keep]

    def interp(a: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(t, t_trc, a[:, k]) for k in range(3)], axis=1)

    # OpenSim: Y up, X forward. -> Z up: (x, y, z) -> (x, -z, y)
    conv = lambda a: a @ _YUP_TO_ZUP.T  # noqa: E731
    asis_r, asis_l, sac = (conv(interp(mk[k])) for k in ("R.ASIS", "L.ASIS", "V.Sacral"))
    heel = {"r": conv(interp(mk["R.Heel"])), "l": conv(interp(mk["L.Heel"]))}
    mid = 0.5 * (asis_r + asis_l)
    width = float(np.median(np.linalg.norm(asis_l - asis_r, axis=1)))
    lat_axis = asis_l - asis_r
    lat_axis /= np.linalg.norm(lat_axis, axis=1, keepdims=True)
    fwd = mid - sac
    fwd -= np.sum(fwd * lat_axis, axis=1, keepdims=True) * lat_axis
    fwd /= np.linalg.norm(fwd, axis=1, keepdims=True)
    up = np.cross(fwd, lat_axis)  # x forward, y left -> z up
    # Harrington (2007) style: hip centre 0.24 width posterior, 0.30 w inferior, 0.36 w lateral.
    hip = {}
    for s, sign in (("l", 1.0), ("r", -1.0)):
        hip[s] = mid - 0.24 * width * fwd - 0.30 * width * up + sign * 0.36 * width * lat_axis
    # sagittal thigh angle vs vertical = hip flexion - pelvis (posterior) tilt as OpenSim defines it
    tilt = np.deg2rad(ik[:, ci["pelvis_tilt"]])
    knee, ankle, thigh = {}, {}, {}
    walk_fwd = np.array([1.0, 0.0, 0.0])
    zup = np.array([0.0, 0.0, 1.0])
    # hip-to-ankle length: hip centre height over the heel marker in stance, less the ankle's
    # height above the heel marker (~4 cm); thigh and shank about equal (Winter's tables)
    leg = float(np.median([np.median(hip[s][:, 2]) - np.percentile(heel[s][:, 2], 5) for s in SIDES])) - 0.04
    l1 = 0.49 * leg
    l2 = 0.51 * leg
    for s in SIDES:
        a = np.deg2rad(ik[:, ci[f"hip_flexion_{s}"]]) + tilt
        b = -np.deg2rad(ik[:, ci[f"knee_angle_{s}"]])  # OpenSim knee_angle is negative in flexion
        thigh_dir = np.sin(a)[:, None] * walk_fwd - np.cos(a)[:, None] * zup
        shank_dir = np.sin(a - b)[:, None] * walk_fwd - np.cos(a - b)[:, None] * zup
        knee[s] = hip[s] + l1 * thigh_dir
        ankle[s] = knee[s] + l2 * shank_dir
    w = Walk(trc.stem, float(1.0 / np.median(np.diff(t))), mid, hip, knee, ankle, source="trc")
    w.heel_markers = heel  # type: ignore[attr-defined]
    w.validate()
    for hm in heel.values():
        if not np.all(np.isfinite(hm)):
            raise MocapError(f"{trc.name}: heel marker has gaps (NaN frames)")
    lat = np.tile(np.array([0.0, 1.0, 0.0]), (len(t), 1))
    w.thigh_rot = {s: _frame_from_thigh(hip[s], knee[s], lat) for s in SIDES}
    _ = (rate, thigh)
    return w


def load_walk(path: str | Path) -> Walk:
    """Any supported walk file: `.bvh`, `.amc` (ASF beside it), `.trc` (`*_ik.mot` beside it)."""
    p = check_input_file(path, "walk file", error=MocapError)
    suf = p.suffix.lower()
    if suf == ".bvh":
        return load_bvh(p)
    if suf == ".amc":
        asfs = sorted(p.parent.glob(p.stem.split("_")[0] + ".asf")) or sorted(p.parent.glob("*.asf"))
        if not asfs:
            raise MocapError(f"{p.name}: no ASF skeleton beside the AMC file")
        return load_asf_amc(asfs[0], p)
    if suf == ".trc":
        mots = sorted(p.parent.glob(p.stem + "_ik.mot"))
        if not mots:
            raise MocapError(f"{p.name}: no {p.stem}_ik.mot beside the TRC file")
        return load_trc_mot(p, mots[0])
    raise MocapError(f"{p.name}: unknown walk format {suf!r} (expected .bvh, .amc or .trc)")


def list_walks(directory: str | Path) -> list[Path]:
    """Every walk file under `directory` (recursively), one per trial, sorted."""
    d = Path(directory)
    if not d.is_dir():
        raise MocapError(f"{d}: not a directory")
    out = sorted(d.rglob("*.bvh")) + sorted(d.rglob("*.amc")) + sorted(d.rglob("*.trc"))
    if not out:
        raise MocapError(f"{d}: no .bvh, .amc or .trc walks found")
    return out
