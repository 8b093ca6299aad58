"""Board profiles against the MCUs' pinouts: one clear line for the first pin a board cannot wire.

Why on the host: a profile (firmware/gaitfw/profiles.py) is plain data the board trusts; a pin
its MCU cannot route shows on a board only as MicroPython's bare "bad MOSI pin" (rp2's
`machine.SPI`) or as an ADC that reads noise, after flashing. `gaitloop flash --profile` and
tests/boards/test_profiles.py check every profile here first, so the firmware carries no rule
tables (RAM on a Pico W).

ESP32-S3 (datasheet v1.x, DevKitC-1): GPIO0-21 and 26-48 exist; ADC1 is GPIO1-10 (ADC2 is
unusable while Wi-Fi/BLE runs); 0, 3, 45, 46 are strapping pins; 19/20 are the USB D-/D+;
26-32 the SPI flash; 33-37 the octal PSRAM of N8R8 / N16R8 modules. Its SPI2 / SPI3
(MicroPython ids 1, 2) reach any GPIO through the matrix; SPI0 / SPI1 are the flash's.
Pico W (datasheet): GP0-22 and 26-28 are on the header; ADC is GP26-28; GP23, 24, 25 and 29
drive the CYW43439 wireless chip; the LED is on that chip (`Pin("LED")`).
RP2040 SPI (datasheet, GPIO function table, F1): each bus has fixed pins. SPI0 on GP0-7 and
GP16-23, SPI1 on GP8-15 and GP24-29; within each group of four, RX (MISO) is GPn with n mod 4
= 0, CSn 1, SCK 2, TX (MOSI) 3. MicroPython's rp2 `machine.SPI` refuses any other pin with
the same rule (ports/rp2/machine_spi.c, `IS_VALID_SCK` / `IS_VALID_MOSI` / `IS_VALID_MISO`).
An HX711 clocked by SPI (drivers/hx711.py) has DOUT on the bus's MISO, PD_SCK on its MOSI
and the bus's own clock on its SCK pin.
"""

from __future__ import annotations

from typing import Any

from gaitloop.errors import BoardError

_S3_GPIO = set(range(0, 22)) | set(range(26, 49))
_S3_AVOID = {0, 3, 45, 46, 19, 20} | set(range(26, 38))
_S3_ADC = set(range(1, 11))
_PICO_GPIO = set(range(0, 23)) | {26, 27, 28}
_PICO_ADC = {26, 27, 28}
_PICO_I2C0 = {(0, 1), (4, 5), (8, 9), (12, 13), (16, 17), (20, 21)}  # (SDA, SCL) pairs of I2C0

# MCU -> (free GPIOs, ADC-capable GPIOs, mpy-cross -march)
RULES: dict[str, tuple[set[int], set[int], str]] = {
    "ESP32-S3": (_S3_GPIO - _S3_AVOID, _S3_ADC, "xtensawin"),
    "RP2040 (Pico W)": (_PICO_GPIO, _PICO_ADC, "armv6m"),
}

# An SPI signal's position in its group of four GPIOs (RP2040 function F1)
_RP2040_SPI_ROLE = {"MISO": 0, "SCK": 2, "MOSI": 3}


class PinError(BoardError):
    """A profile wires a part to a pin its MCU cannot give it."""


def rp2040_spi_pins(bus: int, role: str) -> list[int]:
    """The GPIOs (0-29) that carry `role` ("MISO", "SCK", "MOSI") of SPI`bus` on an RP2040."""
    return [n for n in range(30) if n % 4 == _RP2040_SPI_ROLE[role] and (n >> 3) & 1 == bus]


def pins(p: dict[str, Any]) -> list[tuple[str, object]]:
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


def _rp2040_spi(name: str, s: dict[str, Any]) -> None:
    """An HX711 on an RP2040 SPI bus: DOUT on MISO, PD_SCK on MOSI, the bus clock on SCK."""
    bus = s["spi"]["id"]
    if bus not in (0, 1):
        raise PinError(f"profile {name}: {s['drv']} ch {s['ch']} on SPI{bus}: the RP2040 has SPI0 and SPI1 only")
    for what, pin, role in (("DOUT", s["dout"], "MISO"), ("PD_SCK", s["sck"], "MOSI"),
                            ("the bus clock", s["spi"]["sck"], "SCK")):
        ok = rp2040_spi_pins(bus, role)
        if pin not in ok:
            raise PinError(f"profile {name}: {s['drv']} ch {s['ch']} {what} on GP{pin} is not a {role} pin of "
                           f"SPI{bus} (its {role}: {', '.join(f'GP{n}' for n in ok)})")


def check(p: dict[str, Any]) -> None:
    """Raise PinError, one line naming the pin and what it lacks, for the first rule `p` breaks."""
    name = p["name"]
    if p["mcu"] not in RULES:
        raise PinError(f"profile {name}: no pin rules for the MCU {p['mcu']!r} (known: {', '.join(sorted(RULES))})")
    gpio, adc, march = RULES[p["mcu"]]
    rp2040 = p["mcu"].startswith("RP2040")
    if p["march"] != march:
        raise PinError(f"profile {name}: mpy-cross -march {p['march']} is not the {p['mcu']}'s {march}")
    used = pins(p)
    seen: dict[object, str] = {}
    for role, pin in used:
        if pin in seen:
            raise PinError(f"profile {name}: pin {pin} is used twice ({seen[pin]} and {role})")
        seen[pin] = role
    for role, pin in used:
        if pin == "LED":
            if not rp2040:
                raise PinError(f"profile {name}: {role} on the named pin 'LED', which only the Pico W has")
            continue
        if pin not in gpio:
            raise PinError(f"profile {name}: {role} on GPIO{pin} is not a free GPIO of the {p['mcu']}")
    for s in p["sensors"]:
        if s["drv"] in ("fsr", "bend") and s["pin"] not in adc:
            raise PinError(f"profile {name}: {s['drv']} ch {s['ch']} on GPIO{s['pin']} has no ADC "
                           f"(ADC pins: {', '.join(str(n) for n in sorted(adc))})")
    if p.get("i2c") and rp2040:
        i2c = p["i2c"]
        if (i2c["sda"], i2c["scl"]) not in _PICO_I2C0:
            raise PinError(f"profile {name}: I2C0 SDA GP{i2c['sda']} / SCL GP{i2c['scl']} is not one of its pin pairs")
    spi = [s for s in p["sensors"] if s.get("spi")]
    buses = [s["spi"]["id"] for s in spi]
    if len(buses) != len(set(buses)):
        raise PinError(f"profile {name}: two parts on one SPI bus ({buses})")
    for s in spi:
        if rp2040:
            _rp2040_spi(name, s)
        elif s["spi"]["id"] not in (1, 2):
            raise PinError(f"profile {name}: {s['drv']} ch {s['ch']} on SPI id {s['spi']['id']}: the ESP32-S3's "
                           "free buses are ids 1 and 2 (0 and 1 are the flash's)")
