"""Evaluation metrics of the hand pose field: EPE, PCK curves, AUC, and the 3D alignment protocols (numpy only).

The conventions are those of Zimmermann & Brox (ICCV 2017, ``lmb-freiburg/hand3d``: class ``EvalUtil`` in
``utils/general.py``, scripts ``eval2d.py`` / ``eval3d.py``) and of FreiHAND (ICCV 2019, ``lmb-freiburg/freihand``:
``eval.py``, which ships the same ``EvalUtil``). What that code does, read from the source:

* **Distances.** ``feed(gt, vis, pred)`` stores, *per keypoint*, the Euclidean distance ``|gt_k - pred_k|`` of
  every sample where ``vis_k`` is true. Keypoints outside the mask are dropped, not counted as errors.
* **EPE.** ``get_measures`` computes, for each keypoint that has at least one distance, the mean and the median
  of its distances, then reports the **mean over keypoints of the per-keypoint means** ("Average mean EPE") and
  the **mean over keypoints of the per-keypoint medians** ("Average median EPE"). With a full mask the first
  equals the mean over all distances; the second is *not* the median over all distances. Both are reported here
  as ``epe_mean`` / ``epe_median``; the pooled mean and median over all distances are reported alongside as
  ``epe_mean_pooled`` / ``epe_median_pooled``.
* **PCK.** ``PCK_k(t) = mean(d_k <= t)`` (note ``<=``) per keypoint at ``thresholds = np.linspace(lo, hi, steps)``;
  the reported curve is the mean of the per-keypoint curves over the keypoints that have data (keypoints are
  *not* pooled: a rarely visible keypoint weighs as much as an always visible one).
* **AUC.** Per keypoint ``np.trapz(pck_k, thresholds) / np.trapz(ones, thresholds)`` (i.e. divided by
  ``hi - lo``), then averaged over keypoints. The trapezoid rule is linear, so this equals the AUC of the mean
  curve; :func:`auc` computes it from the mean curve.
* **Ranges.** 2D: ``get_measures(0.0, 30.0, 20)`` pixels (``eval2d.py``). 3D on RHD/STB: ``get_measures(0.0,
  0.050, 20)`` metres (``eval3d.py``), i.e. 0-50 mm in 20 steps. The "AUC 20-50 mm" that papers report on STB
  (Z&B compare with the curves of Zhang et al. at 20, 25, ..., 50 mm through ``calc_auc``) is computed here from
  the steps of that same 20-step linspace that lie in [20, 50] mm -- 21.05, 23.68, ..., 50 mm, 12 points -- and
  normalised by their span (50 - 21.05 mm), exactly as ``calc_auc(x, y)`` normalises by ``trapz(ones, x)``.
  FreiHAND: ``get_measures(0.0, 0.05, 100)`` metres, unaligned and Procrustes-aligned.
* **3D protocols.** Z&B (``eval3d.py``): the ground truth is made root-relative (``xyz - xyz[0]``, their root
  being the palm: ``BinaryDbReader(use_wrist_coord=False)`` replaces the RHD wrist by ``(wrist + middle MCP) / 2``)
  and the root-relative, scale-normalised prediction is multiplied by the ground-truth length of the reference
  bone (their ``keypoint_scale``: middle MCP -> middle PIP, which is ``(9, 10)`` in this package's order, see
  :data:`ZB_REF_BONE`). :func:`align_scale_by_bone` does the equivalent for a metric prediction (root and bone
  are parameters; the defaults are this package's wrist root and wrist -> middle MCP bone). FreiHAND
  (``align_w_scale``): a similarity transform (translation, rotation, one scale) fitted by least squares with
  ``scipy.linalg.orthogonal_procrustes``, which may return a *reflection*; :func:`procrustes_align` returns the
  best proper rotation by default and reproduces FreiHAND with ``allow_reflection=True``.

Non-finite values
-----------------
A ground-truth keypoint that is NaN/inf is treated as unlabeled (excluded like a masked-out keypoint). A
prediction that is NaN/inf at a keypoint the mask selects is, by default, a **miss**: its distance is ``+inf``, so
it fails every PCK threshold and makes ``epe_mean`` infinite (the median stays finite while fewer than half
fail). ``nonfinite_pred="ignore"`` drops such keypoints instead (biased: failures disappear from the figures) and
``"raise"`` raises ``ValueError``. The number of such keypoints is always reported (``num_nonfinite_pred``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

__all__ = [
    "PCK_2D_RANGE_PX",
    "PCK_3D_RANGE_MM",
    "AUC_3D_20_50_MM",
    "FREIHAND_RANGE_MM",
    "ZB_REF_BONE",
    "epe",
    "pck_thresholds",
    "pck_curve",
    "auc",
    "EvalSummary",
    "EvalAccumulator",
    "root_relative",
    "align_scale_by_bone",
    "procrustes_align",
    "report_2d",
    "report_3d",
    "evaluate_2d",
    "evaluate_3d",
    "evaluate_freihand",
    "PCK_NORMALIZED_RANGE",
    "keypoint_box_side",
    "normalized_distances",
    "evaluate_pck_normalized",
    "match_hands",
]

#: (lo, hi, steps) of the 2D PCK curve, pixels (Z&B ``eval2d.py``).
PCK_2D_RANGE_PX: Tuple[float, float, int] = (0.0, 30.0, 20)
#: (lo, hi, steps) of the 3D PCK curve on RHD/STB, millimetres (Z&B ``eval3d.py``: 0-0.05 m, 20 steps).
PCK_3D_RANGE_MM: Tuple[float, float, int] = (0.0, 50.0, 20)
#: Threshold interval of the reported "AUC 20-50 mm", taken from the steps of :data:`PCK_3D_RANGE_MM`.
AUC_3D_20_50_MM: Tuple[float, float] = (20.0, 50.0)
#: (lo, hi, steps) of FreiHAND's PCK curve, millimetres (``eval.py``: 0-0.05 m, 100 steps).
FREIHAND_RANGE_MM: Tuple[float, float, int] = (0.0, 50.0, 100)
#: (lo, hi, steps) of the PCK curve of distances normalised by the hand's box side (real photos: 0-0.5, step 0.01).
PCK_NORMALIZED_RANGE: Tuple[float, float, int] = (0.0, 0.5, 51)
#: Z&B's reference bone (their keypoints 12 -> 11: middle MCP -> middle PIP) in this package's keypoint order.
ZB_REF_BONE: Tuple[int, int] = (9, 10)

_NONFINITE_POLICIES = ("miss", "ignore", "raise")


# ----------------------------------------------------------------------------------------------------------------
# distances, PCK, AUC


def _as_points(arr: Any, name: str) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (..., K, D) (keypoints x coordinates), got {arr.shape}")
    return arr


def _broadcast_mask(mask: Any, shape: Tuple[int, ...]) -> np.ndarray:
    """Mask (..., K) broadcast to ``shape`` (the keypoint shape, without the coordinate axis)."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.dtype != bool:
        m = m.astype(np.float64) > 0.5
    try:
        return np.broadcast_to(m, shape)
    except ValueError:
        raise ValueError(f"mask of shape {m.shape} does not match keypoints of shape {shape}") from None


