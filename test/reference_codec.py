"""A numpy reference of the heatmap codecs, for the tests only: encode keypoints into training targets, decode maps
into 2.5D keypoints.

The live codecs are the torch ones inside the network (:mod:`hand_pose_25d.model.heads`, and so inside every
exported model) and the training targets (:mod:`hand_pose_25d.model.losses`); this independent numpy version,
written mmpose-style as encode/decode pairs batched over leading dimensions, is what they are tested against
(``test/unit/test_decoding.py``, ``test/unit/test_model.py``).

Coordinate convention (shared with the torch heads)
---------------------------------------------------
A heatmap of ``h x w`` cells with output stride ``s`` covers a network input of ``S_h x S_w = (h*s) x (w*s)``
pixels. Cell ``(i, j)`` (row ``i``, column ``j``) covers input pixels ``s*j .. s*j + s - 1`` horizontally, so its
centre, in input pixels with integer coordinates at pixel centres (OpenCV / ROS), is::

    (u, v) = (s * j + (s - 1) / 2,  s * i + (s - 1) / 2)

and an input position ``u`` lies at the fractional cell column ``(u - (s - 1) / 2) / s``.

Array layouts: keypoints ``uv`` are ``(..., K, 2)`` input pixels (u = column, v = row), maps are
``(..., K, h, w)``, per-keypoint values are ``(..., K)``.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

__all__ = [
    "DEFAULT_CONFIDENCE_RADIUS",
    "heatmap_axes",
    "heatmap_grid",
    "pixels_to_cells",
    "cells_to_pixels",
    "encode_gaussian",
    "encode_depth_maps",
    "decode_argmax",
    "decode_depth_at",
    "softmax2d",
    "decode_soft_argmax",
    "keypoint_confidence",
    "decode_latent",
]

#: Default radius (input pixels) of :func:`keypoint_confidence` in :func:`decode_latent`; a model stores its
#: own as ``ModelConfig.confidence_radius * ModelConfig.input_size`` (8 px for the default 128 px input).
DEFAULT_CONFIDENCE_RADIUS: float = 8.0

ArrayLike = Union[np.ndarray, float, int]


# --------------------------------------------------------------------------------------------------------------
# argument checks


def _check_stride(stride: int) -> int:
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be a positive integer (input pixels per heatmap cell), got {stride!r}")
    return int(stride)


def _check_maps(maps: np.ndarray, name: str) -> np.ndarray:
    maps = np.asarray(maps)
    if maps.ndim < 3:
        raise ValueError(f"{name} must have shape (..., K, h, w), got {maps.shape}")
    if maps.shape[-1] < 1 or maps.shape[-2] < 1:
        raise ValueError(f"{name} must have at least one cell, got shape {maps.shape}")
    if not np.issubdtype(maps.dtype, np.floating):
        maps = maps.astype(np.float64)
    return maps


def _check_uv(uv: np.ndarray, name: str = "uv") -> np.ndarray:
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim < 2 or uv.shape[-1] != 2:
        raise ValueError(f"{name} must have shape (..., K, 2), got {uv.shape}")
    return uv


def _beta_array(beta: ArrayLike, num_keypoints: int) -> np.ndarray:
    beta = np.asarray(beta, dtype=np.float64)
    if beta.ndim > 1 or (beta.ndim == 1 and beta.shape[0] not in (1, num_keypoints)):
        raise ValueError(f"beta must be a scalar or have shape ({num_keypoints},), got {beta.shape}")
    if not np.all(np.isfinite(beta)) or np.any(beta <= 0):
        raise ValueError("beta must be finite and positive")
    return beta.reshape(-1) if beta.ndim == 1 else beta


# --------------------------------------------------------------------------------------------------------------
# the grid


def heatmap_axes(h: int, w: int, stride: int) -> Tuple[np.ndarray, np.ndarray]:
    """Input-pixel coordinates of the cell centres of an ``h x w`` heatmap with output stride ``stride``.

    Returns:
        (u, v): float64 arrays of shape (w,) and (h,), ``u[j] = stride * j + (stride - 1) / 2`` (same for v).
    """
    stride = _check_stride(stride)
    if h < 1 or w < 1:
        raise ValueError(f"heatmap size must be positive, got h={h}, w={w}")
    off = (stride - 1) / 2.0
    return np.arange(w, dtype=np.float64) * stride + off, np.arange(h, dtype=np.float64) * stride + off


def heatmap_grid(h: int, w: int, stride: int) -> np.ndarray:
    """Input-pixel centre of every cell of an ``h x w`` heatmap.

    Returns:
        (h, w, 2) float64; ``grid[i, j] = (u, v) = (stride * j + (stride - 1) / 2, stride * i + (stride - 1) / 2)``.
    """
    u, v = heatmap_axes(h, w, stride)
    grid = np.empty((h, w, 2), dtype=np.float64)
    grid[..., 0] = u[None, :]
    grid[..., 1] = v[:, None]
    return grid


def pixels_to_cells(uv: np.ndarray, stride: int) -> np.ndarray:
    """Fractional heatmap cell coordinates ``(column, row)`` (..., 2) of input pixels ``uv`` (..., 2)."""
    stride = _check_stride(stride)
    return (np.asarray(uv, dtype=np.float64) - (stride - 1) / 2.0) / stride


def cells_to_pixels(cells: np.ndarray, stride: int) -> np.ndarray:
    """Input pixels (..., 2) of fractional cell coordinates ``(column, row)`` (..., 2).

    The inverse of :func:`pixels_to_cells`.
    """
    stride = _check_stride(stride)
    return np.asarray(cells, dtype=np.float64) * stride + (stride - 1) / 2.0


def _input_size(size: Union[int, Tuple[int, int]]) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return int(size), int(size)
    try:
        width, height = size  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"size must be an int or a (width, height) pair, got {size!r}") from None
    return int(width), int(height)


# --------------------------------------------------------------------------------------------------------------
# encoding (training targets of the direct head)


def encode_gaussian(
    uv: np.ndarray,
    size: Union[int, Tuple[int, int]],
    stride: int,
    sigma: float,
    valid: Optional[np.ndarray] = None,
    *,
    dtype: type = np.float32,
) -> np.ndarray:
    """Gaussian target heatmaps centred on sub-pixel keypoints (paper Sec. 4.1, Eq. 9 with a squared distance).

    ``H_k(i, j) = exp(-((c_u - j)^2 + (c_v - i)^2) / (2 sigma^2))`` where ``(c_u, c_v)`` is the keypoint in
    fractional cell coordinates; the value is 1 at the keypoint itself (so slightly less than 1 at the nearest
    cell centre of a sub-pixel keypoint).

    Args:
        uv: (..., K, 2) keypoints in input pixels.
        size: network input size in pixels, ``S`` or ``(width, height)``; must be a multiple of ``stride``.
        stride: output stride (input pixels per heatmap cell).
        sigma: standard deviation in heatmap cells (> 0).
        valid: optional (..., K) bool; keypoints that are not valid, or not finite, get an all-zero map.
        dtype: floating dtype of the result.

    Returns:
        (..., K, h, w) heatmaps with ``h = height / stride``, ``w = width / stride``.
    """
    uv = _check_uv(uv)
    stride = _check_stride(stride)
    width, height = _input_size(size)
    if width < stride or height < stride or width % stride or height % stride:
        raise ValueError(f"input size {width}x{height} is not a positive multiple of stride {stride}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number of heatmap cells, got {sigma!r}")
    h, w = height // stride, width // stride
    ok = np.all(np.isfinite(uv), axis=-1)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != uv.shape[:-1]:
            raise ValueError(f"valid must have shape {uv.shape[:-1]} to match uv {uv.shape}, got {valid.shape}")
        ok &= valid
    cells = pixels_to_cells(np.where(ok[..., None], uv, 0.0), stride)
    cols = np.arange(w, dtype=np.float64)
    rows = np.arange(h, dtype=np.float64)
    gx = np.exp(-((cols - cells[..., 0:1]) ** 2) / (2.0 * sigma**2))  # (..., K, w)
    gy = np.exp(-((rows - cells[..., 1:2]) ** 2) / (2.0 * sigma**2))  # (..., K, h)
    maps = gy[..., :, None] * gx[..., None, :]
    maps *= ok[..., None, None]
    return maps.astype(dtype, copy=False)


def encode_depth_maps(z: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Target depth maps of the direct head: ``z_k * H_k`` (paper Eq. 10).

    Args:
        z: (..., K) scale-normalised root-relative depths (reference-bone units); non-finite depths give zero maps.
        heatmaps: (..., K, h, w) target heatmaps from :func:`encode_gaussian`.

    Returns:
        (..., K, h, w) depth maps with the dtype of ``heatmaps``.
    """
    heatmaps = _check_maps(heatmaps, "heatmaps")
    z = np.asarray(z, dtype=np.float64)
    if z.shape != heatmaps.shape[:-2]:
        raise ValueError(f"z must have shape {heatmaps.shape[:-2]} to match heatmaps {heatmaps.shape}, got {z.shape}")
    z = np.where(np.isfinite(z), z, 0.0)
    return (z[..., None, None] * heatmaps).astype(heatmaps.dtype, copy=False)


