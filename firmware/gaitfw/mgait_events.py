"""MGait gait events on a 25 Hz angle stream: five-point derivative minima, front/back limbs.

Why a separate module: the same state machine runs on the board (int centidegrees) and in
the host's float reference (float centidegrees); it only adds, compares and multiplies by
small constants, so both number types follow the same decisions.

Paper Sec. 4.4: a minimum is where the five-point derivative turns from negative (or zero)
to positive. The knee-angle minimum of one leg marks initial contact: that leg is the
front limb (alpha_f, beta_f). The following hip-angle minimum of the other leg marks its
foot-off: the back limb (alpha_b, beta_b); the step is then complete and the roles swap.
The derivative at sample n-2 needs samples up to n: a bounded delay of 2 ticks (80 ms).
One extension: in fast or crouched gait the back limb's hip minimum can come up to a tick
or two before the front knee minimum; a hip minimum within `lookback_ms` (120 ms) before
the contact completes the step at once instead of pairing with the next stride's one.
A minimum counts only with a prominence (rise since the signal's last counted minimum)
so the knee's mid-stance dip and sensor noise do not start a step.
"""

from array import array

import micropython

from gaitfw.compat import MICROPYTHON, const

if not MICROPYTHON:
    from gaitfw.compat import ptr32  # noqa: F401  (viper annotations on CPython)

# signal index: 0 alpha_l, 1 beta_l, 2 alpha_r, 3 beta_r
_N = const(5)
_WAIT_FRONT = const(0)
_WAIT_BACK = const(1)
_SX = 32 if __import__("sys").maxsize > (1 << 32) else 0  # ptr32 sign extension (gaitfw.ahrs)

# ------------------------------------------------------------- the integer machine's scan
# Per 25 Hz tick the integer machine runs one kernel (`_scan_*`) and goes back to bytecode
# only when it found something (a timeout, a minimum to refine: a few times per stride); the
# bytecode loop over the four signals cost ~26 000 instructions per tick under MicroPython.
# b (array 'i', 5 * _N): the four signals' rings, then the times' ring (`tbuf`).
# w (array 'i', 22): [0] ticks seen (stops at _N), [1] ring head, [2] expected front side
# (-1: any), [3] t_ic, [4] timeout_ms, [5] ring index of the centre sample (out), [6..9] the
# derivative's sign at the previous tick per signal (1: > 0, else 0), [10..13] running maximum
# per signal, [14..17] prominence per signal, [18..21] ring index of a minimum found (out).
# v: this tick's four angles. Returns bit 0: step timeout (expected front side forgotten);
# bit 1 + sig: a minimum of signal sig at ring index w[18 + sig], its maximum already reset.
def _scan_plain(v, b, w, t):
    h = w[1]
    b[h] = v[0]
    b[_N + h] = v[1]
    b[2 * _N + h] = v[2]
    b[3 * _N + h] = v[3]
    b[4 * _N + h] = t
    h = (h + 1) % _N
    w[1] = h
    if w[0] < _N - 1:
        w[0] += 1
        return 0
    w[0] = _N
    i0 = h
    i1 = (i0 + 1) % _N
    i2 = (i0 + 2) % _N
    i3 = (i0 + 3) % _N
    i4 = (i0 + 4) % _N
    w[5] = i2
    r = 0
    if w[2] >= 0 and b[4 * _N + i2] - w[3] > w[4]:
        w[2] = -1
        r = 1
    for sig in range(4):
        o = sig * _N
        c = b[o + i2]
        pos = 1 if b[o + i0] - 8 * b[o + i1] + 8 * b[o + i3] - b[o + i4] > 0 else 0
        if c > w[10 + sig]:
            w[10 + sig] = c
        dp = w[6 + sig]
        w[6 + sig] = pos
        if dp == 0 and pos:
            if b[o + i1] < c:
                im = i1
                m = b[o + i1]
            else:
                im = i2
                m = c
            if w[10 + sig] - m >= w[14 + sig]:
                w[10 + sig] = m
                w[18 + sig] = im
                r |= 2 << sig
    return r


