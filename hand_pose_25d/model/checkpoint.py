"""Checkpoints (nanoGPT style): one ``.pt`` file with the weights, the ModelConfig and the training state.

The file is a plain dict that ``torch.load(..., weights_only=True)`` accepts (tensors, dicts, lists, tuples,
str, int, float, bool, None), so loading never runs pickled code::

    {
        "format": "hand_pose_25d.checkpoint", "format_version": 1,
        "model_config": ModelConfig as a plain dict (config.to_dict),
        "model": state_dict,
        "optimizer": optimizer.state_dict() or None, "scheduler": scheduler.state_dict() or None,
        "step": int or None, "extra": dict (user data, e.g. the loss config, metrics, the data recipe),
        "versions": {"hand_pose_25d": ..., "torch": ...},
    }

The model is rebuilt from the stored config by :func:`build_model`, so a checkpoint is self-describing.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch
from torch import nn

from .. import __version__
from ..fileio import atomic_output
from ..settings import from_dict, to_dict
from .model_config import ModelConfig
from .network import HandPoseNet, check_config_matches

__all__ = ["FORMAT", "FORMAT_VERSION", "LoadedCheckpoint", "build_model", "save_checkpoint", "load_checkpoint"]

FORMAT = "hand_pose_25d.checkpoint"
FORMAT_VERSION = 1

#: Prefixes that wrappers add to state-dict keys (torch.compile, DataParallel / DistributedDataParallel).
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def build_model(config: ModelConfig, encoder_graph: Optional[Dict[str, Any]] = None) -> nn.Module:
    """The network described by ``config``, in training mode.

    ``config.encoder == "none"``: a freshly initialised :class:`HandPoseNet`. Otherwise a
    :class:`~hand_pose_25d.model.pretrained_net.PretrainedHandPoseNet`: with ``encoder_graph`` (what a checkpoint
    stores) its encoder weights are zeros until a state dict is loaded; without it, the encoder is imported with
    its pretrained weights from the MediaPipe ``.tflite`` (models folder or mediapipe wheel; ``PretrainedError``
    when neither can be had).
    """
    if not isinstance(config, ModelConfig):
        raise ValueError(f"build_model expects a ModelConfig, got {type(config).__name__}")
    if config.encoder != "none":
        from .pretrained_net import build_pretrained_net

        return build_pretrained_net(config, encoder_graph)
    if encoder_graph is not None:
        raise ValueError("an encoder graph was given for a model without a pretrained encoder (encoder 'none')")
    return HandPoseNet(config)


@dataclass
class LoadedCheckpoint:
    """Result of :func:`load_checkpoint`.

    Attributes:
        model: the rebuilt network with the stored weights, in eval mode.
        config: the stored :class:`ModelConfig`.
        extra: the user data stored with ``save_checkpoint(extra=...)`` (empty dict if none).
        raw: the whole stored dict (``optimizer``, ``scheduler``, ``step``, ``versions`` ... for resuming).
    """

    model: nn.Module
    config: ModelConfig
    extra: Dict[str, Any] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> Optional[int]:
        """The training step stored with the checkpoint, or None."""
        return self.raw.get("step")


def _plain(value: Any, where: str) -> None:
    """Raise ``ValueError`` if ``value`` holds anything ``torch.load(weights_only=True)`` would refuse."""
    # exact types: subclasses (numpy scalars are float subclasses, torch.__version__ is a str subclass) are
    # pickled by class and refused by the weights-only loader
    if value is None or type(value) in (bool, int, float, str, torch.dtype, torch.device):
        return
    if isinstance(value, torch.Tensor) and type(value) in (torch.Tensor, nn.Parameter):
        return
    if type(value) in (list, tuple):
        for i, v in enumerate(value):
            _plain(v, f"{where}[{i}]")
        return
    if type(value) in (dict, OrderedDict):
        for k, v in value.items():
            if type(k) not in (str, int, float, bool):
                raise ValueError(f"{where}: dict key {k!r} is not a str/int/float/bool")
            _plain(v, f"{where}[{k!r}]")
        return
    raise ValueError(
        f"{where} holds a {type(value).__name__}, which a weights-only checkpoint cannot store; "
        "use plain dicts, lists, str, int, float, bool, None and tensors"
    )


def _unwrap_state_dict(model: nn.Module) -> Dict[str, torch.Tensor]:
    state = model.state_dict()
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        out[key] = value.detach().cpu()
    return out


def save_checkpoint(
    path: Union[str, os.PathLike],
    model: nn.Module,
    config: ModelConfig,
    *,
    extra: Optional[Mapping[str, Any]] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scheduler: Optional[Any] = None,
    step: Optional[int] = None,
    half_weights: bool = False,
) -> Path:
    """Write a checkpoint of ``model`` (built from ``config``) and optionally the training state, atomically.

    Args:
        path: destination ``.pt`` file (parent directories are created).
        model: the network (a ``torch.compile`` / DataParallel wrapper is fine: key prefixes are stripped).
        config: its :class:`ModelConfig`; must agree with the model's architecture (``ValueError`` otherwise).
        extra: plain user data (dicts, lists, str, int, float, bool, None, tensors).
        optimizer, scheduler: objects with ``state_dict()`` whose state is stored for resuming.
        step: the training step.
        half_weights: store the floating-point weights as float16 (half the size, e.g. for shipping a model;
            :func:`load_checkpoint` loads them into the float32 model).

    Returns:
        The path written.
    """
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be a ModelConfig, got {type(config).__name__}")
    config.check()
    inner = getattr(model, "_orig_mod", model)
    if isinstance(inner, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        inner = inner.module
    check_config_matches(inner, config)
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise ValueError(f"step must be an int or None, got {step!r}")
    extra_dict = dict(extra) if extra is not None else {}
    _plain(extra_dict, "extra")
    payload: Dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": to_dict(config),
        "model": {
            k: (v.half() if half_weights and v.is_floating_point() else v) for k, v in _unwrap_state_dict(inner).items()
        },
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": step,
        "extra": extra_dict,
        "encoder_graph": getattr(inner, "encoder_graph", None),
        "versions": {"hand_pose_25d": str(__version__), "torch": str(torch.__version__)},
    }
    _plain(payload["optimizer"], "optimizer state")
    _plain(payload["scheduler"], "scheduler state")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: Union[str, os.PathLike], map_location: Union[str, torch.device] = "cpu") -> LoadedCheckpoint:
    """Load a checkpoint written by :func:`save_checkpoint` and rebuild its model (in eval mode).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is corrupt, truncated or not a hand_pose_25d checkpoint; its stored config is
            invalid (e.g. unknown keys); or its weights do not fit the stored architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, foreign pickle, unsafe globals ...
        raise ValueError(f"{path} is not a hand_pose_25d checkpoint: {type(exc).__name__}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"{path} is not a hand_pose_25d checkpoint: format marker is {found!r}, expected {FORMAT!r}")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path}: unsupported checkpoint format_version {version!r} (this code reads {FORMAT_VERSION})"
        )
    for key in ("model_config", "model"):
        if not isinstance(raw.get(key), dict):
            raise ValueError(f"{path} is not a hand_pose_25d checkpoint: missing or malformed {key!r}")
    try:
        config = from_dict(ModelConfig, raw["model_config"])
    except ValueError as exc:
        raise ValueError(f"{path}: invalid stored model config: {exc}") from exc
    graph = raw.get("encoder_graph")
    if config.encoder != "none" and not isinstance(graph, dict):
        raise ValueError(
            f"{path}: the model is built on the pretrained encoder {config.encoder!r} but the checkpoint holds no "
            "encoder graph (encoder_graph)"
        )
    try:
        model = build_model(config, graph if config.encoder != "none" else None)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    try:
        model.load_state_dict(raw["model"], strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: the stored weights do not match the stored architecture: {exc}") from exc
    model.to(map_location)
    model.eval()
    extra = raw.get("extra") or {}
    return LoadedCheckpoint(model=model, config=config, extra=dict(extra), raw=raw)
