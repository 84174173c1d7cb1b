"""One TF frame per keypoint, broadcast like ``tf2_ros.TransformBroadcaster`` (ROS imported lazily).

Frame names: ``<prefix>_<keypoint name>`` (``hand_wrist``, ``hand_thumb_cmc`` ... ``hand_little_tip``, see
:data:`hand_pose_25d.skeleton.KEYPOINT_NAMES`) for the first tracked hand (slot 0) and
``<prefix>_<n>_<keypoint name>`` (n = 2, 3, ...) for further hands. Parent: the image's ``frame_id`` (the
camera's optical frame); translation: the keypoint in metres; rotation: identity (keypoints are points, their
frames are parallel to the camera frame).

:class:`TransformBroadcaster` uses ``tf2_ros.TransformBroadcaster`` where ``tf2_ros`` is importable (every ROS 2
distro) and otherwise publishes ``tf2_msgs/TFMessage`` on ``/tf`` itself with the same QoS (reliable, volatile,
keep last 100), which is all the tf2_ros broadcaster does.
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np

from ..skeleton import KEYPOINT_NAMES, NUM_KEYPOINTS

__all__ = ["keypoint_frame_names", "keypoint_transforms", "TransformBroadcaster", "TF_QOS_DEPTH"]

TF_QOS_DEPTH = 100


def keypoint_frame_names(prefix: str, slot: int = 0) -> Tuple[str, ...]:
    """The 21 child frame names of the hand in TF ``slot`` (0: ``hand_wrist`` ..., 1: ``hand_2_wrist`` ...)."""
    if slot < 0:
        raise ValueError(f"slot must be >= 0, got {slot}")
    base = prefix if slot == 0 else f"{prefix}_{slot + 1}"
    return tuple(f"{base}_{name}" for name in KEYPOINT_NAMES)


def keypoint_transforms(xyz: np.ndarray, header: Any, names: Sequence[str]) -> List[Any]:
    """``geometry_msgs/TransformStamped`` per keypoint of ``xyz`` (21, 3) metres, parent ``header.frame_id``."""
    from geometry_msgs.msg import TransformStamped

    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape != (NUM_KEYPOINTS, 3) or len(names) != NUM_KEYPOINTS:
        raise ValueError(
            f"need ({NUM_KEYPOINTS}, 3) keypoints and {NUM_KEYPOINTS} names, got {xyz.shape}, {len(names)}"
        )
    if not np.all(np.isfinite(xyz)):
        raise ValueError("refusing to broadcast non-finite keypoints")
    out = []
    for name, p in zip(names, xyz):
        t = TransformStamped()
        t.header = header
        t.child_frame_id = name
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (float(v) for v in p)
        t.transform.rotation.w = 1.0
        out.append(t)
    return out


class TransformBroadcaster:
    """Sends transforms on ``/tf``: ``tf2_ros.TransformBroadcaster`` if importable, else an own publisher.

    Args:
        node: the rclpy node that publishes.
        prefer_tf2_ros: use tf2_ros when it can be imported.

    Attributes:
        backend: 'tf2_ros' or 'tf2_msgs' (the own publisher).
    """

    def __init__(self, node: Any, prefer_tf2_ros: bool = True) -> None:
        self._impl: Any = None
        self._pub: Any = None
        if prefer_tf2_ros:
            try:
                import tf2_ros  # type: ignore[import-not-found]

                self._impl = tf2_ros.TransformBroadcaster(node)
            except ImportError:
                self._impl = None
        if self._impl is not None:
            self.backend = "tf2_ros"
            return
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from tf2_msgs.msg import TFMessage

        qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=TF_QOS_DEPTH,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
        self._msg_type = TFMessage
        self._pub = node.create_publisher(TFMessage, "/tf", qos)
        self.backend = "tf2_msgs"

    def sendTransform(self, transforms: Any) -> None:  # noqa: N802 - tf2_ros's name
        """Broadcast one ``TransformStamped`` or a list of them (as one ``TFMessage``)."""
        items = list(transforms) if isinstance(transforms, (list, tuple)) else [transforms]
        if self._impl is not None:
            self._impl.sendTransform(items)
        else:
            self._pub.publish(self._msg_type(transforms=items))
