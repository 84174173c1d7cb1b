"""Parse a TFLite flatbuffer (``.tflite``) into a plain, framework-free :class:`ModelDescription`.

The description holds what a converter needs and nothing of the flatbuffer machinery:

* :class:`TensorInfo` for every tensor of the main subgraph: name, static shape (TFLite layout, i.e. NHWC for
  images), numpy dtype name, the constant data as a numpy array of that shape (``None`` for activations) and the
  quantization parameters, if any;
* :class:`OperatorInfo` for every operator in execution order: opcode name (``"CONV_2D"``, custom operators as
  ``"CUSTOM:<code>"``), input / output tensor indices (``-1`` = optional input left out) and the builtin options as a
  dict of python values. Option names are the schema's in snake case (``stride_w``, ``dilation_h_factor``,
  ``depth_multiplier``, ``align_corners``, ``half_pixel_centers``, ``axis``, ``keep_dims``, ``new_shape`` ...);
  enum options are given by name: ``padding`` is ``"SAME"`` / ``"VALID"``, ``fused_activation_function`` is
  ``"NONE"``, ``"RELU"``, ``"RELU_N1_TO_1"``, ``"RELU6"``, ``"TANH"`` or ``"SIGN_BIT"``;
* the graph's input and output tensor indices.

``DEQUANTIZE`` operators whose input is a constant (float16 weights, or int8 weights with a scale and zero point)
are folded by default: the operator disappears and its output tensor becomes a float32 constant.

Only the ``tflite`` package (flatc-generated Python, with ``flatbuffers``) is needed; it is imported lazily.
"""

from __future__ import annotations

import collections
import inspect
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "TFLITE_FILE_IDENTIFIER",
    "TFLiteFormatError",
    "UnsupportedOperatorError",
    "QuantizationInfo",
    "TensorInfo",
    "OperatorInfo",
    "ModelDescription",
    "is_tflite_flatbuffer",
    "read_tflite",
    "check_supported",
]

TFLITE_FILE_IDENTIFIER = b"TFL3"

# TensorType enum value -> numpy dtype name (None: no numpy equivalent, such a tensor cannot carry data here)
_TENSOR_TYPES: Dict[int, Tuple[str, Optional[str]]] = {
    0: ("FLOAT32", "float32"),
    1: ("FLOAT16", "float16"),
    2: ("INT32", "int32"),
    3: ("UINT8", "uint8"),
    4: ("INT64", "int64"),
    5: ("STRING", None),
    6: ("BOOL", "bool"),
    7: ("INT16", "int16"),
    8: ("COMPLEX64", "complex64"),
    9: ("INT8", "int8"),
    10: ("FLOAT64", "float64"),
    11: ("COMPLEX128", "complex128"),
    12: ("UINT64", "uint64"),
    13: ("RESOURCE", None),
    14: ("VARIANT", None),
    15: ("UINT32", "uint32"),
    16: ("UINT16", "uint16"),
    17: ("INT4", None),
    18: ("BFLOAT16", None),
}


class TFLiteFormatError(ValueError):
    """The data is not a (complete, readable) TFLite flatbuffer."""


class UnsupportedOperatorError(ValueError):
    """The model uses operators (or operator settings) that the converter does not implement.

    ``problems`` lists one ``(operator index, opcode, first output tensor name, reason)`` tuple per offending operator.
    """

    def __init__(self, message: str, problems: Sequence[Tuple[int, str, str, str]] = ()) -> None:
        super().__init__(message)
        self.problems: List[Tuple[int, str, str, str]] = list(problems)


@dataclass(frozen=True)
class QuantizationInfo:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``, per tensor or along one axis.

    ``scale`` float32 (Q,), ``zero_point`` int64 (Q,), Q = 1 (per tensor) or the size of ``quantized_dimension``.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    quantized_dimension: int = 0


