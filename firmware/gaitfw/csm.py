"""Curve Similarity Model (Hu et al., Sensors 2019) per force sensor, in integers.

Why this shape: the board runs it for every sample of every force sensor, so the whole step
(normaliser, curve features, two Gaussian templates, Algorithm 2 with hold, guards) is one
kernel over preallocated `array('i')` state, with a `@micropython.viper` twin that is
bit-exact to the plain one (tests compare them sample by sample).

Per sample, in order:

1. Missing sample (`MISSING`, a NaN in a file) -> reuse the previous count, flag it.
1b. Pre-filter: the mean of this and the previous count, `(x + x_prev) >> 1` (half a sample
   of delay). Why: 50 Hz mains sampled at 100 Hz aliases to alternating samples, which this
   cancels, and it halves white noise power; without it, noise of 2 % of the range or hum of
   5 % broke the off template (`gaitloop eval csm --faults`, docs/csm.md). Saturation is
   judged on the unfiltered count.
2. Normaliser (not in the paper; needed because insoles report raw units with drift and gain
   differences): running min/max over a window of `_NBLK` blocks of `_BLK` samples plus the
   current block gives lo/hi; `y = (x - lo) * 10000 // (hi - lo)` is the force in tenths of a
   per-mille of the recent range, an integer in [0, 10000] (per-mille in Q0.1 fixed point:
   y / 10 = per-mille; (x - lo) <= 65535 keeps the product below 2^30). A range below `min_range` counts
   means a flat-lined / unplugged sensor: flagged, the decision holds.
   The floor lo comes from the newest `lo_blocks` blocks (params, default all 8; 4 follows a
   drifting or creeping baseline, which an 8-block floor trails by up to 2.56 s of drift).
2b. Clipped top: `_PLAT` samples in a row with the raw count unchanged and the filtered count
   at the window top are a plateau (missing samples excluded); a plateau at the same raw count
   as the previous one is a sensor at its rail, and for `_WIN` samples the range is doubled
   (unless flat-lined). Why: clipping shrinks the range, so the templates (trained on
   full-range curves) fired early on a rising load. A real peak rarely sits at one count for 12
   samples, but on a coarse sensor (gain 0.2-0.25) it does; it does not hit the same count
   stride after stride as a rail does (docs/csm.md).
3. Features of eq. 7 on y: y(i), y(i-1), y(i-2), y(i-3) and the six scale differences, each
   stored with `_FBIAS` added so every array value stays non-negative (viper `ptr32` loads are
   zero-extended on 64-bit ports).
4. Gaussian similarity (eq. 8-9) per template: for feature j, `e = |x_j - mu_j|`; if
   `e >= lim_j` (= 4 delta_j, exp(-8) ~ 0) the term is 0, else `u = (e * r_j) >> q_j` is
   e / (sqrt(2) delta_j) in Q10 (mu and delta are stored x10, in y's units), `u*u` is
   e^2 / (2 delta_j^2) in Q20; its Q7 part indexes `_LUT[i]` = exp(-i / 128) in Q14 and the
   next 6 bits interpolate linearly to the next entry (error < 1e-4 per term).
   Intermediates stay below 2^30 (lim * r < 80000 * 8192).
   `d = 10 - sum(phi) <= eps`  <=>  `sum(phi) >= need` with `need = round((10 - eps) * 2^14)`.
   The sum stops early once the remaining terms cannot reach `need` (exact, not approximate).
5. Algorithm 2: on-template match -> 1, elif off-template match -> 0, else hold.
6. Guard (a real board needs it; the paper has none): if the decision is on while y stays
   below `guard_lo` per-mille (or off while above `guard_hi`) for `guard_n` samples, the
   decision flips. This stops a detector stuck in one state (e.g. a fast, heavy walker whose
   lift-off curve does not match the off template).

Kernel result: `decision | flags << 1` with the `F_*` flags below.
"""

import math
from array import array

import micropython

from gaitfw.compat import MICROPYTHON, const

if not MICROPYTHON:
    from gaitfw.compat import ptr16, ptr32  # noqa: F401  (viper annotation names)

