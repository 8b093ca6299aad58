"""The board application: sample the HAL at the board's rate, run the processors, stream frames,
answer commands. Runs under asyncio; the sample path allocates nothing.

Why board time comes from the sample counter: a replay at N x speed then still reports the
times the sensors saw (stance and swing times stay true), and a real board's sampler is the
clock the algorithms use anyway.

Console sharing: the board's console is also its data link (as over USB CDC). A Ctrl-C from
a terminal or mpremote (b"\\r\\x03") stops the app so the REPL takes over. Frames from the host
always carry MAGIC as their second byte, so a 0x03 there can never be part of a frame.
"""

import asyncio
import gc
import json
import sys
from array import array
from struct import pack_into as _pack_into

import micropython
from micropython import const

from gaitfw import events as E
from gaitfw import protocol as P
from gaitfw.compat import MICROPYTHON, mem_alloc, mem_free, ticks_add, ticks_diff, ticks_ms
from gaitfw.pacer import Pacer
from gaitfw.power import Power

if not MICROPYTHON:
    from gaitfw.compat import ptr8, ptr16, ptr32  # noqa: F401  (viper annotations on CPython)
else:  # the drivers' steps that may raise, outside the native tick (drvnative: why)
    from gaitfw.drvnative import _bits, _burst

try:
    from time import ticks_us
except ImportError:  # CPython: only imported there, never run

    def ticks_us():
        return ticks_ms() * 1000


FW_VERSION = "0.1.0"
_FW_CODE = const(1)  # major*100 + minor

_EV_RING = const(64)
_CTRL_C = const(0x03)
_STATUS_EVERY_MS = const(1000)
_HELLO_EVERY_MS = const(5000)
_MEM_EVERY = const(60)  # STATUS frames between heap walks while idle (see send_status)
_MAX_CATCHUP = const(256)  # samples processed per scheduler turn before yielding
_RX_PER_TURN = const(256)  # command bytes read before the sampler gets a turn
_SAMPLES_AT = const(15)  # protocol.HEADER_LEN + protocol.SAMPLES_HEADER
# A STATUS frame before the seal (protocol.py: header, then the STATUS payload's fields in
# order: flags, samples sent, events dropped, frames dropped, heap free, heap used, power
# state, wake reason, rate now, overruns). The header's first u32 is MAGIC, VERSION,
# MSG_STATUS and the sequence number's low byte, which the seal writes over, as the pad byte
# after it (the high byte); the time follows.
_STATUS_FMT = "<IxIIIHHIIBBHI"
_STATUS_HEAD = const(0x040147)  # protocol.MAGIC | VERSION << 8 | MSG_STATUS << 16 (tested)

# The sample clock and the open SAMPLES frame live in one array('i') (`App._st`) that the
# native `_tick` reads and writes: a Python attribute costs ~100 instructions on the board,
# an array word in viper a few. Every word stays in [0, 2^30) (viper loads of ptr32 are
# zero-extended on 64-bit ports; the boards' small ints are 31 bits, so values the
# processors get stay small ints and allocate nothing): `index` wraps at 2^30 (124 days at
# 100 Hz), the board time at 10^9 ms (11.6 days); the host sees a time jump, as after a reboot.
_I_INDEX = const(0)  # samples taken since boot
_I_T = const(1)  # board time of the latest sample, ms
_I_RATE = const(2)
_I_BATCH = const(3)  # samples in the open SAMPLES frame
_I_BATCH_N = const(4)  # samples per SAMPLES frame
_I_NCH = const(5)
_I_NEXT_STATUS = const(6)  # board time the next STATUS is due
_I_NEXT_HELLO = const(7)
_I_STREAM = const(8)  # 1: samples are framed
_I_FIRST = const(9)  # index of the first sample in the open frame
_I_SUB = const(10)  # index % rate
_I_T_SEC = const(11)  # (index // rate) * 1000
_I_ROWS = const(12)  # 1: `_tick` reads the sample itself, a row of the HAL's buffer (`src`)
_I_POS = const(13)  # the HAL's row cursor (ReplayHal.bind_cursor): byte position,
_I_AVAIL = const(14)  # bytes of rows in its buffer,
_I_RCH = const(15)  # channels per row
_I_FEED = const(16)  # how `_tick` asks for the processors (_FEED_*)
_I_EVN = const(17)  # events queued in the EventRing (its `count`)
_I_FS = const(18)  # _FEED_FOOT: the foot's state (csm._foot_viper's S), its templates (T)
_I_FT = const(19)  # and exp table (L), each as its address minus `_st`'s plus 2^29
_I_FL = const(20)  # (`_bind`: one word, in [0, 2^30) like the others)
_I_SP = const(21)  # the same for the sample (`App.sample`), the SAMPLES frame (`_raw`) and
_I_RAW = const(22)  # the HAL's row buffer (`_src`): `_tick` takes `_st` alone, one pointer
_I_SRC = const(23)  # argument where four cost ~120 instructions each plus their attributes
# A full SAMPLES frame is sealed inside `_tick` (protocol._seal_viper's body): the sequence
# box, the CRC table and the encoded-frame buffer bound as the buffers above, the encoded
# length left for the send; samples sent counted here too (it wraps at 2^30 as the index)
_I_SEQ = const(24)
_I_CRC = const(25)
_I_ENC = const(26)
_I_ENCN = const(27)  # bytes of the frame `_tick` sealed (`_R_FLUSH`), at `_I_ENC`
_I_SENT = const(28)  # samples sent in SAMPLES frames
_I_WORDS = const(29)

# `_I_FEED`: no processors; call `feed` every sample; the foot kernel runs inside `_tick`
# (csm._foot_viper's body on the foot's buffers, found by address: viper takes 4 arguments),
# and `feed` (FootProcessor.feed_native) runs only on a sample that changes something
_FEED_NONE = const(0)
_FEED_ALL = const(1)
_FEED_FOOT = const(2)

# `_tick` result bits (-1: the HAL's buffer holds no row: read through the HAL, then tick)
_R_FLUSH = const(1)
_R_STATUS = const(2)
_R_HELLO = const(4)
_R_FEED = const(8)  # call the processors' `feed`
_R_DUE = const(6)  # _R_STATUS | _R_HELLO
_R_EVENTS = const(16)  # the EventRing holds events (`step` also checks after a `feed`)
_R_OUT = const(32)  # the drivers' buzzer and LED step is due (gaitfw/boardhal.py `outputs`)

# `_I_ROWS` 2: `_tick` first reads the board drivers (gaitfw/drvnative.py) into the sample: their
# records' array (BoardHal's W) is bound at `_I_SRC`, their callables are `_tick`'s second
# argument. The records' layout, prefixed _D_ (the same values as drvnative's: tested).
_D__H = const(6)
_D__REC = const(25)
_D_H_LATCH = const(2)
_D__KIND = const(0)
_D__CH = const(1)
_D_FAULT = const(2)
_D_NFAULT = const(3)
_D__STUCK_N = const(4)
_D__STUCK_LAST = const(5)
_D__STUCK_COUNT = const(6)
_D_RAW = const(7)
_D__VALUE = const(8)
_D_Q_A = const(9)
_D_OUT_A = const(10)
_D_DQ = const(11)
_D_DOUT = const(12)
_D_CLIP = const(13)
_D_CLIP_LOW = const(14)
_D__RAIL = const(15)
_D_RAIL_N = const(16)
_D_PULSES = const(9)
_D_TARE = const(10)
_D_DIV = const(11)
_D__WAITS = const(12)
_D_TIMEOUT_N = const(13)
_D_XFER = const(14)
_D_RXA = const(15)
_D_TXL = const(16)
_D_NEED_INIT = const(9)
_D_NACKS = const(10)
_D__IMU = const(11)
_D_TEMP = const(17)
_D_SRC = const(18)
_D_NEG = const(21)
_D_CI = const(24)
_D_DIVIDER = const(1)
_D_HX711 = const(2)
_D_MPU6050 = const(3)
_D__B = const(0x20000000)
_D__M = const(0x3FFFFFFF)
_D_H_N = const(0)
_D_H_OUT = const(1)
_D_H_OUTC = const(5)
_D_OUT_REST = const(256)
_D__H_NREC = const(4)


# `_bind(st, k, buf)`: word k of `st` leads the native tick to `buf`: its address minus st's,
# plus 2^29 so the word is never negative (a ptr32 load zero-extends on 64-bit ports; 2^29 is
# a small int on 32-bit ones), and a sum with a pointer, which the 32-bit emulation
# (gaitloop.word32) keeps as an address. The App keeps `buf` alive. False when the distance
# is 2^29 or more (never within one heap). The CPython twin registers `buf` under a number,
# where `_tick_plain` finds it.
if MICROPYTHON:

    @micropython.viper
    def _addr(b: ptr8) -> int:
        return int(b)

    def _bind(st, k, buf):
        d = _addr(buf) - _addr(st) + 0x20000000
        if not 0 <= d < 0x40000000:
            return False
        st[k] = d
        return True

else:
    import weakref

    from gaitfw import drvnative
    from gaitfw.csm import _foot_plain
    from gaitfw.protocol import _seal_plain

    _BUFS = weakref.WeakValueDictionary()
    _NEXT = [0]

    class _Ref:
        __slots__ = ("b", "__weakref__")

        def __init__(self, b):
            self.b = b

    def _bind(st, k, buf):
        """The registration lasts while the caller keeps the returned (true) value."""
        _NEXT[0] += 1
        ref = _BUFS[_NEXT[0]] = _Ref(buf)
        st[k] = _NEXT[0]
        return ref


