"""Load a device model (.gldm) into preallocated buffers and run it with the int8 kernels.

Why checks first: a model arrives over the air; a truncated or corrupted file must give one
clear error at load, never a crash or a wrong model at inference time. Everything is
allocated here, once; `invoke()` allocates nothing (tests measure gc.mem_alloc()).
Layout: docs/device_model.md; writer: host/gaitloop/export/device_format.py.
"""

import struct
from array import array

from micropython import const

from gaitfw import int8ops

MAGIC = b"GLDM"
VERSION = 1
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


def _crc32(data):
    try:
        import binascii

        return binascii.crc32(data) & 0xFFFFFFFF
    except (ImportError, AttributeError):  # ports without binascii.crc32
        crc = 0xFFFFFFFF
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1))
        return crc ^ 0xFFFFFFFF


def _i32(blob, off, n):
    a = array("i", bytes(4 * n))
    for i in range(n):
        a[i] = struct.unpack_from("<i", blob, off + 4 * i)[0]
    return a


class Model:
    """A loaded device model: `inp` (int8 [t][c]) -> invoke() -> `out` (int8, n_out)."""

    def __init__(self, source, use_viper=None, fast=True):
        if isinstance(source, (bytes, bytearray, memoryview)):
            blob = bytes(source)
        else:
            try:
                with open(source, "rb") as f:
                    blob = f.read()
            except OSError:
                raise DevModelError("device model: cannot read %s" % source)
        self.margin = 0  # of the last argmax()
        self._parse(blob)
        self._build(use_viper, fast)

    def _parse(self, blob):
        n = len(blob)
        if n < _HEADER:
            raise DevModelError("device model truncated: shorter than its header")
        if blob[0:4] != MAGIC:
            raise DevModelError("not a device model (bad magic)")
        (version, hsize, total, crc, task, n_ops, window, in_ch, n_out, n_w, n_q, arena, _r1,
         _r2) = struct.unpack_from("<HHIIBBHHHIIHHI", blob, 4)
        if version != VERSION:
            raise DevModelError("device model version %d is not supported" % version)
        if hsize != _HEADER or total != n:
            raise DevModelError("device model truncated or padded: %d of %d bytes" % (n, total))
        if _crc32(memoryview(blob)[hsize:]) != crc:
            raise DevModelError("device model CRC mismatch (corrupted)")
        if task > TASK_GRF:
            raise DevModelError("device model: unknown task %d" % task)
        pad = (4 - n_w % 4) % 4
        if hsize + 4 * (4 + 3 * in_ch) + 4 * _OP_WORDS * n_ops + n_w + pad + 4 * n_q != total:
            raise DevModelError("device model sections do not match its size")
        self.task, self.window, self.in_channels, self.n_out = task, window, in_ch, n_out
        off = hsize
        io = _i32(blob, off, 4 + 3 * in_ch)
        off += 4 * len(io)
        self.in_zp, self.out_zp, self.out_mul, self.out_shift = io[0], io[1], io[2], io[3]
        self.norm = io[4:]  # per channel: mul, add, shift (count -> int8 input)
        self.ops = [_i32(blob, off + 4 * _OP_WORDS * i, _OP_WORDS) for i in range(n_ops)]
        off += 4 * _OP_WORDS * n_ops
        self.W = array("b", blob[off:off + n_w])
        off += n_w + pad
        self.Q = _i32(blob, off, n_q)
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

    def _build(self, use_viper, fast):
        # Kernel-side conventions (int8ops): signed op fields +256, shifts +32.
        for o in self.ops:
            for j in (1, 2, 11, 12):
                o[j] += 256
            if o[0] in (_CONV, _FC):
                cout, qo = o[6], o[14]
                for c in range(cout):
                    self.Q[qo + 2 * cout + c] += 32
        table = int8ops.kernels(use_viper)
        # fast path: dilation 1, and dot products short enough that sum((w+128)*(x+128))
        # stays inside int32 (255 * 255 * 32767 < 2^31)
        if fast and table is int8ops.VIPER and all(
            (o[0] != _CONV or (o[9] == 1 and o[7] * o[4] <= 32767))
            and (o[0] != _FC or o[4] <= 32767) for o in self.ops
        ):
            table = int8ops.FAST
            self._offset_binary()
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

    def _offset_binary(self):
        """Prepare the fast viper path: weights as w + 128, per channel prefix sums of them
        over the taps appended to Q (offset in op field 16); fully connected as 1x1 conv."""
        wb = bytearray(len(self.W))
        for i in range(len(self.W)):
            wb[i] = self.W[i] + 128
        self.W = wb
        extra = []
        nq = len(self.Q)
        for j in range(len(self.ops)):
            o = array("i", self.ops[j])
            o.append(0)
            if o[0] in (_CONV, _FC):
                if o[0] == _FC:
                    o[3] = o[5] = o[7] = o[8] = o[9] = 1
                    o[10] = 0
                k, cin, cout, wo = o[7], o[4], o[6], o[13]
                o[16] = nq + len(extra)
                for co in range(cout):
                    run = 0
                    extra.append(0)
                    for kk in range(k):
                        b = wo + (co * k + kk) * cin
                        for ci in range(cin):
                            run += wb[b + ci]
                        extra.append(run)
            self.ops[j] = o
        q = array("i", self.Q)
        for v in extra:
            q.append(v)
        self.Q = q

    def invoke(self):
        """Run the model on `inp`; results in `out[0:n_out]`. Allocates nothing."""
        W = self.W
        Q = self.Q
        for fn, p, x, y in self._plan:
            fn(W, Q, p, x, y)

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
        """Bytes this model holds: weights, int32 pool (+ prefix sums on the fast path), two
        arenas, op records, io table."""
        return (len(self.W) + 4 * len(self.Q) + 2 * self.arena
                + 4 * sum(len(o) for o in self.ops) + 4 * (4 + 3 * self.in_channels))
