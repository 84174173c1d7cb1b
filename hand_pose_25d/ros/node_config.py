"""Settings of the ROS 2 node ``hand_pose_node``: its parameters and ``config/hand_pose.yaml`` are generated from
:class:`NodeConfig` (:mod:`hand_pose_25d.ros.params`). Pure Python: importing it does not import rclpy.

The pipeline and tracking sections are the settings of those layers
(:class:`hand_pose_25d.inference.pipeline_config.PipelineConfig`,
:class:`hand_pose_25d.inference.tracking.TrackingConfig`); QoS, topics and output names are the node's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..depth import DepthConfig
from ..inference.pipeline_config import PipelineConfig
from ..inference.smoothing import SmoothingConfig
from ..inference.tracking import TrackingConfig
from ..settings import setting

__all__ = ["NodeConfig", "NodeInputConfig", "NodeOutputConfig"]


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
        5,
        description="QoS history depth of the image subscription (only the newest image is ever processed).",
        min=1,
        max=100,
    )
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
        0.005,
        description="Largest stamp difference in seconds between an image and its camera_info ('exact' sync).",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    camera_info_wait: float = setting(
        0.5,
        description="Seconds an image may wait for its camera_info (one delayed by the transport still pairs) before "
        "it is paired with the newest camera_info of its frame ('exact' sync) or, if there is none, refused; newer "
        "images never queue behind it.",
        min=0.0,
        max=5.0,
        dynamic=True,
    )
    rectified: bool = setting(
        False,
        description="The images are rectified (image_rect): use the left 3x3 of camera_info P as intrinsics and no "
        "distortion, instead of K and D.",
        dynamic=True,
    )
    max_image_side: int = setting(
        3840,
        description="Images whose longer side exceeds this many pixels (default: 4K UHD) are refused with a warning.",
        min=16,
        max=16384,
        dynamic=True,
    )


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
        0.3,
        description="Lifetime of the markers in seconds, so that a lost hand disappears.",
        min=0.01,
        max=60.0,
        dynamic=True,
    )
    debug_image: bool = setting(
        True,
        description="Publish the image with the 2D skeleton drawn on it on debug_image (only while it has subscribers).",
        dynamic=True,
    )
    diagnostics_period: float = setting(
        5.0,
        description="Seconds between two statistics log lines (frames received, processed, dropped, refused; "
        "latency); 0 disables them.",
        min=0.0,
        max=3600.0,
        dynamic=True,
    )
    warn_period: float = setting(
        5.0,
        description="A warning about one kind of bad input is logged at most once per this many seconds "
        "(with the count of repeats).",
        min=0.0,
        max=3600.0,
        dynamic=True,
    )

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
    tracking: TrackingConfig = setting(default_factory=TrackingConfig, description="Crop choice and tracking.")
    depth: DepthConfig = setting(default_factory=DepthConfig, description="Aligned depth image (optional).")
    smoothing: SmoothingConfig = setting(
        default_factory=SmoothingConfig, description="Temporal smoothing of the published 3D keypoints."
    )
    output: NodeOutputConfig = setting(default_factory=NodeOutputConfig, description="Published outputs.")