# -- The event ring: processors push events as they happen (`App.emit` is its `push`), the App
# sends them as EVENT frames after the sample (`_drain_events`). Both ends are one native call.
# Why: an event went through a bytecode `push` (a dozen attribute loads, ~6 000 instructions on
# the Unix port), a drain loop over a `count` property and five arrays, and
# `FrameWriter.event` (`begin`, two `put_u32`, `finish`, `_seal`): ~31 000 instructions an
# event, ~50 in an insole walk's 2 000 samples, ~800 a sample on the ESP32-S3 insole through its
# drivers (tools/bench/bench_drivers.py). Here the ring is one `array('i')` subclass whose
# `push` and `pop` are viper functions bound to it: a push is one call, and a pop builds,
# numbers and seals the whole EVENT frame in the App writer's buffers, ready to send. In app.py,
# not a module of its own: a module's object, dictionary and names cost the Pico W's heap
# ~1 kB more (the frozen bound of `python -m gaitloop.sim.heapfit`).
#
# Layout (int32 words): `_EV_N` slots, `_EV_HEAD`, `_EV_DROPPED`, `_EV_CNT`, `_EV_OWN`, the
# writer's four buffers, then `_EV_N` slots of four words: time, code | side << 8, a, b. The
# count of queued events lives in `_st[_I_EVN]`, where the native tick tests it with one load:
# `_EV_CNT` leads to it, its address minus the ring's plus 2^29 (as `_bind`); a ring of its own
# (tests) counts in `_EV_OWN`. The writer's buffers are found the same way (`bind`). The CPython
# twins keep the count word as a view (`_c`), the buffers as a tuple, and do the same steps.
# Widths: a and b are int32 words, as the arrays they replaced: an EVENT carries their low 32
# bits (`put_u32`); on the boards every value the processors emit is a small int. Time, head,
# count and dropped stay in [0, 2^30).
_EV_N = const(0)
_EV_HEAD = const(1)
_EV_DROPPED = const(2)  # events pushed into a full ring (lost); STATUS reports them
_EV_CNT = const(3)
_EV_OWN = const(4)
# the writer's buffers `pop` builds and seals the frame in (`bind`), as _EV_CNT
_EV_RAW = const(5)
_EV_BOX = const(6)
_EV_TABLE = const(7)
_EV_ENC = const(8)
_EV_SLOTS = const(9)
_EV_SLOT = const(4)
_EV_END = const(19)  # protocol.HEADER_LEN + the EVENT payload (10): where the seal starts
# protocol.MAGIC, VERSION and MSG_EVENT, written by `pop` (tests/firmware/test_eventring.py)
_EV_MAGIC = const(0x47)
_EV_VERSION = const(1)
_EV_TYPE = const(3)


@micropython.viper
def _ev_push_viper(self, t: int, code: int, side: int, a: int, b: int) -> bool:
    R = ptr32(self)
    C = ptr32(int(R) + R[_EV_CNT] - 0x20000000)
    c = C[0]
    n = R[_EV_N]
    if c >= n:
        R[_EV_DROPPED] = (R[_EV_DROPPED] + 1) & 0x3FFFFFFF
        return False
    i = R[_EV_HEAD] + c
    if i >= n:
        i -= n
    S = ptr32(int(R) + (_EV_SLOTS + i * _EV_SLOT) * 4)
    S[0] = t
    S[1] = (code & 0xFF) | ((side & 0xFF) << 8)
    S[2] = a
    S[3] = b
    C[0] = c + 1
    return True


@micropython.viper
def _ev_pop_viper(self) -> int:
    R = ptr32(self)
    C = ptr32(int(R) + R[_EV_CNT] - 0x20000000)
    c = C[0]
    if c == 0:
        return 0
    i = R[_EV_HEAD]
    S = ptr32(int(R) + (_EV_SLOTS + i * _EV_SLOT) * 4)
    raw = ptr8(int(R) + R[_EV_RAW] - 0x20000000)
    raw[0] = _EV_MAGIC
    raw[1] = _EV_VERSION
    raw[2] = _EV_TYPE
    v = S[0]
    raw[5] = v & 0xFF
    raw[6] = (v >> 8) & 0xFF
    raw[7] = (v >> 16) & 0xFF
    raw[8] = (v >> 24) & 0xFF
    v = S[1]
    raw[9] = v & 0xFF
    raw[10] = (v >> 8) & 0xFF
    v = S[2]  # the low 32 bits, whichever way a load extends the word
    raw[11] = v & 0xFF
    raw[12] = (v >> 8) & 0xFF
    raw[13] = (v >> 16) & 0xFF
    raw[14] = (v >> 24) & 0xFF
    v = S[3]
    raw[15] = v & 0xFF
    raw[16] = (v >> 8) & 0xFF
    raw[17] = (v >> 16) & 0xFF
    raw[18] = (v >> 24) & 0xFF
    i += 1
    if i >= R[_EV_N]:
        i = 0
    R[_EV_HEAD] = i
    C[0] = c - 1
    end = _EV_END
    box = ptr16(int(R) + R[_EV_BOX] - 0x20000000)
    table = ptr16(int(R) + R[_EV_TABLE] - 0x20000000)
    enc = ptr8(int(R) + R[_EV_ENC] - 0x20000000)
    # -- the seal (protocol._seal_viper's, verbatim)
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
    return out + 1 + ((c - 1) << 8)


if not MICROPYTHON:  # the CPython twins

    def _ev_push_plain(self, t, code, side, a, b):
        """The CPython twin of `_ev_push_viper`, step for step."""
        c = self._c[0]
        n = self[_EV_N]
        if c >= n:
            self[_EV_DROPPED] = (self[_EV_DROPPED] + 1) & 0x3FFFFFFF
            return False
        i = (self[_EV_HEAD] + c) % n
        o = _EV_SLOTS + i * _EV_SLOT
        self[o] = t
        self[o + 1] = (code & 0xFF) | ((side & 0xFF) << 8)
        self[o + 2] = a
        self[o + 3] = b
        self._c[0] = c + 1
        return True

    def _ev_pop_plain(self):
        """The CPython twin of `_ev_pop_viper`."""
        c = self._c[0]
        if c == 0:
            return 0
        i = self[_EV_HEAD]
        o = _EV_SLOTS + i * _EV_SLOT
        raw, box, table, enc = self._w
        raw[0] = _EV_MAGIC
        raw[1] = _EV_VERSION
        raw[2] = _EV_TYPE
        raw[5:9] = (self[o] & 0xFFFFFFFF).to_bytes(4, "little")
        raw[9] = self[o + 1] & 0xFF
        raw[10] = (self[o + 1] >> 8) & 0xFF
        raw[11:15] = (self[o + 2] & 0xFFFFFFFF).to_bytes(4, "little")
        raw[15:19] = (self[o + 3] & 0xFFFFFFFF).to_bytes(4, "little")
        self[_EV_HEAD] = (i + 1) % self[_EV_N]
        self._c[0] = c - 1
        return _seal_plain(raw, _EV_END, box, table, enc) + ((c - 1) << 8)


class EventRing(array):
    """A fixed-size FIFO of events (`_new_ring` makes one).

    `push(t_ms, code, side, a, b)`: queue an event (False, and counted in word `_EV_DROPPED`,
    when full). `pop()`: the oldest event as a whole EVENT frame, numbered, CRC'd and
    COBS-encoded in the writer's `enc` (protocol._seal_viper's body, verbatim: viper has no
    inlining, and a call to `_seal` with its five buffers cost ~2 300 instructions an event);
    it answers the frame's encoded length plus 256 x the events still queued (the drain needs
    no call that finds the ring empty), 0 when it was empty. Nothing else: every method and
    attribute here is heap on the Pico W (the count is read where it lives, `_st[_I_EVN]`)."""

    push = _ev_push_viper if MICROPYTHON else _ev_push_plain
    pop = _ev_pop_viper if MICROPYTHON else _ev_pop_plain


def _new_ring(n, cnt, raw, box, table, enc):
    """An EventRing of `n` slots. `cnt`: a one-word view to keep the count in (the App's
    `_st` word, which its native tick tests), None for the ring's own word. `raw`, `box`,
    `table`, `enc`: the frame buffer (at least _EV_END + 2 bytes), the sequence box, the CRC
    table and the encoded-frame buffer `pop` works in (a FrameWriter's `raw`, `seqbox`,
    `protocol.CRC_TABLE`, `enc`). On a board `pop` follows their addresses (`_bind`) and the
    caller keeps them alive (the App's writer, its `_st`); the CPython twins keep them."""
    if len(raw) < _EV_END + 2 or len(enc) < _EV_END + 5:
        raise ValueError("event frame buffers too small")
    r = EventRing("i", [0] * (_EV_SLOTS + n * _EV_SLOT))
    r[_EV_N] = n
    if cnt is None:
        cnt = memoryview(r)[_EV_OWN:_EV_OWN + 1]
    if MICROPYTHON:
        for k, buf in ((_EV_CNT, cnt), (_EV_RAW, raw), (_EV_BOX, box), (_EV_TABLE, table), (_EV_ENC, enc)):
            if not _bind(r, k, buf):
                raise MemoryError("buffer 2^29 bytes from its ring")
    else:
        r._c = cnt
        r._w = (raw, box, table, enc)
    return r


