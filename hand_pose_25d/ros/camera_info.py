"""``sensor_msgs/CameraInfo`` validation and image <-> camera_info pairing (pure numpy; no ROS import).

:func:`camera_model_from_fields` turns the fields of a camera_info into the intrinsics and distortion of the
images it describes (binning and ROI applied, K/D or the rectified P), refusing uncalibrated or corrupt ones
with a :class:`CameraInfoError` naming the problem. :class:`CameraInfoBuffer` keeps the recent camera_infos
and pairs an image with one of them:

* ``exact``: same ``frame_id`` and a stamp within a tolerance of the image's (the nearest one);
* ``latest``: the most recently received camera_info of the same ``frame_id``, whatever its stamp (the
  fallback for drivers that stamp camera_info differently from the image, or publish it rarely).

Stamps are integer nanoseconds throughout.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Deque, Optional, Sequence, Tuple

import numpy as np

from ..camera import CameraCalibration, check_distortion
from ..geometry import validate_intrinsics

__all__ = [
    "CameraInfoError",
    "CameraInfoEntry",
    "CameraInfoBuffer",
    "camera_model_from_fields",
    "camera_model_from_msg",
    "check_image_size",
]


class CameraInfoError(ValueError):
    """A camera_info that cannot be used (uncalibrated, NaN, unsupported distortion, size mismatch)."""


def camera_model_from_fields(
    *,
    frame_id: str,
    k: Sequence[float],
    d: Sequence[float],
    distortion_model: str,
    p: Sequence[float],
    width: int,
    height: int,
    binning_x: int = 0,
    binning_y: int = 0,
    roi: Tuple[int, int, int, int] = (0, 0, 0, 0),
    rectified: bool = False,
) -> CameraCalibration:
    """Validate the fields of a camera_info and derive the intrinsics of its images.

    Args:
        frame_id: the camera_info's frame (named in messages).
        k: the 9 entries of K (row-major); ``p`` the 12 entries of P.
        d, distortion_model: distortion coefficients and model name.
        width, height: calibrated resolution (0: unknown).
        binning_x, binning_y: binning factors (0 or 1: none).
        roi: (x_offset, y_offset, width, height) of the published region in full-resolution pixels (width or
            height 0: the full image), as in sensor_msgs/RegionOfInterest.
        rectified: the images are rectified: intrinsics from P's left 3x3, no distortion.

    Returns:
        The :class:`~hand_pose_25d.camera.CameraCalibration` of the published images (width and height 0
        where the camera_info does not state them); K follows the pixel-centre convention (integer coordinates are pixel centres),
        so binning by b maps a full-resolution coordinate u to (u - x_offset + 0.5) / b - 0.5.

    Raises:
        CameraInfoError: K (or P) all zero, NaN or singular, or a focal length not positive; NaN in D; a
            distortion model other than plumb_bob / rational_polynomial with non-zero coefficients; a wrong
            number of coefficients.
    """
    name = "P" if rectified else "K"
    if rectified:
        pm = np.asarray(p, dtype=np.float64).ravel()
        if pm.size != 12:
            raise CameraInfoError(f"camera_info P must have 12 entries, got {pm.size}")
        K = pm.reshape(3, 4)[:, :3].copy()
    else:
        K = np.asarray(k, dtype=np.float64).ravel()
        if K.size != 9:
            raise CameraInfoError(f"camera_info K must have 9 entries, got {K.size}")
        K = K.reshape(3, 3)
    if not np.all(np.isfinite(K)):
        raise CameraInfoError(f"camera_info {name} contains NaN or infinite values")
    if not np.any(K):
        raise CameraInfoError(f"camera_info {name} is all zeros: the camera is not calibrated")
    try:
        validate_intrinsics(K)
    except ValueError as exc:
        raise CameraInfoError(f"camera_info {name} is not a usable camera matrix: {exc}") from None
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise CameraInfoError(
            f"camera_info {name} has non-positive focal lengths (fx = {K[0, 0]:g}, fy = {K[1, 1]:g}): "
            "focal lengths must be positive"
        )

    dist: Optional[np.ndarray] = None
    if not rectified:
        D = np.asarray(d, dtype=np.float64).ravel()
        if not np.all(np.isfinite(D)):
            raise CameraInfoError(f"camera_info D contains NaN or infinite values ({distortion_model or 'no model'})")
        try:
            dist = check_distortion(
                D, distortion_model, "or publish rectified images (image_proc) and set input.rectified"
            )
        except ValueError as exc:
            raise CameraInfoError(str(exc)) from None

    bx, by = max(int(binning_x), 1), max(int(binning_y), 1)
    x_off, y_off, roi_w, roi_h = (int(v) for v in roi)
    full_roi = roi_w == 0 or roi_h == 0
    if full_roi:
        x_off = y_off = 0
    if bx != 1 or by != 1 or x_off or y_off:
        A = np.array(
            [[1.0 / bx, 0.0, (0.5 - x_off) / bx - 0.5], [0.0, 1.0 / by, (0.5 - y_off) / by - 0.5], [0.0, 0.0, 1.0]]
        )
        K = A @ K
    w = (int(width) if full_roi else roi_w) // bx
    h = (int(height) if full_roi else roi_h) // by
    return CameraCalibration(
        width=w,
        height=h,
        K=K,
        dist_coeffs=dist,
        distortion_model=str(distortion_model or ""),
        source=f"the camera_info of frame {frame_id!r}",
    )


def camera_model_from_msg(msg, rectified: bool = False) -> CameraCalibration:
    """:func:`camera_model_from_fields` of a ``sensor_msgs/CameraInfo`` message."""
    return camera_model_from_fields(
        frame_id=msg.header.frame_id,
        k=msg.k,
        d=msg.d,
        distortion_model=msg.distortion_model,
        p=msg.p,
        width=msg.width,
        height=msg.height,
        binning_x=msg.binning_x,
        binning_y=msg.binning_y,
        roi=(msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height),
        rectified=rectified,
    )


def check_image_size(model: CameraCalibration, width: int, height: int) -> None:
    """``CameraInfoError`` if the camera_info states a size and the image has another one."""
    try:
        model.check_image_size(width, height)
    except ValueError as exc:
        raise CameraInfoError(str(exc)) from None


@dataclass(frozen=True)
class CameraInfoEntry:
    """One received camera_info: its stamp and frame, and either the model or why it is unusable."""

    frame_id: str
    stamp_ns: int
    model: Optional[CameraCalibration]
    error: Optional[str]


class CameraInfoBuffer:
    """The last ``size`` camera_infos, for pairing images with them (see the module docstring).

    Not thread-safe by itself; the node guards it with its own lock.
    """

    def __init__(self, size: int = 64) -> None:
        if size < 1:
            raise ValueError(f"buffer size must be positive, got {size}")
        self._entries: Deque[CameraInfoEntry] = deque(maxlen=size)
        self.received = 0

    def add(self, entry: CameraInfoEntry) -> None:
        """Store a camera_info (valid or not: an invalid one pairs too, so its error is reported)."""
        self._entries.append(entry)
        self.received += 1

    def clear(self) -> None:
        """Forget every stored camera_info (e.g. when the clock jumps back)."""
        self._entries.clear()

    def frames(self) -> Tuple[str, ...]:
        """The frame_ids of the stored camera_infos, sorted."""
        return tuple(sorted({e.frame_id for e in self._entries}))

    def match(self, frame_id: str, stamp_ns: int, mode: str, tolerance_ns: int) -> Optional[CameraInfoEntry]:
        """The camera_info paired with an image of ``frame_id`` stamped ``stamp_ns``, or None.

        Args:
            mode: 'exact' (nearest stamp within ``tolerance_ns``) or 'latest' (newest received).
        """
        same = [e for e in self._entries if e.frame_id == frame_id]
        if not same:
            return None
        if mode == "latest":
            return same[-1]
        if mode != "exact":
            raise ValueError(f"camera_info pairing mode must be 'exact' or 'latest', got {mode!r}")
        best = min(same, key=lambda e: abs(e.stamp_ns - stamp_ns))
        return best if abs(best.stamp_ns - stamp_ns) <= tolerance_ns else None

    def explain_missing(self, frame_id: str, stamp_ns: int, tolerance_ns: int, topic: str) -> str:
        """Why :meth:`match` found nothing, in words naming the topic, frame and stamps."""
        if not self._entries and self.received == 0:
            return f"no camera_info received on {topic} yet: the intrinsics are needed for every image"
        same = [e for e in self._entries if e.frame_id == frame_id]
        if not same:
            return (
                f"no camera_info for frame {frame_id!r} on {topic} (received for: "
                f"{', '.join(repr(f) for f in self.frames()) or 'none'})"
            )
        nearest = min(same, key=lambda e: abs(e.stamp_ns - stamp_ns))
        return (
            f"no camera_info on {topic} within {tolerance_ns / 1e9:g} s of the image stamp "
            f"{stamp_ns / 1e9:.6f} (the nearest differs by {abs(nearest.stamp_ns - stamp_ns) / 1e9:.9g} s); "
            "if the driver stamps camera_info differently, set input.camera_info_sync to 'latest'"
        )
