"""Drawing estimated hands: the 2D skeleton on the image (numpy + OpenCV) and a 3D view in the camera frame.

* :func:`draw_hand`, :func:`draw_crop_box`, :func:`draw_label` draw in place on an (H, W, 3) uint8 RGB image;
* :func:`draw_overlay` returns a copy of an image with skeletons and crop boxes (the ROS node's debug image
  is this function);
* :class:`View3D` / :func:`render_3d` render hands given in metres in the camera's optical frame (x right,
  y down, z forward) with matplotlib (imported lazily, Agg canvas, no window) as an RGB image;
* :func:`prediction_panel` puts the 2D overlay and the 3D view side by side (what ``hand-pose-25d predict``
  writes);
* :func:`save_rgb` writes an RGB image as PNG/JPEG with OpenCV.

Colours: the wrist grey and each finger in its own colour, the same as the RViz markers
(:func:`hand_pose_25d.skeleton.keypoint_colors`). Pixel convention: integer coordinates are pixel centres.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .crop import CropBox
from .skeleton import BONES, NUM_KEYPOINTS, keypoint_colors

__all__ = [
    "BOX_COLORS",
    "line_thickness",
    "draw_hand",
    "draw_crop_box",
    "draw_label",
    "draw_overlay",
    "View3D",
    "render_3d",
    "side_by_side",
    "prediction_panel",
    "save_rgb",
]

#: RGB colour of a crop box by where it came from.
BOX_COLORS: Dict[str, Tuple[int, int, int]] = {
    "roi": (255, 220, 0),
    "box": (255, 220, 0),
    "track": (0, 200, 0),
    "full": (160, 160, 160),
}


def _check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be (H, W, 3) uint8, got {getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
        )


def line_thickness(width: int, height: int) -> int:
    """Line thickness in pixels that stays visible at any resolution (1 px per 320 px of the longer side)."""
    return max(1, int(round(max(width, height) / 320)))


def _palette() -> np.ndarray:
    return (keypoint_colors() * 255).round().astype(int)


def draw_hand(image: np.ndarray, uv: np.ndarray, *, thickness: Optional[int] = None) -> None:
    """Draw one hand's skeleton on ``image`` in place.

    Args:
        image: (H, W, 3) uint8 RGB, C-contiguous (modified).
        uv: (21, 2) keypoints in pixels; bones with a non-finite end and non-finite keypoints are skipped.
        thickness: line thickness in pixels (default :func:`line_thickness`).
    """
    _check_rgb(image)
    uv = np.asarray(uv, dtype=np.float64)
    if uv.shape != (NUM_KEYPOINTS, 2):
        raise ValueError(f"uv must be ({NUM_KEYPOINTS}, 2), got {uv.shape}")
    h, w = image.shape[:2]
    thick = thickness or line_thickness(w, h)
    ok = np.isfinite(uv).all(axis=1)
    lim = 10 * max(h, w)  # keep far-away points inside OpenCV's integer range
    p = np.round(np.where(ok[:, None], uv, 0.0)).astype(np.int64).clip(-lim, lim)
    colors = _palette()
    for a, b in BONES:
        if ok[a] and ok[b]:
            cv2.line(
                image,
                (int(p[a, 0]), int(p[a, 1])),
                (int(p[b, 0]), int(p[b, 1])),
                tuple(int(x) for x in colors[b]),
                thick,
                cv2.LINE_AA,
            )
    for k in range(NUM_KEYPOINTS):
        if ok[k]:
            cv2.circle(
                image, (int(p[k, 0]), int(p[k, 1])), thick + 2, tuple(int(x) for x in colors[k]), -1, cv2.LINE_AA
            )


def draw_crop_box(
    image: np.ndarray, box: CropBox, color: Tuple[int, int, int] = (255, 255, 255), *, thickness: Optional[int] = None
) -> None:
    """Draw the (possibly rotated) square ``box`` on ``image`` (H, W, 3) uint8 RGB in place."""
    _check_rgb(image)
    h, w = image.shape[:2]
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * box.side
    c, s = np.cos(box.angle), np.sin(box.angle)
    # the crop's x axis is the image x axis rotated by angle, counter-clockwise on screen (towards -v)
    rot = np.array([[c, s], [-s, c]])
    pts = corners @ rot.T + np.array([box.cx, box.cy])
    lim = 10 * max(h, w)
    cv2.polylines(
        image,
        [np.round(pts).clip(-lim, lim).astype(np.int32)],
        True,
        tuple(int(x) for x in color),
        thickness or line_thickness(w, h),
    )


def draw_label(
    image: np.ndarray, text: str, org: Tuple[float, float], color: Tuple[int, int, int] = (255, 255, 255)
) -> None:
    """Write ``text`` with its bottom-left corner at pixel ``org`` on a dark background, in place (clipped)."""
    _check_rgb(image)
    h, w = image.shape[:2]
    scale = max(0.4, max(h, w) / 1280)
    thick = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(np.clip(org[0], 0, max(w - tw - 2, 0)))
    y = int(np.clip(org[1], th + 2, h - base - 1))
    cv2.rectangle(image, (x - 1, y - th - 2), (x + tw + 1, y + base), (0, 0, 0), -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in color), thick, cv2.LINE_AA)


def draw_overlay(
    image: np.ndarray,
    hands_uv: Sequence[np.ndarray],
    crops: Sequence[Tuple[CropBox, str]] = (),
    labels: Optional[Sequence[str]] = None,
) -> np.ndarray:
    """A copy of ``image`` with skeletons, crop boxes and optional labels drawn on it.

    Args:
        image: (H, W, 3) uint8 RGB.
        hands_uv: per hand, (21, 2) keypoints in pixels (pixel centres at integer coordinates); hands with a
            wrong shape or a non-finite keypoint are not drawn.
        crops: (box, source) per crop the network saw; 'roi'/'box' yellow, 'track' green, 'full' grey.
        labels: optional text per hand, written above its keypoints.

    Returns:
        (H, W, 3) uint8 RGB, the same size as ``image``.
    """
    _check_rgb(image)
    out = np.ascontiguousarray(image).copy()
    for box, source in crops:
        draw_crop_box(out, box, BOX_COLORS.get(source, (255, 255, 255)))
    for i, uv in enumerate(hands_uv):
        uv = np.asarray(uv, dtype=np.float64)
        if uv.shape != (NUM_KEYPOINTS, 2) or not np.all(np.isfinite(uv)):
            continue
        draw_hand(out, uv)
        if labels is not None and i < len(labels) and labels[i]:
            draw_label(out, labels[i], (uv[:, 0].min(), uv[:, 1].min() - 8))
    return out


# --------------------------------------------------------------------------------------------------------------
# 3D view


class View3D:
    """Renders hands in the camera's optical frame as an RGB image with matplotlib (Agg), reusing one figure.

    The plot shows camera x to the right, camera z (depth) into the screen and camera -y up, so the view
    looks like the image seen from slightly above and to the side. Axes are equal in scale (metres).

    Args:
        width, height: size of the rendered image in pixels.
        elev, azim: matplotlib view angles in degrees.
        min_span: smallest cube side shown, in metres (a hand is ~0.2 m long).
    """

    def __init__(
        self, width: int = 480, height: int = 480, *, elev: float = 15.0, azim: float = -70.0, min_span: float = 0.25
    ) -> None:
        if width < 32 or height < 32:
            raise ValueError(f"3D view must be at least 32x32 pixels, got {width}x{height}")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.width, self.height = int(width), int(height)
        self.dpi = 100.0
        self.figure = Figure(figsize=(self.width / self.dpi, self.height / self.dpi), dpi=self.dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_subplot(111, projection="3d")
        self.elev, self.azim, self.min_span = float(elev), float(azim), float(min_span)
        self._colors = keypoint_colors()

    def render(
        self,
        hands_xyz: Sequence[np.ndarray],
        labels: Optional[Sequence[str]] = None,
        title: str = "",
        colors: Optional[Sequence[Optional[str]]] = None,
    ) -> np.ndarray:
        """The view of ``hands_xyz`` (each (21, 3) metres; non-finite hands are skipped) as (H, W, 3) uint8 RGB.

        ``colors``: per hand, None for the per-finger palette or one matplotlib colour for the whole hand
        (drawn thinner and dashed, e.g. a ground truth under a prediction).
        """
        ax = self.ax
        ax.cla()
        hands = []
        for j, xyz in enumerate(hands_xyz):
            xyz = np.asarray(xyz, dtype=np.float64)
            if xyz.shape != (NUM_KEYPOINTS, 3):
                raise ValueError(f"each hand must be ({NUM_KEYPOINTS}, 3) metres, got {xyz.shape}")
            if np.all(np.isfinite(xyz)):
                hands.append((xyz, colors[j] if colors is not None and j < len(colors) else None))
        for i, (xyz, color) in enumerate(hands):
            p = np.stack([xyz[:, 0], xyz[:, 2], -xyz[:, 1]], axis=1)  # plot axes: x, z (depth), -y (up)
            for a, b in BONES:
                if color is None:
                    ax.plot(*p[[a, b]].T, color=self._colors[b], linewidth=2.0)
                else:
                    ax.plot(*p[[a, b]].T, "--", color=color, linewidth=1.2)
            ax.scatter(*p.T, c=self._colors if color is None else color, s=12 if color is None else 5, depthshade=False)
            if labels is not None and i < len(labels) and labels[i]:
                ax.text(*p[0], labels[i], fontsize=8)
        if hands:
            pts = np.concatenate([h for h, _ in hands])
            pts = np.stack([pts[:, 0], pts[:, 2], -pts[:, 1]], axis=1)
            centre = (pts.min(axis=0) + pts.max(axis=0)) / 2
            half = max(self.min_span, float((pts.max(axis=0) - pts.min(axis=0)).max()) * 1.2) / 2
        else:
            centre, half = np.array([0.0, 0.5, 0.0]), self.min_span / 2
            ax.text2D(0.5, 0.5, "no valid 3D hand", transform=ax.transAxes, ha="center", va="center", color="grey")
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        ax.set_box_aspect((1.0, 1.0, 1.0))
        ax.set_xlabel("x [m]", fontsize=7, labelpad=-4)
        ax.set_ylabel("z [m] (depth)", fontsize=7, labelpad=-4)
        ax.set_zlabel("-y [m] (up)", fontsize=7, labelpad=-4)
        ax.tick_params(labelsize=6, pad=-2)
        ax.view_init(elev=self.elev, azim=self.azim)
        ax.set_title(title or "camera frame", fontsize=8)
        self.figure.subplots_adjust(left=0, right=1, bottom=0, top=0.95)
        self.canvas.draw()
        rgba = np.asarray(self.canvas.buffer_rgba())
        out = np.ascontiguousarray(rgba[..., :3])
        if out.shape[:2] != (self.height, self.width):  # rounding of the figure size in inches
            out = cv2.resize(out, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return out

    def close(self) -> None:
        """Release the figure."""
        self.figure.clear()


def render_3d(hands_xyz: Sequence[np.ndarray], width: int = 480, height: int = 480, **kwargs: Any) -> np.ndarray:
    """One-shot :class:`View3D` render of ``hands_xyz`` ((21, 3) metres each) as (height, width, 3) uint8 RGB."""
    labels = kwargs.pop("labels", None)
    title = kwargs.pop("title", "")
    view = View3D(width, height, **kwargs)
    try:
        return view.render(hands_xyz, labels=labels, title=title)
    finally:
        view.close()


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left`` and ``right`` (uint8 RGB) next to each other; ``right`` is resized to ``left``'s height."""
    _check_rgb(left)
    _check_rgb(right)
    h = left.shape[0]
    if right.shape[0] != h:
        w = max(1, int(round(right.shape[1] * h / right.shape[0])))
        right = cv2.resize(right, (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([left, right], axis=1)


def _hand_label(result: Any) -> str:
    text = f"{result.handedness} {result.score:.2f}"
    if result.valid and np.isfinite(result.root_depth):
        text += f" z={result.root_depth:.2f}m"
    elif not result.valid:
        text += f" ({result.status})"
    return text


def prediction_panel(
    image: np.ndarray,
    results: Sequence[Any],
    sources: Optional[Sequence[str]] = None,
    *,
    view: Optional[View3D] = None,
    with_3d: bool = True,
) -> np.ndarray:
    """The image with the estimated 2D skeletons, and (``with_3d``) the 3D view of the valid hands to its right.

    Args:
        image: (H, W, 3) uint8 RGB.
        results: :class:`hand_pose_25d.inference.pipeline.HandPoseResult` per hand (``uv``, ``xyz``, ``crop``,
            ``valid``, ``score``, ``handedness``, ``root_depth``, ``status``).
        sources: where each crop came from ('track', 'box', 'full'), for the box colours.
        view: a :class:`View3D` of size (H, H) to reuse across frames (default: a new one).

    Returns:
        (H, W + H, 3) uint8 RGB with the 3D view (H, W, 3) without it.
    """
    _check_rgb(image)
    sources = list(sources) if sources is not None else ["box"] * len(results)
    labels = [_hand_label(r) for r in results]
    overlay = draw_overlay(image, [r.uv for r in results], [(r.crop, s) for r, s in zip(results, sources)], labels)
    if not with_3d:
        return overlay
    h = image.shape[0]
    own = view is None
    view = view or View3D(h, h)
    try:
        valid = [r for r in results if r.valid]
        panel = view.render([r.xyz for r in valid], labels=[r.handedness for r in valid])
    finally:
        if own:
            view.close()
    return side_by_side(overlay, panel)


def save_rgb(path: Union[str, Path], image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image (format from the suffix, e.g. .png); ``ValueError`` if OpenCV fails."""
    _check_rgb(image)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok = cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    except cv2.error as exc:  # e.g. no writer for the suffix
        raise ValueError(f"could not write the image {path}: {str(exc).strip().splitlines()[-1]}") from None
    if not ok:
        raise ValueError(f"could not write the image {path} (unsupported suffix or unwritable folder?)")
    return path
