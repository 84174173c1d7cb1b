"""``hand-pose-25d eval``: run the inference pipeline on a labelled set and report the field's figures.

Every image goes through :class:`~hand_pose_25d.inference.pipeline.HandPoseEstimator` -- the same code path as
the node -- with the crop built from the ground-truth keypoints (the evaluation protocol of Zimmermann & Brox and
of the paper: the hand box is given). Reported (``metrics`` in the JSON):

* ``2d``: EPE mean/median in pixels of the full image and AUC 0-30 px;
* ``3d_root_relative``: the Z&B protocol -- the scale-normalised prediction made root-relative and multiplied by
  the ground-truth length of the model's reference bone; EPE in mm, AUC 0-50 mm and 20-50 mm;
* ``3d_absolute``: metric 3D in the camera frame with the estimated root depth and the bone-prior scale (the
  paper's D+O / ED protocol, what the node publishes);
* ``3d_absolute_gt_root_scale``: the same with the ground-truth root depth and scale (paper Table 2,
  "w. GT Z_root and s").

The JSON also holds every prediction and ground truth used (``predictions``, ``ground_truth``: one row per
image, in order), so the figures can be recomputed independently; ``info.conventions`` says exactly how.
Hands the pipeline could not reconstruct count as misses (infinite error) in the PCK/AUC figures and make
``epe_mean`` null; each 3D figure also reports ``valid_only`` EPEs over the reconstructed hands and their count.
The ground-truth root/scale variant needs only the 2.5D output (pixels and relative depths), so it is computed
for every hand whose 2.5D output is finite, reconstructed or not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import metrics as M
from .data.sample import HandSample
from .depth import simulate_depth
from .fileio import json_safe, write_json
from .geometry import lift_2p5d
from .inference.pipeline import HandPoseEstimator
from .inference.pipeline_config import PipelineConfig


@dataclass
class EvalResult:
    """Arrays collected over an evaluation (N hands) and the summary figures."""

    metrics: Dict[str, Any]
    arrays: Dict[str, np.ndarray]
    info: Dict[str, Any]

    def to_json(self) -> Dict[str, Any]:
        """JSON-ready dict: info, metrics, predictions and ground truth (non-finite numbers become null)."""
        return json_safe(
            {
                "info": self.info,
                "metrics": self.metrics,
                "predictions": {k: v for k, v in self.arrays.items() if k.startswith("pred_")},
                "ground_truth": {k: v for k, v in self.arrays.items() if k.startswith("gt_")},
            }
        )


def synthetic_samples(seed: int, num: int, width: int = 640, height: int = 480) -> Iterator[HandSample]:
    """``num`` full-frame synthetic samples of the renderer's default distribution with ``seed``."""
    from .data.synthetic import SyntheticHands

    gen = SyntheticHands(seed=seed)
    for i in range(num):
        yield gen.frame(i, width=width, height=height)


CONVENTIONS: Dict[str, str] = {
    "rows": "predictions.* and ground_truth.* hold one row per image, in the same order; units: pixels of the full "
    "image, metres for *_m",
    "mask": "keypoints evaluated = ground_truth.gt_mask (and gt_has_3d for 3D)",
    "epe_mean": "Zimmermann & Brox EvalUtil: per keypoint, the mean distance over the images where it is evaluated; "
    "then the mean over keypoints (epe_mean_pooled: mean over all distances)",
    "epe_median": "per keypoint the median distance, then the mean over keypoints (epe_median_pooled: the median "
    "over all distances)",
    "pck_auc": "per keypoint PCK(t) = mean(d <= t), averaged over keypoints; 2D thresholds linspace(0, 30, 20) px, "
    "3D linspace(0, 50, 20) mm; auc = trapz(pck, t) / (t_max - t_min); auc_20_50 over the thresholds of "
    "that grid within [20, 50] mm (21.05 ... 50 mm, 12 points)",
    "3d_root_relative": "pred_xyz_root_relative_m = (pred_xyz_normalized - pred_xyz_normalized[root]) * "
    "|gt_xyz[ref_bone[1]] - gt_xyz[ref_bone[0]]|, against gt_xyz - gt_xyz[root] (this package's "
    "root and reference bone, info.root / info.ref_bone)",
    "3d_absolute": "pred_xyz_absolute_m (estimated root depth, bone-prior scale: what the node publishes) against gt_xyz",
    "3d_absolute_gt_root_scale": "Z_k = gt_xyz[root, z] + pred_z_rel_k * |gt reference bone|, X_k, Y_k from pred_uv "
    "through K^-1",
    "misses": "a non-finite prediction at an evaluated keypoint (failed reconstruction) has infinite error: it fails "
    "every PCK threshold and makes epe_mean null; valid_only repeats the EPEs over the finite hands",
}


