"""Bytes of native (viper / @native) machine code and of bytecode inside a `.mpy` file.

Why: the Unix port puts native code in memory of its own (`mp_unix_alloc_exec`, outside the
GC heap), so `gc.mem_alloc()` there never sees it. The RP2040 port has no such allocator:
MicroPython's default `MP_PLAT_ALLOC_EXEC` takes native code from the GC heap, whether the
module came from a `.py`, an `.mpy` on the filesystem or a ROMFS image (py/persistentcode.c,
`load_raw_code`); only frozen modules keep it in flash. The ESP32 port copies it to IRAM
(`MP_PLAT_COMMIT_EXEC`), off the heap. `gaitloop.sim.heapfit` adds these bytes, counted for
the board's own architecture (`mpy-cross -march=armv6m` for the Pico W), to what it measures.

Reads the .mpy v6 layout of py/persistentcode.c: header, qstr table, constant objects, then
the raw-code tree (kind and length varint, code bytes, native extras, children). A file it
does not consume exactly to its end is refused, so a format change cannot go unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# MP_PERSISTENT_OBJ_* (py/persistentcode.h)
_OBJ_FIXED = {0, 1, 2, 3, 4}  # fun table, None, False, True, Ellipsis: one byte
_OBJ_STR, _OBJ_BYTES, _OBJ_TUPLE = 5, 6, 10
_SCOPE_VIPERRELOC, _SCOPE_VIPERRODATA, _SCOPE_VIPERBSS = 0x10, 0x20, 0x40
_KIND_BYTECODE, _KIND_NATIVE_PY, _KIND_VIPER, _KIND_ASM = 0, 1, 2, 3


@dataclass
class MpySize:
    """Code sizes of one .mpy file (bytes)."""

    native: int = 0  # machine code of @native / @viper functions (GC heap on the RP2040)
    bytecode: int = 0  # bytecode (GC heap when loaded from a filesystem; in place from ROMFS)
    functions: int = 0  # raw-code objects (the module's top level included)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError("truncated .mpy file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uint(self) -> int:
        n = 0
        while True:
            b = self.byte()
            n = (n << 7) | (b & 0x7F)
            if not b & 0x80:
                return n

    def skip(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ValueError("truncated .mpy file")
        self.pos += n


def _obj(r: _Reader) -> None:
    kind = r.byte()
    if kind in _OBJ_FIXED:
        return
    n = r.uint()
    if kind == _OBJ_TUPLE:
        for _ in range(n):
            _obj(r)
    elif kind in (_OBJ_STR, _OBJ_BYTES):
        r.skip(n + 1)  # data and its null terminator
    else:  # int, float, complex: their digits
        r.skip(n)


def _raw_code(r: _Reader, out: MpySize) -> None:
    kind_len = r.uint()
    kind, has_children, n = kind_len & 3, kind_len & 4, kind_len >> 3
    r.skip(n)
    out.functions += 1
    if kind == _KIND_BYTECODE:
        out.bytecode += n
    else:
        out.native += n
        if kind == _KIND_NATIVE_PY:
            r.uint()  # prelude offset
        else:
            flags = r.uint()
            if kind == _KIND_ASM:
                r.uint()
                r.uint()
            if flags & (_SCOPE_VIPERRELOC | _SCOPE_VIPERRODATA | _SCOPE_VIPERBSS):
                # only native modules linked by mpy_ld carry these; mpy-cross never writes them
                raise ValueError("viper relocation / rodata / bss sections are not read here")
    if has_children:
        for _ in range(r.uint()):
            _raw_code(r, out)


def mpy_size(data: bytes) -> MpySize:
    """Native and bytecode sizes of the .mpy file `data` (ValueError if it is not one)."""
    r = _Reader(data)
    if r.byte() != ord("M") or r.byte() != 6:
        raise ValueError("not an .mpy v6 file")
    feat = r.byte()
    r.byte()  # small int bits
    if feat & 0x40:  # architecture flags follow (RV32 extensions)
        r.uint()
    n_qstr, n_obj = r.uint(), r.uint()
    for _ in range(n_qstr):
        n = r.uint()
        if not n & 1:  # not a static qstr: its text and a null
            r.skip((n >> 1) + 1)
    for _ in range(n_obj):
        _obj(r)
    out = MpySize()
    _raw_code(r, out)
    if r.pos != len(data):
        raise ValueError(f".mpy file has {len(data) - r.pos} bytes after its code")
    return out


def tree_sizes(root: Path) -> dict[str, MpySize]:
    """Module name (`gaitfw.boards.insole`) -> sizes, for every .mpy file under `root`."""
    out = {}
    for p in sorted(root.rglob("*.mpy")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = mpy_size(p.read_bytes())
    return out
