"""Depth images: conversion, a sensor model for the renderer, and the hand's distance and size from depth (numpy).

An aligned depth image (RealSense ``aligned_depth_to_color``, ZED, OAK: one depth per colour pixel) fixes what one
RGB image cannot: how far the hand is. :func:`root_and_scale_from_depth` reads the depth around the palm keypoints
the network found and returns the root keypoint's depth ``Z_root`` and the metric length ``b`` of the reference
bone, robustly to what depth cameras give:

* **holes** (0 or NaN: no return, the shadow beside an edge): each keypoint takes the median of the valid pixels in a
  small window, and a keypoint with too few valid pixels does not vote;
* **the silhouette's depth edge and a few centimetres of misalignment**: windows that straddle the edge mix hand and
  background; the per-keypoint root estimates are combined by a median and those farther than ``inlier_m`` from it
  are rejected, and the fit needs ``min_inliers`` agreeing palm keypoints (fingers in front of the palm, the other
  source of outliers, are not used: the palm keypoints lie on one rigid, visible surface);
* **the surface, not the joint**: depth sees the skin facing the camera; the joint centres lie ``joint_offset_m``
  behind it.

Each palm keypoint ``k`` with measured depth ``d_k`` votes ``Z_root = d_k + joint_offset - b0 * z_rel_k`` (``b0``:
the bone-prior length; the relative depths ``z_rel`` are the network's 2.5D output). With ``Z_root`` known, ``b`` is
the one that makes the lifted reference bone as long as itself (the closed form of the paper's normalisation, now
with a known root): ``|P(u_c, Z_root + b z_c) - P(u_r, Z_root)| = b`` where ``P`` back-projects a pixel at a depth.

:func:`simulate_depth` turns the renderer's exact depth into what a sensor gives (noise growing with distance
squared, quantisation, dropped pixels, holes along depth edges), for the synthetic camera and ``eval --depth``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .geometry import pixels_to_normalized
from .settings import setting

__all__ = [
    "DEPTH_ENCODINGS",
    "PALM_KEYPOINTS",
    "DepthConfig",
    "DepthFit",
    "DepthImage",
    "depth_to_metres",
    "depth_from_buffer",
    "root_and_scale_from_depth",
    "refine_keypoint_depths",
    "keypoint_depths",
    "simulate_depth",
]

#: Encodings of depth images: 16UC1 / mono16 in millimetres (RealSense, OAK), 32FC1 in metres (ZED, simulators).
DEPTH_ENCODINGS: Tuple[str, ...] = ("16UC1", "mono16", "32FC1")
#: The keypoints whose depth is read: wrist, thumb CMC and the four finger MCPs (the palm, one rigid surface).
PALM_KEYPOINTS: Tuple[int, ...] = (0, 1, 5, 9, 13, 17)


@dataclass
class DepthConfig:
    """An aligned depth image as a source of the hand's distance (``depth.*`` parameters of the node)."""

    enabled: bool = setting(
        False,
        description="Subscribe to an aligned depth image on 'depth' (16UC1/mono16 in mm or 32FC1 in m, one depth "
        "per colour pixel, same frame_id) and take the hand's distance and size from it; hands where it is missing "
        "or unusable fall back to the bone-length prior (HandPose.scale_source says which).",
    )
    sync_tolerance: float = setting(
        0.02,
        description="Largest stamp difference in seconds between an image and the depth image paired with it.",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    wait: float = setting(
        0.1,
        description="Seconds an image may wait for its depth image while depth images arrive (a depth image "
        "published after its colour image still pairs).",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    window: int = setting(
        3, description="Half-size in pixels of the window read around each palm keypoint.", min=0, max=20, dynamic=True
    )
    joint_offset_m: float = setting(
        0.01,
        description="Distance in metres from the skin the camera sees to the joint centres behind it.",
        min=0.0,
        max=0.05,
        dynamic=True,
    )
    inlier_m: float = setting(
        0.025,
        description="Palm keypoints whose root estimate is farther than this (metres) from the median are rejected.",
        min=0.001,
        max=0.5,
        dynamic=True,
    )
    keypoint_tolerance_m: float = setting(
        0.03,
        description="After the root and scale, each keypoint whose measured depth (plus joint_offset_m) lies within "
        "this many metres of its reconstructed depth takes the measured one (0: keep the reconstructed depths); "
        "keypoints hidden behind others see the occluder and stay as reconstructed.",
        min=0.0,
        max=0.2,
        dynamic=True,
    )
    min_inliers: int = setting(
        3, description="Agreeing palm keypoints needed to use the depth.", min=1, max=6, dynamic=True
    )
    max_disagreement: float = setting(
        0.5,
        description="A root depth from the depth image that differs from the bone prior's by more than this fraction "
        "is not used (the bone prior's is, with a warning): a depth image of something else (a wall, a misaligned "
        "map) or a hand far from the prior's size.",
        min=0.0,
        max=10.0,
        dynamic=True,
    )


@dataclass(frozen=True)
class DepthFit:
    """The result of :func:`root_and_scale_from_depth`.

    Attributes:
        ok: the depth gave a root depth and scale; else ``reason`` says why not.
        root_depth: Z of the root keypoint in metres (NaN when not ok).
        scale: metric length of the reference bone in metres (NaN when not ok).
        inliers: number of palm keypoints that agreed.
        reason: '' when ok, else 'no_depth', 'too_few_valid', 'inconsistent', 'degenerate'.
    """

    ok: bool
    root_depth: float
    scale: float
    inliers: int
    reason: str = ""


@dataclass(frozen=True)
class DepthImage:
    """A received depth image as it came, converted only where it is read (a 640x480 image is not copied).

    Attributes:
        values: (H, W) uint16 (millimetres) or float32 (metres) array; 0, NaN, inf or negative mean no measurement.
        scale: metres per unit of ``values`` (0.001 for 16UC1 / mono16, 1 for 32FC1).
    """

    values: np.ndarray
    scale: float

    @property
    def shape(self) -> Tuple[int, int]:
        """(H, W)."""
        return tuple(self.values.shape)  # type: ignore[return-value]

    def metres(self) -> np.ndarray:
        """The whole image in metres, NaN where there is no measurement (:func:`depth_to_metres`)."""
        return depth_to_metres(self.values, "32FC1" if self.scale == 1.0 else "16UC1")


DepthLike = Union[np.ndarray, DepthImage]


def _values_and_scale(depth: DepthLike) -> Tuple[np.ndarray, float]:
    return (depth.values, depth.scale) if isinstance(depth, DepthImage) else (np.asarray(depth), 1.0)


def _check_encoding(encoding: str) -> None:
    """``ValueError`` naming the encodings a depth image may have, for any other."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(
            f"depth encoding {encoding!r} is not supported (use {', '.join(DEPTH_ENCODINGS)}: millimetres in 16 bits "
            "or metres in 32-bit float)"
        )


def depth_to_metres(depth: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W) float32 metres of a depth image, NaN where it has no measurement (0, NaN, inf, negative).

    Raises:
        ValueError: an encoding other than :data:`DEPTH_ENCODINGS`, or not a 2D array.
    """
    _check_encoding(encoding)
    a = np.asarray(depth)
    if a.ndim != 2:
        raise ValueError(f"a depth image is (H, W), got shape {a.shape}")
    m = a.astype(np.float32)  # a new native-endian array
    if encoding != "32FC1":
        m *= np.float32(0.001)
    with np.errstate(invalid="ignore"):
        m[~(m > 0) | ~np.isfinite(m)] = np.nan
    return m


def depth_from_buffer(encoding: str, height: int, width: int, step: int, is_bigendian: bool, data: bytes) -> DepthImage:
    """The :class:`DepthImage` of a ``sensor_msgs/Image`` depth image given by its fields (a view of ``data`` where
    the byte order allows; ``.metres()`` converts it all).

    Raises:
        ValueError: an unsupported encoding, a size of 0, a step too small for the width, or data shorter than
            ``height * step`` (the message names what is wrong).
    """
    _check_encoding(encoding)
    size = 4 if encoding == "32FC1" else 2
    if height <= 0 or width <= 0:
        raise ValueError(f"depth image of size {width}x{height}")
    if step < width * size:
        raise ValueError(f"depth image step {step} is smaller than width x {size} bytes = {width * size}")
    raw = np.frombuffer(data, np.uint8)
    if raw.size < height * step:
        raise ValueError(f"depth image data has {raw.size} bytes, height x step needs {height * step}")
    dtype = np.dtype(np.float32 if size == 4 else np.uint16).newbyteorder(">" if is_bigendian else "<")
    rows = raw[: height * step].reshape(height, step)
    if step % size == 0:  # rows of whole values: view them in place
        values = rows.view(dtype)[:, :width]
    else:
        values = np.ascontiguousarray(rows[:, : width * size]).view(dtype)
    return DepthImage(values, 1.0 if size == 4 else 0.001)


def _window_medians(depth: DepthLike, uv: np.ndarray, half: int, min_valid: int) -> np.ndarray:
    """Median of the valid depths (metres) in the (2 half + 1)^2 window at each pixel ``uv`` (N, 2); NaN with too
    few."""
    depth, scale = _values_and_scale(depth)
    h, w = depth.shape
    uv = np.asarray(uv, dtype=np.float64)
    ok = np.isfinite(uv).all(axis=1)
    c = np.zeros(uv.shape, np.int64)
    c[ok] = np.round(uv[ok]).astype(np.int64)
    off = np.arange(-half, half + 1)
    xs = c[:, 0, None, None] + off[None, None, :]  # (N, 1, S)
    ys = c[:, 1, None, None] + off[None, :, None]  # (N, S, 1)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h) & ok[:, None, None]
    vals = depth[np.clip(ys, 0, h - 1), np.clip(xs, 0, w - 1)].reshape(len(uv), -1).astype(np.float64) * scale
    with np.errstate(invalid="ignore"):
        vals[~inside.reshape(len(uv), -1) | ~(vals > 0) | ~np.isfinite(vals)] = np.nan
    count = np.isfinite(vals).sum(axis=1)
    out = np.full(len(uv), np.nan)
    good = np.nonzero(count >= min_valid)[0]
    if good.size:
        srt = np.sort(vals[good], axis=1)  # NaN last: the valid values are the first count of each row
        c = count[good]
        out[good] = 0.5 * (srt[np.arange(good.size), (c - 1) // 2] + srt[np.arange(good.size), c // 2])
    return out


def keypoint_depths(depth: DepthLike, uv: np.ndarray, cfg: Optional[DepthConfig] = None) -> np.ndarray:
    """(N,) measured depth in metres at each keypoint pixel ``uv`` (N, 2): the median of the valid pixels of the
    (2 ``cfg.window`` + 1)^2 window around it, NaN where fewer than a quarter of them are valid."""
    cfg = cfg or DepthConfig()
    half = int(cfg.window)
    return _window_medians(depth, uv, half, max(1, ((2 * half + 1) ** 2) // 4))


def root_and_scale_from_depth(
    uv: np.ndarray,
    z_rel: np.ndarray,
    depth_m: Optional[DepthLike],
    K: np.ndarray,
    *,
    prior_scale: float,
    cfg: Optional[DepthConfig] = None,
    dist_coeffs: Optional[Sequence[float]] = None,
    root: int = 0,
    ref_bone: Tuple[int, int] = (0, 9),
    measured: Optional[np.ndarray] = None,
) -> DepthFit:
    """The root keypoint's depth and the reference bone's metric length from an aligned depth image.

    Args:
        uv: (21, 2) keypoints in pixels of the colour image (the depth image's pixels too).
        z_rel: (21,) root-relative depths in reference-bone units (the 2.5D pose).
        depth_m: (H, W) metres, NaN for holes (:func:`depth_to_metres`), a :class:`DepthImage`, or None.
        K: (3, 3) intrinsics; ``dist_coeffs`` the colour image's distortion.
        prior_scale: the bone-prior length of the reference bone in metres (the votes' relative offsets).
        root, ref_bone: the model's conventions.
        measured: the (21,) :func:`keypoint_depths` if already read (else they are read here).

    Returns:
        A :class:`DepthFit` (see the module docstring for the method).
    """
    cfg = cfg or DepthConfig()
    if depth_m is None:
        return DepthFit(False, float("nan"), float("nan"), 0, "no_depth")
    uv = np.asarray(uv, dtype=np.float64)
    z_rel = np.asarray(z_rel, dtype=np.float64)
    idx = np.asarray(PALM_KEYPOINTS)
    d = (keypoint_depths(depth_m, uv, cfg) if measured is None else np.asarray(measured, dtype=np.float64))[idx]
    votes = d + cfg.joint_offset_m - prior_scale * z_rel[idx] + prior_scale * z_rel[root]
    votes = votes[np.isfinite(votes) & (d > 0.05)]
    if votes.size < cfg.min_inliers:
        return DepthFit(False, float("nan"), float("nan"), int(votes.size), "too_few_valid")
    z_root = float(np.median(votes))
    inl = votes[np.abs(votes - z_root) <= cfg.inlier_m]
    if inl.size < cfg.min_inliers:
        return DepthFit(False, float("nan"), float("nan"), int(inl.size), "inconsistent")
    z_root = float(np.mean(inl))
    # the reference bone's length b with the root at z_root: |P(u_c, z_root + b dz) - P(u_r, z_root)| = b
    a, c = ref_bone
    rays = pixels_to_normalized(uv[[a, c]], K, dist_coeffs)  # (2, 2) normalised image coordinates
    ra = np.array([rays[0, 0], rays[0, 1], 1.0])
    rc = np.array([rays[1, 0], rays[1, 1], 1.0])
    dz = float(z_rel[c] - z_rel[a])
    za = z_root + prior_scale * float(z_rel[a] - z_rel[root])  # depth of the bone's parent (the root itself here)
    # |rc (za + b dz) - ra za|^2 = b^2  ->  (|rc|^2 dz^2 - 1) b^2 + 2 za dz rc.(rc - ra) b + za^2 |rc - ra|^2 = 0
    q2 = float(rc @ rc) * dz * dz - 1.0
    q1 = 2.0 * za * dz * float(rc @ (rc - ra))
    q0 = za * za * float((rc - ra) @ (rc - ra))
    if abs(q2) < 1e-12:
        roots = [-q0 / q1] if abs(q1) > 1e-12 else []
    else:
        disc = q1 * q1 - 4.0 * q2 * q0
        roots = [(-q1 + s * np.sqrt(disc)) / (2.0 * q2) for s in (1.0, -1.0)] if disc >= 0 else []
    roots = [float(r) for r in roots if np.isfinite(r) and r > 0]
    if not roots:
        return DepthFit(False, float("nan"), float("nan"), int(inl.size), "degenerate")
    b = min(roots, key=lambda r: abs(np.log(r / prior_scale)))  # the solution near the prior
    if not 0.33 * prior_scale <= b <= 3.0 * prior_scale:
        return DepthFit(False, float("nan"), float("nan"), int(inl.size), "degenerate")
    return DepthFit(True, z_root, b, int(inl.size))


def simulate_depth(
    depth: np.ndarray,
    rng: np.random.Generator,
    *,
    noise_at_1m: float = 0.002,
    dropout: float = 0.02,
    edge_holes: bool = True,
    quantum: float = 0.001,
) -> np.ndarray:
    """What a depth sensor reports for the exact depth ``depth`` (H, W) metres (inf/NaN: nothing in range).

    Args:
        noise_at_1m: standard deviation in metres of the depth noise at 1 m; it grows with the square of the distance
            (stereo and structured light sensors).
        dropout: fraction of pixels without a measurement (in small blobs, as specular or dark spots give).
        edge_holes: no measurement on either side of depth discontinuities (> 3 cm), as at a silhouette.
        quantum: quantisation step in metres (16UC1 millimetres).

    Returns:
        (H, W) float32 metres with NaN holes.
    """
    z = np.asarray(depth, dtype=np.float32).copy()
    z[~np.isfinite(z)] = np.nan
    out = z + rng.normal(0.0, 1.0, z.shape).astype(np.float32) * np.float32(noise_at_1m) * z * z
    if quantum > 0:
        out = np.round(out / quantum) * np.float32(quantum)
    h, w = z.shape
    if dropout > 0:
        n = int(dropout * h * w / 9)
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                out[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)] = np.nan
    if edge_holes:
        with np.errstate(invalid="ignore"):
            jx = np.abs(np.diff(z, axis=1)) > 0.03
            jy = np.abs(np.diff(z, axis=0)) > 0.03
        edge = np.zeros(z.shape, bool)
        edge[:, 1:] |= jx
        edge[:, :-1] |= jx
        edge[1:, :] |= jy
        edge[:-1, :] |= jy
        out[edge] = np.nan
    return out.astype(np.float32)


def refine_keypoint_depths(
    xyz: np.ndarray,
    uv: np.ndarray,
    depth_m: DepthLike,
    K: np.ndarray,
    cfg: Optional[DepthConfig] = None,
    dist_coeffs: Optional[Sequence[float]] = None,
    measured: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Keypoints ``xyz`` (21, 3) m moved onto the measured depth where it agrees with them (``measured``: the
    :func:`keypoint_depths` if already read).

    Each keypoint reads the median depth of a small window at its pixel ``uv``; where that plus
    ``cfg.joint_offset_m`` is within ``cfg.keypoint_tolerance_m`` of its reconstructed Z it takes that depth (and
    X, Y follow along its pixel's ray); elsewhere (a hole, an occluding finger, the background) it stays.

    Returns:
        (the (21, 3) keypoints, (21,) bool: which ones moved).
    """
    cfg = cfg or DepthConfig()
    xyz = np.asarray(xyz, dtype=np.float64)
    moved = np.zeros(len(xyz), bool)
    if cfg.keypoint_tolerance_m <= 0:
        return xyz.copy(), moved
    d = keypoint_depths(depth_m, uv, cfg) if measured is None else np.asarray(measured, dtype=np.float64)
    d = d + cfg.joint_offset_m
    ok = np.isfinite(d) & (np.abs(d - xyz[:, 2]) <= cfg.keypoint_tolerance_m)
    if not ok.any():
        return xyz.copy(), moved
    xn = pixels_to_normalized(np.asarray(uv, dtype=np.float64)[ok], K, dist_coeffs)
    out = xyz.copy()
    out[ok, 2] = d[ok]
    out[ok, :2] = xn * d[ok, None]
    return out, ok
