"""Full-integer int8 TFLite export of a torch student, via a TensorFlow mirror of its graph.

Why a mirror: TensorFlow's TFLiteConverter (with a representative dataset) is the reference
int8 quantizer that TFLite runtimes and our board interpreter reproduce. The torch graph is
traced with torch.fx, rebuilt from its weights as plain `tf.nn` ops in channels-last layout
(N, T, C), checked for float parity against torch, and only then quantized.

Supported torch ops (the student contract): Conv1d (groups 1, padding 0 or "same"),
BatchNorm1d (folded into the conv before it), ReLU, MaxPool1d, AvgPool1d, mean over time
(`x.mean(-1)`, AdaptiveAvgPool1d(1)), flatten/reshape, Linear, Dropout/Identity (skipped).
Mean over time is exported as AVERAGE_POOL_2D over the whole length (plus a reshape), whose
int8 arithmetic is integer-only, rather than MEAN.

TensorFlow is an optional extra (`pip install -e .[tflite]`); it is imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FLOAT_PARITY_TOL = 1e-3  # max abs diff torch vs TF mirror, relative to the output range


class ExportError(Exception):
    """The model or its inputs cannot be exported as a full-integer TFLite model."""


@dataclass
class _Layer:
    """One op of the channels-last float mirror."""

    kind: str  # conv | relu | maxpool | avgpool | gap | linear
    params: dict[str, Any] = field(default_factory=dict)


def _layers_from_torch(model: Any, in_channels: int, window: int) -> list[_Layer]:
    """Trace `model` with torch.fx into a linear chain of mirror layers (weights as numpy)."""
    import torch
    import torch.fx
    from torch import nn

    model = model.eval()
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - fx raises many types; one clear message
        raise ExportError(f"cannot trace the model with torch.fx: {exc}") from exc
    mods = dict(gm.named_modules())
    layers: list[_Layer] = []
    length, chans, flat = window, in_channels, False  # shape of the running activation

    def fold_bn(bn: nn.BatchNorm1d) -> None:
        if not layers or layers[-1].kind != "conv":
            raise ExportError("BatchNorm1d must follow a Conv1d to be folded")
        p = layers[-1].params
        g = bn.weight.detach().numpy() if bn.affine else np.ones(bn.num_features)
        b = bn.bias.detach().numpy() if bn.affine else np.zeros(bn.num_features)
        s = g / np.sqrt(bn.running_var.detach().numpy() + bn.eps)
        p["w"] = p["w"] * s[None, None, :]
        p["b"] = (p["b"] - bn.running_mean.detach().numpy()) * s + b

    prev = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            prev = node
            continue
        if node.op == "output":
            if node.args[0] is not prev:
                raise ExportError("the traced graph is not a single chain ending in the output")
            continue
        if not node.args or node.args[0] is not prev:
            raise ExportError(f"{node.name}: the traced graph is not a single chain of ops")
        prev = node
        target = node.target
        if node.op == "call_module":
            m = mods[target]
            if isinstance(m, nn.Conv1d):
                if m.groups != 1 or m.padding_mode != "zeros":
                    raise ExportError(f"{target}: only groups=1 zero-padded Conv1d is supported")
                k, s, d = m.kernel_size[0], m.stride[0], m.dilation[0]
                pad = m.padding if isinstance(m.padding, str) else m.padding[0]
                if pad in (0, "valid"):
                    padding, length = "VALID", (length - d * (k - 1) - 1) // s + 1
                elif (pad == "same" or pad * 2 == d * (k - 1)) and s == 1:
                    padding = "SAME"
                else:
                    raise ExportError(f"{target}: padding {pad} is neither 0 nor 'same'")
                w = m.weight.detach().numpy().transpose(2, 1, 0).astype(np.float64)  # K,Cin,Cout
                b = (m.bias.detach().numpy() if m.bias is not None else np.zeros(m.out_channels))
                layers.append(_Layer("conv", {"w": w, "b": b.astype(np.float64), "stride": s,
                                              "dilation": d, "padding": padding}))
                chans = m.out_channels
            elif isinstance(m, nn.BatchNorm1d):
                fold_bn(m)
            elif isinstance(m, nn.ReLU):
                layers.append(_Layer("relu"))
            elif isinstance(m, (nn.MaxPool1d, nn.AvgPool1d)):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                s = m.stride if isinstance(m.stride, int) else (m.stride or (k,))[0]
                pad = m.padding if isinstance(m.padding, int) else m.padding[0]
                if pad != 0 or m.ceil_mode:
                    raise ExportError(f"{target}: pooling with padding or ceil_mode unsupported")
                layers.append(_Layer("maxpool" if isinstance(m, nn.MaxPool1d) else "avgpool",
                                     {"k": k, "stride": s}))
                length = (length - k) // s + 1
            elif isinstance(m, nn.AdaptiveAvgPool1d):
                if m.output_size not in (1, (1,)):
                    raise ExportError(f"{target}: AdaptiveAvgPool1d must have output size 1")
                layers.append(_Layer("gap", {"k": length}))
                length = 1
            elif isinstance(m, nn.Flatten):
                flat = True
            elif isinstance(m, nn.Linear):
                w = m.weight.detach().numpy().astype(np.float64)  # out, in
                if flat and length > 1:  # torch flattens (C, T); the mirror holds (T, C)
                    w = w.reshape(m.out_features, chans, length).transpose(0, 2, 1)
                    w = w.reshape(m.out_features, -1)
                b = m.bias.detach().numpy() if m.bias is not None else np.zeros(m.out_features)
                layers.append(_Layer("linear", {"w": w.T.copy(), "b": b.astype(np.float64)}))
                length, chans, flat = 1, m.out_features, True
            elif isinstance(m, (nn.Dropout, nn.Identity)):
                continue
            else:
                raise ExportError(f"{target}: unsupported module {type(m).__name__}")
        elif node.op in ("call_function", "call_method"):
            name = getattr(target, "__name__", str(target))
            if name in ("relu", "relu_"):
                layers.append(_Layer("relu"))
            elif name == "mean":
                dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
                if dims not in (-1, 2, (-1,), (2,), [-1], [2]):
                    raise ExportError(f"mean over {dims}: only the time axis can be averaged")
                layers.append(_Layer("gap", {"k": length}))
                length, flat = 1, True
            elif name in ("flatten", "view", "reshape", "squeeze"):
                flat = True
            elif name in ("dropout", "identity"):
                continue
            else:
                raise ExportError(f"unsupported function {name} in the traced graph")
        else:
            raise ExportError(f"unsupported graph node {node.op} {target}")
        if length < 1:
            raise ExportError(f"window {window} is too short for the model's layers")
    return layers


def _tf_forward(layers: list[_Layer], x: Any) -> Any:
    """The float mirror in TensorFlow, channels last: x is (N, T, C)."""
    import tensorflow as tf

    for layer in layers:
        p = layer.params
        if layer.kind == "conv":
            x = tf.nn.conv1d(x, tf.constant(p["w"], tf.float32), stride=p["stride"],
                             padding=p["padding"], dilations=p["dilation"])
            x = tf.nn.bias_add(x, tf.constant(p["b"], tf.float32))
        elif layer.kind == "relu":
            x = tf.nn.relu(x)
        elif layer.kind == "maxpool":
            x = tf.nn.max_pool1d(x, p["k"], p["stride"], "VALID")
        elif layer.kind == "avgpool":
            x = tf.nn.avg_pool1d(x, p["k"], p["stride"], "VALID")
        elif layer.kind == "gap":
            x = tf.nn.avg_pool1d(x, p["k"], p["k"], "VALID")
            x = tf.reshape(x, (-1, x.shape[-1]))
        elif layer.kind == "linear":
            if len(x.shape) == 3:
                x = tf.reshape(x, (-1, x.shape[1] * x.shape[2]))
            x = tf.matmul(x, tf.constant(p["w"], tf.float32)) + tf.constant(p["b"], tf.float32)
    return x


def export_tflite(model: Any, meta: dict, calib: np.ndarray, out: Path) -> Path:
    """Write a full-integer (int8 in, int8 out) TFLite model of `model` to `out`.

    `calib` holds normalised training windows in torch layout (N, C, T); they drive the
    converter's representative dataset and the float parity check. Returns `out`.
    """
    import torch

    calib = np.asarray(calib, dtype=np.float32)
    if calib.ndim != 3 or calib.shape[0] < 1:
        raise ExportError(f"calib must be (N, C, T) windows, got shape {calib.shape}")
    n_ch, window = int(calib.shape[1]), int(calib.shape[2])
    if meta.get("window", window) != window or meta.get("in_channels", n_ch) != n_ch:
        raise ExportError("calib shape does not match meta window/in_channels")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ExportError("TFLite export needs TensorFlow: pip install -e .[tflite]") from exc

    layers = _layers_from_torch(model, n_ch, window)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(calib[:256])).numpy().reshape(min(256, len(calib)), -1)
    mirror = _tf_forward(layers, tf.constant(calib[:256].transpose(0, 2, 1))).numpy()
    span = max(float(np.ptp(ref)), 1e-6)
    err = float(np.max(np.abs(mirror - ref)))
    if err > FLOAT_PARITY_TOL * span:
        raise ExportError(f"float mirror differs from torch by {err:.3g} (range {span:.3g})")

    @tf.function(input_signature=[tf.TensorSpec([1, window, n_ch], tf.float32, name="x")])
    def forward(x):
        return _tf_forward(layers, x)

    rng = np.random.default_rng(0)
    pick = rng.permutation(len(calib))[:500]

    def representative():
        for i in pick:
            yield [calib[i].T[None].copy()]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([forward.get_concrete_function()])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    blob = conv.convert()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return out


def quantize_input(windows: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Normalised float windows (N, C, T) -> int8 model input (N, T, C), as TFLite quantizes."""
    q = np.round(np.asarray(windows, np.float32).transpose(0, 2, 1) / np.float32(scale))
    return np.clip(q + zero_point, -128, 127).astype(np.int8)


def run_tflite(tflite: Path, windows_int8: np.ndarray, reference_kernels: bool = False) -> np.ndarray:
    """Run an int8 TFLite model in ai-edge-litert on (N, T, C) int8 windows; int8 (N, n_out).

    `reference_kernels` selects TFLite's reference kernels (BUILTIN_REF); the default is the
    builtin optimized kernels without delegates (XNNPACK off, so int8 math is TFLite's own).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kind = OpResolverType.BUILTIN_REF if reference_kernels else (
        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it = Interpreter(model_path=str(tflite), experimental_op_resolver_type=kind, num_threads=1)
    it.allocate_tensors()
    inp, outp = it.get_input_details()[0], it.get_output_details()[0]
    res = np.empty((len(windows_int8), int(np.prod(outp["shape"][1:]))), np.int8)
    for i, w in enumerate(windows_int8):
        it.set_tensor(inp["index"], w.reshape(inp["shape"]).astype(np.int8))
        it.invoke()
        res[i] = it.get_tensor(outp["index"]).reshape(-1)
    return res
