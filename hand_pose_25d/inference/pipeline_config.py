"""Settings of the inference pipeline (:class:`hand_pose_25d.inference.pipeline.HandPoseEstimator`), shared by
the CLI, the benchmarks and the ROS node. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

from ..detection.palm_detector import DetectorConfig
from ..settings import setting
from .contract import BACKENDS

__all__ = ["PipelineConfig", "TTA_MODES", "TTA_TRANSFORMS"]


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
    backend: str = setting("onnxruntime", description="Inference runtime.", choices=BACKENDS)
    device: str = setting(
        "auto",
        description="'auto' (cuda for the tensorrt backend, else cpu), 'cpu', 'cuda' or 'cuda:N' (onnxruntime: CUDA "
        "execution provider).",
    )
    fp16: bool = setting(
        False,
        description="Half precision on CUDA: torch autocast, TensorRT FP16 kernels, or the ONNX Runtime TensorRT provider.",
    )
    num_threads: int = setting(
        0, description="CPU threads for onnxruntime/torch; 0 lets the runtime decide (all cores).", min=0, max=256
    )
    max_batch: int = setting(
        8, description="Largest batch (hands per call); TensorRT's optimisation profile.", min=1, max=256
    )
    min_hand_score: float = setting(
        0.25,
        description="Hands whose overall score is below this are reported invalid.",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    hand_length: float = setting(
        0.0,
        description="Known hand length in metres (wrist to middle fingertip) for the metric scale; 0 uses the bone-length prior.",
        min=0.0,
        max=0.5,
        dynamic=True,
    )
    refine_iterations: int = setting(
        1,
        description="Extra passes that re-crop around the keypoints just predicted (acquiring a hand from a full frame).",
        min=0,
        max=5,
        dynamic=True,
    )
    refine_full_frame_only: bool = setting(
        True,
        description="Refine only crops that did not come from keypoints (full frame or a loose ROI).",
        dynamic=True,
    )
    refine_detections: bool = setting(
        False,
        description="Refine the palm detector's crops too. They are already turned to the hand (MediaPipe's palm box); "
        "the refined crop is upright and tight, and measured worse: whole real photos PCK@0.2 0.39 refined vs 0.58 "
        "(6 vs 9 of 15 hands), the synthetic stream 41.5 % vs 54.4 % of frames with a hand.",
        dynamic=True,
    )
    test_time_augmentation: str = setting(
        "none",
        description="Average the network's output over lossless transforms of each crop: 'none' (1 pass), 'mirror' "
        "(2 passes: the crop and its mirror image) or 'dihedral' (8 passes: the 4 quarter turns, each also mirrored); "
        "more accurate, and costs that many network passes.",
        choices=TTA_MODES,
        dynamic=True,
    )
    detector: DetectorConfig = setting(
        default_factory=DetectorConfig, description="The palm detector that finds hands in full frames."
    )
