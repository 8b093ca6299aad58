"""The virtual BLE world of the simulator: bumble controllers on one link, and the hosts' way in.

Why bumble: a complete BLE host and virtual controller in Python, so advertising, ATT, GATT,
MTU exchange and notifications run on a real stack without a radio. Each virtual board gets a
radio on the world's `LocalLink`: `sim/ble_radio.py` (the firmware's `bluetooth` calls come
over a socket from the shim, `sim/ble_shim/bluetooth.py`) or `sim/ble_nimble.py`
(MicroPython's own NimBLE speaking HCI over a pty).

Hosts reach the boards through host-facing controllers on the same link, each exposed as an
HCI transport on a local TCP port: `tcp-client:127.0.0.1:PORT` is what
`gaitloop stream --ble NAME --ble-transport ...` opens (bumble speaks HCI over it, and the
bleak backend in `gaitloop.link.bleak_bumble` drives that bumble host).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gaitloop.errors import BoardError

if TYPE_CHECKING:
    from gaitloop.sim.ble_nimble import NimbleRadio
    from gaitloop.sim.ble_radio import BoardRadio

logging.getLogger("bumble").setLevel(logging.CRITICAL)

SHIM_DIR = Path(__file__).resolve().parent / "ble_shim"


def static_address(seed: str) -> str:
    """A random static address (top bits 11) derived from the board's device id, so a board
    keeps its address across reboots and runs, as a chip does."""
    b = bytearray(hashlib.sha256(seed.encode()).digest()[:6])
    b[0] |= 0xC0
    return ":".join(f"{x:02X}" for x in b)


def _scan_response_controller(world: BleWorld) -> type:
    """A bumble Controller whose scan reports carry the advertiser's scan response data.

    Also ends stale connections on HCI Reset (see `on_hci_reset_command`).

    Why: bumble's virtual controller (0.0.236) reports the advertising data again as the scan
    response; a real controller sends what the advertiser set with LE Set Scan Response Data.
    The boards' names live in their scan response (a 128-bit UUID and a 25-character name do
    not fit one 31-byte advertisement), so the simulator puts the right bytes there.
    """
    import dataclasses

    from bumble import hci
    from bumble.controller import Controller

    legacy = hci.HCI_LE_Advertising_Report_Event
    ext = hci.HCI_LE_Extended_Advertising_Report_Event

    class ScanResponseController(Controller):
        def on_hci_reset_command(self, command: Any) -> Any:
            """A new host process took this controller (the last one may have been killed):
            end its stale connections as a supervision timeout would, so boards advertise again."""
            from bumble import ll

            for conn in list(self.le_connections.values()):
                try:
                    conn.send_ll_control_pdu(ll.TerminateInd(hci.HCI_CONNECTION_TIMEOUT_ERROR))
                except Exception:  # noqa: BLE001 - the peer went away too
                    pass
                self.le_connections.pop(conn.peer_address, None)
            return super().on_hci_reset_command(command)

        def send_hci_packet(self, packet: Any) -> None:
            if isinstance(packet, legacy | ext):
                reports = []
                for r in packet.reports:
                    is_rsp = (r.event_type == legacy.EventType.SCAN_RSP if isinstance(packet, legacy)
                              else bool(int(r.event_type) & int(ext.EventType.SCAN_RESPONSE)))
                    rsp = world.scan_responses.get(bytes(r.address)) if is_rsp else None
                    reports.append(dataclasses.replace(r, data=rsp) if rsp is not None else r)
                packet = type(packet)(reports)
            super().send_hci_packet(packet)

    return ScanResponseController


def _make_link() -> Any:
    """bumble's LocalLink, with ACL data sent from the address the connection uses.

    Why: bumble 0.0.236's `LocalLink.send_acl_data` always gives the sender's *random* address
    as the source; a peripheral advertising with its public address (NimBLE's default) then
    has every ACL packet dropped by the central's controller (no connection from 00:00:...).
    """
    from bumble import core
    from bumble.link import LocalLink

    class Link(LocalLink):
        def send_acl_data(self, sender_controller: Any, destination_address: Any,
                          transport: Any, data: bytes) -> None:
            if transport == core.PhysicalTransport.LE:
                for conn in sender_controller.le_connections.values():
                    if conn.peer_address == destination_address:
                        dest = self.find_le_controller(destination_address)
                        if dest is not None:
                            asyncio.get_running_loop().call_soon(
                                dest.on_link_acl_data, conn.self_address, transport, data)
                        return
            super().send_acl_data(sender_controller, destination_address, transport, data)

    return Link()


class BleWorld:
    """One LocalLink, its host-facing controllers (TCP ports) and the boards' radios.

    All bumble objects live on one asyncio loop in a daemon thread; callers from other
    threads go through `call` (run a coroutine there, wait with a timeout)."""

    _shared: BleWorld | None = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls) -> BleWorld:
        with cls._shared_lock:
            if cls._shared is None or not cls._shared.alive():
                cls._shared = BleWorld()
            return cls._shared

    def __init__(self, host_ports: int = 2) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ble-world", daemon=True)
        self._thread.start()
        self.transports: list[str] = []
        self.scan_responses: dict[bytes, bytes] = {}  # advertiser address -> scan response
        self._objs: list[Any] = []
        self.call(self._setup(host_ports))

    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _setup(self, host_ports: int) -> None:
        from bumble.transport.tcp_server import open_tcp_server_transport_with_socket

        Controller = _scan_response_controller(self)  # noqa: N806
        self.link = _make_link()
        for i in range(host_ports):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # An HCI transport (UART, USB) sends each packet as it comes; TCP with Nagle holds a
            # small write while an earlier one waits for its (delayed) ACK, up to 40 ms, which
            # was most of the simulated BLE link's latency (docs/benchmarks.md, "Web dashboard
            # latency"). bumble's server transport leaves Nagle on; accepted sockets inherit
            # this listener's TCP_NODELAY (Linux).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            transport = await open_tcp_server_transport_with_socket(sock)
            ctrl = Controller(f"host{i}", host_source=transport.source, host_sink=transport.sink,
                              link=self.link)
            self._objs += [transport, ctrl]
            self.transports.append(f"tcp-client:127.0.0.1:{port}")

    def add_board(self, device_id: str, sock_path: Path, **kw: Any) -> BoardRadio:
        from gaitloop.sim.ble_radio import BoardRadio

        radio = BoardRadio(self, device_id, sock_path, **kw)
        self.call(radio.listen())
        return radio

    def add_nimble_board(self, device_id: str, pty_path: Path) -> NimbleRadio:
        from gaitloop.sim.ble_nimble import NimbleRadio

        radio = NimbleRadio(self, device_id, pty_path)
        self.call(radio.open())
        return radio



def socket_path(prefix: str = "gaitloop-ble-") -> Path:
    """A short Unix socket path (sun_path is limited to 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    return d / "radio.sock"


def shim_env(sock: Path, queue: int | None = None) -> dict[str, str]:
    """Environment for the MicroPython process: the shim on its path, the socket to dial."""
    if not (SHIM_DIR / "bluetooth.py").is_file():
        raise BoardError(f"BLE shim missing at {SHIM_DIR}")
    env = {"MICROPYPATH": f".frozen:{SHIM_DIR}", "GAITLOOP_BLE_SOCK": str(sock)}
    if queue is not None:
        env["GAITLOOP_BLE_QUEUE"] = str(queue)
    return env

