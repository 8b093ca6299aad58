"""CSM templates (mu, delta, eps), their JSON form, and the detector in float and fixed point.

Why two paths: `CSMDetector(fixed=False)` is the float reference of the paper's model (exact
exp, float normaliser); `fixed=True` reproduces the firmware kernel bit for bit with numpy
(integer normaliser, quantised templates, the same exp table), so evaluating the board's
arithmetic over the whole dataset takes seconds instead of a per-sample Python loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitfw import csm as fw

from .errors import TemplateError
from .features import curve_features, normalize

N_FEATURES = 10
FBIAS = 16384  # gaitfw.csm._FBIAS
EPS_MAX = 2.0  # eq. 10: eps / P <= 0.2 with P = 10
DELTA_MAX = 2000.0  # per-mille; keeps lim * r < 2^30 in the kernel
FORMAT = "gaitloop-csm"
VERSION = 1
Q_FORMAT = (
    "counts int16 (MISSING=-32768); y = tenths of a per-mille of the window range (int "
    "0..10000); features stored +16384; per feature: mu*10+16384, lim=ceil(40*delta), "
    "r=round(2^(10+q)/(sqrt2*10*delta)) in [2^12,2^13), q shift; need=round((10-eps)*2^14); "
    "exp LUT Q14 at e^2/(2 delta^2) in Q7, linear interpolation on 6 more bits"
)


@dataclass
class Template:
    """One curve template: Gaussian centre/width per eq. 7 feature and its threshold eps."""

    mu: np.ndarray
    delta: np.ndarray
    eps: float = 2.0

    def __post_init__(self) -> None:
        self.mu = np.asarray(self.mu, dtype=np.float64).reshape(-1)
        self.delta = np.asarray(self.delta, dtype=np.float64).reshape(-1)
        if self.mu.shape != (N_FEATURES,) or self.delta.shape != (N_FEATURES,):
            raise TemplateError("a template needs 10 mu and 10 delta values")
        if not (np.all(np.isfinite(self.mu)) and np.all(np.isfinite(self.delta))):
            raise TemplateError("template values must be finite")
        if np.any(self.delta <= 0) or np.any(self.delta > DELTA_MAX):
            raise TemplateError(f"delta must be in (0, {DELTA_MAX}] per-mille (kernel range)")
        if not 0 < self.eps <= EPS_MAX:
            raise TemplateError(f"eps must be in (0, {EPS_MAX}] (eq. 10)")

    def fixed(self) -> list[int]:
        return fw.quantize_template(self.mu.tolist(), self.delta.tolist(), self.eps)

    def to_dict(self) -> dict:
        return {"mu": [round(float(v), 4) for v in self.mu],
                "delta": [round(float(v), 4) for v in self.delta],
                "eps": round(float(self.eps), 4)}


@dataclass
class CSMTemplates:
    """The pair Algorithm 2 uses (on-ground starting flag, off-ground starting flag)."""

    on: Template
    off: Template
    params: dict = field(default_factory=lambda: dict(fw.DEFAULT_PARAMS))
    meta: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "q_format": Q_FORMAT,
            "on": self.on.to_dict(),
            "off": self.off.to_dict(),
            "params": dict(self.params),
            "fixed": {"on": self.on.fixed(), "off": self.off.fixed()},
            "meta": self.meta,
        }

    def save(self, path: Path) -> None:
        from gaitloop.outpaths import write_atomic

        write_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def from_json(cls, d: dict) -> CSMTemplates:
        if d.get("format") != FORMAT:
            raise TemplateError("not a gaitloop-csm template file")
        try:
            on = Template(d["on"]["mu"], d["on"]["delta"], float(d["on"]["eps"]))
            off = Template(d["off"]["mu"], d["off"]["delta"], float(d["off"]["eps"]))
        except (KeyError, TypeError) as exc:
            raise TemplateError(f"template file is missing {exc}") from exc
        params = dict(fw.DEFAULT_PARAMS)
        params.update(d.get("params", {}))
        return cls(on, off, params, d.get("meta", {}))

    @classmethod
    def load(cls, path: Path) -> CSMTemplates:
        p = Path(path)
        if not p.exists():
            raise TemplateError(f"{p}: no such template file")
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{p}: not JSON ({exc.msg})") from exc
        return cls.from_json(d)


def match_float(F: np.ndarray, t: Template) -> np.ndarray:
    """d <= eps per row of features F (eq. 9), exact exp."""
    z = (F - t.mu) ** 2 / (2.0 * t.delta**2)
    return 10.0 - np.exp(-z).sum(1) <= t.eps


def match_fixed(F: np.ndarray, fixed: list[int]) -> np.ndarray:
    """The kernel's integer match for rows of int features F (y x10, unbiased), bit-exact."""
    lut = np.frombuffer(bytes(fw.lut()), dtype=np.uint16).astype(np.int64)
    n_idx = len(lut) - 1
    need = fixed[0]
    acc = np.zeros(len(F), dtype=np.int64)
    for j in range(N_FEATURES):
        mu, lim, r, q = fixed[1 + 4 * j: 5 + 4 * j]
        e = np.abs(F[:, j] + FBIAS - mu)
        ok = e < lim
        u = (np.where(ok, e, 0) * r) >> q
        u = u * u
        idx = u >> 13
        ok &= idx < n_idx
        i = np.minimum(idx, n_idx - 1)
        a = lut[i]
        val = a - (((a - lut[i + 1]) * ((u >> 7) & 63)) >> 6)
        acc += np.where(ok, val, 0)
    return acc >= need


