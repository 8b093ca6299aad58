"""One foot of the insole: heel + ball CSM -> the paper's four statuses and gait events.

Why here and not in csm.py: csm.py knows one force sensor; the foot combines two of them
(foot contact = heel on or ball on), keeps the status / event state machine and the timing
(stance, swing, stride, cadence), and sends EVENTs through `emit`.

Statuses (paper Sec. 2.3, t_W = 50 ms), causal form: the paper's "initial on-ground" is the
t_W *before* the first loaded sample, which a real-time detector cannot know in advance, so
on the board status 2 is the first t_W after contact is detected and status 1 the first t_W
after lift-off; 3 on-ground and 0 off-ground otherwise.

Events (codes in events.py, times in ms from the `t_ms` the app passes in):
heel strike = initial contact (heel or ball first), foot flat = both loaded after contact,
heel off = heel unloads while the ball stays loaded, toe off = last sensor unloads.
A flat-lined sensor is ignored (the other one alone decides contact; foot flat and heel off
are then not reported). A contact change is accepted only after the current phase has lasted
`_MIN_PHASE` samples, so a faulty sensor cannot produce a burst of events.

STATUS bits 8-14 are the ST_* constants below (bits 0-7 belong to protocol.py).
"""

from array import array

from gaitfw import csm, events
from gaitfw.compat import const, ticks_diff

ST_CSM_WARMUP = const(1 << 8)  # normaliser still filling its first block
ST_HEEL_FLAT = const(1 << 9)  # heel sensor flat-lined / unplugged
ST_BALL_FLAT = const(1 << 10)  # ball sensor flat-lined / unplugged
ST_SATURATED = const(1 << 11)  # a sensor reached sat_level in the last window
ST_MISSING = const(1 << 12)  # missing samples (NaN in a file) in the last window
ST_GUARD = const(1 << 13)  # stuck-state guard corrected a decision in the last window
ST_TEMPLATES_INVALID = const(1 << 14)  # template file invalid: built-in defaults in use

_BOTH_FLAT = const(ST_HEEL_FLAT | ST_BALL_FLAT)
_MIN_PHASE = const(6)  # samples a stance or swing must last before it may end
_TW = const(5)  # t_W = 50 ms at 100 Hz
_S_LEN = const(56)  # csm._S_LEN: words of one sensor's state
_QUIET = const(114)  # 2 * _S_LEN + 2: the quiet value's word in _S2
_RES = const(115)  # the native tick's kernel result (app._tick_viper, `feed_native`)

# foot statuses (paper)
ON_GROUND = const(3)
INITIAL_OFF = const(1)
OFF_GROUND = const(0)
INITIAL_ON = const(2)


