"""Typed settings: the one source of truth for model, pipeline, node and training configuration.

Pure Python (+ PyYAML for file I/O). Every setting is a dataclass field declared with :func:`setting`,
which records a description and, where it applies, a range, a set of choices and whether it may change
while the node runs. Everything else is derived from these declarations:

* YAML files in ``config/`` (:func:`load_yaml`, :func:`dump_yaml`, :func:`to_dict`, :func:`from_dict`);
* the ROS 2 node's parameters (:func:`parameter_specs` flattens nested dataclasses into dotted names);
* the configuration stored inside checkpoints and exported models (:class:`ModelConfig`).

Unknown keys, wrong types and out-of-range values raise ``ValueError`` naming the offending key.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

from .skeleton import BONES, DEFAULT_BONE_LENGTHS, DEFAULT_REF_BONE, DEFAULT_ROOT, KEYPOINT_NAMES

T = TypeVar("T")

__all__ = [
    "setting",
    "ParameterSpec",
    "to_dict",
    "from_dict",
    "load_yaml",
    "dump_yaml",
    "parameter_specs",
    "validate",
    "ModelConfig",
]


def setting(
    default: Any = dataclasses.MISSING,
    *,
    description: str,
    min: Optional[float] = None,
    max: Optional[float] = None,
    choices: Optional[Sequence[Any]] = None,
    dynamic: bool = False,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """Declare a dataclass field with the metadata the YAML, CLI and ROS layers derive from.

    Args:
        default: default value (or use ``default_factory`` for mutable defaults).
        description: one sentence with units, shown as the ROS parameter description.
        min, max: inclusive numeric range (checked by :func:`validate`, exported as a ROS range).
        choices: allowed values.
        dynamic: True if the ROS node accepts a change of this value while running.
    """
    meta = {"description": description, "min": min, "max": max, "choices": tuple(choices) if choices else None,
            "dynamic": dynamic}  # fmt: skip
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------------------------------------------
# generic machinery


def _hints(cls: type) -> Dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def to_dict(obj: Any) -> Any:
    """Plain (JSON/YAML-serialisable) form of a settings dataclass: nested dicts, lists for tuples."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, _prefix=key + ".")
    if tp is tuple or tp is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {type(value).__name__}")
        return tp(value)
    if origin in (tuple, Tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ValueError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))) if args else tuple(value)
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {type(value).__name__}")
        return [_coerce(v, args[0], f"{key}[{i}]") if args else v for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: Type[T], data: Mapping[str, Any], *, _prefix: str = "") -> T:
    """Build settings dataclass ``cls`` from a mapping; missing keys keep their defaults.

    Raises:
        ValueError: unknown key, wrong type or out-of-range value (the message names the key).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{_prefix or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(_prefix + u for u in unknown)} for {cls.__name__}; "
            f"known: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(v, hints[k], _prefix + k) for k, v in data.items()}
    obj = cls(**kwargs)
    validate(obj, _prefix=_prefix)
    return obj


def validate(obj: Any, *, _prefix: str = "") -> None:
    """Check every field of a settings dataclass against its declared range and choices (recursively)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = _prefix + f.name
        if dataclasses.is_dataclass(value):
            validate(value, _prefix=key + ".")
            continue
        meta = f.metadata
        choices = meta.get("choices")
        if choices and value not in choices:
            raise ValueError(f"{key}: {value!r} is not one of {', '.join(map(repr, choices))}")
        lo, hi = meta.get("min"), meta.get("max")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value:  # NaN
                raise ValueError(f"{key}: NaN is not allowed")
            if lo is not None and value < lo:
                raise ValueError(f"{key}: {value} is below the minimum {lo}")
            if hi is not None and value > hi:
                raise ValueError(f"{key}: {value} is above the maximum {hi}")
    post = getattr(obj, "check", None)
    if callable(post):
        post()