def evaluate(
    estimator: HandPoseEstimator,
    samples: Iterable[HandSample],
    *,
    num: Optional[int] = None,
    mask_mode: str = "labeled",
    progress: bool = True,
    info: Optional[Dict[str, Any]] = None,
    freihand: bool = False,
    depth: Optional[Dict[str, float]] = None,
) -> EvalResult:
    """Run the pipeline on ``samples`` (ground-truth crop) and compute every figure.

    Args:
        estimator: the pipeline (its model defines root and reference bone).
        samples: full-image samples with 3D labels (2D-only samples contribute to the 2D figures only).
        num: number of samples, for the progress bar.
        mask_mode: keypoints evaluated: 'labeled' (every annotated keypoint, occluded ones included) or 'visible'
            (the RHD/STB convention).
        progress: show a tqdm progress bar.
        depth: use each sample's depth image as a sensor would give it: the keyword arguments of
            :func:`hand_pose_25d.depth.simulate_depth` (noise, holes; seeded by the sample's position), and
            ``metrics["3d_absolute_bone_prior"]`` the same predictions placed with the bone prior instead;
            samples without a depth image are evaluated without.
        freihand: also report FreiHAND's figures (``metrics["freihand"]``: 0-50 mm in 100 steps, unaligned and
            Procrustes-aligned).
    """
    if mask_mode not in ("labeled", "visible"):
        raise ValueError(f"mask_mode must be 'labeled' or 'visible', got {mask_mode!r}")
    mc = estimator.model_config
    root, ref = mc.root, tuple(mc.ref_bone)
    rows: Dict[str, List[np.ndarray]] = {
        k: []
        for k in (
            "pred_uv",
            "pred_z_rel",
            "pred_xyz_normalized",
            "pred_xyz_absolute_m",
            "pred_xyz_root_relative_m",
            "pred_xyz_absolute_gt_root_scale_m",
            "pred_valid",
            "pred_status",
            "pred_score",
            "pred_keypoint_scores",
            "pred_root_depth_m",
            "pred_scale_m",
            "pred_crop",
            "pred_xyz_absolute_bone_prior_m",
            "pred_depth_used",
            "gt_uv",
            "gt_xyz_m",
            "gt_mask",
            "gt_has_3d",
            "gt_K",
        )
    }
    it: Iterable[HandSample] = samples
    if progress:
        from tqdm import tqdm

        it = tqdm(samples, total=num, desc="eval", unit="img")
    t_start = time.perf_counter()
    n = 0
    for s in it:
        crop = estimator.crop_from_keypoints(s.uv, s.labeled)
        dm = None
        if depth is not None and s.depth is not None:
            dm = simulate_depth(s.depth, np.random.default_rng([4242, n]), **depth)
        r = estimator.estimate(s.image, s.K, [crop], dist_coeffs=s.dist_coeffs, depth=dm)[0]
        prior_xyz = (
            lift_2p5d(r.uv, r.z_rel, s.K, r.prior_root_depth, r.prior_scale, s.dist_coeffs)
            if r.scale_source == "depth"
            else r.xyz
        )
        rows["pred_xyz_absolute_bone_prior_m"].append(prior_xyz)
        rows["pred_depth_used"].append(np.asarray(r.scale_source == "depth"))
        mask = s.labeled & (s.visible if mask_mode == "visible" else True)
        gt = s.xyz if s.xyz is not None else np.full((mc.num_keypoints, 3), np.nan)
        rows["pred_uv"].append(r.uv)
        rows["pred_z_rel"].append(r.z_rel)
        rows["pred_xyz_normalized"].append(r.xyz_normalized)
        rows["pred_xyz_absolute_m"].append(r.xyz)
        rows["pred_valid"].append(np.asarray(r.valid))
        rows["pred_status"].append(np.asarray(r.status))
        rows["pred_score"].append(np.asarray(r.score))
        rows["pred_keypoint_scores"].append(r.keypoint_scores)
        rows["pred_root_depth_m"].append(np.asarray(r.root_depth))
        rows["pred_scale_m"].append(np.asarray(r.scale))
        c = r.crop
        rows["pred_crop"].append(np.array([c.cx, c.cy, c.side, c.angle], dtype=np.float64))
        # Z&B: root-relative, scaled by the ground-truth length of the reference bone
        L_gt = np.linalg.norm(gt[ref[1]] - gt[ref[0]])
        rows["pred_xyz_root_relative_m"].append((r.xyz_normalized - r.xyz_normalized[root]) * L_gt)
        # ground-truth root depth and scale: Z_k = Z_root + z_rel_k * L, X = x_bar * Z
        rows["pred_xyz_absolute_gt_root_scale_m"].append(
            lift_2p5d(r.uv, r.z_rel, s.K, gt[root, 2], L_gt, s.dist_coeffs)
        )
        rows["gt_uv"].append(s.uv)
        rows["gt_xyz_m"].append(gt)
        rows["gt_mask"].append(mask)
        rows["gt_has_3d"].append(np.asarray(s.xyz is not None))
        rows["gt_K"].append(s.K)
        n += 1
    elapsed = time.perf_counter() - t_start
    if n == 0:
        raise ValueError("no samples to evaluate")
    arr = {k: np.stack(v) for k, v in rows.items()}
    # hands whose reconstruction failed are misses: their reconstructed coordinates are non-finite (the GT
    # root/scale variant is built from uv and z_rel alone and stays wherever those are finite)
    bad = ~arr["pred_valid"]
    for k in ("pred_xyz_absolute_m", "pred_xyz_root_relative_m", "pred_xyz_absolute_bone_prior_m"):
        arr[k][bad] = np.nan
    has3d = arr["gt_has_3d"]
    mask3 = arr["gt_mask"] & has3d[:, None]
    gt_xyz = arr["gt_xyz_m"]

    def with_valid_only(pred: np.ndarray, protocol: str) -> Dict[str, Any]:
        out = M.evaluate_3d(pred, gt_xyz, mask3, protocol=protocol, root=root)
        ok = np.isfinite(pred).all(axis=(1, 2))
        if ok.any():
            sub = M.evaluate_3d(pred[ok], gt_xyz[ok], mask3[ok], protocol=protocol, root=root)
            out["valid_only"] = {
                "num_hands": int(ok.sum()),
                "epe_mean": sub["epe_mean"],
                "epe_median": sub["epe_median"],
                "auc_20_50": sub["auc_20_50"],
            }
        else:
            out["valid_only"] = {"num_hands": 0, "epe_mean": None, "epe_median": None, "auc_20_50": None}
        return out

    metrics: Dict[str, Any] = {
        "2d": M.evaluate_2d(arr["pred_uv"], arr["gt_uv"], arr["gt_mask"]),
        "3d_root_relative": with_valid_only(arr["pred_xyz_root_relative_m"], "root_relative"),
        "3d_absolute": with_valid_only(arr["pred_xyz_absolute_m"], "absolute"),
        "3d_absolute_gt_root_scale": with_valid_only(arr["pred_xyz_absolute_gt_root_scale_m"], "absolute"),
        "num_hands": int(n),
        "num_invalid": int(bad.sum()),
        "depth_used": int(arr["pred_depth_used"].sum()),
        "invalid_status": {str(k): int(v) for k, v in zip(*np.unique(arr["pred_status"][bad], return_counts=True))},
        "mask": mask_mode,
        "seconds": round(elapsed, 2),
    }
    if depth is not None:
        metrics["3d_absolute_bone_prior"] = with_valid_only(arr["pred_xyz_absolute_bone_prior_m"], "absolute")
        metrics["depth_simulation"] = dict(depth)
    if freihand:
        ok3 = has3d & np.isfinite(arr["pred_xyz_absolute_m"]).all(axis=(1, 2))
        metrics["freihand"] = M.evaluate_freihand(arr["pred_xyz_absolute_m"][has3d], gt_xyz[has3d])
        metrics["freihand"]["num_hands"] = int(has3d.sum())
        metrics["freihand"]["num_reconstructed"] = int(ok3.sum())
    base_info = {
        "root": int(root),
        "ref_bone": [int(ref[0]), int(ref[1])],
        "backend": estimator.backend.describe(),
        "model_preset": mc.preset,
        "model_head": mc.head,
        "protocol": "ground-truth crop box (keypoints' box, model crop_padding); see hand_pose_25d.evaluation",
        "conventions": CONVENTIONS,
    }
    base_info.update(info or {})
    return EvalResult(metrics=metrics, arrays=arr, info=base_info)


