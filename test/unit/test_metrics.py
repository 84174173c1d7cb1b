"""Tests of hand_pose_25d.metrics against hand computations and a direct re-statement of Z&B's EvalUtil formula."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hand_pose_25d import metrics as M

from handgen import random_rotation, random_scenes

# ----------------------------------------------------------------------------------------------------------------
# an independent statement of the Zimmermann & Brox / FreiHAND EvalUtil computation (loops, lists, np.trapz rule)


class ZBReference:
    """Per-keypoint lists of distances of visible keypoints; measures averaged over keypoints that have data."""

    def __init__(self, k: int) -> None:
        self.lists = [[] for _ in range(k)]

    def feed(self, gt: np.ndarray, vis: np.ndarray, pred: np.ndarray) -> None:
        for j in range(gt.shape[0]):
            if vis[j]:
                self.lists[j].append(float(np.sqrt(np.sum((gt[j] - pred[j]) ** 2))))

    def measures(self, lo: float, hi: float, steps: int):
        ts = np.linspace(lo, hi, steps)
        norm = sum((ts[i + 1] - ts[i]) for i in range(len(ts) - 1))
        means, medians, aucs, curves = [], [], [], []
        for data in self.lists:
            if not data:
                continue
            arr = np.array(data)
            means.append(arr.mean())
            medians.append(np.median(arr))
            curve = np.array([np.mean(arr <= t) for t in ts])
            curves.append(curve)
            area = sum(0.5 * (curve[i] + curve[i + 1]) * (ts[i + 1] - ts[i]) for i in range(len(ts) - 1))
            aucs.append(area / norm)
        return np.mean(means), np.mean(medians), np.mean(aucs), np.mean(curves, axis=0), ts


# ----------------------------------------------------------------------------------------------------------------
# epe / pck / auc by hand


def test_epe_hand_computed_and_mask():
    gt = np.zeros((2, 3, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 1.0], [6.0, 8.0]], [[0.0, 0.0], [5.0, 12.0], [1.0, 1.0]]])
    d = M.epe(pred, gt)
    np.testing.assert_allclose(d, [[5.0, 1.0, 10.0], [0.0, 13.0, np.sqrt(2.0)]])
    mask = np.array([[True, False, True], [False, True, True]])
    dm = M.epe(pred, gt, mask)
    assert np.isnan(dm[0, 1]) and np.isnan(dm[1, 0])
    np.testing.assert_allclose(dm[0, [0, 2]], [5.0, 10.0])
    # 3D, a 0/1 float mask, and NaN input -> NaN distance
    p3 = np.array([[1.0, 2.0, 2.0], [np.nan, 0.0, 0.0]])
    np.testing.assert_allclose(M.epe(p3[:1], np.zeros((1, 3)), [1.0]), [3.0])
    assert np.isnan(M.epe(p3, np.zeros((2, 3)))[1])


def test_epe_shape_errors():
    with pytest.raises(ValueError, match="keypoints"):
        M.epe(np.zeros((21, 3)), np.zeros((20, 3)))
    with pytest.raises(ValueError, match="mask"):
        M.epe(np.zeros((4, 21, 3)), np.zeros((4, 21, 3)), np.ones((4, 20), bool))
    with pytest.raises(ValueError, match="shape"):
        M.epe(np.zeros(3), np.zeros(3))


def test_pck_curve_hand_computed_inclusive_threshold():
    # keypoint 0: distances 1, 2, 3, 4; keypoint 1: 0.5, NaN (masked), 10, 10
    d = np.array([[1.0, 0.5], [2.0, np.nan], [3.0, 10.0], [4.0, 10.0]])
    t = np.array([0.0, 1.0, 2.5, 4.0])
    per = M.pck_curve(d, t, average=False)
    np.testing.assert_allclose(per[0], [0.0, 0.25, 0.5, 1.0])  # d <= 1 counts at t = 1, d <= 4 at t = 4
    np.testing.assert_allclose(per[1], [0.0, 1 / 3, 1 / 3, 1 / 3])  # the NaN is not a sample
    np.testing.assert_allclose(M.pck_curve(d, t), (per[0] + per[1]) / 2)
    # a keypoint without any data is left out of the average, not counted as zero
    d2 = np.column_stack([d[:, 0], np.full(4, np.nan)])
    np.testing.assert_allclose(M.pck_curve(d2, t), per[0])
    assert np.all(np.isnan(M.pck_curve(d2, t, average=False)[1]))
    # +inf is a miss
    np.testing.assert_allclose(M.pck_curve(np.array([1.0, np.inf]), [2.0]), [0.5])


def test_auc_hand_computed():
    t = np.linspace(0, 30, 20)
    assert M.auc(t, np.ones(20)) == pytest.approx(1.0)
    assert M.auc(t, np.zeros(20)) == pytest.approx(0.0)
    assert M.auc(t, t / 30.0) == pytest.approx(0.5)  # linear curve: exact under the trapezoid rule
    # step curve: 0 at the first 10 thresholds, 1 at the last 10 -> one half-weight trapezoid in between
    y = np.r_[np.zeros(10), np.ones(10)]
    dt = 30 / 19
    assert M.auc(t, y) == pytest.approx((9 * dt + 0.5 * dt) / 30)
    # batched
    np.testing.assert_allclose(M.auc(t, np.stack([np.ones(20), t / 30])), [1.0, 0.5])


def test_auc_20_50_uses_the_steps_of_the_20_step_grid():
    t = np.linspace(0, 50, 20)
    sel = t[t >= 20]
    assert len(sel) == 12 and sel[0] == pytest.approx(50 * 8 / 19)  # 21.05 mm
    y = np.clip((t - 10) / 40, 0, 1)
    ys = y[t >= 20]
    expected = np.sum(0.5 * (ys[1:] + ys[:-1]) * np.diff(sel)) / (50 - sel[0])
    assert M.auc(t, y, 20, 50) == pytest.approx(expected)
    assert M.auc(t, np.ones(20), 20, 50) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least two"):
        M.auc(t, y, 49, 50)
    with pytest.raises(ValueError, match="increasing"):
        M.auc(t[::-1], y)


def test_pck_thresholds_validation():
    np.testing.assert_allclose(M.pck_thresholds(0, 30, 20), np.linspace(0, 30, 20))
    with pytest.raises(ValueError):
        M.pck_thresholds(5, 5, 20)
    with pytest.raises(ValueError):
        M.pck_thresholds(0, 1, 1)


# ----------------------------------------------------------------------------------------------------------------
# the accumulator


def test_accumulator_matches_zb_evalutil_formula():
    rng = np.random.default_rng(0)
    acc = M.EvalAccumulator(21, unit="px")
    ref = ZBReference(21)
    for _ in range(5):  # several batches of different sizes
        n = int(rng.integers(1, 40))
        gt = rng.uniform(0, 320, size=(n, 21, 2))
        pred = gt + rng.normal(0, 8, size=(n, 21, 2)) * rng.uniform(0.2, 3, size=(n, 21, 1))
        vis = rng.random((n, 21)) > 0.3
        vis[:, 7] = False  # a keypoint that is never visible: Z&B skip it
        acc.feed(pred, gt, vis)
        for i in range(n):
            ref.feed(gt[i], vis[i], pred[i])
    for rng_args in [(0.0, 30.0, 20), (0.0, 50.0, 100), (5.0, 12.0, 7)]:
        mean, median, area, curve, ts = ref.measures(*rng_args)
        s = acc.summary(*rng_args)
        np.testing.assert_allclose(s.thresholds, ts)
        assert s.epe_mean == pytest.approx(mean, rel=1e-12)
        assert s.epe_median == pytest.approx(median, rel=1e-12)
        assert s.auc == pytest.approx(area, rel=1e-12)
        np.testing.assert_allclose(s.pck, curve, rtol=1e-12)
        assert np.isnan(s.auc_per_keypoint[7]) and s.count_per_keypoint[7] == 0
        assert np.nanmean(s.auc_per_keypoint) == pytest.approx(s.auc)


def test_accumulator_single_sample_feed_and_pooled_vs_zb_median():
    # keypoint 0: 1, 1, 10; keypoint 1: 2, 2, 2 -> Z&B median = mean(1, 2) = 1.5; pooled median = 2
    acc = M.EvalAccumulator(2)
    for a, b in [(1.0, 2.0), (1.0, 2.0), (10.0, 2.0)]:
        acc.feed(np.array([[a, 0.0], [b, 0.0]]), np.zeros((2, 2)))  # a single (K, D) sample
    s = acc.summary(0, 10, 11)
    assert s.num_samples == 3
    assert s.epe_median == pytest.approx(1.5)
    assert s.epe_median_pooled == pytest.approx(2.0)
    assert s.epe_mean == pytest.approx((4.0 + 2.0) / 2)
    assert s.epe_mean_pooled == pytest.approx(18.0 / 6)
    np.testing.assert_allclose(s.epe_mean_per_keypoint, [4.0, 2.0])


def test_accumulator_perfect_and_hopeless_predictions():
    hands, _ = random_scenes(np.random.default_rng(1), 10)
    acc = M.EvalAccumulator(unit="mm", scale=1000.0)
    acc.feed(hands, hands)
    s = acc.summary(0, 50, 20)
    assert s.auc == pytest.approx(1.0) and s.epe_mean == 0.0 and s.auc_between(20, 50) == pytest.approx(1.0)
    far = M.EvalAccumulator(unit="mm", scale=1000.0)
    far.feed(hands + np.array([0.0, 0.0, 0.0505]), hands)  # 50.5 mm off everywhere
    s = far.summary(0, 50, 20)
    assert s.auc == 0.0 and np.all(s.pck == 0.0) and s.epe_mean == pytest.approx(50.5)


def test_accumulator_nonfinite_policies():
    gt = np.zeros((4, 3, 3))
    pred = np.zeros((4, 3, 3))
    pred[:, :, 0] = 1.0  # every distance 1
    pred[0, 2] = np.nan  # a failed prediction
    gt_bad = gt.copy()
    gt_bad[1, 0] = np.inf  # an unusable label
    miss = M.EvalAccumulator(3, nonfinite_pred="miss")
    d = miss.feed(pred, gt_bad)
    assert np.isinf(d[0, 2]) and np.isnan(d[1, 0])
    s = miss.summary(0, 2, 3)
    assert s.num_nonfinite_pred == 1
    np.testing.assert_allclose(s.pck_per_keypoint[2], [0.0, 0.75, 0.75])  # 3 of 4 correct at t >= 1
    np.testing.assert_allclose(s.pck_per_keypoint[0], [0.0, 1.0, 1.0])  # the inf label is excluded
    assert s.count_per_keypoint.tolist() == [3, 4, 4]
    assert np.isinf(s.epe_mean) and s.epe_median == pytest.approx(1.0)
    assert s.to_dict()["epe_mean"] is None  # JSON-ready
    ign = M.EvalAccumulator(3, nonfinite_pred="ignore")
    ign.feed(pred, gt_bad)
    s = ign.summary(0, 2, 3)
    assert s.num_nonfinite_pred == 1 and s.count_per_keypoint.tolist() == [3, 4, 3] and s.epe_mean == 1.0
    with pytest.raises(ValueError, match="non-finite"):
        M.EvalAccumulator(3, nonfinite_pred="raise").feed(pred, gt)


def test_accumulator_errors():
    with pytest.raises(ValueError, match="nothing fed"):
        M.EvalAccumulator().summary(0, 30, 20)
    acc = M.EvalAccumulator(21)
    with pytest.raises(ValueError, match="21 keypoints"):
        acc.feed(np.zeros((2, 20, 2)), np.zeros((2, 20, 2)))
    acc.feed(np.zeros((2, 21, 2)), np.ones((2, 21, 2)), np.zeros((2, 21), bool))
    with pytest.raises(ValueError, match="masked out"):
        acc.summary(0, 30, 20)
    with pytest.raises(ValueError):
        M.EvalAccumulator(nonfinite_pred="zero")
    with pytest.raises(ValueError, match="pixel"):
        M.report_2d(M.EvalAccumulator(unit="mm"))
    with pytest.raises(ValueError, match="millimetre"):
        M.report_3d(M.EvalAccumulator(unit="m"))


# ----------------------------------------------------------------------------------------------------------------
# 3D protocols


def test_root_relative():
    xyz = np.arange(2 * 21 * 3, dtype=float).reshape(2, 21, 3)
    rr = M.root_relative(xyz, root=0)
    np.testing.assert_allclose(rr[:, 0], 0.0)
    np.testing.assert_allclose(rr[1, 5], xyz[1, 5] - xyz[1, 0])
    np.testing.assert_allclose(M.root_relative(xyz, root=9)[:, 9], 0.0)
    with pytest.raises(ValueError):
        M.root_relative(xyz, root=21)


def test_align_scale_by_bone_recovers_scaled_translated_pose():
    hands, _ = random_scenes(np.random.default_rng(2), 8)
    pred = 0.37 * hands + np.array([0.1, -0.2, 0.5])  # wrong scale and position, right shape
    out = M.align_scale_by_bone(pred, hands, bone=(0, 9))
    np.testing.assert_allclose(out, hands, atol=1e-12)
    out_zb = M.align_scale_by_bone(pred, hands, bone=M.ZB_REF_BONE)
    np.testing.assert_allclose(out_zb, hands, atol=1e-12)
    # a shape error is not scaled away: the bone gets the gt length, the rest keeps the predicted proportions
    bent = pred.copy()
    bent[:, 12] += 0.01
    out = M.align_scale_by_bone(bent, hands, bone=(0, 9))
    L = np.linalg.norm(out[:, 9] - out[:, 0], axis=-1)
    np.testing.assert_allclose(L, np.linalg.norm(hands[:, 9] - hands[:, 0], axis=-1))
    np.testing.assert_allclose(out[:, 0], hands[:, 0])
    # degenerate predicted bone -> all NaN for that hand only
    deg = pred.copy()
    deg[3, 9] = deg[3, 0]
    out = M.align_scale_by_bone(deg, hands)
    assert np.all(np.isnan(out[3])) and np.all(np.isfinite(out[[0, 1, 2, 4]]))
    with pytest.raises(ValueError, match="bone"):
        M.align_scale_by_bone(pred, hands, bone=(3, 3))


def _similarity(rng, n):
    R = np.stack([random_rotation(rng) for _ in range(n)])
    s = rng.uniform(0.3, 3.0, n)
    t = rng.normal(0, 1, (n, 3))
    return s, R, t


def test_procrustes_recovers_known_similarity_exactly():
    rng = np.random.default_rng(3)
    gt, _ = random_scenes(rng, 16)
    s, R, t = _similarity(rng, 16)
    # pred = inverse transform of gt: gt = s R pred + t
    pred = np.einsum("nji,nkj->nki", R, gt - t[:, None]) / s[:, None, None]
    aligned, s_hat, R_hat, t_hat = M.procrustes_align(pred, gt, return_transform=True)
    np.testing.assert_allclose(aligned, gt, atol=1e-10)
    np.testing.assert_allclose(s_hat, s, rtol=1e-10)
    np.testing.assert_allclose(R_hat, R, atol=1e-10)
    np.testing.assert_allclose(t_hat, t, atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(R_hat), 1.0)


def _best_residual_over_rotations(pred, gt, rotations):
    """min over given R of the residual with the optimal scale and translation for that R."""
    X = pred - pred.mean(0)
    Y = gt - gt.mean(0)
    best = np.inf
    for R in rotations:
        XR = X @ R.T
        s = max(np.sum(XR * Y) / np.sum(XR * XR), 0.0)
        best = min(best, np.sum((s * XR - Y) ** 2))
    return best


def test_procrustes_mirrored_prediction_needs_reflection():
    rng = np.random.default_rng(4)
    gt, _ = random_scenes(rng, 1)
    gt = gt[0]
    mirror = np.diag([-1.0, 1.0, 1.0])
    pred = 0.8 * gt @ mirror.T + np.array([0.3, 0.0, 0.1])  # a left hand for a right hand
    # with reflections allowed (FreiHAND's orthogonal_procrustes) the mirror image is matched exactly
    al, _, R_ref, _ = M.procrustes_align(pred, gt, allow_reflection=True, return_transform=True)
    np.testing.assert_allclose(al, gt, atol=1e-10)
    assert np.linalg.det(R_ref) == pytest.approx(-1.0)
    # the default (proper rotation) cannot undo a mirror: det +1, nonzero error ...
    ap, s, R, _ = M.procrustes_align(pred, gt, return_transform=True)
    assert np.linalg.det(R) == pytest.approx(1.0)
    res = np.sum((ap - gt) ** 2)
    assert res > 1e-4
    # ... and it is the best proper rotation: no random or perturbed rotation does better
    rots = [random_rotation(rng) for _ in range(3000)]
    rots += [R @ random_small for random_small in (_small_rotation(rng, 0.02) for _ in range(500))]
    assert res <= _best_residual_over_rotations(pred, gt, rots) + 1e-12


def _small_rotation(rng, angle):
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = rng.uniform(-angle, angle)
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def _freihand_align_w_scale(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """FreiHAND's eval.py alignment restated: centre, normalise both by their Frobenius norm, scipy Procrustes."""
    from scipy.linalg import orthogonal_procrustes

    g = gt - gt.mean(0)
    p = pred - pred.mean(0)
    ng, npr = np.linalg.norm(g), np.linalg.norm(p)
    R, s = orthogonal_procrustes(g / ng, p / npr)
    return (p / npr) @ R.T * s * ng + gt.mean(0)


