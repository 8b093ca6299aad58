"""Every sensor driver's per-sample work in one native call: `read(W, calls, sample)`.

Why: on the Unix port a bytecode call costs ~800 instructions and an attribute ~250, so the
drivers' own `read` methods (BoardHal's loop, a call per driver, a dozen attributes each,
Stuck.feed, seven `_s16` calls per _IMU) cost more than the rest of the insole's sample path
together (docs/benchmarks.md, "Through the drivers"). Here each driver's state is one record
of words in an `array('i')` and its `machine` callables (bound once: `adc.read_u16`, the
HX711's two pins, `i2c.readfrom_mem_into`) sit in a tuple; one viper call makes the calls
into C, converts, calibrates, fills the sample and keeps the fault bookkeeping. The drivers
(divider.py, hx711.py, mpu6050.py) keep their classes, attributes and `read(sample)` as
before, as views of their record, and read through this same function.

Layout of W (int32 words): header `_H` words, then one record of `_REC` words per driver.
`calls` is one flat tuple of the drivers' callables; a record's word CI is where its own
begin (an FSR: `read_u16`; an HX711: DOUT, PD_SCK, disable_irq, enable_irq, or clocked by
SPI: DOUT, `write_readinto`, its one 7-byte buffer (MOSI out, MISO back); an MPU-6050:
`init`, `readfrom_mem_into`, its address, its burst buffer). A record's
fault bookkeeping: `fault` the driver's present state, `nfault` the samples whose read
failed (BoardHal.fault_counts), and the header's latch, set by any failed read (STATUS).

Widths: every word stays in [-2^29, 2^29) (31-bit small ints on the boards; viper
words are 32 bits there): readings are u16, HX711 words 24-bit, counts int16, the divider's
product (q - q_a) * dout at most 2^16 * 16000 (divider.check_cal bounds dout), the _IMU
fingerprint masked to 30 bits. Division is floor division on non-negative operands only,
so the result does not depend on how a port's viper divides negatives.
"""

import micropython
from micropython import const

from gaitfw.compat import MICROPYTHON

if not MICROPYTHON:
    from gaitfw.compat import ptr8, ptr16, ptr32  # noqa: F401  (viper annotations on CPython)

_H = const(6)  # header words, then the records
_REC = const(25)
H_N = const(0)  # samples read (reads of all records)
H_OUT = const(1)  # n > 0: `read` answers bit 0 every n-th sample (BoardHal.outputs due), but see
OUT_REST = const(256)  # in H_OUT (n | OUT_REST): the step has nothing to do until a rule changes;
# the count runs on (the steps keep the samples they fall on) and `read` answers nothing
H_LATCH = const(2)  # a read failed since BoardHal.status last cleared it
H_ONE = const(3)  # 0: read every record; k + 1: record k alone (a driver's own `read`)
_H_NREC = const(4)
H_OUTC = const(5)  # samples to the next outputs step

# record words, common
_KIND = const(0)  # _DIVIDER, _HX711, _MPU
_CH = const(1)
FAULT = const(2)
NFAULT = const(3)
_STUCK_N = const(4)
_STUCK_LAST = const(5)
_STUCK_COUNT = const(6)
RAW = const(7)  # divider: ADC u16; HX711: signed 24-bit word
_VALUE = const(8)  # the channel count last written
# divider
Q_A = const(9)
OUT_A = const(10)
DQ = const(11)
DOUT = const(12)
CLIP = const(13)  # 1: counts below CLIP_LOW read as CLIP_LOW (an FSR)
CLIP_LOW = const(14)
_RAIL = const(15)
RAIL_N = const(16)
# HX711
PULSES = const(9)
TARE = const(10)
DIV = const(11)
_WAITS = const(12)
TIMEOUT_N = const(13)
XFER = const(14)  # 1: clocked by the SPI peripheral (one write_readinto), 0: by the CPU on two pins
RXA = const(15)  # XFER: the transfer buffer's address minus W's, plus 2^29 (`bind_rx`)
TXL = const(16)  # XFER: its last MOSI byte (0x80 / 0xA0 / 0xA8: 25 / 26 / 27 pulses), written
# back with the six 0xAA after the MISO bytes are read (one buffer for both directions)
# MPU-6050
NEED_INIT = const(9)
NACKS = const(10)
_IMU = const(11)  # 6 words: ax ay az gx gy gz in chip order (last good read)
TEMP = const(17)
SRC = const(18)  # 3 words: chip axis (0..2) of thigh axis k
NEG = const(21)  # 3 words: 1 where thigh axis k is the negated chip axis
CI = const(24)  # the record's first callable in `calls`

