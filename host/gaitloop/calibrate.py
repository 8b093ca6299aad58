"""Standing calibration of a board's drivers from the host: raw readings -> hal_cal / hx711_tare.

Why from the host: the two-point calibration of an FSR or bend sensor (docs/hardware.md) needs
the ADC reading at two known loads or angles, and a load cell's tare its unloaded reading;
asking the board for its drivers' raw readings (CMD_HAL_RAW) while the wearer holds still turns
that into a calibration file that `gaitloop push --calibration` checks (gaitfw/calib.py, on the
host and again on the board) and sends. No REPL, no hand-copied numbers.

Points accumulate in a sidecar file (`OUT.points.json`) across calls, one call per pose; the
calibration file is rewritten from the latest two distinct points of each channel.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gaitfw import protocol as P
from gaitloop.errors import BoardError, DataError
from gaitloop.power import PowerClient


def _points_path(out: Path) -> Path:
    return out.with_name(out.name + ".points.json")


def read_raw(pc: PowerClient, channel: int, seconds: float) -> tuple[str, int, int]:
    """(driver, mean raw reading, readings averaged) of `channel` over `seconds`."""
    key = str(channel)
    vals: list[int] = []
    drv = ""
    end = time.monotonic() + seconds
    while True:
        ack = pc.client.request(P.CMD_HAL_RAW, what="raw readings")
        try:
            raw = json.loads(ack.reply.decode())
        except (UnicodeDecodeError, ValueError):
            raise BoardError("malformed HAL_RAW answer") from None
        if key not in raw:
            have = ", ".join(sorted(raw, key=int)) or "none"
            raise DataError(f"channel {channel} has no calibratable sensor on this board (channels: {have})")
        drv, v = raw[key][0], int(raw[key][1])
        vals.append(v)
        if time.monotonic() >= end:
            break
        time.sleep(0.05)
    return drv, round(sum(vals) / len(vals)), len(vals)


def add_point(out: Path, channel: int, drv: str, raw: int, counts: int) -> dict[str, Any]:
    """Record (raw, counts) for `channel`; rewrite `out`; return the calibration now in it."""
    pp = _points_path(out)
    points: dict[str, Any] = json.loads(pp.read_text()) if pp.is_file() else {}
    key = str(channel)
    mine = [p for p in points.get(key, {}).get("points", []) if p[1] != counts]  # a pose again: replaced
    mine.append([raw, counts])
    points[key] = {"driver": drv, "points": mine[-2:]}
    pp.write_text(json.dumps(points, indent=1))
    cal: dict[str, Any] = {}
    for ch, entry in points.items():
        pts = entry["points"]
        if entry["driver"] == "hx711":
            cal.setdefault("hx711_tare", {})[ch] = pts[-1][0]
        elif len(pts) == 2:
            (u_a, out_a), (u_b, out_b) = pts
            cal.setdefault("hal_cal", {})[ch] = [u_a, out_a, u_b, out_b]
    if cal:
        out.write_text(json.dumps(cal, indent=1) + "\n")
    return cal


def calibrate(spec: str, channel: int, at: float, out: Path, seconds: float = 2.0) -> dict[str, Any]:
    """Measure one pose of one channel and update the calibration file; a summary dict."""
    pc = PowerClient(spec)
    try:
        hello = pc.hello()
        if not 0 <= channel < len(hello.channels):
            raise DataError(f"channel {channel}: the {hello.kind} has channels 0-{len(hello.channels) - 1}")
        drv, raw, n = read_raw(pc, channel, seconds)
    finally:
        pc.close()
    counts = round(at / hello.scale[channel])
    if drv == "hx711" and counts != 0:
        raise DataError("a load cell takes its zero point only (--at 0, unloaded): its scale is the "
                        "profile's div")
    if not -32768 <= counts <= 32767:
        raise DataError(f"--at {at} {hello.units[channel]} is outside channel {channel}'s int16 counts")
    cal = add_point(out, channel, drv, raw, counts)
    return {"channel": channel, "name": hello.channels[channel], "driver": drv, "raw": raw,
            "readings": n, "at": at, "unit": hello.units[channel], "counts": counts,
            "calibration": cal, "file": str(out)}
