"""The one inference code path: image + intrinsics + crops -> metric 3D hand poses.

The CLI (``predict``, ``eval``, ``bench``), the benchmarks and the ROS node all call
:meth:`HandPoseEstimator.estimate`. Stages (timed separately, see :attr:`HandPoseEstimator.last_timings`):

1. **preprocess** -- validate the image, warp each crop box to the network's input size;
2. **inference** -- the backend runs the exported network (decoding inside the graph);
3. **decode** -- crop pixels back to full-image pixels, scores, handedness;
4. **reconstruct** -- closed-form 3D (:func:`hand_pose_25d.geometry.reconstruct_3d`) with the live intrinsics and
   distortion, then the metric scale from the model's bone-length prior or a known hand length.

Crops whose box did not come from keypoints (the full frame, a loose ROI) are refined: after the first pass the
hand is re-cropped around the keypoints just predicted and run again (``refine_iterations``). With
``test_time_augmentation`` each crop is also run turned and mirrored, and the outputs, mapped back, are averaged
(:func:`merge_augmented`).

numpy + OpenCV only; torch, onnxruntime or tensorrt are imported by the chosen backend alone.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..crop import (
    CropBox,
    box_from_keypoints,
    crop_matrix,
    dihedral_image,
    dihedral_matrix,
    invert_affine,
    transform_points,
    warp,
)
from ..depth import DepthConfig, DepthImage, keypoint_depths, refine_keypoint_depths, root_and_scale_from_depth
from ..fileio import json_safe
from ..geometry import Status, estimate_scale, lift_2p5d, reconstruct_3d, validate_intrinsics
from ..model.model_config import ModelConfig
from ..settings import validate
from ..skeleton import FINGERS
from .backends import create_backend
from .contract import Backend
from .pipeline_config import TTA_TRANSFORMS, PipelineConfig

if TYPE_CHECKING:
    from ..detection.palm_detector import PalmCrop

#: Image sides outside this range are refused (a 1x1 image cannot hold a hand; 16k is far beyond any camera).
MIN_IMAGE_SIDE = 16
MAX_IMAGE_SIDE = 16384

SCALE_BONE_PRIOR = "bone_prior"
SCALE_HAND_SIZE = "hand_size"
SCALE_DEPTH = "depth"


@dataclass
class HandPoseResult:
    """One hand's estimate. Arrays are float64 unless stated; 3D values are NaN when ``valid`` is False.

    Attributes:
        uv: (21, 2) keypoints in full-image pixels (of the image as given, i.e. distorted if it is).
        z_rel: (21,) root-relative depths divided by the reference bone length (the 2.5D pose).
        xyz: (21, 3) keypoints in metres in the camera's optical frame.
        xyz_normalized: (21, 3) scale-normalised 3D pose (reference bone length 1).
        keypoint_scores: (21,) confidences in [0, 1].
        score: overall confidence in [0, 1] (mean keypoint score).
        handedness: 'left' or 'right' (anatomical), and ``handedness_score`` its probability.
        root_depth: Z of the root keypoint in metres.
        scale: metres per normalised unit (the 3D length of the reference bone).
        scale_source: 'bone_prior', 'hand_size' or 'depth' (root depth and scale from an aligned depth image).
        crop: the crop box fed to the network on the last pass.
        valid: True when the 3D pose is usable (reconstruction succeeded and ``score`` reaches the crop's threshold:
            ``min_hand_score``, or the tracker's ``CropRequest.min_score`` for a hand it follows).
        status: 'ok', 'approximate' (noisy 2.5D, least-squares root depth), 'low_score', 'degenerate_bone',
            'behind_camera' or 'nonfinite'.
        root: index of the root keypoint; ``ref_bone`` the (parent, child) reference bone.
        prior_root_depth, prior_scale: the root depth and scale from the bone prior (or hand size) alone; equal to
            ``root_depth`` / ``scale`` unless the depth image gave them.
        depth_status: '' without a depth image; 'ok' (used), or why it was not: 'disagrees' (its root depth is more
            than ``depth.max_disagreement`` from the prior's), 'too_few_valid', 'inconsistent', 'degenerate'.
    """

    uv: np.ndarray
    z_rel: np.ndarray
    xyz: np.ndarray
    xyz_normalized: np.ndarray
    keypoint_scores: np.ndarray
    score: float
    handedness: str
    handedness_score: float
    root_depth: float
    scale: float
    scale_source: str
    crop: CropBox
    valid: bool
    status: str
    root: int = 0
    ref_bone: Tuple[int, int] = (0, 9)
    prior_root_depth: float = float("nan")
    prior_scale: float = float("nan")
    depth_status: str = ""
    depth_root_depth: float = float("nan")

    def to_dict(self) -> Dict:
        """JSON-ready form (lists; NaN becomes None)."""
        return json_safe(
            {
                "uv": self.uv,
                "z_rel": self.z_rel,
                "xyz": self.xyz,
                "xyz_normalized": self.xyz_normalized,
                "keypoint_scores": self.keypoint_scores,
                "score": float(self.score),
                "handedness": self.handedness,
                "handedness_score": float(self.handedness_score),
                "root_depth": self.root_depth,
                "scale": self.scale,
                "scale_source": self.scale_source,
                "crop": {"cx": self.crop.cx, "cy": self.crop.cy, "side": self.crop.side, "angle": self.crop.angle},
                "valid": bool(self.valid),
                "status": self.status,
                "root": self.root,
                "ref_bone": list(self.ref_bone),
                "prior_root_depth": self.prior_root_depth,
                "prior_scale": self.prior_scale,
                "depth_status": self.depth_status,
                "depth_root_depth": self.depth_root_depth,
            }
        )


_STATUS_NAMES = {
    int(Status.OK): "ok",
    int(Status.APPROXIMATE): "approximate",
    int(Status.NONFINITE_INPUT): "nonfinite",
    int(Status.DEGENERATE_BONE): "degenerate_bone",
    int(Status.BEHIND_CAMERA): "behind_camera",
}


@dataclass
class CropRequest:
    """A crop to run: the box, whether it came from keypoints (tight) or not (full frame / loose ROI), the score
    its hand needs to be valid (``min_score``; None: ``PipelineConfig.min_hand_score``; a tracker sets a lower one
    for a hand it already follows, see :attr:`hand_pose_25d.inference.tracking.TrackingConfig.min_score`), and
    whether it is a palm detector's crop (``detected``: turned to the hand, refined only with
    ``PipelineConfig.refine_detections``)."""

    box: CropBox
    from_keypoints: bool = False
    min_score: Optional[float] = None
    detected: bool = False


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an RGB image: (H, W, 3) uint8 with sides in [16, 16384]; ``ValueError`` naming the problem."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE or max(h, w) > MAX_IMAGE_SIDE:
        raise ValueError(
            f"image of {w}x{h} pixels is outside the supported {MIN_IMAGE_SIDE}..{MAX_IMAGE_SIDE} px per side"
        )
    return image


def merge_augmented(out: Mapping[str, np.ndarray], codes: Sequence[int], size: int) -> Dict[str, np.ndarray]:
    """Average network outputs over transformed copies of the same crops (test-time augmentation).

    Args:
        out: the backend's outputs for ``len(codes) * B`` crops, copy ``j`` of crop ``i`` at row ``j * B + i``,
            copy ``j`` transformed by :func:`hand_pose_25d.crop.dihedral_image` with ``codes[j]``: ``uv``
            (T*B, 21, 2) in crop pixels, ``z_rel`` (T*B, 21) in reference-bone units, ``keypoint_scores``
            (T*B, 21), ``handedness`` (T*B,) or (T*B, 1) probability of a right hand.
        codes: the T transform codes (0..7).
        size: crop side S in pixels.

    Returns:
        The same four outputs for the B crops: ``uv`` mapped back into the untransformed crop and averaged,
        ``z_rel`` and ``keypoint_scores`` averaged (both are unchanged by a turn or a mirror), ``handedness``
        averaged after swapping left and right for the mirrored copies.
    """
    T = len(codes)
    n = len(out["uv"])
    if T < 1 or n % T:
        raise ValueError(f"{n} outputs cannot be {T} copies of the same crops")
    B = n // T
    uv = np.stack(
        [
            transform_points(out["uv"][j * B : (j + 1) * B].astype(np.float64), invert_affine(dihedral_matrix(c, size)))
            for j, c in enumerate(codes)
        ]
    )
    right = np.asarray(out["handedness"], dtype=np.float64).reshape(T, B)
    right = np.where(np.array([bool(c & 4) for c in codes])[:, None], 1.0 - right, right)
    hand_shape = (B,) + np.shape(out["handedness"])[1:]
    return {
        "uv": uv.mean(axis=0).astype(np.float32),
        "z_rel": np.asarray(out["z_rel"], dtype=np.float64).reshape(T, B, -1).mean(axis=0).astype(np.float32),
        "keypoint_scores": np.asarray(out["keypoint_scores"], dtype=np.float64)
        .reshape(T, B, -1)
        .mean(axis=0)
        .astype(np.float32),
        "handedness": right.mean(axis=0).reshape(hand_shape).astype(np.float32),
    }


class HandPoseEstimator:
    """Metric 3D hand pose from an RGB image, its intrinsics and hand boxes.

    Args:
        config: pipeline settings (model, backend, device, thresholds, scale).
        backend: an already-built backend (overrides ``config.model``/``backend``); handy for tests and benchmarks.

    Raises:
        ValueError: a setting of ``config`` out of its range or choices.
        FileNotFoundError, ValueError, BackendUnavailable: from loading the model (see
        :func:`hand_pose_25d.inference.backends.create_backend`).
    """

    def __init__(self, config: Optional[PipelineConfig] = None, backend: Optional[Backend] = None) -> None:
        self.config = config or PipelineConfig()
        validate(self.config)
        self.backend = backend or create_backend(
            self.config.backend,
            self.config.model,
            device=self.config.device,
            fp16=self.config.fp16,
            num_threads=self.config.num_threads,
            max_batch=self.config.max_batch,
        )
        self.model_config: ModelConfig = self.backend.config
        self._bone_prior = self.model_config.bone_prior()
        self.last_timings: Dict[str, float] = {}
        from ..detection.palm_detector import load_detector

        #: The palm detector (None without one) and a line saying which one, or why there is none.
        self.detector, self.detector_status = load_detector(
            self.config.detector, device=str(self.config.device), num_threads=self.config.num_threads
        )
        self.last_detect_ms = 0.0

    # ---------------------------------------------------------------------------------------------- crop helpers

    def crop_from_keypoints(self, uv: np.ndarray, valid: Optional[np.ndarray] = None) -> CropRequest:
        """The crop the model expects around keypoints ``uv`` (21, 2): the box of training, padded."""
        return CropRequest(box_from_keypoints(uv, valid, padding=self.model_config.crop_padding), from_keypoints=True)

    def crop_from_roi(self, x: float, y: float, w: float, h: float) -> CropRequest:
        """A crop around a region of interest (x, y, w, h: top-left edge and size in pixels, as RegionOfInterest)."""
        return CropRequest(CropBox.from_xywh(x, y, w, h, padding=self.model_config.crop_padding), from_keypoints=False)

    @staticmethod
    def full_frame_crop(width: int, height: int) -> CropRequest:
        """A square crop covering the whole image (the hand is looked for everywhere)."""
        return CropRequest(
            CropBox((width - 1) / 2.0, (height - 1) / 2.0, float(max(width, height))), from_keypoints=False
        )

    def detect_crops(self, image: np.ndarray, max_hands: Optional[int] = None) -> Optional[List["PalmCrop"]]:
        """The crops of the hands the palm detector finds in a full frame (with their palm scores), best first; None
        without a detector.

        Args:
            image: (H, W, 3) uint8 RGB.
            max_hands: at most this many.

        The time taken is :attr:`last_detect_ms`.
        """
        if self.detector is None:
            return None
        t = time.perf_counter()
        hands = self.detector.detect(check_image(image), self.config.detector, max_hands)
        self.last_detect_ms = (time.perf_counter() - t) * 1000.0
        return [h.crop for h in hands]

    # ---------------------------------------------------------------------------------------------- main entry

    def estimate(
        self,
        image: np.ndarray,
        K: np.ndarray,
        crops: Optional[Sequence[Union[CropRequest, CropBox]]] = None,
        *,
        dist_coeffs: Optional[Sequence[float]] = None,
        depth: Optional[Union[np.ndarray, DepthImage]] = None,
        depth_config: Optional[DepthConfig] = None,
    ) -> List[HandPoseResult]:
        """Estimate one hand per crop.

        Args:
            image: (H, W, 3) uint8 RGB.
            K: (3, 3) intrinsics of ``image``.
            depth: optional (H, W) metres aligned to ``image`` (NaN: no measurement, see
                :func:`hand_pose_25d.depth.depth_to_metres`) or a :class:`hand_pose_25d.depth.DepthImage`: where it gives the hand's root depth and scale
                (:func:`hand_pose_25d.depth.root_and_scale_from_depth`, settings ``depth_config``), they replace the
                bone prior's (``scale_source`` 'depth'); elsewhere the prior stays.
            crops: one :class:`CropRequest` (or a bare :class:`CropBox`, taken as tight) per hand; ``None`` = the
                full frame.
            dist_coeffs: plumb_bob / rational_polynomial distortion of ``image`` (None or all zero: pinhole).

        Returns:
            One :class:`HandPoseResult` per crop, in order.

        Raises:
            ValueError: malformed image, intrinsics or distortion.
        """
        t0 = time.perf_counter()
        image = check_image(image)
        K = validate_intrinsics(K)
        if K.shape != (3, 3):
            raise ValueError(f"K must be (3, 3) for one image, got {K.shape}")
        h, w = image.shape[:2]
        if crops is None:
            requests = [self.full_frame_crop(w, h)]
        else:
            requests = [c if isinstance(c, CropRequest) else CropRequest(c, from_keypoints=True) for c in crops]
        if not requests:
            self.last_timings = {"preprocess": 0.0, "inference": 0.0, "decode": 0.0, "reconstruct": 0.0}
            return []
        timings = {"preprocess": 0.0, "inference": 0.0, "decode": 0.0, "reconstruct": 0.0}
        timings["preprocess"] += time.perf_counter() - t0

        uv, z, kp_scores, right_prob = self._run(image, [r.box for r in requests], timings)
        boxes = [r.box for r in requests]
        for _ in range(self.config.refine_iterations):
            redo = [
                i
                for i, r in enumerate(requests)
                if (not r.from_keypoints or not self.config.refine_full_frame_only)
                and (not r.detected or self.config.refine_detections)
                and np.isfinite(uv[i]).all()
            ]
            if not redo:
                break
            t = time.perf_counter()
            new_boxes = [box_from_keypoints(uv[i], padding=self.model_config.crop_padding) for i in redo]
            timings["preprocess"] += time.perf_counter() - t
            uv2, z2, s2, h2 = self._run(image, new_boxes, timings)
            for j, i in enumerate(redo):
                uv[i], z[i], kp_scores[i], right_prob[i] = uv2[j], z2[j], s2[j], h2[j]
                boxes[i] = new_boxes[j]

        t = time.perf_counter()
        thresholds = [self.config.min_hand_score if r.min_score is None else float(r.min_score) for r in requests]
        results = self._reconstruct(uv, z, kp_scores, right_prob, K, dist_coeffs, boxes, thresholds)
        if depth is not None:
            if not isinstance(depth, DepthImage):
                depth = np.asarray(depth)
            if tuple(depth.shape) != image.shape[:2]:
                raise ValueError(f"the depth image is {depth.shape[::-1]} but the colour image {image.shape[1::-1]}")
            results = [self._with_depth(r, depth, K, dist_coeffs, depth_config or DepthConfig()) for r in results]
        timings["reconstruct"] += time.perf_counter() - t
        self.last_timings = {k: v * 1000.0 for k, v in timings.items()}
        return results

    # ---------------------------------------------------------------------------------------------- stages

    def preprocess(self, image: np.ndarray, boxes: Sequence[CropBox]) -> Tuple[np.ndarray, np.ndarray]:
        """Warp each box to an (S, S, 3) crop. Returns crops (B, S, S, 3) uint8 and crop matrices (B, 2, 3)."""
        S = self.model_config.input_size
        mats = np.stack([crop_matrix(b, S) for b in boxes])
        crops = np.stack([warp(image, A, S) for A in mats])
        return crops, mats

    def _run(
        self, image: np.ndarray, boxes: Sequence[CropBox], timings: Dict[str, float]
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        t = time.perf_counter()
        crops, mats = self.preprocess(image, boxes)
        timings["preprocess"] += time.perf_counter() - t
        codes = TTA_TRANSFORMS[self.config.test_time_augmentation]
        if codes != (0,):
            t = time.perf_counter()
            crops = np.concatenate([np.stack([dihedral_image(c, code) for c in crops]) for code in codes])
            timings["preprocess"] += time.perf_counter() - t
        t = time.perf_counter()
        outs = []
        step = self.backend.max_batch or len(crops)
        for i in range(0, len(crops), step):
            outs.append(self.backend.infer(crops[i : i + step]))
        out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
        timings["inference"] += time.perf_counter() - t
        if codes != (0,):
            t = time.perf_counter()
            out = merge_augmented(out, codes, self.model_config.input_size)
            timings["decode"] += time.perf_counter() - t
        t = time.perf_counter()
        uv = transform_points(out["uv"].astype(np.float64), invert_affine(mats))
        z = out["z_rel"].astype(np.float64)
        scores = np.clip(out["keypoint_scores"].astype(np.float64), 0.0, 1.0)
        right = np.clip(out["handedness"].astype(np.float64).reshape(-1), 0.0, 1.0)
        bad = ~(np.isfinite(uv).all(axis=(1, 2)) & np.isfinite(z).all(axis=1))
        uv[bad] = np.nan
        z[bad] = np.nan
        scores[bad] = 0.0
        timings["decode"] += time.perf_counter() - t
        return uv, z, scores, right

    def _scale_prior(self) -> Tuple[Mapping[Tuple[int, int], float], str]:
        prior = self._bone_prior
        if self.config.hand_length > 0:
            chain = (0,) + FINGERS["middle"]
            nominal = sum(prior.get((a, b), 0.0) for a, b in zip(chain, chain[1:]))
            if nominal > 0:
                f = self.config.hand_length / nominal
                return {k: v * f for k, v in prior.items()}, SCALE_HAND_SIZE
        return prior, SCALE_BONE_PRIOR

    def _with_depth(
        self,
        r: HandPoseResult,
        depth: Union[np.ndarray, DepthImage],
        K: np.ndarray,
        dist_coeffs: Optional[Sequence[float]],
        cfg: DepthConfig,
    ) -> HandPoseResult:
        """``r`` with its root depth and scale from ``depth`` where that works (see :meth:`estimate`)."""
        if not (np.isfinite(r.uv).all() and np.isfinite(r.z_rel).all()) or r.status == "low_score":
            return r
        mc = self.model_config
        prior = self._bone_prior.get(tuple(mc.ref_bone), float(np.nanmedian(list(self._bone_prior.values()))))
        prior_scale = r.scale if np.isfinite(r.scale) else prior
        measured = keypoint_depths(depth, r.uv, cfg)
        fit = root_and_scale_from_depth(
            r.uv,
            r.z_rel,
            depth,
            K,
            prior_scale=prior_scale,
            cfg=cfg,
            dist_coeffs=dist_coeffs,
            root=int(mc.root),
            ref_bone=(int(mc.ref_bone[0]), int(mc.ref_bone[1])),
            measured=measured,
        )
        # fmt: skip
        if not fit.ok:
            return dataclasses.replace(r, depth_status=fit.reason)
        xyz = lift_2p5d(r.uv, r.z_rel, K, fit.root_depth, fit.scale, dist_coeffs)
        xyz, _ = refine_keypoint_depths(xyz, r.uv, depth, K, cfg, dist_coeffs, measured=measured)
        if not np.isfinite(xyz).all() or xyz[:, 2].min() <= 0:
            return dataclasses.replace(r, depth_status="degenerate")
        if np.isfinite(r.root_depth) and abs(fit.root_depth / r.root_depth - 1.0) > cfg.max_disagreement:
            return dataclasses.replace(r, depth_status="disagrees", depth_root_depth=float(fit.root_depth))
        return dataclasses.replace(
            r,
            xyz=xyz,
            root_depth=float(fit.root_depth),
            scale=float(fit.scale),
            scale_source=SCALE_DEPTH,
            prior_root_depth=r.root_depth,
            prior_scale=r.scale,
            valid=r.status != "low_score",
            depth_status="ok",
            depth_root_depth=float(fit.root_depth),
        )

    def _reconstruct(
        self,
        uv: np.ndarray,
        z: np.ndarray,
        scores: np.ndarray,
        right: np.ndarray,
        K: np.ndarray,
        dist_coeffs: Optional[Sequence[float]],
        boxes: Sequence[CropBox],
        thresholds: Sequence[float],
    ) -> List[HandPoseResult]:
        mc = self.model_config
        rec = reconstruct_3d(
            uv,
            z,
            K,
            root=mc.root,
            ref_bone=tuple(mc.ref_bone),
            dist_coeffs=dist_coeffs,
            bone_prior=self._bone_prior,
            return_details=True,
        )
        prior, source = self._scale_prior()
        scale = estimate_scale(np.where(rec.valid[:, None, None], rec.xyz, 0.0), prior)
        scale = np.where(rec.valid, scale, np.nan)
        results = []
        for i in range(len(boxes)):
            score = float(np.mean(scores[i]))
            valid = bool(rec.valid[i]) and np.isfinite(scale[i])
            status = _STATUS_NAMES[int(rec.status[i])]
            if valid and score < thresholds[i]:
                valid, status = False, "low_score"
            xyz = rec.xyz[i] * scale[i] if valid else np.full((mc.num_keypoints, 3), np.nan)
            p_right = float(right[i])
            results.append(
                HandPoseResult(
                    uv=uv[i],
                    z_rel=z[i],
                    xyz=xyz,
                    xyz_normalized=rec.xyz[i],
                    keypoint_scores=scores[i],
                    score=score,
                    handedness="right" if p_right >= 0.5 else "left",
                    handedness_score=p_right if p_right >= 0.5 else 1.0 - p_right,
                    root_depth=float(xyz[mc.root, 2]) if valid else float("nan"),
                    scale=float(scale[i]) if valid else float("nan"),
                    scale_source=source,
                    crop=boxes[i],
                    valid=valid,
                    status=status,
                    root=int(mc.root),
                    ref_bone=(int(mc.ref_bone[0]), int(mc.ref_bone[1])),
                    prior_root_depth=float(xyz[mc.root, 2]) if valid else float("nan"),
                    prior_scale=float(scale[i]) if valid else float("nan"),
                )
            )
        return results
