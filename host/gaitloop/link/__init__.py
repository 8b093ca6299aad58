"""Board links behind one small interface, so stream, recorder and CLI never care which
link carries the frames (serial today; BLE and others plug in the same way)."""

from __future__ import annotations

from typing import Protocol


class Link(Protocol):
    name: str

    def fileno(self) -> int: ...

    def read_available(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def reset_input(self) -> None: ...

    def close(self) -> None: ...


def parse_ble_spec(spec: str, default_transport: str | None = None) -> tuple[str, str | None]:
    """`ble:NAME_OR_ADDRESS[@TRANSPORT]` (the `ble:` prefix optional) -> (target, transport).

    TRANSPORT is a bumble HCI transport (`tcp-client:127.0.0.1:PORT`, `usb:0`, ...); without
    it bleak's default backend and the system's adapter are used."""
    body = spec.removeprefix("ble:")
    target, sep, transport = body.partition("@")
    return target, (transport if sep else default_transport) or None


def open_link(spec: str, ble_transport: str | None = None) -> Link:
    """Open a link from a spec: a serial device path (or `serial:PATH`), or
    `ble:NAME_OR_ADDRESS[@TRANSPORT]` (docs/ble.md)."""
    if spec.startswith("ble:"):
        from gaitloop.link.ble_link import BleLink

        target, transport = parse_ble_spec(spec, ble_transport)
        return BleLink(target, transport)
    from gaitloop.link.serial_link import SerialLink

    path = spec.removeprefix("serial:")
    return SerialLink(path)
