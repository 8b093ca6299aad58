"""gaitloop wire protocol: one module, byte-for-byte the same on the board and on the host.

Why COBS: a 0x00 byte ends every frame and appears nowhere else, so a receiver that joins
mid-stream or loses bytes resynchronises at the next 0x00 and never merges two frames.
Why CRC-16/CCITT-FALSE: table-driven in a few integer operations per byte on the board, and
CPython computes the same value in C (`binascii.crc_hqx(data, 0xFFFF)`).

Decoded frame (little endian), documented in docs/protocol.md:

    0  u8   MAGIC 0x47 ('G')      first data byte; makes a console Ctrl-C unambiguous
    1  u8   VERSION
    2  u8   message type (MSG_*)
    3  u16  sequence number (per sender, wraps)
    5  u32  board time in ms (sender's clock)
    9  ...  payload (<= MAX_PAYLOAD bytes)
    -2 u16  CRC over bytes 0 .. end of payload

The encoder (`FrameWriter`) works in preallocated buffers: no heap use per frame or sample.
"""

import micropython
from micropython import const

from gaitfw.compat import MICROPYTHON

if not MICROPYTHON:
    from gaitfw.compat import ptr8, ptr16  # noqa: F401  (viper annotations on CPython)

MAGIC = const(0x47)
VERSION = const(1)
HEADER_LEN = const(9)
CRC_LEN = const(2)
MAX_PAYLOAD = const(1024)
MAX_FRAME = const(1035)  # HEADER_LEN + MAX_PAYLOAD + CRC_LEN
MAX_ENCODED = const(1041)  # MAX_FRAME + MAX_FRAME // 254 + 2 (COBS overhead + delimiter)

# Message types
MSG_HELLO = const(0x01)  # JSON: device, kind, side, fw, proto, rate, channels, units, scale
MSG_SAMPLES = const(0x02)  # u32 first sample index, u8 n_channels, u8 n_samples, int16[n][c]
MSG_EVENT = const(0x03)  # u8 code, u8 side, i32 a, i32 b   (header time = event time)
MSG_STATUS = const(0x04)  # u32 flags, u32 samples, u16 ev_dropped, u16 tx_dropped, u32 free, u32 alloc,
# u8 power, u8 wake reason, u16 rate now, u32 overruns
MSG_CMD = const(0x05)  # u8 command id, arguments (host -> board)
MSG_ACK = const(0x06)  # u16 command seq, u8 command id, reply bytes
MSG_NAK = const(0x07)  # u16 command seq, u8 command id, u8 error code, UTF-8 reason

MSG_NAMES = {
    MSG_HELLO: "hello",
    MSG_SAMPLES: "samples",
    MSG_EVENT: "event",
    MSG_STATUS: "status",
    MSG_CMD: "cmd",
    MSG_ACK: "ack",
    MSG_NAK: "nak",
}

# Commands (MSG_CMD first payload byte)
CMD_PING = const(1)  # -> ACK
CMD_HELLO = const(2)  # -> HELLO, ACK
CMD_START = const(3)  # start streaming samples
CMD_STOP = const(4)  # stop streaming samples (events and status go on)
CMD_STATUS = const(5)  # -> STATUS, ACK
CMD_SET = const(6)  # JSON object merged into the running config -> ACK | NAK
CMD_RESEND = const(7)  # u16 from-seq: BLE link resends kept frames from there -> ACK | NAK 12
CMD_TIME = const(8)  # -> ACK u32 latest sample index, u32 us since it was taken (clock probe)
# 16-23: signed A/B-slot updates (gaitfw/update.py, docs/update.md)
CMD_UPD_BEGIN = const(16)  # manifest -> ACK u32 next offset (resume) | NAK
CMD_UPD_DATA = const(17)  # u32 offset, u16 CRC-16, bytes -> ACK u32 next expected offset
CMD_UPD_END = const(18)  # verify, self-test, activate -> ACK JSON | NAK
CMD_UPD_ABORT = const(19)  # drop the transfer in progress -> ACK
CMD_UPD_ROLLBACK = const(20)  # u8 kind, 32-byte tag -> ACK JSON | NAK
CMD_UPD_INFO = const(21)  # -> ACK JSON: firmware, board, slots per artifact kind
CMD_UPD_FIRST = const(16)
CMD_UPD_LAST = const(23)
# 28-31: timing and power (gaitfw/pacer.py, gaitfw/power.py, docs/hardware.md)
CMD_POWER = const(28)  # u8 0 query / 1 idle now / 2 wake -> ACK u8 state, u8 reason | NAK 18
CMD_TIMING = const(29)  # u8 1 = reset after reading -> ACK JSON: the sample loop's timing
CMD_HAL_RAW = const(30)  # -> ACK JSON {channel: [driver, raw reading]}: standing calibration | NAK 3

