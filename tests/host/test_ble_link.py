"""Host BLE link pieces that need no board: link specs and the user's error line."""

from __future__ import annotations

import subprocess
import sys

from gaitloop.link import parse_ble_spec


def test_ble_specs():
    assert parse_ble_spec("ble:gaitloop-insole-left-0660") == ("gaitloop-insole-left-0660", None)
    assert parse_ble_spec("ble:AA:BB:CC:DD:EE:FF@tcp-client:127.0.0.1:4000") == (
        "AA:BB:CC:DD:EE:FF", "tcp-client:127.0.0.1:4000")
    # --ble-transport is the default; a per-board @TRANSPORT wins
    assert parse_ble_spec("ble:x", "usb:0") == ("x", "usb:0")
    assert parse_ble_spec("ble:x@pty:/tmp/h", "usb:0") == ("x", "pty:/tmp/h")


def test_unreachable_transport_is_one_line_and_exit_1():
    res = subprocess.run([sys.executable, "-m", "gaitloop.cli", "stream", "--ble", "nobody",
                          "--ble-transport", "tcp-client:127.0.0.1:1", "--seconds", "1"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to BLE board nobody")
