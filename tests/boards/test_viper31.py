"""Viper code must not rely on 64-bit machine words (issue 15 item 4).

Why a dynamic width check: on the Unix port (x86-64) a viper `int` is a 64-bit machine word,
so a product that overflows the boards' 32-bit word still computes right in every test that
runs the viper kernels there. Each viper kernel has a plain twin, line for line the same
arithmetic and proven bit-exact to it by the kernel's own tests; here every binary operation
of the twin is wrapped (an AST rewrite) to record its largest magnitude while the twin runs
realistic input and the extremes (full-scale counts, MISSING samples, the longest frame, the
clock at its wrap). The bound per kernel must stay below 2^31 (a signed 32-bit word); the
figures are in docs/benchmarks.md ("31-bit check").
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from array import array

import numpy as np
import pytest

from gaitfw import ahrs, app, csm, mgait, replayrow
from gaitfw import protocol as P
from gaitfw.boards import knee

LIMIT = 1 << 31
ROOT_DATA = __import__("pathlib").Path(__file__).resolve().parents[2] / "data"


class _Widths(ast.NodeTransformer):
    """Wrap every BinOp (and AugAssign) result in _W(...) so its magnitude is recorded."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return ast.Call(func=ast.Name("_W", ast.Load()), args=[node], keywords=[])

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        load = ast.parse(ast.unparse(node.target), mode="eval").body
        value = ast.Call(func=ast.Name("_W", ast.Load()),
                         args=[ast.BinOp(load, node.op, node.value)], keywords=[])
        return ast.Assign(targets=[node.target], value=value)


def instrument(fn):
    """(twin with every intermediate recorded, box whose [0] is the largest |value| seen)."""
    box = [0]

    def _w(v):
        if isinstance(v, int) and abs(v) > box[0]:
            box[0] = abs(v)
        return v

    tree = _Widths().visit(ast.parse(textwrap.dedent(inspect.getsource(fn))))
    ast.fix_missing_locations(tree)
    env = dict(fn.__globals__, _W=_w)
    exec(compile(tree, inspect.getsourcefile(fn), "exec"), env)  # noqa: S102 (our own source)
    return env[fn.__name__], box


def _walk_counts() -> np.ndarray:
    from gaitloop.sim.sources import insole_replay

    return insole_replay(sorted((ROOT_DATA / "gaitpdb").glob("*.txt"))[0], "left").counts


def test_csm_kernel_fits_32_bits() -> None:
    k, box = instrument(csm._step_plain)
    T, params, _ = csm.load_templates("no-such-file.json")
    s = csm.SensorCSM(T, params, use_viper=False)
    s._kernel = k
    counts = _walk_counts()
    for x in counts[:3000, 0]:
        s.feed(int(x))
    extremes = [32767, -32767, csm.MISSING, 0, 32767, -32767] * 200  # full range, swinging
    for x in extremes + [32767] * 600 + [-32767] * 600:
        s.feed(x)
    print("csm kernel max |intermediate|", box[0])
    assert 0 < box[0] < LIMIT


def _knee_run(full_scale: bool):
    from gaitloop.sim.sources import make_replay

    pre, bp = instrument(mgait._pre_plain)
    step, bs = instrument(ahrs._step_plain)
    post, bq = instrument(mgait._post_plain)
    m = knee.make_processors(lambda *a: True, {})[0]
    m._pre, m._step, m._post = pre, step, post
    counts = make_replay("knee", "both", ROOT_DATA / "mocap" / "cmu" / "35_01.amc").counts
    s = array("h", [0] * 14)
    t = 0
    for row in counts[:3000]:
        for i, v in enumerate(row):
            s[i] = int(v)
        m.feed(t, s)
        t += 10
    rng = np.random.default_rng(0)  # then full-scale motion on every channel
    for _ in range(1500 if full_scale else 0):
        for i in range(14):
            s[i] = int(rng.choice([32767, -32768, 0, int(rng.integers(-32768, 32768))]))
        m.feed(t, s)
        t += 10
    print("mgait pre / ahrs step / mgait post max |intermediate|", bp[0], bs[0], bq[0])
    for b in (bp, bs, bq):
        assert 0 < b[0] < LIMIT
    assert bs[0] < 1 << 30  # ahrs: a 31-bit small int even at full scale (its docstring's bound)


