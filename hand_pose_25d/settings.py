"""Typed settings machinery: the one source of truth for every configuration of the package.

Pure Python (+ PyYAML for file I/O). Every setting is a dataclass field declared with :func:`setting`,
which records a description and, where it applies, a range, a set of choices and whether it may change
while the node runs. Everything else is derived from these declarations:

* YAML files in ``config/`` (:func:`load_yaml`, :func:`dump_yaml`, :func:`to_dict`, :func:`from_dict`);
* the ROS 2 node's parameters (:func:`parameter_specs` flattens nested dataclasses into dotted names);
* command-line ``--set`` overrides (:func:`replace_flat`).

Each layer owns its settings, declared with this machinery beside the code that uses them:

* :class:`hand_pose_25d.model.model_config.ModelConfig` -- the network and its conventions (stored in
  checkpoints and exported models);
* :class:`hand_pose_25d.inference.pipeline_config.PipelineConfig` -- how the inference pipeline runs;
* :class:`hand_pose_25d.inference.tracking.TrackingConfig` -- crop choice and tracks;
* :class:`hand_pose_25d.ros.node_config.NodeConfig` -- every parameter of the ROS node;
* :class:`hand_pose_25d.training.train_config.TrainConfig`, :class:`hand_pose_25d.data.augment.AugmentConfig`,
  :class:`hand_pose_25d.data.synthetic.synthetic_config.SyntheticConfig` -- training, augmentation, renderer.

Unknown keys, wrong types and out-of-range values raise ``ValueError`` naming the offending key.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

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
    "replace_flat",
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
    meta = {
        "description": description,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices else None,
        "dynamic": dynamic,
    }
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
        return (
            tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args))) if args else tuple(value)
        )
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
