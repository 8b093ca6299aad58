# A board firmware with gaitloop frozen in, for a board that has no manifest.py of its own
# (rp2's RPI_PICO: the CMake build then uses the port's boards/manifest.py, which board.py's
# "$(BOARD_DIR)/manifest.py" would not find): the port's default frozen modules, then gaitfw.
# Build (rp2, Pico without wireless; the image tools/rp2040/run.mjs runs in the emulator):
#   make -C ports/rp2 BOARD=RPI_PICO FROZEN_MANIFEST=/path/to/gaitloop/firmware/freeze/port.py
include("$(PORT_DIR)/boards/manifest.py")
include("gaitfw.py")