MISSING = const(-32768)  # count value meaning "no sample" (NaN in a replay file)

# per-sensor flags returned by the kernel (shifted left by one) and by SensorCSM.flags()
F_FLAT = const(1)  # range below min_range: unplugged / flat-lined (or standing very still)
F_SATURATED = const(2)  # a count at or above sat_level within the last window
F_MISSING = const(4)  # a missing sample within the last window
F_GUARD = const(8)  # the stuck-state guard flipped the decision within the last window
F_WARMUP = const(16)  # first block not complete: no decisions yet

_BLK = const(32)  # samples per min/max block
_NBLK = const(8)  # blocks in the window (8 * 32 = 2.56 s at 100 Hz, > one slow stride)
_PLAT = const(12)  # samples pinned at the window top with the raw count unchanged = clipped
_WIN = const(256)  # countdown (samples) that keeps a transient flag raised
_XBIAS = const(32768)  # counts are stored +32768 (int16 -> non-negative)
_FBIAS = const(16384)  # features and mu are stored +16384
_ONE = const(16384)  # Q14 one
_NF = const(10)
_LUT_N = const(1024)  # idx range: e^2/(2 delta^2) in [0, 8) at Q7 (table has one more entry)
_TPL = const(41)  # ints per template: need, then 10 x (mu, lim, r, q)

# state array layout (array('i'))
_S_PREV = const(0)
_S_BMIN = const(1)
_S_BMAX = const(2)
_S_N = const(3)
_S_K = const(4)
_S_WLO = const(5)
_S_WHI = const(6)
_S_FILLED = const(7)
_S_Y1 = const(8)
_S_Y2 = const(9)
_S_Y3 = const(10)
_S_G = const(11)
_S_GCNT = const(12)
_S_SATCD = const(13)
_S_MISSCD = const(14)
_S_GUARDCD = const(15)
_S_MINRNG = const(16)
_S_SATLVL = const(17)
_S_GLO = const(18)
_S_GHI = const(19)
_S_GN = const(20)
_S_Y = const(21)
_S_CALLS = const(22)  # kernel calls since reset, wraps at 2^30 (foot.FootProcessor.run)
_S_F = const(24)  # 10 features (24..33)
_S_PLAT = const(34)  # samples in a row pinned at the top with the raw count unchanged
_S_CLIPCD = const(35)  # countdown: range stretched x2 while > 0 (a clipped sensor)
_S_LOBLK = const(36)  # params lo_blocks: newest blocks the floor lo is taken from
_S_RAIL = const(37)  # raw count (biased) of the last plateau; 0: none yet
_S_RAILOK = const(38)  # 1 while the current plateau sits at the last plateau's raw count
_S_RING = const(40)  # _NBLK block minima, then _NBLK block maxima
_S_LEN = const(56)

# exp lookup table: _LUT[i] = round(2^14 * exp(-i / 128)), i = 0..1024, built once at import
_LUT = array("H", [int(_ONE * math.exp(-i / 128) + 0.5) for i in range(_LUT_N + 1)])


def lut():
    """The exp table (array('H'), Q14) shared by every sensor."""
    return _LUT


def quantize_template(mu, delta, eps):
    """Float template (10 mu, 10 delta, eps) -> the kernel's int layout (list of 41 ints).

    mu and delta are in per-mille of the window range (as trained); the kernel works in
    tenths of a per-mille, so both are scaled by 10 here. Runs at load time (floats are fine
    there), never per sample.
    """
    out = [int((10.0 - eps) * _ONE + 0.5)]
    for j in range(_NF):
        d = 10.0 * float(delta[j])
        if d < 10.0:
            d = 10.0
        q = 0
        while q < 24 and int((1 << (10 + q)) / (1.41421356237 * d) + 0.5) < 4096:
            q += 1
        r = int((1 << (10 + q)) / (1.41421356237 * d) + 0.5)
        lim = int(4.0 * d + 0.999999)
        m = int(math.floor(10.0 * float(mu[j]) + 0.5))
        out.append(m + _FBIAS)
        out.append(lim)
        out.append(r)
        out.append(q)
    return out


