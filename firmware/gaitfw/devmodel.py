"""Load a device model (.gldm) into preallocated buffers and run it with the int8 kernels.

Why checks first: a model arrives over the air; a truncated or corrupted file must give one
clear error at load, never a crash or a wrong model at inference time. Everything is
allocated here, once; `invoke()` allocates nothing (tests measure gc.mem_alloc()).
Layout: docs/device_model.md; writer: host/gaitloop/export/device_format.py.
"""

import io
import struct
from array import array

from micropython import const

from gaitfw import int8ops

MAGIC = b"GLDM"
VERSION = 2  # 2 adds an optional self-test vector; version 1 files still load
_HAS_TEST = const(1)  # header flags (the u16 at 34, reserved in version 1)
_HEADER = const(40)
_OP_WORDS = const(16)
_CONV = const(1)
_FC = const(2)
_MAXPOOL = const(3)
_AVGPOOL = const(4)
_RESHAPE = const(5)
TASK_PHASE = 0
TASK_GRF = 1


class DevModelError(ValueError):
    """The device model file is truncated, corrupted or inconsistent."""


def _crc32(data, crc=0):
    """CRC-32 of `data` continuing `crc` (the CRC of what came before), as binascii.crc32."""
    try:
        import binascii

        return binascii.crc32(data, crc) & 0xFFFFFFFF
    except (ImportError, AttributeError):  # ports without binascii.crc32
        crc ^= 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
        return crc ^ 0xFFFFFFFF


def _crc_stream(f, n):
    """CRC-32 of the next `n` bytes of `f`, read through one small buffer."""
    buf = bytearray(256)
    crc = 0
    while n > 0:
        k = f.readinto(buf) if n >= len(buf) else f.readinto(memoryview(buf)[:n])
        if not k:
            raise DevModelError("device model truncated: %d bytes missing" % n)
        crc = _crc32(memoryview(buf)[:k], crc)
        n -= k
    return crc


def _read(f, buf):
    """`buf` filled from `f` (a short read is a truncated file)."""
    mv = memoryview(buf)
    got = 0
    while got < len(buf):
        k = f.readinto(mv[got:])
        if not k:
            raise DevModelError("device model truncated: a section is cut short")
        got += k
    return buf


def _read_i32(f, n):
    """The next `n` little-endian int32 of `f` as an array("i") (small sections only)."""
    raw = _read(f, bytearray(4 * n))
    a = array("i", bytes(4 * n))
    for i in range(n):
        a[i] = struct.unpack_from("<i", raw, 4 * i)[0]
    return a


def _clamp_thresholds(a0, a1, m, sh, rnd, ooff, lo, hi):
    """Largest acc in [a0, a1] whose output clamps to `lo` (a0 - 1 if none) and smallest
    whose output clamps to `hi` (a1 + 1 if none), by bisection on the reference requantization
    (non-decreasing in acc), so the kernel's shortcut is exact by construction."""
    def out(a):
        return int8ops.mbqm(a, m, sh, rnd) + ooff

    if out(a0) > lo:
        tlo = a0 - 1
    else:
        tlo, t = a0, a1 + 1  # out(tlo) <= lo < out(t) (t = a1 + 1 stands for "beyond")
        while t - tlo > 1:
            mid = (tlo + t) >> 1
            if out(mid) <= lo:
                tlo = mid
            else:
                t = mid
    if out(a1) < hi:
        thi = a1 + 1
    else:
        t, thi = a0 - 1, a1  # out(t) < hi <= out(thi)
        while thi - t > 1:
            mid = (t + thi) >> 1
            if out(mid) >= hi:
                thi = mid
            else:
                t = mid
    return tlo, thi


def _not_runnable(*_args):
    raise DevModelError("device model built with plan_only=True (RAM accounting): cannot invoke")