CMD_NAMES = {
    CMD_PING: "ping",
    CMD_HELLO: "hello",
    CMD_START: "start",
    CMD_STOP: "stop",
    CMD_STATUS: "status",
    CMD_SET: "set",
    CMD_RESEND: "resend",
    CMD_TIME: "time",
    CMD_UPD_BEGIN: "upd_begin",
    CMD_UPD_DATA: "upd_data",
    CMD_UPD_END: "upd_end",
    CMD_UPD_ABORT: "upd_abort",
    CMD_UPD_ROLLBACK: "upd_rollback",
    CMD_UPD_INFO: "upd_info",
    CMD_POWER: "power",
    CMD_TIMING: "timing",
    CMD_HAL_RAW: "hal_raw",
}

# NAK error codes
ERR_UNKNOWN_CMD = const(1)
ERR_BAD_ARGS = const(2)
ERR_STATE = const(3)
ERR_STORAGE = const(4)
ERR_INTERNAL = const(5)
ERR_RESEND_GONE = const(12)  # CMD_RESEND: that frame is no longer kept (the host marks a gap)
# 6-11: updates (gaitfw/update.py)
ERR_UPD_AUTH = const(6)  # no key, or the manifest / rollback tag does not verify
ERR_UPD_TARGET = const(7)  # image for another board kind, or a kind this board does not take
ERR_UPD_FORMAT = const(8)  # not a manifest, or an unknown kind / format version
ERR_UPD_DOWNGRADE = const(9)  # version lower than the active one
ERR_UPD_VERIFY = const(10)  # chunk CRC, length or payload SHA-256 mismatch
ERR_UPD_SELFTEST = const(11)  # the new artifact failed its self-test; the old one runs
ERR_POWER_STATE = const(18)  # CMD_POWER idle refused: a host is connected over BLE

ERR_NAMES = {
    ERR_UNKNOWN_CMD: "unknown command",
    ERR_BAD_ARGS: "bad arguments",
    ERR_STATE: "not allowed in this state",
    ERR_STORAGE: "storage error",
    ERR_INTERNAL: "internal error",
    ERR_RESEND_GONE: "beyond the resend buffer",
    ERR_UPD_AUTH: "not authentic",
    ERR_UPD_TARGET: "wrong target",
    ERR_UPD_FORMAT: "unknown format",
    ERR_UPD_DOWNGRADE: "downgrade",
    ERR_UPD_VERIFY: "verification failed",
    ERR_UPD_SELFTEST: "self-test failed",
    ERR_POWER_STATE: "connected: stays active",
}

# STATUS flag bits 0-7 (core). Bits 8-15: CSM, 16-23: MGait, 24-31: learned models.
ST_REPLAY_END = const(0x01)  # replay data ran out (and looped, if looping)
ST_SAMPLE_LATE = const(0x02)  # the sampler fell behind its period
ST_TX_OVERFLOW = const(0x04)  # frames were dropped before sending
ST_EV_OVERFLOW = const(0x08)  # events were dropped (ring full)
ST_CONFIG_DEFAULT = const(0x10)  # config.json missing or invalid: defaults in use
ST_SENSOR_FAULT = const(0x20)  # a processor reports a sensor fault
ST_PROCESSOR_ERROR = const(0x40)  # processors failed to start (see HELLO "error"): raw only
ST_UPDATING = const(0x80)  # an update transfer is open (gaitfw/update.py)


def _make_crc_table():
    from array import array

    table = array("H", [0] * 256)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table[i] = c & 0xFFFF
    return table