def pack_templates(on_fixed, off_fixed):
    """Two 41-int template lists -> one array('i') (on first, as Algorithm 2 checks it first)."""
    if len(on_fixed) != _TPL or len(off_fixed) != _TPL:
        raise ValueError("template must have 41 ints")
    return array("i", list(on_fixed) + list(off_fixed))


def _step_plain(S, T, L, x):
    """One sample through normaliser, features, templates, Algorithm 2 and guard."""
    S[22] = (S[22] + 1) & 0x3FFFFFFF  # calls since reset (foot.py's phase length), wraps
    # 1. missing sample
    if x == MISSING:
        x = S[0]
        S[14] = _WIN
    else:
        x += _XBIAS
        S[0] = x
    if x >= S[17]:
        S[13] = _WIN
    # 1b. pre-filter: mean of two samples (a biased count is never 0: 0 means "none yet")
    p = S[23]
    S[23] = x
    if p == 0:
        p = x
    dq = x - p
    if S[14] == 256:  # a missing sample repeats the last count: no sign of a rail
        dq = 1
    x = (x + p) >> 1
    # 2. windowed min / max
    bmin = S[1]
    bmax = S[2]
    if x < bmin:
        bmin = x
    if x > bmax:
        bmax = x
    n = S[3] + 1
    if n >= _BLK:
        k = S[4]
        S[40 + k] = bmin
        S[48 + k] = bmax
        k += 1
        if k >= _NBLK:
            k = 0
        S[4] = k
        lo = 65535
        hi = 0
        i = 0
        while i < _NBLK:
            v = S[40 + i]
            if v < lo and ((k - 1 - i) & 7) < S[36]:
                lo = v
            v = S[48 + i]
            if v > hi:
                hi = v
            i += 1
        S[5] = lo
        S[6] = hi
        if S[7] < _NBLK:
            S[7] = S[7] + 1
        bmin = 65535
        bmax = 0
        n = 0
    S[1] = bmin
    S[2] = bmax
    S[3] = n
    lo = S[5]
    hi = S[6]
    if bmin < lo:
        lo = bmin
    if bmax > hi:
        hi = bmax
    c = S[34] + 1
    if dq != 0 or x < hi:
        c = 0
    S[34] = c
    if c == _PLAT:  # a plateau: the rail only if the last plateau sat at the same raw count
        r = S[23]
        S[38] = 0
        if r == S[37]:
            S[38] = 1
        S[37] = r
    if c >= _PLAT and S[38]:
        S[35] = _WIN
    rng = hi - lo
    if S[35] > 0:
        S[35] = S[35] - 1
        if rng >= S[16]:  # a flat-lined sensor stays flat
            rng += rng
    flags = 0
    if rng < S[16]:
        flags = F_FLAT
        rng = S[16]
    y = ((x - lo) * 10000) // rng
    # 3. features (biased)
    y1 = S[8]
    y2 = S[9]
    y3 = S[10]
    S[8] = y
    S[9] = y1
    S[10] = y2
    S[21] = y
    S[24] = y + _FBIAS
    S[25] = y1 + _FBIAS
    S[26] = y2 + _FBIAS
    S[27] = y3 + _FBIAS
    S[28] = y - y1 + _FBIAS
    S[29] = y - y2 + _FBIAS
    S[30] = y - y3 + _FBIAS
    S[31] = y1 - y2 + _FBIAS
    S[32] = y1 - y3 + _FBIAS
    S[33] = y2 - y3 + _FBIAS
    g = S[11]
    if S[7] == 0:
        flags |= F_WARMUP
    elif not (flags & F_FLAT):
        # 4-5. templates (on first), Algorithm 2 with hold
        base = 0
        while base < 2 * _TPL:
            need = T[base]
            acc = 0
            j = 0
            p = base + 1
            while j < _NF:
                e = S[24 + j] - T[p]
                if e < 0:
                    e = -e
                if e < T[p + 1]:
                    u = (e * T[p + 2]) >> T[p + 3]
                    u *= u
                    idx = u >> 13
                    if idx < _LUT_N:
                        a = L[idx]
                        acc += a - (((a - L[idx + 1]) * ((u >> 7) & 63)) >> 6)
                j += 1
                if acc + (_NF - j) * _ONE < need:
                    break
                p += 4
            if acc >= need:
                if base == 0:
                    g = 1
                else:
                    g = 0
                break
            base += _TPL
        # 6. guard
        c = S[12]
        if (g == 1 and y < S[18]) or (g == 0 and y > S[19]):
            c += 1
        else:
            c = 0
        if c >= S[20]:
            g = 1 - g
            c = 0
            S[15] = _WIN
        S[12] = c
    S[11] = g
    if S[13] > 0:
        S[13] = S[13] - 1
        flags |= F_SATURATED
    if S[14] > 0:
        S[14] = S[14] - 1
        flags |= F_MISSING
    if S[15] > 0:
        S[15] = S[15] - 1
        flags |= F_GUARD
    return g | (flags << 1)


