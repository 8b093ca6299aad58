"""Smart insole, one per foot: heel and ball force sensors at 100 Hz.

Counts are force at 0.1 N per count (gaitpdb replay: heel = L1/R1, ball = L6+L7 / R6+R7).
A real insole reports raw ADC units instead; processors must not assume newtons.
"""

KIND = "insole"
RATE_HZ = 100
CHANNELS = ("heel", "ball")
UNITS = ("N", "N")
SCALE = (0.1, 0.1)


def make_processors(emit, cfg):
    """Per-sample processors for this board (see docs/architecture.md).

    One `foot.FootProcessor` (CSM on heel and ball -> statuses, gait events). Templates come
    from the JSON file `cfg["csm_templates"]` (default `csm.json`, written by
    `gaitloop train csm`); built-in defaults are used, and flagged in STATUS, when it is
    absent or invalid. `cfg["csm_params"]` may override normaliser / guard settings, e.g.
    `min_range` and `sat_level` in counts for an insole with another gain.
    `cfg["student"]` names a device model file (.gldm, heel+ball input) on the board; when
    it loads, a `student.StudentProcessor` runs it every `cfg["student_hop"]` samples.
    """
    from gaitfw import csm, foot

    side = 1 if cfg.get("side", "left") in ("right", 1) else 0
    templates, params, defaulted = csm.load_templates(cfg.get("csm_templates", "csm.json"))
    params.update(cfg.get("csm_params", {}))
    procs = [
        foot.FootProcessor(
            emit,
            side,
            templates,
            params,
            defaulted=defaulted,
            sensor_events=bool(cfg.get("csm_sensor_events", False)),
        )
    ]
    if cfg.get("student"):  # int8 student (.gldm on heel, ball): gaitfw/student.py
        from gaitfw import student

        proc = student.make(emit, side, cfg["student"], hop=cfg.get("student_hop", 10))
        if proc is not None:
            procs.append(proc)
    return procs
