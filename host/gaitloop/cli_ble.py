"""`gaitloop devices`: boards within reach, over BLE and on serial ports (CLI plug-in).

BLE: a scan filtered on the gaitloop service UUID (name, address, RSSI). Serial: each port
(pyserial's list, plus `--port` paths such as a virtual board's pty) is asked for HELLO, so
the table says which board sits where.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

import typer

from gaitloop.errors import GaitloopError


def probe_serial(path: str, timeout: float = 1.5) -> dict[str, Any] | None:
    """The HELLO of the board on `path`, or None when nothing answers."""
    from gaitfw import protocol as P
    from gaitloop.decoder import BoardState, StreamDecoder
    from gaitloop.link.serial_link import SerialLink
    from gaitloop.messages import CommandEncoder

    try:
        link = SerialLink(path)
    except GaitloopError:
        return None
    try:
        dec, state, cmd = StreamDecoder(), BoardState(), CommandEncoder()
        link.write(cmd.encode(P.CMD_HELLO))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for frame in dec.feed(link.read_available()):
                state.update(frame)
                if state.hello is not None:
                    h = state.hello
                    return {"device": h.device, "kind": h.kind, "side": h.side, "fw": h.fw}
            time.sleep(0.02)
        return None
    finally:
        link.close()


def scan_ble(transport: str | None, seconds: float) -> list[dict[str, Any]]:
    from gaitloop.link.ble_link import scan

    async def run() -> list[dict[str, Any]]:
        found = await scan(transport, seconds)
        if transport:
            from gaitloop.link.bleak_bumble import close_bumble_devices

            await close_bumble_devices()
        return [{"name": adv.local_name or dev.name, "address": dev.address, "rssi": adv.rssi}
                for dev, adv in found]

    try:
        return asyncio.run(run())
    except GaitloopError:
        raise
    except Exception as exc:  # noqa: BLE001 - no adapter, no permission, ...: one line
        from gaitloop.link.ble_link import _reason

        raise GaitloopError(f"BLE scan failed: {_reason(exc, transport)}") from None


def devices(
    ble_transport: Annotated[str | None, typer.Option(help="bumble HCI transport to scan on (default: the system's adapter via bleak).")] = None,
    seconds: Annotated[float, typer.Option(help="How long to scan for BLE boards.")] = 3.0,
    port: Annotated[list[str] | None, typer.Option(help="Also probe this serial path (e.g. a virtual board's pty); repeatable.")] = None,
    ble: Annotated[bool, typer.Option(help="Scan for BLE boards.")] = True,
    serial: Annotated[bool, typer.Option(help="Probe serial ports.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List boards: BLE (gaitloop service, name, RSSI) and serial ports (board from its HELLO)."""
    rows: list[dict[str, Any]] = []
    if ble:
        for d in scan_ble(ble_transport, seconds):
            rows.append({"link": "ble", **d})
    if serial:
        from serial.tools import list_ports

        paths = [p.device for p in list_ports.comports()] + list(port or [])
        for path in dict.fromkeys(paths):
            hello = probe_serial(path)
            rows.append({"link": "serial", "port": path, **(hello or {"device": None})})
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    if not rows:
        print("no boards found")
    for r in rows:
        if r["link"] == "ble":
            print(f"ble     {r['name'] or '?':32s} {r['address']}  RSSI {r['rssi']} dBm")
        elif r.get("device"):
            print(f"serial  {r['port']:32s} {r['device']} ({r['kind']}, {r['side']}, fw {r['fw']})")
        else:
            print(f"serial  {r['port']:32s} (no gaitloop board answered)")


def register(app: typer.Typer, train: typer.Typer, eval_: typer.Typer) -> None:
    app.command()(devices)