@micropython.viper
def _step_viper(S: ptr32, T: ptr32, L: ptr16, x: int) -> int:
    S[22] = (S[22] + 1) & 0x3FFFFFFF
    if x == -32768:
        x = S[0]
        S[14] = 256
    else:
        x += 32768
        S[0] = x
    if x >= S[17]:
        S[13] = 256
    p = S[23]
    S[23] = x
    if p == 0:
        p = x
    dq = x - p
    if S[14] == 256:  # a missing sample repeats the last count: no sign of a rail
        dq = 1
    x = (x + p) >> 1
    bmin = S[1]
    bmax = S[2]
    if x < bmin:
        bmin = x
    if x > bmax:
        bmax = x
    n = S[3] + 1
    if n >= 32:
        k = S[4]
        S[40 + k] = bmin
        S[48 + k] = bmax
        k += 1
        if k >= 8:
            k = 0
        S[4] = k
        lo = 65535
        hi = 0
        i = 0
        while i < 8:
            v = S[40 + i]
            if v < lo and ((k - 1 - i) & 7) < S[36]:
                lo = v
            v = S[48 + i]
            if v > hi:
                hi = v
            i += 1
        S[5] = lo
        S[6] = hi
        if S[7] < 8:
            S[7] = S[7] + 1
        bmin = 65535
        bmax = 0
        n = 0
    S[1] = bmin
    S[2] = bmax
    S[3] = n
    lo = S[5]
    hi = S[6]
    if bmin < lo:
        lo = bmin
    if bmax > hi:
        hi = bmax
    c = S[34] + 1
    if dq != 0 or x < hi:
        c = 0
    S[34] = c
    if c == 12:
        r = S[23]
        S[38] = 0
        if r == S[37]:
            S[38] = 1
        S[37] = r
    if c >= 12 and S[38]:
        S[35] = 256
    rng = hi - lo
    if S[35] > 0:
        S[35] = S[35] - 1
        if rng >= S[16]:  # a flat-lined sensor stays flat
            rng += rng
    flags = 0
    if rng < S[16]:
        flags = 1
        rng = S[16]
    y = ((x - lo) * 10000) // rng
    y1 = S[8]
    y2 = S[9]
    y3 = S[10]
    S[8] = y
    S[9] = y1
    S[10] = y2
    S[21] = y
    S[24] = y + 16384
    S[25] = y1 + 16384
    S[26] = y2 + 16384
    S[27] = y3 + 16384
    S[28] = y - y1 + 16384
    S[29] = y - y2 + 16384
    S[30] = y - y3 + 16384
    S[31] = y1 - y2 + 16384
    S[32] = y1 - y3 + 16384
    S[33] = y2 - y3 + 16384
    g = S[11]
    if S[7] == 0:
        flags |= 16
    elif not (flags & 1):
        base = 0
        while base < 82:
            need = T[base]
            acc = 0
            j = 0
            p = base + 1
            while j < 10:
                e = S[24 + j] - T[p]
                if e < 0:
                    e = 0 - e
                if e < T[p + 1]:
                    u = (e * T[p + 2]) >> T[p + 3]
                    u *= u
                    idx = u >> 13
                    if idx < 1024:
                        a = L[idx]
                        acc += a - (((a - L[idx + 1]) * ((u >> 7) & 63)) >> 6)
                j += 1
                if acc + (10 - j) * 16384 < need:
                    break
                p += 4
            if acc >= need:
                if base == 0:
                    g = 1
                else:
                    g = 0
                break
            base += 41
        c = S[12]
        if (g == 1 and y < S[18]) or (g == 0 and y > S[19]):
            c += 1
        else:
            c = 0
        if c >= S[20]:
            g = 1 - g
            c = 0
            S[15] = 256
        S[12] = c
    S[11] = g
    if S[13] > 0:
        S[13] = S[13] - 1
        flags |= 2
    if S[14] > 0:
        S[14] = S[14] - 1
        flags |= 4
    if S[15] > 0:
        S[15] = S[15] - 1
        flags |= 8
    return g | (flags << 1)