def epe(pred: Any, gt: Any, mask: Any = None) -> np.ndarray:
    """End-point error: the Euclidean distance of every keypoint.

    Args:
        pred: (..., K, D) predicted keypoints (pixels for D=2, any length unit for D=3).
        gt: (..., K, D) ground truth, same shape (broadcastable).
        mask: optional (..., K) bool (or 0/1) selecting the keypoints to evaluate (e.g. ``visible``).

    Returns:
        (..., K) distances in the unit of the inputs; NaN where ``mask`` is False, and NaN where either input
        is non-finite.
    """
    pred = _as_points(pred, "pred")
    gt = _as_points(gt, "gt")
    if pred.shape[-1] != gt.shape[-1] or pred.shape[-2] != gt.shape[-2]:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must have the same number of keypoints/coordinates")
    with np.errstate(invalid="ignore"):
        d = np.sqrt(np.sum((pred - gt) ** 2, axis=-1))
    m = _broadcast_mask(mask, d.shape)
    return np.where(m & np.isfinite(d), d, np.nan)


def pck_thresholds(lo: float, hi: float, steps: int) -> np.ndarray:
    """``np.linspace(lo, hi, steps)`` after checking ``lo < hi`` and ``steps >= 2`` (Z&B's threshold grid)."""
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"PCK threshold range must satisfy lo < hi, got lo={lo!r}, hi={hi!r}")
    if int(steps) != steps or steps < 2:
        raise ValueError(f"PCK needs at least 2 threshold steps, got {steps!r}")
    return np.linspace(float(lo), float(hi), int(steps))


