"""Integer kernels that reproduce TFLite's reference int8 arithmetic, bit for bit.

Why bit-exact: the host checks the board's model against ai-edge-litert on the whole test set;
any rounding difference would hide real bugs behind "off by one" noise.

Arithmetic (TFLite reference_integer_ops): an int32 accumulator
    acc = bias[c] + sum(w * (x + in_off))            (weights symmetric, zero point 0)
is requantized with MultiplyByQuantizedMultiplier(acc, mult[c], shift[c]):
    SaturatingRoundingDoublingHighMul(acc << max(shift, 0), mult)   ((ab + nudge) / 2^31,
                        nudge 2^30, or 1 - 2^30 for a negative product; C division truncates)
    RoundingDivideByPOT(., max(-shift, 0))                          (ties away from zero)
then out_off is added and the result clamped to the fused activation range. Per op, the
`rounding` field selects the final shift's rounding: 0 as above (TFLite's reference conv),
1 ties up, (x + 2^(e-1)) >> e, which is what ai-edge-litert's builtin int8 conv and fully
connected kernels compute (measured bit-exact; docs/device_model.md), 2 TFLite's single
rounding (x * mult + 2^(30-shift)) >> (31-shift) of its reference fully connected kernel
(done in 16-bit limbs: the 2^(30+e) nudge is split into a part below 2^31 and one added
after the first 31-bit shift).
Max pool: max then clamp. Average pool: sum, then divide rounding half away from zero.

Buffers (built by gaitfw.devmodel): W array('b') int8 weights; Q array('i') per op
[bias(c_out) | mult(c_out) | shift+32 (c_out)]; P array('i') of 16 op fields with act_min,
act_max, in_off, out_off stored +256 (so viper's zero-extending ptr32 loads see them as
non-negative); activations in array('b') arenas, layout [t][c].

Twins: `_*_plain` (reference, any Python) and `_*_viper` (the board). The board's default
table is FAST: `_dot_viper` runs conv (dilation 1) and fully connected on offset-binary
weights (w + 128, prepared by gaitfw.devmodel) so the inner loop is one unsigned
multiply-add per MAC, unrolled by 4; the signed-weight `_conv_viper` / `_fc_viper` remain for
dilated convs. All tables give identical outputs (tests run each against ai-edge-litert).
The viper requantization works in 16-bit limbs so that no intermediate exceeds 32 bits
unsigned: it is exact on a 32-bit board (where machine words wrap at 2^32) as well as on the
64-bit Unix port. Viper reads int32
biases as two ptr16 halves to sign-extend portably. Constants >= 2^30 are built at run time
(a literal that large is not a small int on a 32-bit port).
The plain twin uses Python ints directly: exact everywhere, but its acc*mult product exceeds
small ints on a 32-bit board, so the board uses the viper twin.
"""

import micropython
from micropython import const

from gaitfw.compat import MICROPYTHON

# op record fields (P indices), see host/gaitloop/export/device_format.py
_ACT_MIN = const(1)
_ACT_MAX = const(2)
_LEN_IN = const(3)
_C_IN = const(4)
_LEN_OUT = const(5)
_C_OUT = const(6)
_K = const(7)
_STRIDE = const(8)
_DIL = const(9)
_PAD = const(10)
_IN_OFF = const(11)
_OUT_OFF = const(12)
_W_OFF = const(13)
_Q_OFF = const(14)
_PREFIX = const(16)  # loader-only field: offset of the weight prefix sums in Q
_ROUND = const(15)  # 0: TFLite reference, 1: ai-edge-litert builtin (ties up), 2: single
_BIAS = const(256)  # added to the signed P fields
_SHIFT_BIAS = const(32)  # added to stored shifts


