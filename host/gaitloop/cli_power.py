"""`gaitloop power`: a board's power state and sample-loop timing; send it idle or wake it
(CLI plug-in, listed in cli.py's _PLUGINS; protocol commands 28-29, docs/hardware.md "Power").
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gaitloop.cli_update import _BLE_HELP, _PORT_HELP, _TRANSPORT_HELP, _board_spec


class PowerOp(StrEnum):
    query = "query"
    idle = "idle"
    wake = "wake"


def power(
    port: Annotated[str | None, typer.Option(help=_PORT_HELP)] = None,
    ble: Annotated[str | None, typer.Option(help=_BLE_HELP)] = None,
    ble_transport: Annotated[str | None, typer.Option(help=_TRANSPORT_HELP)] = None,
    op: Annotated[PowerOp, typer.Argument(help="query (default); idle: low power now (refused while a BLE host is connected); wake: full rate until the next still idle_after_s")] = PowerOp.query,
    reset: Annotated[bool, typer.Option("--reset", help="Zero the loop-timing statistics after reading them.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Power state (active / idle), sample rate now, why the board last woke, overruns and the
    sample loop's lateness (mean, p99, max) measured on the board since boot or --reset."""
    from gaitloop.power import PowerClient, describe

    pc = PowerClient(_board_spec(port, ble, ble_transport))
    try:
        answer = pc.power(op.value)
        timing = pc.timing(reset)
        st = pc.status()
    finally:
        pc.close()
    if as_json:
        print(json.dumps({"power": answer, "timing": timing, "status": {
            "power": st.power_name, "rate_hz": st.rate_hz, "overruns": st.overruns, "flags": st.flags,
            "mem_free": st.mem_free, "mem_alloc": st.mem_alloc}}, indent=1))
        return
    for line in describe(st, timing):
        print(line)


def sensor_cal(
    channel: Annotated[int, typer.Option(help="Channel index (HELLO order; insole 0 heel, 1 ball; knee 0 and 7 the bends).")],
    at: Annotated[float, typer.Option(help="The known load or angle now, in the channel's unit (N, deg); a load cell: 0, unloaded.")],
    out: Annotated[Path, typer.Option(help="Calibration file to write (points kept beside it in OUT.points.json).")] = Path("calibration.json"),
    seconds: Annotated[float, typer.Option(min=0.2, help="Seconds of raw readings to average (hold still).")] = 2.0,
    port: Annotated[str | None, typer.Option(help=_PORT_HELP)] = None,
    ble: Annotated[str | None, typer.Option(help=_BLE_HELP)] = None,
    ble_transport: Annotated[str | None, typer.Option(help=_TRANSPORT_HELP)] = None,
) -> None:
    """Standing calibration of a sensor driver: average its raw reading while the load or angle
    is `--at`; two poses per FSR / bend sensor, the unloaded one per load cell. Then
    `gaitloop push --calibration OUT` (docs/hardware.md, bring-up checklist)."""
    from gaitloop.calibrate import calibrate as do_calibrate

    print(json.dumps(do_calibrate(_board_spec(port, ble, ble_transport), channel, at, out, seconds), indent=1))


def register(app: typer.Typer, _train: typer.Typer, _eval: typer.Typer) -> None:
    app.command()(power)
    app.command("sensor-cal")(sensor_cal)
