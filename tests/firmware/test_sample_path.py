"""The sample path's native shortcuts change no byte the board sends.

Why: `App.step` reads a ReplayHal's rows inside the native tick (`_tick`, the HAL's cursor
bound into the App's state words) and keeps the SAMPLES header current there; a HAL without
a row buffer (the board drivers) takes `_step_hal`. Both paths, and the CPython twin, must
give the same stream, across buffer refills (chunk_rows not dividing the replay) and the
replay's loop, for the insole (events from CSM) and the knee sleeve (14 channels, MGait).
"""

from __future__ import annotations

import binascii
import sys

import numpy as np
import pytest

from gaitloop.sim.replayfile import Replay, write_replay
from tests.conftest import FIRMWARE, run_micropython

pytestmark = pytest.mark.micropython

_SCRIPT = """
from gaitfw import app as A
from gaitfw.boards import insole, knee
from gaitfw.hal import ReplayHal
class Sink:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(buf[off:off + n])
class NoRows:  # the same rows through `read` only, as a driver HAL gives them
    def __init__(self, hal): self.h = hal
    def read(self, s): return self.h.read(s)
def run(board, wrap):
    hal = ReplayHal(PATH, len(board.CHANNELS), True, chunk_rows=37)
    a = A.App(board, {'side': 'left'}, NoRows(hal) if wrap else hal, Sink())
    a._next_status = 1000; a._next_hello = 5000
    a.send_hello()
    for i in range(N): a.step()
    if a.batch_count: a._flush_batch()
    return a.out.b
"""


def _replay(tmp_path, nch: int, rows: int) -> str:
    rng = np.random.default_rng(nch)
    # a walk-like force pattern for the insole (CSM must see steps), noise for the knee
    t = np.arange(rows)
    if nch == 2:
        base = (np.sin(t * 2 * np.pi / 110) > 0) * 6000
        counts = np.stack([base + rng.integers(0, 300, rows), np.roll(base, 20) + rng.integers(0, 300, rows)], 1)
    else:
        counts = rng.integers(-2000, 2000, size=(rows, nch))
    counts[5] = 32767  # extremes through the native row read
    counts[6] = -32768
    path = tmp_path / f"r{nch}.glrp"
    names = tuple(f"c{i}" for i in range(nch))
    write_replay(Replay(names, 100, counts.astype(np.int16)), path)
    return str(path)


@pytest.mark.parametrize("board,nch", [("insole", 2), ("knee", 14)])
def test_native_rows_and_hal_path_send_the_same_bytes(tmp_path, board: str, nch: int) -> None:
    path = _replay(tmp_path, nch, 1000)  # 1000 rows, chunks of 37: refills mid-file and at the loop
    n = 2600
    code = f"PATH = {path!r}\nN = {n}\n" + _SCRIPT + (
        "import binascii\n"
        f"print(binascii.hexlify(run({board}, False)).decode())\n"
        f"print(binascii.hexlify(run({board}, True)).decode())\n"
    )
    native, via_hal = run_micropython(code, timeout=300).split()
    ns: dict = {}
    old = list(sys.path)
    sys.path.insert(0, str(FIRMWARE))
    try:
        exec(compile(f"PATH = {path!r}\nN = {n}\n" + _SCRIPT, "<app>", "exec"), ns)
        host = bytes(ns["run"](ns[board], False))
    finally:
        sys.path[:] = old
    board_bytes = binascii.unhexlify(native)
    # STATUS heap figures and HELLO key order differ between the runtimes; SAMPLES and
    # EVENT frames are compared byte for byte (their count too) in the decoded streams
    from gaitloop.decoder import StreamDecoder

    def frames(b: bytes) -> list[bytes]:
        return [bytes(f.raw) for f in StreamDecoder().feed(b"\x00" + b) if f.kind in (2, 3)]

    assert frames(board_bytes) == frames(binascii.unhexlify(via_hal))
    assert frames(board_bytes) == frames(host)
    assert len(frames(host)) >= n // 10


def test_the_ticks_seal_is_protocols_verbatim() -> None:
    """`app._tick_viper` seals a full SAMPLES frame itself (one bytecode call and four buffer
    conversions a frame fewer); viper has no inlining, so it holds `protocol._seal_viper`'s
    body as text. This fails when the two differ; the stream tests above check the bytes."""
    import textwrap
    from pathlib import Path

    root = Path(FIRMWARE) / "gaitfw"
    proto = (root / "protocol.py").read_text()
    a = proto.index("    seq = box[0]\n", proto.index("def _seal_viper"))
    ours = textwrap.dedent(proto[a:proto.index("    # -- end of the seal", a)])
    app = (root / "app.py").read_text()
    at = app.index("def _tick_viper")  # (the event ring's `pop` holds another copy: test_eventring.py)
    b = app.index("\n", app.index("# -- the seal (protocol._seal_viper's, verbatim)", at)) + 1
    theirs = textwrap.dedent(app[b:app.index("# -- end of the seal", b)].rstrip(" "))
    assert "crc" in ours and theirs == ours