def test_knee_kernels_fit_32_bits_on_a_walk() -> None:
    _knee_run(False)


def test_knee_kernels_fit_32_bits_at_full_scale() -> None:
    """Random full-scale IMU input (+-8 g, +-1000 dps, 0x8000 glitch words, switching every
    sample). Found by this check and fixed (was a strict xfail): the Madgwick state grew past
    int32 because its renormalisation was clamped too tight (tests/boards/test_ahrs_fullscale.py)."""
    _knee_run(True)


def test_framing_and_tick_fit_32_bits() -> None:
    seal, b1 = instrument(P._seal_plain)
    raw = bytearray([0xFF] * P.MAX_FRAME)
    enc = bytearray(P.MAX_ENCODED)
    box = array("H", [0xFFFF])
    seal(raw, P.MAX_FRAME - P.CRC_LEN, box, P.CRC_TABLE, enc)
    tick, b2 = instrument(app._tick_plain)
    rate = 100
    st = array("i", [0] * app._I_WORDS + [k * 1000 // rate for k in range(rate)])
    st[2], st[4], st[5], st[8] = rate, 10, 14, 1
    st[0] = (1 << 30) - 5  # index and clock just before their wrap
    st[11] = 1000000000 - 1000
    st[6] = st[7] = 0x3FFFFFFF
    smp = array("h", [-32768, 32767] * 7)
    src = bytes([0xFF, 0x7F, 0x00, 0x80] * 7 * 128)  # full-scale rows, read natively
    st[12], st[15] = 1, 14  # _I_ROWS, channels per row
    box[0] = 0xFFFF  # the sequence number about to wrap too
    keep = [app._bind(st, k, b) for k, b in ((app._I_SP, smp), (app._I_RAW, raw), (app._I_SRC, src),
                                             (app._I_SEQ, box), (app._I_CRC, P.CRC_TABLE), (app._I_ENC, enc))]
    assert all(keep)  # the CPython twin finds the buffers while `keep` holds them, as App does
    sealed = 0
    for _ in range(300):
        r = tick(st)
        if r < 0:
            st[13], st[14] = 0, len(src)  # the HAL's refill
        elif r & 1:
            sealed += 1  # the tick sealed the full frame (st[_I_ENCN] bytes for the App's send)
    assert (sealed, st[3], box[0]) == (29, 7, 28)  # 297 samples: 29 frames sealed, 7 samples open
    assert st[0] < 300 and st[11] < 4000  # both wrapped to small values
    row, b3 = instrument(replayrow._row_plain)
    row(bytes([0xFF, 0x7F, 0x00, 0x80] * 7), 0, array("h", [0] * 14), 14)
    print("seal / tick / row max |intermediate|", b1[0], b2[0], b3[0])
    for b in (b1, b2, b3):
        assert 0 < b[0] < LIMIT


@pytest.mark.parametrize("fn", [csm._step_plain, mgait._pre_plain, ahrs._step_plain,
                                mgait._post_plain, P._seal_plain, app._tick_plain, replayrow._row_plain])
def test_instrumentation_sees_every_binop(fn) -> None:
    """The rewrite must leave no BinOp unwrapped (else a width could escape the check)."""
    tree = _Widths().visit(ast.parse(textwrap.dedent(inspect.getsource(fn))))
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            parent_ok = any(isinstance(p, ast.Call) and getattr(p.func, "id", "") == "_W"
                            and p.args and p.args[0] is node for p in ast.walk(tree))
            assert parent_ok, ast.unparse(node)
