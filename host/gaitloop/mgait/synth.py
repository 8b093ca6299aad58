"""What the knee sleeve would read during a captured walk: thigh IMU and bend sensor counts.

Why from kinematics: the MGait authors never released sensor data, so the sensors are
simulated from real motion capture -- the thigh's rotation gives the gyroscope (body-frame
angular rate), the second derivative of a point on the thigh minus gravity gives the
accelerometer (specific force in the sensor frame). Both are upsampled from the capture
rate with splines to the board's 100 Hz, then given the imperfections of cheap parts:
white noise, a constant bias, a small mounting tilt, quantisation and clipping (the
capture is low-passed at 8 Hz first, as mocap is before differentiation); the bend
sensor gets noise, a gain error and hysteresis (it lags by a dead band when the knee turns).

A standing period (2 s upright, then a 1 s blend into the walk's first pose) is prepended
so the board's standing calibration sees what a user does before walking (paper Sec. 4.1).
Replays that loop (`gaitloop sim`) also end with the user stopping and standing for 1 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import butter, filtfilt
from scipy.spatial.transform import Rotation, RotationSpline, Slerp

from gaitfw.boards import knee as board
from gaitloop.mgait.mocap import SIDES, Walk

G = 9.80665
STAND_S = 2.0
BLEND_S = 1.0


@dataclass
class SensorModel:
    """Imperfections of the simulated parts (defaults: MPU-9250 and a resistive bend strip)."""

    gyro_noise_dps: float = 0.1
    gyro_bias_dps: float = 1.5
    accel_noise_g: float = 0.004
    accel_bias_g: float = 0.02
    mount_tilt_deg: float = 2.0
    imu_height: float = 0.30  # fraction of thigh length above the knee
    imu_depth_m: float = 0.07  # in front of the bone
    bend_noise_deg: float = 0.3
    bend_gain: float = 1.03  # true counts per nominal count
    bend_offset_counts: int = 150
    bend_hysteresis_deg: float = 1.0
    bend_cal_error: float = 0.01  # relative error of the user's two-point calibration
    seed: int = 0


@dataclass
class KneeStreams:
    """Board-rate streams and what was used to make them (for references and tests)."""

    rate_hz: int
    counts: np.ndarray  # (n, 14) int16
    t0_walk: float  # time [s] in the stream where the capture's frame 0 sits
    alpha_deg: dict[str, np.ndarray] = field(default_factory=dict)  # true hip angle of the thigh (skeleton)
    beta_deg: dict[str, np.ndarray] = field(default_factory=dict)  # true knee angle
    gyro_dps: dict[str, np.ndarray] = field(default_factory=dict)  # noise-free physical
    accel_g: dict[str, np.ndarray] = field(default_factory=dict)
    bend_cal: list[list[int]] = field(default_factory=list)
    saturated: bool = False


def knee_angle(walk: Walk, s: str) -> np.ndarray:
    """Ideal knee flexion [deg]: angle between thigh and shank."""
    th = walk.hip[s] - walk.knee[s]
    sh = walk.knee[s] - walk.ankle[s]
    c = np.sum(th * sh, axis=1) / (np.linalg.norm(th, axis=1) * np.linalg.norm(sh, axis=1))
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def hip_angle_from_rot(rot: Rotation) -> np.ndarray:
    """Sagittal hip angle [deg] seen by a sensor: up vector in the sensor frame, atan2(x, z)."""
    up = rot.inv().apply(np.array([0.0, 0.0, 1.0]))
    return np.degrees(np.arctan2(up[:, 0], up[:, 2]))


def lowpass(x: np.ndarray, rate: float, cutoff: float = 8.0) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth along axis 0 (mocap practice before differentiating:
    marker jitter at 120 Hz otherwise becomes tens of g in the second derivative)."""
    if rate <= 2.5 * cutoff or len(x) < 16:
        return x
    b, a = butter(2, cutoff / (rate / 2))
    return filtfilt(b, a, x, axis=0)


def lowpass_rot(r: Rotation, rate: float, cutoff: float = 8.0) -> Rotation:
    """Low-pass a rotation sequence through sign-continuous quaternion components."""
    q = r.as_quat()
    for i in range(1, len(q)):
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    q = lowpass(q, rate, cutoff)
    return Rotation.from_quat(q / np.linalg.norm(q, axis=1, keepdims=True))


