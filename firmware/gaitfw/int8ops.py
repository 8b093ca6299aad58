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

Twins: `_*_plain` (reference, any Python) and `_*_viper` (signed weights, the board when
the fast path does not apply: dilated convs, a padding zero point outside int8, an
accumulator bound above 2^30). The board's default is the fast path below (`FAST`, `run`,
planned by gaitfw.devmodel): offset-binary weights and activations, zero-point borders,
max pools fused into convs, one unsigned multiply-add per MAC with the loop's variables in
registers. All paths give identical outputs (tests run each against ai-edge-litert).
The viper requantizations work in 16-bit limbs so that no intermediate exceeds 32 bits
unsigned: exact on a 32-bit board (where machine words wrap at 2^32) as well as on the
64-bit Unix port. int32 values that may be negative are read as two ptr16 halves or stored
with +2^31, because a ptr32 load zero-extends on 64 bits. Constants >= 2^30 are built at run
time (a literal that large is not a small int on a 32-bit port).
The plain twin uses Python ints directly: exact everywhere, but its acc*mult product exceeds
small ints on a 32-bit board, so the board uses viper.
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


# --- fast path (the board's default): stages planned by gaitfw.devmodel -------------------
#
# Why this shape (docs/benchmarks.md, student section): viper keeps only a function's first
# three locals in registers (x86-64, Xtensa; two in .mpy files) and arguments take those
# slots first, so the fast kernels take no arguments: `run()` puts the stage's buffers in
# `_OP`, and each kernel's first locals are the ones of its inner loop (`xa`, `s`, `wa`).
# A multiply-add is then 8 x86-64 instructions (one operand spilled and reloaded) instead of
# 27-34 with every loop variable on the stack.
# Activations are offset-binary bytes (x + 128) in per-tensor buffers whose borders hold the
# zero point, so every output of a conv reads all k taps; weights are offset-binary too, and
# the constant terms of the offsets are folded into one per-channel value (see _conv_fast).

_OP = None  # the buffers of the stage that `run` is executing

# fast conv stage fields (array('i'), built by gaitfw.devmodel._plan_fast)
_F_LP = const(0)  # outputs written per channel (pooled positions when a max pool is fused)
_F_COUT = const(1)
_F_N = const(2)  # dot-product length k * c_in
_F_STC = const(3)  # input bytes between conv positions (stride * c_in)
_F_PK = const(4)  # fused max pool window (1: none) and stride, in conv positions
_F_PS = const(5)
_F_NPOS = const(6)  # conv positions computed: (lp - 1) * ps + pk
_F_OOFF = const(7)  # out_off (+128 for an offset-binary output), stored +256
_F_AMIN = const(8)  # clamp, same offset, stored +256
_F_AMAX = const(9)
_F_R0 = const(10)  # 1 if some channel rounds ties away from zero (rounding 0)
# pool stage fields
_G_LOUT = const(0)
_G_C = const(1)
_G_K = const(2)
_G_ST = const(3)
_G_OOFS = const(4)  # 128: offset-binary output, 0: int8 output
_G_AMIN = const(5)  # stored +256
_G_AMAX = const(6)
_REC = const(9)  # words per output channel record, see _conv_fast


def run(plan):
    """Run a fast plan [(kernel, buffers)] (gaitfw.devmodel); allocates nothing.

    The buffers travel in the module global `_OP` (see above), so one plan runs at a time.
    """
    global _OP
    for fn, op in plan:
        _OP = op
        fn()


@micropython.viper
def _prep_fast():
    """int8 model input -> offset-binary input tensor. _OP = (src, dst view, n)."""
    xa = 0
    ya = 0
    B = _OP
    xa = int(ptr8(B[0]))
    ya = int(ptr8(B[1]))
    xe = xa + int(B[2])
    while xa < xe:
        ptr8(ya)[0] = ptr8(xa)[0] ^ 0x80
        xa += 1
        ya += 1