@micropython.viper
def _foot_viper(S: ptr32, T: ptr32, L: ptr16, smp: ptr16) -> int:
    # Both sensors of one foot in one call: heel state at S[0:56], ball at S[56:112], their
    # channels at S[112], S[113], the foot's quiet value at S[114] (see foot.py). The body
    # is _step_viper's, line for line, on P = the sensor's words (P[k] is S[o + k]); the
    # template loop walks pointers (Q: a feature's four words, F: the feature, R: the LUT
    # pair). Why: viper indexes a constant offset in one load, `S[o + k]` costs an add, a
    # scale and a load, ~1 300 instructions a sample over both sensors (tests/csm compare
    # result and state with two calls of the plain kernel, every sample). -1: the result
    # equals the quiet value, nothing else to do.
    rh = 0
    o = 0
    ch = S[112]
    while o < 112:
        P = ptr32(int(S) + o * 4)  # this sensor's state: P[k] is S[o + k]
        x = (smp[ch] & 0xFFFF) ^ 0x8000  # the count + 32768 (ptr16 loads zero-extend); 0: MISSING
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
            r = P[23]
            P[38] = 0
            if r == P[37]:
                P[38] = 1
            P[37] = r
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
    if rh == S[114]:
        return -1
    return rh


def _foot_plain(SS, T, L, smp):
    # SS: (the foot's state array, the heel's view of it, the ball's view): no allocation
    S, hv, bv = SS
    r = _step_plain(hv, T, L, smp[S[112]]) | (_step_plain(bv, T, L, smp[S[113]]) << 8)
    return -1 if r == S[114] else r


step = _step_viper if MICROPYTHON else _step_plain


def float_template(mu, delta, eps):
    """Float twin of `quantize_template` for `step_float`: need, then 10 x (mu, -1/(2 d^2))."""
    out = [10.0 - eps]
    for j in range(_NF):
        out.append(float(mu[j]))
        out.append(-1.0 / (2.0 * float(delta[j]) ** 2))
    return out


