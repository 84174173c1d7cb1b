"""Architecture presets (pure Python: importable without torch).

* ``paper``: the paper's full model (Sec. 5.2): 256 channels everywhere, 128x128 input, heatmaps at input
  resolution, 2 stages, 7x7 convolutions in the last three layers. About 17.6 M parameters per stage (the paper:
  17 M for one stage, 35 M for two); far too slow for a CPU (see ``docs/model-presets.md``).
* ``fast``: the paper's "fast" variant: 128 channels, 1 stage, the 7x7 layers replaced by 1x1, 3x3, 1x1.
* ``landmark``: the latent 2.5D head on MediaPipe's pretrained hand-landmark encoder (``hand_landmark_full``,
  imported from the mediapipe 0.10.21 wheel, Apache-2.0), cut at stride 16, with a light separable decoder.
* ``compact``: the default, chosen by measurement for real time on a 2-core CPU under ONNX Runtime and for
  training on that CPU (see ``docs/model-presets.md`` and ``tools/measure_presets.py``).

Every preset names all architecture fields, so that changing a :class:`ModelConfig` default never changes
a preset.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Dict, Mapping

from ..settings import from_dict
from .model_config import ModelConfig

__all__ = ["PRESETS", "DEFAULT_PRESET", "preset_config"]

_PAPER: Dict[str, Any] = {
    "encoder": "none",
    "head": "latent",
    "input_size": 128,
    "channels": 256,
    "depth": 4,
    "output_stride": 1,
    "num_stages": 2,
    "block": "conv",
    "fast_head": False,
    "blocks_per_level": 2,
    "channel_growth": 1.0,
    "beta_init": 1.0,
    "confidence_radius": 0.0625,
}

_FAST: Dict[str, Any] = dict(_PAPER, channels=128, num_stages=1, fast_head=True)

_COMPACT: Dict[str, Any] = {
    "encoder": "none",
    "head": "latent",
    "input_size": 128,
    "channels": 32,
    "depth": 3,
    "output_stride": 4,
    "num_stages": 1,
    "block": "conv",
    "fast_head": True,
    "blocks_per_level": 2,
    "channel_growth": 2.0,
    "beta_init": 1.0,
    "confidence_radius": 0.0625,
}

# The latent 2.5D head on MediaPipe's hand-landmark encoder (real-trained, Apache-2.0), cut at stride 16, with a
# separable decoder back to stride 4 (see model/pretrained_net.py and docs/model-presets.md). The weights source and
# license are part of the preset: a model built on them must say where they come from.
_LANDMARK: Dict[str, Any] = {
    "encoder": "hand_landmark_full",
    "weights_source": "mediapipe==0.10.21 wheel (PyPI): mediapipe/modules/hand_landmark/hand_landmark_full.tflite "
    "sha256 11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3; cut, resized and fine-tuned by "
    "hand_pose_25d",
    "weights_license": "Apache-2.0 (The MediaPipe Authors; notice: THIRD_PARTY_NOTICES.md, LICENSE.mediapipe.txt)",
    "head": "latent",
    "input_size": 128,
    "channels": 64,
    "depth": 2,
    "output_stride": 4,
    "num_stages": 1,
    "block": "separable",
    "fast_head": True,
    "blocks_per_level": 1,
    "channel_growth": 1.0,
    "beta_init": 1.0,
    "confidence_radius": 0.0625,
    "image_mean": (0.0, 0.0, 0.0),
    "image_std": (1.0, 1.0, 1.0),
}

#: Preset name -> ModelConfig fields (read-only views).
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        name: MappingProxyType(fields)
        for name, fields in (("paper", _PAPER), ("fast", _FAST), ("compact", _COMPACT), ("landmark", _LANDMARK))
    }
)

#: The preset used when none is named (CPU real time).
DEFAULT_PRESET = "compact"


def preset_config(name: str = DEFAULT_PRESET, **overrides: Any) -> ModelConfig:
    """The :class:`ModelConfig` of preset ``name`` with ``overrides`` (any ModelConfig fields) applied and validated.

    Raises:
        ValueError: unknown preset, unknown field, or an invalid value / combination.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    if "preset" in overrides and overrides["preset"] != name:
        raise ValueError(f"preset_config({name!r}) cannot override the preset name with {overrides['preset']!r}")
    data = dict(PRESETS[name])
    data.update(overrides)
    data["preset"] = name
    return from_dict(ModelConfig, data)
