"""`gaitloop serve` (CLI plug-in): the web dashboard for clinicians (host/gaitloop/web/).

Wired by listing "gaitloop.cli_web" in cli.py's _PLUGINS.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Annotated

import typer

from gaitloop.errors import GaitloopError


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port); a bad value is one line."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise GaitloopError(f"--listen takes HOST:PORT (e.g. 127.0.0.1:8765), not {listen!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, port: int) -> None:
    """Fail in one line before any board starts when the address cannot be bound."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise GaitloopError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def serve(
    listen: Annotated[str, typer.Option(help="HOST:PORT to serve on. Beyond loopback a token is required (printed once).")] = "127.0.0.1:8765",
    port: Annotated[list[str] | None, typer.Option(help="Serial port of a board (repeat for several boards).")] = None,
    ble: Annotated[list[str] | None, typer.Option(help="BLE board by name or address, NAME[@TRANSPORT] (repeat; mix with --port).")] = None,
    ble_transport: Annotated[str | None, typer.Option(help="bumble HCI transport for --ble; default: the system's adapter via bleak.")] = None,
    demo: Annotated[bool, typer.Option(help="Start the demo's virtual boards (two insoles over virtual BLE, the knee sleeve) and show them.")] = False,
    speed: Annotated[float, typer.Option(help="--demo: replay speed (1 = real time).")] = 1.0,
    sessions: Annotated[Path, typer.Option(help="Folder of the recordings started from the page.")] = Path("sessions"),
) -> None:
    """Serve the live gait dashboard and the session reports in a browser (Ctrl-C ends)."""
    import uvicorn
    from rich.console import Console

    from gaitloop.outpaths import check_out_dir
    from gaitloop.web.app import create_app
    from gaitloop.web.hub import Hub
    from gaitloop.web.uvserver import Server

    host, http_port = parse_listen(listen)
    check_listen(host, http_port)
    check_out_dir(sessions)
    specs = list(port or []) + [f"ble:{b.removeprefix('ble:')}" for b in ble or []]
    if not specs and not demo:
        from gaitloop.cli_usage import usage_error

        raise usage_error("give at least one board: --port PATH, --ble NAME or --demo")
    if not speed > 0:
        raise GaitloopError(f"--speed must be positive, not {speed:g}")
    console = Console(stderr=True)
    boards = []
    hub = None
    try:
        if demo:
            from gaitloop.demo import DEFAULT_WALK, demo_boards

            boards = demo_boards(DEFAULT_WALK, speed)
            specs = demo_specs(boards, console) + specs
        token = None if is_loopback(host) else secrets.token_urlsafe(18)
        from gaitloop.cli import NO_BOARD_S

        # the links are opened (and owned) by the stream process: web/worker.py
        hub = Hub(specs, sessions, {"ports": specs, "demo": demo}, require_board=NO_BOARD_S,
                  ble_transport=ble_transport)
        hub.launch()
        app = create_app(hub, token)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{http_port}/" + (f"?token={token}" if token else "")
        print(f"serving: {url}", flush=True)
        if token:
            console.print("[yellow]bound beyond loopback: the token in this URL is required "
                          "(it is not shown again)[/]")
        server = Server(uvicorn.Config(app, host=host, port=http_port, log_level="warning",
                                       ws="websockets-sansio", lifespan="on"))
        server.run()
        if server.interrupted:
            raise KeyboardInterrupt  # the CLI's Ctrl-C: "interrupted", exit status 130
        if hub.error:  # already printed (one line) when the stream stopped; the page kept serving
            raise typer.Exit(1)
    finally:
        if hub is not None:
            hub.stop()  # idempotent: the lifespan stopped it already unless the server failed
        for vb in boards:
            vb.stop()


def demo_specs(boards: list, console) -> list[str]:  # noqa: ANN001 - rich Console, lazily imported
    """Start the demo's virtual boards here (they are MicroPython processes) and return the
    link specs the stream process opens: BLE for the insoles, serial for the knee sleeve."""
    import time

    specs = []
    for vb in boards:
        p = vb.start()
        if vb.ble:
            specs.append(f"ble:{vb.ble_name()}@{vb.ble_transport}")
            console.print(f"  {vb.device}: firmware under MicroPython, BLE {specs[-1][4:]}")
        else:
            specs.append(p)
            console.print(f"  {vb.device}: firmware under MicroPython on {p}")
    time.sleep(0.5)  # as gaitloop demo: the boards' BLE advertising starts
    return specs


def register(app: typer.Typer, train: typer.Typer, eval_: typer.Typer) -> None:
    app.command("serve")(serve)
