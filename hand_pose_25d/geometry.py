"""2.5D hand pose geometry: projection, the 2.5D representation, closed-form 3D reconstruction, scale.

numpy only. Every function is batched over leading dimensions: keypoints are (..., 21, 2) or (..., 21, 3),
intrinsics ``K`` are (3, 3) or (..., 3, 3) and broadcast against the hands.

Conventions
-----------
* Camera frame: the optical frame of REP 103/105 (x right, y down, z forward), metres.
* Pixels: integer coordinates are pixel centres (OpenCV / ROS ``camera_info`` convention).
* ``K`` may be any 3x3 matrix with last row (0, 0, 1) and an invertible upper-left 2x2 block. That
  includes the intrinsics of a rotated or scaled crop (``A @ K`` for an affine crop ``A``), so 2.5D -> 3D
  stays exact through crops.
* The 2.5D pose of keypoint k is ``(u_k, v_k, z_rel_k)``: its pixel position and ``(Z_k - Z_root) / L``,
  where ``L`` is the 3D length of the reference bone (paper Sec. 3.1 with C = 1).

Invalid hands
-------------
:func:`reconstruct_3d` never raises for degenerate data. A hand it cannot reconstruct -- non-finite input, a
reference bone whose image length is (numerically) zero, no root depth that puts every keypoint in front of
the camera -- comes back with **all 21x3 values NaN**, and ``return_details=True`` gives a per-hand ``valid``
flag and a :class:`Status` code. Valid hands never contain NaN. Structural errors (wrong shapes, a singular
or non-finite ``K``, bad ``root``/``ref_bone`` indices) raise ``ValueError``.
"""

from __future__ import annotations

import enum
import math
from functools import lru_cache
from typing import Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .skeleton import DEFAULT_BONE_LENGTHS, DEFAULT_REF_BONE, DEFAULT_ROOT, NUM_KEYPOINTS, validate_bone

__all__ = [
    "Status",
    "Reconstruction",
    "validate_intrinsics",
    "project",
    "pixels_to_normalized",
    "distort_normalized",
    "undistort_points",
    "to_2p5d",
    "lift_2p5d",
    "root_depth_candidates",
    "reconstruct_3d",
    "estimate_scale",
]

#: Smallest squared image length (normalised coordinates) of the reference bone that is not degenerate:
#: (1e-7)^2, i.e. about 1e-4 px for a 1000 px focal length.
_MIN_BONE_IMAGE_LEN2 = 1e-14
#: Keypoints must be at least this far in front of the camera, in reference-bone units.
_MIN_DEPTH = 1e-6


class Status(enum.IntEnum):
    """Per-hand outcome of :func:`reconstruct_3d`."""

    OK = 0
    #: The 2.5D input admits no exact solution (negative discriminant, typical of noisy predictions); the
    #: root depth that brings the reference bone closest to unit length was used. The hand is valid.
    APPROXIMATE = 1
    #: Invalid: some input value of this hand (pixel, relative depth) is NaN or infinite. (Non-finite
    #: intrinsics are not a per-hand outcome: :func:`validate_intrinsics` raises ``ValueError`` for them.)
    NONFINITE_INPUT = 2
    #: Invalid: the reference bone projects to a (numerically) zero-length segment; its depth is unknowable.
    DEGENERATE_BONE = 3
    #: Invalid: no root depth puts every keypoint in front of the camera.
    BEHIND_CAMERA = 4


class Reconstruction(NamedTuple):
    """Detailed result of :func:`reconstruct_3d` with ``return_details=True``.

    Attributes:
        xyz: (..., 21, 3) scale-normalised 3D keypoints in the camera frame (reference bone length 1);
            all NaN where ``valid`` is False.
        z_root: (...,) depth of the root keypoint in reference-bone units; NaN where invalid.
        valid: (...,) bool.
        status: (...,) int8 :class:`Status` codes.
        z_root_other: (...,) the rejected root of the quadratic (NaN if there was none in front of the camera).
    """

    xyz: np.ndarray
    z_root: np.ndarray
    valid: np.ndarray
    status: np.ndarray
    z_root_other: np.ndarray


# --------------------------------------------------------------------------------------------------------------
# intrinsics and projection