def step_float(S, TF, x):
    """Float reference of `_step_plain` (same normaliser and hold, float y and exact exp).

    Not used on the board: it exists so the benchmark can price the float model on the same
    interpreter, and so tests can check the host's vectorised float reference against it.
    """
    if x == MISSING:
        x = S[0]
        S[14] = _WIN
    else:
        x += _XBIAS
        S[0] = x
    if x >= S[17]:
        S[13] = _WIN
    p = S[23]
    S[23] = x
    if p == 0:
        p = x
    dq = x - p
    if S[14] == 256:  # a missing sample repeats the last count: no sign of a rail
        dq = 1
    x = (x + p) >> 1
    bmin = S[1]
    bmax = S[2]
    if x < bmin:
        bmin = x
    if x > bmax:
        bmax = x
    n = S[3] + 1
    if n >= _BLK:
        k = S[4]
        S[40 + k] = bmin
        S[48 + k] = bmax
        k += 1
        if k >= _NBLK:
            k = 0
        S[4] = k
        lo = 65535
        hi = 0
        for i in range(_NBLK):
            if S[40 + i] < lo and ((k - 1 - i) & 7) < S[36]:
                lo = S[40 + i]
            if S[48 + i] > hi:
                hi = S[48 + i]
        S[5] = lo
        S[6] = hi
        if S[7] < _NBLK:
            S[7] = S[7] + 1
        bmin = 65535
        bmax = 0
        n = 0
    S[1] = bmin
    S[2] = bmax
    S[3] = n
    lo = min(S[5], bmin)
    hi = max(S[6], bmax)
    c = S[34] + 1
    if dq != 0 or x < hi:
        c = 0
    S[34] = c
    if c == _PLAT:  # a plateau: the rail only if the last plateau sat at the same raw count
        r = S[23]
        S[38] = 0
        if r == S[37]:
            S[38] = 1
        S[37] = r
    if c >= _PLAT and S[38]:
        S[35] = _WIN
    rng = hi - lo
    if S[35] > 0:
        S[35] = S[35] - 1
        if rng >= S[16]:  # a flat-lined sensor stays flat
            rng += rng
    flags = 0
    if rng < S[16]:
        flags = F_FLAT
        rng = S[16]
    y = (x - lo) * 1000.0 / rng
    Y = TF[-1]  # float history lives at the end of TF: y1, y2, y3
    y1 = Y[0]
    y2 = Y[1]
    y3 = Y[2]
    Y[0] = y
    Y[1] = y1
    Y[2] = y2
    f = (y, y1, y2, y3, y - y1, y - y2, y - y3, y1 - y2, y1 - y3, y2 - y3)
    g = S[11]
    if S[7] == 0:
        flags |= F_WARMUP
    elif not (flags & F_FLAT):
        for base in (0, 1):
            t = TF[base]
            need = t[0]
            acc = 0.0
            for j in range(_NF):
                e = f[j] - t[1 + 2 * j]
                acc += math.exp(e * e * t[2 + 2 * j])
            if acc >= need:
                g = 1 - base
                break
        c = S[12]
        if (g == 1 and 10.0 * y < S[18]) or (g == 0 and 10.0 * y > S[19]):
            c += 1
        else:
            c = 0
        if c >= S[20]:
            g = 1 - g
            c = 0
            S[15] = _WIN
        S[12] = c
    S[11] = g
    if S[13] > 0:
        S[13] = S[13] - 1
        flags |= F_SATURATED
    if S[14] > 0:
        S[14] = S[14] - 1
        flags |= F_MISSING
    if S[15] > 0:
        S[15] = S[15] - 1
        flags |= F_GUARD
    return g | (flags << 1)

DEFAULT_PARAMS = {
    "min_range": 100,  # counts: below this the sensor is treated as flat-lined
    "sat_level": 32000,  # counts at or above this are saturated
    "guard_lo": 60,  # per-mille
    "guard_hi": 500,  # per-mille
    "guard_n": 12,  # samples (120 ms at 100 Hz)
    "lo_blocks": 8,  # floor lo from the newest 1..8 blocks; 4 tracks drift / creep (docs/csm.md)
}


