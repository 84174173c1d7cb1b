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
    load time. Presets (``paper``, ``fast``, ``compact``) are in :mod:`hand_pose_25d.model.presets`; the
    defaults here are the ``compact`` preset.
    """

    preset: str = setting("compact", description="Name of the architecture preset this config was built from.")
    head: str = setting(
        "latent",
        description="Output head: latent 2.5D heatmaps (the paper's method), direct 2.5D heatmaps, or holistic regression.",
        choices=("latent", "direct", "holistic"),
    )
    input_size: int = setting(128, description="Side of the square network input in pixels.", min=32, max=512)
    channels: int = setting(
        32, description="Feature channels of the first encoder-decoder level (see channel_growth).", min=4, max=1024
    )
    depth: int = setting(3, description="Number of down-sampling levels of the encoder.", min=1, max=7)
    output_stride: int = setting(
        4, description="Input pixels per heatmap pixel (1: heatmaps at input resolution).", choices=(1, 2, 4, 8)
    )
    num_stages: int = setting(1, description="Number of stacked encoder-decoder stages (loss at every stage).", min=1, max=4)
    block: str = setting(
        "conv", description="Convolution block type of the encoder-decoder.", choices=("conv", "residual", "separable")
    )
    fast_head: bool = setting(
        True, description="Paper's fast variant: 1x1, 3x3, 1x1 convolutions instead of 7x7 in the last layers."
    )
    blocks_per_level: int = setting(
        2, description="Convolution blocks per encoder level, in the bottleneck and per decoder level.", min=1, max=4
    )
    channel_growth: float = setting(
        2.0,
        description="Channel multiplier per down-sampling level (1: the same channels everywhere, as in the paper).",
        min=1.0,
        max=2.0,
    )
    beta_init: float = setting(
        1.0, description="Initial softmax inverse temperature beta of every keypoint (latent head).", min=0.01, max=100.0
    )
    confidence_radius: float = setting(
        0.0625,
        description="Radius of the disc around a latent keypoint whose heatmap probability mass is its confidence, "
        "as a fraction of input_size (at least one output stride).",
        min=0.001,
        max=0.5,
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
        cells = self.input_size // self.output_stride
        if cells % (2**self.depth):
            raise ValueError(
                f"heatmap size {cells} (input_size {self.input_size} / output_stride {self.output_stride}) "
                f"cannot be halved depth={self.depth} times"
            )
        if self.confidence_radius * self.input_size < self.output_stride:
            raise ValueError(
                f"confidence_radius {self.confidence_radius} x input_size {self.input_size} is less than one "
                f"output stride ({self.output_stride} px)"
            )
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


# --------------------------------------------------------------------------------------------------------------
# the inference pipeline (shared by the CLI, the benchmarks and the ROS node)


#: Test-time augmentation mode -> the crop transforms (codes of :func:`hand_pose_25d.crop.dihedral_matrix`).
TTA_TRANSFORMS: Dict[str, Tuple[int, ...]] = {"none": (0,), "mirror": (0, 4), "dihedral": tuple(range(8))}
TTA_MODES: Tuple[str, ...] = tuple(TTA_TRANSFORMS)


@dataclass
class PipelineConfig:
    """How :class:`hand_pose_25d.inference.pipeline.HandPoseEstimator` loads and runs a model."""

    model: str = setting(
        "default",
        description="'default' (the shipped model) or a path to a .pt checkpoint, .onnx model or TensorRT .engine.",
    )
    backend: str = setting(
        "onnxruntime", description="Inference runtime.", choices=("onnxruntime", "torch", "tensorrt")
    )
    device: str = setting(
        "auto",
        description="'auto' (cuda for the tensorrt backend, else cpu), 'cpu', 'cuda' or 'cuda:N' (onnxruntime: CUDA "
        "execution provider).",
    )
    fp16: bool = setting(False, description="Half precision on CUDA: torch autocast, TensorRT FP16 kernels, or the ONNX Runtime TensorRT provider.")
    num_threads: int = setting(
        0, description="CPU threads for onnxruntime/torch; 0 lets the runtime decide (all cores).", min=0, max=256
    )
    max_batch: int = setting(8, description="Largest batch (hands per call); TensorRT's optimisation profile.", min=1, max=256)
    min_hand_score: float = setting(
        0.25, description="Hands whose overall score is below this are reported invalid.", min=0.0, max=1.0, dynamic=True
    )
    hand_length: float = setting(
        0.0,
        description="Known hand length in metres (wrist to middle fingertip) for the metric scale; 0 uses the bone-length prior.",
        min=0.0, max=0.5, dynamic=True,
    )  # fmt: skip
    refine_iterations: int = setting(
        1,
        description="Extra passes that re-crop around the keypoints just predicted (acquiring a hand from a full frame).",
        min=0, max=5, dynamic=True,
    )  # fmt: skip
    refine_full_frame_only: bool = setting(
        True, description="Refine only crops that did not come from keypoints (full frame or a loose ROI).", dynamic=True
    )
    test_time_augmentation: str = setting(
        "none",
        description="Average the network's output over lossless transforms of each crop: 'none' (1 pass), 'mirror' "
        "(2 passes: the crop and its mirror image) or 'dihedral' (8 passes: the 4 quarter turns, each also mirrored); "
        "more accurate, and costs that many network passes.",
        choices=TTA_MODES, dynamic=True,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# the ROS 2 node (hand_pose_25d.ros.node); parameters and config/hand_pose.yaml are generated from these classes


@dataclass
class NodeInputConfig:
    """Subscriptions of the node: QoS, image/camera_info pairing, size limits."""

    reliability: str = setting(
        "best_effort",
        description="QoS reliability of the image and camera_info subscriptions: best_effort (sensor-data QoS, "
        "receives from any publisher) or reliable (receives only from reliable publishers).",
        choices=("best_effort", "reliable"),
    )
    depth: int = setting(
        5, description="QoS history depth of the image subscription (only the newest image is ever processed).",
        min=1, max=100,
    )  # fmt: skip
    camera_info_sync: str = setting(
        "exact",
        description="Pairing of images with camera_info: 'exact' uses the camera_info of the same frame_id whose stamp "
        "is within camera_info_tolerance of the image's and, when none arrives within camera_info_wait, falls back to "
        "the newest camera_info of that frame_id with a warning; 'latest' (for drivers that stamp camera_info "
        "differently or publish it rarely) uses the newest camera_info of the same frame_id at once, whatever its stamp.",
        choices=("exact", "latest"),
        dynamic=True,
    )
    camera_info_tolerance: float = setting(
        0.005, description="Largest stamp difference in seconds between an image and its camera_info ('exact' sync).",
        min=0.0, max=1.0, dynamic=True,
    )  # fmt: skip
    camera_info_wait: float = setting(
        0.5,
        description="Seconds an image may wait for its camera_info (one delayed by the transport still pairs) before "
        "it is paired with the newest camera_info of its frame ('exact' sync) or, if there is none, refused; newer "
        "images never queue behind it.",
        min=0.0, max=5.0, dynamic=True,
    )  # fmt: skip
    rectified: bool = setting(
        False,
        description="The images are rectified (image_rect): use the left 3x3 of camera_info P as intrinsics and no "
        "distortion, instead of K and D.",
        dynamic=True,
    )
    max_image_side: int = setting(
        3840,
        description="Images whose longer side exceeds this many pixels (default: 4K UHD) are refused with a warning.",
        min=16, max=16384, dynamic=True,
    )  # fmt: skip


@dataclass
class NodeTrackingConfig:
    """Where the network looks: ROI, the previous frame's keypoints, or the full image; track ids."""

    crop_mode: str = setting(
        "auto",
        description="Crop choice: 'auto' (a recent ROI, else the tracked hand of the previous frame, else the full "
        "image), 'roi' (only a recent ROI; frames without one are not processed), 'track' (tracked hand, else the "
        "full image; ROIs are ignored) or 'full' (always the full image).",
        choices=("auto", "roi", "track", "full"),
        dynamic=True,
    )
    roi_timeout: float = setting(
        0.5, description="Seconds (by arrival) an ROI on the roi topic stays recent enough to be used.",
        min=0.0, max=60.0, dynamic=True,
    )  # fmt: skip
    timeout: float = setting(
        0.5,
        description="Seconds (by image stamp) a hand stays tracked since its last valid estimate; older tracks are "
        "dropped and the hand is searched for again.",
        min=0.0, max=10.0, dynamic=True,
    )  # fmt: skip
    min_score: float = setting(
        0.3, description="A hand is tracked into the next frame only if its overall score is at least this.",
        min=0.0, max=1.0, dynamic=True,
    )  # fmt: skip
    min_iou: float = setting(
        0.1,
        description="Smallest overlap (intersection over union) of a hand's box with a track's previous box for the "
        "hand to keep that track's id (and for an ROI to be taken as that hand).",
        min=0.0, max=1.0, dynamic=True,
    )  # fmt: skip
    max_hands: int = setting(
        1,
        description="Most hands tracked at once; with more than 1, an ROI that overlaps no tracked hand starts a "
        "new track (the full image is searched only while no hand is tracked).",
        min=1, max=8, dynamic=True,
    )  # fmt: skip


