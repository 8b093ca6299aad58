"""The board's BLE link on MicroPython's `bluetooth.BLE` IRQ API: the serial byte stream, over GATT.

Why the same byte stream as serial: frames keep their COBS framing and CRC, so the host's
decoder, recorder and every command (pushes included) work over BLE unchanged. Board -> host
bytes go out as notifications on TX (a frame may span notifications, several frames share
one); host -> board bytes arrive as writes on RX (a command may be split across writes).

What the real stack does, and how this module copes (docs/ble.md):
- MTU stays 23 unless someone asks: after a connect the board asks for 247
  (`gattc_exchange_mtu`), and notifications are cut to MTU - 3 bytes.
- Client writes are cut to 20 bytes unless the attribute buffer is enlarged: RX gets
  `gatts_set_buffer(rx, 2048, True)` (append mode: writes between two reads accumulate, and
  several may land before the IRQ handler runs: room for two of the largest command frames).
- `gatts_notify` sends even when the host has not subscribed, and NimBLE reports no
  subscription (no IRQ for CCCD writes: modbluetooth_nimble.c). So nothing streams until the
  host says START (or CMD_RESEND) on RX; the host does that right after subscribing.
- `gatts_notify` raises OSError(ENOMEM) when the controller's buffers are full and no "sent"
  event exists: bytes wait in the frame ring (`framering.FrameRing`), the pump backs off and
  retries. The ring also serves CMD_RESEND for a host that reconnects. That is NimBLE (the
  ESP32-S3's stack); BTstack (the Pico W's) never raises it: it copies the notification into
  the GC heap and sends it later, freed when the connection drops only with our image's patch
  (docs/hardware.md, "BLE's share of the Pico W's RAM").
- IRQs arrive through the scheduler between any two bytecodes, so the handler only records
  state and copies written bytes into an inbox; the `pump` task does the rest.
- Host -> board bytes can be lost on the way with no error to anyone: a write without response
  that does not fit the RX buffer is cut by the stack (NimBLE's access callback), a
  write IRQ lost from a full event queue leaves its bytes in RX until the next write's IRQ, and
  the inbox drops what does not fit. A command damaged so is dropped by its CRC, unanswered:
  the host resends a command that got no answer (`update.client.request`, the stream's
  START / RESEND), and the board counts each loss (`rx_lost` bytes, `rx_full` reads that filled
  RX, `bad_cmds` frames that failed to decode) in CMD_TIMING's answer, key `ble`.

One central at a time: while connected the board does not advertise, and a second central
that connects anyway is disconnected at once.
"""

import asyncio

from micropython import const

from gaitfw import protocol as P
from gaitfw.compat import ticks_add, ticks_diff, ticks_ms, ticks_us
from gaitfw.framering import FrameRing

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)

_ENOMEM = const(12)
_ADV_INTERVAL_US = const(100000)
_ADV_IDLE_US = const(1000000)  # idle (gaitfw/power.py): a central still finds the board within ~1 s
_RX_BUFFER = const(2048)  # two largest command frames: writes may pile up between two IRQ turns
_INBOX = const(2049)  # a ring holds size - 1: one full RX read fits an empty inbox
_WANT_MTU = const(247)
_TICK_MS = const(10)
# A partly filled notification goes out at the end of the sampler turn that queued its bytes
# (`flush`: the turn is the coalescing window, so a SAMPLES frame and the events of the same
# sample share one; bytes queued outside the sampler go at the pump's next 10 ms tick), as long
# as partial notifications stay within a budget of one per _PARTIAL_MS on average
# (50/s, _PARTIAL_BURST_MS of credit saved up). Full notifications never wait. Why: a fixed 40 ms
# flush timer put 30-40 ms into every insole frame's latency (docs/benchmarks.md, "Web dashboard
# latency"); the budget keeps a fast replay, or a board that queues many small frames, from
# spending a stack's notification rate (~90/s on NimBLE) on nearly empty packets: past it,
# bytes wait and packets fill up.
_PARTIAL_MS = const(20)
_PARTIAL_BURST_MS = const(60)
_BACKOFF_MIN_MS = const(5)
_BACKOFF_MAX_MS = const(100)

