"""MGait feedback rules (paper Sec. 5.3): asymmetry -> buzzer, short steps -> LED, slowing -> notice.

Why debounced with two thresholds and a step count: a single noisy stride near 25 % must not
make the buzzer chatter. A rule turns on only after it held for `wait_steps` steps (the
paper waits five steps) and turns off only after it stayed below a lower threshold for as
long. Integers only; called once per step, never per sample.

Asymmetry per stride i (paper eq. 7): |L_left - L_right| / (0.5 (L_left + L_right)) x 100,
strides = consecutive non-overlapping left/right step pairs. cfg keys (percent values):
  asym_pct (25), asym_off_pct (20), wait_steps (5), buzz_pattern (1),
  baseline_mm (0 = learn from the first `baseline_steps` steps, 10),
  reduce_pct (20: LED when the mean of the last 6 steps < 80 % of baseline),
  speed_drop_pct (15: notice when speed < 85 % of the reference speed)
"""

from array import array

from gaitfw.compat import const
from gaitfw.events import (
    EV_MG_ASYM,
    EV_MG_BUZZ,
    EV_MG_BUZZ_OFF,
    EV_MG_LED,
    EV_MG_LED_OFF,
    EV_MG_SPEED_TREND,
)

_NREC = const(6)


class Feedback:
    """Per-step rules; `buzz`, `led`, `notice` hold the outputs (a board drives pins from them)."""

    def __init__(self, emit, cfg=None):
        cfg = cfg or {}
        self.emit = emit
        self.asym_on = int(cfg.get("asym_pct", 25) * 100)
        self.asym_off = int(cfg.get("asym_off_pct", 20) * 100)
        self.wait_steps = int(cfg.get("wait_steps", 5))
        self.pattern = int(cfg.get("buzz_pattern", 1))
        self.baseline = int(cfg.get("baseline_mm", 0))
        self.baseline_steps = int(cfg.get("baseline_steps", 10))
        self.reduce = int(cfg.get("reduce_pct", 20))
        self.drop = int(cfg.get("speed_drop_pct", 15))
        self.speed_ref = int(cfg.get("speed_ref_mm_s", 0))
        self.rec = array("i", [0] * _NREC)
        # called when `buzz` or `led` changes (a board's HAL: its buzzer and LED step rests
        # while no rule is on, gaitfw/boardhal.py), None when nothing drives outputs
        self.on_change = None
        self.reset()

    def reset(self):
        self.pend_side = -1
        self.pend_len = 0
        self.nstride = 0
        self.over = 0
        self.under = 0
        self.buzz = 0
        self.asym = 0
        self.nsteps = 0
        self.base_sum = 0
        self.low = 0
        self.ok = 0
        self.led = 0
        self.nspeed = 0
        self.ref_sum = 0
        self.slow = 0
        self.fast_ok = 0
        self.notice = 0
        self._changed()

    def _changed(self):
        if self.on_change is not None:
            self.on_change()

    def on_step(self, t_ms, side, length_mm):
        """One detected step of the front limb `side` with its length."""
        self._asymmetry(t_ms, side, length_mm)
        self._reduction(t_ms, length_mm)

    def _asymmetry(self, t, side, length):
        if self.pend_side < 0 or self.pend_side == side:
            self.pend_side = side
            self.pend_len = length
            return
        a = length - self.pend_len
        if a < 0:
            a = -a
        tot = length + self.pend_len
        asym = (a * 20000) // tot if tot > 0 else 0
        self.asym = asym
        self.pend_side = -1
        self.emit(t, EV_MG_ASYM, side, asym, self.nstride)
        self.nstride += 1
        if asym >= self.asym_on:
            self.over += 2
            self.under = 0
        elif asym < self.asym_off:
            self.under += 2
            self.over = 0
        if not self.buzz and self.over >= self.wait_steps:
            self.buzz = 1
            self._changed()
            self.emit(t, EV_MG_BUZZ, 2, asym, self.pattern)
        elif self.buzz and self.under >= self.wait_steps:
            self.buzz = 0
            self._changed()
            self.emit(t, EV_MG_BUZZ_OFF, 2, asym, 0)

    def _reduction(self, t, length):
        r = self.rec
        r[self.nsteps % _NREC] = length
        self.nsteps += 1
        if self.baseline <= 0:
            self.base_sum += length
            if self.nsteps >= self.baseline_steps:
                self.baseline = self.base_sum // self.nsteps
            return
        if self.nsteps < _NREC:
            return
        mean = (r[0] + r[1] + r[2] + r[3] + r[4] + r[5]) // _NREC
        if mean * 100 < self.baseline * (100 - self.reduce):
            self.low += 1
            self.ok = 0
        elif mean * 100 >= self.baseline * (105 - self.reduce):
            self.ok += 1
            self.low = 0
        if not self.led and self.low >= self.wait_steps:
            self.led = 1
            self._changed()
            self.emit(t, EV_MG_LED, 2, mean, self.baseline)
        elif self.led and self.ok >= self.wait_steps:
            self.led = 0
            self._changed()
            self.emit(t, EV_MG_LED_OFF, 2, mean, self.baseline)

    def on_speed(self, t_ms, speed_mm_s):
        """Walking speed over the last five strides (one update per step once known)."""
        self.nspeed += 1
        if self.speed_ref <= 0:
            self.ref_sum += speed_mm_s
            if self.nspeed >= 3:
                self.speed_ref = self.ref_sum // self.nspeed
            return
        if speed_mm_s * 100 < self.speed_ref * (100 - self.drop):
            self.slow += 1
            self.fast_ok = 0
        elif speed_mm_s * 100 >= self.speed_ref * (100 - self.drop // 2):
            self.fast_ok += 1
            self.slow = 0
        if not self.notice and self.slow >= self.wait_steps:
            self.notice = 1
            drop = ((self.speed_ref - speed_mm_s) * 10000) // self.speed_ref
            self.emit(t_ms, EV_MG_SPEED_TREND, 2, speed_mm_s, drop)
        elif self.notice and self.fast_ok >= self.wait_steps:
            self.notice = 0

    def status(self):
        return 0
