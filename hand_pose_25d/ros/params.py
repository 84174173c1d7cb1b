"""ROS 2 parameters of ``hand_pose_node``, derived from :class:`hand_pose_25d.ros.node_config.NodeConfig`.

Every setting of ``NodeConfig`` (the pipeline's included) becomes one parameter with a dotted name
(``pipeline.min_hand_score``, ``tracking.crop_mode`` ...; see :func:`hand_pose_25d.settings.parameter_specs`),
declared with a ``ParameterDescriptor`` that carries its description, its range (``FloatingPointRange`` /
``IntegerRange``), its choices (in ``additional_constraints``) and ``read_only`` for settings that cannot change
while the node runs. ``config/hand_pose.yaml`` is :func:`node_params_yaml` (never edited by hand).

The pure functions here need no ROS; :func:`make_descriptor` and :func:`declare_node_parameters` import rclpy
lazily.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar

from ..settings import ParameterSpec, dump_yaml, parameter_specs, replace_flat
from .node_config import NodeConfig

__all__ = [
    "NODE_NAME",
    "node_params_yaml",
    "node_params_markdown",
    "node_parameter_specs",
    "descriptor_fields",
    "make_descriptor",
    "declare_settings",
    "declare_node_parameters",
    "updates_from_parameters",
    "config_from_values",
    "parameter_value",
]

NODE_NAME = "hand_pose_node"

#: rcl_interfaces/msg/ParameterType codes.
ROS_TYPES: Dict[str, int] = {
    "bool": 1,
    "int": 2,
    "float": 3,
    "str": 4,
    "bool_array": 6,
    "int_array": 7,
    "float_array": 8,
    "str_array": 9,
}

T = TypeVar("T")

_INT64_MAX = 2**63 - 1
_YAML_HEADER = """\
# Parameters of hand_pose_node (hand_pose_25d.ros.node), with their defaults.
# Generated from hand_pose_25d.ros.node_config.NodeConfig: do not edit by hand; regenerate with
#   hand-pose-25d config node > config/hand_pose.yaml
# Use: ros2 run hand_pose_25d hand_pose_node --ros-args --params-file config/hand_pose.yaml
#      python -m hand_pose_25d.ros.node --ros-args --params-file config/hand_pose.yaml
# Settings marked dynamic in docs/ros.md can be changed at run time (ros2 param set); the others are read-only.
"""


def node_params_yaml(config: Optional[NodeConfig] = None) -> str:
    """The text of ``config/hand_pose.yaml``: a ROS 2 parameter file (``/**: ros__parameters:``) of ``config``."""
    body = dump_yaml(config or NodeConfig())
    indented = "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())
    return _YAML_HEADER + "/**:\n  ros__parameters:\n" + indented


def _markdown_value(v: Any) -> str:
    import json

    return f"`{json.dumps(v)}`"


def _markdown_number(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def node_params_markdown(config: Optional[NodeConfig] = None) -> str:
    """The parameter table of ``docs/ros.md`` and the README (Markdown), generated like the YAML."""
    lines = [
        "| parameter | type | default | range / choices | dynamic | description |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in node_parameter_specs(config):
        if spec.choices:
            rng = ", ".join(str(c) for c in spec.choices)
        elif spec.min is not None or spec.max is not None:
            lo = _markdown_number(spec.min) if spec.min is not None else ""
            hi = _markdown_number(spec.max) if spec.max is not None else ""
            rng = f"{lo} .. {hi}"
        else:
            rng = ""
        lines.append(
            f"| `{spec.name}` | {spec.type} | {_markdown_value(spec.default)} | {rng} | "
            f"{'yes' if spec.dynamic else 'no'} | {spec.description.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def node_parameter_specs(config: Optional[NodeConfig] = None) -> List[ParameterSpec]:
    """The flattened parameter specs of ``config`` (defaults: :class:`NodeConfig`)."""
    return list(parameter_specs(config or NodeConfig()))


def descriptor_fields(spec: ParameterSpec) -> Dict[str, Any]:
    """The content of the ``ParameterDescriptor`` of ``spec`` as plain values.

    Returns:
        ``name``, ``type`` (ParameterType code), ``description``, ``additional_constraints`` (choices as text),
        ``read_only`` (not dynamic) and ``range``: None, or ``("float", lo, hi)`` / ``("int", lo, hi)``.
    """
    rng: Optional[Tuple[str, Any, Any]] = None
    if spec.type == "float" and (spec.min is not None or spec.max is not None):
        lo = float(spec.min) if spec.min is not None else -sys.float_info.max
        hi = float(spec.max) if spec.max is not None else sys.float_info.max
        rng = ("float", lo, hi)
    elif spec.type == "int" and (spec.min is not None or spec.max is not None):
        lo_i = int(spec.min) if spec.min is not None else -_INT64_MAX - 1
        hi_i = int(spec.max) if spec.max is not None else _INT64_MAX
        rng = ("int", lo_i, hi_i)
    constraints = ""
    if spec.choices:
        constraints = "one of: " + ", ".join(str(c) for c in spec.choices)
    return {
        "name": spec.name,
        "type": ROS_TYPES[spec.type],
        "description": spec.description,
        "additional_constraints": constraints,
        "read_only": not spec.dynamic,
        "range": rng,
    }


def make_descriptor(spec: ParameterSpec) -> Any:
    """``rcl_interfaces/ParameterDescriptor`` of ``spec`` (see :func:`descriptor_fields`)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    f = descriptor_fields(spec)
    d = ParameterDescriptor(
        name=f["name"],
        type=f["type"],
        description=f["description"],
        additional_constraints=f["additional_constraints"],
        read_only=f["read_only"],
    )
    if f["range"] is not None:
        kind, lo, hi = f["range"]
        if kind == "float":
            d.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        else:
            d.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=1)]
    return d


def parameter_value(value: Any) -> Any:
    """A ROS parameter value as a plain Python value (arrays as lists)."""
    if isinstance(value, (str, bytes, bool, int, float)) or value is None:
        return value
    try:
        return [v.item() if hasattr(v, "item") else v for v in value]
    except TypeError:
        return value


def config_from_values(values: Mapping[str, Any], base: Optional[NodeConfig] = None) -> NodeConfig:
    """``base`` (default: :class:`NodeConfig`) with dotted-name ``values`` applied and validated.

    Raises:
        ValueError: unknown name, wrong type, out of range, not one of the choices (the message names it).
    """
    return replace_flat(base or NodeConfig(), {k: parameter_value(v) for k, v in values.items()})


def declare_settings(node: Any, config: T) -> T:
    """Declare one parameter per setting of the dataclass ``config`` on ``node``; return the resulting settings.

    Values come from ``--ros-args -p`` / ``--params-file`` overrides where given, defaults from ``config``.

    Raises:
        ValueError: a value of the wrong type, out of range or not one of the choices; the message names the
            parameter (rclpy's own exceptions are turned into this).
    """
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    values: Dict[str, Any] = {}
    for spec in parameter_specs(config):
        try:
            param = node.declare_parameter(spec.name, spec.default, make_descriptor(spec))
        except InvalidParameterTypeException as exc:
            raise ValueError(
                f"parameter {spec.name} must be of type {spec.type} (default {spec.default!r}): {exc}"
            ) from None
        except InvalidParameterValueException as exc:
            raise ValueError(f"parameter {spec.name}: {exc}") from None
        values[spec.name] = param.value
    return replace_flat(config, {k: parameter_value(v) for k, v in values.items()})


def declare_node_parameters(node: Any, config: Optional[NodeConfig] = None) -> NodeConfig:
    """:func:`declare_settings` of :class:`NodeConfig` (``hand_pose_node``'s parameters)."""
    return declare_settings(node, config or NodeConfig())


def updates_from_parameters(params: Iterable[Any]) -> Dict[str, Any]:
    """``{name: plain value}`` of rclpy ``Parameter`` objects (for :func:`config_from_values`)."""
    return {p.name: parameter_value(p.value) for p in params}