SERVICE_UUID = "7a6f0001-5d3b-4c8e-9a51-67a17e0b6c01"
TX_UUID = "7a6f0002-5d3b-4c8e-9a51-67a17e0b6c01"
RX_UUID = "7a6f0003-5d3b-4c8e-9a51-67a17e0b6c01"

RESEND_OK = const(0)
RESEND_GONE = const(1)


def adv_payload(name, service_uuid_bytes):
    """Advertising data (flags + 128-bit service UUID) and scan response (complete name).

    Why the name goes in the scan response: 3 + 18 bytes of flags and UUID leave 10 of the 31
    bytes of a legacy advertisement, too few for `gaitloop-insole-left-ab12`.
    """
    adv = bytearray(b"\x02\x01\x06")
    adv.append(len(service_uuid_bytes) + 1)
    adv.append(0x07)  # complete list of 128-bit service UUIDs
    adv.extend(service_uuid_bytes)
    nb = name.encode()[:29]
    resp = bytearray((len(nb) + 1, 0x09))
    resp.extend(nb)
    return bytes(adv), bytes(resp)


def uuid_le(uuid_str):
    """128-bit UUID string -> 16 bytes little endian, as advertising data carries it."""
    h = uuid_str.replace("-", "")
    b = bytearray(16)
    for i in range(16):
        b[15 - i] = int(h[2 * i:2 * i + 2], 16)
    return bytes(b)


def board_name(kind, side, mac):
    """`gaitloop-<kind>-<side>-<4 hex of the device id>`: the last two bytes of the BLE address."""
    return "gaitloop-%s-%s-%02x%02x" % (kind, side, mac[-2], mac[-1])


