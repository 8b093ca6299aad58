"""Shims so firmware modules import on CPython as well as on MicroPython.

Why: the host's simulator, reference checks and tests run the exact modules that ship.
Only names that differ between the runtimes live here; algorithm code stays plain.

Viper pattern (compiler-recognised names must stay literal):

    import micropython                      # real, or the CPython stand-in
    from gaitfw.compat import MICROPYTHON
    @micropython.viper
    def _kernel_viper(buf: ptr8, n: int) -> int: ...
    def _kernel_plain(buf, n): ...
    kernel = _kernel_viper if MICROPYTHON else _kernel_plain
"""

import sys

from micropython import const  # noqa: F401  (real, or the stand-in from gaitfw/__init__)

MICROPYTHON = sys.implementation.name == "micropython"

if not MICROPYTHON:
    # Names viper annotations use; on MicroPython the compiler resolves them itself.
    ptr8 = ptr16 = ptr32 = uint = int

try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us
except ImportError:  # CPython
    import time as _time

    def ticks_ms():
        return int(_time.monotonic() * 1000) & 0x3FFFFFFF

    def ticks_us():
        return int(_time.monotonic() * 1000000) & 0x3FFFFFFF

    def ticks_diff(a, b):
        d = (a - b) & 0x3FFFFFFF
        return d - 0x40000000 if d & 0x20000000 else d

    def ticks_add(a, d):
        return (a + d) & 0x3FFFFFFF


def mem_alloc():
    """Bytes allocated on the heap (MicroPython), or 0 where the runtime cannot say."""
    try:
        import gc

        return gc.mem_alloc()
    except AttributeError:
        return 0


def mem_free():
    """Bytes free on the heap (MicroPython), or 0 where the runtime cannot say."""
    try:
        import gc

        return gc.mem_free()
    except AttributeError:
        return 0
