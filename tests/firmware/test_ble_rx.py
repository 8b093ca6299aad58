"""The board's BLE receive path under the real MicroPython: where host -> board bytes can be
lost (a full inbox, a full RX buffer, a frame cut by either), that each loss is counted
(`BleLink.rx_counts`, CMD_TIMING's `ble`), and that the next whole command is answered.

The `bluetooth` module here is a stand-in handed to `link_ble.BleLink` (`ble=`): `gatts_read`
returns the bytes a test queued, and the test calls the link's IRQ handler itself, so a write
arrives exactly where the test needs it (during a slow command, before the pump ran). The
stack itself is tested on bumble in test_ble_firmware.py and tests/e2e/test_ble.py.
"""

from __future__ import annotations

import subprocess

from gaitfw import protocol as P
from gaitloop.messages import CommandEncoder
from tests.conftest import FIRMWARE, ROOT, micropython_binary

_SCRIPT = """
from gaitfw import link_ble

class UUID:
    def __init__(self, s): self.s = s

class BLE:
    def __init__(self): self.rx = b""
    def active(self, *a): return True
    def config(self, *a, **k):
        return (0, b"\\x00\\x01\\x02\\x03\\x04\\x05") if a == ("mac",) else None
    def irq(self, f): pass
    def gatts_register_services(self, s): return ((1, 2),)
    def gatts_set_buffer(self, *a): pass
    def gap_advertise(self, *a, **k): pass
    def gatts_notify(self, conn, h, data): pass
    def gatts_read(self, h):
        v = self.rx; self.rx = b""; return v

class BT:
    UUID = UUID
    FLAG_READ = 2; FLAG_NOTIFY = 16; FLAG_WRITE = 8; FLAG_WRITE_NO_RESPONSE = 4

ble = BLE()
got = []
during = []
def on_command(seq, cmd, args):
    got.append(seq)
    if during:  # a write lands while this command runs (a SET saving config.json)
        write(during.pop())
link = link_ble.BleLink(BT, "insole", "left", on_command, ble=ble)
link.conn = 0; link._want_adv = False; link._want_mtu = False

def write(data):  # the stack stores a write in RX, then the write IRQ runs
    ble.rx = ble.rx + data
    link._irq(3, (0, link.rx_h))

def report(tag):
    c = link.rx_counts()
    print(tag, ",".join(str(s) for s in got), c["rx_lost"], c["rx_full"], c["bad_cmds"])
    got.clear()

CASES
"""


def _run(cases: str) -> dict[str, list[str]]:
    code = _SCRIPT.replace("CASES", cases)
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=4M", "-c", code], capture_output=True,
                          text=True, timeout=60, env={"MICROPYPATH": f"{FIRMWARE}:.frozen"}, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {ln.split()[0]: ln.split()[1:] for ln in proc.stdout.splitlines()}


def _cmds(*sizes: int) -> tuple[CommandEncoder, list[bytes]]:
    enc = CommandEncoder()
    return enc, [enc.encode(P.CMD_SET, b'{"n": "' + b"x" * s + b'"}') for s in sizes]


def test_split_command_and_a_bad_crc_are_told_apart():
    _, (a,) = _cmds(900)
    bad = bytearray(CommandEncoder().encode(P.CMD_PING))
    bad[-3] ^= 0xFF
    out = _run(f"""
a = bytes.fromhex("{a.hex()}")
for i in range(0, len(a), 244):
    write(a[i:i + 244])
link.poll()
report("split")
write(bytes.fromhex("{bytes(bad).hex()}"))
link.poll()
report("bad")
""")
    assert out["split"] == ["0", "0", "0", "0"]  # ~920 bytes in four writes: one command
    assert out["bad"] == ["0", "0", "1"]  # nothing answered, one bad frame counted


def test_a_write_that_overflows_the_inbox_is_counted_and_the_next_command_answered():
    """Three ~920-byte commands before the pump runs: the inbox (RX buffer + 1) takes two, the
    third is cut and dropped by its CRC, counted; the host's resend of it is answered."""
    enc, (a, b, c) = _cmds(900, 900, 900)
    again = enc.encode(P.CMD_SET, b'{"n": "again"}')
    out = _run(f"""
for h in ("{a.hex()}", "{b.hex()}", "{c.hex()}"):
    write(bytes.fromhex(h))
link.poll()
report("over")
write(bytes.fromhex("{again.hex()}"))
link.poll()
report("again")
""")
    lost = len(a) + len(b) + len(c) - 2048
    assert out["over"] == ["0,1", str(lost), "0", "0"], out  # a and b whole, c cut
    assert out["again"] == ["3", str(lost), "0", "1"], out  # c's 0x00-ended rest: one bad frame


def test_a_full_rx_read_is_counted():
    """The stack cuts what does not fit RX (2048 bytes, append mode) without telling anyone: a
    read that comes back full is the board's only sign of it."""
    out = _run("""
write(bytes(range(1, 256)) * 8 + bytes(range(1, 9)))
link.poll()
report("full")
""")
    assert out["full"] == ["0", "1", "1"], out  # no command; 2048 bytes without a 0x00: one bad


def test_room_read_before_a_slow_command_runs_takes_the_next_writes():
    """Bytes already decoded free their inbox room before the command they complete runs:
    two ~1000-byte writes arriving during a slow first command both fit (the tail used to
    move only after every command of the turn had run, so the inbox seemed full)."""
    _, (a, b, c) = _cmds(1000, 1000, 1000)
    out = _run(f"""
during.append(bytes.fromhex("{c.hex()}"))
during.append(bytes.fromhex("{b.hex()}"))
write(bytes.fromhex("{a.hex()}"))
for _ in range(3):
    link.poll()
report("slow")
""")
    assert out["slow"] == ["0,1,2", "0", "0", "0"], out