def validate_intrinsics(K: np.ndarray) -> np.ndarray:
    """Return ``K`` as float64 (..., 3, 3) after checking that it is a usable camera matrix.

    Raises:
        ValueError: wrong shape, non-finite entries, last row not (0, 0, 1), or a singular 2x2 block
            (for example the all-zero K of an uncalibrated ``camera_info``).
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape == (3, 3):  # the per-frame case, checked on Python floats (numpy's reductions cost ~10x on 9 values)
        rows = K.tolist()
        (k00, k01, _), (k10, k11, _), (k20, k21, k22) = rows
        if not all(math.isfinite(v) for row in rows for v in row):
            raise ValueError("intrinsics K contain NaN or infinite values")
        if abs(k20) > 1e-8 or abs(k21) > 1e-8 or abs(k22 - 1.0) > 1e-8 + 1e-5:
            raise ValueError("intrinsics K must have last row (0, 0, 1) (is the camera calibrated?)")
        if abs(k00 * k11 - k01 * k10) < 1e-12:
            raise ValueError("intrinsics K are singular (focal lengths zero?): the camera is not calibrated")
        return K
    if K.shape[-2:] != (3, 3):
        raise ValueError(f"intrinsics K must have shape (3, 3) or (..., 3, 3), got {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("intrinsics K contain NaN or infinite values")
    if not np.allclose(K[..., 2, :], [0.0, 0.0, 1.0]):
        raise ValueError("intrinsics K must have last row (0, 0, 1) (is the camera calibrated?)")
    det = K[..., 0, 0] * K[..., 1, 1] - K[..., 0, 1] * K[..., 1, 0]
    if np.any(np.abs(det) < 1e-12):
        raise ValueError("intrinsics K are singular (focal lengths zero?): the camera is not calibrated")
    return K


def _check_keypoints(arr: np.ndarray, dims: int, name: str) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-1] != dims:
        raise ValueError(f"{name} must have shape (..., N, {dims}), got {arr.shape}")
    return arr


def project(xyz: np.ndarray, K: np.ndarray, dist_coeffs: Optional[Sequence[float]] = None) -> np.ndarray:
    """Project camera-frame points (..., N, 3) to pixels (..., N, 2) with ``K`` and optional distortion.

    Points with Z <= 0 give non-finite or meaningless pixels; callers check depth themselves.
    """
    xyz = _check_keypoints(xyz, 3, "xyz")
    K = validate_intrinsics(K)
    with np.errstate(divide="ignore", invalid="ignore"):
        xn = xyz[..., :2] / xyz[..., 2:3]
    if dist_coeffs is not None and np.any(np.asarray(dist_coeffs, dtype=np.float64) != 0):
        xn = distort_normalized(xn, dist_coeffs)
    return _apply_K(xn, K)


def _apply_K(xn: np.ndarray, K: np.ndarray) -> np.ndarray:
    Kb = K[..., None, :, :]
    u = Kb[..., 0, 0] * xn[..., 0] + Kb[..., 0, 1] * xn[..., 1] + Kb[..., 0, 2]
    v = Kb[..., 1, 0] * xn[..., 0] + Kb[..., 1, 1] * xn[..., 1] + Kb[..., 1, 2]
    return np.stack([u, v], axis=-1)


def pixels_to_normalized(uv: np.ndarray, K: np.ndarray, dist_coeffs: Optional[Sequence[float]] = None) -> np.ndarray:
    """Normalised image coordinates ``x_bar = K^-1 [u, v, 1]`` (..., N, 2), undistorting if coefficients given."""
    uv = _check_keypoints(uv, 2, "uv")
    K = validate_intrinsics(K)
    if K.shape == (3, 3):  # one camera: the inverse of K's affine part on Python floats
        (a, b, tx), (c, d, ty), _ = K.tolist()
        det = a * d - b * c
        i00, i01, i10, i11 = d / det, -b / det, -c / det, a / det
        u, v = uv[..., 0] - tx, uv[..., 1] - ty
        xn = np.stack([i00 * u + i01 * v, i10 * u + i11 * v], axis=-1)
    else:
        Kinv = np.linalg.inv(K)[..., None, :, :]
        x = Kinv[..., 0, 0] * uv[..., 0] + Kinv[..., 0, 1] * uv[..., 1] + Kinv[..., 0, 2]
        y = Kinv[..., 1, 0] * uv[..., 0] + Kinv[..., 1, 1] * uv[..., 1] + Kinv[..., 1, 2]
        xn = np.stack([x, y], axis=-1)
    if dist_coeffs is not None and np.any(np.asarray(dist_coeffs, dtype=np.float64) != 0):
        xn = _undistort_normalized(xn, dist_coeffs)
    return xn


# --------------------------------------------------------------------------------------------------------------
# lens distortion (ROS "plumb_bob" = OpenCV k1, k2, p1, p2[, k3[, k4, k5, k6]] -- "rational_polynomial")


def _dist_params(dist_coeffs: Sequence[float]) -> Tuple[float, ...]:
    d = np.asarray(dist_coeffs, dtype=np.float64).ravel()
    if d.size not in (4, 5, 8):
        raise ValueError(f"distortion needs 4, 5 or 8 coefficients (plumb_bob / rational_polynomial), got {d.size}")
    if not np.all(np.isfinite(d)):
        raise ValueError("distortion coefficients contain NaN or infinite values")
    d = np.concatenate([d, np.zeros(8 - d.size)])
    return tuple(float(c) for c in d)


def distort_normalized(xn: np.ndarray, dist_coeffs: Sequence[float]) -> np.ndarray:
    """Apply plumb_bob / rational_polynomial distortion to normalised coordinates (..., 2)."""
    k1, k2, p1, p2, k3, k4, k5, k6 = _dist_params(dist_coeffs)
    x, y = xn[..., 0], xn[..., 1]
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def _undistort_normalized(xd: np.ndarray, dist_coeffs: Sequence[float], iterations: int = 20) -> np.ndarray:
    """Invert :func:`distort_normalized` by fixed-point iteration (OpenCV's ``undistortPoints`` scheme)."""
    k1, k2, p1, p2, k3, k4, k5, k6 = _dist_params(dist_coeffs)
    x0, y0 = xd[..., 0], xd[..., 1]
    x, y = x0.copy(), y0.copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        icdist = (1 + r2 * (k4 + r2 * (k5 + r2 * k6))) / (1 + r2 * (k1 + r2 * (k2 + r2 * k3)))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x = (x0 - dx) * icdist
        y = (y0 - dy) * icdist
    return np.stack([x, y], axis=-1)


def undistort_points(uv: np.ndarray, K: np.ndarray, dist_coeffs: Optional[Sequence[float]]) -> np.ndarray:
    """Pixels (..., N, 2) of a distorted image -> pixels of the ideal pinhole image with the same ``K``."""
    K = validate_intrinsics(K)
    return _apply_K(pixels_to_normalized(uv, K, dist_coeffs), K)


# --------------------------------------------------------------------------------------------------------------
# the 2.5D representation


def to_2p5d(
    xyz: np.ndarray,
    K: np.ndarray,
    *,
    root: int = DEFAULT_ROOT,
    ref_bone: Tuple[int, int] = DEFAULT_REF_BONE,
) -> Tuple[np.ndarray, np.ndarray]:
    """3D keypoints (..., 21, 3) in metres (camera frame) -> 2.5D pose.

    Returns:
        uv: (..., 21, 2) pixel coordinates (ideal pinhole projection with ``K``).
        z_rel: (..., 21) root-relative depths divided by the 3D length of ``ref_bone``; NaN for a hand
            whose reference bone has zero length.
    """
    xyz = _check_keypoints(xyz, 3, "xyz")
    root, ref_bone = _check_root_bone(root, ref_bone, xyz.shape[-2])
    uv = project(xyz, K)
    length = np.linalg.norm(xyz[..., ref_bone[1], :] - xyz[..., ref_bone[0], :], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(length > 0, 1.0 / length, np.nan)
    z_rel = (xyz[..., 2] - xyz[..., root, 2][..., None]) * scale[..., None]
    return uv, z_rel


def lift_2p5d(
    uv: np.ndarray,
    z_rel: np.ndarray,
    K: np.ndarray,
    root_depth: np.ndarray,
    scale: np.ndarray,
    dist_coeffs: Optional[Sequence[float]] = None,
) -> np.ndarray:
    """2.5D pose with a known root depth and scale -> 3D keypoints (the inverse of :func:`to_2p5d`).

    ``Z_k = root_depth + z_rel_k * scale`` and ``X_k = x_bar_k * Z_k`` (``x_bar`` the normalised coordinates).

    Args:
        uv: (..., 21, 2) pixels; z_rel: (..., 21) root-relative depths in units of the reference bone.
        K: (3, 3) or (..., 3, 3) intrinsics; dist_coeffs: optional distortion of ``uv`` (one camera).
        root_depth: (...) root depth in metres; scale: (...) reference-bone length in metres.

    Returns:
        (..., 21, 3) metres in the camera frame.
    """
    xn = pixels_to_normalized(uv, K, dist_coeffs)
    scale = np.asarray(scale, dtype=np.float64)
    return _lift(xn, np.asarray(z_rel, dtype=np.float64) * scale[..., None], np.asarray(root_depth, dtype=np.float64))


def _check_root_bone(root: int, ref_bone: Tuple[int, int], n: int) -> Tuple[int, Tuple[int, int]]:
    if n != NUM_KEYPOINTS:
        raise ValueError(f"expected {NUM_KEYPOINTS} keypoints, got {n}")
    ref_bone = validate_bone(ref_bone)
    if not 0 <= int(root) < NUM_KEYPOINTS:
        raise ValueError(f"root must be a keypoint index in 0..{NUM_KEYPOINTS - 1}, got {root!r}")
    return int(root), ref_bone


def root_depth_candidates(
    xn: np.ndarray, z_rel: np.ndarray, ref_bone: Tuple[int, int]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both solutions of the root-depth quadratic, derived from the paper's Eq. (3).

    With ``r_k = (x_k, y_k, 1)`` the normalised ray of keypoint k and ``P_k = (Z_root + z_k) r_k``, the
    reference bone (m, n) has unit length when ``|Z_root d + e|^2 = 1`` with ``d = r_n - r_m`` and
    ``e = z_n r_n - z_m r_m``, i.e. ``a Z^2 + b Z + c = 0`` with ``a = d.d``, ``b = 2 d.e``, ``c = e.e - 1``.
    (This is the corrected Eq. (6): normalised coordinates and a factor 2 in ``b``.)

    Args:
        xn: (..., 21, 2) normalised image coordinates.
        z_rel: (..., 21) scale-normalised root-relative depths.
        ref_bone: (parent, child).

    Returns:
        (z_hi, z_lo, approx): the larger and smaller root (...,); where the discriminant is negative both
        equal the vertex ``-b / 2a`` and ``approx`` is True. NaN where ``a`` is degenerate.
    """
    m, n = ref_bone
    ones = np.ones(xn.shape[:-1] + (1,))
    r = np.concatenate([xn, ones], axis=-1)  # (..., 21, 3)
    d = r[..., n, :] - r[..., m, :]
    e = z_rel[..., n, None] * r[..., n, :] - z_rel[..., m, None] * r[..., m, :]
    a = np.einsum("...i,...i->...", d, d)
    b = 2.0 * np.einsum("...i,...i->...", d, e)
    c = np.einsum("...i,...i->...", e, e) - 1.0
    degenerate = ~(a > _MIN_BONE_IMAGE_LEN2)
    a_safe = np.where(degenerate, 1.0, a)
    disc = b * b - 4.0 * a_safe * c
    approx = disc < 0
    sq = np.sqrt(np.where(approx, 0.0, disc))
    # Numerically stable pair of roots (no cancellation when 4ac << b^2).
    q = -0.5 * (b + np.where(b >= 0, sq, -sq))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = q / a_safe
        r2 = np.where(approx | (q == 0), r1, c / np.where(q != 0, q, 1.0))
    z_hi = np.maximum(r1, r2)
    z_lo = np.minimum(r1, r2)
    z_hi = np.where(degenerate, np.nan, z_hi)
    z_lo = np.where(degenerate, np.nan, z_lo)
    return z_hi, z_lo, approx & ~degenerate


def _prior_ratios(
    bone_prior: Mapping[Tuple[int, int], float], ref_bone: Tuple[int, int]
) -> Tuple[np.ndarray, np.ndarray]:
    return _prior_ratios_cached(tuple(bone_prior.items()), tuple(ref_bone))


@lru_cache(maxsize=16)
def _prior_ratios_cached(
    items: Tuple[Tuple[Tuple[int, int], float], ...], ref_bone: Tuple[int, int]
) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`_prior_ratios` per distinct prior (checked and built once, not per frame; read-only arrays)."""
    bone_prior = dict(items)
    ref = bone_prior.get(ref_bone) or bone_prior.get((ref_bone[1], ref_bone[0]))
    if ref is None or not ref > 0:
        raise ValueError(f"bone prior must contain the reference bone {ref_bone} with a positive length")
    pairs = [validate_bone(bn) for bn in bone_prior if set(bn) != set(ref_bone)]
    idx = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
    ratios = np.asarray([bone_prior[bn] / ref for bn in bone_prior if set(bn) != set(ref_bone)], dtype=np.float64)
    if np.any(~(ratios > 0)):
        raise ValueError("bone prior lengths must be positive")
    idx.setflags(write=False)
    ratios.setflags(write=False)
    return idx, ratios


def _prior_cost(xyz: np.ndarray, idx: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """Disagreement of a normalised pose with the bone-proportion prior.

    The variance (over bones other than the reference bone) of ``log(length / prior length)``. A wrong root
    stretches bones across the viewing ray but not along it, which this catches; a hand whose fingers are
    uniformly longer or shorter than the prior relative to its reference bone costs nothing. Measured on
    20,000 random hands (tests): wrong-root rate 0.03 % with matched proportions and at most 0.13 % with the
    palm 15 % shorter or the fingers 20 % longer than the prior, against 0.5-1.1 % for the paper's '+' root
    and 0.1-0.3 % for a mean-squared log-ratio cost.
    """
    lengths = np.linalg.norm(xyz[..., idx[:, 1], :] - xyz[..., idx[:, 0], :], axis=-1)
    dev = np.log(np.maximum(lengths, 1e-12)) - log_prior
    return np.var(dev, axis=-1)


def _lift(xn: np.ndarray, z_rel: np.ndarray, z_root: np.ndarray) -> np.ndarray:
    Z = z_root[..., None] + z_rel
    return np.concatenate([xn * Z[..., None], Z[..., None]], axis=-1)


def reconstruct_3d(
    uv: np.ndarray,
    z_rel: np.ndarray,
    K: np.ndarray,
    *,
    root: int = DEFAULT_ROOT,
    ref_bone: Tuple[int, int] = DEFAULT_REF_BONE,
    dist_coeffs: Optional[Sequence[float]] = None,
    bone_prior: Optional[Mapping[Tuple[int, int], float]] = None,
    return_details: bool = False,
):
    """Closed-form scale-normalised 3D pose from a 2.5D pose and the camera intrinsics (paper Sec. 3.2).

    The root depth solves the quadratic of :func:`root_depth_candidates`. When both roots put every
    keypoint in front of the camera, the one whose bone proportions best match ``bone_prior`` is taken
    (the paper's '+' root alone is wrong for about 1 % of randomly oriented hands, mostly when the reference
    bone points near the viewing ray).

    Args:
        uv: (..., 21, 2) pixel coordinates in the image described by ``K`` (and ``dist_coeffs``).
        z_rel: (..., 21) root-relative depths divided by the reference bone length.
        K: (3, 3) or (..., 3, 3) intrinsics.
        root: index of the root keypoint ``z_rel`` is relative to.
        ref_bone: (parent, child) of the bone whose length normalises the depths.
        dist_coeffs: optional plumb_bob (4/5) or rational_polynomial (8) coefficients; the keypoints are
            undistorted before reconstruction.
        bone_prior: bone lengths (any unit) used only to choose between the two roots; defaults to
            :data:`~hand_pose_25d.skeleton.DEFAULT_BONE_LENGTHS`.
        return_details: return a :class:`Reconstruction` instead of the array.

    Returns:
        (..., 21, 3) 3D keypoints in the camera frame with the reference bone of length 1; invalid hands
        are all NaN (see the module docstring), or a :class:`Reconstruction` with ``return_details``.

    Raises:
        ValueError: mismatched shapes, bad ``root``/``ref_bone``, unusable ``K`` or distortion.
    """
    uv = _check_keypoints(uv, 2, "uv")
    z_rel = np.asarray(z_rel, dtype=np.float64)
    root, ref_bone = _check_root_bone(root, ref_bone, uv.shape[-2])
    if z_rel.shape[-1:] != uv.shape[-2:-1]:
        raise ValueError(f"z_rel shape {z_rel.shape} does not match uv shape {uv.shape}")
    K = validate_intrinsics(K)
    batch = np.broadcast_shapes(uv.shape[:-2], z_rel.shape[:-1], K.shape[:-2])
    uv = np.broadcast_to(uv, batch + uv.shape[-2:])
    z_rel = np.broadcast_to(z_rel, batch + z_rel.shape[-1:])

    finite = np.isfinite(uv).all(axis=(-1, -2)) & np.isfinite(z_rel).all(axis=-1)
    uv_safe = np.where(finite[..., None, None], uv, 0.0)
    # Depths are relative to ``root``: re-reference in case the caller's root value is not exactly 0.
    z_safe = np.where(finite[..., None], z_rel - z_rel[..., root : root + 1], 0.0)
    xn = pixels_to_normalized(uv_safe, K, dist_coeffs)
    finite &= np.isfinite(xn).all(axis=(-1, -2))
    xn = np.where(finite[..., None, None], xn, 0.0)

    z_hi, z_lo, approx = root_depth_candidates(xn, z_safe, ref_bone)
    degenerate = ~np.isfinite(z_hi)
    min_rel = np.min(z_safe, axis=-1)
    with np.errstate(invalid="ignore"):
        hi_ok = np.isfinite(z_hi) & (z_hi + min_rel > _MIN_DEPTH)
        lo_ok = np.isfinite(z_lo) & (z_lo + min_rel > _MIN_DEPTH) & (z_lo != z_hi)

    idx, ratios = _prior_ratios(bone_prior if bone_prior is not None else DEFAULT_BONE_LENGTHS, ref_bone)
    log_prior = np.log(ratios)
    zh = np.where(hi_ok, z_hi, 1.0)
    zl = np.where(lo_ok, z_lo, 1.0)
    cost_hi = _prior_cost(_lift(xn, z_safe, zh), idx, log_prior)
    cost_lo = _prior_cost(_lift(xn, z_safe, zl), idx, log_prior)
    take_lo = lo_ok & (~hi_ok | (cost_lo < cost_hi))
    z_root = np.where(take_lo, z_lo, z_hi)
    z_other = np.where(take_lo, np.where(hi_ok, z_hi, np.nan), np.where(lo_ok, z_lo, np.nan))

    valid = finite & ~degenerate & (hi_ok | lo_ok)
    status = np.full(batch, Status.OK, dtype=np.int8)
    status[approx & valid] = Status.APPROXIMATE
    status[~(hi_ok | lo_ok)] = Status.BEHIND_CAMERA
    status[degenerate] = Status.DEGENERATE_BONE
    status[~finite] = Status.NONFINITE_INPUT

    z_root = np.where(valid, z_root, np.nan)
    xyz = _lift(xn, z_safe, np.where(valid, z_root, 1.0))
    xyz = np.where(valid[..., None, None], xyz, np.nan)
    if return_details:
        return Reconstruction(xyz, z_root, valid, status, np.where(valid, z_other, np.nan))
    return xyz


# --------------------------------------------------------------------------------------------------------------
# scale


def estimate_scale(
    xyz_norm: np.ndarray,
    bone_lengths: Optional[Mapping[Tuple[int, int], float]] = None,
) -> np.ndarray:
    """Metres per normalised unit, the closed form of the paper's Eq. (7).

    ``s = argmin_s sum_b (s * |P_k - P_l| - mu_b)^2 = sum_b mu_b d_b / sum_b d_b^2`` over the bones in
    ``bone_lengths``.

    Args:
        xyz_norm: (..., 21, 3) scale-normalised pose (e.g. from :func:`reconstruct_3d`).
        bone_lengths: mean bone lengths in metres keyed by (parent, child); defaults to
            :data:`~hand_pose_25d.skeleton.DEFAULT_BONE_LENGTHS`.

    Returns:
        (...,) scale; NaN exactly where the hand is invalid (NaN input or all bones of zero length).
    """
    xyz_norm = _check_keypoints(xyz_norm, 3, "xyz_norm")
    if bone_lengths is None:
        bone_lengths = DEFAULT_BONE_LENGTHS
    idx, mu = _bone_arrays(tuple(bone_lengths.items()))
    if idx.max() >= xyz_norm.shape[-2]:
        raise ValueError("bone_lengths refer to keypoints the pose does not have")
    d = np.linalg.norm(xyz_norm[..., idx[:, 1], :] - xyz_norm[..., idx[:, 0], :], axis=-1)
    num = np.sum(d * mu, axis=-1)
    den = np.sum(d * d, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@lru_cache(maxsize=16)
def _bone_arrays(items: Tuple[Tuple[Tuple[int, int], float], ...]) -> Tuple[np.ndarray, np.ndarray]:
    """Checked (bones (B, 2), lengths (B,)) arrays of a bone-length table, built once per distinct table."""
    if len(items) == 0:
        raise ValueError("bone_lengths is empty")
    idx = np.asarray([validate_bone(bn) for bn, _ in items], dtype=np.intp)
    mu = np.asarray([length for _, length in items], dtype=np.float64)
    if np.any(~(mu > 0)) or not np.all(np.isfinite(mu)):
        raise ValueError("bone lengths must be positive and finite")
    idx.setflags(write=False)
    mu.setflags(write=False)
    return idx, mu
