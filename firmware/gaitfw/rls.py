"""Recursive least squares for the step-length model w = [l1, l2, d5] (paper Sec. 6.2.2).

Why Fortescue's variable forgetting factor: a calibration walk is short (the paper sees
convergence in about five steps); a fixed lambda either forgets too slowly at the start
or too fast later. Fortescue et al. (Automatica 1981) set
    lambda = 1 - e^2 / (sigma0 * (1 + h^T P h)),  clamped to [lambda_min, 1]
so large prediction errors forget quickly and small ones keep the information.

Runs once per step in calibration mode only (about 1 Hz), never on the per-sample path. It
uses floats: a 3x3 covariance in fixed point needs a block exponent per entry to stay in
range, and the per-step cost here is negligible. Units: mm for w, e and sigma0 (mm^2);
h is dimensionless (sines). P is in units of the step measurement-noise variance (the
textbook form K = P h / (1 + h^T P h) assumes unit noise), so p0 = 1 says "the nominal
lengths are as uncertain as one step's error"; a larger p0 lets near-collinear regressors
of a constant-pace walk drag w far from the measured lengths. `gaitloop.mgait.calibrate.RlsRef`
is the float64 host twin; the class also matches it within 0.05 mm when every value is a
32-bit float, as on ESP32 builds of MicroPython (tests/mgait/test_rls_feedback.py).
"""


class Rls:
    """RLS estimator; `update(h0, h1, h2, y)` per step; weights in `w`, steps in `n`."""

    def __init__(self, w0, p0=1.0, sigma0=1e5, lam_min=0.95):
        self.w = [float(w0[0]), float(w0[1]), float(w0[2])]
        self.P = [p0, 0.0, 0.0, 0.0, p0, 0.0, 0.0, 0.0, p0]
        self.sigma0 = sigma0
        self.lam_min = lam_min
        self.lam = 1.0
        self.n = 0
        self.e = 0.0

    def predict(self, h0, h1, h2):
        w = self.w
        return w[0] * h0 + w[1] * h1 + w[2] * h2

    def update(self, h0, h1, h2, y):
        P = self.P
        ph0 = P[0] * h0 + P[1] * h1 + P[2] * h2
        ph1 = P[3] * h0 + P[4] * h1 + P[5] * h2
        ph2 = P[6] * h0 + P[7] * h1 + P[8] * h2
        den = 1.0 + h0 * ph0 + h1 * ph1 + h2 * ph2
        e = y - self.predict(h0, h1, h2)
        k0 = ph0 / den
        k1 = ph1 / den
        k2 = ph2 / den
        w = self.w
        w[0] += k0 * e
        w[1] += k1 * e
        w[2] += k2 * e
        lam = 1.0 - e * e / (self.sigma0 * den)
        if lam < self.lam_min:
            lam = self.lam_min
        if lam > 1.0:
            lam = 1.0
        k = (k0, k1, k2)
        ph = (ph0, ph1, ph2)
        for i in range(3):
            for j in range(3):
                P[3 * i + j] = (P[3 * i + j] - k[i] * ph[j]) / lam
        self.lam = lam
        self.e = e
        self.n += 1
        return e
