"""Wire a board profile's parts to models fed by a replay's counts (tests and simulator).

Why from counts: the replay is what the board should read (gaitpdb forces in 0.1 N, the knee
simulator's bend angles and thigh IMU counts). Each channel is turned into what the part
would put on its pins: an HX711 word (counts x div + tare + a few counts of converter
noise, less than one channel count), a divider voltage at the ADC, IMU register contents.
Reading them back through the drivers must give the replay again, to the part's resolution.
"""

import machine
from partmodels import DividerAdc, HX711Model, MPU6050Model

HX_TARE = 8000  # raw counts of the unloaded cell


def wire_profile(profile, rows, tare=HX_TARE, loop=True):
    """rows: list of per-sample lists of channel counts. Returns {channel: model}."""
    machine.reset()
    models = {}
    bus = profile.get("i2c", {}).get("id", 0) if profile.get("i2c") else 0
    for s in profile["sensors"]:
        ch = s["ch"]
        d = s["drv"]
        if d == "hx711":
            div = s.get("div", 256)
            vals = [r[ch] * div + tare + (i * 7) % (div if div < 5 else 5) for i, r in enumerate(rows)]
            m = HX711Model(vals, loop=loop)
            machine.wire_pin(s["dout"], m, "dout")
            if s.get("spi"):  # PD_SCK on the bus's MOSI, DOUT on its MISO (and polled as a pin)
                machine.wire_spi(s["spi"]["id"], m)
            else:
                machine.wire_pin(s["sck"], m, "sck")
        elif d in ("fsr", "bend"):
            m = DividerAdc([r[ch] for r in rows], d, loop=loop)
            machine.wire_adc(s["pin"], m)
        elif d == "mpu6050":
            m = MPU6050Model([r[ch:ch + 6] for r in rows], loop=loop)
            machine.wire_i2c(bus, s.get("addr", 0x68), m)
        else:
            raise ValueError("no model for driver %r" % d)
        models[ch] = m
    return models


def profile_for_bench(profile):
    """The profile with the HX711 tare the bench's load cells have (as standing calibration sets it)."""
    sensors = []
    for s in profile["sensors"]:
        if s["drv"] == "hx711":
            s = dict(s)
            s["tare"] = HX_TARE
        sensors.append(s)
    p = dict(profile)
    p["sensors"] = tuple(sensors)
    return p


def read_glrp(path):
    """Rows of a .glrp replay (format: firmware/gaitfw/hal.py)."""
    import struct

    with open(path, "rb") as f:
        head = f.read(14)
        magic, _version, nch, _rate, n = struct.unpack("<4sHHHI", head)
        if magic != b"GLRP":
            raise ValueError("not a replay file: %s" % path)
        data = f.read(2 * nch * n)
    fmt = "<%dh" % nch
    return [list(struct.unpack_from(fmt, data, 2 * nch * i)) for i in range(n)]


def wire_from_env():
    """`gaitloop sim --hal drivers`: GAITLOOP_BENCH_PROFILE names the profile whose parts are
    fed by the replay GAITLOOP_BENCH_REPLAY; load cells are tared (0 raw at no load), as the
    board's standing calibration leaves them."""
    import os

    name = os.getenv("GAITLOOP_BENCH_PROFILE")
    if not name:
        return None
    from gaitfw import profiles

    rows = read_glrp(os.getenv("GAITLOOP_BENCH_REPLAY") or "replay.glrp")
    return wire_profile(profiles.get(name), rows, tare=0, loop=os.getenv("GAITLOOP_BENCH_LOOP", "1") == "1")
