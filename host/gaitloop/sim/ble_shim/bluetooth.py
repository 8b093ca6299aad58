"""`bluetooth` for the MicroPython Unix port in the simulator: calls and IRQs over a socket to a
bumble device in the virtual-board launcher (`gaitloop.sim.ble_radio`).

Simulator only: the launcher puts this folder on MICROPYPATH; it is never installed on a
board. It implements the subset of `bluetooth.BLE` the firmware uses, with the limits of
MicroPython's NimBLE binding, so firmware that works here meets the same walls on a board:

- an attribute buffer holds 20 bytes unless `gatts_set_buffer` enlarges it: longer client
  writes are cut (append mode accumulates writes until `gatts_read`, which clears);
- `gatts_notify` sends whether or not the client subscribed, cuts data to MTU - 3, and raises
  OSError(ENOMEM) when its bounded queue is full (GAITLOOP_BLE_QUEUE packets, default 12, as
  the NimBLE mbuf pool); the queue drains at the virtual link's connection events;
- MTU stays 23 until `gattc_exchange_mtu` (or the client) asks;
- no IRQ for CCCD writes (NimBLE gives MicroPython none);
- storing a write and `gatts_read`'s read-and-clear never interleave: MicroPython's
  `mp_bluetooth_gatts_db_read` takes and clears an append buffer inside
  MICROPY_PY_BLUETOOTH_ENTER/EXIT, so a write lands wholly before or wholly after a read. Here
  the writes are stored by the reader thread and read on the main thread: `_attr_lock` is
  that critical section (without it a write landing between the read and the clear was lost,
  or one read twice: a command silently gone under CPU load, tests/e2e/test_ble.py).

Testing (fault injection, never kinder than the stack): the launcher's `BoardRadio.stall_app`
makes the app stop in its next IRQ turn until a client write fills an append buffer (or a
timeout): a slow app while the host writes, so the stack cuts what does not fit.
GAITLOOP_BLE_READ_HOLD_MS makes `gatts_read` that slow inside its critical section, so writes
land during reads (without the critical section, they were lost).

IRQs are delivered like the real port's: a reader thread receives them and
`micropython.schedule`s the handler, which then runs between two bytecodes of the main thread.
Wire format to the bridge: one JSON object per line, binary values as hex.
"""

import _thread
import json
import os
import socket
import time

import micropython
from micropython import const

FLAG_BROADCAST = const(0x0001)
FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)

_ENOMEM = const(12)
_ENOTCONN = const(107)
_DEFAULT_ATTR = const(20)
_REPLY_TIMEOUT_MS = const(20000)  # the launcher powers the radio on first


class UUID:
    def __init__(self, value):
        if isinstance(value, int):
            self.s = "%04x" % value
        else:
            self.s = str(value).lower()

    def __str__(self):
        return self.s

    def __eq__(self, other):
        return isinstance(other, UUID) and other.s == self.s


def _hex(b):
    return "".join("%02x" % x for x in b)


def _unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


class _Attr:
    def __init__(self):
        self.value = b""
        self.cap = _DEFAULT_ATTR
        self.append = False


