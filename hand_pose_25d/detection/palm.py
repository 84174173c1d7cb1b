"""BlazePalm (MediaPipe palm detector) post-processing and hand ROIs, in numpy.

The model (``palm_detection_full.tflite`` of MediaPipe 0.10.21, converted to PyTorch/ONNX elsewhere) takes a
1x192x192x3 RGB image in [0, 1] and returns regressors (1, 2016, 18) and score logits (1, 2016, 1). This module
does everything around it that MediaPipe does with calculators, following the options of MediaPipe's
``palm_detection_cpu.pbtxt``, ``palm_detection_detection_to_roi.pbtxt`` and
``hand_landmark_landmarks_to_roi.pbtxt`` (v0.10.21):

1. :func:`letterbox` -- the full W x H image is fitted into the 192 x 192 input keeping its aspect ratio,
   centred, zero padding on both sides (``ImageToTensorCalculator``, ``keep_aspect_ratio: true``,
   ``BORDER_ZERO``); :func:`letterbox_image` does the warp with OpenCV. (MediaPipe's CPU warp samples half a
   pixel off its own coordinate map; ``mediapipe_sampling=True`` reproduces that, see
   :func:`mediapipe_sampling_matrix`.)
2. :func:`ssd_anchors` -- ``SsdAnchorsCalculator`` (4 layers, strides 8/16/16/16, fixed anchor size):
   24x24x2 + 12x12x6 = 2016 anchors.
3. :func:`decode_palms` -- ``TensorsToDetectionsCalculator`` (XYWH box + 7 keypoints, scales 192,
   sigmoid of the logit clipped to +-100, score threshold 0.5).
4. :func:`weighted_nms` -- ``NonMaxSuppressionCalculator`` (WEIGHTED, INTERSECTION_OVER_UNION, 0.3).
5. :func:`palm_to_image` -- ``DetectionLetterboxRemovalCalculator``: back to full-image pixels.
6. :func:`hand_roi_from_palm` -- ``DetectionsToRectsCalculator`` (rotation from keypoint 0, wrist centre, to
   keypoint 2, middle-finger MCP, target 90 degrees) + ``RectTransformationCalculator`` (scale 2.6,
   shift_y -0.5, square_long).
7. :func:`hand_roi_from_keypoints` -- ``HandLandmarksToRectCalculator`` + ``RectTransformationCalculator``
   (scale 2.0, shift_y -0.1, square_long): the next frame's ROI from 21 tracked keypoints.
8. :func:`roi_crop_matrix` -- the 2x3 affine from image pixels to an S x S crop of a :class:`RotatedRect`, for
   ``cv2.warpAffine`` (:func:`crop_roi` does the warp).

Coordinate conventions
----------------------
* **Pixels** (everything this module returns unless said otherwise): pixel centres at integer coordinates,
  x right, y down -- the package (and OpenCV ``warpAffine``) convention. A MediaPipe *normalised*
  coordinate ``t`` in [0, 1] (0 = left/top edge of the first pixel) is the pixel coordinate ``t * size - 0.5``.
* **Model-input pixels**: pixels of the 192 x 192 letterboxed tensor. :func:`decode_palms` returns detections
  in these; :func:`palm_to_image` maps them to full-image pixels with the inverse letterbox matrix.
* **Rotation** (MediaPipe's convention, radians in [-pi, pi)): a rect's own x axis points along
  ``(cos r, sin r)`` in the image. Because y points down, a positive rotation turns the rect *clockwise* on
  screen. A rotation of 0 means the hand points up (wrist at the bottom). The package's
  :class:`hand_pose_25d.crop.CropBox` uses the opposite sign: ``CropBox.angle == -RotatedRect.rotation``.
* Affine matrices are (2, 3) and act on column vectors ``(x, y, 1)``.

Input errors (wrong shapes, NaN, non-positive sizes) raise ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "PALM_INPUT_SIZE",
    "PALM_NUM_ANCHORS",
    "PALM_NUM_KEYPOINTS",
    "PALM_NUM_COORDS",
    "PALM_KEYPOINT_NAMES",
    "PALM_WRIST",
    "PALM_MIDDLE_MCP",
    "PALM_MIN_SCORE",
    "PALM_NMS_IOU",
    "HAND_ROI_PARTIAL_LANDMARKS",
    "PalmDetectorSpec",
    "PALM_SPEC",
    "PalmDetection",
    "RotatedRect",
    "ssd_anchors",
    "decode_boxes",
    "decode_palms",
    "weighted_nms",
    "letterbox",
    "letterbox_padding",
    "apply_affine",
    "invert_affine",
    "palm_to_image",
    "postprocess_palms",
    "normalize_radians",
    "rotation_from_points",
    "transform_rect",
    "hand_roi_from_palm",
    "landmarks_to_rect",
    "hand_roi_from_keypoints",
    "roi_crop_matrix",
    "mediapipe_sampling_matrix",
    "letterbox_image",
    "crop_roi",
]

#: Side of the square model input, pixels.
PALM_INPUT_SIZE = 192
#: Number of SSD anchors (24*24*2 + 12*12*6).
PALM_NUM_ANCHORS = 2016
#: Keypoints per palm detection.
PALM_NUM_KEYPOINTS = 7
#: Values per anchor in the regressor tensor: box (x, y, w, h) + 7 keypoints (x, y).
PALM_NUM_COORDS = 4 + 2 * PALM_NUM_KEYPOINTS
#: Names of the 7 palm keypoints. MediaPipe's graphs document only 0 ("center of wrist") and 2 ("MCP of middle
#: finger"); the other names follow the common description of the BlazePalm model and are not confirmed by a
#: MediaPipe source.
PALM_KEYPOINT_NAMES: Tuple[str, ...] = (
    "wrist_center",
    "index_mcp",
    "middle_mcp",
    "ring_mcp",
    "pinky_mcp",
    "thumb_cmc",
    "thumb_mcp",
)
#: Index of the wrist-centre keypoint (start of the rotation vector).
PALM_WRIST = 0
#: Index of the middle-finger MCP keypoint (end of the rotation vector).
PALM_MIDDLE_MCP = 2
#: ``min_score_thresh`` of the palm graph (the ``min_detection_confidence`` of MediaPipe Hands).
PALM_MIN_SCORE = 0.5
#: ``min_suppression_threshold`` of the palm graph's weighted NMS.
PALM_NMS_IOU = 0.3
#: The 21-keypoint indices ``HandLandmarksToRectCalculator`` uses for the next-frame ROI: wrist, thumb CMC/MCP/IP,
#: and MCP + PIP of the four fingers (the more stable joints; no fingertips).
HAND_ROI_PARTIAL_LANDMARKS: Tuple[int, ...] = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)

ImageShape = Union[Tuple[int, int], Tuple[int, int, int], Sequence[int]]
Size = Union[int, Tuple[int, int]]


# ----------------------------------------------------------------------------------------------------------------
# Specification
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PalmDetectorSpec:
    """Options of the BlazePalm graph (defaults: ``palm_detection_cpu.pbtxt`` / ``palm_detection_full``).

    Attributes:
        input_width, input_height: model input size, pixels.
        strides: one per SSD layer; consecutive layers with the same stride share one feature map.
        min_scale, max_scale: anchor scale range (only used for anchor sizes, which ``fixed_anchor_size``
            replaces by 1).
        anchor_offset_x, anchor_offset_y: anchor centre within its cell, in cells.
        aspect_ratios: anchor aspect ratios per layer.
        interpolated_scale_aspect_ratio: adds one more anchor per layer when > 0 (MediaPipe default 1.0).
        fixed_anchor_size: anchors are 1 x 1 (normalised), so regressed sizes are absolute.
        num_keypoints: keypoints per detection.
        x_scale, y_scale, w_scale, h_scale: divisors of the regressed offsets and sizes (in input pixels).
        score_clipping_thresh: logits are clipped to +-this before the sigmoid.
        min_score_thresh: detections scoring below are dropped.
        min_suppression_threshold: IoU above which detections are merged by the weighted NMS.
    """

    input_width: int = PALM_INPUT_SIZE
    input_height: int = PALM_INPUT_SIZE
    strides: Tuple[int, ...] = (8, 16, 16, 16)
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    aspect_ratios: Tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True
    num_keypoints: int = PALM_NUM_KEYPOINTS
    x_scale: float = float(PALM_INPUT_SIZE)
    y_scale: float = float(PALM_INPUT_SIZE)
    w_scale: float = float(PALM_INPUT_SIZE)
    h_scale: float = float(PALM_INPUT_SIZE)
    score_clipping_thresh: float = 100.0
    min_score_thresh: float = PALM_MIN_SCORE
    min_suppression_threshold: float = PALM_NMS_IOU

    @property
    def num_coords(self) -> int:
        """Values per anchor in the regressor tensor (4 + 2 * num_keypoints)."""
        return 4 + 2 * self.num_keypoints

    def anchors(self) -> np.ndarray:
        """The (N, 4) anchors of this spec (read-only, cached); see :func:`ssd_anchors`."""
        return _cached_anchors(self)


#: The palm_detection_full / palm_detection_lite spec of MediaPipe 0.10.21.
PALM_SPEC = PalmDetectorSpec()


@lru_cache(maxsize=8)
def _cached_anchors(spec: PalmDetectorSpec) -> np.ndarray:
    anchors = ssd_anchors(
        input_width=spec.input_width,
        input_height=spec.input_height,
        strides=spec.strides,
        min_scale=spec.min_scale,
        max_scale=spec.max_scale,
        anchor_offset_x=spec.anchor_offset_x,
        anchor_offset_y=spec.anchor_offset_y,
        aspect_ratios=spec.aspect_ratios,
        interpolated_scale_aspect_ratio=spec.interpolated_scale_aspect_ratio,
        fixed_anchor_size=spec.fixed_anchor_size,
    )
    anchors.setflags(write=False)
    return anchors


# ----------------------------------------------------------------------------------------------------------------
# Anchors
# ----------------------------------------------------------------------------------------------------------------


def _layer_scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def ssd_anchors(
    *,
    input_width: int = PALM_INPUT_SIZE,
    input_height: int = PALM_INPUT_SIZE,
    strides: Sequence[int] = (8, 16, 16, 16),
    min_scale: float = 0.1484375,
    max_scale: float = 0.75,
    anchor_offset_x: float = 0.5,
    anchor_offset_y: float = 0.5,
    aspect_ratios: Sequence[float] = (1.0,),
    interpolated_scale_aspect_ratio: float = 1.0,
    fixed_anchor_size: bool = True,
    reduce_boxes_in_lowest_layer: bool = False,
) -> np.ndarray:
    """SSD anchors as MediaPipe's ``SsdAnchorsCalculator`` generates them (non-multiscale mode).

    Consecutive layers with the same stride are merged into one feature map of ``ceil(input / stride)`` cells
    with all their anchors per cell (each layer contributes ``len(aspect_ratios)`` anchors, plus one if
    ``interpolated_scale_aspect_ratio > 0``). Anchors are ordered by feature map, then row (y), then column (x),
    then anchor within the cell. With the defaults (BlazePalm): 24x24 cells x 2 + 12x12 cells x 6 = 2016.

    Returns:
        (N, 4) float64 ``[x_center, y_center, w, h]``, normalised to [0, 1] by the input size. With
        ``fixed_anchor_size`` every ``w`` and ``h`` is 1.

    Raises:
        ValueError: empty strides, non-positive sizes/strides, or no anchor per cell.
    """
    strides = [int(s) for s in strides]
    if not strides or min(strides) <= 0:
        raise ValueError(f"strides must be a non-empty sequence of positive integers, got {strides}")
    if input_width <= 0 or input_height <= 0:
        raise ValueError(f"input size must be positive, got {input_width}x{input_height}")
    if not all(np.isfinite([min_scale, max_scale, anchor_offset_x, anchor_offset_y, interpolated_scale_aspect_ratio])):
        raise ValueError("anchor options must be finite")
    if any(not (np.isfinite(a) and a > 0) for a in aspect_ratios):
        raise ValueError(f"aspect ratios must be positive, got {tuple(aspect_ratios)}")
    n = len(strides)
    out: List[np.ndarray] = []
    layer = 0
    while layer < n:
        widths: List[float] = []
        heights: List[float] = []
        last = layer
        while last < n and strides[last] == strides[layer]:
            scale = _layer_scale(min_scale, max_scale, last, n)
            if last == 0 and reduce_boxes_in_lowest_layer:
                ratios, scales = [1.0, 2.0, 0.5], [0.1, scale, scale]
            else:
                ratios = [float(a) for a in aspect_ratios]
                scales = [scale] * len(ratios)
                if interpolated_scale_aspect_ratio > 0.0:
                    nxt = 1.0 if last == n - 1 else _layer_scale(min_scale, max_scale, last + 1, n)
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(float(interpolated_scale_aspect_ratio))
            for ratio, s in zip(ratios, scales):
                widths.append(s * math.sqrt(ratio))
                heights.append(s / math.sqrt(ratio))
            last += 1
        per_cell = len(widths)
        if per_cell == 0:
            raise ValueError("anchor options give no anchor per cell (empty aspect_ratios and no interpolated scale)")
        fh = int(math.ceil(input_height / strides[layer]))
        fw = int(math.ceil(input_width / strides[layer]))
        yy, xx = np.meshgrid(np.arange(fh, dtype=np.float64), np.arange(fw, dtype=np.float64), indexing="ij")
        cx = np.repeat(((xx + anchor_offset_x) / fw).ravel(), per_cell)
        cy = np.repeat(((yy + anchor_offset_y) / fh).ravel(), per_cell)
        if fixed_anchor_size:
            w = np.ones_like(cx)
            h = np.ones_like(cx)
        else:
            w = np.tile(np.asarray(widths), fh * fw)
            h = np.tile(np.asarray(heights), fh * fw)
        out.append(np.stack([cx, cy, w, h], axis=1))
        layer = last
    return np.concatenate(out, axis=0)


# ----------------------------------------------------------------------------------------------------------------
# Detections and decoding
# ----------------------------------------------------------------------------------------------------------------


def _frozen_array(
    value: np.ndarray, shape_desc: str, name: str, shape_ok: Callable[[Tuple[int, ...]], bool]
) -> np.ndarray:
    arr = np.array(value, dtype=np.float64, copy=True)
    if not shape_ok(arr.shape):
        raise ValueError(f"{name} must have shape {shape_desc}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite values: {arr}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class PalmDetection:
    """One palm detection.

    The coordinate frame is the caller's: :func:`decode_palms` and :func:`weighted_nms` give model-input
    pixels, :func:`palm_to_image` full-image pixels (pixel centres at integer coordinates in both).

    Attributes:
        score: confidence in [0, 1] (sigmoid of the clipped logit; after NMS, the best member's score).
        box: (4,) ``[xmin, ymin, xmax, ymax]`` of the axis-aligned palm box, pixels (xmax >= xmin, ymax >= ymin).
        keypoints: (K, 2) ``(x, y)`` pixels; K = 7 for BlazePalm (see :data:`PALM_KEYPOINT_NAMES`).
    """

    score: float
    box: np.ndarray
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    def __post_init__(self) -> None:
        score = float(self.score)
        if not np.isfinite(score):
            raise ValueError(f"detection score must be finite, got {self.score}")
        box = _frozen_array(self.box, "(4,)", "detection box", lambda s: s == (4,))
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"detection box must have xmax >= xmin and ymax >= ymin, got {box}")
        kps = _frozen_array(self.keypoints, "(K, 2)", "detection keypoints", lambda s: len(s) == 2 and s[1] == 2)
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "keypoints", kps)

    @property
    def center(self) -> np.ndarray:
        """(2,) box centre, pixels."""
        return np.array([(self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0])

    @property
    def width(self) -> float:
        """Box width, pixels."""
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        """Box height, pixels."""
        return float(self.box[3] - self.box[1])

    def __repr__(self) -> str:
        b = ", ".join(f"{v:.2f}" for v in self.box)
        return f"PalmDetection(score={self.score:.3f}, box=[{b}], keypoints={self.keypoints.shape[0]})"


def _as_regressors(regressors: np.ndarray, num_coords: int) -> np.ndarray:
    reg = np.asarray(regressors, dtype=np.float64)
    if reg.ndim == 3 and reg.shape[0] == 1:
        reg = reg[0]
    if reg.ndim != 2 or reg.shape[1] != num_coords:
        raise ValueError(
            f"regressors must have shape (N, {num_coords}) or (1, N, {num_coords}), got {np.shape(regressors)}"
        )
    if not np.isfinite(reg).all():
        raise ValueError(f"regressors have {int((~np.isfinite(reg)).sum())} non-finite values")
    return reg


def _as_logits(logits: np.ndarray, n: int) -> np.ndarray:
    lg = np.asarray(logits, dtype=np.float64)
    if lg.size != n or not 1 <= lg.ndim <= 3 or max(lg.shape) != n:
        raise ValueError(f"logits must have shape (N,), (N, 1), (1, N) or (1, N, 1) with N = {n}, got {lg.shape}")
    lg = lg.reshape(n)
    if np.isnan(lg).any():
        raise ValueError(f"logits have {int(np.isnan(lg).sum())} NaN values")
    return lg


def _check_anchors(anchors: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(anchors, dtype=np.float64)
    if a.shape != (n, 4):
        raise ValueError(f"anchors must have shape ({n}, 4) to match the regressors, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("anchors have non-finite values")
    return a


def decode_boxes(
    regressors: np.ndarray, anchors: Optional[np.ndarray] = None, spec: PalmDetectorSpec = PALM_SPEC
) -> Tuple[np.ndarray, np.ndarray]:
    """Decode raw regressors against anchors (``TensorsToDetectionsCalculator.DecodeBoxes``, XYWH format).

    For anchor ``a`` and raw values ``(dx, dy, dw, dh, kx_0, ky_0, ...)`` (input pixels):
    ``x_center = dx / x_scale * a.w + a.x``, ``w = dw / w_scale * a.w`` (likewise y, h), keypoint
    ``x_k = kx_k / x_scale * a.w + a.x``. No exponential on the sizes (``apply_exponential_on_box_size`` false).

    Args:
        regressors: (N, 4 + 2K) or (1, N, 4 + 2K) raw model output.
        anchors: (N, 4) ``[x_center, y_center, w, h]`` normalised; ``spec.anchors()`` by default.
        spec: the detector options (scales, number of keypoints).

    Returns:
        boxes (N, 4) ``[xmin, ymin, xmax, ymax]`` and keypoints (N, K, 2) ``(x, y)``, both **normalised** to the
        model input (MediaPipe's relative coordinates, 0 = left/top edge). Sizes may be negative.

    Raises:
        ValueError: wrong shapes or non-finite values.
    """
    reg = _as_regressors(regressors, spec.num_coords)
    a = _check_anchors(spec.anchors() if anchors is None else anchors, reg.shape[0])
    ax, ay, aw, ah = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    cx = reg[:, 0] / spec.x_scale * aw + ax
    cy = reg[:, 1] / spec.y_scale * ah + ay
    w = reg[:, 2] / spec.w_scale * aw
    h = reg[:, 3] / spec.h_scale * ah
    boxes = np.stack([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0], axis=1)
    kp = reg[:, 4:].reshape(-1, spec.num_keypoints, 2)
    kx = kp[..., 0] / spec.x_scale * aw[:, None] + ax[:, None]
    ky = kp[..., 1] / spec.y_scale * ah[:, None] + ay[:, None]
    return boxes, np.stack([kx, ky], axis=-1)


def decode_palms(
    regressors: np.ndarray,
    logits: np.ndarray,
    anchors: Optional[np.ndarray] = None,
    min_score: Optional[float] = None,
    *,
    spec: PalmDetectorSpec = PALM_SPEC,
) -> List[PalmDetection]:
    """Raw BlazePalm outputs -> scored detections in model-input pixels (before NMS).

    Score = ``sigmoid(clip(logit, -spec.score_clipping_thresh, +spec.score_clipping_thresh))``; detections with
    ``score < min_score`` are dropped, and so are those with a negative decoded width or height (as MediaPipe
    does). Order: anchor order.

    Args:
        regressors: (N, 18) or (1, N, 18) raw box/keypoint regressors (N = 2016 for BlazePalm).
        logits: (N,), (N, 1), (1, N) or (1, N, 1) raw score logits.
        anchors: (N, 4) normalised anchors; ``spec.anchors()`` by default.
        min_score: score threshold in [0, 1]; ``spec.min_score_thresh`` (0.5) by default.
        spec: the detector options.

    Returns:
        list of :class:`PalmDetection` with box and keypoints in **model-input pixels** (pixel centres at integer
        coordinates: normalised ``t`` -> ``t * input_size - 0.5``).

    Raises:
        ValueError: wrong shapes, NaN/inf regressors, NaN logits, or a non-finite ``min_score``.
    """
    threshold = spec.min_score_thresh if min_score is None else float(min_score)
    if not np.isfinite(threshold):
        raise ValueError(f"min_score must be finite, got {min_score}")
    boxes, keypoints = decode_boxes(regressors, anchors, spec)
    lg = _as_logits(logits, boxes.shape[0])
    clip = spec.score_clipping_thresh
    scores = 1.0 / (1.0 + np.exp(-np.clip(lg, -clip, clip)))
    keep = (scores >= threshold) & (boxes[:, 2] >= boxes[:, 0]) & (boxes[:, 3] >= boxes[:, 1])
    scale = np.array([spec.input_width, spec.input_height], dtype=np.float64)
    boxes_px = boxes * np.tile(scale, 2) - 0.5
    kps_px = keypoints * scale - 0.5
    return [PalmDetection(float(scores[i]), boxes_px[i], kps_px[i]) for i in np.flatnonzero(keep)]


def _iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0.0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0.0, None)
    inter = ix * iy
    union = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0.0, inter / np.where(union > 0.0, union, 1.0), 0.0)
    return iou


def weighted_nms(
    detections: Sequence[PalmDetection],
    iou_threshold: float = PALM_NMS_IOU,
    max_detections: Optional[int] = None,
) -> List[PalmDetection]:
    """Weighted non-maximum suppression (MediaPipe ``NonMaxSuppressionCalculator``, ``algorithm: WEIGHTED``,
    ``overlap_type: INTERSECTION_OVER_UNION``).

    Repeatedly take the best-scoring remaining detection; every remaining detection whose IoU with it is
    **greater** than ``iou_threshold`` joins its cluster (the best one always does) and leaves the pool. The
    cluster becomes one detection whose ``[xmin, ymin, xmax, ymax]`` and keypoints are the score-weighted means
    of the members' and whose score is the best member's score (MediaPipe does not average scores).

    Works in any frame (IoU is invariant to per-axis scaling and translation), so model-input pixels or image
    pixels give the same clusters.

    Args:
        detections: the candidates, e.g. from :func:`decode_palms`; all must have the same number of keypoints.
        iou_threshold: MediaPipe's ``min_suppression_threshold`` (0.3 for palms).
        max_detections: keep at most this many (best first); all by default. (MediaPipe Hands clips the list to
            ``num_hands`` after NMS.)

    Returns:
        merged detections, best score first.

    Raises:
        ValueError: non-finite threshold, negative ``max_detections``, or mixed keypoint counts.

    Note:
        MediaPipe stops the whole loop when the best remaining box has zero area (its IoU with itself is 0, so
        nothing leaves the pool); here the best detection always belongs to its own cluster, which only differs
        for such degenerate boxes.
    """
    if not np.isfinite(iou_threshold):
        raise ValueError(f"iou_threshold must be finite, got {iou_threshold}")
    if max_detections is not None and max_detections < 0:
        raise ValueError(f"max_detections must be >= 0, got {max_detections}")
    dets = list(detections)
    if not dets:
        return []
    nk = {d.keypoints.shape[0] for d in dets}
    if len(nk) != 1:
        raise ValueError(f"all detections must have the same number of keypoints, got {sorted(nk)}")
    scores = np.array([d.score for d in dets])
    boxes = np.stack([d.box for d in dets])
    kps = np.stack([d.keypoints for d in dets])
    order = np.argsort(-scores, kind="stable")
    limit = len(dets) if max_detections is None else int(max_detections)
    out: List[PalmDetection] = []
    while order.size and len(out) < limit:
        top = order[0]
        iou = _iou_one_to_many(boxes[top], boxes[order])
        member = iou > iou_threshold
        member[0] = True
        idx = order[member]
        w = scores[idx]
        total = float(w.sum())
        if total > 0.0:
            box = (boxes[idx] * w[:, None]).sum(axis=0) / total
            kp = (kps[idx] * w[:, None, None]).sum(axis=0) / total
        else:  # all members score exactly 0: MediaPipe would divide by zero; keep the best one unchanged
            box, kp = boxes[top], kps[top]
        out.append(PalmDetection(float(scores[top]), box, kp))
        order = order[~member]
    return out


# ----------------------------------------------------------------------------------------------------------------
# Letterbox and affine helpers
# ----------------------------------------------------------------------------------------------------------------


def _image_hw(image_shape: ImageShape) -> Tuple[int, int]:
    shape = tuple(image_shape)
    if len(shape) < 2:
        raise ValueError(f"image_shape must be (H, W) or (H, W, C), got {shape}")
    h, w = shape[0], shape[1]
    if not (float(h).is_integer() and float(w).is_integer()) or h <= 0 or w <= 0:
        raise ValueError(f"image height and width must be positive integers, got {shape}")
    return int(h), int(w)


def _size_wh(size: Size) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        w = h = int(size)
    else:
        if len(size) != 2:
            raise ValueError(f"size must be an int or (width, height), got {size}")
        w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return w, h


def letterbox(image_shape: ImageShape, size: Size = PALM_INPUT_SIZE) -> Tuple[np.ndarray, np.ndarray]:
    """Affine maps between a full image and the letterboxed model input (MediaPipe ``keep_aspect_ratio``).

    The image is scaled uniformly by ``s = min(W_in / W, H_in / H)`` and centred; the leftover
    ``W_in - s W`` (or ``H_in - s H``) is split equally between the two sides (zero padding). In pixel-centre
    coordinates: ``x_in = s * (x + 0.5) + pad_x - 0.5``.

    Args:
        image_shape: (H, W) or (H, W, C) of the full image.
        size: model input side, or (width, height); 192 for BlazePalm.

    Returns:
        ``(A, A_inv)``: (2, 3) affine from image pixels to input pixels (use with ``cv2.warpAffine(image, A,
        (W_in, H_in))``) and its inverse (input pixels -> image pixels, for :func:`palm_to_image`).

    Raises:
        ValueError: non-positive or non-integer sizes.
    """
    h, w = _image_hw(image_shape)
    w_in, h_in = _size_wh(size)
    s = min(w_in / w, h_in / h)
    pad_x = (w_in - s * w) / 2.0
    pad_y = (h_in - s * h) / 2.0
    A = np.array([[s, 0.0, 0.5 * s + pad_x - 0.5], [0.0, s, 0.5 * s + pad_y - 0.5]])
    return A, invert_affine(A)


def letterbox_padding(image_shape: ImageShape, size: Size = PALM_INPUT_SIZE) -> Tuple[float, float, float, float]:
    """MediaPipe's ``LETTERBOX_PADDING``: normalised ``(left, top, right, bottom)`` padding of the model input.

    A detection normalised to the input maps to the normalised image by ``x' = (x - left) / (1 - left - right)``
    (``DetectionLetterboxRemovalCalculator``); :func:`letterbox` is the same map in pixels.
    """
    h, w = _image_hw(image_shape)
    w_in, h_in = _size_wh(size)
    s = min(w_in / w, h_in / h)
    px = (w_in - s * w) / 2.0 / w_in
    py = (h_in - s * h) / 2.0 / h_in
    return (px, py, px, py)


def _check_affine(A: np.ndarray, name: str = "affine matrix") -> np.ndarray:
    M = np.asarray(A, dtype=np.float64)
    if M.shape == (3, 3):
        if not np.allclose(M[2], [0.0, 0.0, 1.0]):
            raise ValueError(f"{name} (3, 3) must have last row (0, 0, 1), got {M[2]}")
        M = M[:2]
    if M.shape != (2, 3):
        raise ValueError(f"{name} must have shape (2, 3) or (3, 3), got {np.shape(A)}")
    if not np.isfinite(M).all():
        raise ValueError(f"{name} has non-finite values")
    return M


def invert_affine(A: np.ndarray) -> np.ndarray:
    """Inverse (2, 3) of an invertible (2, 3) or (3, 3) affine matrix.

    Raises:
        ValueError: wrong shape, non-finite or singular matrix.
    """
    M = _check_affine(A)
    lin = M[:, :2]
    det = float(np.linalg.det(lin))
    if not np.isfinite(det) or abs(det) < 1e-12:
        raise ValueError(f"affine matrix is singular (det {det})")
    inv = np.linalg.inv(lin)
    return np.concatenate([inv, -(inv @ M[:, 2])[:, None]], axis=1)


def apply_affine(points: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) or (3, 3) affine ``A`` to points (..., 2); returns (..., 2) float64.

    Raises:
        ValueError: points not (..., 2) or a bad matrix.
    """
    M = _check_affine(A)
    p = np.asarray(points, dtype=np.float64)
    if p.ndim < 1 or p.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., 2), got {p.shape}")
    return p @ M[:, :2].T + M[:, 2]


def palm_to_image(detection: PalmDetection, inverse: np.ndarray) -> PalmDetection:
    """Map a detection from model-input pixels to full-image pixels (MediaPipe's letterbox removal).

    Keypoints are mapped exactly. The box becomes the axis-aligned bounds of its four mapped corners, which is
    exact for the letterbox inverse (uniform scale + translation) and a conservative box for a rotating affine.

    Args:
        detection: in model-input pixels (e.g. from :func:`weighted_nms`).
        inverse: (2, 3) or (3, 3) affine from input pixels to image pixels (the second output of :func:`letterbox`).
    """
    M = _check_affine(inverse, "inverse matrix")
    x0, y0, x1, y1 = detection.box
    corners = apply_affine(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), M)
    box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
    kps = apply_affine(detection.keypoints, M) if detection.keypoints.size else detection.keypoints
    return PalmDetection(detection.score, box, kps)


