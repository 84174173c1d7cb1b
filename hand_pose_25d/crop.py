"""Hand-centred square crops as affine maps, with the crop's own intrinsics (numpy; OpenCV for the warp).

A crop is a 2x3 affine matrix ``A`` mapping full-image pixels to crop pixels (both with pixel centres at
integer coordinates). Because ``uv_crop = A3 @ K @ P / Z`` with ``A3 = [A; 0 0 1]``, the crop is an ordinary
pinhole camera with intrinsics ``K_crop = A3 @ K``: a 2.5D pose predicted in the crop reconstructs exactly
with ``K_crop`` (rotation and scale included), see :func:`crop_intrinsics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class CropBox:
    """A square, possibly rotated, region of an image.

    Attributes:
        cx, cy: centre in full-image pixels.
        side: side length in full-image pixels (> 0).
        angle: in-plane rotation in radians; the crop's x axis is the image x axis rotated by ``angle``
            (counter-clockwise as seen on screen, i.e. from +u towards -v).
    """

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.cx) and np.isfinite(self.cy) and np.isfinite(self.side) and np.isfinite(self.angle)):
            raise ValueError(f"crop box has non-finite values: {self}")
        if self.side <= 0:
            raise ValueError(f"crop box side must be positive, got {self.side}")

    def as_xywh(self) -> Tuple[float, float, float, float]:
        """Axis-aligned (x, y, w, h) of the unrotated square, in full-image pixels (x, y: top-left corner edge)."""
        half = self.side / 2.0
        return (self.cx - half + 0.5, self.cy - half + 0.5, self.side, self.side)

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float, padding: float = 1.0) -> "CropBox":
        """Square box around an (x, y, w, h) rectangle (x, y: top-left edge, as in ROS RegionOfInterest),
        its side ``padding`` times the rectangle's larger side."""
        if not (w > 0 and h > 0):
            raise ValueError(f"box width and height must be positive, got w={w}, h={h}")
        return cls(x + w / 2.0 - 0.5, y + h / 2.0 - 0.5, max(w, h) * padding)

    def clipped_roi(self, width: int, height: int) -> Tuple[int, int, int, int]:
        """Integer (x_offset, y_offset, width, height) of the axis-aligned bounds, clipped to the image."""
        half = self.side / 2.0 * (abs(np.cos(self.angle)) + abs(np.sin(self.angle)))
        x0 = int(np.clip(np.floor(self.cx - half + 0.5), 0, width))
        y0 = int(np.clip(np.floor(self.cy - half + 0.5), 0, height))
        x1 = int(np.clip(np.ceil(self.cx + half + 0.5), 0, width))
        y1 = int(np.clip(np.ceil(self.cy + half + 0.5), 0, height))
        return x0, y0, x1 - x0, y1 - y0


def box_from_keypoints(
    uv: np.ndarray, valid: Optional[np.ndarray] = None, padding: float = 1.3, min_side: float = 8.0
) -> CropBox:
    """Square box centred on the tight box of keypoints ``uv`` (N, 2), side ``padding`` x its larger side.

    Args:
        uv: (N, 2) pixels.
        valid: optional (N,) mask of keypoints to use; all finite keypoints by default.
        padding: side multiplier (>= 1).
        min_side: lower bound on the side in pixels.

    Raises:
        ValueError: no finite valid keypoint.
    """
    uv = np.asarray(uv, dtype=np.float64)
    ok = np.isfinite(uv).all(axis=-1)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    if not ok.any():
        raise ValueError("no valid keypoint to build a box from")
    pts = uv[ok]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2.0
    side = max(float((hi - lo).max()) * padding, min_side)
    return CropBox(float(centre[0]), float(centre[1]), side)


