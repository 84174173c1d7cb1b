"""Inference backends behind one small interface (:class:`~hand_pose_25d.inference.contract.Backend`): PyTorch,
ONNX Runtime, TensorRT (:mod:`.tensorrt_backend`), and the factory :func:`create_backend`.

Every backend runs the *exported* network, whose inputs, outputs and metadata are fixed in
:mod:`hand_pose_25d.inference.contract`, with decoding inside the graph. Each backend knows the
:class:`~hand_pose_25d.model.model_config.ModelConfig` its model was trained with (from the checkpoint, the ONNX
metadata or the engine header, format version checked), so nothing is guessed.

Runtimes are imported lazily, inside the backend that needs them; a missing runtime or device raises
:class:`BackendUnavailable` saying what to install. A missing model file raises ``FileNotFoundError``; a
corrupt or foreign one ``ValueError``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import List

import numpy as np

from .contract import (
    BACKEND_SUFFIXES,
    BACKENDS,
    INPUT_NAME,
    OUTPUT_NAMES,
    Backend,
    BackendUnavailable,
    NetworkOutput,
    config_from_metadata,
    default_device,
    parse_device,
    read_onnx_metadata,
)

__all__ = ["OnnxRuntimeBackend", "TorchBackend", "create_backend", "default_model_path", "resolve_model"]


# --------------------------------------------------------------------------------------------------------------
# model files


def default_model_path(suffix: str) -> Path:
    """Path of the shipped default model with ``suffix`` ('.onnx' or '.pt') inside the installed package."""
    path = Path(str(resources.files("hand_pose_25d") / "models" / f"default{suffix}"))
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped default model {path} is missing from this installation of hand_pose_25d; "
            "reinstall the package or pass a model path"
        )
    return path


def resolve_model(model: str, backend: str) -> Path:
    """Turn the ``model`` setting ('default' or a path) into an existing file suited to ``backend``.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown backend, or a file type the backend cannot load (with the command that converts it).
    """
    if backend not in BACKEND_SUFFIXES:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if model in ("", "default"):
        return default_model_path(".pt" if backend == "torch" else ".onnx")
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"model file not found: {path} (use 'default' or a path to a .pt, .onnx or .engine file)"
        )
    if path.suffix.lower() not in BACKEND_SUFFIXES[backend]:
        hint = ""
        if path.suffix.lower() in (".pt", ".pth"):
            hint = f"; convert it with: hand-pose-25d export --model {path} --format onnx --out {path.with_suffix('.onnx')}"
        raise ValueError(
            f"the {backend} backend loads {', '.join(BACKEND_SUFFIXES[backend])} files, not {path.name}{hint}"
        )
    return path


# --------------------------------------------------------------------------------------------------------------
# ONNX Runtime


def _import_onnxruntime():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable(
            "the onnxruntime backend needs ONNX Runtime: pip install onnxruntime "
            "(or onnxruntime-gpu for CUDA / TensorRT execution providers), or pip install 'hand_pose_25d[onnx]'"
        ) from exc
    return ort


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime on the CPU, or with the CUDA / TensorRT execution provider (never a silent CPU fallback).

    Args:
        path: .onnx file exported by ``hand-pose-25d export``.
        device: 'cpu', 'cuda[:N]' (CUDAExecutionProvider) or 'tensorrt[:N]' (TensorrtExecutionProvider).
        num_threads: intra-op threads (0: ONNX Runtime's default, all physical cores).
    """

    name = "onnxruntime"

    def __init__(self, path: Path, device: str = "cpu", num_threads: int = 0, fp16: bool = False) -> None:
        ort = _import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        self.config = config_from_metadata(read_onnx_metadata(path), path)
        kind, index = parse_device(device)
        wanted = {
            "cpu": "CPUExecutionProvider",
            "cuda": "CUDAExecutionProvider",
            "tensorrt": "TensorrtExecutionProvider",
        }[kind]
        available = ort.get_available_providers()
        if wanted not in available:
            raise BackendUnavailable(
                f"{wanted} is not available in this onnxruntime build (available: {', '.join(available)}); "
                "install onnxruntime-gpu with matching CUDA/cuDNN (and TensorRT) libraries, or use device 'cpu'"
            )
        providers: List = []
        if kind == "tensorrt":
            providers.append((wanted, {"device_id": index, "trt_fp16_enable": bool(fp16)}))
        elif kind == "cuda":
            providers.append((wanted, {"device_id": index}))
        else:
            providers.append(wanted)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if num_threads > 0:
            opts.intra_op_num_threads = int(num_threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:
            raise ValueError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        active = self.session.get_providers()
        if wanted not in active:
            raise BackendUnavailable(
                f"ONNX Runtime silently fell back to {active} instead of {wanted} (missing CUDA/cuDNN/TensorRT "
                "libraries?); refusing to run on the wrong device"
            )
        names = [o.name for o in self.session.get_outputs()]
        missing = [n for n in OUTPUT_NAMES if n not in names]
        inputs = [i.name for i in self.session.get_inputs()]
        if missing or inputs != [INPUT_NAME]:
            raise ValueError(f"{path} is not a hand_pose_25d export: inputs {inputs}, outputs {names}")
        self.path = path
        self.device = device
        self.providers = active

    def infer(self, crops: np.ndarray) -> NetworkOutput:
        crops = self.check_input(crops)
        outs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: crops})
        return {n: np.asarray(o, dtype=np.float32) for n, o in zip(OUTPUT_NAMES, outs)}

    def describe(self) -> str:
        return f"onnxruntime {self.session.get_providers()[0]} ({self.path.name})"