def postprocess_palms(
    regressors: np.ndarray,
    logits: np.ndarray,
    inverse: np.ndarray,
    *,
    min_score: Optional[float] = None,
    iou_threshold: Optional[float] = None,
    max_detections: Optional[int] = None,
    anchors: Optional[np.ndarray] = None,
    spec: PalmDetectorSpec = PALM_SPEC,
) -> List[PalmDetection]:
    """:func:`decode_palms` -> :func:`weighted_nms` -> :func:`palm_to_image`: raw outputs to palms in image pixels.

    Args:
        regressors, logits: raw model outputs (see :func:`decode_palms`).
        inverse: input pixels -> image pixels (second output of :func:`letterbox`).
        min_score, iou_threshold: default to ``spec.min_score_thresh`` (0.5), ``spec.min_suppression_threshold`` (0.3).
        max_detections: keep at most this many palms (e.g. the number of hands to track).
        anchors, spec: see :func:`decode_palms`.
    """
    dets = decode_palms(regressors, logits, anchors, min_score, spec=spec)
    thr = spec.min_suppression_threshold if iou_threshold is None else iou_threshold
    return [palm_to_image(d, inverse) for d in weighted_nms(dets, thr, max_detections)]


# ----------------------------------------------------------------------------------------------------------------
# Rotated rects (hand ROIs)
# ----------------------------------------------------------------------------------------------------------------