if not MICROPYTHON:  # the CPython twin; the board runs the viper one

    def _tick_plain(self):
        st = self
        s = _BUFS[st[_I_SP]].b  # _I_SP, _I_RAW, _I_SRC (`_bind`)
        raw = _BUFS[st[_I_RAW]].b
        src = _BUFS[st[_I_SRC]].b
        dr = 0
        if st[12] == 2:  # the board drivers, W bound at _I_SRC (drvnative's plain twin)
            dr = 32 if drvnative._read_plain(src, self.calls, s) & 1 else 0
        elif st[12]:  # _I_ROWS: the next row of the HAL's buffer into s (replayrow's loop)
            p = st[13]
            if p >= st[14]:
                return -1
            nch = st[15]
            c = 0
            while c < nch:
                v = src[p] | (src[p + 1] << 8)
                s[c] = v - 0x10000 if v & 0x8000 else v  # the viper ptr16 store wraps alike
                p += 2
                c += 1
            st[13] = p
        idx = st[0]
        sub = st[10]
        sec = st[11]
        t = sec + st[_I_WORDS + sub]  # sub * 1000 // rate
        st[1] = t
        sub += 1
        if sub == st[2]:
            sub = 0
            sec += 1000
            if sec >= 1000000000:  # 11.6 days: wrap so t stays a small int on 32-bit ports
                sec = 0
                st[6] = 0  # STATUS and HELLO due again from the new zero
                st[7] = 0
            st[11] = sec
        st[10] = sub
        st[0] = (idx + 1) & 0x3FFFFFFF
        r = 0
        if st[8]:
            k = st[3]
            nch = st[5]
            if k == 0:
                st[9] = idx
                raw[0] = 0x47  # protocol.MAGIC, VERSION, MSG_SAMPLES, then the time at 5
                raw[1] = 1
                raw[2] = 2
                raw[5] = t & 0xFF
                raw[6] = (t >> 8) & 0xFF
                raw[7] = (t >> 16) & 0xFF
                raw[8] = (t >> 24) & 0xFF
                raw[9] = idx & 0xFF  # the SAMPLES header: first index, channels, count
                raw[10] = (idx >> 8) & 0xFF
                raw[11] = (idx >> 16) & 0xFF
                raw[12] = (idx >> 24) & 0xFF
                raw[13] = nch
            off = 15 + k * 2 * nch
            c = 0
            while c < nch:
                v = s[c]
                raw[off] = v & 0xFF
                raw[off + 1] = (v >> 8) & 0xFF
                off += 2
                c += 1
            k += 1
            raw[14] = k
            st[3] = k
            if k == st[4]:  # full: sealed here (protocol's seal), the send is the caller's
                st[_I_ENCN] = _seal_plain(raw, off, _BUFS[st[_I_SEQ]].b, _BUFS[st[_I_CRC]].b,
                                          _BUFS[st[_I_ENC]].b)
                st[3] = 0
                st[_I_SENT] = (st[_I_SENT] + k) & 0x3FFFFFFF
                r = 1
        if t >= st[6]:
            r |= 2
        if t >= st[7]:
            r |= 4
        mode = st[16]  # _I_FEED
        if mode == 1:
            r |= 8
        elif mode == 2:  # csm._foot_plain on the buffers `_bind` registered
            S = _BUFS[st[18]].b
            mv = memoryview(S)
            rh = _foot_plain((S, mv[0:56], mv[56:112]), _BUFS[st[19]].b, _BUFS[st[20]].b, s)
            if rh >= 0:  # -1: the quiet value
                S[115] = rh
                r |= 8
        if st[17]:  # _I_EVN
            r |= 16
        r |= dr
        if st[12] == 2:
            if r:
                if r & 32:
                    self.out()
                if r & 8:
                    self.feed(st[1], self.sample)
                    if st[17]:
                        r |= 16
                if r & 1:
                    self.send(st[_I_ENCN])
                if r & 22:
                    self.after(r & 22)
            return 1
        return r