@dataclass
class TensorInfo:
    """One tensor of the graph.

    Attributes:
        index: its index in the subgraph (what :attr:`OperatorInfo.inputs` refers to).
        name: the tensor name from the file (e.g. ``"input_1"``, ``"Identity"``).
        shape: the static shape in TFLite layout (NHWC for images); ``()`` for a scalar.
        dtype: numpy dtype name (``"float32"``...), or the TFLite type name where numpy has none (``"STRING"``).
        data: the constant's values, a numpy array of ``shape`` and ``dtype``; ``None`` for activations.
        quantization: scale / zero point if the tensor is quantized, else ``None``.
        shape_signature: the shape with ``-1`` for dynamic axes, when the file records one, else ``None``.
        folded_from: for a constant produced by folding a DEQUANTIZE, the index of the quantized source tensor.
    """

    index: int
    name: str
    shape: Tuple[int, ...]
    dtype: str
    data: Optional[np.ndarray] = None
    quantization: Optional[QuantizationInfo] = None
    shape_signature: Optional[Tuple[int, ...]] = None
    folded_from: Optional[int] = None

    @property
    def is_constant(self) -> bool:
        """Whether the tensor has constant data (a weight, a bias, an axis list ...)."""
        return self.data is not None


@dataclass
class OperatorInfo:
    """One operator, in execution order.

    Attributes:
        index: its position among the operators of the file's subgraph (kept when DEQUANTIZE ops are folded).
        opcode: builtin operator name, e.g. ``"CONV_2D"``; ``"CUSTOM:<custom code>"`` for custom operators.
        inputs: input tensor indices; ``-1`` marks an optional input that is left out (e.g. a missing bias).
        outputs: output tensor indices.
        options: the builtin options as python values (see the module docstring); ``{}`` when there are none.
        options_type: the schema's options table name, e.g. ``"Conv2DOptions"``, or ``"NONE"``.
        version: the operator code's version.
    """

    index: int
    opcode: str
    inputs: Tuple[int, ...]
    outputs: Tuple[int, ...]
    options: Dict[str, Any] = field(default_factory=dict)
    options_type: str = "NONE"
    version: int = 1


@dataclass
class ModelDescription:
    """A TFLite model as plain python / numpy data (main subgraph only).

    Attributes:
        tensors: every tensor of the subgraph, indexed by :attr:`TensorInfo.index`.
        operators: the operators in execution order.
        inputs: graph input tensor indices, in the file's order.
        outputs: graph output tensor indices, in the file's order.
        description: the model's description string from the file.
        schema_version: the file's schema version.
        num_subgraphs: number of subgraphs in the file (only subgraph 0 is described).
        source: where it was read from (a path or ``"<bytes>"``).
    """

    tensors: List[TensorInfo]
    operators: List[OperatorInfo]
    inputs: Tuple[int, ...]
    outputs: Tuple[int, ...]
    description: str = ""
    schema_version: int = 0
    num_subgraphs: int = 1
    source: str = "<bytes>"

    def tensor(self, name_or_index: Union[str, int]) -> TensorInfo:
        """The tensor with this name or index (``KeyError`` naming a few close names if there is none)."""
        if isinstance(name_or_index, (int, np.integer)):
            return self.tensors[int(name_or_index)]
        for t in self.tensors:
            if t.name == name_or_index:
                return t
        close = [t.name for t in self.tensors if str(name_or_index).lower() in t.name.lower()][:5]
        raise KeyError(f"{self.source}: no tensor named {name_or_index!r}" + (f" (similar: {close})" if close else ""))

    def opcode_counts(self) -> Dict[str, int]:
        """How often each opcode occurs, in order of first occurrence."""
        return dict(collections.Counter(op.opcode for op in self.operators))

    def producers(self) -> Dict[int, int]:
        """Tensor index -> position in :attr:`operators` of the operator that produces it."""
        return {out: pos for pos, op in enumerate(self.operators) for out in op.outputs}

    def summary(self) -> str:
        """A few lines: inputs, outputs (name, shape, dtype) and operator counts."""

        def fmt(idx: int) -> str:
            t = self.tensors[idx]
            return f"{t.name} {list(t.shape)} {t.dtype}"

        lines = [f"{self.source}: {len(self.operators)} operators, {len(self.tensors)} tensors"]
        lines += ["  input  " + fmt(i) for i in self.inputs] + ["  output " + fmt(i) for i in self.outputs]
        lines.append("  ops: " + ", ".join(f"{k} x{v}" for k, v in self.opcode_counts().items()))
        return "\n".join(lines)


