"""One replay row into the sample array, natively: `ReplayHal.read`'s per-sample work.

Why a module of its own: the viper `ptr*` annotations are not types to mypy, and `hal.py` is
type-checked against the boards' stubs (tests/boards/test_stubs.py).
"""

import micropython

from gaitfw.compat import MICROPYTHON

if not MICROPYTHON:
    from gaitfw.compat import ptr8, ptr16, ptr32  # noqa: F401  (viper annotations on CPython)


def _row_plain(buf, p, sample, nch):
    for c in range(nch):
        v = buf[p] | (buf[p + 1] << 8)
        sample[c] = v - 0x10000 if v & 0x8000 else v
        p += 2
    return p


def _next_plain(buf, cur, sample):
    p = cur[0]
    if p >= cur[1]:
        return 0
    cur[0] = _row_plain(buf, p, sample, cur[2])
    return 1


@micropython.viper
def _next_viper(buf: ptr8, cur: ptr32, sample: ptr16) -> int:
    # cur: position, bytes available, channels (ReplayHal._cur). 0: refill first
    p = cur[0]
    if p >= cur[1]:
        return 0
    nch = cur[2]
    c = 0
    while c < nch:
        sample[c] = buf[p] | (buf[p + 1] << 8)
        p += 2
        c += 1
    cur[0] = p
    return 1


next_row = _next_viper if MICROPYTHON else _next_plain
