"""Sensor and output drivers on MicroPython's `machine` API (one module per part).

Each sensor driver fills its own channels of the board's sample array in `read(sample)` and
returns False on a fault (no I2C ACK, data stuck, converter never ready) after leaving its
channels at their last good values, so one bad sensor never stops the board:
`gaitfw.boardhal.BoardHal` turns the False into `protocol.ST_SENSOR_FAULT` in STATUS.
"""
