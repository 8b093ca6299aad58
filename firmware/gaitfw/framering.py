"""A preallocated ring of the last encoded frames, with a send cursor: the BLE link's buffer.

Why one ring for both jobs: frames wait here while the radio is busy (`gatts_notify` raising
ENOMEM) or the host is away, and the same bytes answer a reconnecting host's CMD_RESEND from
its last sequence number. Nothing is allocated after construction: bytes are copied in with a
viper loop, and a small index (sequence number, offset, length per frame) finds where a
sequence number starts. When the ring is full the oldest whole frames are dropped; unsent
bytes dropped that way are counted in `overrun` (the host sees them as a frame gap).
"""

import micropython
from micropython import const

from gaitfw.compat import MICROPYTHON

if not MICROPYTHON:
    from gaitfw.compat import ptr8  # noqa: F401  (viper annotations on CPython)

_DEFAULT_SIZE = const(16384)
_DEFAULT_FRAMES = const(512)


def _copy_plain(dst, doff, src, soff, n):
    dst[doff:doff + n] = src[soff:soff + n]


@micropython.viper
def _copy_viper(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    i = 0
    while i < n:
        dst[doff + i] = src[soff + i]
        i += 1


_copy = _copy_viper if MICROPYTHON else _copy_plain


class FrameRing:
    def __init__(self, size=_DEFAULT_SIZE, max_frames=_DEFAULT_FRAMES):
        from array import array

        self.buf = bytearray(size)
        self.size = size
        self.start = 0  # offset in buf of the oldest byte kept
        self.count = 0  # bytes kept
        self.pos = 0  # bytes of the kept ones already handed out (0..count)
        self.fseq = array("H", [0] * max_frames)
        self.foff = array("i", [0] * max_frames)
        self.flen = array("H", [0] * max_frames)
        self.nf = max_frames
        self.fhead = 0  # index of the oldest frame
        self.fcount = 0
        self.overrun = 0  # frames dropped before they were handed out

    def _drop_oldest(self):
        i = self.fhead
        n = self.flen[i]
        self.fhead = (i + 1) % self.nf
        self.fcount -= 1
        self.start = (self.start + n) % self.size
        self.count -= n
        if self.pos < n:
            self.overrun += 1  # not (completely) handed out yet
            self.pos = 0
        else:
            self.pos -= n

    def put(self, src, n, seq):
        """Append one encoded frame (src[0:n]) numbered `seq`. False when it can never fit."""
        if n > self.size or n <= 0:
            return False
        while self.count + n > self.size or self.fcount == self.nf:
            self._drop_oldest()
        off = (self.start + self.count) % self.size
        first = self.size - off
        if first >= n:
            _copy(self.buf, off, src, 0, n)
        else:
            _copy(self.buf, off, src, 0, first)
            _copy(self.buf, 0, src, first, n - first)
        k = (self.fhead + self.fcount) % self.nf
        self.fseq[k] = seq
        self.foff[k] = off
        self.flen[k] = n
        self.fcount += 1
        self.count += n
        return True

    def pending(self):
        """Bytes not yet handed out."""
        return self.count - self.pos

    def peek(self, dst, maxn):
        """Copy up to maxn pending bytes into dst (from index 0); return how many."""
        k = self.count - self.pos
        if k > maxn:
            k = maxn
        if k <= 0:
            return 0
        off = (self.start + self.pos) % self.size
        first = self.size - off
        if first >= k:
            _copy(dst, 0, self.buf, off, k)
        else:
            _copy(dst, 0, self.buf, off, first)
            _copy(dst, first, self.buf, 0, k - first)
        return k

    def advance(self, k):
        """Mark k bytes (from `peek`) as handed out."""
        self.pos += k
        if self.pos > self.count:
            self.pos = self.count

    def skip_all(self):
        """Hand out nothing older than now (a new host starts live)."""
        self.pos = self.count

    def seek(self, seq):
        """Rewind (or fast-forward) the cursor to the frame numbered `seq`.

        True when that frame is still kept. Otherwise False and the cursor goes to the
        oldest frame kept, so the caller sends what there is and the host marks the gap.
        A sequence number newer than every kept frame (the board rebooted) also gives False,
        with the cursor left where it was.
        """
        nf = self.nf
        for j in range(self.fcount):
            i = (self.fhead + j) % nf
            if self.fseq[i] == seq:
                self.pos = (self.foff[i] - self.start) % self.size
                return True
        if self.fcount and ((seq - self.fseq[self.fhead]) & 0xFFFF) >= 0x8000:
            self.pos = 0  # older than the oldest kept: resend all we have
        return False
