"""The debug image: the 2D skeleton and the network crops drawn on a copy of the input (numpy + OpenCV)."""

from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np

from ..crop import CropBox
from ..skeleton import BONES, NUM_KEYPOINTS
from .markers import keypoint_colors

__all__ = ["draw_overlay"]


def draw_overlay(
    image: np.ndarray,
    hands_uv: Sequence[np.ndarray],
    crops: Sequence[Tuple[CropBox, str]] = (),
) -> np.ndarray:
    """A copy of ``image`` with skeletons and crop boxes drawn on it.

    Args:
        image: (H, W, 3) uint8 RGB.
        hands_uv: per published hand, (21, 2) keypoints in pixels (pixel centres at integer coordinates).
        crops: (box, source) per crop the network saw; 'roi' boxes yellow, 'track' green, 'full' grey.

    Returns:
        (H, W, 3) uint8 RGB, the same size as ``image``.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.dtype} {image.shape}")
    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    thick = max(1, int(round(max(h, w) / 320)))
    box_colors = {"roi": (255, 220, 0), "track": (0, 200, 0), "full": (160, 160, 160)}
    for box, source in crops:
        corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * box.side
        c, s = np.cos(box.angle), np.sin(box.angle)
        # the crop's x axis is the image x axis rotated by angle, counter-clockwise on screen (towards -v)
        rot = np.array([[c, s], [-s, c]])
        pts = corners @ rot.T + np.array([box.cx, box.cy])
        cv2.polylines(out, [np.round(pts).astype(np.int32)], True, box_colors.get(source, (255, 255, 255)), thick)
    colors = (keypoint_colors() * 255).round().astype(int)
    for uv in hands_uv:
        uv = np.asarray(uv, dtype=np.float64)
        if uv.shape != (NUM_KEYPOINTS, 2) or not np.all(np.isfinite(uv)):
            continue
        p = np.round(uv).astype(np.int64).clip(-10 * max(h, w), 10 * max(h, w))
        for a, b in BONES:
            cv2.line(out, (int(p[a, 0]), int(p[a, 1])), (int(p[b, 0]), int(p[b, 1])),
                     tuple(int(x) for x in colors[b]), thick, cv2.LINE_AA)  # fmt: skip
        for k in range(NUM_KEYPOINTS):
            cv2.circle(out, (int(p[k, 0]), int(p[k, 1])), thick + 2, tuple(int(x) for x in colors[k]), -1, cv2.LINE_AA)
    return out
