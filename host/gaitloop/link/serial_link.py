"""Serial link over pyserial: USB CDC boards and the virtual board's pseudo-terminal.

The port is opened with an exclusive lock (flock, pyserial's `exclusive=True`): two programs
reading one board steal each other's bytes and both stall, so the second one is refused with
the name of the process holding the port (found in /proc/locks).
"""

from __future__ import annotations

import os
from pathlib import Path

import serial

from gaitloop.errors import LinkError


def lock_holder(port: str) -> str | None:
    """'pid N (command line)' of the process holding an flock on `port`, if Linux says."""
    try:
        st = os.stat(port)
        locks = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in locks:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 00:19:3 0 EOF" (blocked waiters are marked "->")
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts:
            continue
        try:
            pid = int(parts[4])
            major, minor, ino = parts[5].split(":")
        except ValueError:
            continue
        if int(ino) != st.st_ino or os.makedev(int(major, 16), int(minor, 16)) != st.st_dev:
            continue
        if pid == os.getpid():
            return f"pid {pid} (this gaitloop)"
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            cmd = ""
        return f"pid {pid} ({cmd[:80]})" if cmd else f"pid {pid}"
    return None


class SerialLink:
    def __init__(self, port: str, baudrate: int = 115200) -> None:
        self.name = port
        try:
            self._ser = serial.Serial(port, baudrate=baudrate, timeout=0, write_timeout=1.0,
                                      exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            if "exclusively lock" in str(exc):
                who = lock_holder(port)
                raise LinkError(f"serial port {port} is in use by {who or 'another program'}; "
                                "stop it first (one program per board)") from None
            reason = getattr(exc, "strerror", None) or str(exc).split(":")[-1].strip() or str(exc)
            raise LinkError(f"cannot open serial port {port}: {reason}") from None

    def fileno(self) -> int:
        return self._ser.fileno()

    def read_available(self) -> bytes:
        try:
            return self._ser.read(max(1, self._ser.in_waiting))
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.name}: read failed ({exc})") from None

    def write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkError(f"{self.name}: write failed ({exc})") from None

    def reset_input(self) -> None:
        self._ser.reset_input_buffer()

    def close(self) -> None:
        self._ser.close()
