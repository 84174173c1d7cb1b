"""A generic PyTorch module built from a TFLite model description (:mod:`.tflite_reader`).

:class:`TFLiteModule` turns every operator of a float TFLite graph into PyTorch operations with the same
semantics; constant weights become parameters (convolution / fully-connected weights and biases, PReLU slopes) or
buffers (other constants) in PyTorch layout.

Layout: TFLite tensors are NHWC. Inside the module every rank-4 activation is held as an NCHW tensor, in
channels-last memory format like the convolution weights (oneDNN's fast path on the CPU, about 2x faster than
contiguous NCHW for the palm detector). A rank-4 input is converted once at the start; tensors go back to TFLite's
NHWC memory order only where the semantics need it (RESHAPE, FULLY_CONNECTED, CONCATENATION / MEAN mixed with
other ranks, TRANSPOSE, and the outputs). Axis arguments (CONCATENATION ``axis``, MEAN axes, PAD paddings,
broadcast constants) are remapped to NCHW. ``padding="SAME"`` is TensorFlow's asymmetric padding (the extra row /
column at the bottom / right); it is applied explicitly (``F.pad``) when the two sides differ. RESIZE_BILINEAR
honours ``align_corners`` and ``half_pixel_centers`` (the TF1 legacy mode, both false, runs as two small
interpolation matrix products).

Call convention::

    module = TFLiteModule(read_tflite("hand_landmark_full.tflite"))      # input_layout="NHWC" (TFLite's own)
    landmarks, presence, handedness, world = module(x)                    # x float32 (B, 224, 224, 3) in [0, 1]

``forward(*inputs)`` takes one float tensor per graph input (rank-4 ones in ``input_layout``: ``"NHWC"`` as the
TFLite model, (B, H, W, C), or ``"NCHW"``, (B, C, H, W)) and returns a tuple with one tensor per selected output,
in the graph's output order, in the TFLite output shapes (rank-4 outputs as NCHW if ``output_layout="NCHW"``).
The batch size may differ from the file's 1 when every RESHAPE keeps the batch axis first (true for the MediaPipe
models). :meth:`TFLiteModule.features` returns intermediate tensors by name; ``TFLiteModule(desc,
outputs=[names])`` builds only the part of the graph those tensors need (a backbone cut at some stride).

Hand-landmark encoder features (``hand_landmark_full``, input 224 x 224; found by shape with
:func:`encoder_stride_features`, NHWC shapes; block outputs of the MobileNetV2-like encoder)::

    stride  2  (1, 112, 112,  16)  model_1/model/batch_normalization_2/FusedBatchNormV3;model_1/model/conv2d_1/Conv2D1
    stride  4  (1,  56,  56,  24)  model_1/model/add/add
    stride  8  (1,  28,  28,  40)  model_1/model/add_1/add
    stride 16  (1,  14,  14, 112)  model_1/model/add_5/add
    stride 32  (1,   7,   7, 192)  model_1/model/add_8/add
               (1,   7,   7, 1152) the expanded last feature map that feeds the global average pooling (MEAN)

(the full names are in :data:`.mediapipe_wheel.MODELS`; :func:`encoder_stride_features` recomputes them).

The module is traceable (``torch.jit.trace``) and exports with ``torch.onnx.export`` (opset 17, see
:func:`export_onnx`). :func:`save_module` / :func:`load_module` store the (possibly fine-tuned) state dict in a
``.pt`` file that refers to the ``.tflite`` kept beside it (the graph is rebuilt from that file, whose sha256 is
checked).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..fileio import atomic_output
from .graph_spec import needed_operators
from .tflite_reader import (
    ModelDescription,
    OperatorInfo,
    TensorInfo,
    UnsupportedOperatorError,
    _format_problems,
    read_tflite,
)

__all__ = [
    "SUPPORTED_OPS",
    "TFLiteModule",
    "encoder_stride_features",
    "export_onnx",
    "save_module",
    "load_module",
    "PT_FORMAT",
    "PT_FORMAT_VERSION",
]

PT_FORMAT = "hand_pose_25d.pretrained.tflite_torch"
PT_FORMAT_VERSION = 1

_NCHW = "nchw"  # a rank-4 TFLite NHWC tensor held permuted to NCHW
_NATIVE = "native"  # held exactly as TFLite has it
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}

_UNARY: Dict[str, Callable[[Tensor], Tensor]] = {
    "LOGISTIC": torch.sigmoid,
    "TANH": torch.tanh,
    "RELU": F.relu,
    "RELU6": lambda x: torch.clamp(x, 0.0, 6.0),
    "RELU_N1_TO_1": lambda x: torch.clamp(x, -1.0, 1.0),
    "RELU_0_TO_1": lambda x: torch.clamp(x, 0.0, 1.0),
    "HARD_SWISH": F.hardswish,
    "ELU": F.elu,
    "EXP": torch.exp,
    "ABS": torch.abs,
    "NEG": torch.neg,
    "SQRT": torch.sqrt,
    "RSQRT": torch.rsqrt,
    "SQUARE": lambda x: x * x,
}
_BINARY: Dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "ADD": torch.add,
    "SUB": torch.sub,
    "MUL": torch.mul,
    "DIV": torch.div,
    "MAXIMUM": torch.maximum,
    "MINIMUM": torch.minimum,
    "SQUARED_DIFFERENCE": lambda a, b: (a - b) * (a - b),
}
_ACTIVATIONS: Dict[str, Optional[Callable[[Tensor], Tensor]]] = {
    "NONE": None,
    "RELU": F.relu,
    "RELU6": lambda x: torch.clamp(x, 0.0, 6.0),
    "RELU_N1_TO_1": lambda x: torch.clamp(x, -1.0, 1.0),
    "TANH": torch.tanh,
}
_BLOCK_ACTIVATIONS = ("PRELU", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH")
_RESHAPES = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
_OTHER = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "PRELU",
    "LEAKY_RELU",
    "GELU",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "PAD",
    "PADV2",
    "RESIZE_BILINEAR",
    "CONCATENATION",
    "MEAN",
    "SUM",
    "REDUCE_MAX",
    "SOFTMAX",
    "TRANSPOSE",
)
SUPPORTED_OPS: Tuple[str, ...] = tuple(sorted(set(_UNARY) | set(_BINARY) | set(_RESHAPES) | set(_OTHER)))


class _Unsupported(Exception):
    """Internal: an operator's settings are not implemented (collected into one UnsupportedOperatorError)."""