# --------------------------------------------------------------------------------------------------------------
# decoding: argmax (direct head)


def decode_argmax(heatmaps: np.ndarray, stride: int, *, refine: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Keypoints at the maximum of each heatmap (paper Eq. 11).

    Args:
        heatmaps: (..., K, h, w).
        stride: output stride.
        refine: move each keypoint a quarter cell towards the larger of its two neighbours along each axis
            (the classic sub-cell refinement of heatmap decoders); off by default (the paper's plain argmax).

    Returns:
        uv: (..., K, 2) float64 input pixels of the maximum (cell centre, possibly refined).
        maxvals: (..., K) the maximum values.
    """
    heatmaps = _check_maps(heatmaps, "heatmaps")
    stride = _check_stride(stride)
    h, w = heatmaps.shape[-2:]
    flat = heatmaps.reshape(heatmaps.shape[:-2] + (h * w,))
    idx = np.argmax(flat, axis=-1)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0].astype(np.float64)
    rows, cols = np.divmod(idx, w)
    cells = np.stack([cols, rows], axis=-1).astype(np.float64)
    if refine:
        for axis, (pos, size) in enumerate(((cols, w), (rows, h))):
            lo = np.clip(pos - 1, 0, size - 1)
            hi = np.clip(pos + 1, 0, size - 1)
            if axis == 0:
                a = np.take_along_axis(flat, (rows * w + lo)[..., None], axis=-1)[..., 0]
                b = np.take_along_axis(flat, (rows * w + hi)[..., None], axis=-1)[..., 0]
            else:
                a = np.take_along_axis(flat, (lo * w + cols)[..., None], axis=-1)[..., 0]
                b = np.take_along_axis(flat, (hi * w + cols)[..., None], axis=-1)[..., 0]
            inside = (pos > 0) & (pos < size - 1)
            cells[..., axis] += np.where(inside, 0.25 * np.sign(b - a), 0.0)
    return cells_to_pixels(cells, stride), maxvals


def decode_depth_at(depthmaps: np.ndarray, uv: np.ndarray, stride: int) -> np.ndarray:
    """Depth read at the cell containing each keypoint (paper Eq. 12).

    Args:
        depthmaps: (..., K, h, w).
        uv: (..., K, 2) input pixels; positions outside the map are clamped to the border cell.
        stride: output stride.

    Returns:
        (..., K) float64 depths; NaN where ``uv`` is not finite.
    """
    depthmaps = _check_maps(depthmaps, "depthmaps")
    uv = _check_uv(uv)
    if uv.shape[:-1] != depthmaps.shape[:-2]:
        raise ValueError(
            f"uv {uv.shape} does not match depthmaps {depthmaps.shape}: expected {depthmaps.shape[:-2] + (2,)}"
        )
    h, w = depthmaps.shape[-2:]
    finite = np.all(np.isfinite(uv), axis=-1)
    cells = np.floor(pixels_to_cells(np.where(finite[..., None], uv, 0.0), stride) + 0.5)
    cols = np.clip(cells[..., 0], 0, w - 1).astype(np.intp)
    rows = np.clip(cells[..., 1], 0, h - 1).astype(np.intp)
    flat = depthmaps.reshape(depthmaps.shape[:-2] + (h * w,))
    z = np.take_along_axis(flat, (rows * w + cols)[..., None], axis=-1)[..., 0].astype(np.float64)
    return np.where(finite, z, np.nan)


# --------------------------------------------------------------------------------------------------------------
# decoding: soft-argmax (latent head)


def softmax2d(logits: np.ndarray, beta: ArrayLike = 1.0) -> np.ndarray:
    """Spatial softmax of latent heatmaps with per-keypoint inverse temperature (paper Eq. 13).

    Args:
        logits: (..., K, h, w) latent 2D heatmaps ``H*2D``.
        beta: scalar or (K,) positive inverse temperatures.

    Returns:
        (..., K, h, w) float64 probability maps, each summing to 1.
    """
    logits = _check_maps(logits, "logits").astype(np.float64, copy=False)
    beta = _beta_array(beta, logits.shape[-3])
    scaled = logits * (beta[:, None, None] if beta.ndim == 1 else beta)
    scaled = scaled - scaled.max(axis=(-2, -1), keepdims=True)
    e = np.exp(scaled)
    return e / e.sum(axis=(-2, -1), keepdims=True)


def _expectation(probs: np.ndarray, stride: int) -> np.ndarray:
    h, w = probs.shape[-2:]
    u, v = heatmap_axes(h, w, stride)
    return np.stack([probs.sum(axis=-2) @ u, probs.sum(axis=-1) @ v], axis=-1)


def decode_soft_argmax(logits: np.ndarray, beta: ArrayLike, stride: int) -> Tuple[np.ndarray, np.ndarray]:
    """Soft-argmax keypoints of latent heatmaps (paper Eq. 13-14).

    Args:
        logits: (..., K, h, w) latent 2D heatmaps.
        beta: scalar or (K,) positive inverse temperatures.
        stride: output stride.

    Returns:
        uv: (..., K, 2) float64 expected position in input pixels.
        probs: (..., K, h, w) float64 probability maps.
    """
    stride = _check_stride(stride)
    probs = softmax2d(logits, beta)
    return _expectation(probs, stride), probs


def keypoint_confidence(probs: np.ndarray, uv: np.ndarray, stride: int, radius: float) -> np.ndarray:
    """Probability mass of each heatmap within ``radius`` input pixels of the keypoint ``uv``.

    A sharp single peak at ``uv`` gives a value near 1; a diffuse or multi-modal distribution (whose mean may
    lie between modes) gives a low one. Cells count when their centre is at distance ``<= radius``.

    Args:
        probs: (..., K, h, w) probability maps (each summing to 1).
        uv: (..., K, 2) input pixels, usually the soft-argmax of ``probs``.
        stride: output stride.
        radius: disc radius in input pixels (> 0).

    Returns:
        (..., K) float64 in [0, 1]; 0 where ``uv`` is not finite.
    """
    probs = _check_maps(probs, "probs")
    uv = _check_uv(uv)
    if uv.shape[:-1] != probs.shape[:-2]:
        raise ValueError(f"uv {uv.shape} does not match probs {probs.shape}: expected {probs.shape[:-2] + (2,)}")
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number of input pixels, got {radius!r}")
    h, w = probs.shape[-2:]
    gu, gv = heatmap_axes(h, w, stride)
    du2 = (gu - uv[..., 0:1]) ** 2  # (..., K, w)
    dv2 = (gv - uv[..., 1:2]) ** 2  # (..., K, h)
    inside = (dv2[..., :, None] + du2[..., None, :]) <= radius * radius
    return np.clip(np.sum(probs * inside, axis=(-2, -1), dtype=np.float64), 0.0, 1.0)


def decode_latent(
    logits_2d: np.ndarray,
    logits_z: np.ndarray,
    beta: ArrayLike,
    stride: int,
    *,
    radius: float = DEFAULT_CONFIDENCE_RADIUS,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The latent head's full decoding: 2.5D keypoints and confidences from the raw 2K-channel output.

    Args:
        logits_2d: (..., K, h, w) latent 2D heatmaps ``H*2D``.
        logits_z: (..., K, h, w) latent depth maps ``H*z`` (reference-bone units).
        beta: scalar or (K,) positive inverse temperatures.
        stride: output stride.
        radius: confidence disc radius in input pixels (see :func:`keypoint_confidence`).

    Returns:
        uv: (..., K, 2) input pixels (Eq. 14).
        z: (..., K) scale-normalised root-relative depth ``sum(H2D * H*z)`` (Eq. 15).
        confidence: (..., K) in [0, 1].
    """
    logits_z = _check_maps(logits_z, "logits_z")
    if np.shape(logits_2d) != logits_z.shape:
        raise ValueError(f"logits_2d {np.shape(logits_2d)} and logits_z {logits_z.shape} must have the same shape")
    uv, probs = decode_soft_argmax(logits_2d, beta, stride)
    z = np.sum(probs * logits_z, axis=(-2, -1), dtype=np.float64)
    return uv, z, keypoint_confidence(probs, uv, stride, radius)
