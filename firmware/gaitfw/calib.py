"""Calibration schema per board kind: which keys a calibration may set, and their ranges.

Why on the board: a calibration arrives over the air and changes how the processors compute;
the firmware's own check (run again before a pushed calibration goes live) is what protects a
board, and the host runs this same module so a wrong file is refused before it is sent. A
knee-sleeve key on an insole, a wrong type or a value out of range is named in one line.
"""

from gaitfw.compat import const

# key -> (type, low, high); type "i" int, "f" number, "b" bool or 0/1, "l4" four ints,
# "bend" two [raw_at_0, raw_at_90] int pairs, "csm" an object of CSM parameter ints,
# "halcal" {channel: [u_a, out_a, u_b, out_b]} two-point divider calibration of the drivers
# (gaitfw/drivers/divider.py; u in 0..65535, out in the channel's counts, low..high is the set
# of channels with a divider sensor), "tare" {channel: raw} HX711 unloaded readings (24-bit)
_KNEE = {
    "l1_mm": ("i", 100, 1000),
    "l2_mm": ("i", 100, 1000),
    "d5_mm": ("i", -500, 500),
    "bias_cdeg": ("l4", -4500, 4500),
    "bend_cal": ("bend", -32768, 32767),
    "cal_s": ("i", 0, 60),
    "beta": ("f", 0, 1),
    "knee_prom_cdeg": ("i", 0, 9000),
    "hip_prom_cdeg": ("i", 0, 9000),
    "min_step_mm": ("i", 0, 3000),
    "max_step_mm": ("i", 0, 3000),
    "calibrate_rls": ("b", 0, 1),
    "ref_step_mm": ("i", 0, 3000),
    "rls_steps": ("i", 1, 1000),
    "baseline_mm": ("i", 0, 3000),
    "baseline_steps": ("i", 0, 1000),
    "asym_pct": ("f", 0, 100),
    "asym_off_pct": ("f", 0, 100),
    "wait_steps": ("i", 0, 1000),
    "buzz_pattern": ("i", 0, 255),
    "reduce_pct": ("i", 0, 100),
    "speed_drop_pct": ("i", 0, 100),
    "speed_ref_mm_s": ("i", 0, 5000),
    "hal_cal": ("halcal", 0, 7),  # the bend sensors, channels 0 and 7
}

_INSOLE = {
    "csm_params": ("csm", 0, 0),
    "csm_sensor_events": ("b", 0, 1),
    "student_hop": ("i", 1, 1000),
    "hal_cal": ("halcal", 0, 1),  # the FSRs (picow-insole)
    "hx711_tare": ("tare", 0, 1),  # the load cells (esp32s3-insole)
}

# CSM parameters (gaitfw.csm.DEFAULT_PARAMS) and their ranges
_CSM = {
    "min_range": (1, 32767),
    "sat_level": (1, 32767),
    "guard_lo": (0, 1000),
    "guard_hi": (0, 1000),
    "guard_n": (0, 1000),
}

SCHEMA = {"insole": _INSOLE, "knee": _KNEE}


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v):
    return (isinstance(v, (int, float))) and not isinstance(v, bool)


_HX711_MIN = const(-0x800000)
_HX711_MAX = const(0x7FFFFF)


def _channels(key, v, lo, hi):
    """None, or what is wrong with an object keyed by channel number (lo or hi, as strings)."""
    if not isinstance(v, dict) or not v:
        return "%s must be an object {channel: ...}" % key
    for ch in v:
        if ch not in (str(lo), str(hi)):
            return "%s: channel %r has no such sensor (channels %d, %d)" % (key, ch, lo, hi)
    return None


def _check_halcal(key, v, lo, hi):
    err = _channels(key, v, lo, hi)
    if err:
        return err
    for ch, p in v.items():
        if not (isinstance(p, list) and len(p) == 4 and all(_int(x) for x in p)):
            return "%s.%s must be [u_a, out_a, u_b, out_b] integers" % (key, ch)
        u_a, out_a, u_b, out_b = p
        if not (0 <= u_a <= 65535 and 0 <= u_b <= 65535):
            return "%s.%s: ADC readings must be in 0..65535" % (key, ch)
        if not (-32768 <= out_a <= 32767 and -32768 <= out_b <= 32767):
            return "%s.%s: calibrated values must be int16 counts" % (key, ch)
        if u_a == u_b or (u_a >= 52429 and u_b >= 52429):  # the driver clips u at 80 %
            return "%s.%s: the two points must read different ADC values (below 52429)" % (key, ch)
        if abs(out_b - out_a) > 16000:
            return "%s.%s: span over 16000 counts" % (key, ch)
    return None


def _check_tare(key, v, lo, hi):
    err = _channels(key, v, lo, hi)
    if err:
        return err
    for ch, raw in v.items():
        if not (_int(raw) and _HX711_MIN <= raw <= _HX711_MAX):
            return "%s.%s must be an HX711 reading (24-bit signed integer)" % (key, ch)
    return None


def _check_value(key, kind_, lo, hi, v):
    if kind_ == "i":
        ok = _int(v) and lo <= v <= hi
    elif kind_ == "f":
        ok = _num(v) and lo <= v <= hi
    elif kind_ == "b":
        ok = isinstance(v, bool) or (_int(v) and v in (0, 1))
    elif kind_ == "l4":
        ok = isinstance(v, list) and len(v) == 4 and all(_int(x) and lo <= x <= hi for x in v)
    elif kind_ == "bend":
        ok = (isinstance(v, list) and len(v) == 2
              and all(isinstance(p, list) and len(p) == 2 and _int(p[0]) and _int(p[1])
                      and lo <= p[0] <= hi and lo <= p[1] <= hi and p[0] != p[1] for p in v))
    elif kind_ == "halcal":
        return _check_halcal(key, v, lo, hi)
    elif kind_ == "tare":
        return _check_tare(key, v, lo, hi)
    elif kind_ == "csm":
        if not isinstance(v, dict):
            return "%s must be an object" % key
        for k in v:
            r = _CSM.get(k)
            if r is None:
                return "%s.%s is not a CSM parameter" % (key, k)
            if not (_int(v[k]) and r[0] <= v[k] <= r[1]):
                return "%s.%s must be an integer in %d..%d" % (key, k, r[0], r[1])
        return None
    else:
        ok = False
    if not ok:
        return "%s=%r is out of range (%s %s..%s)" % (key, v, kind_, lo, hi)
    return None


def check(board_kind, cal):
    """None if `cal` is a valid calibration for `board_kind`, else the first problem (str)."""
    schema = SCHEMA.get(board_kind)
    if schema is None:
        return "no calibration schema for board kind %r" % board_kind
    if not isinstance(cal, dict):
        return "a calibration must be a JSON object"
    if not cal:
        return "the calibration is empty"
    for key in cal:
        spec = schema.get(key)
        if spec is None:
            return "calibration key %r is not known to %s boards" % (key, board_kind)
        err = _check_value(key, spec[0], spec[1], spec[2], cal[key])
        if err:
            return err
    if board_kind == "knee":
        lo = cal.get("min_step_mm", 100)
        hi = cal.get("max_step_mm", 1500)
        if lo >= hi:
            return "min_step_mm must be below max_step_mm"
    return None


def load(board_kind, path):
    """The calibration object in the file `path`, checked; raises ValueError with the reason."""
    import json

    try:
        with open(path) as f:
            cal = json.load(f)
    except OSError:
        raise ValueError("calibration file %s cannot be read" % path)
    except ValueError:
        raise ValueError("calibration file is not JSON")
    err = check(board_kind, cal)
    if err:
        raise ValueError(err)
    return cal