CRC_TABLE = _make_crc_table()


def _crc16_plain(buf, start, end, crc, table):
    for i in range(start, end):
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc


@micropython.viper
def _crc16_viper(buf: ptr8, start: int, end: int, crc: int, table: ptr16) -> int:
    i = start
    while i < end:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ buf[i]) & 0xFF]
        i += 1
    return crc


_crc16 = _crc16_viper if MICROPYTHON else _crc16_plain


def crc16(buf, start, end, crc=0xFFFF):
    """CRC-16/CCITT-FALSE over buf[start:end] without slicing (no allocation)."""
    return _crc16(buf, start, end, crc, CRC_TABLE)


def _cobs_encode_plain(src, n, dst):
    code_pos = 0
    out = 1
    code = 1
    for i in range(n):
        b = src[i]
        if b == 0:
            dst[code_pos] = code
            code_pos = out
            out += 1
            code = 1
        else:
            dst[out] = b
            out += 1
            code += 1
            if code == 0xFF:
                dst[code_pos] = code
                code_pos = out
                out += 1
                code = 1
    dst[code_pos] = code
    dst[out] = 0
    return out + 1


@micropython.viper
def _cobs_encode_viper(src: ptr8, n: int, dst: ptr8) -> int:
    code_pos = 0
    out = 1
    code = 1
    i = 0
    while i < n:
        b = src[i]
        if b == 0:
            dst[code_pos] = code
            code_pos = out
            out += 1
            code = 1
        else:
            dst[out] = b
            out += 1
            code += 1
            if code == 0xFF:
                dst[code_pos] = code
                code_pos = out
                out += 1
                code = 1
        i += 1
    dst[code_pos] = code
    dst[out] = 0
    return out + 1


_cobs_encode = _cobs_encode_viper if MICROPYTHON else _cobs_encode_plain


def cobs_encode_into(src, n, dst):
    """COBS-encode src[0:n] into dst, append the 0x00 delimiter; return the length written.

    dst must hold n + n // 254 + 2 bytes (the caller sizes it; no check on the hot path).
    """
    return _cobs_encode(src, n, dst)


def cobs_decode_into(src, n, dst):
    """Decode one COBS block src[0:n] (no delimiter) into dst; return length, or -1 if invalid."""
    i = 0
    out = 0
    cap = len(dst)
    while i < n:
        code = src[i]
        i += 1
        if code == 0 or i + code - 1 > n or out + code > cap:
            return -1
        for _ in range(code - 1):
            dst[out] = src[i]
            out += 1
            i += 1
        if code != 0xFF and i < n:
            dst[out] = 0
            out += 1
    return out


if not MICROPYTHON:  # the CPython twin; the board runs the viper one

    def _seal_plain(raw, end, box, table, enc):
        seq = box[0]
        raw[3] = seq & 0xFF
        raw[4] = seq >> 8
        box[0] = (seq + 1) & 0xFFFF
        crc = _crc16_plain(raw, 0, end, 0xFFFF, table)
        raw[end] = crc & 0xFF
        raw[end + 1] = crc >> 8
        return _cobs_encode_plain(raw, end + CRC_LEN, enc)


