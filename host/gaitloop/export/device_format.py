"""The device model format (.gldm): a full-integer TFLite student, flattened for the board.

Why our own format: the board has no flatbuffer parser and little RAM. The writer reads the
int8 TFLite model with ai-edge-litert's flatbuffer schema, precomputes everything TFLite's
kernels compute at prepare time (per-channel int32 multipliers and shifts exactly as
`QuantizeMultiplier`, SAME padding offsets, fused activation ranges) and writes a compact,
CRC-checked file that `gaitfw.devmodel` loads into preallocated buffers. Layout:
docs/device_model.md (this module and `gaitfw/devmodel.py` are its two implementations).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gaitfw.devmodel import Model
from gaitloop.errors import GaitloopError

MAGIC = b"GLDM"
VERSION = 2  # 2: optional self-test vector (flag HAS_TEST in the u16 at 34); 1 still reads
HAS_TEST = 1
HEADER = struct.Struct("<4sHHII BBH HH II HH I")  # 40 bytes
assert HEADER.size == 40
OP_WORDS = 16  # int32 words per op record

# opcodes (docs/device_model.md)
OP_CONV = 1
OP_FC = 2
OP_MAXPOOL = 3
OP_AVGPOOL = 4
OP_RESHAPE = 5
OP_NAMES = {OP_CONV: "conv", OP_FC: "fully_connected", OP_MAXPOOL: "max_pool",
            OP_AVGPOOL: "avg_pool", OP_RESHAPE: "reshape"}
TASKS = {"phase": 0, "grf": 1}
# Requantization rounding of the final right shift (conv and fully connected ops):
# "builtin": SaturatingRoundingDoublingHighMul, then (x + 2^(e-1)) >> e. This is what
#   ai-edge-litert's builtin int8 kernels compute (measured: bit-exact on every test set;
#   XNNPACK, which uses float requantization, is turned off for parity runs).
# "reference": TFLite's reference kernels (ai-edge-litert BUILTIN_REF): conv uses
#   MultiplyByQuantizedMultiplier with RoundingDivideByPOT (ties away from zero, mode 0),
#   fully connected the single-rounding form (x * m + 2^(30-shift)) >> (31-shift) (mode 2).
# Per-op mode (conv, fully connected) for each choice:
ROUNDING = {"builtin": (1, 1), "reference": (0, 2)}
# op record fields, in order (int32 each)
FIELDS = ("opcode", "act_min", "act_max", "len_in", "c_in", "len_out", "c_out", "k", "stride",
          "dilation", "pad", "in_off", "out_off", "w_off", "q_off", "rounding")
assert len(FIELDS) == OP_WORDS


class DeviceModelError(GaitloopError):
    """A TFLite model cannot be written as a device model, or a device file is invalid."""


@dataclass
class DeviceModel:
    """A parsed device model (host side): header fields, io section, ops, weight pools."""

    task: str
    window: int
    in_channels: int
    n_out: int
    in_zp: int
    out_zp: int
    out_mul: int  # output (q - out_zp) -> event units: (x * out_mul) >> out_shift
    out_shift: int
    norm: np.ndarray  # (in_channels, 3) int32: count -> int8 input = (c*mul + add) >> shift
    ops: list[dict[str, int]] = field(default_factory=list)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    q: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    arena: int = 0
    # self-test vector (format version 2): an int8 input window and the int8 outputs the
    # firmware's reference kernels compute for it; the board reproduces them before a pushed
    # model goes live (docs/update.md)
    test_in: bytes | None = None
    test_out: bytes | None = None

    @property
    def n_params(self) -> int:
        """int8 weights + int32 biases (what the model stores, not counting multipliers)."""
        biases = sum(o["c_out"] for o in self.ops if o["opcode"] in (OP_CONV, OP_FC))
        return int(self.weights.size) + biases

    def ram_bytes(self, fast: bool = True) -> int:
        """Bytes the board's firmware interpreter holds for this model.

        Asked of the firmware itself, not mirrored: gaitfw.devmodel.Model loads this model's
        device bytes with `plan_only` (what the board builds, on any Python) and reports
        `ram_bytes()`. `fast`: the board's viper path when the model fits it; False: the
        build without it (signed viper or plain kernels: pools, two arenas).
        """
        return Model(pack(self), fast=fast, plan_only=True).ram_bytes()


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real ~= m * 2^(shift - 31), m in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(math.floor(abs(q) * (1 << 31) + 0.5)) * (1 if q >= 0 else -1)  # std::round
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return q_fixed, shift


def _act_range(fused: int, zp: int, scale: float) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 (NONE, RELU, RELU6, RELU_N1_TO_1)."""
    def q(v: float) -> int:
        return zp + int(round(v / scale))

    if fused == 0:
        return -128, 127
    if fused == 1:
        return max(-128, q(0.0)), 127
    if fused == 3:
        return max(-128, q(0.0)), min(127, q(6.0))
    if fused == 2:
        return max(-128, q(-1.0)), min(127, q(1.0))
    raise DeviceModelError(f"unsupported fused activation {fused}")


