"""The virtual BLE world of the simulator: bumble controllers on one link, one bumble device
per virtual board serving the GATT service the firmware registers through the `bluetooth` shim.

Why bumble: a complete BLE host and virtual controller in Python, so advertising, ATT, GATT,
MTU exchange and notifications run on a real stack without a radio. The board's firmware
runs unchanged under MicroPython; its `bluetooth.BLE` calls come over a Unix socket from the
shim (`gaitloop/sim/ble_shim/bluetooth.py`) and its IRQs go back the same way.

Hosts reach the boards through host-facing controllers on the same `LocalLink`, each exposed
as an HCI transport on a local TCP port: `tcp-client:127.0.0.1:PORT` is what
`gaitloop stream --ble NAME --ble-transport ...` opens (bumble speaks HCI over it, and the
bleak backend in `gaitloop.link.bleak_bumble` drives that bumble host).

The notify queue drains at connection events (`interval_ms`, `per_event` packets each), so
a board that sends faster than the link carries meets ENOMEM as on a real controller.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import tempfile
import threading
from collections import deque
from pathlib import Path
from typing import Any

from gaitloop.errors import BoardError

logging.getLogger("bumble").setLevel(logging.CRITICAL)

SHIM_DIR = Path(__file__).resolve().parent / "ble_shim"
_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21


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
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            transport = await open_tcp_server_transport_with_socket(sock)
            ctrl = Controller(f"host{i}", host_source=transport.source, host_sink=transport.sink,
                              link=self.link)
            self._objs += [transport, ctrl]
            self.transports.append(f"tcp-client:127.0.0.1:{port}")

    def add_board(self, device_id: str, sock_path: Path, **kw: Any) -> BoardRadio:
        radio = BoardRadio(self, device_id, sock_path, **kw)
        self.call(radio.listen())
        return radio

    def add_nimble_board(self, device_id: str, pty_path: Path) -> NimbleRadio:
        radio = NimbleRadio(self, device_id, pty_path)
        self.call(radio.open())
        return radio


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


class BoardRadio:
    """The bumble side of one virtual board: serves the shim's socket; one session per boot."""

    def __init__(self, world: BleWorld, device_id: str, sock_path: Path,
                 interval_ms: float = 15.0, per_event: int = 4) -> None:
        self.world = world
        self.address = static_address(device_id)
        self.sock_path = Path(sock_path)
        self.interval_ms = interval_ms
        self.per_event = per_event
        self.name: str | None = None
        self.named = threading.Event()
        self.sessions = 0
        self.notifications = 0
        self.notify_bytes = 0
        self.enomem = 0  # gatts_notify calls the shim refused with ENOMEM
        self.mtu_events: list[int] = []
        self._jam_until = 0.0
        self._server: asyncio.AbstractServer | None = None
        self._session: _Session | None = None

    async def listen(self) -> None:
        if self.sock_path.exists():
            self.sock_path.unlink()
        self._server = await asyncio.start_unix_server(self._on_shim, path=str(self.sock_path))

    async def _on_shim(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._session is not None:
            await self._session.close()
        self.sessions += 1
        session = _Session(self, reader, writer)
        self._session = session
        try:
            await session.run()
        finally:
            await session.close()
            if self._session is session:
                self._session = None

    def drop(self, jam_s: float = 0.0) -> None:
        """Testing: cut the board's connection as a radio fade would; with `jam_s`, the board
        stays unreachable (its advertising does not go out) for that long."""
        async def _drop() -> None:
            loop = asyncio.get_running_loop()
            self._jam_until = loop.time() + jam_s
            s = self._session
            if s is None:
                return
            for conn in list(s.conns.values()):
                await s._disconnect(conn)
            if jam_s > 0:
                loop.call_later(jam_s, lambda: loop.create_task(s.readvertise()))

        self.world.call(_drop())

    def jammed(self) -> bool:
        return self.world.loop.time() < self._jam_until

    def close(self) -> None:
        async def _close() -> None:
            if self._session is not None:
                await self._session.close()
            if self._server is not None:
                self._server.close()

        try:
            self.world.call(_close(), timeout=5)
        except Exception:  # noqa: BLE001 - teardown: the world may be gone already
            pass
        try:
            self.sock_path.unlink()
        except OSError:
            pass


class _Session:
    """One MicroPython boot: a fresh controller and device with the board's address."""

    def __init__(self, radio: BoardRadio, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        from bumble.controller import Controller
        from bumble.device import Device
        from bumble.hci import Address
        from bumble.host import Host
        from bumble.transport.common import AsyncPipeSink

        self.radio = radio
        self.reader, self.writer = reader, writer
        self.controller = Controller(f"board-{radio.address}", link=radio.world.link)
        self.device = Device(name="gaitloop", address=Address(radio.address),
                             host=Host(self.controller, AsyncPipeSink(self.controller)))
        self.chars: dict[int, Any] = {}
        self.values: dict[int, bytes] = {}
        self.conns: dict[int, Any] = {}
        self.queue: deque[tuple[Any, Any, bytes]] = deque()
        self.adv: dict[str, Any] | None = None
        self.closed = False
        self._tasks: list[asyncio.Task] = []

    def send(self, obj: dict[str, Any]) -> None:
        if not self.closed:
            self.writer.write((json.dumps(obj) + "\n").encode())

    async def run(self) -> None:
        await self.device.power_on()
        self.device.on("connection", self._on_connection)
        self._tasks.append(asyncio.create_task(self._drain()))
        while True:
            line = await self.reader.readline()
            if not line:
                return
            try:
                m = json.loads(line)
            except ValueError:
                continue
            await self._op(m)

    async def _op(self, m: dict[str, Any]) -> None:
        op = m.get("op")
        dev = self.device
        if op == "enomem":
            self.radio.enomem += 1
        elif op == "mac":
            self.send({"reply": [1, self.radio.address.replace(":", "").lower()]})
        elif op == "config":
            kw = m.get("kw", {})
            if "mtu" in kw:
                dev.gatt_server.max_mtu = int(kw["mtu"])
            if "gap_name" in kw:
                dev.name = str(kw["gap_name"])
                self.radio.name = dev.name
                self.radio.named.set()
        elif op == "register":
            self.send({"reply": self._register(m["services"])})
        elif op == "adv":
            await self._advertise(m)
        elif op == "write":
            self.values[m["h"]] = bytes.fromhex(m["v"])
        elif op == "notify":
            conn = self.conns.get(m["c"])
            char = self.chars.get(m["h"])
            self.queue.append((conn, char, bytes.fromhex(m["v"])))
        elif op == "mtu":
            conn = self.conns.get(m["c"])
            if conn is not None:
                self._tasks.append(asyncio.create_task(self._request_mtu(conn, int(m["mtu"]))))
        elif op == "disc":
            conn = self.conns.get(m["c"])
            if conn is not None:
                self._tasks.append(asyncio.create_task(self._disconnect(conn)))

    def _register(self, services: list) -> list[list[int]]:
        from bumble.gatt import Characteristic, CharacteristicValue, Service

        out = []
        for svc_uuid, chars in services:
            objs = []
            for uuid, flags in chars:
                perms = 0
                if flags & 0x02:
                    perms |= Characteristic.Permissions.READABLE
                if flags & 0x0C:
                    perms |= Characteristic.Permissions.WRITEABLE
                holder: dict[str, int] = {}
                value = CharacteristicValue(read=self._reader_for(holder),
                                            write=self._writer_for(holder))
                objs.append((Characteristic(uuid, Characteristic.Properties(flags & 0xFF),
                                            Characteristic.Permissions(perms), value), holder))
            self.device.add_service(Service(svc_uuid, [c for c, _ in objs]))
            handles = []
            for c, holder in objs:
                holder["h"] = c.handle
                self.chars[c.handle] = c
                self.values[c.handle] = b""
                handles.append(c.handle)
            out.append(handles)
        return out

    def _reader_for(self, holder: dict[str, int]):
        def read(_conn: Any) -> bytes:
            return self.values.get(holder.get("h", -1), b"")

        return read

    def _writer_for(self, holder: dict[str, int]):
        def write(conn: Any, value: bytes) -> None:
            h = holder.get("h", -1)
            self.send({"irq": _IRQ_GATTS_WRITE, "a": [conn.handle, h], "v": bytes(value).hex()})

        return write

    async def _advertise(self, m: dict[str, Any]) -> None:
        from bumble.device import AdvertisingType

        dev = self.device
        if dev.is_advertising:
            await dev.stop_advertising()
        if m.get("stop"):
            self.adv = None
            return
        self.adv = m
        if self.radio.jammed():
            return  # nobody hears it; `readvertise` runs when the jam ends
        from bumble.hci import Address

        self.radio.world.scan_responses[bytes(Address(self.radio.address))] = bytes.fromhex(m["resp"])
        kind = (AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE if m.get("connectable", True)
                else AdvertisingType.UNDIRECTED_SCANNABLE)
        ms = max(20.0, m.get("interval_us", 100000) / 1000.0)
        await dev.start_advertising(advertising_type=kind,
                                    advertising_data=bytes.fromhex(m["adv"]),
                                    scan_response_data=bytes.fromhex(m["resp"]),
                                    advertising_interval_min=ms, advertising_interval_max=ms)

    async def readvertise(self) -> None:
        if self.adv is not None and not self.closed and not self.conns:
            await self._advertise(self.adv)

    def _on_connection(self, conn: Any) -> None:
        self.conns[conn.handle] = conn
        # a peripheral stops advertising when a central connects (legacy advertising)
        self.adv = None
        addr = bytes(reversed(bytes(conn.peer_address))).hex()
        self.send({"irq": _IRQ_CENTRAL_CONNECT, "a": [conn.handle, 1, addr]})
        def mtu() -> None:
            self.radio.mtu_events.append(conn.att_mtu)
            self.send({"irq": _IRQ_MTU_EXCHANGED, "a": [conn.handle, conn.att_mtu]})

        conn.on("connection_att_mtu_update", mtu)

        def gone(_reason: int = 0) -> None:
            self.conns.pop(conn.handle, None)
            self.send({"irq": _IRQ_CENTRAL_DISCONNECT, "a": [conn.handle, 1, addr]})

        conn.on("disconnection", gone)

    async def _request_mtu(self, conn: Any, mtu: int) -> None:
        from bumble.device import Peer

        try:
            await asyncio.wait_for(Peer(conn).request_mtu(mtu), 5)
        except Exception:  # noqa: BLE001 - the link dropped meanwhile: no MTU event, as on a board
            pass

    async def _disconnect(self, conn: Any) -> None:
        try:
            await asyncio.wait_for(conn.disconnect(), 5)
        except Exception:  # noqa: BLE001
            pass

    async def _drain(self) -> None:
        """Send queued notifications at connection events; report each as done to the shim."""
        radio = self.radio
        while not self.closed:
            await asyncio.sleep(radio.interval_ms / 1000.0)
            done = 0
            for _ in range(min(radio.per_event, len(self.queue))):
                conn, char, value = self.queue.popleft()
                done += 1
                if conn is None or char is None or conn.handle not in self.conns:
                    continue
                try:
                    await self.device.notify_subscriber(conn, char, value, force=True)
                    radio.notifications += 1
                    radio.notify_bytes += len(value)
                except Exception:  # noqa: BLE001 - disconnected meanwhile: dropped, as on air
                    pass
            if done:
                self.send({"done": done})

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for t in self._tasks:
            t.cancel()
        for conn in list(self.conns.values()):
            await self._disconnect(conn)
        try:
            if self.device.is_advertising:
                await self.device.stop_advertising()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.radio.world.link.remove_controller(self.controller)
        except KeyError:
            pass
        try:
            self.writer.close()
        except Exception:  # noqa: BLE001
            pass


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

