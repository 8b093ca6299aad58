"""A bleak backend on bumble: `BleakScanner(backend=BleakScannerBumble, transport=...)` and
`BleakClient(..., backend=BleakClientBumble, transport=...)`.

Why: bleak ships no bumble backend (its upstream PR went out of tree), and the host's BLE code
should run unchanged in tests: the same bleak calls that reach BlueZ / CoreBluetooth / WinRT
on a laptop here reach a bumble host on an HCI transport, e.g. the virtual controllers of
`gaitloop sim --ble` (`tcp-client:127.0.0.1:PORT`) or a USB dongle bumble drives (`usb:0`).

One bumble `Device` per (event loop, transport), shared by the scanner and every client in
that loop: an HCI transport has one host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError

_DEVICES: dict[tuple[int, str], Any] = {}
_DEVICE_LOCKS: dict[tuple[int, str], asyncio.Lock] = {}


def _uuid_str(u: Any) -> str:
    """bumble UUID -> bleak's lowercase 128-bit form."""
    from bleak.uuids import normalize_uuid_str

    s = str(u)
    if s.startswith("UUID-16:"):
        s = s.split(":", 1)[1]
    s = s.split(" ", 1)[0].lower()
    return normalize_uuid_str(s)


async def bumble_device(transport: str) -> Any:
    """The powered-on bumble host on `transport` for the running loop (opened once)."""
    from bumble.device import Device
    from bumble.transport import open_transport

    loop = asyncio.get_running_loop()
    key = (id(loop), transport)
    lock = _DEVICE_LOCKS.setdefault(key, asyncio.Lock())
    async with lock:
        dev = _DEVICES.get(key)
        if dev is not None:
            return dev
        try:
            hci = await open_transport(transport)
        except Exception as exc:  # noqa: BLE001 - bumble raises several kinds
            raise BleakError(f"cannot open BLE transport {transport}: {exc}") from None
        dev = Device.with_hci("gaitloop-host", None, hci.source, hci.sink)
        dev._gaitloop_transport = hci  # keep the transport alive with the device
        try:
            await asyncio.wait_for(dev.power_on(), 10)
        except Exception as exc:  # noqa: BLE001
            hci.close() if hasattr(hci, "close") else None
            raise BleakError(f"BLE transport {transport}: controller did not start ({exc})") from None
        _DEVICES[key] = dev
        return dev