def normalize_radians(angle: float) -> float:
    """``angle`` wrapped into [-pi, pi) (MediaPipe's ``NormalizeRadians``)."""
    return float(angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi)))


def rotation_from_points(start: np.ndarray, end: np.ndarray, target_angle: float = math.pi / 2.0) -> float:
    """Rect rotation that turns the image vector ``start -> end`` to ``target_angle`` (MediaPipe convention).

    ``rotation = normalize(target_angle - atan2(-(y1 - y0), x1 - x0))`` with points in pixels (so the image
    aspect ratio is respected). With the default 90 degrees, a vector pointing up in the image (``y1 < y0``)
    gives 0 and one pointing right gives +pi/2. Coincident points give ``target_angle`` (atan2(0, 0) = 0).

    Raises:
        ValueError: points not (2,) or not finite.
    """
    p0 = np.asarray(start, dtype=np.float64)
    p1 = np.asarray(end, dtype=np.float64)
    if p0.shape != (2,) or p1.shape != (2,):
        raise ValueError(f"start and end must be (2,) points, got {p0.shape} and {p1.shape}")
    if not (np.isfinite(p0).all() and np.isfinite(p1).all() and np.isfinite(target_angle)):
        raise ValueError(f"rotation points must be finite, got {p0} and {p1}")
    return normalize_radians(target_angle - math.atan2(-(p1[1] - p0[1]), p1[0] - p0[0]))