def mbqm(x, mult, shift, rnd=0):
    """TFLite MultiplyByQuantizedMultiplier on Python ints (reference, not for 32-bit boards).

    rnd 0: RoundingDivideByPOT (ties away from zero), as TFLite's reference conv;
    rnd 1: the final shift rounds ties up, as ai-edge-litert's builtin kernels do (measured);
    rnd 2: one rounding shift of the 64-bit product, as TFLite's reference fully connected.
    """
    if rnd == 2 and shift <= 0:  # TFLite single rounding (reference fully connected)
        total = 31 - shift
        return (x * mult + (1 << (total - 1))) >> total
    if shift > 0:
        x = x << shift
    ab = x * mult
    t = ab + (0x40000000 if ab >= 0 else 1 - 0x40000000)
    r = t >> 31 if t >= 0 else -((-t) >> 31)  # C division truncates toward zero
    if shift < 0 and rnd:  # (x + 2^(e-1)) >> e
        return (r + (1 << (-shift - 1))) >> -shift
    if shift < 0:
        rs = -shift
        mask = (1 << rs) - 1
        rem = r & mask
        thr = (mask >> 1) + (1 if r < 0 else 0)
        r = (r >> rs) + (1 if rem > thr else 0)
    return r


# --- plain twins -------------------------------------------------------------------------

def _conv_plain(W, Q, P, X, Y):
    amin = P[_ACT_MIN] - _BIAS
    amax = P[_ACT_MAX] - _BIAS
    lin = P[_LEN_IN]
    cin = P[_C_IN]
    lout = P[_LEN_OUT]
    cout = P[_C_OUT]
    k = P[_K]
    st = P[_STRIDE]
    dil = P[_DIL]
    pad = P[_PAD]
    ioff = P[_IN_OFF] - _BIAS
    ooff = P[_OUT_OFF] - _BIAS
    wo = P[_W_OFF]
    qo = P[_Q_OFF]
    rnd = P[_ROUND]
    for t in range(lout):
        t0 = t * st - pad
        for co in range(cout):
            acc = Q[qo + co]
            wb = wo + co * k * cin
            for kk in range(k):
                ti = t0 + kk * dil
                if 0 <= ti < lin:
                    xb = ti * cin
                    wk = wb + kk * cin
                    for ci in range(cin):
                        acc += W[wk + ci] * (X[xb + ci] + ioff)
            r = mbqm(acc, Q[qo + cout + co], Q[qo + 2 * cout + co] - _SHIFT_BIAS, rnd) + ooff
            Y[t * cout + co] = amin if r < amin else (amax if r > amax else r)


def _fc_plain(W, Q, P, X, Y):
    amin = P[_ACT_MIN] - _BIAS
    amax = P[_ACT_MAX] - _BIAS
    cin = P[_C_IN]
    cout = P[_C_OUT]
    ioff = P[_IN_OFF] - _BIAS
    ooff = P[_OUT_OFF] - _BIAS
    wo = P[_W_OFF]
    qo = P[_Q_OFF]
    rnd = P[_ROUND]
    for co in range(cout):
        acc = Q[qo + co]
        wb = wo + co * cin
        for ci in range(cin):
            acc += W[wb + ci] * (X[ci] + ioff)
        r = mbqm(acc, Q[qo + cout + co], Q[qo + 2 * cout + co] - _SHIFT_BIAS, rnd) + ooff
        Y[co] = amin if r < amin else (amax if r > amax else r)


def _maxpool_plain(W, Q, P, X, Y):
    amin = P[_ACT_MIN] - _BIAS
    amax = P[_ACT_MAX] - _BIAS
    c_ = P[_C_OUT]
    k = P[_K]
    st = P[_STRIDE]
    for t in range(P[_LEN_OUT]):
        for c in range(c_):
            m = -128
            b = t * st * c_ + c
            for kk in range(k):
                v = X[b + kk * c_]
                if v > m:
                    m = v
            Y[t * c_ + c] = amin if m < amin else (amax if m > amax else m)


def _avgpool_plain(W, Q, P, X, Y):
    amin = P[_ACT_MIN] - _BIAS
    amax = P[_ACT_MAX] - _BIAS
    c_ = P[_C_OUT]
    k = P[_K]
    st = P[_STRIDE]
    half = k // 2
    for t in range(P[_LEN_OUT]):
        for c in range(c_):
            s = 0
            b = t * st * c_ + c
            for kk in range(k):
                s += X[b + kk * c_]
            r = (s + half) // k if s > 0 else -((half - s) // k)
            Y[t * c_ + c] = amin if r < amin else (amax if r > amax else r)


# --- viper twins -------------------------------------------------------------------------