class BleLink:
    """Owns the BLE object; `put` takes every encoded frame, `pump` sends them and reads commands."""

    def __init__(self, bluetooth, kind, side, on_command, ring_size=16384, ble=None):
        self.bt = bluetooth
        self.ble = ble if ble is not None else bluetooth.BLE()
        self.on_command = on_command  # (seq, cmd, args) for each command frame from the host
        self.on_event = None  # (up, mtu) when a host session starts (1) or the link drops (0)
        self._dropped = False
        self.ring = FrameRing(ring_size)
        self.conn = -1
        self.mtu = 23
        self.live = False  # notifying: set by START / RESEND from the host, cleared on disconnect
        self._want_mtu = False
        self._want_adv = True
        self.adv_us = _ADV_INTERVAL_US
        self._extra_conns = bytearray(0)
        self.inbox = bytearray(_INBOX)
        self.in_head = 0  # written by the IRQ handler only
        self.in_tail = 0  # advanced by the pump only
        self.in_dropped = 0  # bytes the inbox had no room for
        self.rx_full = 0  # RX reads that came back full: the stack may have cut a write
        self.bad_cmds = 0  # command frames dropped by the decoder (CRC, COBS, length)
        self.rx_us = 0  # ticks_us of the latest write's IRQ: when a CMD_TIME probe arrived
        self.rx = bytearray(P.MAX_ENCODED)
        self.rx_len = 0
        self.rx_dec = bytearray(P.MAX_FRAME)
        self.nbuf = bytearray(_WANT_MTU - 3)
        self.notifications = 0
        self.enomem = 0
        self.connects = 0
        self.refused = 0
        self._backoff = 0
        self._retry_at = 0
        self._credit = _PARTIAL_BURST_MS  # ms of partial-notification budget (see _PARTIAL_MS)
        self._credit_at = ticks_ms()
        self.partials = 0  # notifications sent partly filled
        self.queued = False  # bytes were put since the last send: the sampler's turn flushes them
        ble = self.ble
        ble.active(True)
        ble.config(mtu=_WANT_MTU)
        mac = ble.config("mac")[1]
        self.name = board_name(kind, side, mac)
        ble.config(gap_name=self.name)
        ble.irq(self._irq)
        u = bluetooth.UUID
        flags_tx = bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY
        flags_rx = bluetooth.FLAG_WRITE | bluetooth.FLAG_WRITE_NO_RESPONSE
        ((self.tx_h, self.rx_h),) = ble.gatts_register_services(
            ((u(SERVICE_UUID), ((u(TX_UUID), flags_tx), (u(RX_UUID), flags_rx))),)
        )
        ble.gatts_set_buffer(self.rx_h, _RX_BUFFER, True)
        self.adv, self.resp = adv_payload(self.name, uuid_le(SERVICE_UUID))

    # -- IRQ context: record and copy, nothing else -------------------------------------

    def _irq(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            conn = data[0]
            if self.conn >= 0:
                self._extra_conns.append(conn & 0xFF)
                return
            self.conn = conn
            self.mtu = 23
            self.live = False
            self._want_mtu = True
            self.connects += 1
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self.conn:
                self.conn = -1
                self.live = False
                self._want_adv = True
                self._dropped = True
        elif event == _IRQ_GATTS_WRITE:
            if data[1] == self.rx_h and data[0] == self.conn:
                self.rx_us = ticks_us()
                data = self.ble.gatts_read(self.rx_h)
                if len(data) >= _RX_BUFFER:
                    self.rx_full += 1
                self._inbox_put(data)
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self.conn:
                self.mtu = data[1]

    def _inbox_put(self, data):
        """Copy a write into the inbox; what does not fit is dropped and counted (the frame it
        cuts fails its CRC, the host resends the command it got no answer to)."""
        head = self.in_head
        tail = self.in_tail
        size = _INBOX
        n = len(data)
        for i in range(n):
            nxt = (head + 1) % size
            if nxt == tail:
                self.in_dropped += n - i  # the host writes faster than the pump reads
                break
            self.inbox[head] = data[i]
            head = nxt
        self.in_head = head

    # -- app side ---------------------------------------------------------------------

    def rx_counts(self):
        """Host -> board losses since boot, for CMD_TIMING's answer (see the module docstring)."""
        return {"rx_lost": self.in_dropped, "rx_full": self.rx_full, "bad_cmds": self.bad_cmds}

    def put(self, enc, n, seq):
        """Keep one encoded frame for sending (and resending). Allocation-free."""
        self.ring.put(enc, n, seq)
        self.queued = True

    def start_live(self):
        """CMD_START from the host: notify from the next frame on (older ones only on RESEND)."""
        if not self.live:
            self.ring.skip_all()
            self.live = True

    def resend(self, from_seq, next_seq):
        """CMD_RESEND: rewind to `from_seq`. RESEND_GONE when it is no longer kept."""
        self.live = True
        if from_seq == next_seq:  # the host already holds every frame
            self.ring.skip_all()
            return RESEND_OK
        return RESEND_OK if self.ring.seek(from_seq) else RESEND_GONE

    # -- the pump task -------------------------------------------------------------------

    def _read_commands(self):
        """Decode what the inbox holds. The tail moves byte by byte, before the command a
        byte completes runs: writes arriving while a slow command (a SET saving config.json)
        runs find the room already read, not an inbox still full of handled bytes."""
        tail = self.in_tail
        head = self.in_head
        while tail != head:
            b = self.inbox[tail]
            tail = (tail + 1) % _INBOX
            self.in_tail = tail
            self._rx_byte(b)

    def _rx_byte(self, b):
        n = self.rx_len
        if b == 0:
            self.rx_len = 0
            f = P.parse_command(self.rx, n, self.rx_dec) if n else None
            if f is not None:
                self.on_command(f.seq, f.payload[0], f.payload[1:])
            elif n:
                self.bad_cmds += 1
            return
        if n >= len(self.rx):
            self.bad_cmds += 1
            self.rx_len = 0  # oversized garbage: resync at the next 0x00
            return
        self.rx[n] = b
        self.rx_len = n + 1

    def _housekeeping(self):
        ble = self.ble
        if self._dropped:
            self._dropped = False
            if self.on_event is not None:
                self.on_event(0, 0)
        while self._extra_conns:
            c = self._extra_conns.pop()
            self.refused += 1
            try:
                ble.gap_disconnect(c)
            except OSError:
                pass
        if self._want_mtu and self.conn >= 0:
            self._want_mtu = False
            try:
                ble.gattc_exchange_mtu(self.conn)
            except OSError:
                pass  # stays at 23: notifications are cut smaller, nothing is lost
        if self._want_adv and self.conn < 0:
            self._want_adv = False
            ble.gap_advertise(self.adv_us, adv_data=self.adv, resp_data=self.resp)

    def set_idle(self, idle):
        """Advertise every 1 s while the board idles, every 100 ms otherwise (re-advertised at
        the next pump turn when not connected): the radio's share of the idle current."""
        us = _ADV_IDLE_US if idle else _ADV_INTERVAL_US
        if us != self.adv_us:
            self.adv_us = us
            self._want_adv = True

    def _notify_some(self):
        """Send what the ring holds in notifications of at most MTU - 3 bytes: every full one,
        and the partly filled rest when the budget allows (_PARTIAL_MS). False on ENOMEM."""
        ring = self.ring
        chunk = min(self.mtu - 3, len(self.nbuf))
        now = ticks_ms()
        credit = self._credit + ticks_diff(now, self._credit_at)
        if credit > _PARTIAL_BURST_MS:
            credit = _PARTIAL_BURST_MS
        self._credit_at = now
        ok = True
        while True:
            p = ring.pending()
            if p < chunk and (p == 0 or credit < _PARTIAL_MS):
                break
            k = ring.peek(self.nbuf, chunk)
            if k == len(self.nbuf):
                data = self.nbuf
            else:
                data = memoryview(self.nbuf)[:k]  # one small view per notification, not per sample
            try:
                self.ble.gatts_notify(self.conn, self.tx_h, data)
            except OSError as exc:
                if exc.args[0] == _ENOMEM:
                    self.enomem += 1
                    ok = False
                    break
                self.live = False  # not connected any more: the disconnect IRQ follows
                break
            ring.advance(k)
            self.notifications += 1
            if k < chunk:
                credit -= _PARTIAL_MS
                self.partials += 1
        self._credit = credit
        return ok

    def poll(self):
        """One pump turn: commands in, housekeeping, notifications out (with back-off)."""
        if self.in_tail != self.in_head:
            self._read_commands()
        self._housekeeping()
        self.flush()

    def flush(self):
        """Notify what is queued, now: called by the sampler at the end of a turn that queued
        bytes (`queued`), and by the pump. Why not wait for the pump's tick: that wait was
        0-10 ms of every frame's latency, ~9 ms at its median (docs/benchmarks.md, "Web
        dashboard latency"). Commands and housekeeping stay in the pump, off the sampler."""
        self.queued = False
        if not (self.live and self.conn >= 0):
            return
        now = ticks_ms()
        if self._backoff and ticks_diff(now, self._retry_at) < 0:
            return
        if self._notify_some():
            self._backoff = 0
        else:
            b = self._backoff * 2 if self._backoff else _BACKOFF_MIN_MS
            self._backoff = b if b < _BACKOFF_MAX_MS else _BACKOFF_MAX_MS
            self._retry_at = ticks_add(now, self._backoff)

    async def pump(self, running):
        """Run `poll` every few ms while running() is true (every 100 ms while idle)."""
        while running():
            self.poll()
            await asyncio.sleep_ms(_TICK_MS if self.adv_us == _ADV_INTERVAL_US else 10 * _TICK_MS)

    def close(self):
        try:
            if self.conn >= 0:
                self.ble.gap_disconnect(self.conn)
            self.ble.gap_advertise(None)
            self.ble.active(False)
        except OSError:
            pass