# Widths (32-bit words): exact for |angle| < 2^28 cdeg; MGait's tick gives |alpha| <= 18000
# and |beta| <= 131071 x 73728000 / 2^16 < 2^28 (the largest bend gain the calibration can
# set at M = 4). The derivative b0 - 8 b1 + 8 b3 - b4 = 8p + q (|p|, |q| < 2^29) could need
# 2^32, but only its sign is used: when |p| >= 2^26, |8p| >= 2^29 > |q| gives it.
@micropython.viper
def _scan_viper(v: ptr32, b: ptr32, w: ptr32, t: int) -> int:
    sx = int(_SX)
    h = int(w[1])
    b[h] = v[0]
    b[5 + h] = v[1]
    b[10 + h] = v[2]
    b[15 + h] = v[3]
    b[20 + h] = t
    h += 1
    if h == 5:
        h = 0
    w[1] = h
    n = int(w[0])
    if n < 4:
        w[0] = n + 1
        return 0
    w[0] = 5
    i0 = h
    i1 = i0 + 1
    if i1 >= 5:
        i1 -= 5
    i2 = i0 + 2
    if i2 >= 5:
        i2 -= 5
    i3 = i0 + 3
    if i3 >= 5:
        i3 -= 5
    i4 = i0 + 4
    if i4 >= 5:
        i4 -= 5
    w[5] = i2
    r = 0
    if ((int(w[2]) << sx) >> sx) >= 0:
        if ((int(b[20 + i2]) << sx) >> sx) - ((int(w[3]) << sx) >> sx) > ((int(w[4]) << sx) >> sx):
            w[2] = -1
            r = 1
    sig = 0
    while sig < 4:
        o = 5 * sig
        c = (int(b[o + i2]) << sx) >> sx
        y1 = (int(b[o + i1]) << sx) >> sx
        p = ((int(b[o + i3]) << sx) >> sx) - y1
        pos = 0
        if p >= 67108864:
            pos = 1
        elif p > -67108864:
            if 8 * p + ((int(b[o + i0]) << sx) >> sx) - ((int(b[o + i4]) << sx) >> sx) > 0:
                pos = 1
        mx = (int(w[10 + sig]) << sx) >> sx
        if c > mx:
            mx = c
            w[10 + sig] = c
        dp = int(w[6 + sig])
        w[6 + sig] = pos
        if dp == 0 and pos:
            im = i2
            m = c
            if y1 < c:
                im = i1
                m = y1
            if mx - m >= ((int(w[14 + sig]) << sx) >> sx):
                w[10 + sig] = m
                w[18 + sig] = im
                r |= 2 << sig
        sig += 1
    return r


