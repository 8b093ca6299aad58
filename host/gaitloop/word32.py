"""A copy of the firmware whose viper kernels compute on 32-bit words, for the 64-bit Unix port.

Why: a board (ESP32-S3, RP2040) runs viper code on 32-bit machine words, which wrap at 2^32;
the MicroPython Unix port from PyPI is 64-bit, where the same code computes on 64-bit words and
an intermediate that overflows 32 bits goes unnoticed. No registry package here provides a
32-bit MicroPython or the sources to build one (docs/device_model.md), so CI emulates one:
`emulate(src, dst)` copies the firmware and rewrites every `@micropython.viper` function so
that each integer result is reduced to 32 bits the way a 32-bit word holds it:

- every arithmetic result `e` (binary operators, augmented assignments) becomes
  `(e << 32) >> 32`. Viper picks the shift by type, so for an `int` this sign-extends the low
  32 bits (a 32-bit signed word) and for a `uint` it zero-extends them (a 32-bit unsigned
  word); comparisons then behave as on 32 bits too;
- every `ptr32` load is sign-extended the same way (on x86-64 it zero-extends), and every
  `int(...)` / `uint(...)` cast re-reads the 32-bit word as signed / unsigned;
- `sys.maxsize` reads as a 32-bit port's, 2^31 - 1, so code that picks a word-size path
  (ahrs.py's sign-extension of `ptr32` loads) takes the board's;
- address arithmetic is left alone (the Unix port's heap lies above 2^32): a name is an
  address if it is assigned from `int(ptrN(...))`, `int(<ptr object>)` or from a sum or
  difference involving an address.

Running the bit-exactness checks on this copy and on the original, under the same 64-bit
port, shows whether any kernel relies on more than 32 bits: a kernel that overflows a 32-bit
word gives different outputs here (`tests/int8/test_word32.py` shows that it does for a
deliberately unsafe kernel). What it does not model: Python objects inside viper code (long
ints behave the same on every port), 31-bit small-int boxing of viper return values (checked
where the kernels return: they return flags or small counts), and the code generator itself
(Xtensa vs x86-64 instruction selection).
"""

from __future__ import annotations

import ast
import re
import shutil
import textwrap
from pathlib import Path

PTRS = ("ptr8", "ptr16", "ptr32")
WORD = 32
MAXSIZE = re.compile(r"""(?:__import__\(["']sys["']\)|\bsys)\.maxsize\b""")
MAXSIZE_32 = "2147483647"  # sys.maxsize on a 32-bit port


def _is_viper(fn: ast.AST) -> bool:
    return isinstance(fn, ast.FunctionDef) and any(
        (isinstance(d, ast.Attribute) and d.attr == "viper") or (isinstance(d, ast.Name) and d.id == "viper")
        for d in fn.decorator_list)


def _call_name(e: ast.AST) -> str | None:
    return e.func.id if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) else None


def _wrap(e: ast.expr) -> ast.expr:
    """(e << 32) >> 32: the 32-bit word a board's register would hold."""
    return ast.BinOp(ast.BinOp(e, ast.LShift(), ast.Constant(WORD)), ast.RShift(), ast.Constant(WORD))


class _Word32(ast.NodeTransformer):
    """Rewrites one viper function (see the module docstring)."""

    def __init__(self, fn: ast.FunctionDef):
        self.ptr_objs: set[str] = set()  # names bound to ptrN(...) objects (e.g. p = ptr32(buf))
        self.ptr32_objs: set[str] = set()
        self.addrs: set[str] = set()
        self.n = 0
        for a in fn.args.args:  # annotated pointer arguments
            ann = a.annotation
            if isinstance(ann, ast.Name) and ann.id in PTRS:
                self.ptr_objs.add(a.arg)
                if ann.id == "ptr32":
                    self.ptr32_objs.add(a.arg)
        assigns = [(t.id, node.value) for node in ast.walk(fn) if isinstance(node, ast.Assign)
                   for t in node.targets if isinstance(t, ast.Name)]
        for name, value in assigns:
            if _call_name(value) in PTRS:
                self.ptr_objs.add(name)
                if _call_name(value) == "ptr32":
                    self.ptr32_objs.add(name)
        changed = True
        while changed:  # addresses: a fixed point over the assignments
            changed = False
            for name, value in assigns:
                if name not in self.addrs and self.is_addr(value):
                    self.addrs.add(name)
                    changed = True

    def is_addr(self, e: ast.AST) -> bool:
        if isinstance(e, ast.Name):
            return e.id in self.addrs
        if _call_name(e) == "int" and len(e.args) == 1:
            a = e.args[0]
            return _call_name(a) in PTRS or (isinstance(a, ast.Name) and a.id in self.ptr_objs)
        if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub)):
            return self.is_addr(e.left) or self.is_addr(e.right)
        return False

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        addr = self.is_addr(node)
        self.generic_visit(node)
        if addr:
            return node
        self.n += 1
        return _wrap(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        t = node.target
        if not isinstance(t, ast.Name) or t.id in self.addrs:
            return node
        self.n += 1
        return ast.copy_location(
            ast.Assign([ast.Name(t.id, ast.Store())], _wrap(ast.BinOp(ast.Name(t.id, ast.Load()), node.op, node.value))),
            node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        addr = self.is_addr(node)
        self.generic_visit(node)
        if _call_name(node) in ("int", "uint") and not addr:
            self.n += 1  # a cast reinterprets the 32-bit word (uint(-1) is 2^32 - 1, not 2^64 - 1)
            return _wrap(node)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        v = node.value
        is32 = _call_name(v) == "ptr32" or (isinstance(v, ast.Name) and v.id in self.ptr32_objs)
        if is32 and isinstance(node.ctx, ast.Load):
            self.n += 1
            return _wrap(node)
        return node


def rewrite_source(text: str) -> tuple[str, int]:
    """The module text with its viper functions rewritten; (text, number of rewritten sites)."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    spans = []
    for node in ast.walk(tree):
        if _is_viper(node):
            spans.append(node)
    total = 0
    for fn in sorted(spans, key=lambda f: f.lineno, reverse=True):
        tr = _Word32(fn)
        new = ast.fix_missing_locations(tr.visit(fn))
        total += tr.n
        start = min([d.lineno for d in fn.decorator_list] + [fn.lineno]) - 1
        indent = " " * fn.col_offset
        body = textwrap.indent(ast.unparse(new), indent) + "\n"
        lines[start:fn.end_lineno] = [body]
    return "".join(lines), total


def emulate(src: Path, dst: Path) -> dict[str, int]:
    """Copy the firmware tree `src` to `dst` with every viper function rewritten for 32-bit
    words; {module path: rewritten sites} for the modules that changed."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.mpy"))
    done = {}
    for py in sorted(dst.rglob("*.py")):
        text = py.read_text()
        new, n = MAXSIZE.subn(MAXSIZE_32, text)
        if "viper" in new:
            new, k = rewrite_source(new)
            n += k
        if n:
            py.write_text(new)
            done[py.relative_to(dst).as_posix()] = n
    return done
