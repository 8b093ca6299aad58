"""A virtual board on MicroPython's own BLE stacks (NimBLE, BTstack): HCI over a pty to a bumble controller."""

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
    """A board on MicroPython's own NimBLE (a Unix port built with MICROPY_BLUETOOTH_NIMBLE=1)
    or BTstack (MICROPY_BLUETOOTH_BTSTACK=1, H4; the Pico W's stack, tools/ble_heap.py): its
    HCI goes over a pty (MICROPYBTUART) to a bumble controller on the world's link.

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
        self.jammed = False  # `jam`: the board's packets are held, as a peer out of reach leaves them
        self._held: list[Any] = []

    async def open(self) -> None:
        from bumble.hci import Address
        from bumble.transport import open_transport

        if self.pty_path.is_symlink() or self.pty_path.exists():
            self.pty_path.unlink()  # a stale link from a killed run
        self._transport = await open_transport(f"pty:{self.pty_path}")
        radio = self
        base = _scan_response_controller(self.world)

        class BoardController(base):  # type: ignore[misc, valid-type]
            def on_packet(self, packet: bytes) -> None:
                """A command bumble cannot parse is answered as unknown (see below): once
                `bumble.drivers` is imported (the host's bleak backend does, in this process)
                0xFC09 parses as Intel's Secure Send, whose parameters it lacks, and the packet
                was dropped without an answer."""
                from bumble import hci

                try:
                    parsed = hci.HCI_Packet.from_bytes(packet)
                except Exception:  # noqa: BLE001 - any parse error of a command gets its answer
                    if packet[:1] != bytes([hci.HCI_COMMAND_PACKET]) or len(packet) < 3:
                        raise
                    self._unknown(int.from_bytes(packet[1:3], "little"))
                    return
                self.on_hci_packet(parsed)

            def on_hci_command_packet(self, command: Any) -> None:
                """Answer a command bumble does not know, as a controller must (Command Complete,
                Unknown HCI Command): bumble 0.0.236 answers only the commands it models and
                says nothing to a vendor one, so BTstack's Zephyr chipset driver (the Unix
                port's H4 build) waited on its "read static addresses" (0xFC09) until
                `active(True)` failed with ETIMEDOUT."""
                from bumble import hci

                known = hasattr(self, f"on_{command.name.lower()}")
                if known or isinstance(command, hci.HCI_SyncCommand):
                    super().on_hci_command_packet(command)
                    return
                self._unknown(command.op_code)

            def _unknown(self, op_code: int) -> None:
                from bumble import hci

                self.send_hci_packet(hci.HCI_Command_Complete_Event(
                    num_hci_command_packets=1, command_opcode=op_code,
                    return_parameters=hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.UNKNOWN_HCI_COMMAND_ERROR)))

            def on_hci_acl_data_packet(self, packet: Any) -> None:
                if radio.jammed:  # not sent, so not completed: the controller's buffers fill
                    radio._held.append(packet)
                    return
                super().on_hci_acl_data_packet(packet)

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

    def jam(self, on: bool) -> None:
        """Hold (True) the board's outgoing ACL packets, as a central gone out of reach leaves
        them unacknowledged: the controller reports none completed, so the board's stack runs
        out of buffers. False sends what was held (to a connection that still exists)."""
        self.jammed = on
        if on:
            return
        held, self._held = self._held, []

        async def _release() -> None:
            for packet in held:
                if self.controller.find_connection_by_handle(packet.connection_handle) is not None:
                    self.controller.on_hci_acl_data_packet(packet)

        self.world.call(_release())

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