# --------------------------------------------------------------------------------------------------------------
# operator modules: each takes its activation inputs (already in the layout it asked for) and returns one tensor


def _activation(name: str) -> Optional[Callable[[Tensor], Tensor]]:
    if name not in _ACTIVATIONS:
        raise _Unsupported(f"fused activation {name}")
    return _ACTIVATIONS[name]


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> Tuple[int, int]:
    """TensorFlow SAME padding (before, after) along one axis: output = ceil(size / stride), extra at the end."""
    eff = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _spatial_pads(
    op: OperatorInfo, hw: Tuple[int, int], kernel: Tuple[int, int], stride: Tuple[int, int], dil: Tuple[int, int]
) -> Tuple[int, int, int, int]:
    """(top, bottom, left, right) for the operator's ``padding`` option."""
    padding = op.options.get("padding", "VALID")
    if padding == "VALID":
        return 0, 0, 0, 0
    if padding != "SAME":
        raise _Unsupported(f"padding {padding}")
    t, b = _same_pads(hw[0], kernel[0], stride[0], dil[0])
    left, right = _same_pads(hw[1], kernel[1], stride[1], dil[1])
    return t, b, left, right


class _Conv(nn.Module):
    """CONV_2D / DEPTHWISE_CONV_2D on NCHW: weight (O, I/groups, KH, KW), bias (O,), TF padding, fused activation."""

    def __init__(
        self,
        weight: np.ndarray,
        bias: Optional[np.ndarray],
        stride: Tuple[int, int],
        dilation: Tuple[int, int],
        groups: int,
        pads: Tuple[int, int, int, int],
        act: str,
    ) -> None:
        super().__init__()
        # channels-last weights (and activations): oneDNN's fast path for (depthwise) convolutions on the CPU
        w = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)).contiguous(
            memory_format=torch.channels_last
        )
        self.weight = nn.Parameter(w)
        self.bias = (
            nn.Parameter(torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))) if bias is not None else None
        )
        self.stride, self.dilation, self.groups = stride, dilation, groups
        top, bottom, left, right = pads
        if top == bottom and left == right:
            self.padding, self.pre_pad = (top, left), None
        else:
            self.padding, self.pre_pad = (0, 0), (left, right, top, bottom)
        self.act = _activation(act)

    def forward(self, x: Tensor) -> Tensor:
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return self.act(y) if self.act is not None else y


class _FullyConnected(nn.Module):
    """FULLY_CONNECTED on TFLite layout: weight (O, I), bias (O,); flattens to (-1, I) unless keep_num_dims."""

    def __init__(self, weight: np.ndarray, bias: Optional[np.ndarray], keep_num_dims: bool, act: str) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)))
        self.bias = (
            nn.Parameter(torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))) if bias is not None else None
        )
        self.in_features = int(weight.shape[1])
        self.keep_num_dims = keep_num_dims
        self.act = _activation(act)

    def forward(self, x: Tensor) -> Tensor:
        if not self.keep_num_dims:
            x = x.reshape(-1, self.in_features)
        y = F.linear(x, self.weight, self.bias)
        return self.act(y) if self.act is not None else y


class _Unary(nn.Module):
    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


class _LeakyRelu(nn.Module):
    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.alpha)


class _Gelu(nn.Module):
    def __init__(self, approximate: bool) -> None:
        super().__init__()
        self.approximate = "tanh" if approximate else "none"

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)


class _Binary(nn.Module):
    """Element-wise binary op with broadcasting; a constant operand is a buffer already in the working layout."""

    def __init__(
        self,
        fn: Callable[[Tensor, Tensor], Tensor],
        const_a: Optional[np.ndarray],
        const_b: Optional[np.ndarray],
        act: str,
    ) -> None:
        super().__init__()
        self.fn = fn
        self.register_buffer(
            "const_a", torch.from_numpy(np.ascontiguousarray(const_a, np.float32)) if const_a is not None else None
        )
        self.register_buffer(
            "const_b", torch.from_numpy(np.ascontiguousarray(const_b, np.float32)) if const_b is not None else None
        )
        self.act = _activation(act)

    def forward(self, *xs: Tensor) -> Tensor:
        it = iter(xs)
        a = self.const_a if self.const_a is not None else next(it)
        b = self.const_b if self.const_b is not None else next(it)
        y = self.fn(a, b)
        return self.act(y) if self.act is not None else y


class _PRelu(nn.Module):
    """PRELU: x if x >= 0 else alpha * x. ``alpha`` per channel (C,) uses F.prelu on NCHW, else broadcasting."""

    def __init__(self, alpha: np.ndarray, per_channel: bool) -> None:
        super().__init__()
        self.per_channel = per_channel
        self.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(alpha, np.float32)))

    def forward(self, x: Tensor) -> Tensor:
        if self.per_channel:
            if torch.onnx.is_in_onnx_export():
                # relu(x) - alpha * relu(-x) with the two per-channel products as depthwise 1x1 convolutions: ONNX
                # Runtime keeps those in its blocked (NCHWc) layout, where a PRelu node costs a layout reorder
                # before and after it (palm detector: 1.5x faster on 2 cores, see docs/benchmarks.md)
                c = self.weight.numel()
                neg = F.relu(F.conv2d(x, -torch.ones(c, 1, 1, 1, dtype=x.dtype), groups=c))
                return F.relu(x) + F.conv2d(neg, -self.weight.view(c, 1, 1, 1), groups=c)
            return F.prelu(x, self.weight)
        return torch.where(x >= 0, x, x * self.weight)


