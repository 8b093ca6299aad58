# The Unix port with gaitfw frozen in, for measuring a frozen build's heap here
# (`python -m gaitloop.sim.heapfit --frozen-micropython PATH`, docs/hardware.md "Frozen
# firmware"). The Unix port has no BOARD_DIR: asyncio (which the firmware needs, and which
# the Unix port's own variants freeze) is named directly.
include("$(MPY_DIR)/extmod/asyncio")
include("gaitfw.py")
