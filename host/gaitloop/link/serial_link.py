"""Serial link over pyserial: USB CDC boards and the virtual board's pseudo-terminal."""

from __future__ import annotations

import serial

from gaitloop.errors import LinkError


class SerialLink:
    def __init__(self, port: str, baudrate: int = 115200) -> None:
        self.name = port
        try:
            self._ser = serial.Serial(port, baudrate=baudrate, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
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
