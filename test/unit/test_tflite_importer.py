"""The generic TFLite -> PyTorch importer (hand_pose_25d.pretrained) on hand-built flatbuffers and MediaPipe's models.

Tiny TFLite models are written here with the flatbuffers builder functions of the ``tflite`` package and checked
against a numpy reference (and against the ai-edge-litert interpreter where it is installed). The MediaPipe 0.10.21
models are converted when a cached wheel is found in ``$HAND_POSE_WHEEL_CACHE`` (default
``~/.cache/hand_pose_25d/wheels``, where ``hand-pose-25d setup-models`` puts it) or ``<repo>/.whl/``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tflite = pytest.importorskip("tflite", reason="the importer needs the 'tflite' package (pip install tflite)")
flatbuffers = pytest.importorskip("flatbuffers")

from mediapipe_wheel_fixture import cached_wheel  # noqa: E402

from hand_pose_25d.pretrained import mediapipe_wheel  # noqa: E402
from hand_pose_25d.pretrained.mediapipe_wheel import (  # noqa: E402
    MODELS,
    PretrainedError,
    extract_model,
    find_or_download_wheel,
)
from hand_pose_25d.pretrained.tflite_reader import (  # noqa: E402
    TFLiteFormatError,
    UnsupportedOperatorError,
    read_tflite,
)
from hand_pose_25d.pretrained.tflite_torch import (  # noqa: E402
    SUPPORTED_OPS,
    TFLiteModule,
    encoder_stride_features,
    export_onnx,
    load_module,
    save_module,
)

REPO = Path(__file__).resolve().parents[2]

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # the numpy references still run
    Interpreter = None

needs_litert = pytest.mark.skipif(
    Interpreter is None, reason="ai-edge-litert is not installed (pip install ai-edge-litert)"
)

# --------------------------------------------------------------------------------------------------------------
# a minimal TFLite writer


def build_tflite(
    tensors: Sequence[Dict[str, Any]],
    operators: Sequence[Tuple[str, Sequence[int], Sequence[int], Optional[str], Dict[str, Any]]],
    inputs: Sequence[int],
    outputs: Sequence[int],
) -> bytes:
    """A one-subgraph TFLite flatbuffer.

    Args:
        tensors: ``{"name", "shape", "dtype" ("float32" | "float16" | "int32"), "data" (array or None)}`` each.
        operators: ``(opcode name or "CUSTOM:<code>", inputs, outputs, options table name or None,
            {CamelCaseField: value})`` each, in execution order.
        inputs / outputs: graph input / output tensor indices.
    """
    from tflite.utils import BUILTIN_OPCODE2NAME

    code_of = {v: k for k, v in BUILTIN_OPCODE2NAME.items()}
    b = flatbuffers.Builder(4096)

    def int_vector(values: Sequence[int]):
        return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))

    buffers, tensor_buffer = [], []
    tflite.BufferStart(b)
    buffers.append(tflite.BufferEnd(b))
    for t in tensors:
        if t.get("data") is None:
            tensor_buffer.append(0)
            continue
        raw = np.ascontiguousarray(t["data"], dtype=t["dtype"]).tobytes()
        b.StartVector(1, len(raw), 16)
        b.head -= len(raw)
        b.Bytes[b.head : b.head + len(raw)] = raw
        data = b.EndVector()
        tflite.BufferStart(b)
        tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))
        tensor_buffer.append(len(buffers) - 1)

    types = {
        "float32": tflite.TensorType.FLOAT32,
        "float16": tflite.TensorType.FLOAT16,
        "int32": tflite.TensorType.INT32,
    }
    tensor_offsets = []
    for t, buf in zip(tensors, tensor_buffer):
        name = b.CreateString(t["name"])
        shape = int_vector(t["shape"])
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, types[t["dtype"]])
        tflite.TensorAddBuffer(b, buf)
        tflite.TensorAddName(b, name)
        tensor_offsets.append(tflite.TensorEnd(b))

    codes: List[str] = []
    op_offsets = []
    for opcode, ins, outs, otype, fields in operators:
        if opcode not in codes:
            codes.append(opcode)
        opts = None
        if otype is not None:
            getattr(tflite, f"{otype}Start")(b)
            for field, value in fields.items():
                getattr(tflite, f"{otype}Add{field}")(b, value)
            opts = getattr(tflite, f"{otype}End")(b)
        iv, ov = int_vector(ins), int_vector(outs)
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(opcode))
        tflite.OperatorAddInputs(b, iv)
        tflite.OperatorAddOutputs(b, ov)
        if opts is not None:
            tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, otype))
            tflite.OperatorAddBuiltinOptions(b, opts)
        op_offsets.append(tflite.OperatorEnd(b))

    code_offsets = []
    for opcode in codes:
        custom = b.CreateString(opcode.split(":", 1)[1]) if opcode.startswith("CUSTOM:") else None
        code = code_of["CUSTOM"] if custom is not None else code_of[opcode]
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, 1)
        if custom is not None:
            tflite.OperatorCodeAddCustomCode(b, custom)
        code_offsets.append(tflite.OperatorCodeEnd(b))

    def table_vector(start, offsets):
        start(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    t_vec = table_vector(tflite.SubGraphStartTensorsVector, tensor_offsets)
    o_vec = table_vector(tflite.SubGraphStartOperatorsVector, op_offsets)
    gi, go = int_vector(inputs), int_vector(outputs)
    gname = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, t_vec)
    tflite.SubGraphAddInputs(b, gi)
    tflite.SubGraphAddOutputs(b, go)
    tflite.SubGraphAddOperators(b, o_vec)
    tflite.SubGraphAddName(b, gname)
    graph = tflite.SubGraphEnd(b)

    codes_vec = table_vector(tflite.ModelStartOperatorCodesVector, code_offsets)
    graphs_vec = table_vector(tflite.ModelStartSubgraphsVector, [graph])
    bufs_vec = table_vector(tflite.ModelStartBuffersVector, buffers)
    descr = b.CreateString("hand_pose_25d test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes_vec)
    tflite.ModelAddSubgraphs(b, graphs_vec)
    tflite.ModelAddDescription(b, descr)
    tflite.ModelAddBuffers(b, bufs_vec)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


class Graph:
    """Collects tensors and operators for :func:`build_tflite`."""

    def __init__(self) -> None:
        self.tensors: List[Dict[str, Any]] = []
        self.ops: List[Tuple[str, Sequence[int], Sequence[int], Optional[str], Dict[str, Any]]] = []

    def tensor(self, name: str, shape: Sequence[int], data: Optional[np.ndarray] = None, dtype: str = "float32") -> int:
        if data is not None:
            data = np.asarray(data, dtype=dtype).reshape(shape)
        self.tensors.append({"name": name, "shape": list(shape), "dtype": dtype, "data": data})
        return len(self.tensors) - 1

    def const(self, name: str, data: np.ndarray, dtype: str = "float32") -> int:
        data = np.asarray(data)
        return self.tensor(name, data.shape, data, dtype)

    def op(
        self,
        opcode: str,
        ins: Sequence[int],
        out_name: str,
        out_shape: Sequence[int],
        otype: Optional[str] = None,
        **fields: Any,
    ) -> int:
        out = self.tensor(out_name, out_shape)
        self.ops.append((opcode, list(ins), [out], otype, fields))
        return out

    def build(self, inputs: Sequence[int], outputs: Sequence[int]) -> bytes:
        return build_tflite(self.tensors, self.ops, inputs, outputs)


SAME, VALID = tflite.Padding.SAME, tflite.Padding.VALID
ACT = tflite.ActivationFunctionType


def run_litert(model: bytes, inputs: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
    interp = Interpreter(model_content=model, num_threads=1)
    interp.allocate_tensors()
    for d, x in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], x)
    interp.invoke()
    return {d["name"]: interp.get_tensor(d["index"]).copy() for d in interp.get_output_details()}


def run_torch(model: bytes, inputs: Sequence[np.ndarray], **kwargs: Any) -> Dict[str, np.ndarray]:
    module = TFLiteModule(read_tflite(model, supported=SUPPORTED_OPS), **kwargs).eval()
    module.check_shapes()
    with torch.no_grad():
        ys = module(*[torch.from_numpy(x) for x in inputs])
    return {n: y.numpy() for n, y in zip(module.output_names, ys)}


# --------------------------------------------------------------------------------------------------------------
# numpy references (NHWC, TensorFlow SAME padding)


def np_same_pad(x: np.ndarray, k: Tuple[int, int], s: int, value: float = 0.0) -> np.ndarray:
    pads = []
    for size, kk in zip(x.shape[1:3], k):
        out = -(-size // s)
        total = max((out - 1) * s + kk - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def np_conv(x: np.ndarray, w_ohwi: np.ndarray, bias: np.ndarray, s: int) -> np.ndarray:
    kh, kw = w_ohwi.shape[1:3]
    oh, ow = -(-x.shape[1] // s), -(-x.shape[2] // s)
    xp = np_same_pad(x, (kh, kw), s)
    out = np.zeros((x.shape[0], oh, ow, w_ohwi.shape[0]), np.float64)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = np.einsum("nhwc,ohwc->no", xp[:, i * s : i * s + kh, j * s : j * s + kw], w_ohwi) + bias
    return out


def np_depthwise(x: np.ndarray, w_1hwm: np.ndarray, bias: np.ndarray, s: int, mult: int) -> np.ndarray:
    kh, kw = w_1hwm.shape[1:3]
    oh, ow = -(-x.shape[1] // s), -(-x.shape[2] // s)
    xp = np.repeat(np_same_pad(x, (kh, kw), s), mult, axis=-1)  # output channel k reads input channel k // mult
    out = np.zeros((x.shape[0], oh, ow, w_1hwm.shape[3]), np.float64)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = (xp[:, i * s : i * s + kh, j * s : j * s + kw] * w_1hwm).sum(axis=(1, 2)) + bias
    return out


def tiny_model(rng: np.random.Generator) -> Tuple[bytes, Dict[str, np.ndarray]]:
    """in (1, 8, 10, 3) -> CONV_2D 3x3 SAME s2 RELU (asymmetric pad) -> DEPTHWISE 3x3 x2 (fp16 weights, DEQUANTIZE)
    -> ADD const (8,) RELU6 -> RESHAPE (1, 160) -> FULLY_CONNECTED 7. Outputs: the FC result and the ADD map."""
    g = Graph()
    w = {
        "conv_w": rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32),
        "conv_b": rng.normal(0, 0.1, (4,)).astype(np.float32),
        "dw_w16": rng.normal(0, 0.5, (1, 3, 3, 8)).astype(np.float16),
        "dw_b": rng.normal(0, 0.1, (8,)).astype(np.float32),
        "add_c": rng.normal(0, 0.5, (8,)).astype(np.float32),
        "fc_w": rng.normal(0, 0.2, (7, 160)).astype(np.float32),
        "fc_b": rng.normal(0, 0.1, (7,)).astype(np.float32),
    }
    x = g.tensor("image", (1, 8, 10, 3))
    c = g.op(
        "CONV_2D",
        [x, g.const("conv_w", w["conv_w"]), g.const("conv_b", w["conv_b"])],
        "conv",
        (1, 4, 5, 4),
        "Conv2DOptions",
        Padding=SAME,
        StrideW=2,
        StrideH=2,
        FusedActivationFunction=ACT.RELU,
    )
    w16 = g.const("dw_w_fp16", w["dw_w16"], "float16")
    w32 = g.op("DEQUANTIZE", [w16], "dw_w", (1, 3, 3, 8))
    d = g.op(
        "DEPTHWISE_CONV_2D",
        [c, w32, g.const("dw_b", w["dw_b"])],
        "dw",
        (1, 4, 5, 8),
        "DepthwiseConv2DOptions",
        Padding=SAME,
        StrideW=1,
        StrideH=1,
        DepthMultiplier=2,
    )
    a = g.op(
        "ADD", [d, g.const("add_c", w["add_c"])], "add", (1, 4, 5, 8), "AddOptions", FusedActivationFunction=ACT.RELU6
    )
    r = g.op("RESHAPE", [a, g.const("shape", np.array([1, 160]), "int32")], "flat", (1, 160))
    f = g.op(
        "FULLY_CONNECTED",
        [r, g.const("fc_w", w["fc_w"]), g.const("fc_b", w["fc_b"])],
        "logits",
        (1, 7),
        "FullyConnectedOptions",
        FusedActivationFunction=ACT.NONE,
    )
    return g.build([x], [f, a]), w


def tiny_reference(w: Dict[str, np.ndarray], x: np.ndarray) -> Dict[str, np.ndarray]:
    c = np.maximum(np_conv(x, w["conv_w"], w["conv_b"], 2), 0.0)
    d = np_depthwise(c, w["dw_w16"].astype(np.float32), w["dw_b"], 1, 2)
    a = np.clip(d + w["add_c"], 0.0, 6.0)
    f = a.reshape(a.shape[0], -1) @ w["fc_w"].T.astype(np.float64) + w["fc_b"]
    return {"logits": f, "add": a}


# --------------------------------------------------------------------------------------------------------------
# (a) tiny models


def test_reader_describes_tiny_model() -> None:
    model, w = tiny_model(np.random.default_rng(0))
    desc = read_tflite(model)
    assert [op.opcode for op in desc.operators] == ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RESHAPE", "FULLY_CONNECTED"]
    conv = desc.operators[0].options
    assert conv["padding"] == "SAME" and conv["stride_w"] == 2 and conv["stride_h"] == 2
    assert conv["fused_activation_function"] == "RELU" and conv["dilation_h_factor"] == 1
    assert desc.operators[1].options["depth_multiplier"] == 2
    assert desc.operators[2].options["fused_activation_function"] == "RELU6"
    folded = desc.tensor("dw_w")  # DEQUANTIZE of the float16 constant folded into a float32 constant
    assert (
        folded.data is not None
        and folded.data.dtype == np.float32
        and folded.folded_from == desc.tensor("dw_w_fp16").index
    )
    np.testing.assert_array_equal(folded.data, w["dw_w16"].astype(np.float32))
    assert [desc.tensors[i].name for i in desc.inputs] == ["image"]
    assert [desc.tensors[i].name for i in desc.outputs] == ["logits", "add"]
    assert desc.tensor("image").shape == (1, 8, 10, 3) and desc.tensor("image").data is None
    unfolded = read_tflite(model, fold_dequantize=False)
    assert "DEQUANTIZE" in unfolded.opcode_counts()


@pytest.mark.parametrize("input_layout", ["NHWC", "NCHW"])
def test_tiny_model_matches_numpy(input_layout: str) -> None:
    rng = np.random.default_rng(1)
    model, w = tiny_model(rng)
    x = rng.random((1, 8, 10, 3), dtype=np.float32)
    ref = tiny_reference(w, x)
    xin = x if input_layout == "NHWC" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    got = run_torch(model, [xin], input_layout=input_layout)
    for name in ("logits", "add"):
        assert got[name].shape == ref[name].shape
        np.testing.assert_allclose(got[name], ref[name], atol=1e-4, rtol=1e-4, err_msg=name)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace is deprecated in favour of torch.export
def test_tiny_model_batch_features_trace_and_layouts() -> None:
    rng = np.random.default_rng(2)
    model, w = tiny_model(rng)
    module = TFLiteModule(read_tflite(model)).eval()
    x = rng.random((3, 8, 10, 3), dtype=np.float32)  # batch 3: the RESHAPE keeps the batch axis dynamic
    ref = tiny_reference(w, x)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        logits, add = module(xt)
        np.testing.assert_allclose(logits.numpy(), ref["logits"], atol=1e-4, rtol=1e-4)
        feats = module.features(xt, ["conv", "add"])  # NCHW by default
        assert tuple(feats["conv"].shape) == (3, 4, 4, 5)
        np.testing.assert_allclose(feats["add"].permute(0, 2, 3, 1).numpy(), ref["add"], atol=1e-4, rtol=1e-4)
        nhwc = module.features(xt, ["add"], layout="NHWC")["add"]
        assert tuple(nhwc.shape) == (3, 4, 5, 8)
        traced = torch.jit.trace(module, (xt,))
        for a, b in zip(traced(xt), module(xt)):
            torch.testing.assert_close(a, b)
    cut = TFLiteModule(read_tflite(model), outputs=["dw"], output_layout="NCHW")  # backbone cut: only 2 ops built
    assert len(cut.ops) == 2 and {k.split("_")[0] for k in cut.ops} == {"conv", "depthwise"}
    assert tuple(cut(xt)[0].shape) == (3, 8, 4, 5)
    with pytest.raises(ValueError, match=r"must be a float tensor \(B, 8, 10, 3\)"):
        module(torch.zeros(1, 3, 8, 10))


@needs_litert
def test_tiny_model_matches_litert() -> None:
    rng = np.random.default_rng(3)
    model, _ = tiny_model(rng)
    x = rng.random((1, 8, 10, 3), dtype=np.float32)
    ref, got = run_litert(model, [x]), run_torch(model, [x])
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=1e-5, rtol=1e-5, err_msg=name)


def coverage_model() -> bytes:
    """PRELU, MAX / AVERAGE_POOL SAME (asymmetric), CONCATENATION axis -1, RESIZE_BILINEAR (legacy, half-pixel,
    align-corners), MUL, PAD, MEAN (keep_dims and not, with an axis permutation), SUB, LOGISTIC, SOFTMAX, TRANSPOSE,
    HARD_SWISH."""
    rng = np.random.default_rng(4)
    g = Graph()
    x = g.tensor("x", (1, 8, 10, 4))
    p = g.op("PRELU", [x, g.const("alpha", rng.uniform(0.05, 0.5, (1, 1, 4)))], "prelu", (1, 8, 10, 4))
    mp = g.op(
        "MAX_POOL_2D",
        [p],
        "maxpool",
        (1, 4, 5, 4),
        "Pool2DOptions",
        Padding=SAME,
        StrideW=2,
        StrideH=2,
        FilterWidth=3,
        FilterHeight=3,
    )
    ap = g.op(
        "AVERAGE_POOL_2D",
        [p],
        "avgpool",
        (1, 4, 5, 4),
        "Pool2DOptions",
        Padding=SAME,
        StrideW=2,
        StrideH=2,
        FilterWidth=3,
        FilterHeight=3,
    )
    c = g.op("CONCATENATION", [mp, ap], "concat", (1, 4, 5, 8), "ConcatenationOptions", Axis=-1)
    size79 = g.const("size79", np.array([7, 9]), "int32")
    r1 = g.op("RESIZE_BILINEAR", [c, size79], "resize_legacy", (1, 7, 9, 8), "ResizeBilinearOptions")
    r2 = g.op(
        "RESIZE_BILINEAR",
        [c, g.const("size810", np.array([8, 10]), "int32")],
        "resize_half",
        (1, 8, 10, 8),
        "ResizeBilinearOptions",
        HalfPixelCenters=True,
    )
    r3 = g.op("RESIZE_BILINEAR", [c, size79], "resize_align", (1, 7, 9, 8), "ResizeBilinearOptions", AlignCorners=True)
    m = g.op("MUL", [r1, r3], "mul", (1, 7, 9, 8), "MulOptions")
    pd = g.op("PAD", [m, g.const("pads", np.array([[0, 0], [1, 0], [0, 2], [0, 3]]), "int32")], "pad", (1, 8, 11, 11))
    mk = g.op(
        "MEAN",
        [pd, g.const("ax12", np.array([1, 2]), "int32")],
        "mean_keep",
        (1, 1, 1, 11),
        "ReducerOptions",
        KeepDims=True,
    )
    s = g.op("SUB", [pd, mk], "sub", (1, 8, 11, 11), "SubOptions")
    lg = g.op("LOGISTIC", [s], "logistic", (1, 8, 11, 11))
    mn = g.op(
        "MEAN", [lg, g.const("ax1", np.array([1]), "int32")], "mean_h", (1, 11, 11), "ReducerOptions", KeepDims=False
    )
    sm = g.op("SOFTMAX", [mn], "softmax", (1, 11, 11), "SoftmaxOptions", Beta=0.5)
    tr = g.op("TRANSPOSE", [sm, g.const("perm", np.array([0, 2, 1]), "int32")], "transpose", (1, 11, 11))
    hs = g.op("HARD_SWISH", [r2], "hardswish", (1, 8, 10, 8))
    return g.build([x], [tr, hs, c, mk])


@needs_litert
def test_coverage_model_matches_litert() -> None:
    model = coverage_model()
    x = np.random.default_rng(5).normal(0, 1, (1, 8, 10, 4)).astype(np.float32)
    ref, got = run_litert(model, [x]), run_torch(model, [x])
    assert set(ref) == set(got)
    for name in ref:
        assert got[name].shape == ref[name].shape, name
        np.testing.assert_allclose(got[name], ref[name], atol=2e-5, rtol=1e-5, err_msg=name)


def test_resize_legacy_and_pools_match_numpy() -> None:
    """Without the interpreter: TF1 legacy bilinear resize and SAME pooling against direct numpy formulas."""
    from hand_pose_25d.pretrained.tflite_torch import _bilinear_matrix

    x = np.random.default_rng(6).normal(0, 1, (1, 8, 10, 4)).astype(np.float32)
    desc = read_tflite(coverage_model())
    module = TFLiteModule(desc, outputs=["maxpool", "avgpool", "resize_legacy", "concat"]).eval()
    with torch.no_grad():
        mp, ap, r1, c = (t.numpy() for t in module(torch.from_numpy(x)))
    alpha = desc.tensor("alpha").data
    p = np.where(x >= 0, x, x * alpha)
    padded_max = np_same_pad(p, (3, 3), 2, value=-np.inf)
    padded = np_same_pad(p, (3, 3), 2)
    count = np_same_pad(np.ones_like(p), (3, 3), 2)
    for i in range(4):
        for j in range(5):
            win = (slice(None), slice(2 * i, 2 * i + 3), slice(2 * j, 2 * j + 3))
            np.testing.assert_allclose(mp[:, i, j], padded_max[win].max(axis=(1, 2)), atol=1e-6)
            np.testing.assert_allclose(
                ap[:, i, j], padded[win].sum(axis=(1, 2)) / count[win].sum(axis=(1, 2)), atol=1e-5
            )
    for n_in, n_out in ((4, 7), (5, 9)):  # legacy: src = dst * in / out, no half-pixel offset
        m = _bilinear_matrix(n_in, n_out, False, False)
        src = np.arange(n_out) * n_in / n_out
        lo = np.floor(src).astype(int)
        expect = np.zeros((n_out, n_in))
        expect[np.arange(n_out), lo] += 1 - (src - lo)
        expect[np.arange(n_out), np.minimum(lo + 1, n_in - 1)] += src - lo
        np.testing.assert_allclose(m, expect, atol=1e-12)
    ry, rx = _bilinear_matrix(4, 7, False, False), _bilinear_matrix(5, 9, False, False)
    np.testing.assert_allclose(r1, np.einsum("ah,nhwc,bw->nabc", ry, c, rx), atol=1e-5)


UNARY = ["LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "HARD_SWISH", "ELU", "EXP", "ABS", "NEG", "SQUARE"]
BINARY = [
    ("ADD", "AddOptions"),
    ("SUB", "SubOptions"),
    ("MUL", "MulOptions"),
    ("DIV", "DivOptions"),
    ("MAXIMUM", None),
    ("MINIMUM", None),
    ("SQUARED_DIFFERENCE", None),
]


def elementwise_model() -> bytes:
    """Every unary op on x, every binary op on (x, const (5,)), SUB with the constant first, and an ADD between a
    rank-4 and a rank-2 graph input (broadcast in TFLite layout), plus LEAKY_RELU and a fused RELU_N1_TO_1."""
    g = Graph()
    x = g.tensor("x", (1, 3, 4, 5))
    y = g.tensor("y", (4, 5))
    outs = [g.op(code, [x], code.lower(), (1, 3, 4, 5)) for code in UNARY]
    outs.append(g.op("LEAKY_RELU", [x], "leaky_relu", (1, 3, 4, 5), "LeakyReluOptions", Alpha=0.3))
    c = g.const("c", np.array([0.5, -1.0, 2.0, 1.5, -0.25]))
    for code, otype in BINARY:
        outs.append(g.op(code, [x, c], code.lower() + "_c", (1, 3, 4, 5), otype))
    outs.append(g.op("SUB", [c, x], "c_sub", (1, 3, 4, 5), "SubOptions"))
    outs.append(g.op("ADD", [x, y], "add_rank2", (1, 3, 4, 5), "AddOptions", FusedActivationFunction=ACT.RELU_N1_TO_1))
    return g.build([x, y], outs)


@needs_litert
def test_elementwise_ops_match_litert() -> None:
    model = elementwise_model()
    rng = np.random.default_rng(7)
    x = rng.normal(0, 2, (1, 3, 4, 5)).astype(np.float32)
    y = rng.normal(0, 1, (4, 5)).astype(np.float32)
    ref, got = run_litert(model, [x, y]), run_torch(model, [x, y])
    for name in ref:
        np.testing.assert_allclose(got[name], ref[name], atol=2e-5, rtol=2e-5, err_msg=name)


def test_tiny_model_onnx_export(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="the ONNX export needs onnx (pip install onnx)")
    ort = pytest.importorskip("onnxruntime", reason="checking the export needs onnxruntime (pip install onnxruntime)")
    model, w = tiny_model(np.random.default_rng(8))
    module = TFLiteModule(read_tflite(model)).eval()
    path = export_onnx(module, tmp_path / "tiny.onnx", opset=17)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"] and [o.name for o in sess.get_outputs()] == [
        "logits",
        "add",
    ]
    x = np.random.default_rng(9).random((2, 8, 10, 3), dtype=np.float32)
    ref = tiny_reference(w, x)
    logits, add = sess.run(None, {"image": x})
    np.testing.assert_allclose(logits, ref["logits"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(add, ref["add"], atol=1e-4, rtol=1e-4)

    # every layout-sensitive op of the coverage model (pools with -inf / rescaled padding, the three resize modes,
    # MEAN with an axis permutation, SOFTMAX, TRANSPOSE) through ONNX Runtime
    cov = TFLiteModule(read_tflite(coverage_model())).eval()
    path = export_onnx(cov, tmp_path / "coverage.onnx", opset=17)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(14).normal(0, 1, (2, 8, 10, 4)).astype(np.float32)
    with torch.no_grad():
        ref_cov = [t.numpy() for t in cov(torch.from_numpy(x))]
    for name, a, b in zip(cov.output_names, sess.run(None, {"x": x}), ref_cov):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5, err_msg=name)


def test_importing_the_subpackage_is_light() -> None:
    """hand_pose_25d.pretrained, .mediapipe_wheel, .tflite_reader and .convert import neither torch nor tflite."""
    import subprocess
    import sys

    code = (
        "import sys; import hand_pose_25d.pretrained, hand_pose_25d.pretrained.mediapipe_wheel, "
        "hand_pose_25d.pretrained.tflite_reader, hand_pose_25d.pretrained.convert; "
        "print(sorted(m for m in ('torch', 'tflite', 'onnx', 'ai_edge_litert') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_save_and_load_module(tmp_path: Path) -> None:
    model, _ = tiny_model(np.random.default_rng(10))
    tfl = tmp_path / "tiny.tflite"
    tfl.write_bytes(model)
    module = TFLiteModule(read_tflite(tfl)).eval()
    with torch.no_grad():
        module.ops["fully_connected_5"].bias.add_(1.0)  # a "fine-tuned" weight must survive the round trip
    save_module(module, tmp_path / "tiny.pt", tfl)
    loaded = load_module(tmp_path / "tiny.pt").eval()
    x = module.example_inputs(2)[0]
    with torch.no_grad():
        for a, b in zip(module(x), loaded(x)):
            torch.testing.assert_close(a, b)
    tfl.write_bytes(model + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        load_module(tmp_path / "tiny.pt")


# --------------------------------------------------------------------------------------------------------------
# (b) clear errors


def test_not_a_tflite_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 4)
    with pytest.raises(TFLiteFormatError, match=r"not a TFLite flatbuffer.*TFL3"):
        read_tflite(bad)
    with pytest.raises(TFLiteFormatError, match="not a TFLite flatbuffer"):
        read_tflite(b"\x00\x01")
    with pytest.raises(FileNotFoundError, match="not found"):
        read_tflite(tmp_path / "missing.tflite")


def test_truncated_tflite_file() -> None:
    model, _ = tiny_model(np.random.default_rng(11))
    for cut in (12, len(model) // 3, len(model) - 200):
        with pytest.raises(TFLiteFormatError, match="TFLite"):
            read_tflite(model[:cut])


def test_unsupported_operator_is_listed() -> None:
    g = Graph()
    x = g.tensor("x", (1, 4, 4, 8))
    s2d = g.op("SPACE_TO_DEPTH", [x], "to_depth", (1, 2, 2, 32), "SpaceToDepthOptions", BlockSize=2)
    r = g.op("RELU", [s2d], "relu", (1, 2, 2, 32))
    cus = g.op("CUSTOM:MyOp", [r], "custom_out", (1, 2, 2, 32))
    model = g.build([x], [cus])
    with pytest.raises(UnsupportedOperatorError) as info:
        read_tflite(model, supported=SUPPORTED_OPS)
    msg = str(info.value)
    assert "SPACE_TO_DEPTH x1" in msg and "'to_depth'" in msg and "CUSTOM:MyOp" in msg and "'custom_out'" in msg
    assert "RELU x" not in msg
    assert [p[1] for p in info.value.problems] == ["SPACE_TO_DEPTH", "CUSTOM:MyOp"]
    with pytest.raises(UnsupportedOperatorError, match="SPACE_TO_DEPTH"):  # the module refuses as well
        TFLiteModule(read_tflite(model))


def test_unsupported_settings_are_listed() -> None:
    g = Graph()
    x = g.tensor("x", (1, 4, 4, 3))
    w = g.tensor("w", (2, 1, 1, 3))  # a computed (non-constant) convolution weight
    c = g.op("CONV_2D", [x, w, -1], "conv", (1, 4, 4, 2), "Conv2DOptions", Padding=VALID, StrideW=1, StrideH=1)
    a = g.op("ADD", [c, c], "add", (1, 4, 4, 2), "AddOptions", FusedActivationFunction=ACT.SIGN_BIT)
    with pytest.raises(
        UnsupportedOperatorError,
        match=r"CONV_2D x1 \[op 0 -> 'conv' \(weight \(input 1\) is not a constant\)\].*SIGN_BIT",
    ):
        TFLiteModule(read_tflite(g.build([x, w], [a])))


def test_wheel_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PretrainedError, match=r"no mediapipe 0\.10\.21 wheel.*put it into"):
        find_or_download_wheel(tmp_path / "empty", download=False)
    monkeypatch.setattr(
        mediapipe_wheel, "_pip_download", lambda dest, extra, timeout: (False, "ERROR: No matching distribution found")
    )
    with pytest.raises(PretrainedError) as info:
        find_or_download_wheel(tmp_path / "cache")
    assert "No matching distribution" in str(info.value) and "HAND_POSE_WHEEL_CACHE" in str(info.value)

    corrupt = tmp_path / "cache" / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(PretrainedError, match="corrupt or truncated zip"):
        extract_model(corrupt, "palm_detection_full", tmp_path / "out")
    with pytest.raises(PretrainedError, match="skipped unreadable"):
        find_or_download_wheel(tmp_path / "cache", download=False)

    fake = tmp_path / "cache" / "mediapipe-0.10.21-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("mediapipe/modules/palm_detection/palm_detection_full.tflite", b"\0\0\0\0NOPE" + b"\0" * 32)
        zf.writestr("mediapipe-0.10.21.dist-info/LICENSE", "Apache License\nVersion 2.0\n")
    assert find_or_download_wheel(tmp_path / "cache", download=False) == fake
    with pytest.raises(PretrainedError, match=r"has no mediapipe/modules/hand_landmark/hand_landmark_full\.tflite"):
        extract_model(fake, "hand_landmark_full", tmp_path / "out")
    with pytest.raises(PretrainedError, match="not a TFLite flatbuffer"):
        extract_model(fake, "palm_detection_full", tmp_path / "out")
    with pytest.raises(ValueError, match="unknown model"):
        extract_model(fake, "face_mesh", tmp_path / "out")
    assert mediapipe_wheel.license_text(fake).startswith("Apache License")

    good = tmp_path / "cache2" / "mediapipe-0.10.21-py3-none-any.whl"
    good.parent.mkdir()
    model, _ = tiny_model(np.random.default_rng(12))
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr(MODELS["hand_landmark_lite"].member, model)
    out = extract_model(good, "hand_landmark_lite", tmp_path / "out")
    assert out.read_bytes() == model
    assert (tmp_path / "out" / "hand_landmark_lite.tflite.sha256").read_text().split()[
        0
    ] == mediapipe_wheel.sha256_file(out)
    notice = (tmp_path / "out" / mediapipe_wheel.LICENSE_NOTICE_NAME).read_text()
    assert "The MediaPipe Authors" in notice and "Apache License, Version 2.0" in notice  # fallback notice


# --------------------------------------------------------------------------------------------------------------
# (c) the real MediaPipe models, when a wheel is cached


@pytest.fixture(scope="module")
def mediapipe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel = cached_wheel()
    if wheel is None:
        pytest.skip(
            f"no cached mediapipe {mediapipe_wheel.MEDIAPIPE_VERSION} wheel in {mediapipe_wheel.default_cache_dir()} "
            f"or {REPO / '.whl'} ('hand-pose-25d setup-models', run by make test, fetches it)"
        )
    out = tmp_path_factory.mktemp("mediapipe")
    for name in ("palm_detection_full", "hand_landmark_full"):
        extract_model(wheel, name, out)
    return out


@needs_litert
@pytest.mark.parametrize("name", ["palm_detection_full", "hand_landmark_full"])
def test_mediapipe_model_matches_litert(mediapipe_dir: Path, name: str) -> None:
    torch.set_num_threads(2)
    tfl = mediapipe_dir / f"{name}.tflite"
    desc = read_tflite(tfl, supported=SUPPORTED_OPS)
    assert desc.tensors[desc.inputs[0]].shape == MODELS[name].input_shape
    module = TFLiteModule(desc).eval()
    interp = Interpreter(model_path=str(tfl), num_threads=2)
    interp.allocate_tensors()
    x = np.random.default_rng(13).random(MODELS[name].input_shape, dtype=np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    ref = {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
    with torch.no_grad():
        got = dict(zip(module.output_names, (t.numpy() for t in module(torch.from_numpy(x)))))
    assert list(got) == [o[0] for o in MODELS[name].outputs]
    for out_name, shape, _ in MODELS[name].outputs:
        assert got[out_name].shape == shape
        diff = float(np.max(np.abs(got[out_name] - ref[out_name])))
        assert diff <= 1e-3, f"{name} {out_name}: max abs diff {diff:.3g}"


def test_hand_landmark_stride_features(mediapipe_dir: Path) -> None:
    desc = read_tflite(mediapipe_dir / "hand_landmark_full.tflite")
    found = encoder_stride_features(desc)
    assert {s: e["name"] for s, e in found.items()} == MODELS["hand_landmark_full"].stride_features
    assert [found[s]["shape"] for s in (2, 4, 8, 16, 32)] == [
        (1, 112, 112, 16),
        (1, 56, 56, 24),
        (1, 28, 28, 40),
        (1, 14, 14, 112),
        (1, 7, 7, 192),
    ]
    names = [MODELS["hand_landmark_full"].stride_features[s] for s in (8, 16)]
    backbone = TFLiteModule(desc, outputs=names, output_layout="NCHW").eval()  # encoder cut at stride 16
    full = TFLiteModule(desc).eval()
    x = torch.rand(2, 224, 224, 3)
    with torch.no_grad():
        f8, f16 = backbone(x)
        ref = full.features(x, names)
    assert tuple(f8.shape) == (2, 40, 28, 28) and tuple(f16.shape) == (2, 112, 14, 14)
    torch.testing.assert_close(f16, ref[names[1]])
    assert sum(p.numel() for p in backbone.parameters()) < sum(p.numel() for p in full.parameters()) / 3
