"""Buzzer (PWM tone patterns) and LED: the feedback outputs.

Why patterns as steps: the buzzer must never block the sample loop, so a pattern is a tuple
of (frequency_hz, duration_ms) steps (0 Hz = silence) that `tick(now_ms)` advances from the
loop. Pattern numbers follow `gaitfw.feedback` (`buzz_pattern`): 1 = two short beeps
(asymmetry), 2 = one long beep, 3 = three rising beeps.
"""

import machine

PATTERNS = {
    1: ((2000, 80), (0, 80), (2000, 80)),
    2: ((1500, 400),),
    3: ((1500, 60), (0, 60), (2000, 60), (0, 60), (2500, 60)),
}
_DUTY_ON = 32768  # 50 % duty: loudest square wave for a piezo


class Buzzer:
    def __init__(self, pin):
        self.pwm = machine.PWM(machine.Pin(pin), freq=2000, duty_u16=0)
        self.steps = ()  # type: tuple
        self.i = 0
        self.until = 0

    def play(self, pattern, now_ms):
        self.steps = PATTERNS.get(pattern, PATTERNS[1])
        self.i = 0
        self._start(now_ms)

    def _start(self, now_ms):
        f, ms = self.steps[self.i]
        if f:
            self.pwm.freq(f)
            self.pwm.duty_u16(_DUTY_ON)
        else:
            self.pwm.duty_u16(0)
        self.until = now_ms + ms

    def tick(self, now_ms):
        """Advance the pattern; True while it still plays."""
        if not self.steps:
            return False
        if now_ms - self.until < 0:
            return True
        self.i += 1
        if self.i >= len(self.steps):
            self.stop()
            return False
        self._start(now_ms)
        return True

    def stop(self):
        self.pwm.duty_u16(0)
        self.steps = ()


class Led:
    """A plain LED on a GPIO (Pico W: the pin named "LED", on the wireless chip)."""

    def __init__(self, pin, active_low=False):
        self.pin = machine.Pin(pin, machine.Pin.OUT)
        self.active_low = active_low
        self.on = False
        self.set(False)

    def set(self, on):
        self.on = bool(on)
        self.pin.value(1 if self.on != self.active_low else 0)
