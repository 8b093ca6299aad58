"""Idle and BLE end to end: a virtual board on its drivers, standing still, with its BLE link on
a bumble device. It goes idle (advertising every 1 s instead of 100 ms), a central connecting
over the virtual radio wakes it (STATUS: active, woken by the connection), and once the central
leaves and nothing moves it idles again.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from gaitfw import protocol as P
from gaitloop.power import PowerClient
from gaitloop.sim.vboard import VirtualBoard, nimble_binary
from tests.conftest import SHIPPED_GAITPDB
from tests.e2e.test_ble import _raw_session

pytestmark = [pytest.mark.micropython,
              pytest.mark.skipif(nimble_binary() is not None, reason="reads the shim bridge's advertising log")]


def _standing(tmp_path: Path) -> Path:
    rows = np.loadtxt(SHIPPED_GAITPDB / "GaCo01_01.txt")
    out = np.repeat(rows[:1], 3000, axis=0)  # 30 s holding the walk's first (standing) row
    out[:, 0] = np.arange(len(out)) / 100.0
    path = tmp_path / "standing.txt"
    np.savetxt(path, out, fmt="%.4f", delimiter="\t")
    return path


def _status(port: str):
    pc = PowerClient(port)
    try:
        return pc.status()
    finally:
        pc.close()


def _wait_power(port: str, state: int, timeout: float = 10.0):
    end = time.monotonic() + timeout
    st = _status(port)
    while st.power != state and time.monotonic() < end:
        time.sleep(0.5)
        st = _status(port)
    return st


def _last_adv_us(vb: VirtualBoard, want: int, timeout: float = 3.0) -> int:
    """The latest advertising interval the board set, waiting a little for `want` (the board
    re-advertises at its next BLE pump turn after the change)."""
    end = time.monotonic() + timeout
    while vb.radio.adv_intervals_us[-1] != want and time.monotonic() < end:
        time.sleep(0.1)
    return vb.radio.adv_intervals_us[-1]


def test_connection_wakes_an_idle_board_and_it_idles_again_after(tmp_path: Path) -> None:
    vb = VirtualBoard("insole", "left", _standing(tmp_path), hal="drivers", profile="picow-insole",
                      ble=True, config={"idle_after_s": 1})
    vb.start()
    try:
        vb.ble_name()
        st = _wait_power(vb.port, P.POWER_IDLE)
        assert st.power == P.POWER_IDLE and st.rate_hz == 10
        assert vb.radio.adv_intervals_us[0] == 100_000 and _last_adv_us(vb, 1_000_000) == 1_000_000

        async def body(_client, out: dict) -> None:
            await asyncio.sleep(0.5)  # the next idle tick (100 ms) sees the central
            out["during"] = await asyncio.get_running_loop().run_in_executor(None, _status, vb.port)

        out = asyncio.run(_raw_session(vb, body))
        during = out["during"]
        assert during.power == P.POWER_ACTIVE and during.wake_reason == P.WAKE_LINK, during
        assert during.rate_hz == 100
        st = _wait_power(vb.port, P.POWER_IDLE)  # the central left, nothing moves: idle again
        assert st.power == P.POWER_IDLE
        assert _last_adv_us(vb, 1_000_000) == 1_000_000
        assert 100_000 in vb.radio.adv_intervals_us[1:]  # awake again in between
    finally:
        vb.stop()