class BLE:
    _instance = None

    def __new__(cls):
        # bluetooth.BLE() is a singleton on MicroPython
        if BLE._instance is None:
            BLE._instance = object.__new__(cls)
            BLE._instance._init()
        return BLE._instance

    def _init(self):
        path = os.getenv("GAITLOOP_BLE_SOCK")
        if not path:
            raise OSError(19)  # ENODEV: no virtual radio here
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # the Unix port's connect() takes a raw sockaddr: struct sockaddr_un
        self._sock.connect(bytes((socket.AF_UNIX & 0xFF, socket.AF_UNIX >> 8)) + path.encode() + b"\0")
        self._queue = int(os.getenv("GAITLOOP_BLE_QUEUE") or 12)
        self._handler = None
        self._events = []
        self._replies = []
        self._sent = 0  # notifications handed to the bridge (main thread only)
        self._done = 0  # of those, sent on air (reader thread only)
        self._conn = -1
        self._mtu = 23
        self._config = {"mtu": 23, "gap_name": "MPY BTSTACK"}
        self._lock = _thread.allocate_lock()
        self._stall_ms = 0  # set by the launcher (BoardRadio.stall_app): see _dispatch
        self._active = False
        self._mac = None
        self._init_store()
        _thread.start_new_thread(self._reader, ())

    def _init_store(self):
        """The attribute values and their critical section (tests use them without a bridge)."""
        self._attrs = {}
        self._attr_lock = _thread.allocate_lock()  # MICROPY_PY_BLUETOOTH_ENTER/EXIT (docstring)
        # testing: gatts_read holds its critical section this long when it has bytes, as a read
        # preempted on a loaded machine would: writes arriving meanwhile wait for it (test_ble.py)
        self._read_hold_ms = int(os.getenv("GAITLOOP_BLE_READ_HOLD_MS") or 0)

    # -- transport ---------------------------------------------------------------------

    def _send(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        with self._lock:
            n = 0
            while n < len(data):
                n += self._sock.write(data[n:])

    def _call(self, obj):
        self._send(obj)
        t0 = time.ticks_ms()
        while not self._replies:
            if time.ticks_diff(time.ticks_ms(), t0) > _REPLY_TIMEOUT_MS:
                raise OSError(110)  # ETIMEDOUT: the bridge is gone
            time.sleep_ms(1)
        return self._replies.pop(0)

    def _reader(self):
        buf = b""
        while True:
            try:
                chunk = self._sock.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                return  # the launcher went away; the board process ends with it
            buf += chunk
            while True:
                i = buf.find(b"\n")
                if i < 0:
                    break
                line = buf[:i]
                buf = buf[i + 1:]
                self._on_message(json.loads(line))

    def _on_message(self, m):
        if "reply" in m:
            self._replies.append(m["reply"])
        elif "stall" in m:
            self._stall_ms = m["stall"]
        elif "done" in m:
            self._done += m["done"]
        elif "irq" in m:
            ev = m["irq"]
            a = m["a"]
            if ev == 1:  # central connect
                self._conn = a[0]
                self._mtu = 23
                self._done = self._sent  # a new connection starts with an empty queue
                data = (a[0], a[1], _unhex(a[2]))
            elif ev == 2:  # central disconnect
                if a[0] == self._conn:
                    self._conn = -1
                data = (a[0], a[1], _unhex(a[2]))
            elif ev == 3:  # gatts write: the value is stored with the stack's limits first
                self._store_write(a[1], _unhex(m["v"]))
                data = (a[0], a[1])
            elif ev == 21:  # mtu exchanged
                self._mtu = a[1]
                data = (a[0], a[1])
            else:
                data = tuple(a)
            self._events.append((ev, data))
            self._schedule()

    def _schedule(self):
        for _ in range(100):
            try:
                micropython.schedule(self._dispatch, None)
                return
            except RuntimeError:  # schedule queue full: the main thread catches up
                time.sleep_ms(1)

    def _dispatch(self, _):
        if self._stall_ms:  # testing: a slow app, while the reader thread stores writes
            ms, self._stall_ms = self._stall_ms, 0
            t0 = time.ticks_ms()
            while time.ticks_diff(time.ticks_ms(), t0) < ms and not self._append_full():
                time.sleep_ms(1)
        while self._events:
            ev, data = self._events.pop(0)
            if self._handler is not None:
                self._handler(ev, data)

    def _append_full(self):
        for a in self._attrs.values():
            if a.append and len(a.value) >= a.cap:
                return True
        return False

    def _store_write(self, handle, value):
        """Store a client write with the stack's limits: cut to the buffer (append: to the room
        left), as NimBLE's access callback does, atomically with respect to `gatts_read`."""
        a = self._attrs.get(handle)
        if a is None:
            return
        with self._attr_lock:
            if a.append:
                room = a.cap - len(a.value)
                a.value = a.value + value[:max(0, room)]
            else:
                a.value = value[:a.cap]

    # -- the bluetooth.BLE API -------------------------------------------------------------

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        self._send({"op": "active", "on": self._active})
        return self._active

    def config(self, *args, **kwargs):
        if args:
            key = args[0]
            if key == "mac":
                if self._mac is None:
                    r = self._call({"op": "mac"})
                    self._mac = (r[0], _unhex(r[1]))
                return self._mac
            return self._config[key]
        for k, v in kwargs.items():
            self._config[k] = v
        self._send({"op": "config", "kw": kwargs})

    def irq(self, handler):
        self._handler = handler

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        if interval_us is None:
            self._send({"op": "adv", "stop": True})
            return
        self._send({"op": "adv", "interval_us": interval_us, "adv": _hex(adv_data or b""),
                    "resp": _hex(resp_data or b""), "connectable": connectable})

    def gatts_register_services(self, services):
        desc = []
        for svc_uuid, chars in services:
            desc.append([str(svc_uuid), [[str(c[0]), c[1]] for c in chars]])
        handles = self._call({"op": "register", "services": desc})
        for hs in handles:
            for h in hs:
                self._attrs[h] = _Attr()
        return tuple(tuple(hs) for hs in handles)

    def gatts_set_buffer(self, handle, length, append=False):
        a = self._attrs[handle]
        a.cap = length
        a.append = bool(append)

    def gatts_read(self, handle):
        a = self._attrs[handle]
        with self._attr_lock:  # read and clear as one step, as mp_bluetooth_gatts_db_read does
            v = a.value
            if v and self._read_hold_ms:
                time.sleep_ms(self._read_hold_ms)
            if a.append:
                a.value = b""
        return v

    def gatts_write(self, handle, data, send_update=False):
        a = self._attrs[handle]
        with self._attr_lock:
            a.value = bytes(data)
        self._send({"op": "write", "h": handle, "v": _hex(data), "update": bool(send_update)})

    def gatts_notify(self, conn_handle, value_handle, data=None):
        if conn_handle != self._conn:
            raise OSError(_ENOTCONN)
        if self._sent - self._done >= self._queue:
            self._send({"op": "enomem"})  # counted by the launcher, for tests
            raise OSError(_ENOMEM)
        if data is None:
            data = self._attrs[value_handle].value
        data = bytes(data)[: self._mtu - 3]
        self._sent += 1
        self._send({"op": "notify", "c": conn_handle, "h": value_handle, "v": _hex(data)})

    def gattc_exchange_mtu(self, conn_handle):
        if conn_handle != self._conn:
            raise OSError(_ENOTCONN)
        self._send({"op": "mtu", "c": conn_handle, "mtu": self._config.get("mtu", 23)})

    def gap_disconnect(self, conn_handle):
        self._send({"op": "disc", "c": conn_handle})
        return True
