"""Knee sleeve pair: a bend sensor behind each knee and a 6-axis IMU on each thigh, 100 Hz.

Why one board for both legs: the MGait step length (paper eq. 6) needs the front limb's and
the back limb's angles at two moments of the same step, so one board reads both sleeves
(a wired pair, like the paper's two SensorTags feeding one estimator). Channel layout, left
sleeve first:

    bend_l, ax_l, ay_l, az_l, gx_l, gy_l, gz_l, bend_r, ax_r, ay_r, az_r, gx_r, gy_r, gz_r

IMU frame on the thigh (both legs): x forward, y to the wearer's left, z up along the thigh
(knee -> hip). Accelerometer +-8 g at 4096 counts/g, gyroscope +-1000 dps at 32.8 counts/dps
(the paper's +-250 dps saturates in brisk swing), bend sensor raw counts of nominally
0.01 degree (the two-point calibration in `cfg["bend_cal"]` maps them to degrees).
Rate: the IMU and the bend sensor both at 100 Hz; MGait smooths and decimates by 4 to 25 Hz
(paper eq. 1, M = 4).

`cfg` keys (all optional; `gaitfw.mgait.DEFAULTS` documents the values):
  l1_mm, l2_mm, d5_mm        segment lengths (paper eq. 6)
  bias_cdeg                  [alpha_f, beta_f, alpha_b, beta_b] angle biases, centidegrees
  bend_cal                   [[raw_at_0, raw_at_90] left, [..] right] two-point calibration
  baseline_mm                calibrated step length for the LED rule (0: learn it)
  asym_pct, wait_steps, ...  feedback thresholds (gaitfw.feedback)
  calibrate_rls, ref_step_mm RLS calibration walk at a constant known step length
"""

KIND = "knee"
RATE_HZ = 100
_SIDE = ("bend", "ax", "ay", "az", "gx", "gy", "gz")
CHANNELS = tuple(n + "_l" for n in _SIDE) + tuple(n + "_r" for n in _SIDE)
_UNITS1 = ("deg", "g", "g", "g", "dps", "dps", "dps")
UNITS = _UNITS1 + _UNITS1
_SCALE1 = (0.01, 1.0 / 4096, 1.0 / 4096, 1.0 / 4096, 1.0 / 32.8, 1.0 / 32.8, 1.0 / 32.8)
SCALE = _SCALE1 + _SCALE1
ACCEL_LSB_PER_G = 4096
GYRO_LSB_PER_DPS = 32.8
BEND_LSB_PER_DEG = 100


def make_processors(emit, cfg):
    """The MGait pipeline (angles, events, step length, RLS) feeding the feedback rules."""
    from gaitfw.feedback import Feedback
    from gaitfw.mgait import MGait

    fb = Feedback(emit, cfg)
    return [MGait(emit, cfg, RATE_HZ, fb)]
