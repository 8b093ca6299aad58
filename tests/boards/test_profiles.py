"""Board profiles against the boards' real pinouts (CPython: profiles are plain data).

ESP32-S3 (datasheet v1.x, DevKitC-1): GPIO0-21 and 26-48 exist; ADC1 is GPIO1-10 (ADC2 is
unusable while Wi-Fi/BLE runs); 0, 3, 45, 46 are strapping pins; 19/20 are the USB D-/D+;
26-32 the SPI flash; 33-37 the octal PSRAM of N8R8 / N16R8 modules.
Pico W (datasheet): GP0-22 and 26-28 are on the header; ADC is GP26-28; GP23, 24, 25 and 29
drive the CYW43439 wireless chip; the LED is on that chip (`Pin("LED")`).
"""

from __future__ import annotations

import pytest

from gaitfw import profiles
from gaitfw.boards import insole, knee

_S3_GPIO = set(range(0, 22)) | set(range(26, 49))
_S3_AVOID = {0, 3, 45, 46, 19, 20} | set(range(26, 38))
_S3_ADC = set(range(1, 11))
_PICO_GPIO = set(range(0, 23)) | {26, 27, 28}
_PICO_ADC = {26, 27, 28}
_PICO_I2C0 = {(0, 1), (4, 5), (8, 9), (12, 13), (16, 17), (20, 21)}  # (SDA, SCL) pairs of I2C0

_RULES = {
    "ESP32-S3": (_S3_GPIO - _S3_AVOID, _S3_ADC, "xtensawin"),
    "RP2040 (Pico W)": (_PICO_GPIO, _PICO_ADC, "armv6m"),
}


def _pins(p: dict) -> list[tuple[str, object]]:
    """(role, pin) for every pin the profile uses."""
    used: list[tuple[str, object]] = []
    for s in p["sensors"]:
        for key in ("pin", "dout", "sck"):
            if key in s:
                used.append((f"{s['drv']}.{key}", s[key]))
        if s.get("spi"):  # an HX711 clocked by SPI: the bus's own clock takes a spare pin
            used.append((f"{s['drv']}.spi.sck", s["spi"]["sck"]))
    if p.get("i2c"):
        used += [("i2c.sda", p["i2c"]["sda"]), ("i2c.scl", p["i2c"]["scl"])]
    for key in ("buzzer", "led"):
        if p.get(key) is not None:
            used.append((key, p[key]))
    return used


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_pins_exist_are_free_and_adc_capable(name: str) -> None:
    p = profiles.get(name)
    gpio, adc, march = _RULES[p["mcu"]]
    assert p["march"] == march
    used = _pins(p)
    numbers = [pin for _, pin in used if isinstance(pin, int)]
    assert len(numbers) == len(set(numbers)), f"{name}: a pin is used twice: {used}"
    for role, pin in used:
        if pin == "LED":
            assert p["mcu"].startswith("RP2040"), "the named LED pin exists on the Pico W only"
            continue
        assert pin in gpio, f"{name}: {role} on GPIO{pin} is not a free GPIO of the {p['mcu']}"
    for s in p["sensors"]:
        if s["drv"] in ("fsr", "bend"):
            assert s["pin"] in adc, f"{name}: {s['drv']} on GPIO{s['pin']} has no ADC ({sorted(adc)})"
    if p.get("i2c") and p["mcu"].startswith("RP2040"):
        assert (p["i2c"]["sda"], p["i2c"]["scl"]) in _PICO_I2C0
    buses = [s["spi"]["id"] for s in p["sensors"] if s.get("spi")]
    assert len(buses) == len(set(buses)), f"{name}: two parts on one SPI bus {buses}"
    if buses and p["mcu"] == "ESP32-S3":
        # SPI2 / SPI3 (MicroPython ids 1, 2) route to any GPIO; SPI0 / SPI1 are the flash's
        assert set(buses) <= {1, 2}, f"{name}: SPI ids {buses}"
    if buses and p["mcu"].startswith("RP2040"):
        raise AssertionError("an RP2040 HX711 on SPI needs its bus's fixed MOSI / MISO / SCK pins: add that rule first")


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_fills_exactly_its_board_channels(name: str) -> None:
    p = profiles.get(name)
    board = {"insole": insole, "knee": knee}[p["board"]]
    assert p["rate_hz"] == board.RATE_HZ
    chans: list[int] = []
    for s in p["sensors"]:
        width = 6 if s["drv"] == "mpu6050" else 1
        chans += range(s["ch"], s["ch"] + width)
    assert sorted(chans) == list(range(len(board.CHANNELS)))
    kinds = {s["drv"] for s in p["sensors"]}
    if p["board"] == "knee":
        assert kinds == {"bend", "mpu6050"}
        assert [s["drv"] for s in p["sensors"] if s["ch"] in (0, 7)] == ["bend", "bend"]
        assert {s["addr"] for s in p["sensors"] if s["drv"] == "mpu6050"} == {0x68, 0x69}
    assert set(p["links"]) <= {"ble", "usb_cdc"} and p["heap_free"] > 0


def test_unknown_profile_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown board profile 'nrf52'.*esp32s3-insole"):
        profiles.get("nrf52")