def headline(result: EvalResult) -> Dict[str, float]:
    """The few figures printed at the end of ``hand-pose-25d eval``."""
    m = result.metrics
    return {
        "num_hands": m["num_hands"],
        "2d_epe_mean_px": m["2d"]["epe_mean"],
        "2d_epe_median_px": m["2d"]["epe_median"],
        "2d_auc_0_30px": m["2d"]["auc"],
        "3d_rootrel_epe_mean_mm": m["3d_root_relative"]["epe_mean"],
        "3d_rootrel_epe_median_mm": m["3d_root_relative"]["epe_median"],
        "3d_rootrel_auc_20_50mm": m["3d_root_relative"]["auc_20_50"],
        "3d_abs_epe_mean_mm": m["3d_absolute"]["epe_mean"],
        "3d_abs_epe_mean_valid_only_mm": m["3d_absolute"]["valid_only"]["epe_mean"],
        "3d_abs_gt_root_scale_epe_mean_mm": m["3d_absolute_gt_root_scale"]["epe_mean"],
        "invalid": m["num_invalid"],
        **(
            {
                "3d_abs_epe_median_mm": m["3d_absolute"]["epe_median"],
                "3d_abs_bone_prior_epe_median_mm": m["3d_absolute_bone_prior"]["epe_median"],
                "depth_used": m["depth_used"],
            }
            if "3d_absolute_bone_prior" in m
            else {}
        ),
    }


