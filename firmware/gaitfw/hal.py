"""Sensor HALs behind one interface: `read(sample) -> bool` fills an array('h') of counts.

Why a replay HAL: a virtual board plays real recordings through the exact sample path a real
board runs, at real time or N x speed. A board HAL (ADC, I2C IMU) fills the same array.

Replay file (.glrp, little endian): b"GLRP", u16 version, u16 n_channels, u16 rate_hz,
u32 n_samples, then n_samples rows of n_channels int16.
"""

from micropython import const

from gaitfw.protocol import get_u16, get_u32
from gaitfw.replayrow import next_row as _next

REPLAY_MAGIC = b"GLRP"
REPLAY_VERSION = const(1)
REPLAY_HEADER = const(14)


class ReplayError(Exception):
    pass


class ReplayHal:
    """Plays a replay file in chunks read into one preallocated buffer (no allocation per row)."""

    def __init__(self, path, n_channels, loop=True, chunk_rows=128):
        self.f = open(path, "rb")
        head = self.f.read(REPLAY_HEADER)
        if len(head) != REPLAY_HEADER or head[0:4] != REPLAY_MAGIC:
            raise ReplayError("not a replay file: %s" % path)
        if get_u16(head, 4) != REPLAY_VERSION:
            raise ReplayError("unsupported replay version %d" % get_u16(head, 4))
        self.n_channels = get_u16(head, 6)
        self.rate_hz = get_u16(head, 8)
        self.n_samples = get_u32(head, 10)
        if self.n_channels != n_channels:
            raise ReplayError("replay has %d channels, board has %d" % (self.n_channels, n_channels))
        if self.n_samples == 0:
            raise ReplayError("replay file holds no samples")
        self.loop = loop
        self.row_bytes = 2 * n_channels
        self.buf = bytearray(chunk_rows * self.row_bytes)
        from array import array

        self._cur = array("i", [0, 0, n_channels])  # pos, avail, channels: read by `_next`
        self.row = 0  # index of the next row in the file
        self.loops = 0
        self.ended = False
        self.start_row = 0  # the row sample 0 of this boot played (seek)

    def _fill(self):
        if self.row >= self.n_samples:
            if not self.loop:
                return False
            self.f.seek(REPLAY_HEADER)
            self.row = 0
            self.loops += 1
        n = self.f.readinto(self.buf)  # the file ends after n_samples rows
        rows = (n or 0) // self.row_bytes
        left = self.n_samples - self.row
        if rows > left:
            rows = left  # trailing bytes after the last row are not samples
        if rows <= 0:
            return False
        self.avail = rows * self.row_bytes
        self.pos = 0
        self.row += rows
        return True

    def seek(self, row):
        """Play from `row` on (wrapped when looping, else clamped to the end): a board that
        boots late into a shared replay (config `replay_epoch_ms`) joins the walk where it is."""
        n = self.n_samples
        row = row % n if self.loop else min(row, n)
        self.f.seek(REPLAY_HEADER + row * self.row_bytes)
        self.row = row
        self.avail = self.pos = 0
        self.start_row = row
        return row

    @property
    def pos(self):
        return self._cur[0]

    @pos.setter
    def pos(self, v):
        self._cur[0] = v

    @property
    def avail(self):
        return self._cur[1]

    @avail.setter
    def avail(self, v):
        self._cur[1] = v

    def bind_cursor(self, cur):
        """Keep the row cursor (position, bytes available, channels) in `cur`, three words of
        the caller's array('i') (app.App: a memoryview of its `_st`), and return the row
        buffer: the app's native tick then reads rows itself, one call per sample instead of
        two, and `read` refills the same buffer and cursor."""
        cur[0] = self._cur[0]
        cur[1] = self._cur[1]
        cur[2] = self._cur[2]
        self._cur = cur
        return self.buf

    def read(self, sample):
        """One row into `sample`: a single native call per row (`_next`), the file only
        every `chunk_rows` rows."""
        if _next(self.buf, self._cur, sample):
            return True
        if not self._fill():
            self.ended = True
            return False
        return _next(self.buf, self._cur, sample)

    def close(self):
        self.f.close()