@dataclass
class NodeOutputConfig:
    """Published outputs: TF frames, markers, debug image, diagnostics and log throttling."""

    frame_prefix: str = setting(
        "hand",
        description="TF child frame names are <frame_prefix>_<keypoint name> (hand_wrist, hand_index_tip, ...); "
        "further hands (max_hands > 1) get <frame_prefix>_<n>_<keypoint name> with n = 2, 3, ...",
    )
    publish_tf: bool = setting(True, description="Broadcast one TF frame per keypoint on /tf.", dynamic=True)
    publish_markers: bool = setting(True, description="Publish joints and bones as a MarkerArray.", dynamic=True)
    marker_lifetime: float = setting(
        0.3, description="Lifetime of the markers in seconds, so that a lost hand disappears.",
        min=0.01, max=60.0, dynamic=True,
    )  # fmt: skip
    debug_image: bool = setting(
        True,
        description="Publish the image with the 2D skeleton drawn on it on debug_image (only while it has subscribers).",
        dynamic=True,
    )
    diagnostics_period: float = setting(
        5.0,
        description="Seconds between two statistics log lines (frames received, processed, dropped, refused; "
        "latency); 0 disables them.",
        min=0.0, max=3600.0, dynamic=True,
    )  # fmt: skip
    warn_period: float = setting(
        5.0,
        description="A warning about one kind of bad input is logged at most once per this many seconds "
        "(with the count of repeats).",
        min=0.0, max=3600.0, dynamic=True,
    )  # fmt: skip

    def check(self) -> None:
        """The frame prefix must make valid TF frame names (letters, digits, '_' and '-')."""
        if not self.frame_prefix or not all(c.isascii() and (c.isalnum() or c in "_-") for c in self.frame_prefix):
            raise ValueError(
                f"output.frame_prefix {self.frame_prefix!r} must be a non-empty name of letters, digits, '_' or '-'"
            )


@dataclass
class NodeConfig:
    """All parameters of ``hand_pose_node``: the inference pipeline plus the node's own settings."""

    pipeline: PipelineConfig = setting(default_factory=PipelineConfig, description="Inference pipeline.")
    input: NodeInputConfig = setting(
        default_factory=NodeInputConfig, description="Image, camera_info and roi subscriptions."
    )
    tracking: NodeTrackingConfig = setting(default_factory=NodeTrackingConfig, description="Crop choice and tracking.")
    output: NodeOutputConfig = setting(default_factory=NodeOutputConfig, description="Published outputs.")