@micropython.viper
def _requant_viper(A, Q, P, Y):
    """Requantize int32 accumulators A[0:c_out] with op P's Q into int8 Y (tests, same code)."""
    a16 = ptr16(A)
    q = ptr32(Q)
    p = ptr32(P)
    y = ptr8(Y)
    amin = p[_ACT_MIN] - _BIAS
    amax = p[_ACT_MAX] - _BIAS
    cout = p[_C_OUT]
    ooff = p[_OUT_OFF] - _BIAS
    qo = p[_Q_OFF]
    rnd = p[_ROUND]
    one30 = uint(1) << 30
    co = 0
    while co < cout:
        acc = (((a16[2 * co + 1] ^ 0x8000) - 0x8000) << 16) | a16[2 * co]
        m = uint(q[qo + cout + co])
        sh = q[qo + cout + cout + co] - _SHIFT_BIAS
        # --- requantize acc (identical block in _conv_viper and _fc_viper) ---
        rs = 0
        if sh > 0:
            acc = acc << sh
        else:
            rs = 0 - sh
        neg = 0
        c = one30
        if acc < 0:
            u = uint(0 - acc)
            c = one30 - 1
            neg = 1
        else:
            u = uint(acc)
        chi = 0
        if rnd == 2 and rs > 0:  # single rounding: split the 2^(30+rs) nudge
            chi = 1 << (rs - 1)
            c = uint(0)
            if neg:
                c = (one30 << 1) - 1
                chi -= 1
        uh = u >> 16
        ul = u & 0xFFFF
        mh = m >> 16
        ml = m & 0xFFFF
        lo = ul * ml
        mid = uh * ml + ul * mh
        s0 = (lo & 0xFFFF) + (c & 0xFFFF)
        s1 = (lo >> 16) + (mid & 0xFFFF) + (c >> 16) + (s0 >> 16)
        hi = uh * mh + (mid >> 16) + (s1 >> 16)
        r = int((hi << 1) | ((s1 & 0xFFFF) >> 15))
        if rnd == 2 and rs > 0:
            r = int((uint(r) + uint(chi)) >> rs)
            rs = 0
        if neg:
            r = 0 - r
        if rs > 0:
            if rnd:
                r = (r + (1 << (rs - 1))) >> rs
            else:
                mask = (1 << rs) - 1
                rem = r & mask
                thr = mask >> 1
                if r < 0:
                    thr += 1
                r = r >> rs
                if rem > thr:
                    r += 1
        r += ooff
        # --- end requantize ---
        if r < amin:
            r = amin
        if r > amax:
            r = amax
        y[co] = r
        co += 1


@micropython.viper
def _conv_viper(W, Q, P, X, Y):
    w = ptr8(W)
    q = ptr32(Q)
    q16 = ptr16(Q)
    p = ptr32(P)
    x = ptr8(X)
    y = ptr8(Y)
    amin = p[_ACT_MIN] - _BIAS
    amax = p[_ACT_MAX] - _BIAS
    lin = p[_LEN_IN]
    cin = p[_C_IN]
    lout = p[_LEN_OUT]
    cout = p[_C_OUT]
    k = p[_K]
    st = p[_STRIDE]
    dil = p[_DIL]
    pad = p[_PAD]
    ioff = p[_IN_OFF] - _BIAS
    ooff = p[_OUT_OFF] - _BIAS
    wo = p[_W_OFF]
    qo = p[_Q_OFF]
    rnd = p[_ROUND]
    one30 = uint(1) << 30
    t = 0
    while t < lout:
        t0 = t * st - pad
        co = 0
        while co < cout:
            bi = (qo + co) << 1
            acc = (((q16[bi + 1] ^ 0x8000) - 0x8000) << 16) | q16[bi]
            wb = wo + co * k * cin
            kk = 0
            while kk < k:
                ti = t0 + kk * dil
                if ti >= 0 and ti < lin:
                    xi = ti * cin
                    wi = wb + kk * cin
                    xe = xi + cin
                    while xi < xe:
                        acc += ((w[wi] ^ 0x80) - 0x80) * (((x[xi] ^ 0x80) - 0x80) + ioff)
                        xi += 1
                        wi += 1
                kk += 1
            m = uint(q[qo + cout + co])
            sh = q[qo + cout + cout + co] - _SHIFT_BIAS
            # --- requantize acc (identical block in _requant_viper) ---
            rs = 0
            if sh > 0:
                acc = acc << sh
            else:
                rs = 0 - sh
            neg = 0
            c = one30
            if acc < 0:
                u = uint(0 - acc)
                c = one30 - 1
                neg = 1
            else:
                u = uint(acc)
            chi = 0
            if rnd == 2 and rs > 0:  # single rounding: split the 2^(30+rs) nudge
                chi = 1 << (rs - 1)
                c = uint(0)
                if neg:
                    c = (one30 << 1) - 1
                    chi -= 1
            uh = u >> 16
            ul = u & 0xFFFF
            mh = m >> 16
            ml = m & 0xFFFF
            lo = ul * ml
            mid = uh * ml + ul * mh
            s0 = (lo & 0xFFFF) + (c & 0xFFFF)
            s1 = (lo >> 16) + (mid & 0xFFFF) + (c >> 16) + (s0 >> 16)
            hi = uh * mh + (mid >> 16) + (s1 >> 16)
            r = int((hi << 1) | ((s1 & 0xFFFF) >> 15))
            if rnd == 2 and rs > 0:
                r = int((uint(r) + uint(chi)) >> rs)
                rs = 0
            if neg:
                r = 0 - r
            if rs > 0:
                if rnd:
                    r = (r + (1 << (rs - 1))) >> rs
                else:
                    mask = (1 << rs) - 1
                    rem = r & mask
                    thr = mask >> 1
                    if r < 0:
                        thr += 1
                    r = r >> rs
                    if rem > thr:
                        r += 1
            r += ooff
            # --- end requantize ---
            if r < amin:
                r = amin
            if r > amax:
                r = amax
            y[t * cout + co] = r
            co += 1
        t += 1


