"""Host calibration of the step-length model: bounded batch LS, angle bias, float RLS twin.

Why bounded: the paper (eq. 8) keeps l1, l2, d5 within +-10 % of the hand-measured values so
a short walk cannot pull them to unrealistic lengths. The second regression (Sec. 6.3)
fits constant angle biases with the lengths fixed. `RlsRef` is the float64 twin of the
board's `gaitfw.rls.Rls` (same update, Fortescue forgetting) used to check it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from gaitloop.errors import DataError
from gaitloop.mgait.reference import closed_form, features


class CalibrationError(DataError):
    """Too few or inconsistent steps to calibrate."""


@dataclass
class BatchLS:
    """Bounded nonlinear least squares of (l1, l2, d5) on steps with reference lengths."""

    bound: float = 0.10
    d5_slack_m: float = 0.02  # d5 may be 0 nominally: allow +-2 cm around it as well
    params_: np.ndarray = field(default_factory=lambda: np.zeros(3))
    cost_: float = 0.0

    def fit(self, angles: np.ndarray, d_ref: np.ndarray, nominal: tuple[float, float, float]) -> BatchLS:
        """angles (n, 4) degrees [af, bf, ab, bb]; d_ref (n,) metres; nominal (l1, l2, d5)."""
        angles = np.asarray(angles, float)
        d_ref = np.asarray(d_ref, float)
        if len(d_ref) < 3:
            raise CalibrationError(f"batch calibration needs at least 3 steps, got {len(d_ref)}")
        nom = np.asarray(nominal, float)
        lo = nom - np.maximum(np.abs(nom) * self.bound, [1e-6, 1e-6, self.d5_slack_m])
        hi = nom + np.maximum(np.abs(nom) * self.bound, [1e-6, 1e-6, self.d5_slack_m])

        def resid(p):
            return closed_form(p[0], p[1], p[2], *angles.T) - d_ref

        r = least_squares(resid, nom, bounds=(lo, hi))
        self.params_ = r.x
        self.cost_ = float(r.cost)
        return self


@dataclass
class AngleBias:
    """Second regression: constant biases of (af, bf, ab, bb) with the lengths fixed.

    The paper frees the four angles within +-10 % of their observed means and takes the
    difference between best fit and observation as the bias; fitting the four biases
    directly with the same bounds is the same problem, applied per step.
    """

    bound: float = 0.10
    bias_: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def span(self, angles: np.ndarray) -> np.ndarray:
        """Bounds of the four biases: +-10 % of the mean observed angles (at least 0.5 deg)."""
        return np.maximum(np.abs(np.asarray(angles, float).mean(axis=0)) * self.bound, 0.5)

    def fit(self, angles: np.ndarray, d_ref: np.ndarray, params: tuple[float, float, float]) -> AngleBias:
        angles = np.asarray(angles, float)
        if len(angles) < 4:
            raise CalibrationError(f"bias regression needs at least 4 steps, got {len(angles)}")
        span = self.span(angles)

        def resid(b):
            return closed_form(*params, *(angles - b).T) - d_ref

        r = least_squares(resid, np.zeros(4), bounds=(-span, span))
        self.bias_ = r.x
        return self


class RlsRef:
    """float64 twin of gaitfw.rls.Rls (weights in mm, h dimensionless)."""

    def __init__(self, w0, p0: float = 1.0, sigma0: float = 1e5, lam_min: float = 0.95):
        self.w = np.asarray(w0, float).copy()
        self.P = np.eye(3) * p0
        self.sigma0, self.lam_min = sigma0, lam_min
        self.history: list[np.ndarray] = []

    def update(self, h: np.ndarray, y: float) -> float:
        ph = self.P @ h
        den = 1.0 + h @ ph
        e = y - h @ self.w
        k = ph / den
        self.w = self.w + k * e
        lam = float(np.clip(1.0 - e * e / (self.sigma0 * den), self.lam_min, 1.0))
        self.P = (self.P - np.outer(k, ph)) / lam
        self.history.append(self.w.copy())
        return float(e)

    def fit(self, angles: np.ndarray, d_ref_mm: np.ndarray) -> RlsRef:
        h = features(*np.asarray(angles, float).T)
        for hi, y in zip(h, d_ref_mm, strict=True):
            self.update(hi, float(y))
        return self
