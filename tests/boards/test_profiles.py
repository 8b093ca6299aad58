"""Board profiles against the boards' real pinouts (CPython: profiles are plain data).

The rules themselves (ESP32-S3 ADC1, strapping, USB, flash and PSRAM pins; Pico W header, ADC,
wireless-chip pins and I2C0 pairs; the RP2040's fixed SPI pins) live in gaitloop/pinrules.py,
which `gaitloop flash --profile` runs too; here every shipped profile must pass them, and
variants that break one must be refused in one line naming the pin and the bus.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from gaitfw import profiles
from gaitfw.boards import insole, knee
from gaitloop import pinrules
from gaitloop.errors import BoardError
from gaitloop.flash import board_profile


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_pins_exist_are_free_and_adc_capable(name: str) -> None:
    p = profiles.get(name)
    pinrules.check(p)
    assert board_profile(name) is p  # what `gaitloop flash --profile` checks before copying


def _pico_hx711(heel: dict[str, Any], ball: dict[str, Any]) -> dict[str, Any]:
    """A Pico W insole on two HX711 load cells, each clocked by an SPI bus: `heel` / `ball`
    give DOUT (MISO), PD_SCK (MOSI) and the bus (id, its SCK pin)."""
    p = copy.deepcopy(profiles.PICOW_INSOLE)
    p["name"] = "picow-insole-hx711"
    p["sensors"] = tuple(
        {"drv": "hx711", "ch": ch, "dout": w["dout"], "sck": w["sck"], "gain": 128, "div": 256,
         "spi": {"id": w["id"], "sck": w["clk"]}}
        for ch, w in ((0, heel), (1, ball))
    )
    return p


# DOUT on MISO, PD_SCK on MOSI, the bus clock on SCK: SPI0 on GP16 / 19 / 18, SPI1 on GP12 / 11 / 10
_HEEL0 = {"id": 0, "dout": 16, "sck": 19, "clk": 18}
_BALL1 = {"id": 1, "dout": 12, "sck": 11, "clk": 10}


@pytest.mark.parametrize("heel, ball", [
    (_HEEL0, _BALL1),
    ({"id": 0, "dout": 4, "sck": 7, "clk": 2}, {"id": 1, "dout": 8, "sck": 27, "clk": 26}),  # SPI1 on the ADC pins
    ({"id": 0, "dout": 0, "sck": 3, "clk": 22}, {"id": 1, "dout": 28, "sck": 11, "clk": 14}),
])
def test_pico_hx711_on_its_buses_fixed_pins_is_accepted(heel: dict[str, int], ball: dict[str, int]) -> None:
    pinrules.check(_pico_hx711(heel, ball))


@pytest.mark.parametrize("heel, ball, line", [
    # DOUT on a pin that is SPI0's CSn (GP17), not its MISO
    ({**_HEEL0, "dout": 17}, _BALL1, "hx711 ch 0 DOUT on GP17 is not a MISO pin of SPI0 (its MISO: GP0, GP4, GP16, GP20)"),
    # PD_SCK on SPI0's SCK instead of its MOSI
    ({**_HEEL0, "sck": 6}, _BALL1, "hx711 ch 0 PD_SCK on GP6 is not a MOSI pin of SPI0 (its MOSI: GP3, GP7, GP19, GP23)"),
    # the bus clock on a pin of the other bus: GP10 is SPI1's SCK
    ({**_HEEL0, "clk": 10}, {**_BALL1, "clk": 14}, "hx711 ch 0 the bus clock on GP10 is not a SCK pin of SPI0"),
    # an ESP32-S3-style wiring (any pin through a matrix) on the RP2040
    (_HEEL0, {**_BALL1, "dout": 13}, "hx711 ch 1 DOUT on GP13 is not a MISO pin of SPI1 (its MISO: GP8, GP12, GP24, GP28)"),
    (_HEEL0, {**_BALL1, "id": 2}, "hx711 ch 1 on SPI2: the RP2040 has SPI0 and SPI1 only"),
    (_HEEL0, {**_HEEL0, "dout": 20, "sck": 3, "clk": 2}, "two parts on one SPI bus"),
    # a valid SPI1 MOSI that the Pico W gives to its wireless chip
    (_HEEL0, {**_BALL1, "dout": 24}, "hx711.dout on GPIO24 is not a free GPIO"),
])
def test_pico_hx711_off_its_buses_pins_is_refused_in_one_line(heel: dict[str, int], ball: dict[str, int],
                                                              line: str) -> None:
    with pytest.raises(pinrules.PinError, match=re.escape(line)) as err:
        pinrules.check(_pico_hx711(heel, ball))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("profile picow-insole-hx711: ")
    assert isinstance(err.value, BoardError)  # the CLI prints it as one line, exit 2


def test_rp2040_spi_table_is_the_datasheets() -> None:
    """The RP2040 datasheet's GPIO function table, column F1, written out."""
    assert pinrules.rp2040_spi_pins(0, "MISO") == [0, 4, 16, 20]
    assert pinrules.rp2040_spi_pins(0, "SCK") == [2, 6, 18, 22]
    assert pinrules.rp2040_spi_pins(0, "MOSI") == [3, 7, 19, 23]
    assert pinrules.rp2040_spi_pins(1, "MISO") == [8, 12, 24, 28]
    assert pinrules.rp2040_spi_pins(1, "SCK") == [10, 14, 26]
    assert pinrules.rp2040_spi_pins(1, "MOSI") == [11, 15, 27]


@pytest.mark.parametrize("change, line", [
    (lambda p: p["sensors"][0].update(pin=5), "fsr ch 0 on GPIO5 has no ADC"),
    (lambda p: p["sensors"][0].update(pin=24), "fsr.pin on GPIO24 is not a free GPIO"),
    (lambda p: p.update(buzzer=26), "pin 26 is used twice (fsr.pin and buzzer)"),
    (lambda p: p.update(march="xtensawin"), "mpy-cross -march xtensawin is not the RP2040 (Pico W)'s armv6m"),
])
def test_pico_profile_breaking_an_older_rule_is_refused(change: Any, line: str) -> None:
    p = copy.deepcopy(profiles.PICOW_INSOLE)
    p["sensors"] = [dict(s) for s in p["sensors"]]
    change(p)
    with pytest.raises(pinrules.PinError, match=re.escape(line)):
        pinrules.check(p)


def test_esp32s3_hx711_on_a_flash_spi_bus_is_refused() -> None:
    p = copy.deepcopy(profiles.ESP32S3_INSOLE)
    p["sensors"] = [dict(s) for s in p["sensors"]]
    p["sensors"][0]["spi"] = {"id": 0, "sck": 12}
    with pytest.raises(pinrules.PinError, match="SPI id 0: the ESP32-S3's free buses are ids 1 and 2"):
        pinrules.check(p)


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