def _mount(model: SensorModel, side: str) -> Rotation:
    rng = np.random.default_rng(model.seed + (0 if side == "l" else 7))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    return Rotation.from_rotvec(axis * np.radians(model.mount_tilt_deg))


def _upright(r: Rotation, mount: Rotation) -> Rotation:
    """The sensor's rotation when the thigh of pose `r` stands vertical, heading kept."""
    z = r.apply(np.array([0.0, 0.0, 1.0]))
    tilt = Rotation.align_vectors(np.array([[0.0, 0.0, 1.0]]), z[None, :])[0]
    return (tilt * r) * mount


def _stop(pos: np.ndarray, rots: Rotation, kn: np.ndarray, thigh_last: Rotation, mount: Rotation,
          rate: float, height: float) -> tuple[Rotation, np.ndarray, np.ndarray]:
    """A walk that comes to a stop: 1 s from the last frame to standing upright, then 1 s
    standing, so a looped replay joins its own start smoothly. The thigh coasts on with its
    last velocity and (fading) acceleration while a smootherstep (zero first and second
    derivatives at both ends) eases it into the standing pose: no jump in the accelerometer."""
    n_bl, n_st = int(BLEND_S * rate), int(rate)
    u = np.arange(1, n_bl + 1) / n_bl
    ease = u ** 3 * (10 - 15 * u + 6 * u * u)
    tb = u * BLEND_S
    up = _upright(thigh_last, mount)
    k = min(6, len(pos) - 1)
    w1 = (rots[-1] * rots[-2].inv()).as_rotvec() * rate if len(pos) > 1 else np.zeros(3)
    coast_rot = Rotation.from_rotvec(tb[:, None] * w1) * rots[-1]
    # slerp from each coasting pose towards `up` by ease: a * (a^-1 b)^t
    rot_bl = coast_rot * Rotation.from_rotvec(ease[:, None] * (coast_rot.inv() * up).as_rotvec())
    if k >= 2:
        c2, c1, _ = np.polyfit(np.arange(-k, 1) / rate, pos[-k - 1:], 2)
        v1, a1 = c1, 2 * c2
    else:
        v1, a1 = np.zeros(3), np.zeros(3)
    tau = 0.1
    coast = pos[-1] + tb[:, None] * v1 + 0.5 * (tb * tb * np.exp(-tb / tau))[:, None] * a1
    p_end = pos[-1] + 0.5 * BLEND_S * v1
    p_end[2] = height
    p_bl = coast + ease[:, None] * (p_end - coast)
    rot_out = Rotation.concatenate([rot_bl] + [up] * n_st)
    return rot_out, np.vstack([p_bl, np.tile(p_end, (n_st, 1))]), \
        np.concatenate([(1 - ease) * kn[-1], np.zeros(n_st)])


def _with_standing(walk: Walk, s: str, model: SensorModel, stop: bool = False) -> tuple[np.ndarray, Rotation, np.ndarray, np.ndarray]:
    """Capture-rate timeline: standing, blend, walk (and with `stop`, a stop and standing).
    Returns t, sensor rotations, positions, knee."""
    rate = walk.rate_hz
    n_st, n_bl = int(STAND_S * rate), int(BLEND_S * rate)
    thigh = lowpass_rot(walk.thigh_rot[s], rate)
    mount = _mount(model, s)
    seg = thigh * mount
    hip, knee = lowpass(walk.hip[s], rate), lowpass(walk.knee[s], rate)
    pos = knee + model.imu_height * (hip - knee) + model.imu_depth_m * thigh.apply(np.array([1.0, 0.0, 0.0]))
    beta = lowpass(knee_angle(walk, s), rate)
    upright = _upright(thigh[0], mount)  # standing with the first frame's heading
    key = Rotation.concatenate([upright, seg[0]])
    u = np.arange(n_bl) / n_bl
    smooth = u * u * (3 - 2 * u)
    blend_rot = Slerp([0.0, 1.0], key)(smooth)
    rots = Rotation.concatenate([upright] * n_st + [blend_rot, seg])
    p_up = pos[0].copy()
    p_up[2] = knee[0, 2] + model.imu_height * np.linalg.norm(hip[0] - knee[0])
    # blend towards the walk's first frame extrapolated backwards at its velocity, so the
    # trajectory joins the walk with matching position and velocity (no acceleration spike)
    v0 = (pos[min(2, len(pos) - 1)] - pos[0]) / (min(2, len(pos) - 1) / rate)
    t_bl = (np.arange(n_bl) - n_bl) / rate
    target = pos[0] + t_bl[:, None] * v0
    p_bl = p_up + smooth[:, None] * (target - p_up)
    positions = np.vstack([np.tile(p_up, (n_st, 1)), p_bl, pos])
    kn = np.concatenate([np.zeros(n_st), smooth * beta[0], beta])
    if stop:
        r_tl, p_tl, k_tl = _stop(pos, seg, beta, thigh[-1], mount, rate, p_up[2])
        rots = Rotation.concatenate([rots, r_tl])
        positions = np.vstack([positions, p_tl])
        kn = np.concatenate([kn, k_tl])
    t = np.arange(len(positions)) / rate
    return t, rots, positions, kn