def _import_tflite():
    try:
        import tflite  # noqa: F401  (flatc-generated schema classes)
        from tflite.utils import BUILTIN_OPCODE2NAME
    except ImportError as exc:
        raise ImportError(
            f"reading .tflite files needs the 'tflite' package (flatc-generated TFLite schema) and 'flatbuffers': "
            f"pip install tflite flatbuffers ({type(exc).__name__}: {exc})"
        ) from exc
    return tflite, BUILTIN_OPCODE2NAME


def is_tflite_flatbuffer(data: bytes) -> bool:
    """Whether ``data`` starts like a TFLite flatbuffer (file identifier ``"TFL3"`` at bytes 4:8)."""
    return len(data) >= 8 and bytes(data[4:8]) == TFLITE_FILE_IDENTIFIER


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _enum_names(cls: type) -> Dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _read_options(tflite, table, options_type_name: str) -> Dict[str, Any]:
    """Every scalar / vector field of an options table, as ``{snake_case_name: python value}``."""
    cls = getattr(tflite, options_type_name, None)
    if cls is None or table is None:
        return {}
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    enums = {
        "padding": _enum_names(tflite.Padding),
        "fused_activation_function": _enum_names(tflite.ActivationFunctionType),
    }
    if hasattr(tflite, "FullyConnectedOptionsWeightsFormat"):
        enums["weights_format"] = _enum_names(tflite.FullyConnectedOptionsWeightsFormat)
    if hasattr(tflite, "MirrorPadMode"):
        enums["mode"] = _enum_names(tflite.MirrorPadMode)
    out: Dict[str, Any] = {}
    members = {k: v for k, v in vars(cls).items() if callable(v) and k[:1].isupper()}
    for attr, fn in members.items():
        if attr in ("Init",) or attr.startswith("GetRootAs") or attr.endswith("BufferHasIdentifier"):
            continue
        if attr.endswith(("AsNumpy", "Length", "IsNone")):
            continue
        try:
            n_params = len(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            continue
        key = _snake(attr)
        if n_params == 1:
            value = getattr(obj, attr)()
            if isinstance(value, (bool, int, float)):
                out[key] = enums[key].get(int(value), int(value)) if key in enums else value
            elif isinstance(value, bytes):
                out[key] = value.decode("utf-8", "replace")
        elif n_params == 2 and attr + "AsNumpy" in members:
            if getattr(obj, attr + "IsNone")():
                continue
            arr = getattr(obj, attr + "AsNumpy")()
            out[key] = [] if isinstance(arr, int) else np.asarray(arr).tolist()
    return out


def _tensor_data(
    model, tensor, buf: bytes, shape: Tuple[int, ...], dtype: Optional[str], where: str
) -> Optional[np.ndarray]:
    """The constant data of ``tensor`` as a numpy array of ``shape`` (``None`` if it has none)."""
    bidx = tensor.Buffer()
    if bidx <= 0 or bidx >= model.BuffersLength():  # buffer 0 is the sentinel "no data" buffer
        return None
    b = model.Buffers(bidx)
    raw: Optional[np.ndarray] = None
    if not b.DataIsNone() and b.DataLength() > 0:
        raw = b.DataAsNumpy()
    elif b.Offset() > 1:  # large models keep buffers after the flatbuffer, at an absolute file offset
        start, size = int(b.Offset()), int(b.Size())
        if start + size > len(buf):
            raise TFLiteFormatError(f"{where}: buffer {bidx} lies beyond the end of the file (truncated file?)")
        raw = np.frombuffer(buf, dtype=np.uint8, count=size, offset=start)
    if raw is None:
        return None
    if dtype is None:
        raise TFLiteFormatError(f"{where}: constant of a type without a numpy equivalent")
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if raw.size != expected:
        raise TFLiteFormatError(
            f"{where}: buffer {bidx} holds {raw.size} bytes, shape {list(shape)} {dtype} needs {expected}"
        )
    return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(shape).copy()


def _quantization(tensor) -> Optional[QuantizationInfo]:
    q = tensor.Quantization()
    if q is None or q.ScaleIsNone() or q.ScaleLength() == 0:
        return None
    scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).reshape(-1)
    zp = (
        np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1)
        if q.ZeroPointLength()
        else np.zeros_like(scale, np.int64)
    )
    return QuantizationInfo(scale=scale, zero_point=zp, quantized_dimension=int(q.QuantizedDimension()))


