"""Driver calibration of a BoardHal at run time: check, apply, and raw readings for it.

Why apart from boardhal.py: these run only when a host pushes a calibration or asks for raw
readings (`gaitloop push --calibration`, `gaitloop sensor-cal`), so their code is imported
then, not kept in the heap of every board from boot (the Pico W's ~150 kB is tight).
"""

from gaitfw.drivers import divider


def check(hal, hal_cal, tares):
    """The problem (str) with a driver calibration for this board's sensors, or None: every
    `hal_cal` channel must be an FSR or bend sensor of the profile (points that give two
    different ADC ratios), every `hx711_tare` channel a load cell."""
    kinds = {}
    for spec in hal.specs:
        kinds[spec["ch"]] = spec["drv"]
    name = hal.profile["name"]
    for k, v in (hal_cal or {}).items():
        if kinds.get(int(k)) not in ("fsr", "bend"):
            return "hal_cal channel %s: no FSR or bend sensor there on profile %s" % (k, name)
        try:
            divider.check_cal(v)
        except ValueError as exc:
            return "hal_cal channel %s: %s" % (k, exc)
    for k in tares or {}:
        if kinds.get(int(k)) != "hx711":
            return "hx711_tare channel %s: no load cell there on profile %s" % (k, name)
    return None


def apply(hal, cfg):
    """Re-calibrate the drivers from cfg (a pushed calibration gone live, gaitfw/update.py):
    `hal_cal` two-point divider points, `hx711_tare` the unloaded cells' raw values. A channel
    not named keeps the calibration it booted with (profile or config.json)."""
    hal_cal = cfg.get("hal_cal") or {}
    tares = cfg.get("hx711_tare") or {}
    err = check(hal, hal_cal, tares)
    if err:
        raise ValueError(err)
    for spec, drv in zip(hal.specs, hal.drivers):
        key = str(spec["ch"])
        if spec["drv"] in ("fsr", "bend"):
            cal = tuple(hal_cal[key]) if key in hal_cal else tuple(spec["cal"])
            drv.set_cal(cal)
            if spec["drv"] == "fsr":
                drv.clip_low = cal[1]
        elif spec["drv"] == "hx711":
            drv.set_tare(int(tares[key]) if key in tares else spec.get("tare", 0))


def raw_readings(hal):
    """{channel: [driver, raw]} of the latest read: ADC u16 of a divider sensor, HX711 word
    (before tare) of a load cell; what standing calibration records (`gaitloop sensor-cal`)."""
    out = {}
    for spec, drv in zip(hal.specs, hal.drivers):
        d = spec["drv"]
        if d in ("fsr", "bend"):
            out[str(spec["ch"])] = [d, drv.u]
        elif d == "hx711":
            out[str(spec["ch"])] = [d, drv.raw]
    return out
