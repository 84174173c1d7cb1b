"""TensorRT 10 backend: engine build from the exported ONNX, an engine cache, named-tensor execution.

* :func:`validate_onnx_for_tensorrt` checks an ONNX export without TensorRT (always tested).
* :func:`build_engine` parses the ONNX file, builds a serialized engine (FP16 optional, one optimisation
  profile over batch sizes 1..max_batch, a persistent timing cache) and writes it in the engine container below.
* :class:`TensorRTBackend` loads (or builds and caches) an engine and runs it through the TensorRT 10
  named-tensor API (``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``), with torch CUDA tensors
  as device buffers.

Engine container (``.engine``): ``b"HP25DTRT"`` + little-endian uint32 header length + UTF-8 JSON header
(the ONNX model's metadata with its config and format version, ONNX SHA-256, TensorRT version, GPU name, fp16, max_batch) + the serialized TensorRT plan. The
model config travels with the engine, so nothing is guessed at load time. Engines built from ``model.onnx`` are
cached beside it as ``model.<key>.engine`` where ``key`` hashes the ONNX content, TensorRT version, GPU name,
precision and batch range (or in ``~/.cache/hand_pose_25d/engines`` when that folder is not writable).

TensorRT and an NVIDIA GPU are required to build or run engines; where they are missing the backend raises
:class:`~hand_pose_25d.inference.contract.BackendUnavailable` with what to install.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..fileio import atomic_output
from ..model.model_config import ModelConfig
from .contract import (
    CONFIG_KEY,
    FORMAT_VERSION,
    FORMAT_VERSION_KEY,
    INPUT_NAME,
    OUTPUT_NAMES,
    Backend,
    BackendUnavailable,
    NetworkOutput,
    config_from_metadata,
    parse_device,
)

MAGIC = b"HP25DTRT"
#: Version of the engine container layout (the model's own export format version travels in its metadata).
ENGINE_FORMAT_VERSION = 1


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(
            "the tensorrt backend needs TensorRT 10 with its Python bindings: on Jetson it comes with JetPack "
            "(python3-libnvinfer), on x86_64 'pip install tensorrt' with a CUDA 12 driver; or use the "
            "onnxruntime backend"
        ) from exc
    major = int(str(trt.__version__).split(".")[0])
    if major < 10:
        raise BackendUnavailable(f"TensorRT {trt.__version__} found; this backend needs TensorRT 10 or newer")
    return trt


def _import_torch_cuda():
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(
            "the tensorrt backend uses PyTorch CUDA tensors as device buffers: install a CUDA build of torch"
        ) from exc
    if not torch.cuda.is_available():
        raise BackendUnavailable(f"the tensorrt backend needs an NVIDIA GPU; torch {torch.__version__} sees none")
    return torch


# --------------------------------------------------------------------------------------------------------------
# ONNX validation (no TensorRT needed)


def validate_onnx_for_tensorrt(path: Path) -> Tuple[ModelConfig, Dict[str, Any]]:
    """Check that an ONNX file is a hand_pose_25d export TensorRT can build with a dynamic-batch profile.

    Checks: ``onnx.checker`` passes; exactly one input ``image`` of type uint8 and shape (batch, S, S, 3) with a
    symbolic batch dimension and S equal to the stored config's ``input_size``; outputs ``uv``, ``z_rel``,
    ``keypoint_scores``, ``handedness`` with a leading batch dimension and float32 type; opset <= 20; the model
    config metadata is present and valid.

    Returns:
        (model config, facts dict with 'opset', 'input_size', 'num_keypoints', 'sha256').

    Raises:
        FileNotFoundError, ValueError: naming the first problem found.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    data = path.read_bytes()
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ValueError(f"{path} is not a valid ONNX model: {exc}") from exc
    config = config_from_metadata({p.key: p.value for p in model.metadata_props}, path)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise ValueError(f"{path}: expected the single input {INPUT_NAME!r}, got {[i.name for i in inputs]}")
    tt = inputs[0].type.tensor_type
    if tt.elem_type != onnx.TensorProto.UINT8:
        raise ValueError(
            f"{path}: input {INPUT_NAME!r} must be uint8, got {onnx.TensorProto.DataType.Name(tt.elem_type)}"
        )
    dims = tt.shape.dim
    S = config.input_size
    if len(dims) != 4 or not dims[0].dim_param or [d.dim_value for d in dims[1:]] != [S, S, 3]:
        shape = [d.dim_param or d.dim_value for d in dims]
        raise ValueError(f"{path}: input shape must be (batch, {S}, {S}, 3) with a symbolic batch, got {shape}")
    outs = {o.name: o for o in graph.output}
    for name in OUTPUT_NAMES:
        if name not in outs:
            raise ValueError(f"{path}: missing output {name!r} (has {sorted(outs)})")
        ot = outs[name].type.tensor_type
        if ot.elem_type != onnx.TensorProto.FLOAT:
            raise ValueError(f"{path}: output {name!r} must be float32")
        odims = ot.shape.dim
        if not odims or not odims[0].dim_param:
            raise ValueError(f"{path}: output {name!r} must have a symbolic batch dimension")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if not 11 <= opset <= 20:
        raise ValueError(f"{path}: opset {opset} is outside the range TensorRT 10 parses well (11-20)")
    facts = {
        "opset": opset,
        "input_size": S,
        "num_keypoints": config.num_keypoints,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return config, facts


# --------------------------------------------------------------------------------------------------------------
# engine container


def write_engine_file(path: Path, plan: bytes, header: Dict[str, Any]) -> None:
    """Write ``plan`` with its JSON ``header`` in the container format (atomically)."""
    blob = json.dumps(dict(header, format_version=ENGINE_FORMAT_VERSION), sort_keys=True).encode()
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        fh.write(MAGIC)
        fh.write(struct.pack("<I", len(blob)))
        fh.write(blob)
        fh.write(plan)


def read_engine_file(path: Path) -> Tuple[Dict[str, Any], bytes]:
    """(header, plan) of an engine container; ``ValueError`` for anything else (e.g. a bare trtexec plan)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"engine file not found: {path}")
    data = path.read_bytes()
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise ValueError(
            f"{path} is not a hand_pose_25d engine (no {MAGIC!r} header); build engines with "
            "'hand-pose-25d export --format tensorrt' so they carry their model config"
        )
    (n,) = struct.unpack("<I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + n].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: corrupt engine header: {exc}") from exc
    if not isinstance(header, dict) or header.get("format_version") != ENGINE_FORMAT_VERSION:
        version = header.get("format_version") if isinstance(header, dict) else None
        raise ValueError(
            f"{path}: engine container format_version {version!r} is not {ENGINE_FORMAT_VERSION}; rebuild the engine "
            "with 'hand-pose-25d export --format tensorrt'"
        )
    plan = data[start + n :]
    if not plan:
        raise ValueError(f"{path}: engine file is truncated (no plan after the header)")
    return header, plan


def engine_cache_path(onnx_path: Path, key: str) -> Path:
    """Where the engine for ``onnx_path`` and cache ``key`` lives (beside the ONNX file if writable)."""
    onnx_path = Path(onnx_path)
    beside = onnx_path.with_name(f"{onnx_path.stem}.{key}.engine")
    if os.access(onnx_path.parent, os.W_OK):
        return beside
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hand_pose_25d" / "engines"
    cache.mkdir(parents=True, exist_ok=True)
    return cache / beside.name


def engine_cache_key(onnx_sha256: str, trt_version: str, gpu_name: str, fp16: bool, max_batch: int) -> str:
    """Short hash naming an engine: the ONNX content, TensorRT version, GPU, precision and batch range."""
    text = f"{onnx_sha256}|{trt_version}|{gpu_name}|fp16={bool(fp16)}|max_batch={int(max_batch)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------------------
# build


def build_engine(
    onnx_path: Path,
    out_path: Optional[Path] = None,
    *,
    fp16: bool = False,
    max_batch: int = 8,
    opt_batch: int = 1,
    workspace_mb: int = 1024,
    timing_cache: Optional[Path] = None,
    device_index: int = 0,
) -> Path:
    """Build a TensorRT engine from a hand_pose_25d ONNX export and write it as an engine container.

    Args:
        onnx_path: the ONNX file (validated first with :func:`validate_onnx_for_tensorrt`).
        out_path: engine file; default: the cache path beside the ONNX file.
        fp16: allow FP16 kernels (only if the GPU has fast FP16).
        max_batch: largest batch of the optimisation profile (min 1, opt ``opt_batch``).
        workspace_mb: builder workspace limit.
        timing_cache: timing cache file to read and update (default: ``<onnx>.timing_cache`` beside it).
        device_index: CUDA device.

    Returns:
        Path of the written engine.
    """
    trt = _import_tensorrt()
    torch = _import_torch_cuda()
    config, facts = validate_onnx_for_tensorrt(onnx_path)
    torch.cuda.set_device(device_index)
    gpu = torch.cuda.get_device_name(device_index)
    key = engine_cache_key(facts["sha256"], trt.__version__, gpu, fp16, max_batch)
    out_path = Path(out_path) if out_path is not None else engine_cache_path(onnx_path, key)
    timing_cache = Path(timing_cache) if timing_cache is not None else Path(str(onnx_path) + ".timing_cache")

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
    bconf = builder.create_builder_config()
    bconf.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if fp16:
        if not builder.platform_has_fast_fp16:
            raise BackendUnavailable(f"FP16 requested but {gpu} has no fast FP16")
        bconf.set_flag(trt.BuilderFlag.FP16)
    S = config.input_size
    profile = builder.create_optimization_profile()
    opt = int(min(max(opt_batch, 1), max_batch))
    profile.set_shape(INPUT_NAME, (1, S, S, 3), (opt, S, S, 3), (int(max_batch), S, S, 3))
    bconf.add_optimization_profile(profile)
    cache = bconf.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    bconf.set_timing_cache(cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, bconf)
    if plan is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)")
    timing_cache.write_bytes(bytes(bconf.get_timing_cache().serialize()))
    header = {
        "metadata": {CONFIG_KEY: config.to_json(), FORMAT_VERSION_KEY: FORMAT_VERSION},
        "onnx_sha256": facts["sha256"],
        "tensorrt_version": trt.__version__,
        "gpu": gpu,
        "fp16": bool(fp16),
        "max_batch": int(max_batch),
        "cache_key": key,
    }
    write_engine_file(out_path, bytes(plan), header)
    return out_path


# --------------------------------------------------------------------------------------------------------------
# runtime


class TensorRTBackend(Backend):
    """Runs a TensorRT engine built from the exported ONNX model.

    Args:
        path: an ONNX export (the engine is built on first use and cached) or an engine container.
        device: 'cuda' or 'cuda:N' ('cpu' is refused).
        fp16: build with FP16 (ONNX input only; an engine keeps the precision it was built with).
        max_batch: largest batch of the optimisation profile when building.
    """

    name = "tensorrt"

    def __init__(self, path: Path, device: str = "cuda", fp16: bool = False, max_batch: int = 8) -> None:
        kind, index = parse_device(device if device != "cpu" else "cuda")
        if device == "cpu":
            raise BackendUnavailable("the tensorrt backend runs on an NVIDIA GPU; set device to 'cuda'")
        path = Path(path)
        if path.suffix.lower() == ".onnx":
            validate_onnx_for_tensorrt(path)  # fail early, before TensorRT is needed
        trt = _import_tensorrt()
        torch = _import_torch_cuda()
        torch.cuda.set_device(index)
        if path.suffix.lower() == ".onnx":
            config, facts = validate_onnx_for_tensorrt(path)
            gpu = torch.cuda.get_device_name(index)
            key = engine_cache_key(facts["sha256"], trt.__version__, gpu, fp16, max_batch)
            engine_path = engine_cache_path(path, key)
            if not engine_path.is_file():
                build_engine(path, engine_path, fp16=fp16, max_batch=max_batch, device_index=index)
        else:
            engine_path = path
        header, plan = read_engine_file(engine_path)
        if header.get("tensorrt_version") != trt.__version__:
            raise ValueError(
                f"{engine_path} was built with TensorRT {header.get('tensorrt_version')}, this is {trt.__version__}: "
                "rebuild it from the ONNX file"
            )
        self.config = config_from_metadata(header.get("metadata") or {}, engine_path)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise ValueError(f"TensorRT could not deserialize {engine_path} (built for another GPU or version?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        missing = [n for n in (INPUT_NAME,) + OUTPUT_NAMES if n not in names]
        if missing:
            raise ValueError(f"{engine_path} lacks tensors {missing}")
        self.trt = trt
        self.torch = torch
        self.dev = torch.device(f"cuda:{index}")
        self.stream = torch.cuda.Stream(device=self.dev)
        self.max_batch = int(header.get("max_batch", max_batch))
        self.engine_path = engine_path
        self.device = str(self.dev)
        self.fp16 = bool(header.get("fp16", False))

    def infer(self, crops: np.ndarray) -> NetworkOutput:
        crops = self.check_input(crops)
        torch, trt = self.torch, self.trt
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(crops).to(self.dev, non_blocking=True)
            self.context.set_input_shape(INPUT_NAME, tuple(x.shape))
            self.context.set_tensor_address(INPUT_NAME, x.data_ptr())
            outs: Dict[str, Any] = {}
            for name in OUTPUT_NAMES:
                shape = tuple(self.context.get_tensor_shape(name))
                dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
                outs[name] = torch.empty(shape, dtype=dtype, device=self.dev)
                self.context.set_tensor_address(name, outs[name].data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed")
        self.stream.synchronize()
        return {n: outs[n].float().cpu().numpy() for n in OUTPUT_NAMES}

    def describe(self) -> str:
        return (
            f"tensorrt {self.trt.__version__} on {self.device}{' fp16' if self.fp16 else ''} ({self.engine_path.name})"
        )