@micropython.viper
def _conv_fast():
    """Conv (dilation 1) or fully connected (len = k = 1), optionally fused with a max pool.

    _OP = (P fields, X padded input, W weights + 128, R records, U scratch, Y output view).
    With W = w + 128, x' = x + 128 and c = in_off - 128, TFLite's int32 accumulator is
        acc = bias + sum(w * (x + in_off)) = b' + sum(W * x') - 128 * sum(x')
    with b' = bias + c * sum(W) - 128 * c * n per output channel. U[t] = 2^31 + 128 * sum(x')
    of conv position t and R[0] = b' + 2^31 are uint32, so acc starts as R[0] - U[t], exact
    on 32 and 64 bits. The loader checks that every partial sum of acc is inside +/-2^30
    (31-bit signed: no viper word overflows on a 32-bit board). Record per output channel
    (_REC uint32 words): b' + 2^31, multiplier m, 2^(e-1) or 0, e (right shift), nudge >> 16,
    left shift, 1 if ties round away from zero, and acc + 2^31 thresholds at or below which
    the output is act_min, at or above which it is act_max (found by the loader with the
    reference requantization: it is non-decreasing in acc). For the same reason a fused max
    pool takes the max of the accumulators, which equals pooling the outputs.
    """
    xa = 0  # first locals: in registers (x64, Xtensa: three; in .mpy files two)
    s = 0
    wa = 0
    B = _OP
    p = ptr32(B[0])
    X = int(ptr8(B[1]))
    W = int(ptr8(B[2]))
    qa = int(ptr32(B[3]))
    u = ptr32(B[4])
    ya = int(ptr8(B[5]))
    cout = p[_F_COUT]
    n = p[_F_N]
    stc = p[_F_STC]
    npos = p[_F_NPOS]
    ooff = p[_F_OOFF] - 256
    amin = p[_F_AMIN] - 256
    amax = p[_F_AMAX] - 256
    r0 = p[_F_R0]
    n16 = n & 0xFFF0
    n8 = n & 8
    nr = n & 7
    one31 = uint(1) << 31  # not a small int on a 32-bit port: built at run time
    t = 0
    xi = X
    while t < npos:
        xa = xi
        s = 0
        xe = xa + n - nr
        while xe > xa:
            s = (ptr8(xa)[0] + ptr8(xa)[1] + ptr8(xa)[2] + ptr8(xa)[3] + ptr8(xa)[4]
                 + ptr8(xa)[5] + ptr8(xa)[6] + ptr8(xa)[7] + s)
            xa = 8 + xa
        xe = xa + nr
        while xe > xa:
            s = ptr8(xa)[0] + s
            xa = 1 + xa
        u[t] = int(one31) + (s << 7)
        xi += stc
        t += 1
    psc = p[_F_PS] * stc
    ps4 = p[_F_PS] * 4
    pk4 = p[_F_PK] * 4
    qe = qa + cout * (_REC * 4)
    xi = X
    ui = int(u)
    yend = ya + p[_F_LP] * cout
    while ya < yend:
        wc = W
        qc = qa
        uje = ui + pk4
        while qc < qe:
            best = 0 - 0x3FFFFFFF  # <= every accumulator
            xj = xi
            uj = ui
            while uj < uje:
                xa = xj
                wa = wc
                s = ptr32(qc)[0] - ptr32(uj)[0]
                xe = xa + n16
                while xe > xa:
                    s = ptr8(xa)[0] * ptr8(wa)[0] + s
                    s = ptr8(xa)[1] * ptr8(wa)[1] + s
                    s = ptr8(xa)[2] * ptr8(wa)[2] + s
                    s = ptr8(xa)[3] * ptr8(wa)[3] + s
                    s = ptr8(xa)[4] * ptr8(wa)[4] + s
                    s = ptr8(xa)[5] * ptr8(wa)[5] + s
                    s = ptr8(xa)[6] * ptr8(wa)[6] + s
                    s = ptr8(xa)[7] * ptr8(wa)[7] + s
                    s = ptr8(xa)[8] * ptr8(wa)[8] + s
                    s = ptr8(xa)[9] * ptr8(wa)[9] + s
                    s = ptr8(xa)[10] * ptr8(wa)[10] + s
                    s = ptr8(xa)[11] * ptr8(wa)[11] + s
                    s = ptr8(xa)[12] * ptr8(wa)[12] + s
                    s = ptr8(xa)[13] * ptr8(wa)[13] + s
                    s = ptr8(xa)[14] * ptr8(wa)[14] + s
                    s = ptr8(xa)[15] * ptr8(wa)[15] + s
                    xa = 16 + xa
                    wa = 16 + wa
                if n8:
                    s = ptr8(xa)[0] * ptr8(wa)[0] + s
                    s = ptr8(xa)[1] * ptr8(wa)[1] + s
                    s = ptr8(xa)[2] * ptr8(wa)[2] + s
                    s = ptr8(xa)[3] * ptr8(wa)[3] + s
                    s = ptr8(xa)[4] * ptr8(wa)[4] + s
                    s = ptr8(xa)[5] * ptr8(wa)[5] + s
                    s = ptr8(xa)[6] * ptr8(wa)[6] + s
                    s = ptr8(xa)[7] * ptr8(wa)[7] + s
                    xa = 8 + xa
                    wa = 8 + wa
                if nr:
                    xe = xa + nr
                    while xe > xa:
                        s = ptr8(xa)[0] * ptr8(wa)[0] + s
                        xa = 1 + xa
                        wa = 1 + wa
                if s > best:
                    best = s
                xj += stc
                uj += 4
            # requantize: SRDHM(acc << ls, m) = floor((acc * m + 2^30) / 2^31) for either sign
            # (docs/device_model.md) = floor((A * m + nudge) / 2^31) - m with A = acc + 2^31
            # in [0, 2^32), in 16-bit limbs so that no product or sum reaches 2^32
            A = uint(best + int(one31))
            if A <= uint(ptr32(qc)[7]):
                r = amin
            elif A >= uint(ptr32(qc)[8]):
                r = amax
            else:
                if ptr32(qc)[5]:
                    A = uint((best << ptr32(qc)[5]) + int(one31))
                ah = A >> 16
                al = A & 0xFFFF
                ml = uint(ptr16(qc)[2])
                mh = uint(ptr16(qc)[3])
                m1 = ah * ml
                m2 = al * mh
                tt = (m1 & 0xFFFF) + (m2 & 0xFFFF) + ((al * ml) >> 16) + uint(ptr32(qc)[4])
                r = int((((ah * mh + (m1 >> 16) + (m2 >> 16)) << 1) + (tt >> 15))
                        - uint(ptr32(qc)[1]))
                if r0:
                    if r < 0:
                        r -= ptr32(qc)[6]
                r = ((r + ptr32(qc)[2]) >> ptr32(qc)[3]) + ooff
            ptr8(ya)[0] = r
            ya += 1
            wc += n
            qc += _REC * 4
        xi += psc
        ui += ps4


