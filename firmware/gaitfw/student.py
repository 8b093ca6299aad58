"""Live int8 student on the board: window the sample stream, infer every hop, emit EVENTs.

Why on the board: phase / force estimates are needed by the feedback loop without a phone.
Per sample: each model channel's count is normalised to the model's int8 input with the
device file's integer table, q = clamp((count * mul + add) >> shift) (Q`shift`, every
intermediate inside +/-2^30, see docs/device_model.md), and written into a ring. Every `hop`
samples the ring is copied, oldest first, into the model's input and the model runs
(gaitfw.devmodel, viper kernels on MicroPython). Nothing is allocated per sample.

Events (gaitfw/events.py, block 96-127):
  EV_ST_PHASE when the predicted class changes (a: class index, b: top1 - top2 margin)
  EV_ST_GRF every hop (a: force in 0.1 N, b: raw int8 output)
  EV_ST_MODEL once at start (a: 0 loaded / 1 missing / 2 invalid, b: model RAM bytes)
"""

from array import array

from micropython import const

from gaitfw import devmodel, events

# STATUS bits 24-31 belong to learned models (protocol.py)
ST_STUDENT_WARMUP = const(1 << 24)  # fewer than `window` samples seen since start
_HOP = const(10)


class StudentProcessor:
    """Processor (docs/architecture.md) running a loaded `devmodel.Model` on the stream."""

    def __init__(self, emit, side, model, channels=None, hop=_HOP):
        self.emit = emit
        self.side = side
        self.m = model
        n = model.in_channels
        self.chan = array("b", channels if channels is not None else range(n))
        if len(self.chan) != n:
            raise ValueError("student: %d channels mapped for a %d-channel model" % (len(self.chan), n))
        self.hop = max(1, int(hop))
        self.window = model.window
        self.ring = array("b", bytes(model.window * n))
        self.norm = model.norm
        self.reset()

    def reset(self):
        self.pos = 0  # next ring row to write
        self.seen = 0
        self.since = 0
        self.last = -1  # last emitted phase
        self.value = 0  # last output: phase index or force in 0.1 N

    def feed(self, t_ms, sample):
        n = self.m.in_channels
        ring = self.ring
        norm = self.norm
        base = self.pos * n
        for c in range(n):
            v = (sample[self.chan[c]] * norm[3 * c] + norm[3 * c + 1]) >> norm[3 * c + 2]
            ring[base + c] = -128 if v < -128 else (127 if v > 127 else v)
        self.pos += 1
        if self.pos == self.window:
            self.pos = 0
        if self.seen < self.window:
            self.seen += 1
        self.since += 1
        if self.since < self.hop or self.seen < self.window:
            return
        self.since = 0
        self._infer(t_ms)

    def _infer(self, t_ms):
        m = self.m
        inp = m.inp
        ring = self.ring
        size = self.window * m.in_channels
        start = self.pos * m.in_channels  # oldest row
        j = 0
        for i in range(start, size):
            inp[j] = ring[i]
            j += 1
        for i in range(start):
            inp[j] = ring[i]
            j += 1
        m.invoke()
        if m.task == devmodel.TASK_PHASE:
            best = m.argmax()
            if best != self.last:
                self.last = best
                self.value = best
                self.emit(t_ms, events.EV_ST_PHASE, self.side, best, m.margin)
        else:
            raw = m.out[0]
            sh = m.out_shift
            x = (raw - m.out_zp) * m.out_mul
            self.value = (x + (1 << sh >> 1)) >> sh
            self.emit(t_ms, events.EV_ST_GRF, self.side, self.value, raw)

    def status(self):
        return ST_STUDENT_WARMUP if self.seen < self.window else 0


def make(emit, side, path, channels=None, hop=_HOP, use_viper=None):
    """A StudentProcessor for the model file `path`, or None (and an EV_ST_MODEL event) when
    the file is missing or invalid: the board keeps running without the student."""
    try:
        model = devmodel.Model(path, use_viper=use_viper)
    except devmodel.DevModelError:
        try:
            open(path, "rb").close()
            state = 2
        except OSError:
            state = 1
        emit(0, events.EV_ST_MODEL, side, state, 0)
        return None
    try:
        proc = StudentProcessor(emit, side, model, channels, hop)
    except ValueError:
        emit(0, events.EV_ST_MODEL, side, 2, 0)
        return None
    emit(0, events.EV_ST_MODEL, side, 0, model.ram_bytes())
    return proc