def pck_curve(dist: Any, thresholds: Any, *, average: bool = True) -> np.ndarray:
    """Percentage of correct keypoints per threshold, Z&B style (per keypoint, then averaged over keypoints).

    Args:
        dist: (N, K) distances of N samples and K keypoints, or (N,) for a single keypoint. NaN marks a
            keypoint that is not evaluated (masked out); ``+inf`` is a miss (counts, fails every threshold).
        thresholds: (S,) thresholds in the unit of ``dist``; ``PCK(t) = fraction of d <= t``.
        average: return the mean curve over the keypoints that have at least one distance (S,); otherwise the
            per-keypoint curves (K, S) with NaN rows for keypoints without data.

    Returns:
        (S,) or (K, S) PCK values in [0, 1]. The mean curve is all NaN when no keypoint has data.
    """
    d = np.asarray(dist, dtype=np.float64)
    if d.ndim == 1:
        d = d[:, None]
    if d.ndim != 2:
        raise ValueError(f"dist must be (N, K) or (N,), got shape {d.shape}")
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    if t.size == 0:
        raise ValueError("thresholds must not be empty")
    valid = ~np.isnan(d)  # +inf stays valid (a miss)
    count = valid.sum(axis=0)  # (K,)
    # Count d <= t per keypoint by binary search in the sorted column (not-evaluated entries sort as +inf,
    # which no finite threshold reaches); memory O(N K), not O(N K S).
    srt = np.sort(np.where(valid, d, np.inf), axis=0)
    hits = np.stack([np.searchsorted(srt[:, j], t, side="right") for j in range(d.shape[1])])  # (K, S)
    hits = np.minimum(hits, count[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_kp = np.where(count[:, None] > 0, hits / np.maximum(count, 1)[:, None], np.nan)
    if not average:
        return per_kp
    has = count > 0
    if not np.any(has):
        return np.full(t.shape, np.nan)
    return per_kp[has].mean(axis=0)


def _trapezoid(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid-rule integral of ``y`` (..., S) over ``x`` (S,) (same as ``np.trapz(y, x)``)."""
    return np.sum(0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(x), axis=-1)


def auc(thresholds: Any, pck: Any, lo: Optional[float] = None, hi: Optional[float] = None) -> Any:
    """Normalised area under a PCK curve, as Z&B's ``calc_auc`` / ``EvalUtil.get_measures``.

    ``AUC = trapz(pck, t) / trapz(1, t)`` over the thresholds ``t`` that lie in ``[lo, hi]`` (all of them by
    default), so a perfect curve has AUC 1 whatever the range. With ``lo``/``hi`` only the existing steps inside
    the interval are used -- no interpolation: "AUC 20-50 mm" of a 0-50 mm / 20-step curve integrates from the
    first step >= 20 mm (21.05 mm) and divides by 50 - 21.05 mm.

    Args:
        thresholds: (S,) increasing thresholds.
        pck: (..., S) PCK values.
        lo, hi: optional bounds of the interval (inclusive, with a 1e-9 relative tolerance).

    Returns:
        float for a single curve, (...,) array for a batch.

    Raises:
        ValueError: fewer than two thresholds in the interval, non-increasing thresholds, or shape mismatch.
    """
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    y = np.asarray(pck, dtype=np.float64)
    if y.shape[-1:] != t.shape:
        raise ValueError(f"pck shape {y.shape} does not end with the number of thresholds {t.size}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("thresholds must be strictly increasing")
    tol = 1e-9 * max(1.0, float(np.max(np.abs(t))))
    sel = np.ones(t.shape, dtype=bool)
    if lo is not None:
        sel &= t >= lo - tol
    if hi is not None:
        sel &= t <= hi + tol
    if sel.sum() < 2:
        raise ValueError(f"AUC over [{lo}, {hi}] needs at least two thresholds inside it; thresholds are {t.tolist()}")
    ts, ys = t[sel], y[..., sel]
    out = _trapezoid(ys, ts) / (ts[-1] - ts[0])
    return float(out) if np.ndim(out) == 0 else out


# ----------------------------------------------------------------------------------------------------------------
# the accumulator (EvalUtil)


@dataclass
class EvalSummary:
    """Figures of an :class:`EvalAccumulator` over one threshold range (see the module docstring).

    Attributes:
        unit: unit of the distances and thresholds (e.g. ``"px"``, ``"mm"``), as given to the accumulator.
        thresholds: (S,) thresholds.
        pck: (S,) mean over keypoints (with data) of the per-keypoint PCK curves.
        pck_per_keypoint: (K, S); NaN rows for keypoints without data.
        auc: area under ``pck`` divided by the threshold range (= mean of the per-keypoint AUCs).
        auc_per_keypoint: (K,); NaN for keypoints without data.
        epe_mean: mean over keypoints of the per-keypoint mean EPE (Z&B "Average mean EPE").
        epe_median: mean over keypoints of the per-keypoint median EPE (Z&B "Average median EPE").
        epe_mean_pooled, epe_median_pooled: mean / median over all evaluated distances.
        epe_mean_per_keypoint, epe_median_per_keypoint: (K,); NaN for keypoints without data.
        count_per_keypoint: (K,) number of evaluated distances per keypoint.
        num_samples: number of hands fed.
        num_nonfinite_pred: evaluated keypoints whose prediction was NaN/inf (misses, or dropped with "ignore").
    """

    unit: str
    thresholds: np.ndarray
    pck: np.ndarray
    pck_per_keypoint: np.ndarray
    auc: float
    auc_per_keypoint: np.ndarray
    epe_mean: float
    epe_median: float
    epe_mean_pooled: float
    epe_median_pooled: float
    epe_mean_per_keypoint: np.ndarray
    epe_median_per_keypoint: np.ndarray
    count_per_keypoint: np.ndarray
    num_samples: int
    num_nonfinite_pred: int

    def auc_between(self, lo: float, hi: float) -> float:
        """AUC of :attr:`pck` restricted to the existing thresholds in ``[lo, hi]`` (see :func:`auc`)."""
        return float(auc(self.thresholds, self.pck, lo, hi))

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (lists and floats; NaN and inf become None)."""
        return {
            "unit": self.unit,
            "thresholds": _json_list(self.thresholds),
            "pck": _json_list(self.pck),
            "pck_per_keypoint": [_json_list(row) for row in self.pck_per_keypoint],
            "auc": _json_float(self.auc),
            "auc_per_keypoint": _json_list(self.auc_per_keypoint),
            "epe_mean": _json_float(self.epe_mean),
            "epe_median": _json_float(self.epe_median),
            "epe_mean_pooled": _json_float(self.epe_mean_pooled),
            "epe_median_pooled": _json_float(self.epe_median_pooled),
            "epe_mean_per_keypoint": _json_list(self.epe_mean_per_keypoint),
            "epe_median_per_keypoint": _json_list(self.epe_median_per_keypoint),
            "count_per_keypoint": [int(c) for c in self.count_per_keypoint],
            "num_samples": int(self.num_samples),
            "num_nonfinite_pred": int(self.num_nonfinite_pred),
        }


def _json_float(x: Any) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def _json_list(a: Any) -> List[Optional[float]]:
    return [_json_float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


class EvalAccumulator:
    """Streaming evaluation with the semantics of Z&B's / FreiHAND's ``EvalUtil``.

    Feed batches of predictions and ground truth, then ask for a :class:`EvalSummary` over any threshold range.
    Distances are stored per keypoint (masked-out keypoints are not stored), multiplied by ``scale`` on feed
    (e.g. ``scale=1000, unit="mm"`` to feed metres and report millimetres).

    Args:
        num_keypoints: K.
        unit: label of the unit of the stored distances (used by :func:`report_2d` / :func:`report_3d`).
        scale: factor applied to every distance when it is fed.
        nonfinite_pred: ``"miss"`` (default), ``"ignore"`` or ``"raise"`` -- see the module docstring.
    """

    def __init__(
        self, num_keypoints: int = 21, *, unit: str = "", scale: float = 1.0, nonfinite_pred: str = "miss"
    ) -> None:
        if int(num_keypoints) != num_keypoints or num_keypoints < 1:
            raise ValueError(f"num_keypoints must be a positive integer, got {num_keypoints!r}")
        if nonfinite_pred not in _NONFINITE_POLICIES:
            raise ValueError(f"nonfinite_pred must be one of {_NONFINITE_POLICIES}, got {nonfinite_pred!r}")
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        self.num_keypoints = int(num_keypoints)
        self.unit = str(unit)
        self.scale = float(scale)
        self.nonfinite_pred = nonfinite_pred
        self._chunks: List[np.ndarray] = []  # each (n, K): distance, NaN = not evaluated, inf = miss
        self.num_samples = 0
        self.num_nonfinite_pred = 0

    def feed(self, pred: Any, gt: Any, mask: Any = None) -> np.ndarray:
        """Add a batch.

        Args:
            pred: (K, D) or (N, K, D) predictions.
            gt: same shape, ground truth (non-finite ground-truth keypoints are excluded).
            mask: optional (K,) or (N, K) bool: keypoints to evaluate (Z&B: ``keypoint_vis``).

        Returns:
            (N, K) the stored distances (scaled), NaN where not evaluated, inf where a miss.
        """
        pred = _as_points(pred, "pred")
        gt = _as_points(gt, "gt")
        if pred.ndim == 2:
            pred = pred[None]
        if gt.ndim == 2:
            gt = gt[None]
        if pred.ndim != 3 or gt.ndim != 3:
            raise ValueError(f"feed expects (K, D) or (N, K, D) arrays, got pred {pred.shape}, gt {gt.shape}")
        pred, gt = np.broadcast_arrays(pred, gt)
        n, k, _ = pred.shape
        if k != self.num_keypoints:
            raise ValueError(f"expected {self.num_keypoints} keypoints, got {k}")
        m = np.asarray(mask) if mask is not None else None
        if m is not None and m.ndim == 1:
            m = m[None]
        sel = _broadcast_mask(m, (n, k)) & np.isfinite(gt).all(axis=-1)
        pred_ok = np.isfinite(pred).all(axis=-1)
        bad = sel & ~pred_ok
        nbad = int(bad.sum())
        if nbad and self.nonfinite_pred == "raise":
            raise ValueError(f"{nbad} evaluated keypoint(s) have non-finite predictions")
        with np.errstate(invalid="ignore"):
            d = np.sqrt(np.sum((pred - gt) ** 2, axis=-1)) * self.scale
        d = np.where(sel & pred_ok, d, np.nan)
        if self.nonfinite_pred == "miss":
            d = np.where(bad, np.inf, d)
        self._chunks.append(d)
        self.num_samples += n
        self.num_nonfinite_pred += nbad
        return d

    def distances(self) -> np.ndarray:
        """(N, K) all stored distances (NaN = not evaluated, inf = miss)."""
        if not self._chunks:
            return np.empty((0, self.num_keypoints))
        return np.concatenate(self._chunks, axis=0)

    def summary(self, lo: float, hi: float, steps: int) -> EvalSummary:
        """EPE, PCK and AUC over ``np.linspace(lo, hi, steps)`` (Z&B's ``get_measures(lo, hi, steps)``).

        Raises:
            ValueError: bad range, or nothing has been evaluated yet.
        """
        t = pck_thresholds(lo, hi, steps)
        d = self.distances()
        valid = ~np.isnan(d)
        count = valid.sum(axis=0)
        if not np.any(count):
            raise ValueError("no keypoint has been evaluated (nothing fed, or every keypoint masked out)")
        per_kp = pck_curve(d, t, average=False)
        has = count > 0
        mean_curve = per_kp[has].mean(axis=0)
        auc_kp = np.full(self.num_keypoints, np.nan)
        auc_kp[has] = auc(t, per_kp[has])
        mean_kp = np.full(self.num_keypoints, np.nan)
        med_kp = np.full(self.num_keypoints, np.nan)
        for j in np.flatnonzero(has):
            col = d[valid[:, j], j]
            mean_kp[j] = np.mean(col)
            med_kp[j] = np.median(col)
        pooled = d[valid]
        return EvalSummary(
            unit=self.unit,
            thresholds=t,
            pck=mean_curve,
            pck_per_keypoint=per_kp,
            auc=float(auc(t, mean_curve)),
            auc_per_keypoint=auc_kp,
            epe_mean=float(np.mean(mean_kp[has])),
            epe_median=float(np.mean(med_kp[has])),
            epe_mean_pooled=float(np.mean(pooled)),
            epe_median_pooled=float(np.median(pooled)),
            epe_mean_per_keypoint=mean_kp,
            epe_median_per_keypoint=med_kp,
            count_per_keypoint=count,
            num_samples=self.num_samples,
            num_nonfinite_pred=self.num_nonfinite_pred,
        )


# ----------------------------------------------------------------------------------------------------------------
# 3D alignment protocols


def root_relative(xyz: Any, root: int = 0) -> np.ndarray:
    """Keypoints (..., K, 3) minus their ``root`` keypoint (same shape, same unit)."""
    xyz = _as_points(xyz, "xyz")
    if not -xyz.shape[-2] <= root < xyz.shape[-2]:
        raise ValueError(f"root {root} is not a keypoint index (K = {xyz.shape[-2]})")
    return xyz - xyz[..., root : root + 1, :]


def align_scale_by_bone(pred: Any, gt: Any, bone: Tuple[int, int] = (0, 9), root: int = 0) -> np.ndarray:
    """Z&B's 3D protocol: the root-relative prediction rescaled so that ``bone`` has its ground-truth length.

    ``out = (pred - pred[root]) * |gt[b] - gt[a]| / |pred[b] - pred[a]| + gt[root]``: root position and global
    scale come from the ground truth, so ``epe(out, gt)`` is the error of the root-relative, ground-truth-scaled
    prediction against the root-relative ground truth (Z&B rescale with their bone middle MCP -> PIP,
    :data:`ZB_REF_BONE`; the default here is this package's reference bone wrist -> middle MCP).

    Args:
        pred, gt: (..., K, 3) keypoints (any metric unit, the same for both).
        bone: (a, b) keypoint indices of the reference bone.
        root: root keypoint index.

    Returns:
        (..., K, 3) aligned prediction; all NaN for hands whose predicted bone has zero/non-finite length.
    """
    pred = _as_points(pred, "pred")
    gt = _as_points(gt, "gt")
    k = pred.shape[-2]
    a, b = (int(i) for i in bone)
    if a == b or not (0 <= a < k and 0 <= b < k):
        raise ValueError(f"bone {bone!r} must join two different keypoints in 0..{k - 1}")
    if not 0 <= root < k:
        raise ValueError(f"root {root} is not a keypoint index (K = {k})")
    len_gt = np.linalg.norm(gt[..., b, :] - gt[..., a, :], axis=-1)
    len_pred = np.linalg.norm(pred[..., b, :] - pred[..., a, :], axis=-1)
    ok = np.isfinite(len_pred) & (len_pred > 0) & np.isfinite(len_gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(ok, len_gt / np.where(ok, len_pred, 1.0), np.nan)
    out = root_relative(pred, root) * s[..., None, None] + gt[..., root : root + 1, :]
    return np.where(ok[..., None, None], out, np.nan)


def procrustes_align(
    pred: Any,
    gt: Any,
    mask: Any = None,
    *,
    allow_reflection: bool = False,
    return_transform: bool = False,
):
    """Least-squares similarity alignment of ``pred`` onto ``gt`` (Umeyama 1991), batched.

    Finds ``s > 0``, ``R`` and ``t`` minimising ``sum_k |s R pred_k + t - gt_k|^2`` over the keypoints selected by
    ``mask`` and returns ``s R pred + t`` for all keypoints. With ``allow_reflection=False`` (default) ``R`` is a
    proper rotation (det +1): a mirrored prediction is *not* mirrored back. ``allow_reflection=True`` lets ``R``
    be any orthogonal matrix, which is what FreiHAND's ``align_w_scale`` (``scipy.linalg.orthogonal_procrustes``)
    does; their "aligned" figures use that.

    Args:
        pred, gt: (..., K, D) keypoints (D = 3 usually; any D >= 2 works).
        mask: optional (..., K) bool of the keypoints used for the fit (default all). Keypoints that are
            non-finite in ``pred`` or ``gt`` are always left out of the fit (and stay NaN in the output where
            ``pred`` is non-finite).
        allow_reflection: see above.
        return_transform: also return ``(s, R, t)`` with shapes (...,), (..., D, D), (..., D).

    Returns:
        (..., K, D) aligned prediction -- all NaN for a degenerate hand (fewer than 2 usable keypoints, or all
        of them at the same predicted position); with ``return_transform`` the tuple ``(aligned, s, R, t)``.
        Three or more non-collinear keypoints determine the transform uniquely.
    """
    pred = _as_points(pred, "pred")
    gt = _as_points(gt, "gt")
    if pred.shape[-1] < 2:
        raise ValueError(f"procrustes_align needs at least 2 coordinates per keypoint, got shape {pred.shape}")
    try:
        pred, gt = np.broadcast_arrays(pred, gt)
    except ValueError:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} do not match") from None
    finite = np.isfinite(pred).all(-1) & np.isfinite(gt).all(-1)
    w = (_broadcast_mask(mask, pred.shape[:-1]) & finite).astype(np.float64)
    p = np.where(finite[..., None], pred, 0.0)
    g = np.where(finite[..., None], gt, 0.0)
    n = w.sum(-1)
    n_safe = np.maximum(n, 1.0)
    mu_p = (w[..., None] * p).sum(-2) / n_safe[..., None]
    mu_g = (w[..., None] * g).sum(-2) / n_safe[..., None]
    X = (p - mu_p[..., None, :]) * np.sqrt(w)[..., None]
    Y = (g - mu_g[..., None, :]) * np.sqrt(w)[..., None]
    var_p = (X**2).sum((-1, -2))
    cov = np.swapaxes(Y, -1, -2) @ X  # (..., D, D) = sum_k w_k y_k x_k^T
    U, S, Vt = np.linalg.svd(cov)
    sign = np.ones(S.shape)
    if not allow_reflection:
        det = np.linalg.det(U) * np.linalg.det(Vt)
        sign[..., -1] = np.where(det < 0, -1.0, 1.0)
    R = U @ (sign[..., :, None] * Vt)
    degenerate = ~(var_p > 0) | ~np.isfinite(var_p) | (n < 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(degenerate, np.nan, (S * sign).sum(-1) / np.where(degenerate, 1.0, var_p))
        t = mu_g - s[..., None] * np.einsum("...ij,...j->...i", R, mu_p)
        aligned = s[..., None, None] * np.einsum("...ij,...kj->...ki", R, pred) + t[..., None, :]
    aligned = np.where(degenerate[..., None, None], np.nan, aligned)
    if return_transform:
        R = np.where(degenerate[..., None, None], np.nan, R)
        t = np.where(degenerate[..., None], np.nan, t)
        return aligned, s, R, t
    return aligned


# ----------------------------------------------------------------------------------------------------------------
# standard reports


def _report(s: EvalSummary, lo: float, hi: float, steps: int) -> Dict[str, Any]:
    return {
        "unit": s.unit,
        "epe_mean": _json_float(s.epe_mean),
        "epe_median": _json_float(s.epe_median),
        "epe_mean_pooled": _json_float(s.epe_mean_pooled),
        "epe_median_pooled": _json_float(s.epe_median_pooled),
        "auc": _json_float(s.auc),
        "range": [float(lo), float(hi), int(steps)],
        "thresholds": _json_list(s.thresholds),
        "pck": _json_list(s.pck),
        "num_samples": int(s.num_samples),
        "num_keypoints_evaluated": int(s.count_per_keypoint.sum()),
        "num_nonfinite_pred": int(s.num_nonfinite_pred),
    }


def report_2d(acc: EvalAccumulator) -> Dict[str, Any]:
    """The standard 2D figures of an accumulator fed with pixel coordinates (``unit="px"``).

    Returns a JSON-ready dict (NaN/inf -> None): ``unit`` ("px"), ``epe_mean`` / ``epe_median`` (Z&B: averaged
    over keypoints), ``epe_mean_pooled`` / ``epe_median_pooled``, ``auc`` (AUC 0-30 px), ``range`` ([0, 30, 20]),
    the PCK curve ``thresholds`` / ``pck``, and the counts ``num_samples``, ``num_keypoints_evaluated``,
    ``num_nonfinite_pred``.
    """
    if acc.unit != "px":
        raise ValueError(f"report_2d needs an accumulator of pixel distances (unit='px'), got unit={acc.unit!r}")
    return _report(acc.summary(*PCK_2D_RANGE_PX), *PCK_2D_RANGE_PX)


def report_3d(acc: EvalAccumulator, *, freihand: bool = False) -> Dict[str, Any]:
    """The standard 3D figures of an accumulator of millimetre distances (``unit="mm"``).

    The keys of :func:`report_2d` with ``unit`` "mm". RHD/STB (default): ``auc`` is AUC 0-50 mm over 20 steps and
    ``auc_20_50`` the AUC from the steps of that curve that lie in [20, 50] mm. ``freihand=True``: 0-50 mm in 100
    steps (FreiHAND's ``eval.py``), no ``auc_20_50``.
    """
    if acc.unit != "mm":
        raise ValueError(f"report_3d needs an accumulator of millimetre distances (unit='mm'), got {acc.unit!r}")
    rng = FREIHAND_RANGE_MM if freihand else PCK_3D_RANGE_MM
    s = acc.summary(*rng)
    out = _report(s, *rng)
    if not freihand:
        out["auc_20_50"] = _json_float(s.auc_between(*AUC_3D_20_50_MM))
    return out


def evaluate_2d(pred_uv: Any, gt_uv: Any, mask: Any = None, *, nonfinite_pred: str = "miss") -> Dict[str, Any]:
    """:func:`report_2d` of predictions (N, K, 2) against ground truth (N, K, 2) pixels, ``mask`` (N, K)."""
    pred_uv = _as_points(pred_uv, "pred_uv")
    acc = EvalAccumulator(pred_uv.shape[-2], unit="px", nonfinite_pred=nonfinite_pred)
    acc.feed(pred_uv, gt_uv, mask)
    return report_2d(acc)


_PROTOCOLS = ("absolute", "root_relative", "bone_scaled", "procrustes")


def evaluate_3d(
    pred_xyz: Any,
    gt_xyz: Any,
    mask: Any = None,
    *,
    protocol: str = "bone_scaled",
    root: int = 0,
    bone: Tuple[int, int] = (0, 9),
    nonfinite_pred: str = "miss",
) -> Dict[str, Any]:
    """:func:`report_3d` (RHD/STB ranges) of predictions against ground truth, both (N, K, 3) in **metres**.

    Args:
        protocol: ``"absolute"`` (camera coordinates as given: the paper's D+O/ED protocol), ``"root_relative"``
            (both made relative to ``root``), ``"bone_scaled"`` (Z&B: :func:`align_scale_by_bone` with ``bone``)
            or ``"procrustes"`` (proper-rotation similarity fit on the mask's keypoints).
        mask: (N, K) keypoints to evaluate (and to fit with ``"procrustes"``).

    Returns:
        The dict of :func:`report_3d` plus ``"protocol"``.
    """
    if protocol not in _PROTOCOLS:
        raise ValueError(f"protocol must be one of {_PROTOCOLS}, got {protocol!r}")
    pred = _as_points(pred_xyz, "pred_xyz")
    gt = _as_points(gt_xyz, "gt_xyz")
    if protocol == "root_relative":
        pred, gt = root_relative(pred, root), root_relative(gt, root)
    elif protocol == "bone_scaled":
        pred = align_scale_by_bone(pred, gt, bone=bone, root=root)
    elif protocol == "procrustes":
        pred = procrustes_align(pred, gt, mask)
    acc = EvalAccumulator(pred.shape[-2], unit="mm", scale=1000.0, nonfinite_pred=nonfinite_pred)
    acc.feed(pred, gt, mask)
    out = report_3d(acc)
    out["protocol"] = protocol
    return out


def evaluate_freihand(pred_xyz: Any, gt_xyz: Any, *, nonfinite_pred: str = "miss") -> Dict[str, Any]:
    """FreiHAND's keypoint figures for predictions and ground truth (N, 21, 3) in metres.

    Every keypoint is evaluated (FreiHAND feeds ``np.ones``), unaligned and after the similarity alignment of
    ``align_w_scale`` (reflections allowed, as ``scipy.linalg.orthogonal_procrustes`` does). Thresholds 0-50 mm
    in 100 steps.

    Returns:
        ``{"unaligned": report_3d(..., freihand=True), "aligned": ...}``.
    """
    pred = _as_points(pred_xyz, "pred_xyz")
    gt = _as_points(gt_xyz, "gt_xyz")
    out: Dict[str, Any] = {}
    for name, p in (("unaligned", pred), ("aligned", procrustes_align(pred, gt, allow_reflection=True))):
        acc = EvalAccumulator(pred.shape[-2], unit="mm", scale=1000.0, nonfinite_pred=nonfinite_pred)
        acc.feed(p, gt)
        out[name] = report_3d(acc, freihand=True)
    return out


# ----------------------------------------------------------------------------------------------------------------
# 2D figures normalised by the hand's size (real photos with 2D labels only)


def keypoint_box_side(uv: Any, mask: Any = None) -> np.ndarray:
    """Side of each hand's tight 2D keypoint box: ``max(width, height)`` of the box of its evaluated keypoints.

    Args:
        uv: (..., K, 2) keypoints; mask: (..., K) keypoints that count (default all finite ones).

    Returns:
        (...,) sides in the unit of ``uv``; NaN for a hand with no finite evaluated keypoint.
    """
    uv = _as_points(uv, "uv")
    if uv.shape[-1] != 2:
        raise ValueError(f"uv must be (..., K, 2), got {uv.shape}")
    m = _broadcast_mask(mask, uv.shape[:-1]) & np.isfinite(uv).all(axis=-1)
    lo = np.where(m[..., None], uv, np.inf).min(axis=-2)
    hi = np.where(m[..., None], uv, -np.inf).max(axis=-2)
    with np.errstate(invalid="ignore"):
        side = (hi - lo).max(axis=-1)
    return np.where(m.any(axis=-1), side, np.nan)


def normalized_distances(pred: Any, gt: Any, mask: Any = None, side: Any = None) -> np.ndarray:
    """Keypoint distances divided by the hand's box side (:func:`keypoint_box_side` of ``gt`` unless ``side``).

    Returns:
        (N, K) distances in hand box sides: NaN where the keypoint is not evaluated (masked out, non-finite ground
        truth), ``+inf`` where it is but the prediction is not finite (a miss: a hand not found, a failed output).

    Raises:
        ValueError: shapes that do not match, or a non-positive side.
    """
    pred = _as_points(pred, "pred")
    gt = _as_points(gt, "gt")
    if pred.shape != gt.shape or gt.ndim != 3 or gt.shape[-1] != 2:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (N, K, 2)")
    m = _broadcast_mask(mask, gt.shape[:-1]) & np.isfinite(gt).all(axis=-1)
    s = keypoint_box_side(gt, m) if side is None else np.asarray(side, dtype=np.float64).reshape(-1)
    if s.shape != (gt.shape[0],):
        raise ValueError(f"side must have one value per hand ({gt.shape[0]}), got shape {s.shape}")
    if np.any(s[m.any(axis=1)] <= 0) or not np.isfinite(s[m.any(axis=1)]).all():
        raise ValueError("every evaluated hand needs a positive, finite box side")
    d = epe(pred, gt, m) / np.where(np.isfinite(s) & (s > 0), s, 1.0)[:, None]
    miss = m & ~np.isfinite(pred).all(axis=-1)
    return np.where(miss, np.inf, d)


def evaluate_pck_normalized(
    pred: Any, gt: Any, mask: Any = None, *, side: Any = None, at: float = 0.2, names: Any = None
) -> Dict[str, Any]:
    """PCK of keypoints within ``at`` hand box sides, mean/median normalised error, per keypoint and overall.

    A keypoint is correct when ``|pred - gt| <= at * side`` with ``side`` the max(width, height) of the tight box
    of the hand's ground-truth keypoints (:func:`keypoint_box_side`). Non-finite predictions (misses) fail every
    threshold and are left out of the error averages (reported as ``num_missed_keypoints``).

    Args:
        pred, gt: (N, K, 2) pixels; mask: (N, K) evaluated keypoints (default all finite ground truth).
        side: (N,) box sides to use instead of the ground truth's.
        at: the headline threshold in box sides (0.2: PCK@0.2).
        names: optional K keypoint names for the per-keypoint figures.

    Returns:
        JSON-ready dict: ``pck`` (pooled over every evaluated keypoint), ``pck_mean_over_keypoints``,
        ``pck_per_keypoint``, ``error_mean`` / ``error_median`` (pooled, finite predictions) and
        ``error_mean_per_keypoint``, the curve ``thresholds`` / ``curve`` (per-keypoint PCK averaged over keypoints,
        0-0.5 in steps of 0.01) and its ``auc``, and the counts.
    """
    d = normalized_distances(pred, gt, mask, side)
    ev = ~np.isnan(d)
    fin = ev & np.isfinite(d)
    n_ev = int(ev.sum())
    t = pck_thresholds(*PCK_NORMALIZED_RANGE)
    curve = pck_curve(d, t)
    per_kp = pck_curve(d, np.array([float(at)]), average=False)[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        err_kp = np.where(fin.any(axis=0), np.where(fin, d, 0.0).sum(axis=0) / np.maximum(fin.sum(axis=0), 1), np.nan)
    out: Dict[str, Any] = {
        "unit": "hand box side (max of the width and height of the ground-truth keypoints' tight box)",
        "threshold": float(at),
        "pck": _json_float(np.sum(d[ev] <= at) / n_ev) if n_ev else None,
        "pck_mean_over_keypoints": _json_float(np.nanmean(per_kp)) if np.isfinite(per_kp).any() else None,
        "pck_per_keypoint": _json_list(per_kp),
        "error_mean": _json_float(d[fin].mean()) if fin.any() else None,
        "error_median": _json_float(np.median(d[fin])) if fin.any() else None,
        "error_mean_per_keypoint": _json_list(err_kp),
        "thresholds": _json_list(t),
        "curve": _json_list(curve),
        "auc": _json_float(auc(t, curve)) if np.isfinite(curve).all() else None,
        "range": [float(v) for v in PCK_NORMALIZED_RANGE],
        "num_hands": int(ev.any(axis=1).sum()),
        "num_keypoints_evaluated": n_ev,
        "num_missed_keypoints": int((ev & ~fin).sum()),
    }
    if names is not None:
        out["keypoint_names"] = [str(n) for n in names]
    return out


def match_hands(gt_uv: Any, pred_uv: Any, max_distance: float = 0.5) -> np.ndarray:
    """Match labelled hands to predicted hands of one image, nearest first, one to one.

    The distance of a pair is that of the centres of their tight keypoint boxes in labelled-hand box sides; pairs
    are taken in increasing distance, each hand at most once, while the distance is at most ``max_distance``.

    Args:
        gt_uv: (G, K, 2) labelled hands; pred_uv: (P, K, 2) predicted hands (non-finite keypoints are ignored).

    Returns:
        (G,) int: the index of the matched predicted hand, -1 for a labelled hand left unmatched (a miss).
    """
    gt = np.asarray(gt_uv, dtype=np.float64)
    pred = np.asarray(pred_uv, dtype=np.float64)
    if gt.ndim != 3 or gt.shape[-1] != 2:
        raise ValueError(f"gt_uv must be (G, K, 2), got {gt.shape}")
    out = np.full(len(gt), -1, dtype=int)
    if pred.size == 0 or len(gt) == 0:
        return out
    if pred.ndim != 3 or pred.shape[1:] != gt.shape[1:]:
        raise ValueError(f"pred_uv must be (P, {gt.shape[1]}, 2), got {pred.shape}")

    def centre(a: np.ndarray) -> np.ndarray:
        ok = np.isfinite(a).all(axis=-1, keepdims=True)
        lo = np.where(ok, a, np.inf).min(axis=-2)
        hi = np.where(ok, a, -np.inf).max(axis=-2)
        with np.errstate(invalid="ignore"):
            return (lo + hi) / 2.0

    side = keypoint_box_side(gt)
    cost = np.linalg.norm(centre(gt)[:, None] - centre(pred)[None], axis=-1) / side[:, None]
    cost = np.where(np.isfinite(cost), cost, np.inf)
    used = np.zeros(len(pred), dtype=bool)
    for flat in np.argsort(cost, axis=None, kind="stable"):
        g, p = divmod(int(flat), len(pred))
        if not cost[g, p] <= max_distance:
            break
        if out[g] < 0 and not used[p]:
            out[g], used[p] = p, True
    return out