DIVIDER = const(1)
HX711 = const(2)
MPU6050 = const(3)
# A ptr32 load zero-extends on 64-bit ports (sign-extends on the 32-bit boards): a word that
# may be negative is read back as ((w + _B) & _M) - _B, exact for [-2^29, 2^29) on both, with
# constants that are small ints on the boards (2^30 and over are not).
_B = const(0x20000000)
_M = const(0x3FFFFFFF)
_NO_LAST = const(-0x20000000)  # Stuck's "no value yet": no reading, word or fingerprint equals it


class ImuError(OSError):
    """An I2C device that answers but is not the _IMU the profile names. An OSError, as a
    NACK is: the native read (here and in app._tick_viper) catches both as one."""


def words(n):
    """A W for `n` drivers: header and zeroed records."""
    from array import array

    W = array("i", [0] * (_H + _REC * n))
    W[_H_NREC] = n
    return W


def record(W, k):
    """Driver k's record as a view (its attributes read and write through it)."""
    return memoryview(W)[_H + _REC * k:_H + _REC * (k + 1)]


if MICROPYTHON:

    @micropython.viper
    def _addr(b: ptr8) -> int:
        return int(b)


def bind_rx(W, k, rx):
    """Record k's word RXA leads the native read to `rx` (an SPI-clocked HX711's transfer
    buffer): its address minus W's, plus 2^29, as `app._bind` does for the tick's buffers.
    Why: found through `calls` it cost a tuple subscript and a buffer conversion a conversion
    (~330 instructions a sample on the ESP32-S3 insole). The caller keeps `rx` alive (it is in
    `calls`). The plain twin reads `calls` and the word is 0 there (no addresses on CPython)."""
    d = 0
    if MICROPYTHON:
        d = _addr(rx) - _addr(W) + _B
        if not 0 <= d < 0x40000000:  # never within one heap
            raise MemoryError("HX711 buffer 2^29 bytes from its record")
    W[_H + _REC * k + RXA] = d


def init_record(r, kind, ch, stuck_n):
    r[_KIND] = kind
    r[_CH] = ch
    r[_STUCK_N] = stuck_n
    r[_STUCK_LAST] = _NO_LAST


# The two driver steps that may raise, each a viper function of its own: a native function
# with any exception handler pushes one at every call and keeps its locals out of registers,
# and the records' block also runs inside `app._tick_viper`, every sample of every board
# (the replay's too): ~250 instructions a sample there, for a handler only a knee sleeve or
# a bit-banged HX711 needs.
@micropython.viper
def _burst(calls, ci: int, need: int) -> int:
    """An MPU-6050's burst into its buffer (woken first when `need`); 0 on an OSError (a NACK,
    or ImuError: an answer that is no MPU-6050), else 1."""
    try:
        if need:
            calls[ci]()
        calls[ci + 1](calls[ci + 2], 0x3B, calls[ci + 3])
    except OSError:  # ImuError is an OSError
        return 0
    return 1


@micropython.viper
def _bits(calls, ci: int, pulses: int) -> int:
    """An HX711's 24-bit word, bit-banged on its two pins with IRQs off (PD_SCK high > 60 us
    powers the chip down), then the pulses that pick the next conversion's gain."""
    dout = calls[ci]
    sck = calls[ci + 1]
    irq = calls[ci + 2]()
    v = 0
    try:
        i = 0
        while i < 24:
            sck(1)
            v = (v << 1) | int(dout())
            sck(0)
            i += 1
        i = pulses - 24
        while i > 0:  # gain / channel of the next conversion
            sck(1)
            sck(0)
            i -= 1
    finally:
        calls[ci + 3](irq)
    return v