@dataclass(frozen=True)
class RotatedRect:
    """A rotated rectangle in pixels (MediaPipe ``Rect`` / ``NormalizedRect`` scaled to the image).

    Attributes:
        center_x, center_y: centre, pixels (pixel centres at integer coordinates).
        width, height: side lengths along the rect's own x and y axes, pixels (> 0).
        rotation: radians; the rect's x axis is ``(cos r, sin r)`` and its y axis ``(-sin r, cos r)`` in the
            image (positive = clockwise on screen, y down). 0 = upright hand.
    """

    center_x: float
    center_y: float
    width: float
    height: float
    rotation: float = 0.0

    def __post_init__(self) -> None:
        vals = (self.center_x, self.center_y, self.width, self.height, self.rotation)
        if not all(np.isfinite(v) for v in vals):
            raise ValueError(f"rotated rect has non-finite values: {vals}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"rotated rect width and height must be positive, got {self.width} x {self.height}")
        for name, v in zip(("center_x", "center_y", "width", "height", "rotation"), vals):
            object.__setattr__(self, name, float(v))

    @property
    def center(self) -> np.ndarray:
        """(2,) centre, pixels."""
        return np.array([self.center_x, self.center_y])

    def axes(self) -> np.ndarray:
        """(2, 2) matrix whose columns are the rect's unit x and y axes in the image."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return np.array([[c, -s], [s, c]])

    def corners(self) -> np.ndarray:
        """(4, 2) corners in pixels: top-left, top-right, bottom-right, bottom-left *in the rect's own frame*
        (the corners of the crop it defines, in that order)."""
        hw, hh = self.width / 2.0, self.height / 2.0
        local = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
        return local @ self.axes().T + self.center

    def axis_aligned_box(self) -> np.ndarray:
        """(4,) ``[xmin, ymin, xmax, ymax]`` bounds of the corners, pixels (not clipped to the image)."""
        c = self.corners()
        return np.concatenate([c.min(axis=0), c.max(axis=0)])

    def crop_matrix(self, out_size: Size) -> np.ndarray:
        """Same as :func:`roi_crop_matrix` ``(self, out_size)``."""
        return roi_crop_matrix(self, out_size)

    def to_normalized(self, image_width: int, image_height: int) -> Tuple[float, float, float, float, float]:
        """MediaPipe ``NormalizedRect`` ``(x_center, y_center, width, height, rotation)`` for an image size."""
        if image_width <= 0 or image_height <= 0:
            raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
        return (
            (self.center_x + 0.5) / image_width,
            (self.center_y + 0.5) / image_height,
            self.width / image_width,
            self.height / image_height,
            self.rotation,
        )

    @classmethod
    def from_normalized(
        cls,
        x_center: float,
        y_center: float,
        width: float,
        height: float,
        rotation: float,
        image_width: int,
        image_height: int,
    ) -> "RotatedRect":
        """From a MediaPipe ``NormalizedRect`` and the image size (inverse of :meth:`to_normalized`)."""
        if image_width <= 0 or image_height <= 0:
            raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
        return cls(
            x_center * image_width - 0.5,
            y_center * image_height - 0.5,
            width * image_width,
            height * image_height,
            rotation,
        )


def transform_rect(
    rect: RotatedRect,
    *,
    scale_x: float = 1.0,
    scale_y: float = 1.0,
    shift_x: float = 0.0,
    shift_y: float = 0.0,
    square_long: bool = False,
    square_short: bool = False,
) -> RotatedRect:
    """MediaPipe ``RectTransformationCalculator`` in pixels.

    In this order: shift the centre by ``shift_x * width`` along the rect's x axis and ``shift_y * height``
    along its y axis (so ``shift_y < 0`` moves towards the fingers of an upright hand); make it a square of the
    long (``square_long``) or short side; multiply width by ``scale_x`` and height by ``scale_y``. The rotation
    is unchanged.

    Raises:
        ValueError: non-finite or non-positive scales, non-finite shifts, or both square options.
    """
    if not all(np.isfinite(v) for v in (scale_x, scale_y, shift_x, shift_y)):
        raise ValueError("scale and shift must be finite")
    if scale_x <= 0 or scale_y <= 0:
        raise ValueError(f"scales must be positive, got {scale_x}, {scale_y}")
    if square_long and square_short:
        raise ValueError("square_long and square_short are exclusive")
    w, h = rect.width, rect.height
    shift = rect.axes() @ np.array([w * shift_x, h * shift_y])
    if square_long:
        w = h = max(w, h)
    elif square_short:
        w = h = min(w, h)
    return RotatedRect(
        rect.center_x + float(shift[0]), rect.center_y + float(shift[1]), w * scale_x, h * scale_y, rect.rotation
    )


def hand_roi_from_palm(
    detection: PalmDetection,
    *,
    scale_x: float = 2.6,
    scale_y: float = 2.6,
    shift_x: float = 0.0,
    shift_y: float = -0.5,
    square_long: bool = True,
    start_keypoint: int = PALM_WRIST,
    end_keypoint: int = PALM_MIDDLE_MCP,
    target_angle: float = math.pi / 2.0,
) -> RotatedRect:
    """Hand ROI from a palm detection in image pixels (MediaPipe ``PalmDetectionDetectionToRoi``).

    ``DetectionsToRectsCalculator``: the rect is the palm box (centre and size), rotated by
    :func:`rotation_from_points` from keypoint ``start_keypoint`` (wrist centre) to ``end_keypoint`` (middle
    MCP) with a 90 degree target; then :func:`transform_rect` with scale 2.6, ``shift_y = -0.5`` (half the box
    height towards the fingers) and ``square_long``. The result is a square of side ``2.6 * max(w, h)``.

    Args:
        detection: a palm in **full-image pixels** (from :func:`palm_to_image`); the rotation is computed in
            pixels, so a non-square image is handled like MediaPipe does with its image size.

    Raises:
        ValueError: keypoint indices out of range, a degenerate (zero-size) palm box, or bad options.
    """
    k = detection.keypoints.shape[0]
    if not (0 <= start_keypoint < k and 0 <= end_keypoint < k):
        raise ValueError(f"keypoint indices {start_keypoint}, {end_keypoint} out of range for {k} keypoints")
    if detection.width <= 0 or detection.height <= 0:
        raise ValueError(f"palm box must have a positive size, got {detection.width} x {detection.height}")
    kps = detection.keypoints
    rotation = rotation_from_points(kps[start_keypoint], kps[end_keypoint], target_angle)
    c = detection.center
    raw = RotatedRect(float(c[0]), float(c[1]), detection.width, detection.height, rotation)
    return transform_rect(
        raw, scale_x=scale_x, scale_y=scale_y, shift_x=shift_x, shift_y=shift_y, square_long=square_long
    )


def _as_hand_keypoints(keypoints: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[0] != 21 or kp.shape[1] not in (2, 3):
        raise ValueError(f"keypoints must have shape (21, 2) or (21, 3), got {kp.shape}")
    kp = kp[:, :2]
    if not np.isfinite(kp).all():
        raise ValueError("keypoints have non-finite values")
    return kp


def landmarks_to_rect(keypoints: np.ndarray) -> RotatedRect:
    """Tight rotated rect of a hand's stable joints (MediaPipe ``HandLandmarksToRectCalculator``), pixels.

    Uses the 12 joints :data:`HAND_ROI_PARTIAL_LANDMARKS` (wrist, thumb CMC/MCP/IP, finger MCPs and PIPs).
    Rotation: from the wrist (0) to ``((index MCP (5) + ring MCP (13)) / 2 + middle MCP (9)) / 2``, target
    90 degrees (MediaPipe calls these "PIP" joints but indexes the MCPs of its partial list). The rect is the
    bounding box of the joints in that rotated frame (its centre is the rotated box's centre, not the
    axis-aligned one).

    Args:
        keypoints: (21, 2) or (21, 3) MediaPipe-ordered hand keypoints, pixels (a third column is ignored).

    Raises:
        ValueError: wrong shape, NaN, or all joints coincident in one direction (zero width or height).
    """
    kp = _as_hand_keypoints(keypoints)[list(HAND_ROI_PARTIAL_LANDMARKS)]
    # indices into the partial list: 0 wrist, 4 index MCP, 6 middle MCP, 8 ring MCP
    target = ((kp[4] + kp[8]) / 2.0 + kp[6]) / 2.0
    rotation = rotation_from_points(kp[0], target)
    lo, hi = kp.min(axis=0), kp.max(axis=0)
    aa_center = (lo + hi) / 2.0
    c, s = math.cos(rotation), math.sin(rotation)
    axes = np.array([[c, -s], [s, c]])
    local = (kp - aa_center) @ axes  # coordinates along the rect's axes (R^T p)
    llo, lhi = local.min(axis=0), local.max(axis=0)
    center = axes @ ((llo + lhi) / 2.0) + aa_center
    size = lhi - llo
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"hand keypoints span a degenerate rect (size {size[0]} x {size[1]})")
    return RotatedRect(float(center[0]), float(center[1]), float(size[0]), float(size[1]), rotation)


def hand_roi_from_keypoints(
    keypoints: np.ndarray,
    *,
    scale_x: float = 2.0,
    scale_y: float = 2.0,
    shift_x: float = 0.0,
    shift_y: float = -0.1,
    square_long: bool = True,
) -> RotatedRect:
    """Next-frame hand ROI from 21 tracked keypoints (MediaPipe ``HandLandmarkLandmarksToRoi``), pixels.

    :func:`landmarks_to_rect` then :func:`transform_rect` with scale 2.0, ``shift_y = -0.1`` and
    ``square_long`` (MediaPipe 0.10.21 options).

    Args:
        keypoints: (21, 2) or (21, 3) MediaPipe-ordered hand keypoints in full-image pixels.

    Raises:
        ValueError: see :func:`landmarks_to_rect` and :func:`transform_rect`.
    """
    return transform_rect(
        landmarks_to_rect(keypoints),
        scale_x=scale_x,
        scale_y=scale_y,
        shift_x=shift_x,
        shift_y=shift_y,
        square_long=square_long,
    )


def roi_crop_matrix(rect: RotatedRect, out_size: Size) -> np.ndarray:
    """2x3 affine from full-image pixels to the pixels of an ``out_size`` crop of ``rect`` (rotation included).

    The rect's edges map to the crop's outer pixel edges (-0.5 and S - 0.5), its centre to ``(S - 1) / 2``, its
    x axis to the crop's +x and its y axis to the crop's +y, so an upright-ised hand (fingers up) comes out:
    ``crop = diag(S_w / w, S_h / h) @ R(rotation)^T @ (p - centre) + (S - 1) / 2``. A non-square rect is
    stretched to fill the crop. This is the ROI mapping MediaPipe's ``ImageToTensorCalculator`` assumes (its
    CPU warp samples half a pixel off it, see :func:`mediapipe_sampling_matrix`), and equals
    ``hand_pose_25d.crop.crop_matrix(CropBox(cx, cy, side, angle=-rotation), S)`` for a square rect.

    Use as ``cv2.warpAffine(image, A, (S_w, S_h), flags=cv2.INTER_LINEAR)``; map crop predictions back to the
    image with :func:`invert_affine`.

    Args:
        rect: the ROI in image pixels.
        out_size: crop side S, or (width, height).
    """
    w_out, h_out = _size_wh(out_size)
    lin = np.diag([w_out / rect.width, h_out / rect.height]) @ rect.axes().T
    t = np.array([(w_out - 1) / 2.0, (h_out - 1) / 2.0]) - lin @ rect.center
    return np.concatenate([lin, t[:, None]], axis=1)


# ----------------------------------------------------------------------------------------------------------------
# Image warps (OpenCV, imported lazily)
# ----------------------------------------------------------------------------------------------------------------


def mediapipe_sampling_matrix(A: np.ndarray) -> np.ndarray:
    """The warp matrix MediaPipe's CPU ``ImageToTensorCalculator`` (OpenCV converter) actually samples with.

    MediaPipe computes its ROI in pixel-*edge* coordinates (normalised * size) and hands it to
    ``cv2.warpPerspective``, whose coordinates are pixel-*centre* based, so the content of its tensors is offset
    by half a pixel from the exact map ``A`` it assumes when mapping results back: it applies the edge map
    ``E(q) = A(q - 0.5) + 0.5`` to centre coordinates. For the 640x480 -> 192 letterbox that is a shift of
    0.35 input pixels. Warp with this matrix (and keep using ``A`` / its inverse for coordinates) to reproduce
    MediaPipe's detections exactly; the exact ``A`` is the geometrically consistent choice.

    Args:
        A: (2, 3) or (3, 3) exact image -> tensor affine (from :func:`letterbox` or :func:`roi_crop_matrix`).

    Returns:
        (2, 3) ``A + [0 | 0.5 - 0.5 * A[:, :2] @ (1, 1)]``.
    """
    M = _check_affine(A).copy()
    M[:, 2] += 0.5 - 0.5 * M[:, :2].sum(axis=1)
    return M


def _warp(
    image: np.ndarray, A: np.ndarray, out_wh: Tuple[int, int], mediapipe_sampling: bool, border: str = "zero"
) -> np.ndarray:
    import cv2

    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must be (H, W) or (H, W, C), got {img.shape}")
    modes = {"zero": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}
    if border not in modes:
        raise ValueError(f"border must be 'zero' or 'replicate', got {border!r}")
    M = mediapipe_sampling_matrix(A) if mediapipe_sampling else _check_affine(A)
    return cv2.warpAffine(img, M, out_wh, flags=cv2.INTER_LINEAR, borderMode=modes[border], borderValue=0)


def letterbox_image(
    image: np.ndarray, size: Size = PALM_INPUT_SIZE, *, mediapipe_sampling: bool = False
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Letterbox ``image`` (H, W[, C]) into the model input with bilinear sampling and zero padding.

    Args:
        image: (H, W) or (H, W, C) image, any dtype OpenCV warps.
        size: model input side, or (width, height).
        mediapipe_sampling: sample like MediaPipe's CPU pipeline (see :func:`mediapipe_sampling_matrix`) instead
            of with the exact matrix; the returned matrices are the same either way.

    Returns:
        ``(input_image, A, A_inv)``: the (H_in, W_in[, C]) image in the input's dtype (convert to float RGB in
        [0, 1] and to the layout the model wants yourself), and the matrices of :func:`letterbox`.
    """
    A, A_inv = letterbox(np.shape(image), size)
    return _warp(image, A, _size_wh(size), mediapipe_sampling), A, A_inv


def crop_roi(
    image: np.ndarray,
    rect: RotatedRect,
    out_size: Size,
    *,
    border: str = "replicate",
    mediapipe_sampling: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """Crop ``rect`` out of ``image`` (H, W[, C]) into an ``out_size`` image with bilinear sampling.

    Args:
        image: (H, W) or (H, W, C) image.
        rect: the ROI in image pixels.
        out_size: crop side, or (width, height).
        border: pixels outside the image: ``"replicate"`` (edge pixels; the default of MediaPipe's hand
            landmark crop) or ``"zero"``.
        mediapipe_sampling: sample like MediaPipe's CPU pipeline (see :func:`mediapipe_sampling_matrix`).

    Returns:
        ``(crop, A)`` with ``A = roi_crop_matrix(rect, out_size)`` (image pixels -> crop pixels).
    """
    A = roi_crop_matrix(rect, out_size)
    return _warp(image, A, _size_wh(out_size), mediapipe_sampling, border), A