def test_procrustes_with_reflection_matches_freihand_alignment():
    rng = np.random.default_rng(5)
    gt, _ = random_scenes(rng, 10)
    s, R, t = _similarity(rng, 10)
    pred = s[:, None, None] * np.einsum("nij,nkj->nki", R, gt) + t[:, None] + rng.normal(0, 0.01, gt.shape)
    ours = M.procrustes_align(pred, gt, allow_reflection=True)
    for i in range(10):
        np.testing.assert_allclose(ours[i], _freihand_align_w_scale(gt[i], pred[i]), atol=1e-9)
    # for noisy but non-mirrored predictions the proper-rotation result is the same
    np.testing.assert_allclose(M.procrustes_align(pred, gt), ours, atol=1e-9)


def test_procrustes_mask_and_degenerate_cases():
    rng = np.random.default_rng(6)
    gt, _ = random_scenes(rng, 2)
    s, R, t = _similarity(rng, 2)
    pred = np.einsum("nji,nkj->nki", R, gt - t[:, None]) / s[:, None, None]
    pred[:, 20] += 5.0  # an outlier keypoint
    mask = np.ones((2, 21), bool)
    mask[:, 20] = False
    out = M.procrustes_align(pred, gt, mask)
    np.testing.assert_allclose(out[:, :20], gt[:, :20], atol=1e-10)  # fitted without the outlier
    assert np.linalg.norm(out[0, 20] - gt[0, 20]) > 1.0  # the outlier is transformed, not fixed
    # NaN keypoints are left out of the fit and stay NaN
    p2 = pred.copy()
    p2[:, 20] = np.nan
    out2 = M.procrustes_align(p2, gt)
    np.testing.assert_allclose(out2[:, :20], gt[:, :20], atol=1e-10)
    assert np.all(np.isnan(out2[:, 20]))
    # all keypoints at one point, or an all-NaN hand (failed reconstruction): NaN, no exception
    p3 = pred.copy()
    p3[0] = 1.0
    p3[1] = np.nan
    assert np.all(np.isnan(M.procrustes_align(p3, gt)))
    with pytest.raises(ValueError):
        M.procrustes_align(np.zeros((21, 1)), np.zeros((21, 1)))