@micropython.viper
def _seal_viper(raw: ptr8, end: int, box: ptr16, table: ptr16, enc: ptr8) -> int:
    # -- the seal: app._tick_viper holds this block verbatim (a full SAMPLES frame is sealed
    # there; tests/firmware/test_sample_path.py compares the two texts)
    # Widths (31-bit small ints on the boards): crc < 2^16, indices < MAX_ENCODED.
    # One pass over the frame does the CRC and the COBS of each byte (two passes cost a
    # third more), then the two CRC bytes go through the same COBS step. The COBS code byte
    # is `out - code_pos` (not a counter of its own), and `(crc >> 8) ^ by` is below 256
    # (crc < 2^16, by a byte): one operation less per byte each; ~80 instructions a byte
    # before on the Unix port (a SAMPLES frame is 57-67 bytes, a HELLO ~350).
    seq = box[0]
    raw[3] = seq & 0xFF
    raw[4] = seq >> 8
    box[0] = (seq + 1) & 0xFFFF
    crc = 0xFFFF
    code_pos = 0
    out = 1
    i = 0
    while i < end:
        by = raw[i]
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ by]
        if by == 0:
            enc[code_pos] = out - code_pos
            code_pos = out
        else:
            enc[out] = by
            if out - code_pos == 0xFE:  # 254 bytes without a zero: a full block
                out += 1
                enc[code_pos] = 0xFF
                code_pos = out
        out += 1
        i += 1
    raw[end] = crc & 0xFF
    raw[end + 1] = crc >> 8
    end += 2  # CRC_LEN: the CRC's two bytes, the same COBS step
    while i < end:
        by = raw[i]
        if by == 0:
            enc[code_pos] = out - code_pos
            code_pos = out
        else:
            enc[out] = by
            if out - code_pos == 0xFE:
                out += 1
                enc[code_pos] = 0xFF
                code_pos = out
        out += 1
        i += 1
    enc[code_pos] = out - code_pos
    enc[out] = 0
    # -- end of the seal
    return out + 1


_seal = _seal_viper if MICROPYTHON else _seal_plain


def _put_u16_plain(buf, off, v):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF


def _put_u32_plain(buf, off, v):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF
    buf[off + 3] = (v >> 24) & 0xFF


# The board's twins: eight bytecode stores and shifts cost ~3 000 instructions there, one
# native call ~600 (STATUS writes eleven fields a second, every EVENT three). An int argument
# beyond the word is truncated to its low bits, as the masks above keep them.
@micropython.viper
def _put_u16_viper(buf: ptr8, off: int, v: int):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF


@micropython.viper
def _put_u32_viper(buf: ptr8, off: int, v: int):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF
    buf[off + 3] = (v >> 24) & 0xFF


put_u16 = _put_u16_viper if MICROPYTHON else _put_u16_plain
put_u32 = _put_u32_viper if MICROPYTHON else _put_u32_plain


def _copy_plain(dst, off, src, n):
    dst[off:off + n] = src[:n]


@micropython.viper
def _copy_viper(dst: ptr8, off: int, src: ptr8, n: int):
    # Widths: off + n <= len(dst), a frame buffer (< MAX_ENCODED).
    i = 0
    while i < n:
        dst[off + i] = src[i]
        i += 1


_copy = _copy_viper if MICROPYTHON else _copy_plain


def get_u16(buf, off):
    return buf[off] | (buf[off + 1] << 8)


def get_u32(buf, off):
    return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)


def get_i32(buf, off):
    v = get_u32(buf, off)
    return v - 0x100000000 if v & 0x80000000 else v