@micropython.viper
def _fc_viper(W, Q, P, X, Y):
    w = ptr8(W)
    q = ptr32(Q)
    q16 = ptr16(Q)
    p = ptr32(P)
    x = ptr8(X)
    y = ptr8(Y)
    amin = p[_ACT_MIN] - _BIAS
    amax = p[_ACT_MAX] - _BIAS
    cin = p[_C_IN]
    cout = p[_C_OUT]
    ioff = p[_IN_OFF] - _BIAS
    ooff = p[_OUT_OFF] - _BIAS
    wo = p[_W_OFF]
    qo = p[_Q_OFF]
    rnd = p[_ROUND]
    one30 = uint(1) << 30
    co = 0
    while co < cout:
        bi = (qo + co) << 1
        acc = (((q16[bi + 1] ^ 0x8000) - 0x8000) << 16) | q16[bi]
        wi = wo + co * cin
        xi = 0
        while xi < cin:
            acc += ((w[wi] ^ 0x80) - 0x80) * (((x[xi] ^ 0x80) - 0x80) + ioff)
            xi += 1
            wi += 1
        m = uint(q[qo + cout + co])
        sh = q[qo + cout + cout + co] - _SHIFT_BIAS
        # --- requantize acc (identical block in _requant_viper) ---
        rs = 0
        if sh > 0:
            acc = acc << sh
        else:
            rs = 0 - sh
        neg = 0
        c = one30
        if acc < 0:
            u = uint(0 - acc)
            c = one30 - 1
            neg = 1
        else:
            u = uint(acc)
        chi = 0
        if rnd == 2 and rs > 0:  # single rounding: split the 2^(30+rs) nudge
            chi = 1 << (rs - 1)
            c = uint(0)
            if neg:
                c = (one30 << 1) - 1
                chi -= 1
        uh = u >> 16
        ul = u & 0xFFFF
        mh = m >> 16
        ml = m & 0xFFFF
        lo = ul * ml
        mid = uh * ml + ul * mh
        s0 = (lo & 0xFFFF) + (c & 0xFFFF)
        s1 = (lo >> 16) + (mid & 0xFFFF) + (c >> 16) + (s0 >> 16)
        hi = uh * mh + (mid >> 16) + (s1 >> 16)
        r = int((hi << 1) | ((s1 & 0xFFFF) >> 15))
        if rnd == 2 and rs > 0:
            r = int((uint(r) + uint(chi)) >> rs)
            rs = 0
        if neg:
            r = 0 - r
        if rs > 0:
            if rnd:
                r = (r + (1 << (rs - 1))) >> rs
            else:
                mask = (1 << rs) - 1
                rem = r & mask
                thr = mask >> 1
                if r < 0:
                    thr += 1
                r = r >> rs
                if rem > thr:
                    r += 1
        r += ooff
        # --- end requantize ---
        if r < amin:
            r = amin
        if r > amax:
            r = amax
        y[co] = r
        co += 1