def plot_pck(result: EvalResult, path: Path, title: str = "") -> None:
    """PCK curves (2D in px; 3D root-relative, absolute, absolute with GT root/scale in mm) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = result.metrics
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax = axes[0]
    ax.plot(m["2d"]["thresholds"], m["2d"]["pck"], "o-", label=f"AUC 0-30 px = {m['2d']['auc']:.3f}")
    ax.set_xlabel("threshold (px)")
    ax.set_ylabel("PCK")
    ax.set_title("2D")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax = axes[1]
    for key, label in (
        ("3d_root_relative", "root-relative, GT bone scale"),
        ("3d_absolute_gt_root_scale", "absolute, GT root + scale"),
        ("3d_absolute", "absolute, estimated root + scale"),
    ):
        d = m[key]
        ax.plot(d["thresholds"], d["pck"], "o-", ms=3, label=f"{label} (AUC 20-50 = {d['auc_20_50']:.3f})")
    ax.axvspan(20, 50, color="grey", alpha=0.08)
    ax.set_xlabel("threshold (mm)")
    ax.set_title("3D")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(
        title or f"{result.info.get('model_preset', '')} on {result.info.get('data', '')} (N={m['num_hands']})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_result_json(result: EvalResult, path: Path) -> None:
    """Write :meth:`EvalResult.to_json` to ``path`` as strict JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result.to_json(), indent=None)


def pipeline_for_eval(
    model: str, backend: str = "onnxruntime", device: str = "cpu", threads: int = 0, tta: str = "none"
) -> HandPoseEstimator:
    """An estimator configured for evaluation: no refinement (the crop is given), no score threshold.

    ``tta``: :attr:`hand_pose_25d.inference.pipeline_config.PipelineConfig.test_time_augmentation` ('none', 'mirror', 'dihedral').
    """
    cfg = PipelineConfig(
        model=model,
        backend=backend,
        device=device,
        num_threads=threads,
        refine_iterations=0,
        min_hand_score=0.0,
        test_time_augmentation=tta,
    )
    return HandPoseEstimator(cfg)


def dataset_samples(name: str, root: str, split: str, num: Optional[int]) -> Sequence[HandSample]:
    """Samples of a public dataset (first ``num`` of them) through the dataset registry."""
    from .data.registry import open_dataset

    ds = open_dataset(name, root, split)
    if num is not None and num > 0:
        return [ds[i] for i in range(min(num, len(ds)))]
    return ds