def get_i16(buf, off):
    v = buf[off] | (buf[off + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


class FrameWriter:
    """Builds frames in place: `begin`, fill the payload at HEADER_LEN, then `finish`.

    Why in place: the sample path writes int16 counts straight into the frame buffer, so a
    batch of samples costs no allocation from sensor to wire. Writers that send on one link
    share a sequence box (`seqbox`), and the number is taken when a frame is finished, i.e.
    in the order frames go out, so the receiver sees every gap.
    """

    def __init__(self, max_payload=MAX_PAYLOAD, seqbox=None, enc=None):
        """`enc`: the encoded-frame buffer of another writer with at least this payload, shared
        (the App's writers: each frame is sent before the next is sealed)."""
        from array import array

        self.raw = bytearray(HEADER_LEN + max_payload + CRC_LEN)
        need = len(self.raw) + len(self.raw) // 254 + 2
        if enc is not None and len(enc) < need:
            raise ValueError("shared enc buffer too small")
        self.enc = enc if enc is not None else bytearray(need)
        self.seqbox = seqbox if seqbox is not None else array("H", [0])
        self.max_payload = max_payload

    @property
    def seq(self):
        """Sequence number the next finished frame will carry."""
        return self.seqbox[0]

    def begin(self, msg_type, t_ms):
        raw = self.raw
        raw[0] = MAGIC
        raw[1] = VERSION
        raw[2] = msg_type
        put_u32(raw, 5, t_ms)

    def finish(self, payload_len):
        """Number, CRC and COBS the frame begun with `begin`; return the length in `enc`.

        One native call (`_seal`) does all three: on the board every Python-level operation
        costs ~100 instructions, the whole frame's bytes a few each (docs/benchmarks.md)."""
        return _seal(self.raw, HEADER_LEN + payload_len, self.seqbox, CRC_TABLE, self.enc)

    def frame(self, msg_type, t_ms, payload):
        """Whole frame from a payload buffer (not for the sample path: it copies, natively:
        a bytecode loop cost ~450 instructions a byte on the board, ~160 000 for a HELLO)."""
        n = len(payload)
        if n > self.max_payload:
            raise ValueError("payload too long")
        self.begin(msg_type, t_ms)
        _copy(self.raw, HEADER_LEN, payload, n)
        return self.finish(n)

    def event(self, t_ms, code, side, a, b):
        raw = self.raw
        self.begin(MSG_EVENT, t_ms)
        raw[HEADER_LEN] = code & 0xFF
        raw[HEADER_LEN + 1] = side & 0xFF
        # no `& 0xFFFFFFFF`: put_u32 keeps the low 32 bits itself, and on a board (31-bit small
        # ints) that mask is a big int: 64 B of heap per EVENT (issue #15, the emulated RP2040)
        put_u32(raw, HEADER_LEN + 2, a)
        put_u32(raw, HEADER_LEN + 6, b)
        return self.finish(10)


class ParsedFrame:
    """A validated frame: `kind`, `seq`, `t_ms` and the payload bytes."""

    __slots__ = ("kind", "seq", "t_ms", "payload")

    def __init__(self, kind, seq, t_ms, payload):
        self.kind = kind
        self.seq = seq
        self.t_ms = t_ms
        self.payload = payload


# parse_frame results other than a ParsedFrame
BAD_LENGTH = const(-1)
BAD_CRC = const(-2)
BAD_MAGIC = const(-3)
BAD_VERSION = const(-4)


def parse_command(rx, n, dec):
    """One received COBS frame (rx[:n], no delimiter) decoded into `dec`: the Frame if it is a
    command with a command byte, else None. The board's console and BLE inputs share it, so
    a damaged or foreign frame is ignored the same way on both."""
    m = cobs_decode_into(rx, n, dec)
    if m < 0:
        return None
    f = parse_frame(dec, m)
    if isinstance(f, int) or f.kind != MSG_CMD or not f.payload:
        return None
    return f


def parse_frame(raw, n):
    """Check a decoded frame raw[0:n]; return ParsedFrame or a BAD_* code (never raises)."""
    if n < HEADER_LEN + CRC_LEN:
        return BAD_LENGTH
    end = n - CRC_LEN
    if crc16(raw, 0, end) != get_u16(raw, end):
        return BAD_CRC
    if raw[0] != MAGIC:
        return BAD_MAGIC
    if raw[1] != VERSION:
        return BAD_VERSION
    return ParsedFrame(raw[2], get_u16(raw, 3), get_u32(raw, 5), bytes(raw[HEADER_LEN:end]))


def samples_header(raw, first_index, n_channels, n_samples):
    """Write the SAMPLES payload header; samples follow at HEADER_LEN + 6."""
    put_u32(raw, HEADER_LEN, first_index)
    raw[HEADER_LEN + 4] = n_channels
    raw[HEADER_LEN + 5] = n_samples


SAMPLES_HEADER = const(6)
EVENT_LEN = const(10)
STATUS_LEN = const(28)  # with the power fields below; boards before them sent 20
STATUS_BASE_LEN = const(20)
# STATUS bytes 20-27 (timing and power, gaitfw/power.py): u8 power state, u8 wake reason,
# u16 sample rate now (Hz), u32 sampler overruns (samples taken a period or more late, plus
# ticks skipped); the core flag bits 0-7 are all taken, so the power state is a field
POWER_ACTIVE = const(0)
POWER_IDLE = const(1)
WAKE_NONE = const(0)
WAKE_MOTION = const(1)  # force or motion above the threshold at the idle rate
WAKE_LINK = const(2)  # a BLE central connected
WAKE_COMMAND = const(3)  # CMD_POWER 2 (or any command over the console while idle)