class SensorCSM:
    """CSM for one force sensor: preallocated state, `feed(count) -> decision` (0 off, 1 on)."""

    def __init__(self, templates, params=None, use_viper=None, float_templates=None, state=None):
        """`state`: _S_LEN words to keep the state in (foot.py: both sensors of a foot in one
        array, for the fused kernel); default a new array."""
        p = dict(DEFAULT_PARAMS)
        if params:
            p.update(params)
        self.T = templates
        self.S = array("i", [0] * _S_LEN) if state is None else state
        self._kernel = step
        if use_viper is not None:
            self._kernel = _step_viper if use_viper else _step_plain
        self._p = p
        self.TF = None
        if float_templates is not None:  # float reference mode (benchmarks, tests)
            self.TF = [float_templates[0], float_templates[1], [0.0, 0.0, 0.0]]
        self.reset()

    def reset(self):
        S = self.S
        for i in range(_S_LEN):
            S[i] = 0
        S[_S_BMIN] = 65535
        S[_S_WLO] = 65535
        for i in range(_NBLK):
            S[_S_RING + i] = 65535
        S[_S_G] = 1  # Algorithm 2 starts on-ground
        S[_S_MINRNG] = int(self._p["min_range"])
        S[_S_SATLVL] = int(self._p["sat_level"]) + _XBIAS
        S[_S_GLO] = 10 * int(self._p["guard_lo"])  # per-mille -> y units (0.1 per-mille)
        S[_S_GHI] = 10 * int(self._p["guard_hi"])
        S[_S_GN] = int(self._p["guard_n"])
        S[_S_LOBLK] = min(max(int(self._p["lo_blocks"]), 1), _NBLK)
        if self.TF is not None:
            Y = self.TF[2]
            Y[0] = Y[1] = Y[2] = 0.0

    def feed(self, x):
        """One count -> packed result `decision | flags << 1` (no allocation)."""
        return self._kernel(self.S, self.T, _LUT, x)

    def feed_float(self, x):
        """Float reference step (allocates: floats are boxed on the board)."""
        return step_float(self.S, self.TF, x)

    def decision(self):
        return self.S[_S_G]

    def y(self):
        """Last normalised value, tenths of a per-mille of the window range (0..10000)."""
        return self.S[_S_Y]


# BEGIN DEFAULT TEMPLATES (generated by tools/csm_bake.py from models/csm_default.json)
DEFAULT_ON = [131614, 17904, 2932, 8094, 13, 16836, 6181, 7678, 14, 17603, 7874, 6027, 14, 17166, 9124, 5201, 14, 17361, 1648, 7201, 12, 17849, 5359, 4428, 13, 17947, 6576, 7216, 14, 16528, 1166, 5088, 11, 16515, 1290, 4601, 11, 16423, 2421, 4902, 12]
DEFAULT_OFF = [131072, 16401, 786, 7552, 11, 16404, 4671, 5080, 13, 17252, 2328, 5097, 12, 17979, 6878, 6899, 14, 16472, 1999, 5936, 12, 16211, 2271, 5226, 12, 15996, 2051, 5787, 12, 16251, 2036, 5828, 12, 15837, 4079, 5817, 13, 15730, 2243, 5289, 12]
DEFAULT_FILE_PARAMS = {'min_range': 100, 'sat_level': 32000, 'guard_lo': 60, 'guard_hi': 500, 'guard_n': 12}
# END DEFAULT TEMPLATES


def _valid_fixed(t):
    """41 non-negative ints whose products in the kernel stay below 2^30 (small-int range)."""
    if not isinstance(t, list) or len(t) != _TPL:
        return False
    for v in t:
        if not isinstance(v, int) or v < 0 or v > 0x3FFFFFFF:
            return False
    for j in range(_NF):
        p = 1 + 4 * j
        if t[p + 1] * t[p + 2] >= 0x40000000 or t[p + 3] > 30:
            return False
    return True


def load_templates(path):
    """Template file on the board -> (array('i') templates, params dict, source).

    Reads the integer `fixed` block written by the host (`gaitloop train csm`). source: 0 the
    file was used, 1 no file (the built-in defaults, the normal case out of the box), 2 the
    file exists but is invalid (built-in defaults; the foot flags it in STATUS).
    """
    params = dict(DEFAULT_PARAMS)
    params.update(DEFAULT_FILE_PARAMS)
    try:
        f = open(path)
    except OSError:
        return pack_templates(DEFAULT_ON, DEFAULT_OFF), params, 1
    try:
        import json

        with f:
            d = json.load(f)
        fx = d["fixed"]
        on = fx["on"]
        off = fx["off"]
        if not (_valid_fixed(on) and _valid_fixed(off)):
            raise ValueError("bad fixed templates")
        p = d.get("params", {})
        for k in DEFAULT_PARAMS:
            if k in p:
                params[k] = int(p[k])
        return pack_templates(on, off), params, 0
    except (OSError, ValueError, KeyError, TypeError):
        params = dict(DEFAULT_PARAMS)
        params.update(DEFAULT_FILE_PARAMS)
        return pack_templates(DEFAULT_ON, DEFAULT_OFF), params, 2