# --------------------------------------------------------------------------------------------------------------
# real photos with 2D labels (hand_pose_25d.data.photos): PCK of the hand box side, box given and whole image

#: ``--mode`` of ``eval --data photos``.
PHOTO_MODES = ("box", "whole", "both")
#: A labelled hand and a predicted one match when their keypoint-box centres are at most this many labelled box
#: sides apart (:func:`hand_pose_25d.metrics.match_hands`).
PHOTO_MATCH_MAX_DISTANCE = 0.5

PHOTO_CONVENTIONS: Dict[str, str] = {
    "rows": "ground_truth.* and predictions.* hold one row per kept labelled hand, in the order of info.hands",
    "box_side": "ground_truth.gt_box_side = max(width, height) of the tight box of the hand's 21 labelled keypoints "
    "(pixels of the whole photo)",
    "pck": "a keypoint is correct when |pred - gt| <= threshold * box side; pck pools every labelled keypoint, "
    "pck_per_keypoint is per keypoint; the curve is the per-keypoint PCK averaged over keypoints at thresholds "
    "0, 0.01, ..., 0.5, auc its normalised area",
    "error": "error_mean / error_median: |pred - gt| / box side over the keypoints with a prediction",
    "box": "the hand box given: the crop the model was trained on around the labelled keypoints (their box, padded "
    "by the model's crop_padding: HandPoseEstimator.crop_from_keypoints), one pass, no refinement, no score "
    "threshold (as the other eval sets)",
    "whole": "the whole photo as 'hand-pose-25d predict' runs it without --box: the palm detector (up to max_hands), "
    "then the pose network on each detection with the pipeline's settings (refinement, score threshold), duplicates "
    "removed by the tracker; each labelled hand is matched, nearest first and one to one, to a published hand "
    "whose keypoint-box centre is within match_max_distance labelled box sides; an unmatched labelled hand is a "
    "miss (its keypoints fail every threshold); detection_rate = matched / labelled hands (a hand the pipeline "
    "finds but judges invalid -- low score, or no 3D reconstruction with the nominal K -- is not published, as in "
    "predict); num_with_palm_detection: labelled hands whose keypoint box holds a palm detection's crop centre",
    "no_3d": "the photos have 2D labels only: no 3D figure; K is a nominal pinhole (focal 0.9 x the longer side)",
}


def pipeline_for_whole_images(
    model: str,
    backend: str = "onnxruntime",
    device: str = "cpu",
    threads: int = 0,
    tta: str = "none",
    detector: str = "default",
) -> HandPoseEstimator:
    """An estimator configured as ``hand-pose-25d predict`` without ``--box``: the pipeline's defaults (refinement,
    score threshold) and the palm detector ``detector`` ('default', 'none' or a file)."""
    from .settings import from_dict, to_dict

    base = to_dict(PipelineConfig())
    base["detector"]["model"] = detector
    base.update(model=model, backend=backend, device=device, num_threads=threads, test_time_augmentation=tta)
    return HandPoseEstimator(from_dict(PipelineConfig, base))


def whole_image_hands(
    est: HandPoseEstimator, image: np.ndarray, K: np.ndarray, max_hands: int = 2
) -> Tuple[List[Any], Optional[List[Any]]]:
    """The hands ``hand-pose-25d predict`` publishes for one image without ``--box``: the palm detector's crops
    (the whole image when there is no detector), the pipeline on them, duplicates removed by the node's tracker.

    Returns:
        (the published :class:`HandPoseResult` s, the detector's crops or None without a detector).
    """
    from .inference.tracking import HandTracker, TrackingConfig

    cfg = TrackingConfig(crop_mode="track", max_hands=int(max_hands), full_frame_fallback=est.detector is None)
    tracker = HandTracker()
    planned, detections = tracker.plan_frame(cfg, est, image, 0)  # a fresh tracker: the detector runs
    results = est.estimate(image, K, [p.request for p in planned]) if planned else []
    return [t.result for t in tracker.update(cfg, planned, results, 0)], detections


