"""The exported model's contract: tensor names, stored metadata, backend names and the backend interface.

Everything that the exporter (:mod:`hand_pose_25d.model.onnx_export`), the TensorRT engine builder and every
inference backend must agree on is written here once:

* the graph's tensors (``image`` in; ``uv``, ``z_rel``, ``keypoint_scores``, ``handedness`` out)::

      image           uint8   (B, S, S, 3)  RGB crops, S = ModelConfig.input_size
      uv              float32 (B, K, 2)     keypoints in crop (network-input) pixels, integer = pixel centre
      z_rel           float32 (B, K)        scale-normalised root-relative depth (reference-bone units)
      keypoint_scores float32 (B, K)        per-keypoint confidence in [0, 1]
      handedness      float32 (B,)          probability that the hand is a RIGHT hand

* the metadata that travels with a model (:data:`CONFIG_KEY`: the :class:`ModelConfig` as JSON;
  :data:`FORMAT_VERSION_KEY` / :data:`FORMAT_VERSION`), and :func:`read_onnx_config`, which every loader uses;
* :data:`BACKENDS`, the model file types each one loads, :func:`parse_device`;
* :class:`Backend`, the one small interface every runtime implements, and :class:`BackendUnavailable`.

numpy only; the onnx package (or onnxruntime) is imported to read metadata, nothing heavier.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np

from ..model.model_config import ModelConfig

__all__ = [
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "CONFIG_KEY",
    "DETECTOR_CONFIG_KEY",
    "FORMAT_VERSION_KEY",
    "FORMAT_VERSION",
    "BACKENDS",
    "BACKEND_SUFFIXES",
    "DEVICE_KINDS",
    "NetworkOutput",
    "Backend",
    "BackendUnavailable",
    "parse_device",
    "backend_for_model",
    "default_device",
    "read_onnx_metadata",
    "config_from_metadata",
    "read_onnx_config",
]

INPUT_NAME = "image"
OUTPUT_NAMES: Tuple[str, ...] = ("uv", "z_rel", "keypoint_scores", "handedness")

#: Metadata key of the model's :class:`ModelConfig` (JSON) in ONNX ``metadata_props`` and engine headers.
CONFIG_KEY = "hand_pose_25d.model_config"
#: Metadata key of the palm detector's description (JSON) in its ONNX export (:mod:`hand_pose_25d.detection`).
DETECTOR_CONFIG_KEY = "hand_pose_25d.detector_config"
#: Metadata key of the export format version; loaders refuse any other version than :data:`FORMAT_VERSION`.
FORMAT_VERSION_KEY = "hand_pose_25d.format_version"
FORMAT_VERSION = "1"

#: Inference runtimes, in the order the CLI lists them (the first is the default).
BACKENDS: Tuple[str, ...] = ("onnxruntime", "torch", "tensorrt")
#: Model file suffixes each backend loads.
BACKEND_SUFFIXES: Dict[str, Tuple[str, ...]] = {
    "onnxruntime": (".onnx",),
    "torch": (".pt", ".pth"),
    "tensorrt": (".onnx", ".engine", ".plan"),
}
#: Device kinds :func:`parse_device` accepts ('tensorrt' selects ONNX Runtime's TensorRT execution provider).
DEVICE_KINDS: Tuple[str, ...] = ("cpu", "cuda", "tensorrt")

NetworkOutput = Dict[str, np.ndarray]


class BackendUnavailable(RuntimeError):
    """The requested runtime, execution provider or device is not available; the message says what to do."""


def parse_device(device: str) -> Tuple[str, int]:
    """Split a device setting into ``(kind, index)``.

    Args:
        device: 'cpu', 'cuda', 'cuda:N' or 'tensorrt[:N]' (case and surrounding spaces ignored).

    Returns:
        ``(kind, index)`` with kind one of :data:`DEVICE_KINDS` and index >= 0 (0 when not given).

    Raises:
        ValueError: unknown kind or a malformed index.
    """
    kind, _, idx = str(device).partition(":")
    kind = kind.strip().lower()
    if kind not in DEVICE_KINDS:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    try:
        index = int(idx) if idx else 0
    except ValueError:
        raise ValueError(f"bad device index in {device!r}") from None
    if index < 0:
        raise ValueError(f"bad device index in {device!r}")
    return kind, index


def backend_for_model(model: str) -> str:
    """The backend that loads ``model`` (a path or 'default') by its suffix: .pt/.pth -> torch, .engine/.plan ->
    tensorrt, anything else (.onnx, 'default') -> onnxruntime."""
    suffix = Path(str(model)).suffix.lower()
    for name in ("torch", "tensorrt"):
        if suffix in BACKEND_SUFFIXES[name] and suffix != ".onnx":
            return name
    return BACKENDS[0]


def default_device(backend: str) -> str:
    """The device a backend runs on when none is asked for: cuda for tensorrt, else cpu."""
    return "cuda" if backend == "tensorrt" else "cpu"


class Backend(abc.ABC):
    """Runs the network on a batch of uint8 crops. Subclasses set :attr:`config`, :attr:`name`, :attr:`device`."""

    name: str = ""
    config: ModelConfig
    device: str = "cpu"
    #: Largest batch the backend accepts in one call (None: unlimited).
    max_batch: Optional[int] = None

    @property
    def input_size(self) -> int:
        """Side S of the square network input in pixels."""
        return int(self.config.input_size)

    def check_input(self, crops: np.ndarray) -> np.ndarray:
        """Validate a crop batch: (B, S, S, 3) uint8 with 1 <= B <= max_batch; returns it C-contiguous."""
        S = self.input_size
        if (
            not isinstance(crops, np.ndarray)
            or crops.dtype != np.uint8
            or crops.ndim != 4
            or crops.shape[1:] != (S, S, 3)
        ):
            raise ValueError(
                f"expected uint8 crops of shape (B, {S}, {S}, 3), got {getattr(crops, 'dtype', type(crops).__name__)} "
                f"{getattr(crops, 'shape', '')}"
            )
        if crops.shape[0] < 1:
            raise ValueError("empty crop batch")
        if self.max_batch is not None and crops.shape[0] > self.max_batch:
            raise ValueError(f"batch of {crops.shape[0]} exceeds this backend's max_batch {self.max_batch}")
        return np.ascontiguousarray(crops)

    @abc.abstractmethod
    def infer(self, crops: np.ndarray) -> NetworkOutput:
        """Run the network on crops (B, S, S, 3) uint8; return the named float32 outputs of :data:`OUTPUT_NAMES`."""

    def describe(self) -> str:
        """One line naming runtime, device and model."""
        return f"{self.name} on {self.device}"

    def close(self) -> None:  # pragma: no cover - trivial default
        """Release runtime resources."""


def read_onnx_metadata(path: Union[str, os.PathLike]) -> Dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict, read with the onnx package or, without it, onnxruntime.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a readable ONNX model.
        BackendUnavailable: neither onnx nor onnxruntime is installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is not None:
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # onnx raises DecodeError and others for corrupt files
            raise ValueError(f"{path} is not a valid ONNX model: {type(exc).__name__}: {exc}") from exc
        return {p.key: p.value for p in proto.metadata_props}
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable(
            "reading an ONNX model needs the onnx or onnxruntime package: pip install onnxruntime "
            "(or pip install 'hand_pose_25d[onnx]')"
        ) from exc
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ValueError(f"{path} is not a valid ONNX model: {type(exc).__name__}: {exc}") from exc
    return dict(sess.get_modelmeta().custom_metadata_map)


def config_from_metadata(meta: Mapping[str, str], source: Union[str, os.PathLike]) -> ModelConfig:
    """The :class:`ModelConfig` stored in model metadata, after checking the format version.

    Args:
        meta: the metadata (ONNX ``metadata_props`` or a TensorRT engine header's keys).
        source: the file it came from, for the messages.

    Raises:
        ValueError: no config, a format version other than :data:`FORMAT_VERSION`, or an invalid config.
    """
    text = meta.get(CONFIG_KEY)
    if text is None:
        raise ValueError(
            f"{source} carries no hand_pose_25d model config (metadata key {CONFIG_KEY!r}): it was not exported by "
            "'hand-pose-25d export'"
        )
    version = meta.get(FORMAT_VERSION_KEY)
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{source}: unsupported {FORMAT_VERSION_KEY} {version!r} (this version of hand_pose_25d reads "
            f"{FORMAT_VERSION!r}); re-export the model with 'hand-pose-25d export'"
        )
    try:
        return ModelConfig.from_json(text)
    except ValueError as exc:
        raise ValueError(f"{source}: invalid stored model config: {exc}") from exc


def read_onnx_config(path: Union[str, os.PathLike]) -> ModelConfig:
    """The :class:`ModelConfig` stored in an ONNX file written by ``hand-pose-25d export`` (format version checked).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a readable ONNX model, no config metadata, an unsupported format version, or an invalid
            stored config.
    """
    return config_from_metadata(read_onnx_metadata(path), path)
