# Frozen-module manifest of the gaitloop firmware package (MicroPython's manifest.py format).
#
# Why freeze: a module imported from the filesystem (.py or .mpy) copies its bytecode, its
# constants and its names into the heap; a frozen module keeps them in flash (names in the
# firmware's ROM qstr pool, viper machine code included). On the Pico W that is the
# difference between fitting the heap and not (docs/hardware.md, "Frozen firmware").
#
# Include this file from a board manifest (board.py beside it does so for any port that
# sets BOARD_DIR: rp2, esp32). main.py stays on the board's filesystem: it only imports
# gaitfw.app, and a frozen module shadows nothing there.
import os

_FW = os.path.abspath("..")  # the manifest tools run this with its own folder as the cwd
_PKG = os.path.join(_FW, "gaitfw")

# every firmware module, without the CPython-only shim (it is never imported on a board)
_files = []
for _dir, _subdirs, _names in os.walk(_PKG):
    _subdirs.sort()
    for _n in sorted(_names):
        if _n.endswith(".py") and not _n.startswith("_cpython"):
            _files.append(os.path.relpath(os.path.join(_dir, _n), _PKG))

package("gaitfw", files=_files, base_path=_FW)