def evaluate_photos(
    dataset: Any,
    *,
    box_estimator: Optional[HandPoseEstimator] = None,
    whole_estimator: Optional[HandPoseEstimator] = None,
    max_hands: int = 2,
    threshold: float = 0.2,
    progress: bool = True,
    info: Optional[Dict[str, Any]] = None,
) -> EvalResult:
    """PCK@``threshold`` of the hand box side on labelled real photos, box given and/or on the whole image.

    Args:
        dataset: a :class:`hand_pose_25d.data.photos.PhotosDataset` (its ``photos``: kept hands by photo).
        box_estimator: the pipeline for the box-given figures (:func:`pipeline_for_eval`); None skips them.
        whole_estimator: the pipeline for the whole-image figures (:func:`pipeline_for_whole_images`); None skips.
        max_hands: whole image: most hands per photo (as ``predict --max-hands``).

    Returns:
        ``metrics["box"]`` / ``metrics["whole"]``: :func:`hand_pose_25d.metrics.evaluate_pck_normalized`, plus
        (whole) ``detection_rate`` and the matched-only figures; see :data:`PHOTO_CONVENTIONS`.
    """
    from .skeleton import KEYPOINT_NAMES

    if box_estimator is None and whole_estimator is None:
        raise ValueError("evaluate_photos needs a box and/or a whole-image estimator")
    photos = [p for p in dataset.photos if p.hands]
    if not photos:
        raise ValueError(f"{dataset.root} has no kept labelled hand to evaluate")
    nk = len(KEYPOINT_NAMES)
    gt, hands_info = [], []
    box_rows: Dict[str, List[Any]] = {"uv": [], "valid": [], "score": [], "crop": []}
    whole_rows: Dict[str, List[Any]] = {"uv": [], "matched": [], "score": [], "palm_detected": []}
    photo_rows: List[Dict[str, Any]] = []
    it: Iterable[Any] = photos
    if progress:
        from tqdm import tqdm

        it = tqdm(photos, desc="eval photos", unit="photo")
    t_start = time.perf_counter()
    for photo in it:
        image = photo.read()
        K = photo.intrinsics()
        g = np.stack([h.uv for h in photo.hands])
        gt.append(g)
        hands_info += [{"image": str(photo.path), "hand": h.index} for h in photo.hands]
        row: Dict[str, Any] = {"image": str(photo.path), "labelled_hands": len(photo.hands)}
        if box_estimator is not None:
            crops = [box_estimator.crop_from_keypoints(h.uv) for h in photo.hands]
            for r in box_estimator.estimate(image, K, crops):
                box_rows["uv"].append(r.uv)
                box_rows["valid"].append(bool(r.valid))
                box_rows["score"].append(float(r.score))
                box_rows["crop"].append([r.crop.cx, r.crop.cy, r.crop.side, r.crop.angle])
        if whole_estimator is not None:
            found, dets = whole_image_hands(whole_estimator, image, K, max_hands)
            pred = np.stack([r.uv for r in found]) if found else np.zeros((0, nk, 2))
            match = M.match_hands(g, pred, PHOTO_MATCH_MAX_DISTANCE)
            for j in match:
                whole_rows["uv"].append(pred[j] if j >= 0 else np.full((nk, 2), np.nan))
                whole_rows["matched"].append(bool(j >= 0))
                whole_rows["score"].append(float(found[j].score) if j >= 0 else float("nan"))
            for h in photo.hands:  # a palm detection whose crop centre lies in the labelled keypoints' box
                lo, hi = h.uv.min(0), h.uv.max(0)
                whole_rows["palm_detected"].append(
                    any(lo[0] <= d.cx <= hi[0] and lo[1] <= d.cy <= hi[1] for d in dets or [])
                )
            row.update(palm_detections=len(dets or []), predicted_hands=len(found), matched=int((match >= 0).sum()))
        photo_rows.append(row)
    elapsed = time.perf_counter() - t_start
    gt_uv = np.concatenate(gt)
    side = M.keypoint_box_side(gt_uv)
    arrays: Dict[str, np.ndarray] = {"gt_uv": gt_uv, "gt_box_side": side}
    metrics: Dict[str, Any] = {
        "num_photos": len(photos),
        "num_hands": int(len(gt_uv)),
        "num_dropped_by_review": int(dataset.num_dropped),
        "seconds": round(elapsed, 2),
    }
    if box_estimator is not None:
        arrays.update({f"pred_box_{k}": np.asarray(v) for k, v in box_rows.items()})
        m = M.evaluate_pck_normalized(arrays["pred_box_uv"], gt_uv, at=threshold, names=KEYPOINT_NAMES)
        m["num_invalid"] = int((~arrays["pred_box_valid"]).sum())
        metrics["box"] = m
    if whole_estimator is not None:
        arrays.update({f"pred_whole_{k}": np.asarray(v) for k, v in whole_rows.items()})
        matched = arrays["pred_whole_matched"]
        m = M.evaluate_pck_normalized(arrays["pred_whole_uv"], gt_uv, at=threshold, names=KEYPOINT_NAMES)
        m["detection_rate"] = float(matched.mean())
        m["num_detected"] = int(matched.sum())
        m["num_with_palm_detection"] = int(arrays["pred_whole_palm_detected"].sum())
        m["num_predicted_hands"] = int(sum(r["predicted_hands"] for r in photo_rows))
        m["num_unmatched_predictions"] = m["num_predicted_hands"] - m["num_detected"]
        m["match_max_distance"] = PHOTO_MATCH_MAX_DISTANCE
        m["max_hands"] = int(max_hands)
        m["detector"] = whole_estimator.detector_status if whole_estimator.detector is not None else "none"
        if matched.any():
            sub = M.evaluate_pck_normalized(arrays["pred_whole_uv"][matched], gt_uv[matched], at=threshold)
            m["matched_only"] = {k: sub[k] for k in ("pck", "error_mean", "error_median", "num_hands")}
        else:
            m["matched_only"] = {"pck": None, "error_mean": None, "error_median": None, "num_hands": 0}
        metrics["whole"] = m
    est = box_estimator or whole_estimator
    base_info: Dict[str, Any] = {
        "data": "photos",
        "labeller": dataset.labeller,
        "backend": est.backend.describe(),
        "model_preset": est.model_config.preset,
        "model_head": est.model_config.head,
        "threshold": float(threshold),
        "modes": [k for k in ("box", "whole") if k in metrics],
        "protocol": "2D only, PCK of the labelled hand's box side; see info.conventions",
        "conventions": PHOTO_CONVENTIONS,
        "hands": hands_info,
        "photos": photo_rows,
    }
    base_info.update(info or {})
    return EvalResult(metrics=metrics, arrays=arrays, info=base_info)