@micropython.viper
def _tick_viper(self) -> int:
    st = ptr32(self)  # the App's `_st` (on the board drivers a `_Drv`, whose bound `step` this is)
    s = ptr16(int(st) + st[21] - 0x20000000)  # _I_SP, _I_RAW, _I_SRC (`_bind`)
    raw = ptr8(int(st) + st[22] - 0x20000000)
    src = ptr8(int(st) + st[23] - 0x20000000)
    # Widths: every word < 2^30 (see _I_*); t + 1000 and k * 2 * nch stay far below.
    dr = 0
    rows = st[12]
    if rows == 1:
        p = st[13]
        if p >= st[14]:
            return -1
        nch = st[15]
        c = 0
        while c < nch:
            s[c] = src[p] | (src[p + 1] << 8)
            p += 2
            c += 1
        st[13] = p
    elif rows == 2:  # the board drivers: drvnative._read_viper's records, then its epilogue
        calls = self.calls  # the drivers' callables (`_Drv`)
        W = ptr32(int(src))
        n = W[_D__H_NREC]
        j = 0
        bad = 0
        while j < n:
            D = ptr32(int(W) + (_D__H + j * _D__REC) * 4)
            ci = D[_D_CI]
            kind = D[_D__KIND]
            ch = D[_D__CH]
            ok = 1
            key = 0  # the value Stuck is fed
            feed = 1
            if kind == _D_DIVIDER:
                u = int(calls[ci]())
                D[_D_RAW] = u
                q = 0
                if u >= 52429:
                    q = 65536
                elif u > 0:
                    q = (u << 14) // (65536 - u)
                    if q > 65536:
                        q = 65536
                num = (q - D[_D_Q_A]) * (((D[_D_DOUT] + _D__B) & _D__M) - _D__B)
                den = ((D[_D_DQ] + _D__B) & _D__M) - _D__B
                if den < 0:
                    num = 0 - num
                    den = 0 - den
                if num >= 0:
                    c = num // den
                else:
                    c = 0 - ((den - 1 - num) // den)
                c += ((D[_D_OUT_A] + _D__B) & _D__M) - _D__B
                if D[_D_CLIP]:
                    lo = ((D[_D_CLIP_LOW] + _D__B) & _D__M) - _D__B
                    if c < lo:
                        c = lo
                if c > 32767:
                    c = 32767
                elif c < -32768:
                    c = -32768
                D[_D__VALUE] = c
                s[ch] = c
                if u >= 65000:
                    D[_D__RAIL] = D[_D__RAIL] + 1
                else:
                    D[_D__RAIL] = 0
                key = u
            elif kind == _D_HX711:
                dout = calls[ci]
                if int(dout()) != 0:  # no new conversion: hold the last, fault after _D_TIMEOUT_N
                    feed = 0
                    w = D[_D__WAITS] + 1
                    D[_D__WAITS] = w
                    if w >= D[_D_TIMEOUT_N]:
                        D[_D_FAULT] = 1
                        ok = 0
                    else:
                        s[ch] = D[_D__VALUE]
                else:
                    D[_D__WAITS] = 0
                    v = 0
                    if D[_D_XFER]:  # PD_SCK on SPI's MOSI, the data line on MISO (hx711.py): one transfer
                        xb = calls[ci + 2]  # in place: the MOSI bytes out, the MISO bytes back
                        calls[ci + 1](xb, xb)
                        b = ptr8(int(W) + D[_D_RXA] - _D__B)  # xb, found by address (bind_rx)
                        i = 0
                        while i < 6:  # bits 6 4 2 0 of a byte: the low slot of 4 pulses, MSB first
                            x = b[i]
                            v = (v << 4) | ((x >> 3) & 8) | ((x >> 2) & 4) | ((x >> 1) & 2) | (x & 1)
                            b[i] = 0xAA  # the next transfer's MOSI bytes: 4 pulses, each 1 then 0
                            i += 1
                        b[6] = D[_D_TXL]
                    else:
                        v = int(_bits(calls, ci, D[_D_PULSES]))
                    if v & 0x800000:
                        v -= 0x1000000
                    D[_D_RAW] = v
                    num = v - (((D[_D_TARE] + _D__B) & _D__M) - _D__B)
                    den = D[_D_DIV]
                    if num >= 0:
                        c = num // den
                    else:
                        c = 0 - ((den - 1 - num) // den)
                    if c > 32767:
                        c = 32767
                    elif c < -32768:
                        c = -32768
                    D[_D__VALUE] = c
                    s[ch] = c
                    key = v
            else:  # _D_MPU6050: (k, init, readfrom_mem_into, addr, buf)
                if int(_burst(calls, ci, D[_D_NEED_INIT])) == 0:  # a NACK, or not an MPU-6050
                    D[_D_NACKS] = D[_D_NACKS] + 1
                    D[_D_NEED_INIT] = 1
                    D[_D_FAULT] = 1
                    ok = 0
                    feed = 0
                if ok:
                    b = ptr8(calls[ci + 3])  # ax ay az temp gx gy gz, big-endian int16
                    D[_D_TEMP] = ((b[6] << 8) | b[7]) - ((b[6] & 0x80) << 9)
                    # the six words, each into the record and the fingerprint (identical
                    # bursts in a row), written out: a loop's branches cost more than its body
                    v = ((b[0] << 8) | b[1]) - ((b[0] & 0x80) << 9)
                    D[_D__IMU] = v
                    key = v
                    v = ((b[2] << 8) | b[3]) - ((b[2] & 0x80) << 9)
                    D[_D__IMU + 1] = v
                    key = key ^ (v << 3)
                    v = ((b[4] << 8) | b[5]) - ((b[4] & 0x80) << 9)
                    D[_D__IMU + 2] = v
                    key = key ^ (v << 6)
                    v = ((b[8] << 8) | b[9]) - ((b[8] & 0x80) << 9)
                    D[_D__IMU + 3] = v
                    key = key ^ (v << 9)
                    v = ((b[10] << 8) | b[11]) - ((b[10] & 0x80) << 9)
                    D[_D__IMU + 4] = v
                    key = key ^ (v << 12)
                    v = ((b[12] << 8) | b[13]) - ((b[12] & 0x80) << 9)
                    D[_D__IMU + 5] = v
                    key = key ^ (v << 15)
                    key = key & 0x3FFFFFFF
                k = 0
                while k < 3:  # the thigh frame from the chip's axes
                    a = ((D[_D__IMU + D[_D_SRC + k]] + _D__B) & _D__M) - _D__B
                    g = ((D[_D__IMU + 3 + D[_D_SRC + k]] + _D__B) & _D__M) - _D__B
                    if D[_D_NEG + k]:
                        if a > -32768:
                            a = 0 - a
                        else:
                            a = 32767
                        if g > -32768:
                            g = 0 - g
                        else:
                            g = 32767
                    s[ch + k] = a
                    s[ch + 3 + k] = g
                    k += 1
            if feed:  # Stuck.feed(key): N identical values in a row are a fault
                if key == ((D[_D__STUCK_LAST] + _D__B) & _D__M) - _D__B:
                    if D[_D__STUCK_COUNT] < D[_D__STUCK_N]:
                        D[_D__STUCK_COUNT] = D[_D__STUCK_COUNT] + 1
                else:
                    D[_D__STUCK_LAST] = key
                    D[_D__STUCK_COUNT] = 0
                stuck = 0
                if D[_D__STUCK_N] > 0 and D[_D__STUCK_COUNT] + 1 >= D[_D__STUCK_N]:
                    stuck = 1
                if kind == _D_DIVIDER:
                    f = 0
                    if D[_D__RAIL] >= D[_D_RAIL_N]:
                        f = 1
                    if stuck and key > 0:  # an unloaded FSR reads 0 for good
                        f = 1
                    D[_D_FAULT] = f
                else:
                    D[_D_FAULT] = stuck
                if D[_D_FAULT]:
                    ok = 0
            if not ok:
                D[_D_NFAULT] = D[_D_NFAULT] + 1
                bad = 2
            j += 1
        if bad:
            W[_D_H_LATCH] = 1
        W[_D_H_N] = (W[_D_H_N] + 1) & 0x3FFFFFFF
        if W[_D_H_OUT]:
            c = W[_D_H_OUTC] - 1
            if c <= 0:
                c = W[_D_H_OUT]
                W[_D_H_OUTC] = c & 255
                if c < _D_OUT_REST:
                    dr = _R_OUT
            else:
                W[_D_H_OUTC] = c
    idx = st[0]
    sub = st[10]
    sec = st[11]
    t = sec + st[_I_WORDS + sub]  # sub * 1000 // rate
    st[1] = t
    sub += 1
    if sub == st[2]:
        sub = 0
        sec += 1000
        if sec >= 1000000000:  # 11.6 days: wrap so t stays a small int on 32-bit ports
            sec = 0
            st[6] = 0  # STATUS and HELLO due again from the new zero
            st[7] = 0
        st[11] = sec
    st[10] = sub
    st[0] = (idx + 1) & 0x3FFFFFFF
    r = 0
    if st[8]:
        k = st[3]
        nch = st[5]
        if k == 0:
            st[9] = idx
            raw[0] = 0x47
            raw[1] = 1
            raw[2] = 2
            raw[5] = t & 0xFF
            raw[6] = (t >> 8) & 0xFF
            raw[7] = (t >> 16) & 0xFF
            raw[8] = (t >> 24) & 0xFF
            raw[9] = idx & 0xFF
            raw[10] = (idx >> 8) & 0xFF
            raw[11] = (idx >> 16) & 0xFF
            raw[12] = (idx >> 24) & 0xFF
            raw[13] = nch
        off = 15 + k * 2 * nch
        c = 0
        while c < nch:
            v = s[c]
            raw[off] = v & 0xFF
            raw[off + 1] = (v >> 8) & 0xFF
            off += 2
            c += 1
        k += 1
        raw[14] = k
        st[3] = k
        if k == st[4]:  # full: protocol._seal_viper's body on the frame, the send is the caller's
            end = off
            box = ptr16(int(st) + st[_I_SEQ] - 0x20000000)
            table = ptr16(int(st) + st[_I_CRC] - 0x20000000)
            enc = ptr8(int(st) + st[_I_ENC] - 0x20000000)
            # -- the seal (protocol._seal_viper's, verbatim)
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
            st[_I_ENCN] = out + 1
            st[3] = 0
            st[_I_SENT] = (st[_I_SENT] + k) & 0x3FFFFFFF
            r = 1
    if t >= st[6]:
        r |= 2
    if t >= st[7]:
        r |= 4
    mode = st[16]  # _I_FEED
    if mode == 1:
        r |= 8
    elif mode == 2:
        # csm._foot_viper's body, line for line (smp is s, its `r` here `rx`), on the foot's
        # buffers at st's address + st[18:21] - 2^29; tests/firmware/test_native_foot.py compares
        # bytes and foot state with the foot fed by `feed` (csm._foot_viper) every sample
        S = ptr32(int(st) + st[18] - 0x20000000)
        T = ptr32(int(st) + st[19] - 0x20000000)
        L = ptr16(int(st) + st[20] - 0x20000000)
        rh = 0
        o = 0
        ch = S[112]
        while o < 112:
            P = ptr32(int(S) + o * 4)  # this sensor's state: P[k] is S[o + k]
            x = (s[ch] & 0xFFFF) ^ 0x8000  # the count + 32768 (ptr16 loads zero-extend); 0: MISSING
            P[22] = (P[22] + 1) & 0x3FFFFFFF
            if x == 0:
                x = P[0]
                P[14] = 256
            else:
                P[0] = x
            if x >= P[17]:
                P[13] = 256
            p = P[23]
            P[23] = x
            if p == 0:
                p = x
            dq = x - p
            if P[14] == 256:
                dq = 1
            x = (x + p) >> 1
            bmin = P[1]
            bmax = P[2]
            if x < bmin:
                bmin = x
            if x > bmax:
                bmax = x
            n = P[3] + 1
            if n >= 32:
                k = P[4]
                P[40 + k] = bmin
                P[48 + k] = bmax
                k += 1
                if k >= 8:
                    k = 0
                P[4] = k
                lo = 65535
                hi = 0
                i = 0
                while i < 8:
                    v = P[40 + i]
                    if v < lo and ((k - 1 - i) & 7) < P[36]:
                        lo = v
                    v = P[48 + i]
                    if v > hi:
                        hi = v
                    i += 1
                P[5] = lo
                P[6] = hi
                if P[7] < 8:
                    P[7] = P[7] + 1
                bmin = 65535
                bmax = 0
                n = 0
            P[1] = bmin
            P[2] = bmax
            P[3] = n
            lo = P[5]
            hi = P[6]
            if bmin < lo:
                lo = bmin
            if bmax > hi:
                hi = bmax
            c = P[34] + 1
            if dq != 0 or x < hi:
                c = 0
            P[34] = c
            if c == 12:
                rx = P[23]
                P[38] = 0
                if rx == P[37]:
                    P[38] = 1
                P[37] = rx
            if c >= 12 and P[38]:
                P[35] = 256
            rng = hi - lo
            if P[35] > 0:
                P[35] = P[35] - 1
                if rng >= P[16]:
                    rng += rng
            flags = 0
            if rng < P[16]:
                flags = 1
                rng = P[16]
            y = ((x - lo) * 10000) // rng
            y1 = P[8]
            y2 = P[9]
            y3 = P[10]
            P[8] = y
            P[9] = y1
            P[10] = y2
            P[21] = y
            P[24] = y + 16384
            P[25] = y1 + 16384
            P[26] = y2 + 16384
            P[27] = y3 + 16384
            P[28] = y - y1 + 16384
            P[29] = y - y2 + 16384
            P[30] = y - y3 + 16384
            P[31] = y1 - y2 + 16384
            P[32] = y1 - y3 + 16384
            P[33] = y2 - y3 + 16384
            g = P[11]
            if P[7] == 0:
                flags |= 16
            elif not (flags & 1):
                base = 0
                while base < 82:
                    need = T[base]
                    acc = 0
                    rest = 163840  # (10 - j) * 16384 for feature j: the most the features left add
                    F = ptr32(int(P) + 96)  # feature j + 16384: F[0] is P[24 + j]
                    Q = ptr32(int(T) + base * 4 + 4)  # feature j's (mu, lim, r, q): Q[0:4]
                    while rest:  # j < 10
                        e = F[0] - Q[0]
                        if e < 0:
                            e = 0 - e
                        if e < Q[1]:
                            u = (e * Q[2]) >> Q[3]
                            u *= u
                            idx = u >> 13
                            if idx < 1024:
                                R = ptr16(int(L) + idx * 2)  # L[idx], L[idx + 1]: R[0], R[1]
                                a = R[0]
                                acc += a - (((a - R[1]) * ((u >> 7) & 63)) >> 6)
                        rest -= 16384
                        if acc + rest < need:
                            break
                        Q = ptr32(int(Q) + 16)
                        F = ptr32(int(F) + 4)
                    if acc >= need:
                        if base == 0:
                            g = 1
                        else:
                            g = 0
                        break
                    base += 41
                c = P[12]
                if (g == 1 and y < P[18]) or (g == 0 and y > P[19]):
                    c += 1
                else:
                    c = 0
                if c >= P[20]:
                    g = 1 - g
                    c = 0
                    P[15] = 256
                P[12] = c
            P[11] = g
            if P[13] > 0:
                P[13] = P[13] - 1
                flags |= 2
            if P[14] > 0:
                P[14] = P[14] - 1
                flags |= 4
            if P[15] > 0:
                P[15] = P[15] - 1
                flags |= 8
            if o == 0:
                rh = g | (flags << 1)
            else:
                rh = rh | ((g | (flags << 1)) << 8)
            o += 56
            ch = S[113]
        if rh != S[114]:  # not the quiet value: the foot's `feed_native` takes it from S[115]
            S[115] = rh
            r |= 8
    if st[17]:  # _I_EVN
        r |= 16
    r |= dr
    if rows == 2:  # the board drivers' `step`: the rest of the sample from here (see `_Drv`)
        if r:
            if r & 32:  # _R_OUT: the buzzer and LED step (boardhal.outputs)
                self.out()
            if r & 8:  # _R_FEED: the processors' bound `feed` (App._feed)
                self.feed(st[1], self.sample)
                if st[17]:  # events from the processors
                    r |= 16
            if r & 1:  # _R_FLUSH: the SAMPLES frame sealed above (every 10th sample)
                self.send(st[_I_ENCN])  # App._send
            if r & 22:  # _R_DUE, _R_EVENTS: App._after (bytecode)
                self.after(r & 22)
        return 1
    return r


_tick = _tick_viper if MICROPYTHON else _tick_plain


def _no_feed(t, s):
    pass


class _Drv(array):
    """`_st` of an App on the board drivers (gaitfw/boardhal.py): `App.step` is `_tick` bound
    to it, so the sample loop's `self.step()` is one native call: it reads every driver into
    the sample (`_I_ROWS` 2, the callables in `calls`), ticks, calls the processors' `feed`
    when asked, sends the SAMPLES frame it sealed (every 10th sample) and hands the rest
    (events, STATUS / HELLO) to `App._after`. Its attributes: `calls`, `out` (boardhal's
    outputs step), `feed` (App._feed, kept by `App.processors`), `sample`, `send` (App._send),
    `after` (App._after).

    Why: a bytecode `step` calling the viper tick cost two calls a sample, ~900 instructions
    each on the Unix port; the tick bound to its state array is one (an attribute of this
    instance is ~150, where a default argument needs a bytecode frame). A viper function takes
    no default arguments, and a bound method passes only `self`: so the state array itself is
    the instance, and what the tick needs besides its words hangs on it."""

    step = _tick


class App:
    def __init__(self, board, cfg, hal, out, inp=None, poller=None):
        self.board = board
        self.cfg = cfg
        self.hal = hal
        self.out = out
        self.inp = inp
        self.poller = poller
        self.nch = len(board.CHANNELS)
        self.rate = board.RATE_HZ
        self.sample = array("h", [0] * self.nch)
        # ~100 ms of samples per frame, bounded by the frame size
        per = max(1, self.rate // 10)
        cap = (P.MAX_PAYLOAD - P.SAMPLES_HEADER) // (2 * self.nch)
        self.batch_n = min(per, cap, 255)
        self._row_bytes = 2 * self.nch
        # the words, then the ms offset of each sample within its second (no division per sample)
        bind = getattr(hal, "bind_cursor", None)
        drv = bind is None and getattr(hal, "native_read", None) is not None  # the board drivers
        st = self._st = (_Drv if drv else array)("i", [0] * _I_WORDS + [k * 1000 // self.rate for k in range(self.rate)])
        st[_I_RATE] = self.rate
        st[_I_BATCH_N] = self.batch_n
        st[_I_NCH] = self.nch
        st[_I_NEXT_STATUS] = st[_I_NEXT_HELLO] = 0x3FFFFFFF  # sampler() sets the first ones
        # samples go straight into their own frame buffer; control frames use another,
        # both numbered from one sequence box
        self.writer = P.FrameWriter()
        self._enc = self.writer.enc  # one encoded-frame buffer: each frame is sent when sealed
        self.sw = P.FrameWriter(P.SAMPLES_HEADER + self.batch_n * 2 * self.nch, self.writer.seqbox, self._enc)
        self._raw = self.sw.raw
        w = self.writer
        self.ring = _new_ring(_EV_RING, memoryview(st)[_I_EVN:_I_EVN + 1], w.raw, w.seqbox, P.CRC_TABLE, self._enc)
        self.emit = self.ring.push
        self.boot_error = None
        self.updater = None  # gaitfw.update.Updater, attached by run()
        self._read = getattr(hal, "read", None)  # bound once: no method lookup per sample
        # A HAL whose rows sit in a buffer (ReplayHal) lends its row cursor to `_st`: `_tick`
        # then reads the row itself, and the HAL runs only to refill its buffer.
        self._src = bytearray(1)
        if bind is not None:
            self._src = bind(memoryview(st)[_I_POS:_I_RCH + 1])
            st[_I_ROWS] = 1
        elif drv:  # the board drivers (boardhal): `step` is the native tick itself (`_Drv`)
            _, W, calls = hal.native_read()
            self._src = W  # `_tick` reads the drivers' records through `_I_SRC`
            st[_I_ROWS] = 2
            st.calls = calls
            st.out = hal.outputs
            st.sample = self.sample
            st.send = self._send
            st.after = self._after
            st.feed = _no_feed  # `processors` sets it
            self.step = st.step
        else:
            self.step = self._step_hal  # a HAL without either reads every sample itself
        self._binds = (_bind(st, _I_SP, self.sample), _bind(st, _I_RAW, self._raw),
                       _bind(st, _I_SRC, self._src), _bind(st, _I_SEQ, self.writer.seqbox),
                       _bind(st, _I_CRC, P.CRC_TABLE), _bind(st, _I_ENC, self._enc))
        if not all(self._binds):
            raise MemoryError("sample buffers 2^29 bytes apart")  # not within one heap
        try:
            self.processors = board.make_processors(self.emit, cfg)
        except Exception as exc:  # a bad calibration must not brick the board: stream raw
            self.processors = []
            self.boot_error = "%s: %s" % (type(exc).__name__, exc)
        self.sample_us = 0  # ticks_us the latest sample was due at: the sample clock (CMD_TIME)
        self.streaming = bool(cfg.get("stream", True))
        self.running = True
        self.interrupted = False
        self.flags = P.ST_PROCESSOR_ERROR if self.boot_error else 0
        self.tx_dropped = 0
        speed = float(cfg.get("speed", 1.0))
        if speed <= 0:
            speed = 1.0
        self.speed = speed
        # the sample grid (gaitfw/pacer.py); a HAL reading the present (gaitfw/boardhal.py)
        # skips ticks beyond its CATCHUP instead of reading late samples back to back
        catchup = getattr(hal, "CATCHUP", -1)
        try:
            catchup = int(cfg.get("catchup", catchup))
        except (TypeError, ValueError):
            pass  # a bad config value must not stop the board from booting
        self.pacer = Pacer(self.rate, speed, catchup)
        self.power = Power(board.KIND, self.nch, self.rate, cfg, getattr(hal, "profile", None))
        self.rx = bytearray(P.MAX_ENCODED)
        self.rx_len = 0
        self.rx_dec = bytearray(P.MAX_FRAME)
        self.rx_t = 0
        self.one = bytearray(1)
        self._hello = None
        self._mem_age = 0
        self._mem_free = self._mem_alloc = 0
        self.ble = None  # link_ble.BleLink when the board has BLE (attach_ble)
        self.before_sampling = None  # called once by main() just before the first sample

    # -- state kept in the native tick's array (properties: not on the sample path) ---------

    @property
    def processors(self):
        return self._procs

    @processors.setter
    def processors(self, procs):
        """Replacing the processors (an update) also replaces the bound `feed`s step calls
        and how `_tick` asks for them (`_I_FEED`). A lone processor with a `native()` (the
        insole's FootProcessor) has its kernel run inside `_tick`, on its buffers found by
        address; its `feed_native` then runs only on a sample that changes something."""
        st = self._st
        st[_I_FEED] = _FEED_NONE
        self._procs = procs
        self._native = None
        ref = getattr(self.hal, "refresh_outputs", None)  # boardhal: outputs follow `fb` rules
        if ref is not None:
            ref()
        feed = _no_feed
        nat = procs[0].native() if len(procs) == 1 and hasattr(procs[0], "native") else None
        if nat is not None:
            nat = (nat, _bind(st, _I_FS, nat[0]), _bind(st, _I_FT, nat[1]), _bind(st, _I_FL, nat[2]))
        if not procs:
            pass
        elif nat is not None and all(nat):
            self._native = nat  # keeps the buffers alive while `_tick` follows their addresses
            feed = procs[0].feed_native
            st[_I_FEED] = _FEED_FOOT
        elif len(procs) == 1:
            feed = procs[0].feed
            st[_I_FEED] = _FEED_ALL
        else:
            feed = self._feed_all
            st[_I_FEED] = _FEED_ALL
        self._feed = feed
        if type(st) is _Drv:
            st.feed = feed  # the drivers' tick calls it itself

    def _feed_all(self, t, s):
        for p in self._procs:
            p.feed(t, s)

    @property
    def t_ms(self):
        """Board time of the latest sample, ms (the sample clock, kept by `_tick`)."""
        return self._st[_I_T]

    @t_ms.setter
    def t_ms(self, t):
        self._st[_I_T] = t

    @property
    def index(self):
        """Samples taken since boot."""
        return self._st[_I_INDEX]

    @index.setter
    def index(self, i):
        """Move the sample clock (idle ticks, skipped ticks: never on the per-sample path):
        the index and the words `_tick` derives the time from, kept consistent."""
        st = self._st
        i &= 0x3FFFFFFF
        rate = st[_I_RATE]
        st[_I_INDEX] = i
        st[_I_SUB] = i % rate
        st[_I_T_SEC] = ((i // rate) * 1000) % 1000000000

    @property
    def streaming(self):
        return bool(self._st[_I_STREAM])

    @streaming.setter
    def streaming(self, on):
        self._st[_I_STREAM] = 1 if on else 0

    @property
    def batch_count(self):
        return self._st[_I_BATCH]

    @batch_count.setter
    def batch_count(self, n):
        self._st[_I_BATCH] = n

    @property
    def batch_first(self):
        return self._st[_I_FIRST]

    @property
    def samples_sent(self):
        """Samples sent in SAMPLES frames (wraps at 2^30, as the index: a small int on a board)."""
        return self._st[_I_SENT]

    @samples_sent.setter
    def samples_sent(self, n):
        self._st[_I_SENT] = n & 0x3FFFFFFF

    @property
    def _next_status(self):
        return self._st[_I_NEXT_STATUS]

    @_next_status.setter
    def _next_status(self, t):
        self._st[_I_NEXT_STATUS] = min(t, 0x3FFFFFFF)

    @property
    def _next_hello(self):
        return self._st[_I_NEXT_HELLO]

    @_next_hello.setter
    def _next_hello(self, t):
        self._st[_I_NEXT_HELLO] = min(t, 0x3FFFFFFF)

    def attach_ble(self, link):
        """Fan every frame out to BLE too; BLE commands arrive through `_ble_command`."""
        self.ble = link
        link.on_event = self._ble_event

    def _ble_event(self, up, mtu):
        self.emit(self.t_ms, E.EV_BLE_LINK, 2, up, mtu)

    # -- output -------------------------------------------------------------------------

    def _send(self, n):
        """Write the n encoded bytes of the frame just sealed (`_enc`, every writer's) to every
        link: the console and, when present, the BLE link's frame ring. A failed console
        write is counted.

        Two locals and a shallow stack on purpose: with a `try` whose `except` names a type, a
        bytecode function over 2 locals gets its frame from the heap on every call (the
        handler's 6 stack slots, 3 for the exception level: MicroPython keeps at most 11 words
        on the C stack; ~1 000 instructions a frame; see `step`). BLE is `_ble_put`."""
        if self.ble is not None:
            self._ble_put(n)
        try:
            self.out.write(self._enc, 0, n)
        except OSError:
            self.tx_dropped += 1
            self.flags |= P.ST_TX_OVERFLOW

    def _ble_put(self, n):
        self.ble.put(self._enc, n, (self.writer.seqbox[0] - 1) & 0xFFFF)

    def send_payload(self, kind, payload):
        self._send(self.writer.frame(kind, self.t_ms, payload))

    def send_hello(self):
        if self._hello is None:
            self._hello = self._hello_bytes()
        self.send_payload(P.MSG_HELLO, self._hello)

    def _hello_bytes(self):
        """HELLO is built once (and again after CMD_SET): resending it allocates nothing."""
        b = self.board
        hello = {
            "device": self.cfg.get("device", "gaitloop-" + b.KIND),
            "kind": b.KIND,
            "side": self.cfg.get("side", "left"),
            "fw": FW_VERSION,
            "proto": P.VERSION,
            "rate": self.rate,
            "channels": list(b.CHANNELS),
            "units": list(b.UNITS),
            "scale": list(b.SCALE),
        }
        n = getattr(self.hal, "n_samples", 0)
        if n:  # a replayed recording: its length, so the host can show where it starts again
            hello["replay"] = {"samples": n, "loop": bool(self.hal.loop), "speed": self.speed,
                               "start": getattr(self.hal, "start_row", 0)}
        if self.boot_error:
            hello["error"] = self.boot_error
        if self.updater is not None:
            hello["artifacts"] = self.updater.hello_facts()
        return json.dumps(hello).encode()

    def send_status(self):
        """One STATUS frame, its header and payload packed in one call (`_STATUS_FMT`).

        Why this shape: on the board each bytecode operation costs ~100 instructions and an
        attribute lookup ~200; field by field (`begin`, eleven `put_u*` calls, the properties)
        a STATUS cost ~56 000 instructions, one a second (tools/bench/bench_drivers.py
        `--split`). `struct.pack_into` writes the same bytes from C into the writer's buffer:
        nothing allocated."""
        flags = self.flags
        for p in self._procs:
            flags |= p.status()
        # gaitfw.boardhal: sensor faults. From the class, called with the HAL: a bound method
        # made at every STATUS was 32 bytes of garbage a second (no App attribute for it either:
        # one more entry in the App's dictionary moved the replay path's lookups: +760 a sample)
        hal_status = getattr(type(self.hal), "status", None)
        if hal_status is not None:
            flags |= hal_status(self.hal)
        age = self._mem_age
        if age == 0 or (age >= _MEM_EVERY and self.power.state == P.POWER_IDLE):
            # gc.mem_free() and mem_alloc() each walk the whole heap: the two take 1.65 M M0+
            # cycles (13 ms) on the Pico W's 192 kB, ~5 M instructions on a 2 MB ESP32-S3 heap:
            # longer than a 10 ms sample, which would then be taken late. So they run at boot,
            # when the host asks (CMD_STATUS sets the age to 0) and at most once a minute while
            # idle (ticks 100 ms apart); an active board resends the last figures.
            self._mem_free = mem_free()
            self._mem_alloc = mem_alloc()
            age = 0
        if age < _MEM_EVERY:
            self._mem_age = age + 1
        dropped = self.ring[_EV_DROPPED]  # events lost to a full ring (EventRing)
        if dropped:
            self.flags |= P.ST_EV_OVERFLOW
            flags |= P.ST_EV_OVERFLOW
        w = self.writer
        pw = self.power
        st = self._st
        _pack_into(_STATUS_FMT, w.raw, 0, _STATUS_HEAD, st[_I_T], flags, st[_I_SENT],
                   min(dropped, 0xFFFF), min(self.tx_dropped, 0xFFFF), self._mem_free,
                   self._mem_alloc, pw.state, pw.reason, pw.rate_now(), self.pacer.overruns())
        self._send(w.finish(P.STATUS_LEN))

    def _flush_batch(self):
        """Send the open SAMPLES frame before it is full (a full one `_tick` seals itself):
        `_tick` has kept its header (first index, channels, count) current, so this is the
        seal and the send."""
        st = self._st
        n = st[_I_BATCH]
        self._send(self.sw.finish(P.SAMPLES_HEADER + n * self._row_bytes))
        st[_I_SENT] = (st[_I_SENT] + n) & 0x3FFFFFFF
        st[_I_BATCH] = 0

    def _drain_events(self):
        """Every queued event as an EVENT frame: `pop` builds and seals it in the writer's
        buffers and answers its length plus 256 x the events left (EventRing);
        `_send` sends it. Events lost to a full ring are STATUS's (`send_status`)."""
        ring = self.ring
        v = ring.pop()
        while v:
            self._send(v & 0xFF)
            if v < 256:
                break
            v = ring.pop()

    # -- the sample path ----------------------------------------------------------------

    def step(self, _tk=_tick):
        """Take one sample through HAL, processors and framing. False when the HAL ended.

        Why this shape: each Python operation here costs ~100 instructions on the board, so
        the row read (a HAL with a row buffer), the clock, the SAMPLES framing and header, the
        due checks and, on the insole, the foot's kernel are one native call (`_tick`, its
        buffers found through `_st`), which answers 0 on most samples; the processors' bound
        `feed` runs when `_tick` asks (`_R_FEED`: every sample, or a foot sample that changes
        something); the HAL itself runs only to refill its buffer (`_read_tick`). Few locals on
        purpose: a bytecode function whose locals + stack exceed 11 slots gets its frame from
        the heap on every call (MicroPython's VM_MAX_STATE_ON_STACK), ~2 600 instructions for
        the allocation and free. `_tk`: `_tick` as a default argument, copied into the frame
        where a global costs a dictionary lookup (~80 instructions a sample)."""
        st = self._st
        r = _tk(st)
        if r:  # most samples: 0 (no frame to send, nothing changed, nothing due)
            if r < 0:  # the sample was not read natively: through the HAL, then the tick
                r = self._read_tick(self.sample)
                if r < 0:
                    return False
            if r & _R_FEED:
                self._feed(st[_I_T], self.sample)
                if st[_I_EVN]:  # events from the processors
                    r |= _R_EVENTS
            if r & _R_FLUSH:  # the SAMPLES frame `_tk` sealed
                self._send(st[_I_ENCN])
            if r & _R_EVENTS:
                self._drain_events()
            if r & _R_DUE:
                if r & _R_STATUS:
                    st[_I_NEXT_STATUS] += _STATUS_EVERY_MS
                    self.send_status()
                if r & _R_HELLO:
                    st[_I_NEXT_HELLO] += _HELLO_EVERY_MS
                    self.send_hello()
        return True

    def _after(self, r):
        """The rest of a sample whose `_tick` result `r` is not 0 (a test HAL's step; on the
        board drivers the tick's own, without _R_FEED, which it handled: `_Drv`)."""
        st = self._st
        if r & _R_FEED:
            self._feed(st[_I_T], self.sample)
            if st[_I_EVN]:  # events from the processors
                r |= _R_EVENTS
        if r & _R_FLUSH:  # the SAMPLES frame `_tick` sealed
            self._send(st[_I_ENCN])
        if r & _R_EVENTS:
            self._drain_events()
        if r & _R_DUE:
            self._due(r)
        return True

    def _due(self, r):
        """STATUS and HELLO when `_tick` says they are due (bits of `r`)."""
        st = self._st
        if r & _R_STATUS:
            st[_I_NEXT_STATUS] += _STATUS_EVERY_MS
            self.send_status()
        if r & _R_HELLO:
            st[_I_NEXT_HELLO] += _HELLO_EVERY_MS
            self.send_hello()

    def _step_hal(self):
        """`step` on a HAL with neither a row buffer nor a native read (a test's HAL): the HAL
        reads, `_tick` frames; the rest as `step` (`_after`)."""
        if not self._read(self.sample):
            return False
        r = _tick(self._st)
        return self._after(r) if r else True

    def _read_tick(self, s):
        """`step` for a sample `_tick` could not read itself: a HAL without a row buffer (every
        sample), or a buffer to refill (every `chunk_rows` rows). -1 when the HAL ended."""
        if not self._read(s):
            return -1
        st = self._st
        rows = st[_I_ROWS]
        st[_I_ROWS] = 0
        r = _tick(st)
        st[_I_ROWS] = rows
        return r

    async def sampler(self, start_us=None):
        """Take samples on the pacer's grid; hand over to `_idle` while the board idles.

        `start_us`: the ticks_us the grid's first tick is due at (a shared replay's row,
        `join_replay`); now when None.

        Lateness of every sample goes into the pacer's histogram (jitter); a late loop catches
        up at most _MAX_CATCHUP samples per scheduler turn, and a HAL with a CATCHUP limit skips
        the ticks beyond it (counted; the index moves on, so board time stays on the wall
        clock). The per-sample part of the pacer and of the idle check runs on locals here:
        a method call each would cost more than the arithmetic (docs/hardware.md)."""
        self._next_status = _STATUS_EVERY_MS
        self._next_hello = _HELLO_EVERY_MS
        pc = self.pacer
        pw = self.power
        hist = pc.hist
        bin_us = pc.BIN_US
        top = pc.TOP
        limit = pc.limit_us
        per = pc.period_int  # 0: a fractional period, stepped by pc.advance()
        pc.start(ticks_us() if start_us is None else start_us)
        due = pc.due
        cd = pw.div
        ble = self.ble  # attached at boot (`run`), before this task starts
        while self.running:
            n = 0
            while n < _MAX_CATCHUP:
                late = ticks_diff(ticks_us(), due)
                if late < 0:
                    break
                if late > limit:
                    pc.due = due
                    self._skip(pc.skip(ticks_us()))
                    due = pc.due
                    continue
                b = late // bin_us
                if b > top:
                    pc.record(late)
                else:
                    hist[b] += 1
                    if late > pc.max_us:
                        pc.max_us = late
                if not self.step():
                    self.flags |= P.ST_REPLAY_END
                    if self.batch_count:
                        self._flush_batch()
                    self.send_status()
                    self.running = False
                    return
                self.sample_us = due  # the sample clock's tick of it (not when step ran)
                if per:
                    due = ticks_add(due, per)
                else:
                    pc.due = due
                    pc.advance()
                    due = pc.due
                n += 1
                cd -= 1
                if cd <= 0:
                    cd = pw.div
                    if pw.check_now(self.sample) and not self._connected():
                        pc.due = due
                        await self._idle()
                        due = pc.due
                        cd = pw.div
                        break
            pc.due = due
            if ble is not None and ble.queued:
                ble.flush()  # this turn's frames go out now, not at the pump's next tick
            if n == _MAX_CATCHUP:
                self.flags |= P.ST_SAMPLE_LATE
                await asyncio.sleep_ms(0)
            else:
                wait = ticks_diff(due, ticks_us()) // 1000
                await asyncio.sleep_ms(wait if wait > 0 else 0)

    def _skip(self, k):
        """k ticks were skipped: the samples are lost (the host counts the gap), time goes on."""
        if k <= 0:
            return
        if self.batch_count:
            self._flush_batch()  # a SAMPLES frame holds consecutive samples only
        self.index += k
        self.flags |= P.ST_SAMPLE_LATE

    def _connected(self):
        ble = self.ble
        return ble is not None and ble.conn >= 0

    def _set_time(self):
        """Board time of the sample at `index`, as `_tick` would stamp it."""
        st = self._st
        st[_I_T] = st[_I_T_SEC] + st[_I_WORDS + st[_I_SUB]]

    async def _idle(self):
        """Low power until motion, a connection or CMD_POWER 2 (gaitfw/power.py).

        Every `div`-th tick of the same grid: one sensor read compared with the motion
        anchor; the index moves on `div` ticks (board time stays true, no SAMPLES are sent:
        the STATUS before the gap says the board was idle). On wake the tick that saw the
        motion is taken at once as a full-rate sample, and every tick after it."""
        pw = self.power
        pc = self.pacer
        hal = self.hal
        s = self.sample
        if self.batch_count:
            self._flush_batch()
        pw.enter()
        self._set_idle(True)
        self.send_status()
        sleep = None
        if pw.lightsleep and self.ble is None:
            try:
                from machine import lightsleep as sleep
            except ImportError:
                sleep = None
        while self.running and pw.state == P.POWER_IDLE:
            for _ in range(pw.div - 1):  # the next idle tick, on the full-rate grid
                pc.advance()
            while True:
                wait = ticks_diff(pc.due, ticks_us())
                if wait <= 0 or pw.state != P.POWER_IDLE or not self.running:
                    break
                if sleep is not None and wait >= 2000:
                    sleep(wait // 1000)  # the whole board waits (no radio to keep up)
                    await asyncio.sleep_ms(0)  # then the other tasks (console reader) get a turn
                else:
                    await asyncio.sleep_ms(wait // 1000 if wait >= 1000 else 0)
            self.index += pw.div - 1  # (only now: CMD_TIME while waiting counts from the last tick)
            if pw.state != P.POWER_IDLE or not self.running:
                break  # CMD_POWER 2 woke the board while it waited
            late = ticks_diff(ticks_us(), pc.due)
            if pc.behind(late):
                k = pc.skip(ticks_us())
                self.index += k
            self._set_time()
            if self._connected():
                pw.wake(P.WAKE_LINK)
            elif not hal.read(s):
                pw.wake(P.WAKE_NONE)  # a replay ran out: the sampler reports REPLAY_END
            elif pw.moved(s):
                pw.wake(P.WAKE_MOTION)
            if pw.state == P.POWER_IDLE:
                if self._st[_I_EVN]:  # events queued (the ring's count)
                    self._drain_events()
                if self.t_ms >= self._next_status:
                    while self._next_status <= self.t_ms:
                        self._next_status += _STATUS_EVERY_MS
                    self.send_status()
                self.sample_us = pc.due  # CMD_TIME: the idle tick is the latest sample instant
                self.index += 1
                pc.advance()
        self._set_idle(False)
        self.send_status()  # active again, with the reason; SAMPLES follow from this tick on
        self._next_hello = self.t_ms  # a host that joined while idle learns the board at once

    def _set_idle(self, idle):
        """LED and buzzer off, BLE advertising slow while idle (gaitfw/boardhal, link_ble)."""
        f = getattr(self.hal, "set_idle", None)
        if f is not None:
            f(idle)
        if self.ble is not None:
            self.ble.set_idle(idle)

    # -- commands -----------------------------------------------------------------------

    def _interrupt(self):
        self.interrupted = True
        self.running = False

    def _rx_byte(self, b):
        rx = self.rx
        n = self.rx_len
        if b == 0:
            if n:
                self._rx_frame(n)
            self.rx_len = 0
            return
        if b == _CTRL_C and (n == 1 or (n >= 2 and rx[1] != P.MAGIC)):
            self._interrupt()
            return
        if n == 1 and rx[0] == _CTRL_C and b != P.MAGIC:
            self._interrupt()
            return
        if n >= len(rx):
            self.rx_len = 0  # oversized garbage: drop and resync at the next 0x00
            return
        rx[n] = b
        self.rx_len = n + 1
        self.rx_t = ticks_ms()

    def _rx_frame(self, n):
        f = P.parse_command(self.rx, n, self.rx_dec)
        if f is not None:
            self.handle_command(f.seq, f.payload[0], f.payload[1:])

    def _ack(self, seq, cmd, reply=b""):
        self.send_payload(P.MSG_ACK, bytes((seq & 0xFF, seq >> 8, cmd)) + reply)

    def _nak(self, seq, cmd, err, reason=""):
        self.send_payload(P.MSG_NAK, bytes((seq & 0xFF, seq >> 8, cmd, err)) + reason.encode())

    def _ack_time(self, seq, link):
        """CMD_TIME: where the sample clock was when the command arrived, finer than its 10 ms
        grid. The reply is the index of the latest sample, the real microseconds since it was
        taken, and the real microseconds since the command arrived (the BLE write IRQ's stamp;
        0 over the console, read as it comes). The host places the arrival at board time
        index / rate + (since_sample - since_arrival) * speed (a replay at N x speed runs the
        sample clock N x wall time), between its send and receive times."""
        now = ticks_us()
        el = ticks_diff(now, self.sample_us) if self.index else 0
        age = ticks_diff(now, link.rx_us) if link is not None else 0
        if el < 0:
            el = 0
        if age < 0 or age > el + 1000000:  # no stamp from this write: the answer's own time
            age = 0
        r = bytearray(12)
        P.put_u32(r, 0, self.index - 1 if self.index else 0)
        P.put_u32(r, 4, el)
        P.put_u32(r, 8, age)
        self._ack(seq, P.CMD_TIME, r)

    def _ble_command(self, seq, cmd, args):
        self.handle_command(seq, cmd, args, self.ble)

    def handle_command(self, seq, cmd, args, link=None):
        """Answer one command; `link` is the BLE link it came over (None: the console)."""
        if cmd == P.CMD_TIME:
            self._ack_time(seq, link)
            return  # no EV_CMD: the host probes several times a second
        if cmd == P.CMD_PING:
            self._ack(seq, cmd)
        elif cmd == P.CMD_HELLO:
            self.send_hello()
            self._ack(seq, cmd)
        elif cmd == P.CMD_START:
            self.streaming = True
            if link is not None:
                link.start_live()
                self._ble_event(1, link.mtu)
            self._ack(seq, cmd)
        elif cmd == P.CMD_RESEND:
            if link is None:
                self._nak(seq, cmd, P.ERR_STATE, "no resend buffer on this link")
            elif len(args) != 2:
                self._nak(seq, cmd, P.ERR_BAD_ARGS, "expected u16 from-seq")
            elif link.resend(args[0] | (args[1] << 8), self.writer.seqbox[0]):
                self._nak(seq, cmd, P.ERR_RESEND_GONE, "beyond the resend buffer")
                self._ble_event(1, link.mtu)
            else:
                self._ack(seq, cmd)
                self._ble_event(1, link.mtu)
        elif cmd == P.CMD_STOP:
            if self.batch_count:
                self._flush_batch()
            self.streaming = False
            self._ack(seq, cmd)
        elif cmd == P.CMD_STATUS:
            self._mem_age = 0  # the host asked: fresh heap figures
            self.send_status()
            self._ack(seq, cmd)
        elif cmd == P.CMD_SET:
            try:
                changes = json.loads(bytes(args))
                if not isinstance(changes, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._nak(seq, cmd, P.ERR_BAD_ARGS, "expected a JSON object")
                return
            self.cfg.update(changes)
            self._hello = None
            if "stream" in changes:
                self.streaming = bool(changes["stream"])
            self.power.configure(self.cfg)  # idle_after_s, wake_thr, idle_rate_hz, lightsleep
            try:
                save_config(self.cfg)
            except OSError:
                self._nak(seq, cmd, P.ERR_STORAGE, "config not saved")
                return
            self._ack(seq, cmd)
        elif P.CMD_POWER <= cmd <= P.CMD_HAL_RAW:
            from gaitfw import powercmd  # rare: imported when first asked, not kept from boot

            powercmd.handle(self, seq, cmd, args)
        elif P.CMD_UPD_FIRST <= cmd <= P.CMD_UPD_LAST and self.updater is not None:
            self.updater.handle(seq, cmd, args)  # signed A/B-slot updates: gaitfw/update.py
        else:
            self._nak(seq, cmd, P.ERR_UNKNOWN_CMD, "unknown command %d" % cmd)
        self.emit(self.t_ms, E.EV_CMD, 2, cmd, 0)

    async def reader(self):
        if self.inp is None or self.poller is None:
            return
        one = self.one
        while self.running:
            n = 0  # bytes this turn: a stream of commands (an update) must not starve the sampler
            while self.running and n < _RX_PER_TURN and self.poller.poll(0):
                if not self.inp.readinto(one, 1):
                    break
                self._rx_byte(one[0])
                n += 1
            if self.rx_len == 1 and self.rx[0] == _CTRL_C and ticks_diff(ticks_ms(), self.rx_t) > 100:
                self._interrupt()
            await asyncio.sleep_ms(0 if n == _RX_PER_TURN else 10)

    async def main(self):
        start_us = None
        if self.before_sampling is not None:
            # e.g. join a shared replay: the ticks_us its first row is due at
            start_us = self.before_sampling()
        self.send_hello()
        self.emit(0, E.EV_BOOT, 2, _FW_CODE, 0)
        if self.cfg.get("_defaulted"):
            self.flags |= P.ST_CONFIG_DEFAULT
        tasks = [self.sampler(start_us), self.reader()]
        if self.ble is not None:
            tasks.append(self.ble.pump(self._is_running))
        await asyncio.gather(*tasks)

    def _is_running(self):
        return self.running


CONFIG_PATH = "config.json"


def load_config(path=CONFIG_PATH):
    """The board's config; defaults (flagged in STATUS) when missing or unreadable."""
    try:
        with open(path) as f:
            cfg = json.load(f)
        if isinstance(cfg, dict):
            return cfg
    except (OSError, ValueError):
        pass
    return {"board": "insole", "_defaulted": True}


def save_config(cfg, path=CONFIG_PATH):
    """Write config atomically (temp file, then rename) so a reset never leaves half a file."""
    import os

    tmp = path + ".tmp"
    derived = cfg.get("_derived", ())  # set by pushed artifacts (gaitfw/update.py): not saved
    data = {k: v for k, v in cfg.items() if not k.startswith("_") and k not in derived}
    data.update(cfg.get("_base", {}))
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.rename(tmp, path)


def board_module(kind):
    if kind == "insole":
        from gaitfw.boards import insole as board
    elif kind == "knee":
        from gaitfw.boards import knee as board
    else:
        raise ValueError("unknown board kind: %s" % kind)
    return board


def run():
    """Boot: load config, build HAL and processors, stream until interrupted or data ends."""
    import select

    cfg = load_config()
    board = board_module(cfg.get("board", "insole"))
    from gaitfw.hal import ReplayHal
    from gaitfw.update import Updater

    updater = Updater(board, cfg)  # resolves interrupted updates, applies the active slots
    cfg = updater.cfg

    if cfg.get("hal") == "drivers":  # a real board (or the simulator's `machine` stand-in)
        from gaitfw.boardhal import from_config

        hal = from_config(cfg, board)
    else:
        hal = ReplayHal(cfg.get("replay", "replay.glrp"), len(board.CHANNELS), cfg.get("loop", True))
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    app = App(board, cfg, hal, sys.stdout.buffer, sys.stdin.buffer, poller)
    if hasattr(hal, "attach"):  # gaitfw.boardhal: buzzer and LED follow the feedback rules
        hal.attach(app)
    updater.attach(app)
    ble = start_ble(app, cfg, board)
    gc.collect()
    app.before_sampling = lambda: join_replay(hal, cfg, board.RATE_HZ)
    try:
        asyncio.run(app.main())
    finally:
        hal.close()
        if ble is not None:
            ble.close()
    return app


def join_replay(hal, cfg, rate):
    """Simulated boards of one walk (two insoles, two knee sleeves) share `replay_epoch_ms`,
    the wall-clock time their replay's sample 0 played: a board that boots later, or reboots,
    seeks to the next row of the walk and returns the ticks_us that row is due at, where its
    sample grid starts (`App.sampler`). So each board plays row r at epoch + r periods, as
    two legs of one person move on one clock, however late its boot ran: the host's
    alignment of the boards (gaitloop.timeline) then has only its own error. A real board's
    HAL samples the present and has nothing to join (None)."""
    epoch = cfg.get("replay_epoch_ms")
    if epoch is None or not hasattr(hal, "seek"):
        return None
    import time

    t_us = ticks_us()
    elapsed_us = (time.time_ns() - int(epoch) * 1000000) // 1000
    speed = float(cfg.get("speed", 1.0)) or 1.0
    period_us = 1000000.0 / (rate * speed)
    row = 0
    if elapsed_us > 0:
        row = int(elapsed_us / period_us)
        if row * period_us < elapsed_us:
            row += 1  # the next row: its instant is now or later
    hal.seek(row)
    return ticks_add(t_us, int(row * period_us - elapsed_us))


def start_ble(app, cfg, board):
    """Advertise and serve the GATT service when the port has `bluetooth` and config allows.

    An optional part: a port without BLE, or a BLE start-up error, leaves the board
    streaming on its console (the reason goes to stderr, which is the board log).
    """
    if cfg.get("ble", True) is False:
        return None
    try:
        import bluetooth
    except ImportError:
        return None
    try:
        from gaitfw.link_ble import BleLink

        link = BleLink(bluetooth, board.KIND, cfg.get("side", "left"), app._ble_command,
                       int(cfg.get("ble_ring", 16384)))
    except (OSError, ValueError, RuntimeError) as exc:
        sys.stderr.write("ble: off (%s)\n" % exc)
        return None
    app.attach_ble(link)
    sys.stderr.write("ble: %s\n" % link.name)
    return link
