"""Commands 28-30 (timing and power): answered here, imported on the first one.

Why apart from app.py: a host asks these during bring-up or a benchmark, never per sample,
so their code stays out of the heap until then (the Pico W's ~150 kB is tight).
"""

import json

from gaitfw import protocol as P


def handle(app, seq, cmd, args):
    if cmd == P.CMD_POWER:
        _power(app, seq, cmd, args)
    elif cmd == P.CMD_TIMING:
        st = stats(app.pacer)
        st["rate"] = app.power.rate_now()
        st["power"] = app.power.state
        if app.ble is not None:  # host -> board bytes lost on BLE since boot (gaitfw/link_ble.py)
            st["ble"] = app.ble.rx_counts()
        if len(args) and args[0] == 1:
            app.pacer.reset_stats()
        app._ack(seq, cmd, json.dumps(st).encode())
    elif cmd == P.CMD_HAL_RAW:
        if not hasattr(app.hal, "specs"):
            app._nak(seq, cmd, P.ERR_STATE, "no drivers: this board replays a recording")
        else:
            from gaitfw import halcal

            app._ack(seq, cmd, json.dumps(halcal.raw_readings(app.hal)).encode())


def _power(app, seq, cmd, args):
    """CMD_POWER: u8 0 query, 1 idle now (refused while a BLE central is connected), 2 wake
    and stay active until the next motion-free idle_after_s."""
    pw = app.power
    op = args[0] if len(args) else 0
    if op > 2:
        app._nak(seq, cmd, P.ERR_BAD_ARGS, "expected u8 0 query, 1 idle, 2 wake")
        return
    if op == 1:
        if app._connected():
            app._nak(seq, cmd, P.ERR_POWER_STATE, "a BLE host is connected")
            return
        pw.force = True  # at the next idle-rate check
        pw.hold = False
    elif op == 2:
        pw.hold = True
        pw.still = 0
        if pw.state == P.POWER_IDLE:
            pw.wake(P.WAKE_COMMAND)
    app._ack(seq, cmd, bytes((pw.state, pw.reason)))


def stats(pc):
    """The pacer's lateness since the last reset (gaitfw/pacer.py): a dict for CMD_TIMING."""
    bin_us = pc.BIN_US
    bins = pc.TOP + 1
    h = pc.hist
    n = 0
    for i in range(bins):
        n += h[i]
    late = pc.late()
    tot = 0
    p99 = 0
    want = n - n // 100  # the 99th percentile: the bin holding sample number ceil(0.99 n)
    seen = 0
    for i in range(bins):
        c = h[i]
        if c:
            if i < bins - 1:
                tot += c * (i * bin_us + bin_us // 2)
            if seen < want <= seen + c:
                p99 = (i + 1) * bin_us
            seen += c
    tot += pc.over_ms * 1000  # the last bin's lateness, kept in ms
    return {
        "n": n,
        "period_us": pc.period_us,
        "mean_us": tot // n if n else 0,
        "p99_us": min(p99, pc.max_us) if n else 0,
        "max_us": pc.max_us,
        "late": late,
        "skipped": pc.skipped,
        "bin_us": bin_us,
    }
