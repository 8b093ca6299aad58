"""The real-board HAL: the drivers a profile names, behind the replay HAL's interface.

`read(sample)` asks every sensor driver for its channels. A driver that reports a fault has
left its channels at their last good values; the board keeps sampling, and `status()` (ORed
into STATUS by the app) carries `ST_SENSOR_FAULT` for any fault seen since the last STATUS,
so a one-sample glitch between two STATUS frames is still reported; `hal.fault_counts()`
counts faulted samples per driver for bring-up. The drivers' state is one array of records
and `read` one native call for all of them (gaitfw/drvnative.py); on the App's sample path
the same records are read inside its native tick (`native_read`: `app._tick_viper` with the
callables), so a board's sample costs no bytecode call per driver and no call of its own.
"""

import machine
from micropython import const

from gaitfw import drvnative as N
from gaitfw import profiles
from gaitfw import protocol as P
from gaitfw.drivers import divider, outputs


def _build(spec, i2c, W, k):
    d = spec["drv"]
    if d == "hx711":
        # imported by the boards that have one (the Pico W's heap: docs/hardware.md)
        from gaitfw.drivers import hx711

        return hx711.HX711(
            spec["dout"],
            spec["sck"],
            spec["ch"],
            gain=spec.get("gain", 128),
            tare=spec.get("tare", 0),
            div=spec.get("div", 256),
            timeout_n=spec.get("timeout_n", 20),
            W=W,
            k=k,
            spi=spec.get("spi"),  # clocked by an SPI bus instead of two GPIOs (hx711.py)
        )
    if d == "fsr":
        return divider.fsr(spec["pin"], spec["ch"], spec["cal"], W=W, k=k)
    if d == "bend":
        return divider.bend(spec["pin"], spec["ch"], spec["cal"], W=W, k=k)
    if d == "mpu6050":
        from gaitfw.drivers import mpu6050

        return mpu6050.MPU6050(i2c, spec["ch"], addr=spec.get("addr", 0x68), orient=spec.get("orient", (1, 2, 3)), W=W, k=k)
    raise ValueError("unknown driver %r" % d)


_OUT_PLAYING = const(2)  # samples per outputs step while the buzzer plays a pattern
_OUT_QUIET = const(10)  # otherwise
_H_N = const(0)  # drvnative.H_N, H_OUT, H_OUTC (a constant costs no module lookup: tested equal)
_H_OUT = const(1)
_H_OUTC = const(5)
_OUT_REST = const(256)  # drvnative.OUT_REST