# ----------------------------------------------------------------------------------------------------------------
# reports


def test_evaluate_2d_report_is_json_ready_and_hand_checkable():
    rng = np.random.default_rng(7)
    gt = rng.uniform(0, 320, (30, 21, 2))
    pred = gt.copy()
    pred[..., 0] += 3.0  # every keypoint exactly 3 px off
    vis = rng.random((30, 21)) > 0.2
    rep = M.evaluate_2d(pred, gt, vis)
    json.dumps(rep, allow_nan=False)
    assert rep["unit"] == "px" and rep["range"] == [0.0, 30.0, 20]
    assert rep["epe_mean"] == pytest.approx(3.0) and rep["epe_median"] == pytest.approx(3.0)
    t = np.linspace(0, 30, 20)
    np.testing.assert_allclose(rep["thresholds"], t)
    expected = (t >= 3.0).astype(float)
    np.testing.assert_allclose(rep["pck"], expected)
    assert rep["auc"] == pytest.approx(M.auc(t, expected))
    assert rep["num_keypoints_evaluated"] == int(vis.sum())


def test_evaluate_3d_protocols():
    rng = np.random.default_rng(8)
    gt, _ = random_scenes(rng, 12)
    scaled = 1.3 * (gt - gt[:, :1]) + gt[:, :1] + np.array([0.02, 0.0, 0.0])  # 30 % too big, 2 cm off
    rep_bone = M.evaluate_3d(scaled, gt, protocol="bone_scaled")
    json.dumps(rep_bone, allow_nan=False)
    assert rep_bone["unit"] == "mm" and rep_bone["protocol"] == "bone_scaled"
    np.testing.assert_allclose(rep_bone["thresholds"], np.linspace(0, 50, 20))
    assert rep_bone["epe_mean"] == pytest.approx(0.0, abs=1e-9)
    # rounding leaves ~1e-13 mm, which fails only the 0 mm threshold (PCK counts d <= t)
    np.testing.assert_allclose(rep_bone["pck"][1:], 1.0)
    assert rep_bone["auc_20_50"] == pytest.approx(1.0)
    rep_abs = M.evaluate_3d(scaled, gt, protocol="absolute")
    expected = np.linalg.norm(0.3 * (gt - gt[:, :1]) + [0.02, 0, 0], axis=-1) * 1000
    exp_zb = np.mean(expected.mean(axis=0))  # Z&B mean EPE: mean over keypoints of per-keypoint means
    assert rep_abs["epe_mean"] == pytest.approx(exp_zb)
    assert rep_abs["auc"] < 1.0
    rep_rr = M.evaluate_3d(scaled, gt, protocol="root_relative")
    exp_rr = np.mean((np.linalg.norm(0.3 * (gt - gt[:, :1]), axis=-1) * 1000).mean(axis=0))
    assert rep_rr["epe_mean"] == pytest.approx(exp_rr)
    rep_pa = M.evaluate_3d(scaled, gt, protocol="procrustes")
    assert rep_pa["epe_mean"] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(rep_pa["pck"][1:], 1.0)
    with pytest.raises(ValueError, match="protocol"):
        M.evaluate_3d(scaled, gt, protocol="aligned")