class Model:
    """A loaded device model: `inp` (int8 [t][c]) -> invoke() -> `out` (int8, n_out).

    `use_viper`: the viper kernels (default: on MicroPython); `fast`: the board's fast path
    where the model fits it. `plan_only`: build what the board builds (the viper table, so
    the fast plan when `fast`) on any Python, to read its `ram_bytes()` (the host's
    DeviceModel.ram_bytes); such a model refuses invoke(), since its kernels may not run here.
    """

    def __init__(self, source, use_viper=None, fast=True, plan_only=False):
        if isinstance(source, (bytes, bytearray, memoryview)):
            f = io.BytesIO(bytes(source))
        else:
            try:
                f = open(source, "rb")
            except OSError:
                raise DevModelError("device model: cannot read %s" % source)
        self.margin = 0  # of the last argmax()
        try:
            self._parse(f)
        except OSError:
            raise DevModelError("device model: cannot read %s" % source)
        finally:
            f.close()
        self._build(use_viper, fast, plan_only)
        if plan_only:
            self.invoke = _not_runnable  # shadows the method; a runnable model pays nothing

    def _parse(self, f):
        """Check the file, then read each section straight into the buffer it lives in.

        Why from the stream, not from the whole file in RAM: on a Pico W the weights are the
        one block of >16 kB the firmware needs, and the heap is fragmented by then (issue #15);
        the file read whole, then the weights sliced and copied, needed three such blocks at
        once. Now the CRC is checked first through a 256 B buffer and the weights are read
        into their one final block, turned into w + 128 in place by the fast path (_plan_fast).
        """
        n = f.seek(0, 2)
        f.seek(0)
        head = f.read(_HEADER)
        if n < _HEADER or len(head) < _HEADER:
            raise DevModelError("device model truncated: shorter than its header")
        if head[0:4] != MAGIC:
            raise DevModelError("not a device model (bad magic)")
        (version, hsize, total, crc, task, n_ops, window, in_ch, n_out, n_w, n_q, arena, _r1,
         _r2) = struct.unpack_from("<HHIIBBHHHIIHHI", head, 4)
        if version not in (1, VERSION):
            raise DevModelError("device model version %d is not supported" % version)
        if hsize != _HEADER or total != n:
            raise DevModelError("device model truncated or padded: %d of %d bytes" % (n, total))
        if _crc_stream(f, n - hsize) != crc:
            raise DevModelError("device model CRC mismatch (corrupted)")
        if task > TASK_GRF:
            raise DevModelError("device model: unknown task %d" % task)
        pad = (4 - n_w % 4) % 4
        body = hsize + 4 * (4 + 3 * in_ch) + 4 * _OP_WORDS * n_ops + n_w + pad + 4 * n_q
        n_in = window * in_ch
        test = version >= 2 and (_r1 & _HAS_TEST)
        if test:
            body += n_in + (4 - n_in % 4) % 4 + n_out + (4 - n_out % 4) % 4
        if body != total:
            raise DevModelError("device model sections do not match its size")
        self.task, self.window, self.in_channels, self.n_out = task, window, in_ch, n_out
        f.seek(hsize)
        io_ = _read_i32(f, 4 + 3 * in_ch)
        self.in_zp, self.out_zp, self.out_mul, self.out_shift = io_[0], io_[1], io_[2], io_[3]
        self.norm = io_[4:]  # per channel: mul, add, shift (count -> int8 input)
        self.ops = [_read_i32(f, _OP_WORDS) for _ in range(n_ops)]
        self.W = _read(f, bytearray(n_w))  # raw int8 bytes; _build gives them their final form
        f.seek(pad, 1)
        self.Q = _read_i32(f, n_q)
        self.test_in = self.test_out = None
        if test:  # input window and the int8 outputs the host's reference computed for it
            self.test_in = bytes(_read(f, bytearray(n_in)))
            f.seek((4 - n_in % 4) % 4, 1)
            self.test_out = bytes(_read(f, bytearray(n_out)))
        self.version = version
        self.arena = arena
        self._validate()

    def _validate(self):
        size = self.window * self.in_channels
        if size > self.arena or self.n_out < 1 or self.in_channels < 1:
            raise DevModelError("device model input does not fit its arena")
        if self.out_shift < 0 or self.out_shift > 30:
            raise DevModelError("device model output scale is invalid")
        for i in range(self.in_channels):
            if not 0 <= self.norm[3 * i + 2] <= 16:
                raise DevModelError("device model input normalisation is invalid")
        nq = len(self.Q)
        for i, o in enumerate(self.ops):
            op, amin, amax, lin, cin, lout, cout, k, st, dil, pd, ioff, ooff, wo, qo, rnd = o
            nout = lout * cout
            ok = (_CONV <= op <= _RESHAPE and lin * cin == size and 0 < nout <= self.arena
                  and -128 <= amin <= amax <= 127 and -255 <= ioff <= 255
                  and -128 <= ooff <= 127 and lin > 0 and cin > 0 and lout > 0 and cout > 0
                  and 0 <= rnd <= 2)
            if ok and op in (_CONV, _FC):
                kk = k if op == _CONV else 1
                ok = (0 <= wo and wo + cout * kk * cin <= len(self.W) and 0 <= qo
                      and qo + 3 * cout <= nq)
                if ok and op == _FC:
                    ok = lin == 1 and lout == 1
                if ok and op == _CONV:
                    ok = k >= 1 and st >= 1 and dil >= 1 and 0 <= pd < k * dil
                if ok:
                    for c in range(cout):
                        s = self.Q[qo + 2 * cout + c]
                        if s < -31 or s > 30 or self.Q[qo + cout + c] < 0:
                            ok = False
            elif ok and op in (_MAXPOOL, _AVGPOOL):
                ok = k >= 1 and st >= 1 and cout == cin and (lout - 1) * st + k <= lin
            if not ok:
                raise DevModelError("device model op %d is inconsistent" % i)
            size = nout
        if size != self.n_out:
            raise DevModelError("device model output size does not match its header")

    def _build(self, use_viper, fast, plan_only):
        table = int8ops.kernels(use_viper)
        self._fast = None
        self._ram = 0
        if fast and (plan_only or table is int8ops.VIPER):
            self._fast = self._plan_fast()  # None: the model does not fit the fast path
            if self._fast is not None:
                return
        self.W = array("b", self.W)  # the int8 kernels' weights (a copy: off the board's fast path)
        # Kernel-side conventions (int8ops): signed op fields +256, shifts +32.
        for o in self.ops:
            for j in (1, 2, 11, 12):
                o[j] += 256
            if o[0] in (_CONV, _FC):
                cout, qo = o[6], o[14]
                for c in range(cout):
                    self.Q[qo + 2 * cout + c] += 32
        self._a = array("b", bytes(self.arena))
        self._b = array("b", bytes(self.arena))
        self.inp = self._a
        plan = []
        src, dst = self._a, self._b
        for o in self.ops:
            if o[0] == _RESHAPE:
                continue
            plan.append((table[o[0]], o, src, dst))
            src, dst = dst, src
        self._plan = plan
        self.out = src  # int8 outputs in out[0:n_out]
        self._ram = (len(self.W) + 4 * len(self.Q) + 2 * self.arena
                     + 4 * sum(len(o) for o in self.ops))

    def _plan_fast(self):
        """Plan the board's fast viper path (int8ops._conv_fast), or None if it does not apply.

        Stages: each conv / fully connected op, with a directly following max pool of its
        shape fused in; other pools alone. Every tensor gets its own offset-binary buffer
        (x + 128) with `pad` rows of the consumer's zero point before it and enough after it,
        so a conv output never tests its taps. Weights become w + 128; per output channel
        the bias absorbs the offsets' constant terms (a record of _REC words). Applies when
        convs are not dilated, padded inputs have a zero point in int8 range, and every
        partial sum of every accumulator (shifted left by the channel's left shift) is inside
        +/-2^30, so no viper word can overflow on a 32-bit board.
        """
        ops = [o for o in self.ops if o[0] != _RESHAPE]
        stages = []
        i = 0
        while i < len(ops):
            o = ops[i]
            pool = None
            if o[0] in (_CONV, _FC):
                if o[0] == _CONV and o[9] != 1:
                    return None
                nxt = ops[i + 1] if i + 1 < len(ops) else None
                if nxt is not None and nxt[0] == _MAXPOOL and nxt[3] == o[5] and nxt[4] == o[6]:
                    pool = nxt
                    i += 1
            stages.append((o, pool))
            i += 1
        if not stages:
            return None
        # input geometry per stage: (rows before, rows after, row bytes, pad byte)
        geo = []
        for o, pool in stages:
            lin, cin = o[3], o[4]
            before = after = 0
            if o[0] == _CONV:
                npos = (pool[5] - 1) * pool[8] + pool[7] if pool else o[5]
                before = o[10]
                after = max(0, (npos - 1) * o[8] + o[7] - o[10] - lin)
            zp = 128 - o[11]
            if before + after and not 0 <= zp <= 255:
                return None
            geo.append((before, after, cin, zp))
        wb = self.W  # raw int8 bytes become w + 128 in place (no second copy); undone on None
        for j in range(len(wb)):
            wb[j] ^= 0x80
        plan = self._plan_fast_on(stages, geo, wb)
        if plan is None:
            for j in range(len(wb)):
                wb[j] ^= 0x80
        return plan

    def _plan_fast_on(self, stages, geo, wb):
        """_plan_fast's buffers and plan on `wb` (the weights + 128), or None if unsafe."""
        bufs = []
        for (o, _), (before, after, cin, zp) in zip(stages, geo):
            b = bytearray((before + o[3] + after) * cin)
            for j in range(before * cin):
                b[j] = zp
            for j in range((before + o[3]) * cin, len(b)):
                b[j] = zp
            bufs.append(b)
        self.inp = array("b", bytes(self.window * self.in_channels))
        self.out = array("b", bytes(self.n_out))
        views = [memoryview(b)[g[0] * g[2]:] for b, g in zip(bufs, geo)]
        views.append(memoryview(self.out))
        scratch = array("I", bytes(4 * max(
            [(p[5] - 1) * p[8] + p[7] if p else o[5] for o, p in stages if o[0] in (_CONV, _FC)]
            + [1])))
        plan = [(int8ops._prep_fast, (self.inp, views[0], len(self.inp)))]
        ram = len(wb) + len(self.inp) + len(self.out) + len(scratch) * 4
        last = len(stages) - 1
        for s, (o, pool) in enumerate(stages):
            oofs = 0 if s == last else 128
            if o[0] in (_CONV, _FC):
                p, rec = self._fast_conv(o, pool, wb, oofs)
                if p is None:
                    return None
                plan.append((int8ops._conv_fast,
                             (p, bufs[s], memoryview(wb)[o[13]:], rec, scratch, views[s + 1])))
                ram += 4 * len(rec)
            else:
                p = array("i", [o[5], o[6], o[7], o[8], oofs, o[1] + 256, o[2] + 256])
                plan.append((int8ops.FAST[o[0]], (p, bufs[s], views[s + 1])))
            ram += 4 * len(p) + len(bufs[s])
        self.Q = None
        self._ram = ram + 4 * sum(len(o) for o in self.ops)
        return plan

    def _fast_conv(self, o, pool, wb, oofs):
        """Fields and per-channel records of one fast conv stage; (None, None) if unsafe."""
        fc = o[0] == _FC
        cin, cout, qo, rnd = o[4], o[6], o[14], o[15]
        k, st, lout = (1, 1, 1) if fc else (o[7], o[8], o[5])
        pk, ps, lp = (pool[7], pool[8], pool[5]) if pool else (1, 1, lout)
        n = k * cin
        c = o[11] - 128  # in_off - 128
        lo, hi = o[1], o[2]
        if pool:  # the pool's clamp after the conv's is one clamp
            lo, hi = min(max(lo, pool[1]), pool[2]), min(max(hi, pool[1]), pool[2])
        p = array("i", [lp, cout, n, st * cin, pk, ps, (lp - 1) * ps + pk,
                        o[12] + oofs + 256, lo + oofs + 256, hi + oofs + 256,
                        1 if rnd == 0 else 0])
        rec = array("I")
        ooff = o[12]
        for co in range(cout):
            b = o[13] + co * n
            sw = 0
            for j in range(b, b + n):
                sw += wb[j]
            bias = self.Q[qo + co] + c * sw - 128 * c * n
            m = self.Q[qo + cout + co]
            sh = self.Q[qo + 2 * cout + co]
            ls = sh if sh > 0 else 0
            rs = -sh if sh < 0 else 0
            a0, a1 = bias - 32640 * n, bias + 65025 * n  # every partial sum of acc
            if (abs(a0) << ls) >= 1 << 30 or (abs(a1) << ls) >= 1 << 30:
                return None, None
            tlo, thi = _clamp_thresholds(a0, a1, m, sh, rnd, ooff, lo, hi)
            for v in (bias + (1 << 31), m, (1 << rs >> 1), rs, 0 if (rnd == 2 and rs) else 1 << 14,
                      ls, 1 if (rnd == 0 and rs) else 0, tlo + (1 << 31), thi + (1 << 31)):
                rec.append(v)
        return p, rec

    def invoke(self):
        """Run the model on `inp`; results in `out[0:n_out]`. Allocates nothing."""
        if self._fast is not None:
            int8ops.run(self._fast)
            return
        W = self.W
        Q = self.Q
        for fn, p, x, y in self._plan:
            fn(W, Q, p, x, y)

    def self_test(self):
        """Run the stored test window and compare every int8 output with the expected ones
        (version 2); a version 1 file has none, so it only proves the kernels run on it.
        Raises DevModelError on a mismatch."""
        inp = self.inp
        src = self.test_in
        # the window's samples: on the plain kernels `inp` is the whole arena, longer than them
        for i in range(self.window * self.in_channels):
            v = src[i] if src is not None else 0
            inp[i] = v - 256 if v > 127 else v
        self.invoke()
        if self.test_out is None:
            return 0
        out = self.out
        bad = 0
        for i in range(self.n_out):
            v = self.test_out[i]
            if out[i] != (v - 256 if v > 127 else v):
                bad += 1
        if bad:
            raise DevModelError("model self-test: %d of %d outputs differ" % (bad, self.n_out))
        return self.n_out

    def argmax(self):
        """Index of the largest output (first on ties); `margin` = best - second best."""
        out = self.out
        best = 0
        for i in range(1, self.n_out):
            if out[i] > out[best]:
                best = i
        second = -256
        for i in range(self.n_out):
            if i != best and out[i] > second:
                second = out[i]
        self.margin = out[best] - second if second > -256 else 0
        return best

    def ram_bytes(self):
        """Bytes this model holds: weights, int32 pool (or the fast path's per-channel records
        and scratch), activation buffers, op records, io table."""
        return self._ram + 4 * (4 + 3 * self.in_channels)