class BoardHal:
    # A sensor reads the present: after a stall the sample loop takes at most this many late
    # samples back to back, then skips ticks (gaitfw/pacer.py) rather than reading a burst
    # of samples that would all carry wrong times.
    CATCHUP = 2

    def __init__(self, profile, n_channels, cal=None):
        """`cal`: {channel index: (u_a, out_a, u_b, out_b)} from config.json overrides the profile's."""
        covered = set()
        i2c = None
        if profile.get("i2c"):
            b = profile["i2c"]
            i2c = machine.I2C(b["id"], sda=machine.Pin(b["sda"]), scl=machine.Pin(b["scl"]), freq=b.get("freq", 400000))
        self.i2c = i2c
        self.profile = profile  # gaitfw.power reads "lightsleep" from it
        self.specs = []
        self.drivers = []  # type: list
        # every driver's state is a record of one W: `read` is one native call for all
        self.W = W = N.words(len(profile["sensors"]))
        for spec in profile["sensors"]:
            if cal and spec["drv"] in ("fsr", "bend") and spec["ch"] in cal:
                spec = dict(spec, cal=tuple(cal[spec["ch"]]))
            drv = _build(spec, i2c, W, len(self.drivers))
            width = 6 if spec["drv"] == "mpu6050" else 1
            for c in range(spec["ch"], spec["ch"] + width):
                if c >= n_channels or c in covered:
                    raise ValueError("profile %s: channel %d out of range or doubled" % (profile["name"], c))
                covered.add(c)
            self.drivers.append(drv)
            self.specs.append(spec)
        if len(covered) != n_channels:
            raise ValueError("profile %s fills %d of %d channels" % (profile["name"], len(covered), n_channels))
        calls = ()
        for d in self.drivers:  # one flat tuple of callables; each record says where its own begin
            d.r[N.CI] = len(calls)
            calls += d.calls
        for d in self.drivers:
            d.calls = calls
        self.calls = calls
        self.buzzer = outputs.Buzzer(profile["buzzer"]) if profile.get("buzzer") is not None else None
        self.led = outputs.Led(profile["led"]) if profile.get("led") is not None else None
        self.n_samples = 0  # not a replay: the app's HELLO leaves "replay" out
        self.app = None
        self._fbs = []  # type: list
        self._told = True  # every rule says when it changes (refresh_outputs)
        self.ms_per = 1000 // profile.get("rate_hz", 100)
        self.buzz_next = 0  # when a still-on buzzer rule plays its pattern again (ms)

    @property
    def n(self):
        """Samples read."""
        return self.W[N.H_N]

    def attach(self, app):
        """Drive the buzzer and LED from the processors' feedback rules (`gaitfw.feedback`:
        `buzz`, `pattern`, `led`); looked up through the app, as an update may swap them."""
        self.app = app
        self.refresh_outputs()

    def refresh_outputs(self):
        """Outputs run (`outputs`) only while a processor has feedback rules (the knee
        sleeve; the insole has none): the App calls this when its processors change."""
        app = self.app
        fbs = []
        if app is not None and (self.buzzer is not None or self.led is not None):
            for p in app.processors:
                fb = getattr(p, "fb", None)
                if fb is not None:
                    fbs.append(fb)
        self._fbs = fbs  # the rules' state objects, looked up here, not at every outputs step
        # Rules that say when they change (gaitfw.feedback's `on_change`) let the step rest
        # while nothing plays and no rule is on; others are polled at every step, as before.
        told = True
        for fb in fbs:
            if hasattr(fb, "on_change"):
                fb.on_change = self._wake_outputs
            else:
                told = False
        self._told = told
        on = len(fbs) > 0
        if self.W[N.H_OUT] and not on:
            self.set_idle(True)  # silence a pattern the old processors started
        self.W[N.H_OUT] = _OUT_QUIET if on else 0

    def outputs(self):
        """The buzzer and LED step: every 2nd sample while a pattern plays (20 ms beep
        resolution), every 10th otherwise (a rule turned on starts its beep or LED within
        100 ms). Why it rests (`drvnative.OUT_REST`) while no rule is on and nothing plays:
        the step is a bytecode loop over the rules, ~10 000 instructions (~1 000 a sample at
        every 10th), and then it would only find nothing to do; a rule's change, or idle,
        wakes it for the next step of the same count, so it acts on the same samples as
        when it ran every time."""
        W = self.W
        on = self._outputs(W[_H_N] * self.ms_per)
        bz = self.buzzer
        n = _OUT_PLAYING if bz is not None and bz.steps else _OUT_QUIET
        W[_H_OUTC] = n
        if on or n == _OUT_PLAYING or not self._told:
            W[_H_OUT] = n
        else:
            W[_H_OUT] = n | _OUT_REST

    def _wake_outputs(self):
        """A rule changed, or the board went idle or woke: the next step of the count runs."""
        W = self.W
        W[_H_OUT] = W[_H_OUT] & 255

    def native_read(self):
        """(read, W, calls): `read(W, calls, sample)` reads every driver in one native call
        (bit 0 of its result: `outputs()` is due; bit 1: a driver failed). The App takes W and
        calls and reads the records inside its tick (`_I_ROWS` 2); `read` is bring-up's."""
        return N.read, self.W, self.calls

    def _outputs(self, t):
        """True while a buzzer rule is on (it plays its pattern again every 2 s)."""
        buzz = led = 0
        pattern = 1
        for fb in self._fbs:
            if fb.buzz:
                buzz = 1
                pattern = fb.pattern
            if fb.led:
                led = 1
        bz = self.buzzer
        if bz is not None:
            if not buzz:
                self.buzz_next = t
            elif t - self.buzz_next >= 0:
                bz.play(pattern, t)  # again every 2 s while the rule holds
                self.buzz_next = t + 2000
            if bz.steps:
                bz.tick(t)
        if self.led is not None and self.led.on != bool(led):
            self.led.set(led)
        return buzz

    def read(self, sample):
        if N.read(self.W, self.calls, sample) & 1:  # the buzzer and LED step is due
            self.outputs()
        return True

    def status(self):
        """STATUS bits since the last call; the latch then follows the drivers' present state."""
        return P.ST_SENSOR_FAULT if N.latch(self.W) else 0

    def set_idle(self, idle):
        """Idle (gaitfw/power.py): LED and buzzer off; the feedback rules drive them again on wake."""
        self._wake_outputs()
        if idle:
            if self.buzzer is not None:
                self.buzzer.stop()
            if self.led is not None and self.led.on:
                self.led.set(0)

    def fault_counts(self):
        """Samples whose read failed, per driver (bring-up)."""
        return [d.r[N.NFAULT] for d in self.drivers]

    def close(self):
        if self.buzzer:
            self.buzzer.stop()


def from_config(cfg, board):
    """The HAL config.json asks for: `"hal": "drivers"`, `"profile": NAME` (gaitfw.profiles),
    optional `"hal_cal": {"channel": [u_a, out_a, u_b, out_b]}` (the standing calibration's
    divider points) and `"hx711_tare": {"channel": raw}` (the unloaded cells)."""
    prof = profiles.get(cfg.get("profile", ""))
    if prof["board"] != board.KIND:
        raise ValueError("profile %s is for the %s, this board is the %s" % (prof["name"], prof["board"], board.KIND))
    tares = cfg.get("hx711_tare") or {}
    if tares:
        sensors = []
        for s in prof["sensors"]:
            if s["drv"] == "hx711" and str(s["ch"]) in tares:
                s = dict(s)
                s["tare"] = int(tares[str(s["ch"])])
            sensors.append(s)
        prof = dict(prof)
        prof["sensors"] = tuple(sensors)
    cal = {}
    for k, v in (cfg.get("hal_cal") or {}).items():
        cal[int(k)] = v
    return BoardHal(prof, len(board.CHANNELS), cal)
