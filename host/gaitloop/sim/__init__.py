"""Virtual boards: the real firmware under the MicroPython Unix port behind a pseudo-terminal."""
