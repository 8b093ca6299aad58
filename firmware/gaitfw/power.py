"""Idle detection: when nobody walks and no host is connected, the board drops to a low rate.

Why: a board sampling, computing and streaming at 100 Hz draws its full current whether the
wearer walks or sits; most of a day is sitting. Idle (docs/hardware.md, "Power"): the sample
loop ticks at `idle_rate_hz` instead of the board rate (the same grid, every `div`-th tick),
each tick reads the sensors once and only compares them with the anchor below; processors,
framing and SAMPLES stop, the LED and buzzer are off, BLE advertises every 1 s, and between
ticks the board waits in `machine.lightsleep` where the profile allows it (`"lightsleep"`;
only with the radio off: a light-sleeping ESP32-S3 or RP2040 keeps no BLE advertising or
connection up, and the RP2040's lightsleep stops USB).

Motion: every `div` samples (at the idle rate, also while active, so the check costs one
counter per sample) the activity channels are compared with an anchor, the reading at the
last motion; a difference above `wake_thr` on any of them is motion and moves the anchor.
Insole: the two force channels (0.1 N counts; 30 N by default: a foot that lifts or lands).
Knee: the six gyro axes and the two bend angles (30 dps in counts, 10
degrees). No motion for `idle_after_s` seconds and no BLE central -> idle. Motion at an idle
tick, a central connecting, or CMD_POWER 2 -> active, from that tick on at full rate.
"""

from array import array

from micropython import const

from gaitfw import protocol as P

_IDLE_AFTER_S = const(30)
_IDLE_RATE_HZ = const(10)

# board kind -> (activity channels, default threshold in channel counts)
_ACTIVITY = {
    "insole": ((0, 1), 300),  # heel, ball: 30 N
    "knee": ((0, 4, 5, 6, 7, 11, 12, 13), 1000),  # bends and gyros: 10 degrees, ~30 dps
}


def _int(cfg, key, default):
    """cfg[key] as an int; the default when missing or not a number (a bad CMD_SET or
    config.json must never stop the board from booting)."""
    try:
        return int(cfg.get(key, default))
    except (TypeError, ValueError):
        return default


class Power:
    def __init__(self, kind, nch, rate, cfg, profile=None):
        self.kind = kind
        self.nch = nch
        self.rate = rate
        self.profile = profile
        self.configure(cfg)
        self.ref = array("i", [0] * nch)
        self.state = P.POWER_ACTIVE
        self.reason = P.WAKE_NONE
        self.still = 0  # idle-rate checks since the last motion
        self.hold = False  # CMD_POWER 2: stay active until the next motion-free period
        self.force = False  # CMD_POWER 1: idle at the next check

    def configure(self, cfg):
        """(Re)read the settings from the config (at boot, and after CMD_SET)."""
        chans, thr = _ACTIVITY.get(self.kind, ((), 0))
        rate = self.rate
        self.chans = tuple(c for c in chans if c < self.nch)
        self.thr = _int(cfg, "wake_thr", thr)
        self.idle_after_s = _int(cfg, "idle_after_s", _IDLE_AFTER_S)  # 0 (or less): never idle
        idle_rate = _int(cfg, "idle_rate_hz", _IDLE_RATE_HZ)
        if idle_rate <= 0 or idle_rate > rate:
            idle_rate = _IDLE_RATE_HZ if rate >= _IDLE_RATE_HZ else rate
        self.div = rate // idle_rate  # full-rate ticks per idle tick
        self.idle_rate = rate // self.div
        self.checks_to_idle = self.idle_after_s * self.idle_rate
        sleep = cfg.get("lightsleep")
        if sleep is None:
            sleep = bool(self.profile and self.profile.get("lightsleep"))
        self.lightsleep = bool(sleep)

    def moved(self, s):
        """Compare the activity channels with the anchor; on motion the anchor moves."""
        ref = self.ref
        thr = self.thr
        moved = False
        for c in self.chans:
            d = s[c] - ref[c]
            if d > thr or d < -thr:
                moved = True
        if moved:
            for c in self.chans:
                ref[c] = s[c]
        return moved

    def check_now(self, s):
        """Every `div` samples (the sample loop counts them): motion resets the stillness
        count; True when still long enough (or CMD_POWER 1 set `force`)."""
        if self.force:
            self.force = False
            return True
        if self.moved(s):
            self.still = 0
            self.hold = False
            return False
        self.still += 1
        return self.checks_to_idle > 0 and self.still >= self.checks_to_idle and not self.hold

    def enter(self):
        self.state = P.POWER_IDLE

    def wake(self, reason):
        self.state = P.POWER_ACTIVE
        self.reason = reason
        self.still = 0

    def rate_now(self):
        return self.idle_rate if self.state == P.POWER_IDLE else self.rate