async def close_bumble_devices() -> None:
    """Close the transports opened in the running loop (end of a session)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _DEVICES if k[0] == loop_id]:
        dev = _DEVICES.pop(key)
        try:
            await dev._gaitloop_transport.close()
        except Exception:  # noqa: BLE001
            pass


class BleakScannerBumble(BaseBleakScanner):
    def __init__(self, detection_callback: Any, service_uuids: list[str] | None,
                 scanning_mode: str = "active", *, transport: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        if not transport:
            raise BleakError("BleakScannerBumble needs transport= (a bumble HCI transport spec)")
        self._transport = transport
        self._active = scanning_mode != "passive"
        self._device: Any = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._device = await bumble_device(self._transport)
        self._device.on("advertisement", self._on_advertisement)
        await self._device.start_scanning(active=self._active, filter_duplicates=False)

    async def stop(self) -> None:
        if self._device is None:
            return
        self._device.remove_listener("advertisement", self._on_advertisement)
        try:
            await self._device.stop_scanning()
        except Exception:  # noqa: BLE001 - already stopped
            pass

    def _on_advertisement(self, adv: Any) -> None:
        from bumble.core import AdvertisingData as AD

        data = adv.data
        uuids: list[str] = []
        for t in (AD.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                  AD.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                  AD.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                  AD.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS):
            for u in data.get(t) or []:
                uuids.append(_uuid_str(u))
        name = data.get(AD.COMPLETE_LOCAL_NAME) or data.get(AD.SHORTENED_LOCAL_NAME)
        address = str(adv.address).split("/")[0]
        prev = self.seen_devices.get(address)
        if prev is not None:
            # what an OS stack does: a device keeps the name and services it advertised
            # (the scan response) when a later advertisement lacks them
            name = name or prev[1].local_name
            uuids = list(dict.fromkeys(uuids + prev[1].service_uuids))
        if not self.is_allowed_uuid(uuids):
            return
        manuf: dict[int, bytes] = {}
        md = data.get(AD.MANUFACTURER_SPECIFIC_DATA)
        if md:
            manuf[md[0]] = bytes(md[1])
        tx = data.get(AD.TX_POWER_LEVEL)
        ad = AdvertisementData(local_name=name, manufacturer_data=manuf, service_data={},
                               service_uuids=uuids, tx_power=tx, rssi=adv.rssi,
                               platform_data=(adv,))
        device = self.create_or_update_device(address, address, name, adv.address, ad)
        self.call_detection_callbacks(device, ad)


class BleakClientBumble(BaseBleakClient):
    def __init__(self, address_or_ble_device: BLEDevice | str, *, transport: str | None = None,
                 services: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=kwargs.pop("disconnected_callback", None),
                         timeout=kwargs.pop("timeout", 10.0))
        if not transport:
            raise BleakError("BleakClientBumble needs transport= (a bumble HCI transport spec)")
        self._transport = transport
        self._bumble_address = (address_or_ble_device.details
                                if isinstance(address_or_ble_device, BLEDevice) else None)
        self._connection: Any = None
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._notify: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        from bumble.core import PhysicalTransport
        from bumble.device import Peer
        from bumble.hci import Address

        dev = await bumble_device(self._transport)
        address = self._bumble_address or Address(self.address, Address.RANDOM_DEVICE_ADDRESS)
        try:
            conn = await asyncio.wait_for(
                dev.connect(address, transport=PhysicalTransport.LE), self._timeout)
        except TimeoutError:
            try:
                await dev.cancel_connection(address)
            except Exception:  # noqa: BLE001
                pass
            raise BleakError(f"{self.address}: connection timed out") from None
        except Exception as exc:  # noqa: BLE001
            raise BleakError(f"{self.address}: connection failed ({exc})") from None
        self._connection = conn
        conn.on("disconnection", self._on_disconnection)
        try:
            await asyncio.wait_for(self._discover(Peer(conn)), self._timeout)
        except Exception as exc:  # noqa: BLE001
            await self.disconnect()
            raise BleakError(f"{self.address}: service discovery failed ({exc})") from None

    async def _discover(self, peer: Any) -> None:
        coll = BleakGATTServiceCollection()
        for svc in await peer.discover_services():
            await svc.discover_characteristics()
            bsvc = BleakGATTService(svc, svc.handle, _uuid_str(svc.uuid))
            coll.add_service(bsvc)
            for ch in svc.characteristics:
                await ch.discover_descriptors()
                props = [p.name.lower().replace("write_without_response", "write-without-response")
                         for p in type(ch.properties) if p in ch.properties and p.name]
                bch = BleakGATTCharacteristic(ch, ch.handle, _uuid_str(ch.uuid), props,
                                              lambda: self.mtu_size - 3, bsvc)
                coll.add_characteristic(bch)
                for d in ch.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), bch))
        self.services = coll

    def _on_disconnection(self, _reason: int = 0) -> None:
        if self._connection is None:
            return  # we asked for it
        self._connection = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        conn = self._connection
        self._connection = None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.disconnect(), 5)
            except Exception:  # noqa: BLE001 - gone already
                pass

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("pairing is not needed by gaitloop boards")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not needed by gaitloop boards")

    def _require(self) -> None:
        if self._connection is None:
            raise BleakError("not connected")

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._require()
        return bytearray(await characteristic.obj.read_value())

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        self._require()
        return bytearray(await descriptor.obj.read_value())

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any,
                              response: bool) -> None:
        self._require()
        await characteristic.obj.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        self._require()
        await descriptor.obj.write_value(bytes(data), with_response=True)

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        self._require()

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._notify[characteristic.handle] = on_value
        await characteristic.obj.subscribe(on_value, prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require()
        cb = self._notify.pop(characteristic.handle, None)
        await characteristic.obj.unsubscribe(cb)
