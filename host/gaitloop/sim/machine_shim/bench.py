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


def wire_profile(profile, rows):
    """rows: list of per-sample lists of channel counts. Returns {channel: model}."""
    machine.reset()
    models = {}
    bus = profile.get("i2c", {}).get("id", 0) if profile.get("i2c") else 0
    for s in profile["sensors"]:
        ch = s["ch"]
        d = s["drv"]
        if d == "hx711":
            div = s.get("div", 256)
            vals = [r[ch] * div + HX_TARE + (i * 7) % (div if div < 5 else 5) for i, r in enumerate(rows)]
            m = HX711Model(vals)
            machine.wire_pin(s["dout"], m, "dout")
            machine.wire_pin(s["sck"], m, "sck")
        elif d in ("fsr", "bend"):
            m = DividerAdc([r[ch] for r in rows], d)
            machine.wire_adc(s["pin"], m)
        elif d == "mpu6050":
            m = MPU6050Model([r[ch:ch + 6] for r in rows])
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
