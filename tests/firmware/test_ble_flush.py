"""The BLE pump's flush policy under the real MicroPython: a partly filled notification goes out
at the first pump turn after its bytes were queued (no fixed flush timer in every frame's
latency), full ones never wait, partial ones stay within their budget (50/s, 3 back to back),
and ENOMEM loses nothing.

The `bluetooth` module here is a stand-in object handed to `link_ble.BleLink` (its `ble=`
argument): it records each `gatts_notify` with its time and can refuse with ENOMEM, the one
behaviour of a real stack this policy depends on. The stack itself is tested on bumble and
NimBLE in test_ble_firmware.py and tests/e2e/test_ble.py."""

from __future__ import annotations

import subprocess

from tests.conftest import FIRMWARE, ROOT, micropython_binary

_SCRIPT = """
import time
from gaitfw import link_ble

class UUID:
    def __init__(self, s): self.s = s

class BLE:
    def __init__(self): self.sent = []; self.full = False
    def active(self, *a): return True
    def config(self, *a, **k):
        return (0, b"\\x00\\x01\\x02\\x03\\x04\\x05") if a == ("mac",) else None
    def irq(self, f): pass
    def gatts_register_services(self, s): return ((1, 2),)
    def gatts_set_buffer(self, *a): pass
    def gap_advertise(self, *a, **k): pass
    def gatts_notify(self, conn, h, data):
        if self.full:
            raise OSError(12)
        self.sent.append((time.ticks_ms(), bytes(data)))

class BT:
    UUID = UUID
    FLAG_READ = 2; FLAG_NOTIFY = 16; FLAG_WRITE = 8; FLAG_WRITE_NO_RESPONSE = 4

ble = BLE()
link = link_ble.BleLink(BT, "insole", "left", lambda *a: None, ble=ble)
link.conn = 0; link.mtu = 247; link.live = True; link._want_adv = False; link._want_mtu = False
seq = [0]
def put(n):
    d = bytes([1 + seq[0] % 200]) * n
    link.put(d, n, seq[0]); seq[0] += 1
    return d

# 1. one 60-byte frame (an insole's SAMPLES): sent at the first pump turn, partly filled
time.sleep_ms(100)  # a full budget
t0 = time.ticks_ms(); put(60); link.poll()
print("first", len(ble.sent), len(ble.sent[0][1]), time.ticks_diff(ble.sent[0][0], t0))

# 2. ten small frames, a pump turn after each, back to back: 3 saved-up partials go out at once,
#    then one per 20 ms of budget; what waits fills the next notification
ble.sent.clear(); time.sleep_ms(100)
t0 = time.ticks_ms()
for i in range(10):
    put(30); link.poll()
print("burst", len(ble.sent), sum(len(d) for _, d in ble.sent), link.ring.pending())
time.sleep_ms(25); link.poll()
print("later", len(ble.sent), sum(len(d) for _, d in ble.sent), link.ring.pending())

# 3. a full notification's worth never waits for budget (the budget is spent now)
ble.sent.clear(); put(30); link.poll(); put(30); link.poll(); put(30); link.poll()
ble.sent.clear(); before = link.ring.pending()
put(1000); link.poll()
print("full", ",".join(str(len(d)) for _, d in ble.sent), before + 1000, link.ring.pending())

# 4. ENOMEM: nothing sent, nothing lost; the bytes go out in order once the stack takes them
time.sleep_ms(100); link.poll()
ble.sent.clear(); ble.full = True
a = put(50); link.poll(); b = put(70); link.poll()
print("enomem", len(ble.sent), link.enomem > 0, link.ring.pending())
ble.full = False
for _ in range(30):
    time.sleep_ms(10); link.poll()
print("after", b"".join(d for _, d in ble.sent) == a + b, link.ring.pending())
"""


def _run() -> dict[str, list[str]]:
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=4M", "-c", _SCRIPT], capture_output=True,
                          text=True, timeout=60, env={"MICROPYPATH": f"{FIRMWARE}:.frozen"}, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {ln.split()[0]: ln.split()[1:] for ln in proc.stdout.splitlines()}


def test_flush_policy_under_micropython():
    out = _run()
    n, size, ms = map(int, out["first"])
    assert (n, size) == (1, 60) and ms <= 5  # at once: no 30-40 ms flush timer
    n, nbytes, pending = map(int, out["burst"])
    assert n == 3 and nbytes + pending == 300  # three saved-up partials, the rest waits
    n2, nbytes2, pending2 = map(int, out["later"])
    assert n2 == 4 and nbytes2 == 300 and pending2 == 0  # one more partial carries what waited
    sizes, queued, pending = out["full"][0].split(","), int(out["full"][1]), int(out["full"][2])
    assert sizes == ["244"] * (queued // 244) and pending == queued % 244  # all full ones at once
    assert out["enomem"] == ["0", "True", "120"]
    assert out["after"] == ["True", "0"]


_SAMPLER_SCRIPT = """
import asyncio, time
from gaitfw import app as A, link_ble
from gaitfw.boards import insole
from gaitfw.hal import ReplayHal
""" + _SCRIPT.split("ble = BLE()")[0].split("from gaitfw import link_ble")[1] + """
class Sink:
    def write(self, buf, off, n): pass

ble = BLE()
hal = ReplayHal(REPLAY, 2, True)
a = A.App(insole, {'side': 'left'}, hal, Sink())
link = link_ble.BleLink(BT, "insole", "left", a._ble_command, ble=ble)
link.conn = 0; link.mtu = 247; link.live = True; link._want_adv = False; link._want_mtu = False
a.attach_ble(link)
a._next_status = 100000; a._next_hello = 100000
puts = []
put = link.put
def put_logged(enc, n, seq):
    puts.append(time.ticks_ms())
    put(enc, n, seq)
link.put = put_logged

async def main():
    t = asyncio.create_task(a.sampler())  # the sampler alone: no pump task runs
    await asyncio.sleep_ms(650)
    a.running = False
    await t

asyncio.run(main())
def first_after(p):  # the first notification at or after a frame was queued carries it
    ds = [time.ticks_diff(s, p) for s, _ in ble.sent if time.ticks_diff(s, p) >= 0]
    return min(ds) if ds else 1000
lag = max(first_after(p) for p in puts) if ble.sent else -1
print("sampler", len(puts), len(ble.sent), link.ring.pending(), lag)
"""


def test_sampler_turn_flushes_without_waiting_for_the_pump(tmp_path):
    """A SAMPLES frame goes out in the sampler turn that built it: with no pump task at all, every
    queued byte is notified, at most a few ms after its frame was queued (was: up to the pump's
    10 ms tick, ~9 ms at the median)."""
    import numpy as np

    from gaitloop.sim.replayfile import Replay, write_replay

    counts = np.random.default_rng(3).integers(0, 9000, size=(500, 2)).astype(np.int16)
    path = tmp_path / "r.glrp"
    write_replay(Replay(("heel", "ball"), 100, counts), path)
    script = _SAMPLER_SCRIPT.replace("REPLAY", repr(str(path)))
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=4M", "-c", script], capture_output=True,
                          text=True, timeout=60, env={"MICROPYPATH": f"{FIRMWARE}:.frozen"}, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    puts, sent, pending, lag = map(int, proc.stdout.split()[1:])
    assert puts >= 5, proc.stdout  # ~6 SAMPLES frames in 0.65 s at 100 Hz (plus the boot's)
    assert sent >= 1 and pending == 0, proc.stdout  # everything went out, from the sampler alone
    assert 0 <= lag <= 3, proc.stdout  # a frame's notification left in the turn that queued it