@micropython.viper
def _read_viper(W: ptr32, calls, s: ptr16) -> int:
    n = W[_H_NREC]
    j = 0
    one = W[H_ONE]
    if one:
        j = one - 1
        n = one
    # -- the records: app._tick_viper holds this block verbatim, its constants prefixed _D_
    # (tests/boards/test_drvnative.py compares the two texts)
    bad = 0
    while j < n:
        D = ptr32(int(W) + (_H + j * _REC) * 4)
        ci = D[CI]
        kind = D[_KIND]
        ch = D[_CH]
        ok = 1
        key = 0  # the value Stuck is fed
        feed = 1
        if kind == DIVIDER:
            u = int(calls[ci]())
            D[RAW] = u
            q = 0
            if u >= 52429:
                q = 65536
            elif u > 0:
                q = (u << 14) // (65536 - u)
                if q > 65536:
                    q = 65536
            num = (q - D[Q_A]) * (((D[DOUT] + _B) & _M) - _B)
            den = ((D[DQ] + _B) & _M) - _B
            if den < 0:
                num = 0 - num
                den = 0 - den
            if num >= 0:
                c = num // den
            else:
                c = 0 - ((den - 1 - num) // den)
            c += ((D[OUT_A] + _B) & _M) - _B
            if D[CLIP]:
                lo = ((D[CLIP_LOW] + _B) & _M) - _B
                if c < lo:
                    c = lo
            if c > 32767:
                c = 32767
            elif c < -32768:
                c = -32768
            D[_VALUE] = c
            s[ch] = c
            if u >= 65000:
                D[_RAIL] = D[_RAIL] + 1
            else:
                D[_RAIL] = 0
            key = u
        elif kind == HX711:
            dout = calls[ci]
            if int(dout()) != 0:  # no new conversion: hold the last, fault after TIMEOUT_N
                feed = 0
                w = D[_WAITS] + 1
                D[_WAITS] = w
                if w >= D[TIMEOUT_N]:
                    D[FAULT] = 1
                    ok = 0
                else:
                    s[ch] = D[_VALUE]
            else:
                D[_WAITS] = 0
                v = 0
                if D[XFER]:  # PD_SCK on SPI's MOSI, the data line on MISO (hx711.py): one transfer
                    xb = calls[ci + 2]  # in place: the MOSI bytes out, the MISO bytes back
                    calls[ci + 1](xb, xb)
                    b = ptr8(int(W) + D[RXA] - _B)  # xb, found by address (bind_rx)
                    i = 0
                    while i < 6:  # bits 6 4 2 0 of a byte: the low slot of 4 pulses, MSB first
                        x = b[i]
                        v = (v << 4) | ((x >> 3) & 8) | ((x >> 2) & 4) | ((x >> 1) & 2) | (x & 1)
                        b[i] = 0xAA  # the next transfer's MOSI bytes: 4 pulses, each 1 then 0
                        i += 1
                    b[6] = D[TXL]
                else:
                    v = int(_bits(calls, ci, D[PULSES]))
                if v & 0x800000:
                    v -= 0x1000000
                D[RAW] = v
                num = v - (((D[TARE] + _B) & _M) - _B)
                den = D[DIV]
                if num >= 0:
                    c = num // den
                else:
                    c = 0 - ((den - 1 - num) // den)
                if c > 32767:
                    c = 32767
                elif c < -32768:
                    c = -32768
                D[_VALUE] = c
                s[ch] = c
                key = v
        else:  # MPU6050: (k, init, readfrom_mem_into, addr, buf)
            if int(_burst(calls, ci, D[NEED_INIT])) == 0:  # a NACK, or not an MPU-6050
                D[NACKS] = D[NACKS] + 1
                D[NEED_INIT] = 1
                D[FAULT] = 1
                ok = 0
                feed = 0
            if ok:
                b = ptr8(calls[ci + 3])  # ax ay az temp gx gy gz, big-endian int16
                D[TEMP] = ((b[6] << 8) | b[7]) - ((b[6] & 0x80) << 9)
                # the six words, each into the record and the fingerprint (identical
                # bursts in a row), written out: a loop's branches cost more than its body
                v = ((b[0] << 8) | b[1]) - ((b[0] & 0x80) << 9)
                D[_IMU] = v
                key = v
                v = ((b[2] << 8) | b[3]) - ((b[2] & 0x80) << 9)
                D[_IMU + 1] = v
                key = key ^ (v << 3)
                v = ((b[4] << 8) | b[5]) - ((b[4] & 0x80) << 9)
                D[_IMU + 2] = v
                key = key ^ (v << 6)
                v = ((b[8] << 8) | b[9]) - ((b[8] & 0x80) << 9)
                D[_IMU + 3] = v
                key = key ^ (v << 9)
                v = ((b[10] << 8) | b[11]) - ((b[10] & 0x80) << 9)
                D[_IMU + 4] = v
                key = key ^ (v << 12)
                v = ((b[12] << 8) | b[13]) - ((b[12] & 0x80) << 9)
                D[_IMU + 5] = v
                key = key ^ (v << 15)
                key = key & 0x3FFFFFFF
            k = 0
            while k < 3:  # the thigh frame from the chip's axes
                a = ((D[_IMU + D[SRC + k]] + _B) & _M) - _B
                g = ((D[_IMU + 3 + D[SRC + k]] + _B) & _M) - _B
                if D[NEG + k]:
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
            if key == ((D[_STUCK_LAST] + _B) & _M) - _B:
                if D[_STUCK_COUNT] < D[_STUCK_N]:
                    D[_STUCK_COUNT] = D[_STUCK_COUNT] + 1
            else:
                D[_STUCK_LAST] = key
                D[_STUCK_COUNT] = 0
            stuck = 0
            if D[_STUCK_N] > 0 and D[_STUCK_COUNT] + 1 >= D[_STUCK_N]:
                stuck = 1
            if kind == DIVIDER:
                f = 0
                if D[_RAIL] >= D[RAIL_N]:
                    f = 1
                if stuck and key > 0:  # an unloaded FSR reads 0 for good
                    f = 1
                D[FAULT] = f
            else:
                D[FAULT] = stuck
            if D[FAULT]:
                ok = 0
        if not ok:
            D[NFAULT] = D[NFAULT] + 1
            bad = 2
        j += 1
    if bad:
        W[H_LATCH] = 1
    # -- end of the records
    if one:
        return bad
    W[H_N] = (W[H_N] + 1) & 0x3FFFFFFF
    if W[H_OUT]:
        c = W[H_OUTC] - 1
        if c <= 0:
            o = W[H_OUT]
            W[H_OUTC] = o & 255
            if o < OUT_REST:
                return bad | 1
            return bad
        W[H_OUTC] = c
    return bad


def _read_plain(W, calls, s):
    """The CPython twin of `_read_viper`, line for line (the host runs the firmware too)."""
    one = W[H_ONE]
    ks = range(one - 1, one) if one else range(W[_H_NREC])
    bad = 0
    for j in ks:
        o = _H + j * _REC
        R = memoryview(W)[o:o + _REC]
        ci = R[CI]
        kind = R[_KIND]
        ch = R[_CH]
        ok = 1
        key = 0
        feed = 1
        if kind == DIVIDER:
            u = int(calls[ci]())
            R[RAW] = u
            q = 0
            if u >= 52429:
                q = 65536
            elif u > 0:
                q = min((u << 14) // (65536 - u), 65536)
            c = R[OUT_A] + (q - R[Q_A]) * R[DOUT] // R[DQ]
            if R[CLIP] and c < R[CLIP_LOW]:
                c = R[CLIP_LOW]
            c = max(-32768, min(32767, c))
            R[_VALUE] = c
            s[ch] = c
            R[_RAIL] = R[_RAIL] + 1 if u >= 65000 else 0
            key = u
        elif kind == HX711:
            dout = calls[ci]
            if dout() != 0:
                feed = 0
                R[_WAITS] += 1
                if R[_WAITS] >= R[TIMEOUT_N]:
                    R[FAULT] = 1
                    ok = 0
                else:
                    s[ch] = R[_VALUE]
            else:
                R[_WAITS] = 0
                v = 0
                if R[XFER]:
                    xb = calls[ci + 2]
                    calls[ci + 1](xb, xb)
                    for i in range(6):
                        x = xb[i]
                        v = (v << 4) | ((x >> 3) & 8) | ((x >> 2) & 4) | ((x >> 1) & 2) | (x & 1)
                        xb[i] = 0xAA
                    xb[6] = R[TXL]
                else:
                    sck = calls[ci + 1]
                    irq = calls[ci + 2]()
                    try:
                        for _ in range(24):
                            sck(1)
                            v = (v << 1) | dout()
                            sck(0)
                        for _ in range(R[PULSES] - 24):
                            sck(1)
                            sck(0)
                    finally:
                        calls[ci + 3](irq)
                if v & 0x800000:
                    v -= 0x1000000
                R[RAW] = v
                c = max(-32768, min(32767, (v - R[TARE]) // R[DIV]))
                R[_VALUE] = c
                s[ch] = c
                key = v
        else:
            try:
                if R[NEED_INIT]:
                    calls[ci]()
                calls[ci + 1](calls[ci + 2], 0x3B, calls[ci + 3])
            except OSError:
                R[NACKS] += 1
                R[NEED_INIT] = 1
                R[FAULT] = 1
                ok = 0
                feed = 0
            if ok:
                b = calls[ci + 3]
                w = []
                for i in range(7):
                    v = (b[2 * i] << 8) | b[2 * i + 1]
                    w.append(v - 0x10000 if v & 0x8000 else v)
                R[_IMU], R[_IMU + 1], R[_IMU + 2], R[TEMP] = w[0], w[1], w[2], w[3]
                R[_IMU + 3], R[_IMU + 4], R[_IMU + 5] = w[4], w[5], w[6]
                key = R[_IMU] ^ (R[_IMU + 1] << 3) ^ (R[_IMU + 2] << 6) ^ (R[_IMU + 3] << 9)
                key = (key ^ (R[_IMU + 4] << 12) ^ (R[_IMU + 5] << 15)) & 0x3FFFFFFF
            for k in range(3):
                a = R[_IMU + R[SRC + k]]
                g = R[_IMU + 3 + R[SRC + k]]
                if R[NEG + k]:
                    a = -a if a > -32768 else 32767
                    g = -g if g > -32768 else 32767
                s[ch + k] = a
                s[ch + 3 + k] = g
        if feed:
            if key == R[_STUCK_LAST]:
                if R[_STUCK_COUNT] < R[_STUCK_N]:
                    R[_STUCK_COUNT] += 1
            else:
                R[_STUCK_LAST] = key
                R[_STUCK_COUNT] = 0
            stuck = 1 if R[_STUCK_N] > 0 and R[_STUCK_COUNT] + 1 >= R[_STUCK_N] else 0
            if kind == DIVIDER:
                R[FAULT] = 1 if R[_RAIL] >= R[RAIL_N] or (stuck and key > 0) else 0
            else:
                R[FAULT] = stuck
            if R[FAULT]:
                ok = 0
        if not ok:
            R[NFAULT] += 1
            bad = 2
    if bad:
        W[H_LATCH] = 1
    if one:
        return bad
    W[H_N] = (W[H_N] + 1) & 0x3FFFFFFF
    if W[H_OUT]:
        c = W[H_OUTC] - 1
        if c <= 0:
            o = W[H_OUT]
            W[H_OUTC] = o & 255
            if o < OUT_REST:
                return bad | 1
            return bad
        W[H_OUTC] = c
    return bad


read = _read_viper if MICROPYTHON else _read_plain


@micropython.viper
def _latch_viper(W: ptr32) -> int:
    n = W[_H_NREC]
    f = 0
    j = 0
    while j < n:
        if W[_H + j * _REC + FAULT]:
            f = 1
        j += 1
    bits = W[H_LATCH]
    W[H_LATCH] = f
    return bits


if not MICROPYTHON:

    def _latch_plain(W):
        """The CPython twin of `_latch_viper`."""
        f = 0
        for j in range(W[_H_NREC]):
            if W[_H + j * _REC + FAULT]:
                f = 1
        bits = W[H_LATCH]
        W[H_LATCH] = f
        return bits


# latch(W): 1 when a read failed since the last call (BoardHal.status, once a second); the
# latch then follows the drivers' present state (any record's FAULT). One native call: a
# bytecode loop over the drivers' `fault` properties cost ~7 000 instructions a STATUS.
latch = _latch_viper if MICROPYTHON else _latch_plain


def read_one(drv, sample):
    """A driver's own `read(sample)`: its record alone (bring-up, tests); False on a fault."""
    W = drv.W
    W[H_ONE] = drv.k + 1
    r = read(W, drv.calls, sample)
    W[H_ONE] = 0
    return not r & 2
