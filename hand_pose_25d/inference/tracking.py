"""Crop choice and track ids across frames (pure numpy): used by the ROS node and ``hand-pose-25d predict``.

Per frame, :meth:`HandTracker.plan` chooses the crops the network sees (``tracking.crop_mode``):

* ``auto``: a recent ROI (``roi`` topic) if there is one, else a crop around each hand that was valid in the
  previous processed frame (its keypoints, padded like the training crops), plus the hands the palm detector
  found when it ran (:meth:`HandTracker.wants_detection`: while no hand is followed, after a followed hand scored
  below ``redetect_score`` -- its detection then replaces its track crop --, and every ``redetect_interval`` frames
  while fewer than ``max_hands`` are), else the full image (``full_frame_fallback``);
* ``roi``: only a recent ROI; without one the frame is not processed (no crop);
* ``track``: as ``auto`` but ROIs are ignored;
* ``full``: always the full image.

ROI and full-image crops are "loose" (the pipeline refines them with ``refine_iterations``); detection crops are
turned to the hand by the palm detector (refined only with ``refine_detections``); track crops are tight. After
inference, :meth:`HandTracker.update` gives every valid hand a track: the track whose previous keypoint box
overlaps the new one (intersection over union >= ``min_iou``) keeps its id, otherwise a new id is issued. A track
survives into the next frame only if its hand was valid there: a hand followed with a track crop needs a score of
``min_score`` (:attr:`CropRequest.min_score`, lower than the pipeline's ``min_hand_score`` that a new hand needs:
hysteresis); a new hand below ``min_score`` is published but not followed; tracks whose last valid hand is older
than ``timeout`` seconds (by image stamp) or whose image stamps go backwards are dropped.
Each track also holds a *slot* (0, 1, ...), kept for the track's lifetime, which names its TF frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ..crop import CropBox, box_from_keypoints
from ..settings import setting
from .pipeline import CropRequest, HandPoseResult

__all__ = [
    "TrackingConfig",
    "Track",
    "PlannedCrop",
    "TrackedHand",
    "HandTracker",
    "box_iou",
    "keypoint_box",
    "clip_roi",
]

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1 (pixel edges)


@dataclass
class TrackingConfig:
    """Where the network looks: ROI, the previous frame's keypoints, or the full image; track ids."""

    crop_mode: str = setting(
        "auto",
        description="Crop choice: 'auto' (a recent ROI, else the tracked hands of the previous frame and the hands "
        "the palm detector finds, else the full image), 'roi' (only a recent ROI; frames without one are not "
        "processed), 'track' (as auto, ROIs ignored) or 'full' (always the full image).",
        choices=("auto", "roi", "track", "full"),
        dynamic=True,
    )
    roi_timeout: float = setting(
        0.5,
        description="Seconds (by arrival) an ROI on the roi topic stays recent enough to be used.",
        min=0.0,
        max=60.0,
        dynamic=True,
    )
    timeout: float = setting(
        0.5,
        description="Seconds (by image stamp) a hand stays tracked since its last valid estimate; older tracks are "
        "dropped and the hand is searched for again.",
        min=0.0,
        max=10.0,
        dynamic=True,
    )
    min_score: float = setting(
        0.15,
        description="A hand followed from the previous frame (a track crop) stays valid and tracked while its overall "
        "score is at least this; a new hand (palm detector, ROI, full image) needs pipeline.min_hand_score. Lower "
        "than that (hysteresis, as MediaPipe's min_tracking_confidence): a hand that was found is not dropped when "
        "its score dips in one frame. Most crops of photos without a hand score below 0.15.",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    confirm_score: float = setting(
        0.9,
        description="A new hand whose palm the detector scores at least this needs only min_score, not "
        "pipeline.min_hand_score, to be valid: the detector has confirmed it (the pose score alone is a weak hand "
        "classifier). 1.0: off.",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    min_iou: float = setting(
        0.1,
        description="Smallest overlap (intersection over union) of a hand's box with a track's previous box for the "
        "hand to keep that track's id (and for an ROI to be taken as that hand).",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    max_hands: int = setting(
        2,
        description="Most hands tracked at once; a detected hand or an ROI that overlaps no tracked hand starts a "
        "new track while fewer are tracked.",
        min=1,
        max=8,
        dynamic=True,
    )
    redetect_interval: int = setting(
        10,
        description="While fewer than max_hands hands are tracked, the palm detector also runs every this many "
        "frames, so that a hand entering the image is picked up; 0: only while no hand is tracked.",
        min=0,
        max=1000,
        dynamic=True,
    )
    redetect_score: float = setting(
        0.3,
        description="A followed hand scoring below this makes the palm detector run on the next frame; a detection "
        "of that hand then replaces its track crop (the track keeps its id), so a crop that drifted off the hand "
        "is put back on it. 0: never.",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    full_frame_fallback: bool = setting(
        False,
        description="When the palm detector ran and found no hand and no hand is tracked, search the full image with "
        "the pose network anyway: it finds hands the detector misses (the synthetic camera's rendered hands) but "
        "takes other things for hands in real images (29 of 867 photos without one); false: such frames report no "
        "hand. Without a detector the full image is always searched.",
        dynamic=True,
    )


def keypoint_box(uv: np.ndarray) -> Box:
    """Tight axis-aligned box (x0, y0, x1, y1) of the finite keypoints ``uv`` (N, 2), in pixel edges."""
    uv = np.asarray(uv, dtype=np.float64)
    ok = np.isfinite(uv).all(axis=1)
    if not ok.any():
        raise ValueError("no finite keypoint to build a box from")
    lo, hi = uv[ok].min(axis=0), uv[ok].max(axis=0)
    return (float(lo[0]) - 0.5, float(lo[1]) - 0.5, float(hi[0]) + 0.5, float(hi[1]) + 0.5)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes; 0 for empty boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / area) if area > 0 else 0.0


def _same_hand(detection: CropBox, planned: "PlannedCrop") -> bool:
    """A detected hand's crop shows the hand of ``planned`` (a followed track, or an ROI): the track's keypoint box
    centre (or the ROI crop's centre) lies in the inner half of the detection's square, or the other way round."""
    if planned.track is not None:
        x0, y0, x1, y1 = planned.track.box
        cx, cy, reach = (x0 + x1) / 2.0, (y0 + y1) / 2.0, max(x1 - x0, y1 - y0) / 2.0
    else:
        cx, cy, reach = planned.request.box.cx, planned.request.box.cy, planned.request.box.side / 4.0
    d = max(abs(cx - detection.cx), abs(cy - detection.cy))
    return d <= max(detection.side / 4.0, reach)


def clip_roi(x: int, y: int, w: int, h: int, width: int, height: int) -> Optional[Box]:
    """A ``sensor_msgs/RegionOfInterest`` (x_offset, y_offset, width, height) clipped to a width x height image.

    Returns:
        (x0, y0, x1, y1) in pixel edges, or None when the ROI is empty (all zero means "no ROI" here) or lies
        outside the image.
    """
    x0, y0 = max(int(x), 0), max(int(y), 0)
    x1, y1 = min(int(x) + int(w), int(width)), min(int(y) + int(h), int(height))
    if int(w) <= 0 or int(h) <= 0 or x1 <= x0 or y1 <= y0:
        return None
    return (float(x0), float(y0), float(x1), float(y1))


@dataclass(eq=False)  # tracks compare by identity
class Track:
    """A hand followed across frames.

    Attributes:
        track_id: published as ``HandPose.track_id`` (1, 2, ...; never reused).
        slot: index naming the TF frames (0: ``<prefix>_<keypoint>``, n >= 1: ``<prefix>_<n+1>_<keypoint>``).
        uv: (21, 2) keypoints (pixels) of the last valid estimate.
        box: tight keypoint box of ``uv``.
        stamp_ns: image stamp of the last valid estimate.
        follow: the last estimate scored at least ``min_score``: the next frame is cropped around it.
        score: the overall score of the last valid estimate (below ``redetect_score``: the detector looks again).
    """

    track_id: int
    slot: int
    uv: np.ndarray
    box: Box
    stamp_ns: int
    follow: bool
    score: float = 1.0


@dataclass
class PlannedCrop:
    """A crop to run: the pipeline request, where it came from ('roi', 'track', 'detect', 'redetect': a detection
    replacing a weak track's crop, 'full', or 'box': the search box) and its track."""

    request: CropRequest
    source: str
    track: Optional[Track] = None


@dataclass
class TrackedHand:
    """A valid hand of this frame with its track."""

    result: HandPoseResult
    track: Track
    source: str


class HandTracker:
    """Plans crops from ROI / tracks / full image and keeps track ids (see the module docstring)."""

    def __init__(self) -> None:
        self.tracks: List[Track] = []
        self._next_id = 1
        self._last_stamp_ns: Optional[int] = None
        self._since_detection = 0  # frames planned since the detector last ran

    def reset(self) -> None:
        """Forget every track (ids keep increasing)."""
        self.tracks = []
        self._last_stamp_ns = None

    def _expire(self, stamp_ns: int, timeout_s: float) -> None:
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            self.tracks = []  # time went backwards (bag loop, clock reset)
        self.tracks = [t for t in self.tracks if 0 <= stamp_ns - t.stamp_ns <= timeout_s * 1e9]

    def plan(
        self,
        cfg: TrackingConfig,
        width: int,
        height: int,
        stamp_ns: int,
        roi: Optional[Box],
        padding: float,
        search_box: Optional[Box] = None,
        detections: Optional[Sequence[CropBox]] = None,
    ) -> List[PlannedCrop]:
        """The crops for an image of ``width`` x ``height`` stamped ``stamp_ns``.

        Args:
            cfg: tracking settings.
            roi: a recent ROI (x0, y0, x1, y1) already clipped to the image (see :func:`clip_roi`), or None.
            padding: crop side / keypoint box side (the model's ``crop_padding``).
            search_box: where to look for a hand when no hand is followed, instead of the full image (x0, y0,
                x1, y1 pixel edges; planned with source 'box'); None: the full image.
            detections: the crops of the hands the palm detector found in this frame, best first (None: it did
                not run, see :meth:`wants_detection`). A detection of a hand already followed is dropped; the
                others become loose crops with source 'detect' (a :class:`~hand_pose_25d.detection.palm_detector.
                PalmCrop` scored at least ``cfg.confirm_score`` needs only ``cfg.min_score``). When it ran and nothing
                is left to crop, the full image (or ``search_box``) is searched only with ``cfg.full_frame_fallback``.

        Returns:
            At most ``cfg.max_hands`` crops; empty in 'roi' mode without an ROI (the frame is skipped).
        """
        self._expire(stamp_ns, cfg.timeout)
        mode = cfg.crop_mode
        if search_box is not None:
            x0, y0, x1, y1 = search_box
            full = PlannedCrop(CropRequest(CropBox.from_xywh(x0, y0, x1 - x0, y1 - y0, padding=padding), False), "box")
        else:
            box = CropBox((width - 1) / 2.0, (height - 1) / 2.0, float(max(width, height)))
            full = PlannedCrop(CropRequest(box, False), "full")
        roi_crop: Optional[PlannedCrop] = None
        if roi is not None and mode in ("auto", "roi"):
            x0, y0, x1, y1 = roi
            req = CropRequest(CropBox.from_xywh(x0, y0, x1 - x0, y1 - y0, padding=padding), from_keypoints=False)
            match = max(self.tracks, key=lambda t: box_iou(t.box, roi), default=None)
            if match is not None and box_iou(match.box, roi) < cfg.min_iou:
                match = None
            roi_crop = PlannedCrop(req, "roi", match)
        if mode == "full":
            return [full]
        if mode == "roi":
            return [roi_crop] if roi_crop is not None else []
        planned: List[PlannedCrop] = [roi_crop] if roi_crop is not None else []
        for t in sorted(self.tracks, key=lambda t: t.slot):
            if not t.follow or (roi_crop is not None and roi_crop.track is t):
                continue
            if roi is not None and box_iou(t.box, roi) >= cfg.min_iou:
                continue  # the ROI covers this hand
            box = box_from_keypoints(t.uv, padding=padding)
            if not (0 <= box.cx < width and 0 <= box.cy < height):
                continue  # the hand left the image
            planned.append(PlannedCrop(CropRequest(box, from_keypoints=True, min_score=cfg.min_score), "track", t))
        if detections is None:
            self._since_detection += 1
        else:
            self._since_detection = 0
            for det in detections:
                same = [i for i, p in enumerate(planned) if _same_hand(det, p)]
                if not same:
                    confirmed = getattr(det, "score", 0.0) >= cfg.confirm_score  # a PalmCrop carries its score
                    req = CropRequest(det, False, min_score=cfg.min_score if confirmed else None, detected=True)
                    planned.append(PlannedCrop(req, "detect"))
                    continue
                i = same[0]
                if planned[i].source == "track" and planned[i].track.score < cfg.redetect_score:
                    # a weak track: the detection's crop replaces the one from its (possibly drifted) keypoints
                    req = CropRequest(det, from_keypoints=False, min_score=cfg.min_score, detected=True)
                    planned[i] = PlannedCrop(req, "redetect", planned[i].track)
        if not planned and (detections is None or cfg.full_frame_fallback):
            planned = [full]
        return planned[: cfg.max_hands]

    def plan_frame(
        self,
        cfg: TrackingConfig,
        estimator: Any,
        image: np.ndarray,
        stamp_ns: int,
        roi: Optional[Box] = None,
        search_box: Optional[Box] = None,
    ) -> Tuple[List[PlannedCrop], Optional[List[CropBox]]]:
        """:meth:`plan` for ``image`` (H, W, 3), with ``estimator``'s palm detector run first when
        :meth:`wants_detection` (never without a detector or with a ``search_box``: that box is where to look).

        Returns:
            (the planned crops, the detections: None where the detector did not run).
        """
        h, w = image.shape[:2]
        detections = None
        if estimator.detector is not None and search_box is None and self.wants_detection(cfg, stamp_ns, roi):
            detections = estimator.detect_crops(image, cfg.max_hands)
        padding = estimator.model_config.crop_padding
        return self.plan(cfg, w, h, stamp_ns, roi, padding, search_box, detections=detections), detections

    def wants_detection(self, cfg: TrackingConfig, stamp_ns: int, roi: Optional[Box] = None) -> bool:
        """Whether the palm detector should run on the frame stamped ``stamp_ns`` (before :meth:`plan`).

        It runs while no hand is followed, after a followed hand scored below ``cfg.redetect_score``, and every
        ``cfg.redetect_interval`` frames while fewer than ``cfg.max_hands`` are; never with a recent ROI or in the
        'roi' and 'full' crop modes.
        """
        if cfg.crop_mode in ("roi", "full") or roi is not None:
            return False
        self._expire(stamp_ns, cfg.timeout)
        followed = sum(1 for t in self.tracks if t.follow)
        if followed == 0:
            return True
        if any(t.follow and t.score < cfg.redetect_score for t in self.tracks):
            return True  # a followed hand's score dropped: look for it again
        if followed >= cfg.max_hands:
            return False
        return cfg.redetect_interval > 0 and self._since_detection + 1 >= cfg.redetect_interval

    def update(
        self,
        cfg: TrackingConfig,
        planned: Sequence[PlannedCrop],
        results: Sequence[HandPoseResult],
        stamp_ns: int,
        duplicate_iou: float = 0.5,
    ) -> List[TrackedHand]:
        """Assign tracks to the valid results of one frame and keep them for the next.

        Args:
            planned: the crops of :meth:`plan`, one per result.
            results: the pipeline's results, in the same order.
            duplicate_iou: a valid hand overlapping an already accepted one of this frame at least this much is
                the same hand seen twice and is discarded.

        Returns:
            The hands to publish, highest score first, at most ``cfg.max_hands``.
        """
        if len(planned) != len(results):
            raise ValueError(f"{len(planned)} crops but {len(results)} results")
        self._last_stamp_ns = int(stamp_ns)
        order = sorted(range(len(results)), key=lambda i: -float(results[i].score))
        accepted: List[TrackedHand] = []
        claimed: List[Track] = []
        new_tracks: List[Track] = []
        for i in order:
            res = results[i]
            if not res.valid or len(accepted) >= cfg.max_hands:
                continue
            box = keypoint_box(res.uv)
            if any(box_iou(box, h.track.box) >= duplicate_iou for h in accepted):
                continue
            old = planned[i].track if planned[i].track is not None and planned[i].track not in claimed else None
            if old is None or box_iou(box, old.box) < cfg.min_iou:
                candidates = [t for t in self.tracks if t not in claimed and box_iou(box, t.box) >= cfg.min_iou]
                old = max(candidates, key=lambda t: box_iou(box, t.box), default=None)
            score = float(res.score)
            follow = score >= cfg.min_score  # a track crop's valid hand always is (its threshold is min_score)
            if old is not None:
                claimed.append(old)
                track = Track(
                    old.track_id, old.slot, np.array(res.uv, dtype=np.float64), box, int(stamp_ns), follow, score
                )
            else:
                track = Track(0, -1, np.array(res.uv, dtype=np.float64), box, int(stamp_ns), follow, score)
            new_tracks.append(track)
            accepted.append(TrackedHand(res, track, planned[i].source))
        used = {t.slot for t in new_tracks if t.slot >= 0}
        for t in new_tracks:  # ids and slots for new hands, in score order
            if t.slot < 0:
                t.track_id = self._next_id
                self._next_id += 1
                t.slot = min(s for s in range(len(new_tracks) + len(used) + 1) if s not in used)
                used.add(t.slot)
        self.tracks = new_tracks
        return accepted
