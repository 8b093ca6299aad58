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


def open_link(spec: str) -> Link:
    """Open a link from a spec: a serial device path (or `serial:PATH`)."""
    from gaitloop.link.serial_link import SerialLink

    path = spec.removeprefix("serial:")
    return SerialLink(path)
