"""The network's own configuration, stored in checkpoints (``.pt``), ONNX metadata and TensorRT engine headers.

Pure Python: importing it needs neither torch nor onnx. Presets are in :mod:`hand_pose_25d.model.presets`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, Tuple

from ..settings import from_dict, setting, to_dict
from ..skeleton import BONES, DEFAULT_BONE_LENGTHS, DEFAULT_REF_BONE, DEFAULT_ROOT, KEYPOINT_NAMES

__all__ = ["ModelConfig", "ENCODER_CHOICES", "ENCODER_STRIDES"]

#: Values of :attr:`ModelConfig.encoder`.
ENCODER_CHOICES: Tuple[str, ...] = ("none", "hand_landmark_full", "hand_landmark_lite")
#: Strides at which the pretrained encoders have feature maps that the decoder can take.
ENCODER_STRIDES: Tuple[int, ...] = (2, 4, 8, 16, 32)


@dataclass
class ModelConfig:
    """Architecture of the network and every convention needed to use its output.

    Stored in checkpoints (``.pt``), ONNX metadata and TensorRT engine metadata, so that nothing is guessed at
    load time. Presets (``paper``, ``fast``, ``compact``) are in :mod:`hand_pose_25d.model.presets`; the
    defaults here are the ``compact`` preset.
    """

    preset: str = setting("compact", description="Name of the architecture preset this config was built from.")
    encoder: str = setting(
        "none",
        description="Pretrained encoder under the decoder and head: 'none' (the encoder-decoder of the paper, trained "
        "from scratch) or a MediaPipe hand-landmark network imported from its TFLite file (cut at stride "
        "output_stride * 2**depth).",
        choices=ENCODER_CHOICES,
    )
    weights_source: str = setting(
        "",
        description="Where pretrained weights in this model come from (file, package, sha256); required with an encoder.",
    )
    weights_license: str = setting(
        "", description="License of those pretrained weights (SPDX id and holder); required with an encoder."
    )
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
    num_stages: int = setting(
        1, description="Number of stacked encoder-decoder stages (loss at every stage).", min=1, max=4
    )
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
        1.0,
        description="Initial softmax inverse temperature beta of every keypoint (latent head).",
        min=0.01,
        max=100.0,
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
    root: int = setting(
        DEFAULT_ROOT, description="Index of the root keypoint the depths are relative to.", min=0, max=63
    )
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
        if self.encoder != "none":
            cut = self.output_stride * 2**self.depth
            if cut not in ENCODER_STRIDES or cut < 4:
                raise ValueError(
                    f"encoder {self.encoder!r} is cut at stride output_stride * 2**depth = {cut}; it must be one of "
                    f"{', '.join(str(s) for s in ENCODER_STRIDES if s >= 4)}"
                )
            if self.num_stages != 1:
                raise ValueError(f"a pretrained encoder has one stage, num_stages is {self.num_stages}")
            if not self.weights_source.strip() or not self.weights_license.strip():
                raise ValueError(
                    f"this model is built on the pretrained encoder {self.encoder!r} but does not record where its "
                    f"weights come from or under which license (weights_source {self.weights_source!r}, "
                    f"weights_license {self.weights_license!r}); refusing a model whose weights cannot be traced"
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