# --------------------------------------------------------------------------------------------------------------
# PyTorch


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(
            "the torch backend needs PyTorch: pip install torch (CPU: pip install torch==2.13.0), "
            "or use the onnxruntime backend"
        ) from exc
    return torch


class TorchBackend(Backend):
    """PyTorch eager inference from a .pt checkpoint; FP16 autocast and channels-last on CUDA.

    Args:
        path: checkpoint written by training (``hand_pose_25d.model.checkpoint``).
        device: 'cpu', 'cuda' or 'cuda:N'.
        fp16: half-precision autocast (CUDA only).
        num_threads: ``torch.set_num_threads`` (0 leaves torch's default).
    """

    name = "torch"

    def __init__(self, path: Path, device: str = "cpu", num_threads: int = 0, fp16: bool = False) -> None:
        torch = _import_torch()
        from ..model.checkpoint import load_checkpoint
        from ..model.onnx_export import ExportWrapper

        kind, index = parse_device(device)
        if kind == "tensorrt":
            raise ValueError("device 'tensorrt' is for the onnxruntime backend; use backend 'tensorrt' instead")
        if kind == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"device {device!r} requested but torch {torch.__version__} sees no CUDA GPU; install a CUDA build "
                "of torch or use device 'cpu'"
            )
        if num_threads > 0:
            torch.set_num_threads(int(num_threads))
        loaded = load_checkpoint(Path(path), map_location="cpu")
        self.config = loaded.config
        self.torch = torch
        self.dev = torch.device(f"cuda:{index}" if kind == "cuda" else "cpu")
        self.fp16 = bool(fp16) and kind == "cuda"
        module = ExportWrapper(loaded.model, loaded.config).eval().to(self.dev)
        if kind == "cuda":
            module = module.to(memory_format=torch.channels_last)
        self.module = module
        self.path = Path(path)
        self.device = str(self.dev)

    def infer(self, crops: np.ndarray) -> NetworkOutput:
        crops = self.check_input(crops)
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(crops).to(self.dev, non_blocking=True)
            if self.fp16:
                with torch.autocast(device_type="cuda", dtype=torch.float16):
                    outs = self.module(x)
            else:
                outs = self.module(x)
        return {n: o.float().cpu().numpy() for n, o in zip(OUTPUT_NAMES, outs)}

    def describe(self) -> str:
        return f"torch {self.torch.__version__} on {self.device}{' fp16' if self.fp16 else ''} ({self.path.name})"


# --------------------------------------------------------------------------------------------------------------
# factory


def create_backend(
    backend: str,
    model: str = "default",
    *,
    device: str = "cpu",
    fp16: bool = False,
    num_threads: int = 0,
    max_batch: int = 8,
) -> Backend:
    """Build the backend named ``backend`` for ``model`` ('default' or a path); ``device`` 'auto' is cuda for
    tensorrt and cpu for the others."""
    if device.strip().lower() == "auto":
        device = default_device(backend)
    path = resolve_model(model, backend)
    if backend == "onnxruntime":
        b: Backend = OnnxRuntimeBackend(path, device=device, num_threads=num_threads, fp16=fp16)
    elif backend == "torch":
        b = TorchBackend(path, device=device, num_threads=num_threads, fp16=fp16)
    else:
        from .tensorrt_backend import TensorRTBackend

        b = TensorRTBackend(path, device=device, fp16=fp16, max_batch=max_batch)
    return b