def _f64(x: float) -> float:
    """A TFLite float32 scale as the double its kernels compute with."""
    return float(np.float32(x))


def _norm_table(meta: dict, in_scale: float, in_zp: int, count_scale: list[float]) -> np.ndarray:
    """Per channel (mul, add, shift): board count -> int8 input, min-max to [-1, 1] then quantize.

    q = (count * mul + add) >> shift, with |count| <= 32767 and every intermediate inside
    +/-2^30 (small ints on a 32-bit board); shift is the largest of 16..0 that keeps that.
    """
    n = len(count_scale)
    lo = np.asarray(meta.get("norm_min", [-1.0] * n), np.float64)
    hi = np.asarray(meta.get("norm_max", [1.0] * n), np.float64)
    if lo.shape != (n,) or hi.shape != (n,) or np.any(hi <= lo):
        raise DeviceModelError("meta norm_min/norm_max must be per-channel with max > min")
    rows = []
    for c in range(n):
        # q = (2 * (count*cs - lo) / (hi - lo) - 1) / in_scale + in_zp
        gain = 2.0 * count_scale[c] / ((hi[c] - lo[c]) * in_scale)
        off = (-2.0 * lo[c] / (hi[c] - lo[c]) - 1.0) / in_scale + in_zp
        for shift in range(16, -1, -1):
            mul = int(round(gain * (1 << shift)))
            add = int(round(off * (1 << shift))) + ((1 << shift) >> 1)
            if abs(mul) * 32768 + abs(add) < (1 << 30):
                break
        else:
            raise DeviceModelError(f"channel {c}: normalisation gain {gain:.3g} is too large")
        rows.append((mul, add, shift))
    return np.asarray(rows, np.int32)


def _out_table(task: str, out_scale: float, meta: dict) -> tuple[int, int]:
    """GRF: int8 output -> 0.1 N units as (x * mul) >> shift; phase: identity (1, 0)."""
    if task != "grf":
        return 1, 0
    per_lsb = out_scale * float(meta.get("target_scale", 1.0)) * 10.0  # 0.1 N per LSB
    for shift in range(16, -1, -1):
        mul = int(round(per_lsb * (1 << shift)))
        if abs(mul) * 256 < (1 << 30):
            return mul, shift
    raise DeviceModelError(f"output scale {per_lsb:.3g} dN per LSB is too large")