class _Pool(nn.Module):
    """MAX_POOL_2D / AVERAGE_POOL_2D on NCHW with TF padding (padded cells never count, as in TFLite)."""

    def __init__(
        self,
        kind: str,
        kernel: Tuple[int, int],
        stride: Tuple[int, int],
        pads: Tuple[int, int, int, int],
        in_hw: Tuple[int, int],
        act: str,
    ) -> None:
        super().__init__()
        self.kind, self.kernel, self.stride = kind, kernel, stride
        t, b, left, right = pads
        self.pre_pad = (left, right, t, b) if any(pads) else None
        scale = None
        if kind == "avg" and any(pads):
            # TFLite averages over the valid cells only: rescale a zero-padded average by (kh*kw) / count
            ones = np.pad(np.ones(in_hw, np.float64), ((t, b), (left, right)))
            win = np.lib.stride_tricks.sliding_window_view(ones, kernel)[:: stride[0], :: stride[1]]
            scale = (kernel[0] * kernel[1] / win.sum(axis=(-1, -2)))[None, None].astype(np.float32)
        self.register_buffer("scale", torch.from_numpy(scale) if scale is not None else None)
        self.act = _activation(act)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "max":
            if self.pre_pad is not None:
                x = F.pad(x, self.pre_pad, value=float("-inf"))
            y = F.max_pool2d(x, self.kernel, self.stride)
        else:
            if self.pre_pad is not None:
                x = F.pad(x, self.pre_pad)
            y = F.avg_pool2d(x, self.kernel, self.stride)
            if self.scale is not None:
                y = y * self.scale
        return self.act(y) if self.act is not None else y


class _Pad(nn.Module):
    def __init__(self, pads: Sequence[int], value: float) -> None:
        super().__init__()
        self.pads, self.value = tuple(int(p) for p in pads), float(value)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.pads, value=self.value)


def _bilinear_matrix(n_in: int, n_out: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """(n_out, n_in) interpolation weights of TFLite's RESIZE_BILINEAR along one axis."""
    if align_corners and n_out > 1:
        scale = (n_in - 1) / (n_out - 1)
    else:
        scale = n_in / n_out
    m = np.zeros((n_out, n_in), np.float64)
    for o in range(n_out):
        src = (o + 0.5) * scale - 0.5 if half_pixel else o * scale
        lo = math.floor(src)
        frac = src - lo
        i0, i1 = min(max(lo, 0), n_in - 1), min(max(lo + 1, 0), n_in - 1)
        m[o, i0] += 1.0 - frac
        m[o, i1] += frac
    return m


class _ResizeBilinear(nn.Module):
    """RESIZE_BILINEAR on NCHW: F.interpolate for align_corners / half-pixel, interpolation matrices for TF1 legacy."""

    def __init__(self, in_hw: Tuple[int, int], out_hw: Tuple[int, int], align_corners: bool, half_pixel: bool) -> None:
        super().__init__()
        self.size = (int(out_hw[0]), int(out_hw[1]))
        self.mode = "align_corners" if align_corners else ("half_pixel" if half_pixel else "legacy")
        if self.mode == "legacy":
            self.register_buffer(
                "ry", torch.from_numpy(_bilinear_matrix(in_hw[0], out_hw[0], False, False).astype(np.float32))
            )
            self.register_buffer(
                "rxt", torch.from_numpy(_bilinear_matrix(in_hw[1], out_hw[1], False, False).T.astype(np.float32).copy())
            )
        else:
            self.ry = self.rxt = None

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "legacy":
            return torch.matmul(torch.matmul(self.ry, x), self.rxt)
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=self.mode == "align_corners")


class _Reshape(nn.Module):
    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(self.shape)


class _Concat(nn.Module):
    def __init__(self, axis: int, act: str) -> None:
        super().__init__()
        self.axis = axis
        self.act = _activation(act)

    def forward(self, *xs: Tensor) -> Tensor:
        y = torch.cat(xs, dim=self.axis)
        return self.act(y) if self.act is not None else y


class _Reduce(nn.Module):
    def __init__(self, kind: str, axes: Sequence[int], keep_dims: bool, perm: Optional[Sequence[int]]) -> None:
        super().__init__()
        self.kind, self.axes, self.keep_dims = kind, tuple(int(a) for a in axes), keep_dims
        self.perm = tuple(perm) if perm is not None else None

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "MEAN":
            y = torch.mean(x, dim=self.axes, keepdim=self.keep_dims)
        elif self.kind == "SUM":
            y = torch.sum(x, dim=self.axes, keepdim=self.keep_dims)
        else:
            y = torch.amax(x, dim=self.axes, keepdim=self.keep_dims)
        return y.permute(self.perm) if self.perm is not None else y


class _Softmax(nn.Module):
    def __init__(self, beta: float, dim: int) -> None:
        super().__init__()
        self.beta, self.dim = float(beta), dim

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(x * self.beta if self.beta != 1.0 else x, dim=self.dim)


class _Transpose(nn.Module):
    def __init__(self, perm: Sequence[int]) -> None:
        super().__init__()
        self.perm = tuple(int(p) for p in perm)

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(self.perm)