@micropython.viper
def _dot_viper(W, Q, P, X, Y):
    """Conv (dilation 1) and fully connected on offset-binary weights (the board's fast path).

    W holds w + 128 (unsigned); Q is extended by the loader with per output channel prefix
    sums of W over the taps, at P[16]. With x' = x ^ 0x80 = x + 128 and c = in_off - 128,
    sum(w * (x + in_off)) = sum(W * x') + c * sum(W) - 128 * sum(x') - 128 * c * n, so the
    inner loop is one unsigned multiply-add per MAC over a contiguous range, unrolled by 4.
    A fully connected op is a conv with len_in = len_out = k = 1 (set by the loader).
    """
    w = ptr8(W)
    q = ptr32(Q)
    q16 = ptr16(Q)
    p = ptr32(P)
    x = ptr8(X)
    y = ptr8(Y)
    amin = p[_ACT_MIN] - _BIAS
    amax = p[_ACT_MAX] - _BIAS
    lin = p[_LEN_IN]
    cin = p[_C_IN]
    lout = p[_LEN_OUT]
    cout = p[_C_OUT]
    k = p[_K]
    st = p[_STRIDE]
    pad = p[_PAD]
    c = p[_IN_OFF] - _BIAS - 128
    ooff = p[_OUT_OFF] - _BIAS
    wo = p[_W_OFF]
    qo = p[_Q_OFF]
    rnd = p[_ROUND]
    so = p[_PREFIX]
    one30 = uint(1) << 30
    t = 0
    while t < lout:
        t0 = t * st - pad
        kk0 = 0
        if t0 < 0:
            kk0 = 0 - t0
        kk1 = k
        if t0 + k > lin:
            kk1 = lin - t0
        if kk1 < kk0:
            kk1 = kk0
        xs = (t0 + kk0) * cin
        n = (kk1 - kk0) * cin
        sx = 0
        i = 0
        while i < n:
            sx += x[xs + i] ^ 0x80
            i += 1
        corr = 0 - 128 * sx - 128 * c * n
        co = 0
        while co < cout:
            bi = (qo + co) << 1
            acc = ((((q16[bi + 1] ^ 0x8000) - 0x8000) << 16) | q16[bi]) + corr
            pi = so + co * (k + 1)
            acc += c * (q[pi + kk1] - q[pi + kk0])
            wi = wo + co * k * cin + kk0 * cin
            xi = xs
            xe = xs + n - 3
            while xi < xe:
                acc += (w[wi] * (x[xi] ^ 0x80) + w[wi + 1] * (x[xi + 1] ^ 0x80)
                        + w[wi + 2] * (x[xi + 2] ^ 0x80) + w[wi + 3] * (x[xi + 3] ^ 0x80))
                xi += 4
                wi += 4
            xe = xs + n
            while xi < xe:
                acc += w[wi] * (x[xi] ^ 0x80)
                xi += 1
                wi += 1
            m = uint(q[qo + cout + co])
            sh = q[qo + cout + cout + co] - _SHIFT_BIAS
            # --- requantize acc (identical block in _requant_viper) ---
            rs = 0
            if sh > 0:
                acc = acc << sh
            else:
                rs = 0 - sh
            neg = 0
            cc = one30
            if acc < 0:
                u = uint(0 - acc)
                cc = one30 - 1
                neg = 1
            else:
                u = uint(acc)
            chi = 0
            if rnd == 2 and rs > 0:  # single rounding: split the 2^(30+rs) nudge
                chi = 1 << (rs - 1)
                cc = uint(0)
                if neg:
                    cc = (one30 << 1) - 1
                    chi -= 1
            uh = u >> 16
            ul = u & 0xFFFF
            mh = m >> 16
            ml = m & 0xFFFF
            lo = ul * ml
            mid = uh * ml + ul * mh
            s0 = (lo & 0xFFFF) + (cc & 0xFFFF)
            s1 = (lo >> 16) + (mid & 0xFFFF) + (cc >> 16) + (s0 >> 16)
            hi = uh * mh + (mid >> 16) + (s1 >> 16)
            r = int((hi << 1) | ((s1 & 0xFFFF) >> 15))
            if rnd == 2 and rs > 0:
                r = int((uint(r) + uint(chi)) >> rs)
                rs = 0
            if neg:
                r = 0 - r
            if rs > 0:
                if rnd:
                    r = (r + (1 << (rs - 1))) >> rs
                else:
                    mask = (1 << rs) - 1
                    rem = r & mask
                    thr = mask >> 1
                    if r < 0:
                        thr += 1
                    r = r >> rs
                    if rem > thr:
                        r += 1
            r += ooff
            # --- end requantize ---
            if r < amin:
                r = amin
            if r > amax:
                r = amax
            y[t * cout + co] = r
            co += 1
        t += 1


