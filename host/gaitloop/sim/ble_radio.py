"""A virtual board's radio through the `bluetooth` shim: one bumble device per MicroPython boot,
serving the GATT service the firmware registers, with the stack's limits.

The shim (`sim/ble_shim/bluetooth.py`) sends the firmware's `bluetooth.BLE` calls as JSON
lines over a Unix socket; IRQs go back the same way. The notify queue drains at simulated
connection events (`interval_ms`, `per_event` packets each), so a board that sends faster
than the link carries meets ENOMEM as on a real controller.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from pathlib import Path
from typing import Any

from gaitloop.sim.ble_world import BleWorld, static_address

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_MTU_EXCHANGED = 21


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
        self.adv_intervals_us: list[int] = []  # each gap_advertise's interval (idle: 1 s, gaitfw/power.py)
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
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the board's process ended mid-line (a demo or test stopping it): its boot is over
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

    def stall_app(self, timeout_s: float = 5.0) -> None:
        """Testing: the board's app stops in its next BLE IRQ turn until a client write fills
        an enlarged (append) attribute buffer, or `timeout_s`: a slow app while the host
        writes. What does not fit is cut, as NimBLE cuts it, with no error to the host."""
        async def _stall() -> None:
            if self._session is not None:
                self._session.send({"stall": int(timeout_s * 1000)})

        self.world.call(_stall())

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
        self.radio.adv_intervals_us.append(int(m.get("interval_us", 100000)))
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
        """Send queued notifications at connection events; report each as done to the shim.

        The events keep a fixed grid (anchor + k x interval), as a link layer's do: sleeping one
        interval after each event's work would stretch every interval by that work. An event
        missed (the loop was busy) is skipped, not made up, as on air."""
        radio = self.radio
        loop = asyncio.get_running_loop()
        step = radio.interval_ms / 1000.0
        anchor = loop.time()
        while not self.closed:
            anchor += step
            now = loop.time()
            if anchor < now:
                anchor += step * ((now - anchor) // step + 1)
            await asyncio.sleep(anchor - now)
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
