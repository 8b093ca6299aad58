"""Helpers for update tests that run the firmware's update path under real MicroPython.

`BOARD_PRELUDE` builds a real `App` (no HAL: commands only) with an `Updater` attached in the
current folder, plus `push(kind, payload, version)` that drives the same command handler the
serial link feeds, then confirms the new artifact as its trial run would. `FAULTS` replaces `open` / `os` in gaitfw.store and gaitfw.update with
versions that count file operations and "lose power" at operation CRASH_AT (a write is torn
in half first), so a test can cut the power at every step of an update.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import FIRMWARE, micropython_binary

KEY = bytes(range(32))
DEVICE = "dev-test-1"

BOARD_PRELUDE = r"""
import sys, os, json, hashlib
from gaitfw import app as A, update as U, manifest as M, protocol as P, store as S
from gaitfw.boards import insole as B
KEY = bytes(range(32))
try:
    os.stat('device.key')
except OSError:
    with open('device.key', 'wb') as f:
        f.write(M.key_file_bytes('dev-test-1', KEY))

class Out:
    def __init__(self):
        self.replies = []
    def write(self, buf, off, n):
        raw = bytearray(P.MAX_FRAME)
        m = P.cobs_decode_into(buf, n - 1, raw)
        f = P.parse_frame(raw, m)
        if not isinstance(f, int) and f.kind in (P.MSG_ACK, P.MSG_NAK):
            self.replies.append((f.kind, f.payload))

def boot():
    cfg = {"board": "insole", "side": "left", "device": "t"}
    upd = U.Updater(B, cfg)
    out = Out()
    app = A.App(B, upd.cfg, None, out)
    upd.attach(app)
    return app, upd, out

def cmd(app, out, c, args=b''):
    out.replies = []
    app.handle_command(1, c, args)
    return out.replies[-1]

def push(app, out, kind, payload, version, key=KEY, chunk=512, confirm=True):
    man = M.pack(key, kind, M.BOARD_INSOLE, 1, version, len(payload),
                 hashlib.sha256(payload).digest())
    k, r = cmd(app, out, P.CMD_UPD_BEGIN, man)
    if k != P.MSG_ACK:
        return 'nak', r[4:].decode()
    off = r[3] | (r[4] << 8) | (r[5] << 16) | (r[6] << 24)
    while off < len(payload):
        d = payload[off:off + chunk]
        a = bytearray(6 + len(d))
        P.put_u32(a, 0, off)
        P.put_u16(a, 4, P.crc16(d, 0, len(d)))
        a[6:] = d
        k, r = cmd(app, out, P.CMD_UPD_DATA, a)
        off = r[3] | (r[4] << 8) | (r[5] << 16) | (r[6] << 24)
    k, r = cmd(app, out, P.CMD_UPD_END)
    if k == P.MSG_ACK and confirm:  # as after CONFIRM_S of samples with it
        app.updater.confirm(M.KINDS[kind])
    return ('ok' if k == P.MSG_ACK else 'nak'), (r[3:] if k == P.MSG_ACK else r[4:]).decode()
"""

FAULTS = r"""
CRASH_AT = %d
AFTER = %d  # 1: the operation completes, then the power goes
ops = [0]
_open = open
_os = os

def _tick():
    ops[0] += 1
    return ops[0] == CRASH_AT

class _F:
    def __init__(self, f):
        self.f = f
    def write(self, b):
        if _tick():
            self.f.write(b if AFTER else b[:len(b) // 2])  # torn unless AFTER
            self.f.close()
            sys.exit(77)
        return self.f.write(b)
    def read(self, *a):
        return self.f.read(*a)
    def readinto(self, *a):
        return self.f.readinto(*a)
    def close(self):
        self.f.close()
    def __enter__(self):
        return self
    def __exit__(self, *a):
        self.f.close()

def _fopen(p, mode='r'):
    hit = _tick()
    if hit and not AFTER:
        sys.exit(77)
    try:
        f = _open(p, mode)
    except OSError:
        if hit:
            sys.exit(77)  # the failed open happened, then the power went
        raise
    if hit:
        f.close()
        sys.exit(77)
    return _F(f) if ('w' in mode or 'a' in mode) else f

class _FOS:
    @staticmethod
    def rename(a, b):
        hit = _tick()
        if hit and not AFTER:
            sys.exit(77)
        _os.rename(a, b)
        if hit:
            sys.exit(77)
    @staticmethod
    def remove(a):
        hit = _tick()
        if hit and not AFTER:
            sys.exit(77)
        try:
            _os.remove(a)
        finally:
            if hit:
                sys.exit(77)
    stat = _os.stat
    mkdir = _os.mkdir

def arm():
    S.open = _fopen
    U.open = _fopen
    S.os = _FOS
    U.os = _FOS
"""


def run_board(code: str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run `code` under real MicroPython in the board folder `cwd` (firmware on the path)."""
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
    script = cwd / "_test_script.py"  # a file: long test data exceeds an argv
    script.write_text(code)
    return subprocess.run([micropython_binary(), "-X", "heapsize=4M", str(script)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=str(cwd))
