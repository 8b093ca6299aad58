# A board firmware with gaitloop frozen in: the board's own frozen modules, then gaitfw.
# Build (rp2, Pico W; needs the pico-sdk submodules and arm-none-eabi-gcc):
#   make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/gaitloop/firmware/freeze/board.py
# ESP32-S3: make -C ports/esp32 BOARD=ESP32_GENERIC_S3 BOARD_VARIANT=SPIRAM_OCT FROZEN_MANIFEST=...
include("$(BOARD_DIR)/manifest.py")
include("gaitfw.py")