class FootProcessor:
    """Per-sample processor for one insole (channels: heel, ball)."""

    def __init__(self, emit, side, templates, params=None, defaulted=0, use_viper=None,
                 sensor_events=False, heel_ch=0, ball_ch=1):
        self.emit = emit
        self.side = side
        # both sensors' state in one array (heel, ball, channels, quiet value: csm._foot_viper;
        # the native tick's result: app._tick_viper)
        self._S2 = array("i", [0] * (2 * _S_LEN + 4))
        mv = memoryview(self._S2)
        self.heel = csm.SensorCSM(templates, params, use_viper, state=mv[0:_S_LEN])
        self.ball = csm.SensorCSM(templates, params, use_viper, state=mv[_S_LEN:2 * _S_LEN])
        self._S2[2 * _S_LEN] = heel_ch
        self._S2[2 * _S_LEN + 1] = ball_ch
        self.heel_ch = heel_ch
        self.ball_ch = ball_ch
        self.sensor_events = sensor_events
        self.defaulted = defaulted
        self._base = ST_TEMPLATES_INVALID if defaulted == 2 else 0
        # one native call runs both sensors and the quiet check (csm._foot_viper; the plain
        # twin is two calls of the plain kernel)
        if self.heel._kernel is csm._step_viper:
            self._k, self._kS = csm._foot_viper, self._S2
        else:
            self._k, self._kS = csm._foot_plain, (self._S2, self.heel.S, self.ball.S)
        self._T = templates
        self._L = csm.lut()
        self._hS = self.heel.S
        self._bS = self.ball.S
        self.reset()

    def reset(self):
        self.heel.reset()
        self.ball.reset()
        self.contact = 1  # Algorithm 2 starts on-ground
        self.h = 1
        self.b = 1
        self._tw_armed = 0  # a contact change has started t_W (see `tw`)
        self.run = 0
        self.flat_stance = 0
        self.heel_off_sent = 0
        self.t_hs = 0
        self.t_to = 0
        self.have_hs = 0
        self.have_to = 0
        self.stance_ms = 0
        self.swing_ms = 0
        self.stride_ms = 0
        self.cadence_x100 = 0  # steps per minute x 100, from the last stride
        self.steps = 0
        self._status = self._base
        self.events_sent = 0
        self._requiet()

    @property
    def tw(self):
        """Samples of t_W left: a contact change starts it (run = 0), one per sample after.
        Derived from `run` (no contact change can come while run <= _MIN_PHASE > _TW), so
        no sample has to count it down."""
        if not self._tw_armed:
            return 0
        r = self.run
        return _TW - r if r < _TW else 0

    @property
    def phase(self):
        """The paper's foot status: initial on/off-ground for t_W after a contact change."""
        if self.tw > 0:
            return INITIAL_ON if self.contact else INITIAL_OFF
        return ON_GROUND if self.contact else OFF_GROUND

    @property
    def run(self):
        """Samples since the last contact change, capped at 30000: counted by the heel's
        kernel (one word of its state), so the fast path of `feed` does not count them."""
        d = (self._hS[22] - self._run0) & 0x3FFFFFFF
        return d if d < 30000 else 30000

    @run.setter
    def run(self, v):
        self._run0 = (self._hS[22] - v) & 0x3FFFFFFF

    def _requiet(self):
        """`_quiet`: the packed kernel results (heel | ball << 8) for which a sample changes
        nothing but the run count (same decisions, no flags, no contact change pending);
        -1 while every sample needs the whole state machine."""
        if (self.h | self.b) == self.contact and self._status == self._base:
            self._S2[_QUIET] = self.h | (self.b << 8)
        else:
            self._S2[_QUIET] = -1

    def feed(self, t_ms, sample):
        """One sample (array of counts). Fast path: two kernel calls and a few compares.

        Why split in two: most samples change nothing (same decisions, no flags, no pending
        contact change), and a bytecode function whose locals + stack exceed 11 slots gets its
        frame from the heap on every call (~2 600 instructions), so the fast path keeps five
        locals and a shallow stack; everything else is `feed_native`, the full state machine."""
        r = self._k(self._kS, self._T, self._L, sample)
        if r >= 0:
            self._S2[_RES] = r
            self.feed_native(t_ms, sample)

    def native(self):
        """(state, templates, exp table) for the App's native tick, which runs this foot's
        kernel itself (app._tick_viper: csm._foot_viper's body) and calls `feed_native` only
        when the result is not the quiet value: no bytecode call on a quiet sample. None when
        the kernel is not the platform's own (a plain kernel on the board: tests)."""
        if self.heel._kernel is not csm.step:
            return None
        return self._S2, self._T, self._L

    def feed_native(self, t_ms, sample):
        """The whole per-sample state machine on the kernel's result in `_S2[_RES]` (put there
        by the App's native tick, or by `feed`): any change, flag or pending contact change.

        Six locals and calls of at most three arguments on purpose: locals + stack stay within
        the 11 slots a bytecode frame may take on the C stack (see `feed`); `rh` and `rb` hold
        the heel's and ball's decisions once their flags are read. `_requiet`'s body at the end,
        written out: one call less on every sample that comes here (~50 in 2 000 of a walk)."""
        rh = self._S2[_RES]
        rb = rh >> 8
        rh &= 0xFF
        st = self._base
        if (rh | rb) > 1 or self._status != st:
            st = self._flags(t_ms, rh, rb)
            rh = 0 if st & ST_HEEL_FLAT else rh & 1
            rb = 0 if st & ST_BALL_FLAT else rb & 1
        # here st == self._status: `_flags` stores it, else both are the base
        if (rh | rb) != self.contact and self.run > _MIN_PHASE and not (st & ST_CSM_WARMUP) \
                and (st & _BOTH_FLAT) != _BOTH_FLAT:
            self._contact_change(t_ms, rh | rb)
        if rh != self.h or rb != self.b:
            self._sensor_change(t_ms, rh, rb)
            self.h = rh
            self.b = rb
        if (rh | rb) == self.contact and st == self._base:  # `_requiet`
            self._S2[_QUIET] = rh | (rb << 8)
        else:
            self._S2[_QUIET] = -1

    def _flags(self, t_ms, rh, rb):
        fh = rh >> 1
        fb = rb >> 1
        st = self._base
        if (fh | fb) & csm.F_WARMUP:
            st |= ST_CSM_WARMUP
        if fh & csm.F_FLAT:
            st |= ST_HEEL_FLAT
        if fb & csm.F_FLAT:
            st |= ST_BALL_FLAT
        if (fh | fb) & csm.F_SATURATED:
            st |= ST_SATURATED
        if (fh | fb) & csm.F_MISSING:
            st |= ST_MISSING
        if (fh | fb) & csm.F_GUARD:
            st |= ST_GUARD
        if st != self._status:
            self.emit(t_ms, events.EV_INSOLE_STATUS, self.side, st, st ^ self._status)
            self._status = st
        return st

    def _contact_change(self, t_ms, contact):
        emit = self.emit
        side = self.side
        self._run0 = self._hS[22]  # `run = 0`, the setter's body (the kernel keeps the word < 2^30)
        self._tw_armed = 1  # t_W starts: `tw`, `phase`
        self.contact = contact
        self.events_sent += 1
        if contact:
            swing = ticks_diff(t_ms, self.t_to) if self.have_to else 0
            stride = ticks_diff(t_ms, self.t_hs) if self.have_hs else 0
            self.swing_ms = swing
            if stride > 0:
                self.stride_ms = stride
                self.cadence_x100 = 12000000 // stride
            self.t_hs = t_ms
            self.have_hs = 1
            self.flat_stance = 0
            self.heel_off_sent = 0
            self.steps += 1
            emit(t_ms, events.EV_HEEL_STRIKE, side, swing, stride)
        else:
            stance = ticks_diff(t_ms, self.t_hs) if self.have_hs else 0
            self.stance_ms = stance
            self.t_to = t_ms
            self.have_to = 1
            emit(t_ms, events.EV_TOE_OFF, side, stance, self.cadence_x100)
        if contact and self.h and self.b:  # both already loaded at contact
            self._sensor_change(t_ms, self.h, self.b)

    def _sensor_change(self, t_ms, h, b):
        emit = self.emit
        side = self.side
        st = self._status
        if self.sensor_events:
            if h != self.h:
                emit(t_ms, events.EV_CSM_SENSOR, side, 0, h)
            if b != self.b:
                emit(t_ms, events.EV_CSM_SENSOR, side, 1, b)
        if not (self.contact and self.have_hs) or (st & (ST_HEEL_FLAT | ST_BALL_FLAT)):
            return
        if h and b and not self.flat_stance:
            self.flat_stance = 1
            self.events_sent += 1
            emit(t_ms, events.EV_FOOT_FLAT, side, ticks_diff(t_ms, self.t_hs), 0)
        elif self.flat_stance and b and not h and self.h and not self.heel_off_sent:
            self.heel_off_sent = 1
            self.events_sent += 1
            emit(t_ms, events.EV_HEEL_OFF, side, ticks_diff(t_ms, self.t_hs), 0)

    def status(self):
        """STATUS bits 8-15 (see module docstring); 0 when healthy."""
        return self._status
