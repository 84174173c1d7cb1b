"""Joints and bones of estimated hands as ``visualization_msgs/MarkerArray`` (message classes imported lazily).

Per hand (TF slot ``n``) two markers in the image's frame (the camera's optical frame, never a hard-coded
``map``): ``<prefix>_joints`` id n, a SPHERE_LIST with the 21 keypoints, and ``<prefix>_bones`` id n, a
LINE_LIST with the 20 bones; coloured per finger (:data:`hand_pose_25d.skeleton.FINGER_COLORS`). Each carries a lifetime, so a hand that is no longer
published disappears from RViz by itself.
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np

from ..skeleton import BONES, NUM_KEYPOINTS, keypoint_colors

__all__ = ["bone_segments", "hand_markers", "marker_array"]

JOINT_DIAMETER_M = 0.012
BONE_WIDTH_M = 0.005


def bone_segments(xyz: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Endpoints (2 * 20, 3) of the bones of ``xyz`` (21, 3) in LINE_LIST order, and their colours (40, 3)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape != (NUM_KEYPOINTS, 3):
        raise ValueError(f"xyz must be ({NUM_KEYPOINTS}, 3), got {xyz.shape}")
    idx = np.asarray(BONES, dtype=np.intp)
    points = np.stack([xyz[idx[:, 0]], xyz[idx[:, 1]]], axis=1).reshape(-1, 3)
    colors = np.repeat(keypoint_colors()[idx[:, 1]], 2, axis=0)  # a bone takes its child's (finger) colour
    return points, colors


def hand_markers(xyz: np.ndarray, header: Any, slot: int, lifetime_s: float, prefix: str = "hand") -> List[Any]:
    """The joint and bone markers of one hand ``xyz`` (21, 3) metres in ``header.frame_id``."""
    from builtin_interfaces.msg import Duration
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import Marker

    lifetime_ns = int(round(lifetime_s * 1e9))
    life = Duration(sec=lifetime_ns // 1_000_000_000, nanosec=lifetime_ns % 1_000_000_000)

    def base(ns: str, kind: int, size: float) -> Any:
        m = Marker()
        m.header = header
        m.ns, m.id, m.type, m.action = ns, int(slot), kind, Marker.ADD
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = size
        m.color.a = 1.0
        m.lifetime = life
        return m

    joints = base(f"{prefix}_joints", Marker.SPHERE_LIST, JOINT_DIAMETER_M)
    joints.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in np.asarray(xyz, dtype=np.float64)]
    joints.colors = [ColorRGBA(r=float(c[0]), g=float(c[1]), b=float(c[2]), a=1.0) for c in keypoint_colors()]
    seg, seg_colors = bone_segments(xyz)
    bones = base(f"{prefix}_bones", Marker.LINE_LIST, BONE_WIDTH_M)
    bones.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in seg]
    bones.colors = [ColorRGBA(r=float(c[0]), g=float(c[1]), b=float(c[2]), a=1.0) for c in seg_colors]
    return [joints, bones]


def marker_array(hands: Sequence[Tuple[int, np.ndarray]], header: Any, lifetime_s: float, prefix: str = "hand") -> Any:
    """``MarkerArray`` of ``(slot, xyz)`` hands (see :func:`hand_markers`)."""
    from visualization_msgs.msg import MarkerArray

    out = MarkerArray()
    out.markers = [m for slot, xyz in hands for m in hand_markers(xyz, header, slot, lifetime_s, prefix)]
    return out