def hold_and_guard(on: np.ndarray, off: np.ndarray, y: np.ndarray, active: np.ndarray,
                   params: dict, y_scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 2 (on first, else off, else hold) plus the stuck-state guard, sequentially.

    `y_scale` is 10 when y is the kernel's integer (tenths of a per-mille). Returns
    (decision per sample, guard-flip mask).
    """
    glo, ghi = params["guard_lo"] * y_scale, params["guard_hi"] * y_scale
    gn = params["guard_n"]
    n = len(y)
    g_out = np.empty(n, dtype=np.int8)
    flips = np.zeros(n, dtype=bool)
    g, c = 1, 0
    on_l, off_l, y_l, act_l = on.tolist(), off.tolist(), y.tolist(), active.tolist()
    for i in range(n):
        if act_l[i]:
            if on_l[i]:
                g = 1
            elif off_l[i]:
                g = 0
            yi = y_l[i]
            if (g == 1 and yi < glo) or (g == 0 and yi > ghi):
                c += 1
            else:
                c = 0
            if c >= gn:
                g = 1 - g
                c = 0
                flips[i] = True
        g_out[i] = g
    return g_out, flips


class CSMDetector:
    """Per-sensor CSM over a whole recording (gaitmap style: `detect` fills `*_` attributes)."""

    def __init__(self, templates: CSMTemplates, fixed: bool = True) -> None:
        self.templates = templates
        self.fixed = fixed

    def detect(self, counts: np.ndarray) -> CSMDetector:
        p = self.templates.params
        nz = normalize(counts, int(p["min_range"]), self.fixed, int(p.get("lo_blocks", 8)))
        F = curve_features(nz["y"])
        if self.fixed:
            on = match_fixed(F, self.templates.on.fixed())
            off = match_fixed(F, self.templates.off.fixed())
        else:
            on = match_float(F, self.templates.on)
            off = match_float(F, self.templates.off)
        active = ~(nz["flat"] | nz["warm"])
        self.decision_, self.guard_flips_ = hold_and_guard(on, off, nz["y"], active, p,
                                                           10 if self.fixed else 1)
        self.on_flags_, self.off_flags_ = on, off
        self.y_ = nz["y"]
        self.flat_ = nz["flat"]
        self.missing_ = nz["missing"]
        return self