def headline_photos(result: EvalResult) -> Dict[str, Any]:
    """The few figures printed at the end of ``hand-pose-25d eval --data photos``."""
    m = result.metrics
    out: Dict[str, Any] = {"num_photos": m["num_photos"], "num_hands": m["num_hands"]}
    t = result.info.get("threshold", 0.2)
    if "box" in m:
        out[f"box_pck@{t:g}"] = m["box"]["pck"]
        out["box_error_mean"] = m["box"]["error_mean"]
        out["box_auc_0_0.5"] = m["box"]["auc"]
    if "whole" in m:
        out["whole_detection_rate"] = m["whole"]["detection_rate"]
        out[f"whole_pck@{t:g}"] = m["whole"]["pck"]
        out[f"whole_pck@{t:g}_matched_only"] = m["whole"]["matched_only"]["pck"]
        out["whole_error_mean_matched"] = m["whole"]["error_mean"]
    return out


def plot_pck_photos(result: EvalResult, path: Path, title: str = "") -> None:
    """PCK curves over 0-0.5 hand box sides (box given and/or whole image) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = result.metrics
    t = result.info.get("threshold", 0.2)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for key, label in (("box", "hand box given"), ("whole", "whole image (detector)")):
        if key in m:
            d = m[key]
            extra = f", detected {d['num_detected']}/{m['num_hands']}" if key == "whole" else ""
            ax.plot(d["thresholds"], d["curve"], "-", label=f"{label}: PCK@{t:g} = {d['pck']:.3f}{extra}")
    ax.axvline(t, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("threshold (fraction of the labelled hand's box side)")
    ax.set_ylabel("PCK")
    ax.set_xlim(0, 0.5)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(
        title
        or f"{result.info.get('model_preset', '')} on real photos ({m['num_hands']} hands, {m['num_photos']} photos)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
