"""Expected current per part and the battery life that follows, per board profile.

Why a script: the figures in docs/hardware.md ("Power") come from here, each part with its
source, so a better number (a measurement on the real board) changes one line and the table
is printed again. Nothing here is measured in this repository: no board is attached to it.
Sources are datasheets where one gives the figure, else a named third-party measurement, else
an estimate marked as such.

Run: .venv/bin/python tools/power_budget.py [--mah 500] [--walk-h 2] [--idle-h 14]
"""

from __future__ import annotations

import argparse

# part -> (walking mA, idle mA, source). Idle = gaitfw/power.py's idle: 10 Hz ticks, LED off.
# "idle, radio off": lightsleep between ticks (profiles allow it only with BLE off).
PARTS = {
    "esp32s3_ble": (125.0, 110.0, "ESP32-S3-DevKitC-1, BLE streaming 125 mA / advertising 110 mA (measured, "
                                  "esp32.io forum t=33330; MicroPython enables no modem or light sleep with BLE on)"),
    "esp32s3_noradio": (32.0, 1.4, "ESP32-S3-DevKitM-1 running 31.7 mA at 3.3 V (lucidar.me measurement); "
                                  "light sleep 0.78 mA (ESP32-S3-DevKitC, MoleNet V6 measurement) + 2 % awake per 100 ms tick"),
    "picow_ble": (45.0, 40.0, "estimate, not verified: RP2040 at 125 MHz ~18 mA (Pico at 5 V, mjoldfield.com "
                              "measurement) + CYW43439 with BLE on; measure yours"),
    "picow_noradio": (18.0, 1.4, "Pico running 18 mA at 5 V (mjoldfield.com); machine.lightsleep 0.99 mA at 5 V VSYS "
                                 "(P. Hinch, micropython PR #8832) + 2 % awake per tick"),
    "hx711": (1.5, 1.5, "HX711 datasheet (Avia), Features: normal operation < 1.5 mA; kept converting while idle"),
    "load_cell": (3.3, 3.3, "bridge excitation: 3.3 V across a 1 kohm bridge (typical input resistance; check the cell's sheet)"),
    "fsr": (0.1, 0.01, "divider: 3.3 V / (R_FSR + 10 kohm): ~0.22 mA at standing load, < 3 uA unloaded; ~half the stride loaded"),
    "bend": (0.2, 0.2, "divider: 3.3 V / (R_bend + 10 kohm), R_bend 5-10 kohm (profile's reference flex sensor)"),
    "mpu6050": (3.8, 3.8, "MPU-6000/6050 Product Specification rev 3.4, 6.3: gyro + accel, DMP off, 3.8 mA; "
                          "kept running while idle (wake on gyro)"),
    "led": (0.4, 0.0, "330 ohm red LED ~4 mA while on; on ~10 % of walking (step-length rule); off while idle"),
}

PROFILES = {
    "esp32s3-insole": ("esp32s3", ["hx711", "hx711", "load_cell", "load_cell", "led"]),
    "picow-insole": ("picow", ["fsr", "fsr"]),
    "esp32s3-knee": ("esp32s3", ["bend", "bend", "mpu6050", "mpu6050", "led"]),
    "picow-knee": ("picow", ["bend", "bend", "mpu6050", "mpu6050"]),
}

USABLE = 0.8  # of the cell's rated capacity: cut-off voltage, regulator losses


def budget(profile: str, radio: bool) -> tuple[float, float]:
    mcu, parts = PROFILES[profile]
    walk, idle, _ = PARTS[f"{mcu}_{'ble' if radio else 'noradio'}"]
    for p in parts:
        walk += PARTS[p][0]
        idle += PARTS[p][1]
    return walk, idle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mah", type=float, default=500.0, help="cell capacity (1-cell LiPo), mAh")
    ap.add_argument("--walk-h", type=float, default=2.0, help="hours walking per day of wear")
    ap.add_argument("--idle-h", type=float, default=14.0, help="hours idle (worn, not walking) per day")
    ap.add_argument("--sources", action="store_true", help="print each part's figure and source")
    a = ap.parse_args()
    if a.sources:
        for name, (w, i, src) in PARTS.items():
            print(f"{name:<15} walking {w:6.2f} mA  idle {i:6.2f} mA  {src}")
        print()
    hours = a.walk_h + a.idle_h
    print(f"{a.mah:.0f} mAh cell ({USABLE:.0%} usable), {a.walk_h:g} h walking + {a.idle_h:g} h idle per day of wear")
    print(f"{'profile':<15} {'link':<9} {'walking mA':>10} {'idle mA':>8} {'mean mA':>8} {'days':>6} {'walking h only':>15}")
    for prof in PROFILES:
        for radio in (True, False):
            walk, idle = budget(prof, radio)
            mean = (walk * a.walk_h + idle * a.idle_h) / hours
            days = a.mah * USABLE / mean / hours
            print(f"{prof:<15} {'BLE' if radio else 'no radio':<9} {walk:>10.1f} {idle:>8.1f} {mean:>8.1f} "
                  f"{days:>6.2f} {a.mah * USABLE / walk:>15.1f}")


if __name__ == "__main__":
    main()