@micropython.viper
def _maxpool_viper(W, Q, P, X, Y):
    p = ptr32(P)
    x = ptr8(X)
    y = ptr8(Y)
    amin = p[_ACT_MIN] - _BIAS
    amax = p[_ACT_MAX] - _BIAS
    cc = p[_C_OUT]
    k = p[_K]
    st = p[_STRIDE]
    lout = p[_LEN_OUT]
    t = 0
    while t < lout:
        c = 0
        while c < cc:
            m = -128
            b = t * st * cc + c
            kk = 0
            while kk < k:
                v = (x[b + kk * cc] ^ 0x80) - 0x80
                if v > m:
                    m = v
                kk += 1
            if m < amin:
                m = amin
            if m > amax:
                m = amax
            y[t * cc + c] = m
            c += 1
        t += 1


@micropython.viper
def _avgpool_viper(W, Q, P, X, Y):
    p = ptr32(P)
    x = ptr8(X)
    y = ptr8(Y)
    amin = p[_ACT_MIN] - _BIAS
    amax = p[_ACT_MAX] - _BIAS
    cc = p[_C_OUT]
    k = p[_K]
    st = p[_STRIDE]
    lout = p[_LEN_OUT]
    half = k >> 1
    t = 0
    while t < lout:
        c = 0
        while c < cc:
            s = 0
            b = t * st * cc + c
            kk = 0
            while kk < k:
                s += (x[b + kk * cc] ^ 0x80) - 0x80
                kk += 1
            # C division truncates toward zero; both operands made non-negative first
            if s > 0:
                r = (s + half) // k
            else:
                r = 0 - (half - s) // k
            if r < amin:
                r = amin
            if r > amax:
                r = amax
            y[t * cc + c] = r
            c += 1
        t += 1


def _requant_plain(A, Q, P, Y):
    amin = P[_ACT_MIN] - _BIAS
    amax = P[_ACT_MAX] - _BIAS
    cout = P[_C_OUT]
    ooff = P[_OUT_OFF] - _BIAS
    qo = P[_Q_OFF]
    rnd = P[_ROUND]
    for co in range(cout):
        r = mbqm(A[co], Q[qo + cout + co], Q[qo + 2 * cout + co] - _SHIFT_BIAS, rnd) + ooff
        Y[co] = amin if r < amin else (amax if r > amax else r)


# opcode -> (plain, viper); opcodes as in device_format.py
PLAIN = {1: _conv_plain, 2: _fc_plain, 3: _maxpool_plain, 4: _avgpool_plain}
VIPER = {1: _conv_viper, 2: _fc_viper, 3: _maxpool_viper, 4: _avgpool_viper}
# offset-binary fast path (gaitfw.devmodel prepares W, Q and P for it); conv with dilation > 1
# keeps _conv_viper on signed weights
FAST = {1: _dot_viper, 2: _dot_viper, 3: _maxpool_viper, 4: _avgpool_viper}
requant_plain = _requant_plain
requant_viper = _requant_viper if MICROPYTHON else _requant_plain


def kernels(use_viper=None):
    """The opcode -> kernel table: viper on MicroPython by default, plain elsewhere."""
    if use_viper is None:
        use_viper = MICROPYTHON
    return VIPER if (use_viper and MICROPYTHON) else PLAIN