def _dequantize(data: np.ndarray, q: Optional[QuantizationInfo]) -> np.ndarray:
    """Float32 values of a constant (float16 cast, or affine int dequantization along the quantized axis)."""
    if data.dtype.kind == "f":
        return data.astype(np.float32)
    if q is None:
        raise ValueError("integer constant without quantization parameters")
    shape = [1] * data.ndim
    if q.scale.size > 1:
        shape[q.quantized_dimension] = q.scale.size
    scale = q.scale.reshape(shape) if q.scale.size > 1 else q.scale.reshape(())
    zp = q.zero_point.reshape(shape) if q.zero_point.size > 1 else q.zero_point.reshape(())
    return ((data.astype(np.float64) - zp) * scale).astype(np.float32)


def read_tflite(
    source: Union[str, os.PathLike, bytes, bytearray],
    *,
    fold_dequantize: bool = True,
    supported: Optional[Collection[str]] = None,
) -> ModelDescription:
    """Parse a ``.tflite`` file (or its bytes) into a :class:`ModelDescription`.

    Args:
        source: path of the file, or its contents.
        fold_dequantize: replace each DEQUANTIZE of a constant by a float32 constant (its output tensor gets
            :attr:`TensorInfo.data` and ``folded_from``; the operator is dropped).
        supported: if given, the opcode names the caller implements: :func:`check_supported` is run on the result.

    Raises:
        FileNotFoundError: ``source`` is a path that does not exist.
        TFLiteFormatError: the data is not a TFLite flatbuffer (no ``"TFL3"`` identifier at bytes 4:8), or is
            truncated / corrupt, or has no subgraph.
        UnsupportedOperatorError: ``supported`` was given and the model uses other operators.
        ImportError: the ``tflite`` package is missing (the message says what to install).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        buf, where = bytes(source), "<bytes>"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"TFLite model not found: {path}")
        buf, where = path.read_bytes(), str(path)
    if not is_tflite_flatbuffer(buf):
        head = buf[:8]
        raise TFLiteFormatError(
            f"{where} is not a TFLite flatbuffer: expected the file identifier b'TFL3' at bytes 4:8, "
            f"got {bytes(head[4:8])!r} ({len(buf)} bytes in all; first bytes {bytes(head)!r})"
        )
    tflite, opcode_names = _import_tflite()
    try:
        desc = _parse(tflite, opcode_names, buf, where)
    except (TFLiteFormatError, UnsupportedOperatorError):
        raise
    except (IndexError, struct.error, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise TFLiteFormatError(
            f"{where}: not a readable TFLite flatbuffer (truncated or corrupt): {type(exc).__name__}: {exc}"
        ) from exc
    if fold_dequantize:
        _fold_dequantize(desc)
    if supported is not None:
        check_supported(desc, supported)
    return desc


def _parse(tflite, opcode_names: Dict[int, str], buf: bytes, where: str) -> ModelDescription:
    model = tflite.Model.GetRootAs(buf, 0)
    if model.SubgraphsLength() < 1:
        raise TFLiteFormatError(f"{where}: the model has no subgraph")
    graph = model.Subgraphs(0)
    codes: List[Tuple[str, int]] = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(int(oc.DeprecatedBuiltinCode()), int(oc.BuiltinCode()))  # schema v3a: the larger one is real
        name = opcode_names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            custom = oc.CustomCode()
            name = "CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "?")
        codes.append((name, int(oc.Version())))
    options_names = _enum_names(tflite.BuiltinOptions)

    tensors: List[TensorInfo] = []
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        name = t.Name().decode("utf-8", "replace") if t.Name() is not None else f"tensor_{i}"
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        type_name, dtype = _TENSOR_TYPES.get(int(t.Type()), (f"TYPE_{t.Type()}", None))
        sig = tuple(int(s) for s in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else None
        data = _tensor_data(model, t, buf, shape, dtype, f"{where}: tensor {i} {name!r}")
        tensors.append(
            TensorInfo(
                index=i,
                name=name,
                shape=shape,
                dtype=dtype if dtype is not None else type_name,
                data=data,
                quantization=_quantization(t),
                shape_signature=sig,
            )
        )

    operators: List[OperatorInfo] = []
    n_tensors = len(tensors)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        ci = int(op.OpcodeIndex())
        if not 0 <= ci < len(codes):
            raise TFLiteFormatError(f"{where}: operator {i} refers to operator code {ci} of {len(codes)}")
        opcode, version = codes[ci]
        ins = tuple(int(x) for x in op.InputsAsNumpy()) if op.InputsLength() else ()
        outs = tuple(int(x) for x in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        for idx in ins + outs:
            if idx >= n_tensors or idx < -1:
                raise TFLiteFormatError(f"{where}: operator {i} ({opcode}) refers to tensor {idx} of {n_tensors}")
        otype = options_names.get(int(op.BuiltinOptionsType()), "NONE")
        options = _read_options(tflite, op.BuiltinOptions(), otype) if otype != "NONE" else {}
        operators.append(OperatorInfo(i, opcode, ins, outs, options, otype, version))

    g_in = tuple(int(x) for x in graph.InputsAsNumpy()) if graph.InputsLength() else ()
    g_out = tuple(int(x) for x in graph.OutputsAsNumpy()) if graph.OutputsLength() else ()
    descr = model.Description()
    return ModelDescription(
        tensors=tensors,
        operators=operators,
        inputs=g_in,
        outputs=g_out,
        description=descr.decode("utf-8", "replace") if descr else "",
        schema_version=int(model.Version()),
        num_subgraphs=int(model.SubgraphsLength()),
        source=where,
    )


def _fold_dequantize(desc: ModelDescription) -> None:
    """Drop every DEQUANTIZE of a constant; its output becomes a float32 constant (in place)."""
    kept: List[OperatorInfo] = []
    for op in desc.operators:
        if op.opcode == "DEQUANTIZE" and len(op.inputs) == 1 and len(op.outputs) == 1:
            src, dst = desc.tensors[op.inputs[0]], desc.tensors[op.outputs[0]]
            if src.data is not None and dst.dtype == "float32":
                try:
                    dst.data = _dequantize(src.data, src.quantization).reshape(dst.shape)
                except ValueError as exc:
                    raise TFLiteFormatError(
                        f"{desc.source}: operator {op.index} DEQUANTIZE of {src.name!r} ({src.dtype}): {exc}"
                    ) from exc
                dst.folded_from = src.index
                continue
        kept.append(op)
    desc.operators = kept


def check_supported(desc: ModelDescription, supported: Collection[str]) -> None:
    """Raise :class:`UnsupportedOperatorError` listing every operator whose opcode is not in ``supported``.

    The message names each unsupported opcode with its count and the first few places it occurs (operator index
    and first output tensor name).
    """
    supported = set(supported)
    problems = []
    for op in desc.operators:
        if op.opcode not in supported:
            out = desc.tensors[op.outputs[0]].name if op.outputs else "?"
            problems.append((op.index, op.opcode, out, "operator not implemented"))
    if not problems:
        return
    raise UnsupportedOperatorError(_format_problems(desc.source, problems, supported), problems)


def _format_problems(
    source: str, problems: Sequence[Tuple[int, str, str, str]], supported: Collection[str] = ()
) -> str:
    by_code: Dict[str, List[Tuple[int, str, str]]] = collections.OrderedDict()
    for idx, code, out, reason in problems:
        by_code.setdefault(code, []).append((idx, out, reason))
    parts = []
    for code, where in by_code.items():
        places = ", ".join(
            f"op {i} -> {o!r}" + ("" if r == "operator not implemented" else f" ({r})") for i, o, r in where[:4]
        )
        more = f", ... ({len(where) - 4} more)" if len(where) > 4 else ""
        parts.append(f"{code} x{len(where)} [{places}{more}]")
    msg = f"{source}: unsupported TFLite operators: " + "; ".join(parts)
    if supported:
        msg += ". Supported: " + ", ".join(sorted(supported))
    return msg
