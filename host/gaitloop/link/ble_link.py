"""BLE link on bleak, behind the same small sync interface as `SerialLink`.

Why a pipe: the stream loop `select`s over links' file descriptors. bleak is asyncio, so one
background thread runs bleak's loop for every BLE link of the process; notification bytes are
written into an `os.pipe()` whose read end is this link's `fileno()`.

The board's byte stream is the serial one: notifications concatenate into COBS frames and
commands are written to RX in pieces of at most MTU - 3 bytes (write without response).

Reconnects: when the board drops, the link scans for it again with backoff (0.2 s doubling to
5 s), subscribes, and puts a 0x00 into the stream so a frame cut by the drop is never glued
to the next one. `take_resume()` then says True once: the stream (`BoardChannel`) asks the
board for CMD_RESEND from the last sequence number it holds (or START on a first connect).

`transport=None` uses bleak's default backend (the system adapter, as on a laptop); a bumble
transport spec (`tcp-client:127.0.0.1:PORT`, `usb:0`, ...) uses `gaitloop.link.bleak_bumble`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any

from gaitloop.errors import LinkError

SERVICE_UUID = "7a6f0001-5d3b-4c8e-9a51-67a17e0b6c01"
TX_UUID = "7a6f0002-5d3b-4c8e-9a51-67a17e0b6c01"
RX_UUID = "7a6f0003-5d3b-4c8e-9a51-67a17e0b6c01"

_BACKOFF_START_S = 0.2
_BACKOFF_MAX_S = 5.0


class _LoopThread:
    """One asyncio loop in a daemon thread for all bleak work of this process."""

    _lock = threading.Lock()
    _inst: _LoopThread | None = None

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._lock:
            if cls._inst is None or not cls._inst.thread.is_alive():
                cls._inst = _LoopThread()
            return cls._inst

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gaitloop-bleak", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise


def backend_kwargs(transport: str | None) -> dict[str, Any]:
    """bleak keyword arguments selecting the backend for `transport`."""
    if not transport:
        return {}
    from gaitloop.link.bleak_bumble import BleakClientBumble, BleakScannerBumble

    return {"scanner": {"backend": BleakScannerBumble, "transport": transport},
            "client": {"backend": BleakClientBumble, "transport": transport}}


async def scan(transport: str | None, seconds: float, service_filter: bool = True) -> list[tuple[Any, Any]]:
    """(BLEDevice, AdvertisementData) of boards advertising the gaitloop service."""
    from bleak import BleakScanner

    kw = backend_kwargs(transport).get("scanner", {})
    found = await BleakScanner.discover(timeout=seconds, return_adv=True,
                                        service_uuids=[SERVICE_UUID] if service_filter else None, **kw)
    return list(found.values())


async def find_board(target: str, transport: str | None, timeout: float) -> Any:
    """The BLEDevice whose name or address is `target` (case-insensitive)."""
    from bleak import BleakScanner

    want = target.lower()
    kw = backend_kwargs(transport).get("scanner", {})

    def match(dev: Any, adv: Any) -> bool:
        return (dev.address.lower() == want or (adv.local_name or "").lower() == want
                or (dev.name or "").lower() == want)

    return await BleakScanner.find_device_by_filter(match, timeout=timeout,
                                                    service_uuids=[SERVICE_UUID], **kw)


class BleLink:
    """A `Link` to one board over BLE (name or address), with reconnects."""

    def __init__(self, target: str, transport: str | None = None, *, timeout: float = 10.0,
                 reconnect: bool = True) -> None:
        self.target = target
        self.transport = transport
        self.name = f"ble:{target}"
        self.timeout = timeout
        self.reconnect = reconnect
        self.mtu = 23
        self.connects = 0
        self.disconnects = 0
        self.dropped_bytes = 0
        self.notifications = 0
        self.notify_bytes = 0
        self._resume = False
        self._closing = False
        self._client: Any = None
        self._rx_char: Any = None
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        self._lt = _LoopThread.get()
        self._reconnect_task: asyncio.Task | None = None
        try:
            self._lt.run(self._connect(self.timeout), self.timeout * 2 + 5)
        except Exception as exc:  # noqa: BLE001 - one line for the user
            self._close_pipe()
            raise LinkError(f"cannot connect to BLE board {target}: {_reason(exc, transport)}") from None

    # -- asyncio side (runs in the loop thread) ------------------------------------------

    async def _connect(self, timeout: float) -> None:
        from bleak import BleakClient

        device = await find_board(self.target, self.transport, timeout)
        if device is None:
            raise LinkError(f"no board named {self.target} advertising"
                            + (f" on {self.transport}" if self.transport else ""))
        kw = backend_kwargs(self.transport).get("client", {})
        client = BleakClient(device, disconnected_callback=self._on_disconnect, timeout=timeout, **kw)
        await client.connect()
        try:
            tx = client.services.get_characteristic(TX_UUID)
            rx = client.services.get_characteristic(RX_UUID)
            if tx is None or rx is None:
                raise LinkError("the gaitloop service lacks its TX/RX characteristics")
            await client.start_notify(tx, self._on_notify)
        except Exception:
            await client.disconnect()
            raise
        self._client = client
        self._rx_char = rx
        self.connects += 1
        self._feed(b"\x00")  # a frame cut by a drop is never glued to the next one
        self._resume = True

    def _on_notify(self, _char: Any, data: bytearray) -> None:
        self.notifications += 1
        self.notify_bytes += len(data)
        self._feed(bytes(data))

    def _feed(self, data: bytes) -> None:
        try:
            os.write(self._wfd, data)
        except BlockingIOError:
            self.dropped_bytes += len(data)  # nobody reads: dropped, as a USB CDC port does
        except OSError:
            pass

    def _on_disconnect(self, _client: Any) -> None:
        self._client = None
        self.disconnects += 1
        if self._closing or not self.reconnect:
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = _BACKOFF_START_S
        while not self._closing and self._client is None:
            await asyncio.sleep(delay)
            try:
                await self._connect(min(self.timeout, 5.0))
                return
            except Exception:  # noqa: BLE001 - board still away: try again later
                delay = min(delay * 2, _BACKOFF_MAX_S)

    async def _write(self, data: bytes) -> None:
        client = self._client
        if client is None:
            raise LinkError(f"{self.name}: not connected")
        step = max(20, client.mtu_size - 3)
        for i in range(0, len(data), step):
            await client.write_gatt_char(self._rx_char, data[i:i + step], response=False)

    async def _disconnect(self) -> None:
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except Exception:  # noqa: BLE001
                pass

    # -- the Link interface (caller's thread) ---------------------------------------------

    def fileno(self) -> int:
        return self._rfd

    def read_available(self) -> bytes:
        try:
            return os.read(self._rfd, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EBADF:
                raise LinkError(f"{self.name}: link closed") from None
            raise

    def write(self, data: bytes) -> None:
        """Send bytes to the board; dropped (not raised) while a reconnect is under way."""
        if self._client is None:
            if self.reconnect and not self._closing:
                return
            raise LinkError(f"{self.name}: not connected")
        try:
            self._lt.run(self._write(bytes(data)), 5.0)
        except LinkError:
            if not self.reconnect:
                raise
        except Exception as exc:  # noqa: BLE001
            if not self.reconnect:
                raise LinkError(f"{self.name}: write failed ({_reason(exc)})") from None

    def take_resume(self) -> bool:
        """True once after each (re)connect: time to ask for a resend (or START)."""
        r, self._resume = self._resume, False
        return r

    @property
    def connected(self) -> bool:
        return self._client is not None

    def reset_input(self) -> None:
        """Drop what is queued. The board notifies nothing before START / RESEND, and both
        start at a frame boundary: a 0x00 lets the decoder take the very first frame."""
        self.read_available()
        self._feed(b"\x00")

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            self._lt.run(self._disconnect(), 10.0)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._rfd, self._wfd):
            try:
                os.close(fd)
            except OSError:
                pass

    def wait_connected(self, timeout: float) -> bool:
        """Block until the link is up (after a drop), or the timeout passes."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._client is not None:
                return True
            time.sleep(0.05)
        return self._client is not None


def _reason(exc: BaseException, transport: str | None = "") -> str:
    """One line; says which stack failed when the system's adapter is not reachable."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if transport is None and isinstance(exc, OSError | ImportError):
        return (f"the system's Bluetooth (bleak's default backend) is not reachable ({text}); "
                "give --ble-transport for a bumble HCI transport")
    return text