# --------------------------------------------------------------------------------------------------------------


def _to_layout(x: Tensor, have: str, want: str) -> Tensor:
    if have == want or x.dim() != 4:
        return x
    return x.permute(0, 3, 1, 2) if want == _NCHW else x.permute(0, 2, 3, 1)


def _const_to_nchw(c: np.ndarray) -> np.ndarray:
    """A constant that broadcasts against an NHWC rank-4 tensor -> the same constant for the NCHW tensor."""
    if c.ndim > 4:
        raise _Unsupported(f"constant of rank {c.ndim} broadcast against a rank-4 tensor")
    c4 = c.reshape((1,) * (4 - c.ndim) + c.shape)
    return np.ascontiguousarray(c4.transpose(0, 3, 1, 2))


class TFLiteModule(nn.Module):
    """PyTorch version of a float TFLite graph (see the module docstring for layouts and the call convention).

    Args:
        desc: the model, from :func:`.tflite_reader.read_tflite` (DEQUANTIZE of constants folded).
        input_layout: ``"NHWC"`` (TFLite's, (B, H, W, C)) or ``"NCHW"`` ((B, C, H, W)) for rank-4 graph inputs.
        outputs: tensor names (or indices) to return instead of the graph outputs; only the operators they
            need are built (their parameters only). Default: the graph outputs.
        output_layout: ``"NHWC"`` (TFLite shapes) or ``"NCHW"`` for rank-4 outputs.

    Raises:
        UnsupportedOperatorError: the graph has operators (or settings: a non-constant weight, an int8 activation,
            a SIGN_BIT activation ...) that are not implemented; the message lists all of them with their places.
    """

    def __init__(
        self,
        desc: ModelDescription,
        *,
        input_layout: str = "NHWC",
        outputs: Optional[Sequence[Union[str, int]]] = None,
        output_layout: str = "NHWC",
    ) -> None:
        super().__init__()
        if input_layout not in ("NHWC", "NCHW") or output_layout not in ("NHWC", "NCHW"):
            raise ValueError(
                f"input_layout / output_layout must be 'NHWC' or 'NCHW', got {input_layout!r} / {output_layout!r}"
            )
        self.input_layout, self.output_layout = input_layout, output_layout
        self.source = desc.source
        self.input_indices: Tuple[int, ...] = tuple(desc.inputs)
        self.output_indices: Tuple[int, ...] = (
            tuple(desc.outputs) if outputs is None else tuple(desc.tensor(o).index for o in outputs)
        )
        self.tensor_names: Dict[int, str] = {t.index: t.name for t in desc.tensors}
        self.tensor_shapes: Dict[int, Tuple[int, ...]] = {t.index: tuple(t.shape) for t in desc.tensors}
        self._index_by_name: Dict[str, int] = {t.name: t.index for t in desc.tensors}
        for i in self.input_indices:
            t = desc.tensors[i]
            if t.dtype != "float32":
                raise UnsupportedOperatorError(
                    f"{desc.source}: graph input {t.name!r} is {t.dtype}; only float32 graphs are supported "
                    f"(quantized / integer models are not)"
                )
        for o in self.output_indices:
            if desc.tensors[o].data is not None:
                raise ValueError(f"{desc.source}: output {desc.tensors[o].name!r} is a constant, not computed")

        ops = needed_operators(desc, self.output_indices)
        layouts: Dict[int, str] = {
            i: (_NCHW if len(desc.tensors[i].shape) == 4 else _NATIVE) for i in self.input_indices
        }
        self.ops = nn.ModuleDict()
        # plan: (module key, activation input indices, required layouts, output index, output layout)
        self._plan: List[Tuple[str, Tuple[int, ...], Tuple[str, ...], int, str]] = []
        problems: List[Tuple[int, str, str, str]] = []
        for op in ops:
            out_name = desc.tensors[op.outputs[0]].name if op.outputs else "?"
            try:
                module, act_in, req, out_layout = self._build_op(desc, op, layouts)
            except _Unsupported as exc:
                problems.append((op.index, op.opcode, out_name, str(exc) or "operator not implemented"))
                for o in op.outputs:  # keep building, to report every problem at once
                    layouts[o] = _NCHW if len(desc.tensors[o].shape) == 4 else _NATIVE
                continue
            key = f"{op.opcode.lower()}_{op.index}"
            self.ops[key] = module
            self._plan.append((key, act_in, req, op.outputs[0], out_layout))
            layouts[op.outputs[0]] = out_layout
        if problems:
            raise UnsupportedOperatorError(_format_problems(desc.source, problems, SUPPORTED_OPS), problems)
        self._layouts = layouts
        # last use of every tensor (for freeing intermediate results early)
        last: Dict[int, int] = {}
        for step, (_, act_in, _, _, _) in enumerate(self._plan):
            for i in act_in:
                last[i] = step
        self._last_use = last

    # ---------------------------------------------------------------------------------------------- building
    def _build_op(self, desc: ModelDescription, op: OperatorInfo, layouts: Dict[int, str]):
        """-> (module, activation input indices, required input layouts, output layout)."""
        T = desc.tensors
        code, opt = op.opcode, op.options
        if len(op.outputs) != 1:
            raise _Unsupported(f"{len(op.outputs)} outputs")
        out = T[op.outputs[0]]
        if out.dtype != "float32":
            raise _Unsupported(f"output dtype {out.dtype} (only float32 graphs are supported)")
        ins = [T[i] if i >= 0 else None for i in op.inputs]

        def const(k: int, what: str) -> np.ndarray:
            if k >= len(ins) or ins[k] is None or ins[k].data is None:
                raise _Unsupported(f"{what} (input {k}) is not a constant")
            return ins[k].data

        def act_input(k: int) -> TensorInfo:
            t = ins[k] if k < len(ins) else None
            if t is None or t.data is not None:
                raise _Unsupported(f"input {k} is expected to be a computed tensor")
            if t.dtype != "float32":
                raise _Unsupported(f"input {t.name!r} is {t.dtype}")
            return t

        if code in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x = act_input(0)
            if len(x.shape) != 4:
                raise _Unsupported(f"input of rank {len(x.shape)}")
            w = const(1, "weight").astype(np.float32)
            bias = const(2, "bias").astype(np.float32) if len(ins) > 2 and ins[2] is not None else None
            c_in = x.shape[3]
            if code == "CONV_2D":  # OHWI -> OIHW
                weight = w.transpose(0, 3, 1, 2)
                if c_in % w.shape[3]:
                    raise _Unsupported(f"input channels {c_in} not a multiple of the kernel's {w.shape[3]}")
                groups = c_in // w.shape[3]
            else:  # 1HW(C*M) -> (C*M)1HW; output channel o reads input channel o // M, as PyTorch's groups=C
                weight = w[0].transpose(2, 0, 1)[:, None]
                groups = c_in
                if w.shape[3] % c_in:
                    raise _Unsupported(
                        f"depthwise weight channels {w.shape[3]} not a multiple of input channels {c_in}"
                    )
            kernel = (int(w.shape[1]), int(w.shape[2]))
            stride = (int(opt.get("stride_h", 1)), int(opt.get("stride_w", 1)))
            dil = (int(opt.get("dilation_h_factor", 1)), int(opt.get("dilation_w_factor", 1)))
            pads = _spatial_pads(op, (x.shape[1], x.shape[2]), kernel, stride, dil)
            module = _Conv(weight, bias, stride, dil, groups, pads, opt.get("fused_activation_function", "NONE"))
            return module, (x.index,), (_NCHW,), _NCHW

        if code == "FULLY_CONNECTED":
            x = act_input(0)
            if opt.get("weights_format", "DEFAULT") != "DEFAULT":
                raise _Unsupported(f"weights_format {opt.get('weights_format')}")
            w = const(1, "weight").astype(np.float32)
            bias = const(2, "bias").astype(np.float32) if len(ins) > 2 and ins[2] is not None else None
            keep = bool(opt.get("keep_num_dims", False))
            module = _FullyConnected(w, bias, keep, opt.get("fused_activation_function", "NONE"))
            return module, (x.index,), (_NATIVE,), _NATIVE

        if code in _UNARY or code in ("LEAKY_RELU", "GELU"):
            x = act_input(0)
            if code == "LEAKY_RELU":
                module: nn.Module = _LeakyRelu(opt.get("alpha", 0.2))
            elif code == "GELU":
                module = _Gelu(bool(opt.get("approximate", False)))
            else:
                module = _Unary(_UNARY[code])
            lay = layouts[x.index]
            return module, (x.index,), (lay,), lay

        if code in _BINARY:
            if len(ins) != 2 or any(t is None for t in ins):
                raise _Unsupported("expected two inputs")
            acts = [t for t in ins if t.data is None]
            if not acts:
                raise _Unsupported("both inputs are constants")
            for t in acts:
                if t.dtype != "float32":
                    raise _Unsupported(f"input {t.name!r} is {t.dtype}")
            nchw = len(out.shape) == 4 and all(len(t.shape) == 4 for t in acts)
            consts = []
            for t in ins:
                if t.data is None:
                    consts.append(None)
                else:
                    c = t.data.astype(np.float32)
                    consts.append(_const_to_nchw(c) if nchw else c)
            module = _Binary(_BINARY[code], consts[0], consts[1], opt.get("fused_activation_function", "NONE"))
            lay = _NCHW if nchw else _NATIVE
            return module, tuple(t.index for t in acts), tuple(lay for _ in acts), lay

        if code == "PRELU":
            x = act_input(0)
            alpha = const(1, "alpha").astype(np.float32)
            if len(x.shape) == 4:
                squeezed = alpha.reshape(-1) if alpha.ndim == 0 or all(s == 1 for s in alpha.shape[:-1]) else None
                if squeezed is not None and squeezed.size in (1, x.shape[3]):
                    return _PRelu(squeezed, True), (x.index,), (_NCHW,), _NCHW
                return _PRelu(_const_to_nchw(alpha), False), (x.index,), (_NCHW,), _NCHW
            return _PRelu(alpha, False), (x.index,), (_NATIVE,), _NATIVE

        if code in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            x = act_input(0)
            kernel = (int(opt["filter_height"]), int(opt["filter_width"]))
            stride = (int(opt.get("stride_h", 1)), int(opt.get("stride_w", 1)))
            pads = _spatial_pads(op, (x.shape[1], x.shape[2]), kernel, stride, (1, 1))
            kind = "max" if code == "MAX_POOL_2D" else "avg"
            module = _Pool(
                kind, kernel, stride, pads, (x.shape[1], x.shape[2]), opt.get("fused_activation_function", "NONE")
            )
            return module, (x.index,), (_NCHW,), _NCHW

        if code in ("PAD", "PADV2"):
            x = act_input(0)
            p = const(1, "paddings").astype(np.int64).reshape(-1, 2)
            value = (
                float(const(2, "constant value").reshape(-1)[0])
                if code == "PADV2" and len(ins) > 2 and ins[2] is not None
                else 0.0
            )
            if len(x.shape) == 4:
                p = p[[0, 3, 1, 2]]
                lay = _NCHW
            else:
                lay = _NATIVE
            flat = [int(v) for pair in p[::-1] for v in pair]  # F.pad: last axis first
            return _Pad(flat, value), (x.index,), (lay,), lay

        if code == "RESIZE_BILINEAR":
            x = act_input(0)
            size = const(1, "size").reshape(-1)
            if tuple(int(s) for s in size) != (out.shape[1], out.shape[2]):
                raise _Unsupported(f"size {list(size)} does not match the output shape {list(out.shape)}")
            module = _ResizeBilinear(
                (x.shape[1], x.shape[2]),
                (out.shape[1], out.shape[2]),
                bool(opt.get("align_corners", False)),
                bool(opt.get("half_pixel_centers", False)),
            )
            return module, (x.index,), (_NCHW,), _NCHW

        if code in _RESHAPES:
            x = act_input(0)
            shape = list(out.shape)
            if shape and x.shape and shape[0] == 1 and x.shape[0] == 1:
                shape[0] = -1  # keep the batch axis dynamic
            return _Reshape(shape), (x.index,), (_NATIVE,), _NATIVE

        if code == "CONCATENATION":
            acts = [act_input(k) for k in range(len(ins))]
            rank = len(out.shape)
            axis = int(opt.get("axis", 0))
            axis = axis + rank if axis < 0 else axis
            nchw = rank == 4 and all(len(t.shape) == 4 for t in acts)
            dim = _NHWC_TO_NCHW_AXIS[axis] if nchw else axis
            lay = _NCHW if nchw else _NATIVE
            module = _Concat(dim, opt.get("fused_activation_function", "NONE"))
            return module, tuple(t.index for t in acts), tuple(lay for _ in acts), lay

        if code in ("MEAN", "SUM", "REDUCE_MAX"):
            x = act_input(0)
            rank = len(x.shape)
            axes = sorted({int(a) + rank if int(a) < 0 else int(a) for a in const(1, "axes").reshape(-1)})
            keep = bool(opt.get("keep_dims", False))
            if rank == 4:
                dims = [_NHWC_TO_NCHW_AXIS[a] for a in axes]
                perm = None
                if not keep:
                    kept_nhwc = [a for a in range(4) if a not in axes]  # order TFLite wants
                    kept_pos = sorted(_NHWC_TO_NCHW_AXIS[a] for a in kept_nhwc)  # order torch produces
                    perm_list = [kept_pos.index(_NHWC_TO_NCHW_AXIS[a]) for a in kept_nhwc]
                    perm = perm_list if perm_list != sorted(perm_list) else None
                module = _Reduce(code, dims, keep, perm)
                return module, (x.index,), (_NCHW,), (_NCHW if keep else _NATIVE)
            return _Reduce(code, axes, keep, None), (x.index,), (_NATIVE,), _NATIVE

        if code == "SOFTMAX":
            x = act_input(0)
            beta = float(opt.get("beta", 1.0))
            if len(x.shape) == 4:
                return _Softmax(beta, 1), (x.index,), (_NCHW,), _NCHW
            return _Softmax(beta, -1), (x.index,), (_NATIVE,), _NATIVE

        if code == "TRANSPOSE":
            x = act_input(0)
            perm = const(1, "perm").reshape(-1)
            return _Transpose(perm), (x.index,), (_NATIVE,), _NATIVE

        raise _Unsupported("operator not implemented")

    # ---------------------------------------------------------------------------------------------- running
    def _check_inputs(self, inputs: Sequence[Tensor]) -> None:
        if len(inputs) != len(self.input_indices):
            raise ValueError(f"{self.source}: expected {len(self.input_indices)} input tensor(s), got {len(inputs)}")
        for x, idx in zip(inputs, self.input_indices):
            shape = self.tensor_shapes[idx]
            if len(shape) == 4 and self.input_layout == "NCHW":
                shape = (shape[0], shape[3], shape[1], shape[2])
            if (
                not isinstance(x, Tensor)
                or not x.is_floating_point()
                or x.dim() != len(shape)
                or tuple(x.shape[1:]) != tuple(shape[1:])
            ):
                got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
                want = "(B, " + ", ".join(str(s) for s in shape[1:]) + ")"
                raise ValueError(
                    f"{self.source}: input {self.tensor_names[idx]!r} must be a float tensor {want} "
                    f"({self.input_layout if len(shape) == 4 else 'as in the TFLite model'}), got {got}"
                )

    def _run(self, inputs: Sequence[Tensor], keep: Iterable[int]) -> Dict[int, Tuple[Tensor, str]]:
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            self._check_inputs(inputs)
        keep = set(keep)
        env: Dict[int, Tuple[Tensor, str]] = {}
        for x, idx in zip(inputs, self.input_indices):
            x = x.float()
            if x.dim() == 4:
                if self.input_layout == "NHWC":
                    x = x.permute(0, 3, 1, 2)
                env[idx] = (x.contiguous(memory_format=torch.channels_last), _NCHW)
            else:
                env[idx] = (x, _NATIVE)
        stop = self._stop_step(keep)
        for step, (key, act_in, req, out_idx, out_layout) in enumerate(self._plan):
            if step > stop:
                break
            args = [_to_layout(env[i][0], env[i][1], want) for i, want in zip(act_in, req)]
            env[out_idx] = (self.ops[key](*args), out_layout)
            for i in act_in:
                if self._last_use.get(i) == step and i not in keep:
                    env.pop(i, None)
        return env

    def _stop_step(self, keep: Iterable[int]) -> int:
        producer_step = {out: s for s, (_, _, _, out, _) in enumerate(self._plan)}
        return max((producer_step.get(i, -1) for i in keep), default=len(self._plan) - 1)

    def _deliver(self, env: Dict[int, Tuple[Tensor, str]], idx: int, layout: str) -> Tensor:
        t, have = env[idx]
        return _to_layout(t, have, _NCHW if layout == "NCHW" else _NATIVE)

    def forward(self, *inputs: Tensor) -> Tuple[Tensor, ...]:
        """Float input(s) (rank-4 ones in ``input_layout``) -> tuple of the selected outputs (see the class doc)."""
        env = self._run(inputs, keep=self.output_indices)
        return tuple(self._deliver(env, i, self.output_layout) for i in self.output_indices)

    def features(
        self, x: Union[Tensor, Sequence[Tensor]], names: Sequence[Union[str, int]], layout: str = "NCHW"
    ) -> Dict[str, Tensor]:
        """Intermediate tensors by name: ``{name: tensor}``; rank-4 ones in ``layout`` (``"NCHW"`` or ``"NHWC"``).

        Only the operators up to the last one needed are run. ``x`` is the input tensor (or a sequence of them for a
        multi-input graph), as for :meth:`forward`.
        """
        if layout not in ("NCHW", "NHWC"):
            raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
        inputs = (x,) if isinstance(x, Tensor) else tuple(x)
        idx = [self.tensor_index(n) for n in names]
        built = set(self.input_indices) | {out for (_, _, _, out, _) in self._plan}
        missing = [self.tensor_names[i] for i in idx if i not in built]
        if missing:
            raise KeyError(f"{self.source}: tensors not computed by this module (cut off by 'outputs'?): {missing}")
        env = self._run(inputs, keep=idx)
        return {self.tensor_names[i]: self._deliver(env, i, layout) for i in idx}

    def tensor_index(self, name: Union[str, int]) -> int:
        """Index of the tensor called ``name`` (an int is returned as it is)."""
        if isinstance(name, int):
            return name
        if name not in self._index_by_name:
            close = [n for n in self._index_by_name if name.lower() in n.lower()][:5]
            raise KeyError(f"{self.source}: no tensor named {name!r}" + (f" (similar: {close})" if close else ""))
        return self._index_by_name[name]

    @property
    def input_names(self) -> List[str]:
        """Names of the graph inputs (TFLite names)."""
        return [self.tensor_names[i] for i in self.input_indices]

    @property
    def output_names(self) -> List[str]:
        """Names of the selected outputs (TFLite names), in the order forward returns them."""
        return [self.tensor_names[i] for i in self.output_indices]

    def example_inputs(self, batch: int = 1, seed: int = 0) -> Tuple[Tensor, ...]:
        """Uniform [0, 1) float inputs of the model's shape (``input_layout``) with batch size ``batch``."""
        g = torch.Generator().manual_seed(seed)
        out = []
        for idx in self.input_indices:
            shape = list(self.tensor_shapes[idx])
            if len(shape) == 4 and self.input_layout == "NCHW":
                shape = [shape[0], shape[3], shape[1], shape[2]]
            shape[0] = batch
            out.append(torch.rand(shape, generator=g))
        return tuple(out)

    @torch.no_grad()
    def check_shapes(self) -> None:
        """Run a batch-1 input through every built operator and compare each result's shape with the file's.

        Raises:
            RuntimeError: an operator produced a tensor of another shape than the TFLite model records.
        """
        env: Dict[int, Tuple[Tensor, str]] = {}
        for x, idx in zip(self.example_inputs(1), self.input_indices):
            env[idx] = (
                (x.permute(0, 3, 1, 2) if self.input_layout == "NHWC" else x) if x.dim() == 4 else x,
                _NCHW if x.dim() == 4 else _NATIVE,
            )
        for key, act_in, req, out_idx, out_layout in self._plan:
            args = [_to_layout(env[i][0], env[i][1], want) for i, want in zip(act_in, req)]
            y = self.ops[key](*args)
            native = tuple(_to_layout(y, out_layout, _NATIVE).shape)
            if native != tuple(self.tensor_shapes[out_idx]):
                raise RuntimeError(
                    f"{self.source}: {key} produced shape {list(native)} for {self.tensor_names[out_idx]!r}, "
                    f"the TFLite model says {list(self.tensor_shapes[out_idx])}"
                )
            env[out_idx] = (y, out_layout)


