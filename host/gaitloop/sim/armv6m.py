"""Frozen armv6m viper code in an rp2 image: is every function that reads a literal word 4-aligned?

Why (issue #15): MicroPython's armv6m (Cortex-M0+) native emitter has no movw/movt and no
wide branch, so it puts a 32-bit constant that no short sequence builds (0x3FFFFFFF,
1000000000) and the offset of a jump further than 2 kB in a word inside the code, read with
`ldr rX, [pc, #0]`. That load reads from the PC rounded down to 4 bytes, and the emitter
places the word (padding with a nop) assuming the function itself starts 4-aligned
(asmthumb.c, asm_thumb_mov_reg_i32, asserts it). `tools/mpy-tool.py`, which freezes native
code into the firmware, aligns ARMV6M functions to 2 bytes only (4 for ARMV6 and Xtensa), as
of MicroPython af47daf3b0 and the newest snapshot seen (1c3c201149): commit 4ab5156c01
chose 2 for ARMVxxM (micropython/micropython#5014 had proposed 4 for all Thumb). A frozen function that
lands 2 mod 4 then loads the wrong word: in `app._tick_viper` (4.3 kB, its `return -1` and its
jump over the foot kernel are far jumps) that is a jump into data, the hang of the first
`App.step`; a mask constant would be silently wrong. A `.mpy` loaded at run time is copied to
an aligned heap block and is not affected.

The build fix is one line in mpy-tool (ARMV6M in the 4-byte group): tools/rp2040/
mpy-tool-armv6m-align.patch, applied before building (docs/hardware.md). This module checks an
image: `python -m gaitloop.sim.armv6m firmware.elf` lists the frozen native functions that
read literal words and are not 4-aligned (none on a good image).
"""

from __future__ import annotations

import argparse
import struct
from dataclasses import dataclass
from pathlib import Path

# ldr rX, [pc, #0] (Thumb T1: 01001 Rt imm8) followed by the emitter's `b.n +2` (mov_reg_i32:
# skip the word) or by `add pc, r1` (asm_thumb_b_label's far jump, through r1)
_LDR_PC0 = 0x4800
_LDR_PC0_MASK = 0xF8FF
_B_SKIP_WORD = 0xE001
_ADD_PC_R1 = 0x448F


def literal_sites(code: bytes) -> list[int]:
    """Offsets in `code` (Thumb, halfword-aligned from its start) where the armv6m emitter reads
    a literal word: a 32-bit constant or a far jump."""
    n = len(code) // 2
    h = struct.unpack_from(f"<{n}H", code)
    out = []
    for i in range(n - 1):
        if h[i] & _LDR_PC0_MASK != _LDR_PC0:
            continue
        if h[i + 1] == _B_SKIP_WORD or (h[i + 1] == _ADD_PC_R1 and h[i] == _LDR_PC0 | 1 << 8):
            out.append(2 * i)
    return out


@dataclass(frozen=True)
class NativeFun:
    name: str  # the ELF symbol (fun_data_<module>_<function>)
    addr: int
    literals: int  # literal_sites in its code

    @property
    def aligned(self) -> bool:
        return self.addr % 4 == 0


def frozen_native(image: Path, prefix: str = "fun_data_gaitfw") -> list[NativeFun]:
    """The frozen native functions of `image` (an ELF) whose symbol starts with `prefix`:
    mpy-tool puts native code in an executable section, bytecode in read-only data."""
    buf = image.read_bytes()
    if buf[:4] != b"\x7fELF" or buf[4] != 1:
        raise ValueError(f"{image}: not a 32-bit ELF")
    shoff, = struct.unpack_from("<I", buf, 32)
    shentsize, shnum = struct.unpack_from("<HH", buf, 46)
    secs = [struct.unpack_from("<IIIIIIIIII", buf, shoff + i * shentsize) for i in range(shnum)]
    out = []
    for sec in secs:
        if sec[1] != 2:  # SHT_SYMTAB
            continue
        strtab = secs[sec[6]]
        for o in range(sec[4], sec[4] + sec[5], 16):
            st_name, value, size, info, _other, shndx = struct.unpack_from("<IIIBBH", buf, o)
            end = buf.index(b"\0", strtab[4] + st_name)
            name = buf[strtab[4] + st_name:end].decode()
            if not name.startswith(prefix) or not size or shndx >= len(secs):
                continue
            s = secs[shndx]
            if not s[2] & 0x4:  # SHF_EXECINSTR: native code; bytecode sits in .rodata
                continue
            off = s[4] + value - s[3]
            out.append(NativeFun(name, value, len(literal_sites(buf[off:off + size]))))
    return sorted(out, key=lambda f: f.addr)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m gaitloop.sim.armv6m",
                                 description=(__doc__ or "").split("\n")[0])
    ap.add_argument("image", type=Path, help="firmware.elf of an rp2 build with gaitfw frozen in")
    args = ap.parse_args(argv)
    funs = frozen_native(args.image)
    bad = [f for f in funs if f.literals and not f.aligned]
    with_lit = sum(1 for f in funs if f.literals)
    print(f"{len(funs)} frozen native functions, {with_lit} read literal words, "
          f"{len(bad)} of those not 4-aligned")
    for f in bad:
        print(f"  {f.name} at 0x{f.addr:08x}: {f.literals} literal reads")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
