"""A virtual board on MicroPython's own NimBLE: HCI over a pty to a bumble controller."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from gaitloop.sim.ble_world import BleWorld, _scan_response_controller, static_address


def _ad_name(data: bytes) -> str | None:
    """The complete local name in advertising / scan response data."""
    i = 0
    while i + 1 < len(data):
        n = data[i]
        if n == 0:
            break
        if data[i + 1] == 0x09:
            return data[i + 2:i + 1 + n].decode(errors="replace")
        i += n + 1
    return None


class NimbleRadio:
    """A board on MicroPython's own NimBLE (a Unix port built with MICROPY_BLUETOOTH_NIMBLE=1):
    its HCI goes over a pty (MICROPYBTUART) to a bumble controller on the world's link.

    Selected by GAITLOOP_NIMBLE_MICROPYTHON (the binary); the shim is then not used at all.
    The board's name is read from the scan response its stack sets on the controller.
    """

    def __init__(self, world: BleWorld, device_id: str, pty_path: Path) -> None:
        self.world = world
        self.address = static_address(device_id)
        self.pty_path = Path(pty_path)
        self.name: str | None = None
        self.named = threading.Event()
        self.notifications = self.notify_bytes = self.enomem = 0
        self.mtu_events: list[int] = []
        self._transport: Any = None

    async def open(self) -> None:
        from bumble.hci import Address
        from bumble.transport import open_transport

        if self.pty_path.is_symlink() or self.pty_path.exists():
            self.pty_path.unlink()  # a stale link from a killed run
        self._transport = await open_transport(f"pty:{self.pty_path}")
        radio = self
        base = _scan_response_controller(self.world)

        class BoardController(base):  # type: ignore[misc, valid-type]
            def on_hci_le_set_scan_response_data_command(self, command: Any) -> Any:
                radio._scan_response(self, bytes(command.scan_response_data))
                return super().on_hci_le_set_scan_response_data_command(command)

            def on_hci_le_set_extended_scan_response_data_command(self, command: Any) -> Any:
                radio._scan_response(self, bytes(command.scan_response_data))
                return super().on_hci_le_set_extended_scan_response_data_command(command)

        pub = Address(self.address, Address.PUBLIC_DEVICE_ADDRESS)
        self.controller = BoardController(f"nimble-{self.address}", host_source=self._transport.source,
                                          host_sink=self._transport.sink, link=self.world.link,
                                          public_address=pub)

    def _scan_response(self, ctrl: Any, data: bytes) -> None:
        for addr in (ctrl.public_address, ctrl.random_address):
            self.world.scan_responses[bytes(addr)] = data
        name = _ad_name(data)
        if name:
            self.name = name
            self.named.set()

    def drop(self, jam_s: float = 0.0) -> None:
        raise NotImplementedError("fault injection needs the shim (GAITLOOP_NIMBLE_MICROPYTHON unset)")

    def close(self) -> None:
        async def _close() -> None:
            try:
                self.world.link.remove_controller(self.controller)
            except KeyError:
                pass
            if self._transport is not None:
                await self._transport.close()

        try:
            self.world.call(_close(), timeout=5)
        except Exception:  # noqa: BLE001 - teardown
            pass
