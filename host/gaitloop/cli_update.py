"""`gaitloop push` and `gaitloop status`: updates over the live link (CLI plug-in).

Wired by listing "gaitloop.cli_update" in cli.py's _PLUGINS. Failures are GaitloopErrors,
printed by `cli.main` as one line with a non-zero exit; a transfer shows a progress bar on a
terminal.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console


class Kind(StrEnum):
    model = "model"
    calibration = "calibration"
    templates = "templates"


def _progress_bar(console: Console):  # noqa: ANN202  (rich types are private)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=console, transient=True,
                    disable=not console.is_terminal)


def _board_spec(port: str | None, ble: str | None, ble_transport: str | None) -> str:
    """One board, over serial (`--port`) or BLE (`--ble NAME [--ble-transport T]`)."""
    from gaitloop.cli_usage import usage_error

    if (port is None) == (ble is None):
        raise usage_error("give one board: --port PATH or --ble NAME")
    if port is not None:
        return port
    name = ble.removeprefix("ble:")
    return f"ble:{name}" if "@" in name or not ble_transport else f"ble:{name}@{ble_transport}"


_PORT_HELP = "Serial port of the board (the link it streams on)."
_BLE_HELP = "BLE board by name or address, NAME[@TRANSPORT] (instead of --port)."
_TRANSPORT_HELP = ("bumble HCI transport for --ble (the `via` of `gaitloop sim --ble`); "
                   "default: the system's adapter via bleak.")


def push(
    port: Annotated[str | None, typer.Option(help=_PORT_HELP)] = None,
    ble: Annotated[str | None, typer.Option(help=_BLE_HELP)] = None,
    ble_transport: Annotated[str | None, typer.Option(help=_TRANSPORT_HELP)] = None,
    templates: Annotated[Path | None, typer.Option(help="CSM templates (from `gaitloop train csm`).")] = None,
    model: Annotated[Path | None, typer.Option(help="An int8 device model (.gldm, from `gaitloop export --device`).")] = None,
    calibration: Annotated[Path | None, typer.Option(help="A JSON object of calibration keys, checked against the board kind's schema.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE config setting (JSON value), repeatable.")] = None,
    rollback: Annotated[Kind | None, typer.Option(help="Switch this artifact back to the version before the active one.")] = None,
    version: Annotated[int | None, typer.Option(min=0, max=0xFFFFFFFF, help="Artifact version (default: the file's modification time); lower than the board's is refused.")] = None,
) -> None:
    """Push calibration, templates or a model over the live link: signed, chunked, written to
    the inactive slot while the board streams, self-tested, then switched to; or roll back."""
    from gaitloop.cli import _parse_settings
    from gaitloop.push import push as do_push

    console = Console(stderr=True)
    bar = _progress_bar(console)
    tasks: dict[str, Any] = {}

    def progress(kind: str, done: int, total: int) -> None:
        if kind not in tasks:
            tasks[kind] = bar.add_task(f"push {kind}", total=total)
        bar.update(tasks[kind], completed=done)

    spec = _board_spec(port, ble, ble_transport)
    with bar:
        summary = do_push(spec, templates=templates, model=model, calibration=calibration,
                          settings=_parse_settings(set_ or []),
                          rollback=rollback.value if rollback else None, version=version,
                          progress=progress)
    print(json.dumps(summary, indent=1))


def status(
    port: Annotated[str | None, typer.Option(help=_PORT_HELP)] = None,
    ble: Annotated[str | None, typer.Option(help=_BLE_HELP)] = None,
    ble_transport: Annotated[str | None, typer.Option(help=_TRANSPORT_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What the board runs: firmware, board, and per artifact its active slot, version,
    SHA-256, and any pending or failed slot."""
    from gaitloop.link import open_link
    from gaitloop.update.client import UpdateClient

    client = UpdateClient(open_link(_board_spec(port, ble, ble_transport)))
    try:
        info = client.open()
    finally:
        client.close()
    if as_json:
        print(json.dumps(info, indent=1))
        return
    b = info["board"]
    how = info.get("install")  # "frozen" into the MicroPython image, or "files" (flash's .mpy)
    print(f"firmware {info['firmware']}{f' ({how})' if how else ''}  board {b['kind']} {b['side']}  device {b['device']}"
              f"  id {b['device_id'] or '-'}{'' if b['keyed'] else '  (no update key)'}")
    for kind in ("calibration", "templates", "model"):
        r = info[kind]
        if r["slot"] is None:
            line = "built-in / config.json (nothing pushed)"
        else:
            line = f"slot {r['slot']}  version {r['version']}  sha256 {r['sha256']}"
            if r["previous"] is not None:
                line += f"  (previous: version {r['previous']})"
        if r.get("trial"):
            line += "  [on trial: not yet confirmed]"
        if r["pending"]:
            line += f"  [pending: slot {r['pending']}]"
        if r["failed"]:
            line += f"  [failed: slot {r['failed']}]"
        print(f"  {kind:<12} {line}")
    x = info.get("transfer")
    if x:
        print(f"  transfer     {x['kind']} version {x['version']}: {x['offset']} of "
              f"{x['length']} bytes (push again to resume)")


def register(app: typer.Typer, _train: typer.Typer, _eval: typer.Typer) -> None:
    app.command()(push)
    app.command()(status)
