"""Architecture presets (pure Python: importable without torch).

* ``paper``: the paper's full model (Sec. 5.2): 256 channels everywhere, 128x128 input, heatmaps at input
  resolution, 2 stages, 7x7 convolutions in the last three layers. About 17.6 M parameters per stage (the paper:
  17 M for one stage, 35 M for two); far too slow for a CPU (see ``docs/model-presets.md``).
* ``fast``: the paper's "fast" variant: 128 channels, 1 stage, the 7x7 layers replaced by 1x1, 3x3, 1x1.
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

#: Preset name -> ModelConfig fields (read-only views).
PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {name: MappingProxyType(fields) for name, fields in (("paper", _PAPER), ("fast", _FAST), ("compact", _COMPACT))}
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
