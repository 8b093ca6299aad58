"""The sample clock: sample n is due at start + n x period, on the ticks_us clock.

Why a grid and not `sleep(period)` after the work: sleeping a period after each sample adds
the work's own time to every period, so the rate falls and the board drifts from the wall
clock by that much per sample. Deadlines computed from the start (the period kept as an
exact fraction, remainder carried) never drift from ticks_us; a late sample delays only
itself. The same code runs on the boards and on the virtual board (MicroPython Unix port):
the asyncio clock wakes the loop, the grid decides when each sample is due.

Overruns: a sample taken a period or more after it was due is counted (`late`). When the
loop falls more than `catchup` periods behind (a GC pause, a long command), the ticks beyond
that are skipped, counted (`skipped`) and the grid moves on: the delay is reported, never
carried into the following samples. `catchup` < 0 never skips: a replayed recording loses
nothing by being read late, so the virtual board's replay HAL catches up instead.

Lateness statistics (for jitter: how far sample instants fall from the grid) are kept in a
fixed histogram of 200 us bins (128 of them, up to 25.6 ms: 512 bytes), so the per-sample
cost is a few integer operations and no allocation; CMD_TIMING (gaitfw/powercmd.py, off the
sample path) turns them into mean, p99 (to a bin) and max (exact).
"""

from array import array

import micropython
from micropython import const

from gaitfw.compat import MICROPYTHON, ticks_add, ticks_diff

if not MICROPYTHON:
    from gaitfw.compat import ptr32  # noqa: F401  (viper annotations on CPython)

_BINS = const(128)
_BIN_US = const(200)  # histogram resolution; the last bin holds everything from 25.4 ms on


_NEVER = const(1 << 29)  # beyond any ticks_diff: "never skip"


def _sum_plain(h, i, n):
    t = 0
    while i < n:
        t += h[i]
        i += 1
    return t


@micropython.viper
def _sum_viper(h: ptr32, i: int, n: int) -> int:
    # Widths: the bins count samples; their sum is the sample count, < 2^30 (124 days).
    t = 0
    while i < n:
        t += h[i]
        i += 1
    return t


# STATUS asks every second: the bytecode loop over ~80 bins cost ~46 000 instructions
_sum = _sum_viper if MICROPYTHON else _sum_plain


class Pacer:
    """The grid and its statistics. The sample loop (app.App.sampler) inlines the per-sample
    part on locals (the deadline step when the period is a whole number of microseconds, the
    histogram update); `advance`, `record`, `behind` and `skip` are the same steps as methods,
    for the rare paths (idle, skipping, a fractional period) and the tests. The statistics as
numbers for people: `gaitfw.powercmd.stats` (CMD_TIMING)."""

    BIN_US = _BIN_US
    TOP = _BINS - 1

    def __init__(self, rate, speed=1.0, catchup=-1):
        self.hist = array("I", [0] * _BINS)
        # real microseconds per sample = 1e6 / (rate x speed), as num / den exactly
        self._num = 1000000 * 1000
        self._den = rate * (int(speed * 1000) or 1000)
        self._rem = 0
        self.period_us = self._num // self._den
        # the whole period when it is a whole number of microseconds (100 Hz: 10 000), else 0
        self.period_int = self.period_us if self._num % self._den == 0 else 0
        # lateness beyond which ticks are skipped rather than caught up
        self.limit_us = (catchup + 1) * self.period_us if catchup >= 0 else _NEVER
        self.due = 0
        self.reset_stats()

    def start(self, now):
        self.due = now
        self._rem = 0

    def advance(self):
        """Move the deadline one period on (exact: the fraction's remainder is carried)."""
        self._rem += self._num
        q = self._rem // self._den
        self._rem -= q * self._den
        self.due = ticks_add(self.due, q)

    def record(self, late_us):
        """Account one sample taken late_us after it was due (>= 0)."""
        if late_us > self.max_us:
            self.max_us = late_us
        b = late_us // _BIN_US
        if b > _BINS - 1:  # beyond the histogram: counted in the last bin, its lateness kept in ms
            b = _BINS - 1
            self.over_ms += late_us // 1000
        self.hist[b] += 1

    def behind(self, late_us):
        """True when the loop is more than `catchup` periods behind: skip, do not catch up."""
        return late_us > self.limit_us

    def skip(self, now):
        """Skip the ticks that are due and beyond catch-up; return how many were skipped."""
        k = 0
        lim = self.limit_us
        while ticks_diff(now, self.due) > lim and k < 1000000:
            self.advance()
            k += 1
        self.skipped += k
        return k

    def late(self):
        """Samples taken a period or more after they were due (exact when the period is a
        multiple of a bin, as at 100 Hz). An int, no allocation: STATUS asks every second."""
        return _sum(self.hist, self.period_us // _BIN_US, _BINS)

    def overruns(self):
        """`late()` plus the ticks skipped (STATUS, every second: `late`'s body written out,
        one bytecode call less)."""
        return _sum(self.hist, self.period_us // _BIN_US, _BINS) + self.skipped

    def reset_stats(self):
        self.max_us = 0
        self.skipped = 0
        self.over_ms = 0
        h = self.hist
        for i in range(_BINS):
            h[i] = 0
