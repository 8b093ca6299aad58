"""ADC readings streamed from a file, for a harness that must leave a small board's heap alone.

Why: `bench.wire_profile` holds the replay's rows and each part model's precomputed outputs
in the heap (~45 kB for 300 rows on the insole). On the emulated Pico W that harness took the
room the student model needs (one 16 kB block), so the push could not be measured there.
Here the host writes what each ADC pin reads (the u16 `partmodels.DividerAdc` computes for
the same rows) to one file, and each reading is a seek and a 2-byte read into a buffer made
once: the heap holds a file object and a few small objects, whatever the number of rows.

File format ("rows.u16"): u16 ncol, u32 n (little-endian), then n rows of ncol u16 readings.
`adc_table` (CPython, the host) writes it; `wire_streamed` (the board) reads it.
"""

_HEAD = 6


class StreamAdc:
    """`read_u16` of one ADC pin: column `col` of the file's rows, looping as DividerAdc does."""

    def __init__(self, f, col, ncol, n, loop=True):
        self.f = f
        self.col = col
        self.ncol = ncol
        self.n = n
        self.loop = loop
        self.i = 0
        self.b = bytearray(2)
        self.stuck = False
        self.open = False

    def read_u16(self):
        if self.open:
            return 65535
        if self.i >= self.n:
            self.i = 0 if self.loop else self.n - 1
        self.f.seek(_HEAD + 2 * (self.i * self.ncol + self.col))
        self.f.readinto(self.b)
        if not self.stuck:
            self.i += 1
        return self.b[0] | (self.b[1] << 8)


def wire_streamed(profile, path, loop=True):
    """The profile's ADC sensors (fsr, bend) wired to columns of `path`, in the order of
    `profile["sensors"]`. Returns ({channel: source}, number of rows). Other drivers have no
    streamed model: ValueError (use bench.wire_profile)."""
    import machine

    machine.reset()
    f = open(path, "rb")
    head = f.read(_HEAD)
    ncol = head[0] | (head[1] << 8)
    n = head[2] | (head[3] << 8) | (head[4] << 16) | (head[5] << 24)
    models = {}
    col = 0
    for s in profile["sensors"]:
        if s["drv"] not in ("fsr", "bend"):
            raise ValueError("no streamed model for driver %r" % s["drv"])
        m = StreamAdc(f, col, ncol, n, loop=loop)
        machine.wire_adc(s["pin"], m)
        models[s["ch"]] = m
        col += 1
    if col != ncol:
        raise ValueError("%s holds %d columns for %d ADC sensors" % (path, ncol, col))
    return models, n


def adc_table(profile, rows, divider):
    """The file's bytes for `rows` (per-sample lists of channel counts): each ADC sensor's
    readings as `divider` (partmodels.DividerAdc) gives them (host side, CPython)."""
    import struct

    cols = []
    for s in profile["sensors"]:
        if s["drv"] not in ("fsr", "bend"):
            raise ValueError("no streamed model for driver %r" % s["drv"])
        cols.append(divider([r[s["ch"]] for r in rows], s["drv"]).u16)
    n = len(rows)
    out = bytearray(struct.pack("<HI", len(cols), n))
    for i in range(n):
        for c in cols:
            out += struct.pack("<H", c[i])
    return bytes(out)