def load_yaml(cls: Type[T], path: Union[str, Path], *, section: Optional[str] = None) -> T:
    """Read settings ``cls`` from a YAML file (optionally from one top-level ``section``)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with path.open() as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if section is not None:
        data = data.get(section, {}) if isinstance(data, Mapping) else {}
    try:
        return from_dict(cls, data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def dump_yaml(obj: Any, path: Optional[Union[str, Path]] = None, *, comments: bool = True) -> str:
    """YAML text of a settings dataclass, each field preceded by its description; written to ``path`` if given."""
    lines: List[str] = []
    _yaml_lines(obj, lines, indent=0, comments=comments)
    text = "\n".join(lines) + "\n"
    if path is not None:
        Path(path).write_text(text)
    return text


def _yaml_scalar(value: Any) -> str:
    return json.dumps(to_dict(value))  # JSON scalars and flow lists are valid YAML


def _yaml_lines(obj: Any, lines: List[str], indent: int, comments: bool) -> None:
    pad = " " * indent
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if comments and f.metadata.get("description"):
            lines.append(f"{pad}# {f.metadata['description']}")
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{f.name}:")
            _yaml_lines(value, lines, indent + 2, comments)
        else:
            lines.append(f"{pad}{f.name}: {_yaml_scalar(value)}")


@dataclass(frozen=True)
class ParameterSpec:
    """One flattened setting, as the ROS node declares it.

    Attributes:
        name: dotted parameter name (``tracking.min_score``).
        default: default value (lists for tuples).
        type: one of ``bool``, ``int``, ``float``, ``str``, ``int_array``, ``float_array``, ``str_array``.
        description, min, max, choices, dynamic: from :func:`setting`.
    """

    name: str
    default: Any
    type: str
    description: str
    min: Optional[float]
    max: Optional[float]
    choices: Optional[Tuple[Any, ...]]
    dynamic: bool


def _param_type(tp: Any, default: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else tp
        origin = typing.get_origin(tp)
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if origin in (tuple, list, Tuple, List) or tp in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        elem = args[0] if args else type(default[0]) if default else float
        return {bool: "bool_array", int: "int_array", float: "float_array", str: "str_array"}.get(elem, "float_array")
    raise TypeError(f"setting of type {tp!r} cannot be a ROS parameter")


def parameter_specs(obj_or_cls: Any, *, prefix: str = "") -> Iterator[ParameterSpec]:
    """Flatten a settings dataclass (instance or class) into :class:`ParameterSpec` s with dotted names."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    inst = obj_or_cls if not isinstance(obj_or_cls, type) else cls()
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        value = getattr(inst, f.name)
        name = prefix + f.name
        if dataclasses.is_dataclass(value):
            yield from parameter_specs(value, prefix=name + ".")
            continue
        meta = f.metadata
        yield ParameterSpec(
            name=name,
            default=to_dict(value),
            type=_param_type(hints[f.name], value),
            description=meta.get("description", ""),
            min=meta.get("min"),
            max=meta.get("max"),
            choices=meta.get("choices"),
            dynamic=bool(meta.get("dynamic", False)),
        )