def crop_matrix(box: CropBox, out_size: int) -> np.ndarray:
    """2x3 affine ``A`` mapping full-image pixels to the pixels of an ``out_size`` x ``out_size`` crop of ``box``.

    The box's edges map to the crop's outer pixel edges (-0.5 and out_size - 0.5).
    """
    s = out_size / box.side
    c, si = np.cos(box.angle), np.sin(box.angle)
    # crop = s * R(-angle) (p - centre) + (N - 1) / 2 ; R(-angle) rotates image axes into the crop's axes
    R = np.array([[c, -si], [si, c]])
    M = s * R
    t = np.array([(out_size - 1) / 2.0, (out_size - 1) / 2.0]) - M @ np.array([box.cx, box.cy])
    return np.concatenate([M, t[:, None]], axis=1)


def to_3x3(A: np.ndarray) -> np.ndarray:
    """Homogeneous (..., 3, 3) form of a (..., 2, 3) affine matrix."""
    A = np.asarray(A, dtype=np.float64)
    bottom = np.zeros(A.shape[:-2] + (1, 3))
    bottom[..., 0, 2] = 1.0
    return np.concatenate([A, bottom], axis=-2)


def invert_affine(A: np.ndarray) -> np.ndarray:
    """Inverse (..., 2, 3) of an affine (..., 2, 3) matrix."""
    return np.linalg.inv(to_3x3(A))[..., :2, :]


def transform_points(uv: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Apply affine ``A`` (2, 3) or (..., 2, 3) to points (..., N, 2)."""
    uv = np.asarray(uv, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    return np.einsum("...ij,...nj->...ni", A[..., :, :2], uv) + A[..., None, :, 2]


def crop_intrinsics(K: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Intrinsics of the cropped image: ``[A; 0 0 1] @ K`` for K (..., 3, 3) and A (..., 2, 3)."""
    return to_3x3(A) @ np.asarray(K, dtype=np.float64)


def warp(
    image: np.ndarray,
    A: np.ndarray,
    out_size: int,
    *,
    border_value: Tuple[int, int, int] = (0, 0, 0),
    interpolation: Optional[int] = None,
) -> np.ndarray:
    """Resample ``image`` (H, W, C) into an ``out_size`` square crop with affine ``A`` (2, 3).

    Pixels outside the image are ``border_value``. Down-scaling by more than 2x uses area-like
    interpolation (OpenCV ``INTER_AREA`` is not available for warps, so the image is first reduced with
    ``cv2.resize`` by the integer factor) to avoid aliasing.
    """
    import cv2

    A = np.asarray(A, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(A[:, :2]))))
    if scale < 0.5:
        factor = int(np.floor(1.0 / scale))
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        # pixel-centre mapping of the reduction: p_small = (p + 0.5) * (w_small / w) - 0.5
        sx, sy = small.shape[1] / w, small.shape[0] / h
        S = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        A = (to_3x3(A) @ np.linalg.inv(S))[:2]
        image = small
    flags = cv2.INTER_LINEAR if interpolation is None else interpolation
    return cv2.warpAffine(
        image, A, (out_size, out_size), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=border_value
    )


def dihedral_matrix(code: int, size: int) -> np.ndarray:
    """2x3 affine of the lossless crop transform ``code`` in 0..7 (the dihedral group of the square).

    ``code & 3`` quarter turns counter-clockwise (as :func:`numpy.rot90`), then a left-right mirror if ``code & 4``.
    Maps pixel coordinates of an (size, size) crop to those of :func:`dihedral_image` of it; a mirror turns a
    left hand into a right one. Used by training augmentation and by test-time augmentation.
    """
    m = size - 1.0
    A = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    rot = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, m], [0.0, 0.0, 1.0]])  # (u, v) -> (v, m - u): np.rot90 (CCW)
    for _ in range(code & 3):
        A = rot @ A
    if code & 4:
        A = np.array([[-1.0, 0.0, m], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ A
    return A[:2]


def dihedral_image(image: np.ndarray, code: int) -> np.ndarray:
    """Apply the transform of :func:`dihedral_matrix` to an (S, S, C) image, exactly."""
    out = np.rot90(image, k=code & 3, axes=(0, 1))
    if code & 4:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)