# --------------------------------------------------------------------------------------------------------------


def encoder_stride_features(desc: ModelDescription, input_index: Optional[int] = None) -> Dict[int, Dict[str, Any]]:
    """The encoder's feature map at each stride, found by shape: ``{stride: {"name", "shape", "index", ...}}``.

    Walking the operators in execution order, a rank-4 activation of spatial size (H, W) = input size / s has stride
    s; only tensors produced while no coarser stride has been reached yet count (so an FPN's upsampled maps do not).
    For each stride the entry is the *block output*: the input of the operator chain that leads into the first
    coarser map, skipping a 1x1 expansion CONV_2D in front of the downsampling operator (MobileNetV2 inverted
    residuals). The coarsest stride also gets ``"last"``: the final map at that stride (e.g. what feeds a global
    pooling). Each entry: ``name``, ``index``, ``shape`` (NHWC), and ``last_name`` / ``last_shape`` for the coarsest.
    """
    T = desc.tensors
    inp = T[input_index if input_index is not None else desc.inputs[0]]
    if len(inp.shape) != 4:
        raise ValueError(f"{desc.source}: input {inp.name!r} is not an image (shape {list(inp.shape)})")
    size = inp.shape[1]
    producer = {out: op for op in desc.operators for out in op.outputs}

    def stride_of(t: TensorInfo) -> Optional[int]:
        if t.data is not None or len(t.shape) != 4 or t.shape[1] == 0 or size % t.shape[1]:
            return None
        return size // t.shape[1]

    seq: List[Tuple[int, int]] = []  # (tensor index, stride) in the encoder part, execution order
    reached = 1
    for op in desc.operators:
        for o in op.outputs:
            s = stride_of(T[o])
            if s is None or s < reached:
                continue
            reached = max(reached, s)
            seq.append((o, s))
    result: Dict[int, Dict[str, Any]] = {}
    strides = sorted({s for _, s in seq})
    for k, s in enumerate(strides):
        at_s = [i for i, st in seq if st == s]
        if k + 1 < len(strides):
            first_coarser = next(i for i, st in seq if st > s)
            down = producer[first_coarser]
            cand = next((i for i in down.inputs if i >= 0 and T[i].data is None), at_s[-1])
            p = producer.get(cand)
            if p is not None and p.opcode == "CONV_2D":
                w = T[p.inputs[1]].data
                src = p.inputs[0]
                if w is not None and w.shape[1:3] == (1, 1) and stride_of(T[src]) == s and w.shape[0] > T[src].shape[3]:
                    cand = src
            result[s] = {"name": T[cand].name, "index": cand, "shape": tuple(T[cand].shape)}
        else:
            # coarsest stride: the block output is the last ADD at that stride if any, else the last map
            adds = [i for i in at_s if producer[i].opcode == "ADD"]
            cand = adds[-1] if adds else at_s[-1]
            while True:  # an activation right after the residual ADD belongs to the block (ADD -> PRELU)
                users = [op for op in desc.operators if cand in op.inputs]
                if (
                    len(users) == 1
                    and users[0].opcode in _BLOCK_ACTIVATIONS
                    and T[users[0].outputs[0]].shape == T[cand].shape
                ):
                    cand = users[0].outputs[0]
                else:
                    break
            result[s] = {
                "name": T[cand].name,
                "index": cand,
                "shape": tuple(T[cand].shape),
                "last_name": T[at_s[-1]].name,
                "last_index": at_s[-1],
                "last_shape": tuple(T[at_s[-1]].shape),
            }
    return result