class GaitEvents:
    """Feed (t_ms, alpha_l, beta_l, alpha_r, beta_r) per tick; calls `sink` on events.

    sink.on_ic(t_ms, side, alpha_f, beta_f)              initial contact (front limb)
    sink.on_fo(t_ms, side, alpha_b, beta_b)              foot-off (back limb)
    sink.on_step(t_ms, front_side, af, bf, ab, bb, t_ic) a complete step
    sink.on_lost(t_ms, reason)                           step sequence broken (1 timeout)

    Only the expected leg may start the next step (the legs alternate), and no knee minimum
    counts while a step waits for its back limb (stance-phase dips of a flexed-knee gait);
    if no step completes within `timeout_ms` of the last contact, either leg may start again.
    """

    def __init__(self, sink, knee_prom_cd=2000, hip_prom_cd=1000, timeout_ms=1500, numtype=int, lookback_ms=120,
                 viper=True):
        self.sink = sink
        self.flt = numtype is float
        z = numtype(0)
        self.w = array("i", [0] * 22)  # the scan's state (see _scan_plain); float: [2], [3]
        self.w[4] = timeout_ms
        for sig in range(4):
            self.w[14 + sig] = knee_prom_cd if sig & 1 else hip_prom_cd
        if numtype is float:
            self.buf = [z] * (4 * _N)
            self.tbuf = array("i", [0] * _N)
        else:  # the times' ring follows the signals' in one array: one kernel argument
            self.buf = array("i", [0] * (5 * _N))
            self.tbuf = memoryview(self.buf)[4 * _N:]
        self._v = array("i", [0, 0, 0, 0])
        self.scan = _scan_viper if viper and MICROPYTHON else _scan_plain
        self.dprev = [z, z, z, z]
        self.mx = [z, z, z, z]
        self.prom = array("i", [hip_prom_cd, knee_prom_cd, hip_prom_cd, knee_prom_cd])
        self.timeout_ms = timeout_ms
        self.n = 0
        self.head = 0
        self.state = _WAIT_FRONT
        self.front = -1  # side of the current front limb
        self.expect = -1  # side expected to be the next front limb (-1: any)
        self.t_ic = 0
        self.af = z
        self.bf = z
        self.lookback_ms = lookback_ms
        # last hip minimum per leg: time, alpha, beta (a foot-off just before a contact)
        self.hip_t = array("i", [-100000, -100000])
        self.hip_v = [z, z, z, z] if numtype is float else array("i", [0, 0, 0, 0])

    # the scan kernel reads these two, so they live in its state array
    @property
    def expect(self):
        return self.w[2]

    @expect.setter
    def expect(self, side):
        self.w[2] = side

    @property
    def t_ic(self):
        return self.w[3]

    @t_ic.setter
    def t_ic(self, t):
        self.w[3] = t

    def feed(self, t_ms, al, bl, ar, br):
        if self.flt:
            self._feed_bytecode(t_ms, al, bl, ar, br)
            return
        v = self._v
        v[0] = al
        v[1] = bl
        v[2] = ar
        v[3] = br
        r = self.scan(v, self.buf, self.w, t_ms)
        if r:
            self.found(r)

    def found(self, r):
        """What the integer scan returned (`_scan_plain`): the timeout, then each minimum."""
        w = self.w
        if r & 1:
            self.state = _WAIT_FRONT
            self.sink.on_lost(self.tbuf[w[5]], 1)
        for sig in range(4):
            if r & (2 << sig):
                self._refined(sig, w[18 + sig])

    def _feed_bytecode(self, t_ms, al, bl, ar, br):
        """The float machine (host references), in bytecode; on an integer machine, the scan's
        reference in the tests (tests/firmware/test_mgait_scan.py: the same events)."""
        b = self.buf
        h = self.head
        b[h] = al
        b[_N + h] = bl
        b[2 * _N + h] = ar
        b[3 * _N + h] = br
        self.tbuf[h] = t_ms
        self.head = (h + 1) % _N
        self.n += 1
        if self.n < _N:
            return
        # ring positions of samples n-4 .. n (oldest .. newest)
        i0 = self.head
        i1 = (i0 + 1) % _N
        i2 = (i0 + 2) % _N  # centre sample n-2
        i3 = (i0 + 3) % _N
        i4 = (i0 + 4) % _N
        if self.expect >= 0 and self.tbuf[i2] - self.t_ic > self.timeout_ms:
            # no foot-off, or no next contact, in time: forget whose turn it is
            self.state = _WAIT_FRONT
            self.expect = -1
            self.sink.on_lost(self.tbuf[i2], 1)
        for sig in range(4):
            o = sig * _N
            c = b[o + i2]
            # five-point derivative at the centre, times 12
            d = b[o + i0] - 8 * b[o + i1] + 8 * b[o + i3] - b[o + i4]
            if c > self.mx[sig]:
                self.mx[sig] = c
            dp = self.dprev[sig]
            self.dprev[sig] = d
            if dp <= 0 < d:
                # minimum at the centre or the sample before it: take the lower one
                ip = (i0 + 1) % _N
                if b[o + ip] < c:
                    im = ip
                    v = b[o + ip]
                else:
                    im = i2
                    v = c
                if self.mx[sig] - v >= self.prom[sig]:
                    self.mx[sig] = v
                    self._refined(sig, im)

    def _refined(self, sig, im):
        """The minimum between samples: vertex of the parabola through the minimum and its
        two neighbours (both already in the window, so no extra delay). The leg's other
        angle is interpolated linearly at the same instant: at foot-off the knee flexes at
        ~300 deg/s, so a whole 40 ms tick of timing error would cost several degrees."""
        b = self.buf
        o = sig * _N
        il = (im + _N - 1) % _N
        ir = (im + 1) % _N
        y0 = b[o + il]
        y1 = b[o + im]
        y2 = b[o + ir]
        den = y0 - 2 * y1 + y2
        f = 0  # offset from sample im in 1/256 of a tick, within +-1/2 tick
        if den > 0:
            f = int(((y0 - y2) * 128) // den)  # floored alike for int and float
            if f > 128:
                f = 128
            elif f < -128:
                f = -128
        # interpolate towards the neighbour on the vertex's side, |f| / 256 of the way
        j = ir
        g = f
        if f < 0:
            j = il
            g = -f
        oa = (sig >> 1) * 2 * _N  # the leg's alpha; its beta follows _N later
        ok = oa + _N
        t = self.tbuf[im]
        t += ((self.tbuf[j] - t) * g) >> 8
        a = b[oa + im] + self._frac(b[oa + j] - b[oa + im], g)
        k = b[ok + im] + self._frac(b[ok + j] - b[ok + im], g)
        # the signal with the minimum takes the parabola's vertex value (y1 - den d^2 / 2)
        v = self._frac(self._frac(den, f), f) / 2 if self.flt else (((den * f) // 256) * f) // 512
        if sig & 1:
            k = y1 - v
        else:
            a = y1 - v
        self._minimum(sig, t, a, k)

    def _frac(self, d, f):
        return d * f / 256 if self.flt else (d * f) // 256

    def _minimum(self, sig, t, a, k):
        side = sig >> 1
        if sig & 1:  # knee minimum: initial contact of `side`
            if self.state == _WAIT_BACK or (self.expect >= 0 and side != self.expect):
                return  # a stance-phase dip (loading response, mid-stance): not a contact
            self.front = side
            self.expect = side
            self.t_ic = t
            self.af = a
            self.bf = k
            self.state = _WAIT_BACK
            self.sink.on_ic(t, side, a, k)
            o = 1 - side
            if t - self.hip_t[o] <= self.lookback_ms:
                # the back limb's hip minimum came just before this contact (fast or
                # crouched gait, or the same 25 Hz tick): the step is already complete
                self.hip_t[o] = -100000
                self.sink.on_step(t, side, a, k, self.hip_v[2 * o], self.hip_v[2 * o + 1], t)
                self.state = _WAIT_FRONT
                self.expect = o
        else:
            self.hip_t[side] = t
            self.hip_v[2 * side] = a
            self.hip_v[2 * side + 1] = k
        if sig & 1:
            return
        if self.state == _WAIT_BACK and side != self.front:
            # hip minimum of the back limb: foot-off, the step is complete
            self.hip_t[side] = -100000
            self.sink.on_fo(t, side, a, k)
            # interpolated, a foot-off in the contact's own tick can fall a few ms before it
            self.sink.on_step(t if t > self.t_ic else self.t_ic, self.front, self.af, self.bf, a, k, self.t_ic)
            self.state = _WAIT_FRONT
            self.expect = side
        elif self.state == _WAIT_FRONT:
            # a hip minimum outside a step still is that leg's foot-off (for stance/swing)
            self.sink.on_fo(t, side, a, k)