@micropython.viper
def _maxpool_fast():
    """Max pool on an offset-binary tensor. _OP = (P fields, X, Y view)."""
    B = _OP
    p = ptr32(B[0])
    x = ptr8(B[1])
    y = ptr8(B[2])
    lout = p[_G_LOUT]
    cc = p[_G_C]
    k = p[_G_K]
    st = p[_G_ST]
    oofs = p[_G_OOFS]
    amin = p[_G_AMIN] - 256
    amax = p[_G_AMAX] - 256
    t = 0
    while t < lout:
        c = 0
        while c < cc:
            m = 0
            b = t * st * cc + c
            kk = 0
            while kk < k:
                v = x[b + kk * cc]
                if v > m:
                    m = v
                kk += 1
            m -= 128
            if m < amin:
                m = amin
            if m > amax:
                m = amax
            y[t * cc + c] = m + oofs
            c += 1
        t += 1


@micropython.viper
def _avgpool_fast():
    """Average pool on an offset-binary tensor. _OP = (P fields, X, Y view)."""
    B = _OP
    p = ptr32(B[0])
    x = ptr8(B[1])
    y = ptr8(B[2])
    lout = p[_G_LOUT]
    cc = p[_G_C]
    k = p[_G_K]
    st = p[_G_ST]
    oofs = p[_G_OOFS]
    amin = p[_G_AMIN] - 256
    amax = p[_G_AMAX] - 256
    half = k >> 1
    t = 0
    while t < lout:
        c = 0
        while c < cc:
            s = 0 - 128 * k
            b = t * st * cc + c
            kk = 0
            while kk < k:
                s += x[b + kk * cc]
                kk += 1
            if s > 0:
                r = (s + half) // k
            else:
                r = 0 - (half - s) // k
            if r < amin:
                r = amin
            if r > amax:
                r = amax
            y[t * cc + c] = r + oofs
            c += 1
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
# the fast path's stage kernels (gaitfw.devmodel plans the stages and calls run())
FAST = {1: _conv_fast, 2: _conv_fast, 3: _maxpool_fast, 4: _avgpool_fast}
requant_plain = _requant_plain
requant_viper = _requant_viper if MICROPYTHON else _requant_plain


def kernels(use_viper=None):
    """The opcode -> kernel table: viper on MicroPython by default, plain elsewhere."""
    if use_viper is None:
        use_viper = MICROPYTHON
    return VIPER if (use_viper and MICROPYTHON) else PLAIN