def export_onnx(
    module: TFLiteModule,
    path: Union[str, os.PathLike],
    *,
    opset: int = 17,
    dynamic_batch: bool = True,
) -> Path:
    """Export ``module`` to ONNX (TorchScript-based exporter); input / output names are the TFLite tensor names.

    Args:
        module: the module (exported in eval mode on the CPU; its mode is restored).
        path: destination ``.onnx`` (parent folders are created; written atomically).
        opset: ONNX opset version.
        dynamic_batch: make axis 0 of every input and output dynamic (``"batch"``).

    Returns:
        The path written (it passes ``onnx.checker.check_model``).
    """

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = module.training
    module.eval()
    dummy = module.example_inputs(batch=1)
    in_names, out_names = module.input_names, module.output_names
    dynamic_axes = {n: {0: "batch"} for n in in_names + out_names} if dynamic_batch else None
    from ..model.onnx_export import trace_to_onnx

    try:
        trace_to_onnx(
            module,
            dummy,
            path,
            input_names=in_names,
            output_names=out_names,
            dynamic_axes=dynamic_axes,
            opset=opset,
            producer="hand_pose_25d.pretrained",
            doc=f"converted from {Path(module.source).name} by hand_pose_25d.pretrained.tflite_torch",
        )
    finally:
        module.train(was_training)
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_module(
    module: TFLiteModule, path: Union[str, os.PathLike], tflite_path: Union[str, os.PathLike], **extra: Any
) -> Path:
    """Save ``module``'s state dict to ``path`` (``.pt``) with a reference to ``tflite_path``.

    The ``.pt`` holds a dict ``{"format", "format_version", "tflite_file" (name relative to the .pt's folder),
    "tflite_sha256", "input_layout", "output_layout", "outputs" (tensor names), "state_dict", **extra}``; the
    graph itself is rebuilt from the ``.tflite`` by :func:`load_module`, so keep the two files together.
    """
    path, tflite_path = Path(path), Path(tflite_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        rel = os.path.relpath(tflite_path.resolve(), path.parent.resolve())
    except ValueError:  # other drive (Windows)
        rel = str(tflite_path.resolve())
    payload = {
        "format": PT_FORMAT,
        "format_version": PT_FORMAT_VERSION,
        "tflite_file": rel,
        "tflite_sha256": _sha256(tflite_path),
        "input_layout": module.input_layout,
        "output_layout": module.output_layout,
        "outputs": module.output_names,
        "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
        **extra,
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_module(path: Union[str, os.PathLike], *, check_sha256: bool = True) -> TFLiteModule:
    """Rebuild a :class:`TFLiteModule` saved by :func:`save_module` from the ``.tflite`` beside it; load its weights.

    Raises:
        FileNotFoundError: the ``.pt`` or the ``.tflite`` it refers to is missing.
        ValueError: not a file written by :func:`save_module`, or the ``.tflite`` is not the one it was saved with.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"converted model not found: {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != PT_FORMAT:
        raise ValueError(f"{path} was not written by hand_pose_25d.pretrained.tflite_torch.save_module")
    if payload.get("format_version") != PT_FORMAT_VERSION:
        raise ValueError(
            f"{path}: unsupported format_version {payload.get('format_version')!r} "
            f"(this code reads {PT_FORMAT_VERSION})"
        )
    tfl = (path.parent / payload["tflite_file"]).resolve()
    if not tfl.is_file():
        raise FileNotFoundError(f"{path} refers to {tfl}, which is missing: keep the .tflite next to the .pt")
    if check_sha256 and _sha256(tfl) != payload["tflite_sha256"]:
        raise ValueError(f"{tfl} is not the file {path} was saved with (sha256 differs)")
    module = TFLiteModule(
        read_tflite(tfl, supported=SUPPORTED_OPS),
        input_layout=payload["input_layout"],
        outputs=payload["outputs"],
        output_layout=payload["output_layout"],
    )
    module.load_state_dict(payload["state_dict"], strict=True)
    return module