def _hysteresis(x: np.ndarray, band: float) -> np.ndarray:
    """Backlash: the output follows only once the input leaves a dead band around it."""
    y = np.empty_like(x)
    cur = x[0]
    h = band / 2
    for i, v in enumerate(x):
        if v > cur + h:
            cur = v - h
        elif v < cur - h:
            cur = v + h
        y[i] = cur
    return y


def synthesize(walk: Walk, model: SensorModel | None = None, rate_hz: int = board.RATE_HZ,
               stop: bool = False) -> KneeStreams:
    """The 14 board channels at `rate_hz` as int16 counts (see gaitfw.boards.knee).

    `stop`: end with the user stopping and standing (replays that loop); evaluation leaves it
    off so the scored walk ends where the capture does."""
    model = model or SensorModel()
    rng = np.random.default_rng(model.seed)
    cols: list[np.ndarray] = []
    out = KneeStreams(rate_hz, np.zeros(0), STAND_S + BLEND_S)
    saturated = False
    for s in SIDES:
        t, rots, pos, kn = _with_standing(walk, s, model, stop)
        tn = np.arange(0.0, t[-1], 1.0 / rate_hz)
        rspl = RotationSpline(t, rots)
        r_n = rspl(tn)
        gyro = np.degrees(rspl(tn, 1))  # body-frame rate [dps]
        acc_w = CubicSpline(t, pos, axis=0)(tn, 2)
        f_w = acc_w + np.array([0.0, 0.0, G])
        acc = r_n.inv().apply(f_w) / G  # specific force in the sensor frame [g]
        beta = CubicSpline(t, kn)(tn)
        # the ideal path takes the skeleton's angle: the mounting tilt is a sensing error
        # (the board's standing calibration removes it), not part of the model's error
        out.alpha_deg[s] = hip_angle_from_rot(r_n * _mount(model, s).inv())
        out.beta_deg[s] = beta
        out.gyro_dps[s] = gyro
        out.accel_g[s] = acc
        g_meas = gyro + rng.normal(0, model.gyro_noise_dps, gyro.shape) + rng.uniform(-1, 1, 3) * model.gyro_bias_dps
        a_meas = acc + rng.normal(0, model.accel_noise_g, acc.shape) + rng.uniform(-1, 1, 3) * model.accel_bias_g
        b_meas = _hysteresis(beta, model.bend_hysteresis_deg) + rng.normal(0, model.bend_noise_deg, beta.shape)
        raw_bend = model.bend_offset_counts + b_meas * board.BEND_LSB_PER_DEG * model.bend_gain
        # the user's two-point calibration, slightly off
        g_cal = model.bend_gain * (1 + model.bend_cal_error * rng.uniform(-1, 1))
        out.bend_cal.append([int(model.bend_offset_counts), int(round(model.bend_offset_counts + 90 * 100 * g_cal))])
        a_c = np.round(a_meas * board.ACCEL_LSB_PER_G)
        g_c = np.round(g_meas * board.GYRO_LSB_PER_DPS)
        b_c = np.round(raw_bend)
        block = np.column_stack([b_c, a_c, g_c])
        saturated |= bool(np.any(np.abs(block) > 32767))
        cols.append(np.clip(block, -32768, 32767).astype(np.int16))
    n = min(len(c) for c in cols)
    out.counts = np.hstack([c[:n] for c in cols])
    for d in (out.alpha_deg, out.beta_deg, out.gyro_dps, out.accel_g):
        for s in SIDES:
            d[s] = d[s][:n]
    out.saturated = saturated
    return out