def read_tflite(tflite: Path, rounding: str = "builtin") -> tuple[DeviceModel, tuple[float, float]]:
    """Parse an int8 TFLite chain model: (DeviceModel with default task/norm, (in, out) scale).

    `rounding` picks the requantization's final-shift rounding the board reproduces (see
    ROUNDING); the default matches ai-edge-litert's builtin kernels bit for bit."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        buf = Path(tflite).read_bytes()
        model = schema.ModelT.InitFromPackedBuf(buf, 0)
    except OSError as exc:
        raise DeviceModelError(f"{tflite}: cannot read ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - the flatbuffer reader raises anything
        raise DeviceModelError(f"{tflite}: not a TFLite flatbuffer ({exc})") from exc
    if rounding not in ROUNDING:
        raise DeviceModelError(f"rounding must be one of {', '.join(ROUNDING)}")
    if not model.subgraphs or len(model.subgraphs) != 1:
        raise DeviceModelError(f"{tflite}: expected one subgraph")
    g = model.subgraphs[0]
    tensors = g.tensors
    tt = schema.TensorType

    def data(ti: int, dtype) -> np.ndarray:
        b = model.buffers[tensors[ti].buffer]
        if b.data is None:
            raise DeviceModelError(f"{tflite}: tensor {ti} has no inline constant data")
        return np.frombuffer(np.asarray(b.data, np.uint8).tobytes(), dtype).reshape(
            tuple(int(s) for s in tensors[ti].shape))

    def qparams(ti: int) -> tuple[np.ndarray, np.ndarray]:
        qz = tensors[ti].quantization
        if qz is None or qz.scale is None or len(qz.scale) == 0:
            raise DeviceModelError(f"{tflite}: tensor {ti} is not quantized")
        return np.asarray(qz.scale, np.float32), np.asarray(qz.zeroPoint, np.int64)

    def length_chans(ti: int) -> tuple[int, int]:
        shape = [int(s) for s in tensors[ti].shape]
        if shape[0] != 1:
            raise DeviceModelError(f"{tflite}: batch must be 1, tensor {ti} has {shape}")
        rest = shape[1:]
        if len(rest) == 1:
            return 1, rest[0]
        spatial = rest[:-1]
        if sum(1 for s in spatial if s != 1) > 1:
            raise DeviceModelError(f"{tflite}: tensor {ti} {shape} is not 1-D over time")
        return int(np.prod(spatial)), rest[-1]

    (inp,), (outp,) = list(g.inputs), list(g.outputs)
    for ti in (inp, outp):
        if tensors[ti].type != tt.INT8:
            raise DeviceModelError(f"{tflite}: input and output must be int8 (full-integer model)")
    in_scale, in_zp = qparams(inp)
    out_scale, out_zp = qparams(outp)
    window, in_ch = length_chans(inp)
    _, n_out = length_chans(outp)

    ops: list[dict[str, int]] = []
    wpool: list[np.ndarray] = []
    qpool: list[np.ndarray] = []
    wlen = qlen = 0
    arena = window * in_ch
    cur = inp
    for op in g.operators:
        oc = model.operatorCodes[op.opcodeIndex]
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        x = int(op.inputs[0])
        y = int(op.outputs[0])
        if x != cur:
            raise DeviceModelError(f"{tflite}: operators do not form a single chain")
        if tensors[y].type != tt.INT8:
            raise DeviceModelError(f"{tflite}: op output {y} is not int8")
        len_in, c_in = length_chans(x)
        len_out, c_out = length_chans(y)
        s_x, z_x = qparams(x)
        s_y, z_y = qparams(y)
        rec = dict.fromkeys(FIELDS, 0)
        rec.update(len_in=len_in, c_in=c_in, len_out=len_out, c_out=c_out,
                   in_off=-int(z_x[0]), out_off=int(z_y[0]), act_min=-128, act_max=127)
        opts = op.builtinOptions
        bo = schema.BuiltinOperator
        if code in (bo.CONV_2D, bo.FULLY_CONNECTED):
            w = data(int(op.inputs[1]), np.int8)
            s_w, z_w = qparams(int(op.inputs[1]))
            if np.any(z_w != 0):
                raise DeviceModelError(f"{tflite}: weights must be symmetric (zero point 0)")
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                b = data(int(op.inputs[2]), np.int32).reshape(-1).astype(np.int64)
            else:
                b = np.zeros(c_out, np.int64)
            s_w = np.broadcast_to(s_w, (c_out,))
            if code == bo.CONV_2D:
                if w.shape[1] != 1 and w.shape[2] != 1:
                    raise DeviceModelError(f"{tflite}: conv kernel {w.shape} is 2-D")
                along_h = w.shape[1] != 1 or int(tensors[x].shape[2]) == 1
                k = int(w.shape[1] if along_h else w.shape[2])
                stride = opts.strideH if along_h else opts.strideW
                dil = opts.dilationHFactor if along_h else opts.dilationWFactor
                if w.shape[3] != c_in:
                    raise DeviceModelError(f"{tflite}: grouped conv is not supported")
                if opts.padding == schema.Padding.SAME:
                    total = max((len_out - 1) * stride + (k - 1) * dil + 1 - len_in, 0)
                    pad = total // 2
                else:
                    pad = 0
                rec.update(opcode=OP_CONV, k=k, stride=stride, dilation=dil, pad=pad)
                w = w.reshape(c_out, k, c_in)  # [cout][k][cin]
            else:
                if opts.keepNumDims or len_in * c_in != w.shape[1]:
                    raise DeviceModelError(f"{tflite}: fully connected input shape mismatch")
                rec.update(opcode=OP_FC, len_in=1, c_in=int(w.shape[1]), len_out=1)
            rec["act_min"], rec["act_max"] = _act_range(opts.fusedActivationFunction,
                                                         int(z_y[0]), float(s_y[0]))
            mults = np.zeros(c_out, np.int64)
            shifts = np.zeros(c_out, np.int64)
            for c in range(c_out):
                real = _f64(s_x[0]) * _f64(s_w[c]) / _f64(s_y[0])
                mults[c], shifts[c] = quantize_multiplier(real)
            rec["rounding"] = ROUNDING[rounding][code == bo.FULLY_CONNECTED]
            rec["w_off"], rec["q_off"] = wlen, qlen
            wpool.append(w.reshape(-1))
            qpool.append(np.concatenate([b, mults, shifts]).astype(np.int32))
            wlen += w.size
            qlen += 3 * c_out
        elif code in (bo.MAX_POOL_2D, bo.AVERAGE_POOL_2D):
            if int(z_x[0]) != int(z_y[0]) or s_x[0] != s_y[0]:
                raise DeviceModelError(f"{tflite}: pooling must keep quantization parameters")
            along_h = opts.filterHeight != 1
            k = opts.filterHeight if along_h else opts.filterWidth
            stride = opts.strideH if along_h else opts.strideW
            if opts.padding != schema.Padding.VALID and (len_in - k) // stride + 1 != len_out:
                raise DeviceModelError(f"{tflite}: padded pooling is not supported")
            rec.update(opcode=OP_MAXPOOL if code == bo.MAX_POOL_2D else OP_AVGPOOL, k=k,
                       stride=stride, dilation=1)
            rec["act_min"], rec["act_max"] = _act_range(opts.fusedActivationFunction,
                                                         int(z_y[0]), float(s_y[0]))
        elif code in (bo.RESHAPE, bo.SQUEEZE, bo.EXPAND_DIMS):
            if int(z_x[0]) != int(z_y[0]) or len_in * c_in != len_out * c_out:
                raise DeviceModelError(f"{tflite}: reshape changes size or quantization")
            rec.update(opcode=OP_RESHAPE)
        else:
            name = next((n for n, v in vars(bo).items() if v == code), str(code))
            raise DeviceModelError(f"{tflite}: operator {name} is not supported on the board")
        if rec["len_out"] < 1 or rec["c_out"] < 1:
            raise DeviceModelError(f"{tflite}: empty tensor")
        arena = max(arena, len_out * c_out)
        ops.append(rec)
        cur = y
    if cur != outp:
        raise DeviceModelError(f"{tflite}: the chain does not end at the model output")
    return DeviceModel(
        task="phase", window=window, in_channels=in_ch, n_out=n_out, in_zp=int(in_zp[0]),
        out_zp=int(out_zp[0]), out_mul=1, out_shift=0,
        norm=np.zeros((in_ch, 3), np.int32), ops=ops,
        weights=np.concatenate(wpool).astype(np.int8) if wpool else np.zeros(0, np.int8),
        q=np.concatenate(qpool).astype(np.int32) if qpool else np.zeros(0, np.int32),
        arena=arena,
    ), (float(in_scale[0]), float(out_scale[0]))


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def write_device_model(tflite: Path, out: Path, meta: dict | None = None,
                       count_scale: list[float] | None = None, rounding: str = "builtin") -> Path:
    """Write `out` (.gldm) from an int8 TFLite model; `meta` is the checkpoint metadata.

    `meta` supplies task, norm_min/norm_max (per input channel, physical units) and GRF
    target_scale; `count_scale` is the board's physical units per count per channel
    (insole: 0.1 N). Both are needed for the board to feed raw counts; without them the
    table maps counts as already-normalised [-1, 1] values.
    """
    meta = dict(meta or {})
    dm, (in_scale, out_scale) = read_tflite(Path(tflite), rounding)
    task = meta.get("task", "phase")
    if task not in TASKS:
        raise DeviceModelError(f"unknown task {task!r} (phase | grf)")
    if meta.get("window", dm.window) != dm.window:
        raise DeviceModelError(f"meta window {meta['window']} != model window {dm.window}")
    cs = list(count_scale) if count_scale is not None else list(
        meta.get("count_scale", [1.0] * dm.in_channels))
    if len(cs) != dm.in_channels:
        raise DeviceModelError(f"count_scale needs {dm.in_channels} entries, got {len(cs)}")
    dm.task = task
    dm.norm = _norm_table(meta, in_scale, dm.in_zp, cs)
    dm.out_mul, dm.out_shift = _out_table(task, out_scale, meta)
    blob = add_self_test(pack(dm))  # the board reproduces it before a pushed model goes live
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return out


def pack(dm: DeviceModel) -> bytes:
    """Serialise a DeviceModel (header + CRC over the body)."""
    io = np.concatenate([[dm.in_zp, dm.out_zp, dm.out_mul, dm.out_shift],
                         dm.norm.reshape(-1)]).astype("<i4").tobytes()
    table = np.asarray([[o[f] for f in FIELDS] for o in dm.ops], "<i4").tobytes()
    body = io + table + _pad4(dm.weights.astype(np.int8).tobytes()) + dm.q.astype("<i4").tobytes()
    version, flags = 1, 0  # without a test vector: byte-identical to a version 1 file
    if dm.test_in is not None and dm.test_out is not None:
        if len(dm.test_in) != dm.window * dm.in_channels or len(dm.test_out) != dm.n_out:
            raise DeviceModelError("self-test vector does not match the model's input / output")
        body += _pad4(bytes(dm.test_in)) + _pad4(bytes(dm.test_out))
        version, flags = VERSION, HAS_TEST
    head = HEADER.pack(MAGIC, version, HEADER.size, HEADER.size + len(body),
                       zlib.crc32(body) & 0xFFFFFFFF, TASKS[dm.task], len(dm.ops), dm.window,
                       dm.in_channels, dm.n_out, dm.weights.size, dm.q.size, dm.arena, flags, 0)
    return head + body


def read_device_model(path: Path | bytes) -> DeviceModel:
    """Parse and validate a .gldm file; DeviceModelError (one line) for anything invalid."""
    blob = path if isinstance(path, bytes | bytearray) else Path(path).read_bytes()
    if len(blob) < HEADER.size:
        raise DeviceModelError("device model truncated: shorter than its header")
    (magic, version, hsize, total, crc, task, n_ops, window, in_ch, n_out, n_w, n_q, arena,
     _r1, _r2) = HEADER.unpack_from(blob, 0)
    if magic != MAGIC:
        raise DeviceModelError("not a device model (bad magic)")
    if version not in (1, VERSION):
        raise DeviceModelError(f"device model version {version} is not supported (1, {VERSION})")
    if hsize != HEADER.size or total != len(blob):
        raise DeviceModelError(f"device model truncated or padded: {len(blob)} of {total} bytes")
    if zlib.crc32(blob[hsize:]) & 0xFFFFFFFF != crc:
        raise DeviceModelError("device model CRC mismatch (corrupted)")
    if task not in TASKS.values():
        raise DeviceModelError(f"unknown task code {task}")
    expect = hsize + 4 * (4 + 3 * in_ch) + 4 * OP_WORDS * n_ops + n_w + (-n_w % 4) + 4 * n_q
    n_in = window * in_ch
    has_test = version >= 2 and bool(_r1 & HAS_TEST)
    if has_test:
        expect += n_in + (-n_in % 4) + n_out + (-n_out % 4)
    if expect != total:
        raise DeviceModelError(f"device model sections ({expect} bytes) do not match its size")
    off = hsize
    io = np.frombuffer(blob, "<i4", 4 + 3 * in_ch, off).astype(np.int64)
    off += 4 * (4 + 3 * in_ch)
    table = np.frombuffer(blob, "<i4", OP_WORDS * n_ops, off).reshape(n_ops, OP_WORDS)
    off += table.nbytes
    weights = np.frombuffer(blob, np.int8, n_w, off).copy()
    off += n_w + (-n_w % 4)
    q = np.frombuffer(blob, "<i4", n_q, off).astype(np.int32)
    off += 4 * n_q
    test_in = test_out = None
    if has_test:
        test_in = bytes(blob[off:off + n_in])
        off += n_in + (-n_in % 4)
        test_out = bytes(blob[off:off + n_out])
    ops = [dict(zip(FIELDS, (int(v) for v in row), strict=True)) for row in table]
    dm = DeviceModel(task=next(k for k, v in TASKS.items() if v == task), window=window,
                     in_channels=in_ch, n_out=n_out, in_zp=int(io[0]), out_zp=int(io[1]),
                     out_mul=int(io[2]), out_shift=int(io[3]),
                     norm=io[4:].reshape(in_ch, 3).astype(np.int32), ops=ops,
                     weights=weights, q=q, arena=arena, test_in=test_in, test_out=test_out)
    validate(dm)
    return dm


def validate(dm: DeviceModel) -> None:
    """Check that every op stays inside its pools and the arena and that shapes chain."""
    size = dm.window * dm.in_channels
    if size > dm.arena or dm.n_out < 1 or dm.in_channels < 1:
        raise DeviceModelError("device model input does not fit its arena")
    if not 0 <= dm.out_shift <= 30:
        raise DeviceModelError("device model output scale is invalid")
    if np.any(dm.norm[:, 2] < 0) or np.any(dm.norm[:, 2] > 16):
        raise DeviceModelError("device model input normalisation is invalid")
    for i, o in enumerate(dm.ops):
        bad = DeviceModelError(f"device model op {i} ({OP_NAMES.get(o['opcode'], o['opcode'])})"
                               " is inconsistent")
        if (o["opcode"] not in OP_NAMES or o["len_in"] * o["c_in"] != size
                or min(o["len_in"], o["c_in"], o["len_out"], o["c_out"]) < 1):
            raise bad
        n_out = o["len_out"] * o["c_out"]
        if not 0 < n_out <= dm.arena or not -128 <= o["act_min"] <= o["act_max"] <= 127:
            raise bad
        if not (-255 <= o["in_off"] <= 255 and -128 <= o["out_off"] <= 127
                and o["rounding"] in (0, 1, 2)):
            raise bad
        if o["opcode"] in (OP_CONV, OP_FC):
            k = o["k"] if o["opcode"] == OP_CONV else 1
            if o["opcode"] == OP_FC and (o["len_in"] != 1 or o["len_out"] != 1):
                raise bad
            nw = o["c_out"] * k * o["c_in"]
            if not (0 <= o["w_off"] and o["w_off"] + nw <= dm.weights.size
                    and 0 <= o["q_off"] and o["q_off"] + 3 * o["c_out"] <= dm.q.size):
                raise bad
            if o["opcode"] == OP_CONV and (o["k"] < 1 or o["stride"] < 1 or o["dilation"] < 1
                                           or not 0 <= o["pad"] < o["k"] * o["dilation"]):
                raise bad
            sh = dm.q[o["q_off"] + 2 * o["c_out"]: o["q_off"] + 3 * o["c_out"]]
            mult = dm.q[o["q_off"] + o["c_out"]: o["q_off"] + 2 * o["c_out"]]
            if np.any(sh < -31) or np.any(sh > 30) or np.any(mult < 0):
                raise bad
        elif o["opcode"] in (OP_MAXPOOL, OP_AVGPOOL):
            if (o["k"] < 1 or o["stride"] < 1 or o["c_out"] != o["c_in"]
                    or (o["len_out"] - 1) * o["stride"] + o["k"] > o["len_in"]):
                raise bad
        size = n_out
    if size != dm.n_out:
        raise DeviceModelError("device model output size does not match its header")


def self_test_input(n: int, seed: int) -> np.ndarray:
    """A deterministic int8 window covering the whole int8 range (a 32-bit LCG), so the
    self-test exercises every weight with large and small, positive and negative inputs."""
    out = np.empty(n, np.int8)
    x = seed & 0xFFFFFFFF
    for i in range(n):
        x = (1664525 * x + 1013904223) & 0xFFFFFFFF
        out[i] = (x >> 24) - 128
    return out


def add_self_test(blob: bytes, window_counts: np.ndarray | None = None) -> bytes:
    """`blob` (any version) as version 2 with a self-test vector: the int8 input window (from
    sensor counts `window_counts` [window][in_channels] normalised as the board does, or by
    default `self_test_input` seeded with the model's CRC) and the int8 outputs the firmware's
    own reference kernels (gaitfw.devmodel, bit-exact with the board) compute for it."""
    from gaitfw import devmodel

    dm = read_device_model(bytes(blob))
    dm.test_in, dm.test_out = None, None
    plain = pack(dm)
    if window_counts is None:
        q = self_test_input(dm.window * dm.in_channels, struct.unpack_from("<I", plain, 12)[0])
    else:
        counts = np.asarray(window_counts, np.int64)
        if counts.shape != (dm.window, dm.in_channels):
            raise DeviceModelError(f"self-test window must be {dm.window} x {dm.in_channels} counts")
        mul, add, sh = (dm.norm[:, i].astype(np.int64) for i in range(3))
        q = np.clip((counts * mul + add) >> sh, -128, 127).astype(np.int8).reshape(-1)
    m = devmodel.Model(plain, use_viper=False)
    for i, v in enumerate(q.tolist()):  # the arena may be longer than the input
        m.inp[i] = v
    m.invoke()
    dm.test_in = q.tobytes()
    dm.test_out = np.asarray(list(m.out[:dm.n_out]), np.int8).tobytes()
    return pack(dm)