def replace_flat(obj: T, updates: Mapping[str, Any]) -> T:
    """Copy of settings ``obj`` with dotted-name ``updates`` applied (validated); ``ValueError`` on bad input."""
    data = to_dict(obj)
    for name, value in updates.items():
        node = data
        parts = name.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ValueError(f"unknown setting {name}")
            node = node[part]
        if parts[-1] not in node:
            raise ValueError(f"unknown setting {name}")
        node[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return from_dict(type(obj), data)


# --------------------------------------------------------------------------------------------------------------
# the model's own configuration (stored in checkpoints and exported models)


@dataclass
class ModelConfig:
    """Architecture of the network and every convention needed to use its output.

    Stored in checkpoints (``.pt``), ONNX metadata and TensorRT engine metadata, so that nothing is guessed at
    load time. Presets (``paper``, ``fast``, ``compact``) are in :mod:`hand_pose_25d.model.presets`.
    """

    preset: str = setting("compact", description="Name of the architecture preset this config was built from.")
    head: str = setting(
        "latent",
        description="Output head: latent 2.5D heatmaps (the paper's method), direct 2.5D heatmaps, or holistic regression.",
        choices=("latent", "direct", "holistic"),
    )
    input_size: int = setting(128, description="Side of the square network input in pixels.", min=32, max=512)
    channels: int = setting(64, description="Feature channels of the encoder-decoder layers.", min=4, max=1024)
    depth: int = setting(4, description="Number of down-sampling levels of the encoder.", min=1, max=7)
    output_stride: int = setting(
        2, description="Input pixels per heatmap pixel (1: heatmaps at input resolution).", choices=(1, 2, 4, 8)
    )
    num_stages: int = setting(1, description="Number of stacked encoder-decoder stages (loss at every stage).", min=1, max=4)
    block: str = setting(
        "conv", description="Convolution block type of the encoder-decoder.", choices=("conv", "residual", "separable")
    )
    fast_head: bool = setting(
        False, description="Paper's fast variant: 1x1, 3x3, 1x1 convolutions instead of 7x7 in the last layers."
    )
    num_keypoints: int = setting(21, description="Number of keypoints.", min=1, max=64)
    keypoint_names: Tuple[str, ...] = setting(
        default_factory=lambda: tuple(KEYPOINT_NAMES), description="Keypoint names in output order."
    )
    root: int = setting(DEFAULT_ROOT, description="Index of the root keypoint the depths are relative to.", min=0, max=63)
    ref_bone: Tuple[int, int] = setting(
        DEFAULT_REF_BONE, description="(parent, child) keypoints of the bone whose 3D length normalises depth."
    )
    image_mean: Tuple[float, float, float] = setting(
        (0.485, 0.456, 0.406), description="Per-channel RGB mean subtracted from the [0, 1] input image."
    )
    image_std: Tuple[float, float, float] = setting(
        (0.229, 0.224, 0.225), description="Per-channel RGB standard deviation dividing the input image."
    )
    crop_padding: float = setting(
        1.3, description="Crop side as a multiple of the larger side of the tight keypoint box.", min=1.0, max=4.0
    )
    bone_lengths: Tuple[Tuple[float, float, float], ...] = setting(
        default_factory=lambda: tuple((float(a), float(b), float(DEFAULT_BONE_LENGTHS[(a, b)])) for a, b in BONES),
        description="Bone-length prior as (parent, child, metres) rows: the mean bones of the training data.",
    )

    def check(self) -> None:
        """Cross-field consistency (called by :func:`validate`)."""
        if len(self.keypoint_names) != self.num_keypoints:
            raise ValueError(f"keypoint_names has {len(self.keypoint_names)} names for {self.num_keypoints} keypoints")
        if not 0 <= self.root < self.num_keypoints:
            raise ValueError(f"root {self.root} is not a keypoint index")
        a, b = self.ref_bone
        if a == b or not (0 <= a < self.num_keypoints and 0 <= b < self.num_keypoints):
            raise ValueError(f"ref_bone {self.ref_bone} must join two different keypoints")
        if self.input_size % self.output_stride:
            raise ValueError(f"input_size {self.input_size} is not a multiple of output_stride {self.output_stride}")
        for row in self.bone_lengths:
            if len(row) != 3 or not row[2] > 0:
                raise ValueError(f"bone_lengths row {row!r} must be (parent, child, positive metres)")

    def bone_prior(self) -> Dict[Tuple[int, int], float]:
        """The bone-length prior as a ``{(parent, child): metres}`` mapping for :mod:`hand_pose_25d.geometry`."""
        return {(int(a), int(b)): float(m) for a, b, m in self.bone_lengths}

    def to_json(self) -> str:
        """Compact JSON string (used for ONNX / TensorRT metadata)."""
        return json.dumps(to_dict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        """Inverse of :meth:`to_json`; ``ValueError`` on malformed text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"model config is not valid JSON: {exc}") from exc
        return from_dict(cls, data)
