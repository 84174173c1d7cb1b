"""Pipeline results -> ``hand_pose_25d_msgs/HandPose`` / ``HandPoseArray`` (message classes imported lazily).

Only finite, valid hands become messages: :func:`publish_problem` says why a result must not be published
(invalid, NaN anywhere, a keypoint behind the camera, non-positive scale). Every fixed-size array is filled
with exactly 21 elements (``reference_bone``: 2), as rosidl requires.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..inference.pipeline import SCALE_BONE_PRIOR, SCALE_DEPTH, SCALE_HAND_SIZE, HandPoseResult
from ..skeleton import NUM_KEYPOINTS

__all__ = ["publish_problem", "hand_pose_msg", "fill_hand_pose", "hand_pose_array_msg", "stamp_to_ns"]

HANDEDNESS_CODES = {None: 0, "left": 1, "right": 2}  # HandPose.HANDEDNESS_UNKNOWN/LEFT/RIGHT
SCALE_CODES = {SCALE_BONE_PRIOR: 0, SCALE_HAND_SIZE: 1, SCALE_DEPTH: 2}  # HandPose.SCALE_BONE_PRIOR/HAND_SIZE/DEPTH


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time``."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def publish_problem(result: HandPoseResult) -> Optional[str]:
    """Why ``result`` must not be published, or None when it is a finite, valid hand in front of the camera."""
    if not result.valid:
        return f"invalid hand ({result.status})"
    arrays = {
        "xyz": result.xyz,
        "uv": result.uv,
        "z_rel": result.z_rel,
        "keypoint_scores": result.keypoint_scores,
    }
    shapes = {
        "xyz": (NUM_KEYPOINTS, 3),
        "uv": (NUM_KEYPOINTS, 2),
        "z_rel": (NUM_KEYPOINTS,),
        "keypoint_scores": (NUM_KEYPOINTS,),
    }
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.shape != shapes[name]:
            raise ValueError(f"result.{name} has shape {arr.shape}, expected {shapes[name]}")
        if not np.all(np.isfinite(arr)):
            return f"non-finite {name}"
    for name in ("score", "handedness_score", "root_depth", "scale"):
        if not np.isfinite(getattr(result, name)):
            return f"non-finite {name}"
    if not result.scale > 0:
        return "non-positive scale"
    if not np.all(np.asarray(result.xyz)[:, 2] > 0):
        return "keypoint behind the camera"
    return None


def fill_hand_pose(
    msg: Any,
    *,
    header: Any,
    track_id: int,
    xyz: np.ndarray,
    uv: np.ndarray,
    keypoint_scores: np.ndarray,
    z_rel: np.ndarray,
    score: float,
    handedness: Optional[str],
    handedness_score: float,
    root: int,
    ref_bone: Tuple[int, int],
    root_depth: float,
    scale: float,
    scale_source: str,
    crop_roi: Tuple[int, int, int, int],
    prior_root_depth: Optional[float] = None,
    prior_scale: Optional[float] = None,
) -> Any:
    """Fill a ``HandPose`` message from plain arrays (metres, pixels) and return it.

    Args:
        xyz: (21, 3) metres in ``header.frame_id``; uv: (21, 2) full-image pixels; keypoint_scores, z_rel: (21,).
        handedness: 'left', 'right' or None (unknown: ``handedness_score`` is then written as 0).
        crop_roi: (x_offset, y_offset, width, height) of the network crop in image pixels.
        prior_root_depth, prior_scale: the bone prior's (default: ``root_depth`` and ``scale``).
    """
    from geometry_msgs.msg import Point, Point32

    xyz = np.asarray(xyz, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    uv = np.asarray(uv, dtype=np.float64).reshape(NUM_KEYPOINTS, 2)
    msg.header = header
    msg.track_id = int(track_id)
    msg.handedness = HANDEDNESS_CODES[handedness]
    msg.handedness_score = float(np.clip(handedness_score, 0.0, 1.0)) if handedness is not None else 0.0
    msg.score = float(np.clip(score, 0.0, 1.0))
    msg.keypoints = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in xyz]
    msg.keypoints_2d = [Point32(x=float(p[0]), y=float(p[1]), z=0.0) for p in uv]
    msg.keypoint_scores = np.clip(np.asarray(keypoint_scores, dtype=np.float32).reshape(NUM_KEYPOINTS), 0.0, 1.0)
    msg.relative_depths = np.asarray(z_rel, dtype=np.float32).reshape(NUM_KEYPOINTS)
    msg.root_index = int(root)
    msg.reference_bone = np.asarray(ref_bone, dtype=np.uint8).reshape(2)
    msg.root_depth = float(root_depth)
    msg.scale = float(scale)
    msg.scale_source = SCALE_CODES[scale_source]
    msg.prior_root_depth = float(root_depth if prior_root_depth is None else prior_root_depth)
    msg.prior_scale = float(scale if prior_scale is None else prior_scale)
    x, y, w, h = (int(v) for v in crop_roi)
    msg.crop.x_offset, msg.crop.y_offset, msg.crop.width, msg.crop.height = x, y, w, h
    msg.crop.do_rectify = False
    return msg


def hand_pose_msg(result: HandPoseResult, header: Any, track_id: int, width: int, height: int) -> Any:
    """``HandPose`` of a publishable result (``ValueError`` otherwise) of a ``width`` x ``height`` image."""
    from hand_pose_25d_msgs.msg import HandPose

    problem = publish_problem(result)
    if problem is not None:
        raise ValueError(f"refusing to publish a hand: {problem}")
    return fill_hand_pose(
        HandPose(),
        header=header,
        track_id=track_id,
        xyz=result.xyz,
        uv=result.uv,
        keypoint_scores=result.keypoint_scores,
        z_rel=result.z_rel,
        score=result.score,
        handedness=result.handedness,
        handedness_score=result.handedness_score,
        root=result.root,
        ref_bone=result.ref_bone,
        root_depth=result.root_depth,
        scale=result.scale,
        scale_source=result.scale_source,
        crop_roi=result.crop.clipped_roi(width, height),
        prior_root_depth=result.prior_root_depth,
        prior_scale=result.prior_scale,
    )


def hand_pose_array_msg(header: Any, hands: Sequence[Any]) -> Any:
    """``HandPoseArray`` with ``header`` and the given ``HandPose`` messages (possibly none)."""
    from hand_pose_25d_msgs.msg import HandPoseArray

    msg = HandPoseArray()
    msg.header = header
    msg.hands = list(hands)
    return msg