def test_evaluate_3d_hopeless_and_failed_predictions():
    gt, _ = random_scenes(np.random.default_rng(9), 5)
    far = M.evaluate_3d(gt + np.array([0.0, 0.06, 0.0]), gt, protocol="absolute")
    assert far["auc"] == 0.0 and far["auc_20_50"] == 0.0
    failed = gt.copy()
    failed[0] = np.nan  # reconstruct_3d returns all-NaN for an invalid hand
    rep = M.evaluate_3d(failed, gt, protocol="bone_scaled")
    json.dumps(rep, allow_nan=False)
    assert rep["num_nonfinite_pred"] == 21
    assert rep["epe_mean"] is None  # infinite: a failed hand is not silently dropped
    assert rep["auc"] == pytest.approx(4 / 5)


def test_evaluate_freihand_aligned_and_unaligned():
    rng = np.random.default_rng(10)
    gt, _ = random_scenes(rng, 6)
    pred = gt @ np.diag([-1.0, 1.0, 1.0]).T  # mirrored: FreiHAND's alignment undoes it
    rep = M.evaluate_freihand(pred, gt)
    json.dumps(rep, allow_nan=False)
    assert rep["aligned"]["epe_mean"] == pytest.approx(0.0, abs=1e-8)
    assert rep["aligned"]["auc"] > 0.99  # only the 0 mm threshold can fail (rounding)
    np.testing.assert_allclose(rep["aligned"]["pck"][1:], 1.0)
    assert len(rep["aligned"]["thresholds"]) == 100
    assert "auc_20_50" not in rep["aligned"]
    exp = np.mean((np.linalg.norm(pred - gt, axis=-1) * 1000).mean(axis=0))
    assert rep["unaligned"]["epe_mean"] == pytest.approx(exp)
