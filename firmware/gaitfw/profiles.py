"""Board profiles: which MCU, which pins, which sensor on which channel, which links.

Why data, not code: the same drivers serve every board; a profile only says how a board is
wired. `gaitfw.boardhal.BoardHal` builds the drivers from one profile. Pin numbers are GPIO
numbers (the Pico W's "GPn" silk labels, the ESP32-S3's "GPIOn"); docs/hardware.md has the
wiring tables, checked against the pinout rules by the host's gaitloop/pinrules.py (`gaitloop
flash --profile`, tests/boards/test_profiles.py; an RP2040 HX711 on SPI must use its bus's
fixed pins):
ESP32-S3 ADC1 is GPIO1-10 (ADC2 is unusable while the radio is on); GPIO0/3/45/46 are
strapping pins, 19/20 USB, 26-32 the flash, 33-37 octal PSRAM on N8R8 modules. Pico W ADC is
GP26-28; GP23-25 and GP29 belong to the wireless chip (the LED is `Pin("LED")` on it).

`heap_free` is the MicroPython heap a board leaves to us after boot (bytes; planning figures,
not measured on hardware here: `gaitloop status` prints the board's real free heap). The
ESP32-S3 profiles assume an N8R8 module (DevKitC-1-N8R8) running the SPIRAM_OCT firmware,
whose GC heap lives in the 8 MB PSRAM; the Pico W's image leaves 187.9 kB after boot, of
which BTstack takes 2.6 kB and our BLE link 25.8 kB (docs/hardware.md, "BLE's share"); 150 kB
plans for the firmware and BLE together (a push's peak with BLE: 115 kB), with room for the
notifications BTstack queues while a host is out of reach. `uname` is what `os.uname().machine` contains. `lightsleep`: the idle board may wait in
`machine.lightsleep` between its idle ticks (gaitfw/power.py; used only while BLE is off,
as neither MCU keeps the radio up in light sleep).

Calibrations here are defaults for the reference build in docs/hardware.md; the board's
config.json overrides them (`cfg["hal_cal"]`, per channel index) after standing calibration.
"""

# channel counts: insole 0.1 N; knee bend 0.01 degree, IMU +-8 g / +-1000 dps raw counts
_FSR_CAL = (0, 0, 43690, 4000)  # unloaded reads 0; 400 N reads 2/3 of full scale (reference FSR + 10k)
_BEND_CAL = (21845, 0, 32768, 9000)  # flat: R = R_fixed / 2; 90 degrees: R = R_fixed

ESP32S3_INSOLE = {
    "name": "esp32s3-insole",
    "board": "insole",
    "mcu": "ESP32-S3",
    "uname": "ESP32S3",
    "march": "xtensawin",
    "links": ("ble", "usb_cdc"),
    "rate_hz": 100,
    "heap_free": 2000000,
    "lightsleep": True,
    "sensors": (
        # load cells, each clocked by an SPI bus (PD_SCK = "sck" on MOSI, DOUT on MISO, the bus's
        # own clock on a spare pin; drivers/hx711.py); without "spi": bit-banged on the two pins
        {"drv": "hx711", "ch": 0, "dout": 4, "sck": 5, "gain": 128, "div": 256, "spi": {"id": 1, "sck": 12}},  # heel
        {"drv": "hx711", "ch": 1, "dout": 6, "sck": 7, "gain": 128, "div": 256, "spi": {"id": 2, "sck": 13}},  # ball
    ),
    "buzzer": 16,
    "led": 17,
}

PICOW_INSOLE = {
    "name": "picow-insole",
    "board": "insole",
    "mcu": "RP2040 (Pico W)",
    "uname": "Pico W",
    "march": "armv6m",
    "links": ("ble", "usb_cdc"),
    "rate_hz": 100,
    "heap_free": 150000,
    "lightsleep": True,
    "sensors": (
        {"drv": "fsr", "ch": 0, "pin": 26, "cal": _FSR_CAL},  # heel FSR
        {"drv": "fsr", "ch": 1, "pin": 27, "cal": _FSR_CAL},  # ball FSR
    ),
    "buzzer": 15,
    "led": "LED",
}

_KNEE_I2C_S3 = {"id": 0, "sda": 8, "scl": 9, "freq": 400000}
_KNEE_I2C_PICO = {"id": 0, "sda": 4, "scl": 5, "freq": 400000}


def _knee(bend_l, bend_r):
    return (
        {"drv": "bend", "ch": 0, "pin": bend_l, "cal": _BEND_CAL},
        {"drv": "mpu6050", "ch": 1, "addr": 0x68, "orient": (1, 2, 3)},  # left thigh, AD0 low
        {"drv": "bend", "ch": 7, "pin": bend_r, "cal": _BEND_CAL},
        {"drv": "mpu6050", "ch": 8, "addr": 0x69, "orient": (1, 2, 3)},  # right thigh, AD0 high
    )


ESP32S3_KNEE = {
    "name": "esp32s3-knee",
    "board": "knee",
    "mcu": "ESP32-S3",
    "uname": "ESP32S3",
    "march": "xtensawin",
    "links": ("ble", "usb_cdc"),
    "rate_hz": 100,
    "heap_free": 2000000,
    "lightsleep": True,
    "i2c": _KNEE_I2C_S3,
    "sensors": _knee(1, 2),
    "buzzer": 16,
    "led": 17,
}

PICOW_KNEE = {
    "name": "picow-knee",
    "board": "knee",
    "mcu": "RP2040 (Pico W)",
    "uname": "Pico W",
    "march": "armv6m",
    "links": ("ble", "usb_cdc"),
    "rate_hz": 100,
    "heap_free": 150000,
    "lightsleep": True,
    "i2c": _KNEE_I2C_PICO,
    "sensors": _knee(26, 27),
    "buzzer": 15,
    "led": "LED",
}

PROFILES = {str(p["name"]): p for p in (ESP32S3_INSOLE, PICOW_INSOLE, ESP32S3_KNEE, PICOW_KNEE)}


def get(name):
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError("unknown board profile %r (known: %s)" % (name, ", ".join(sorted(PROFILES))))
