"""The inference pipeline end to end with a measurable stand-in for the network.

``DotBackend`` is a real (if trivial) keypoint detector: every keypoint is drawn as a Gaussian blob of a unique
colour, and the backend finds each blob's intensity-weighted centroid in the crop it is given. The pipeline's
crop warps, the mapping back to full-image pixels, the closed-form reconstruction with the live intrinsics and
distortion, the scale from the bone prior or a known hand length, refinement and invalid handling are all
exercised on real pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

from hand_pose_25d import geometry as g
from hand_pose_25d.crop import CropBox
from hand_pose_25d.inference.contract import Backend
from hand_pose_25d.inference.pipeline import CropRequest, HandPoseEstimator, check_image
from hand_pose_25d.inference.pipeline_config import PipelineConfig
from hand_pose_25d.model.model_config import ModelConfig
from hand_pose_25d.skeleton import BONES, bone_lengths

from handgen import random_scenes

S = 96
ID_STEP = 12  # keypoint k is written as green level ID_STEP * k + ID_STEP // 2 on its disc


def draw_dots(uv: np.ndarray, width: int = 640, height: int = 480, sigma: float = 1.5) -> np.ndarray:
    """Keypoint k as a disc (radius 3 sigma): R = Gaussian intensity, G = its id code, B = 255 (the disc mask)."""
    img = np.zeros((height, width, 3), np.float64)
    ys, xs = np.mgrid[0:height, 0:width]
    r = 3 * sigma
    for k, (u, v) in enumerate(uv):
        d2 = (xs - u) ** 2 + (ys - v) ** 2
        disc = d2 <= r * r
        img[disc, 0] = 255 * np.exp(-d2[disc] / (2 * sigma**2))
        img[disc, 1] = ID_STEP * k + ID_STEP // 2
        img[disc, 2] = 255
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


class DotBackend(Backend):
    """Finds each keypoint's disc in a crop (id from G inside the mask B, centroid weighted by R)."""

    name = "dots"

    def __init__(self, z_rel: np.ndarray, handedness: float = 0.9) -> None:
        self.config = ModelConfig(input_size=S, output_stride=1, crop_padding=1.4)
        self.z_rel = z_rel
        self.right = handedness
        self.calls = []

    def infer(self, crops: np.ndarray):
        crops = self.check_input(crops).astype(np.float64)
        self.calls.append(len(crops))
        B = len(crops)
        uv = np.full((B, 21, 2), np.nan, np.float32)
        scores = np.zeros((B, 21), np.float32)
        ys, xs = np.mgrid[0:S, 0:S]
        for b in range(B):
            img = crops[b]
            # blending with the black background scales G and B alike, so G / B decodes the id even at disc edges
            inside = img[..., 2] > 64
            code = img[..., 1] * 255.0 / np.maximum(img[..., 2], 1.0)
            ids = np.round((code - ID_STEP // 2) / ID_STEP).astype(int)
            for k in range(21):
                w = np.where(inside & (ids == k), img[..., 0], 0.0)
                if w.sum() > 0:
                    uv[b, k] = [(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()]
                    scores[b, k] = 1.0
        return {
            "uv": uv,
            "z_rel": np.repeat(self.z_rel[None], B, 0).astype(np.float32),
            "keypoint_scores": scores,
            "handedness": np.full(B, self.right, np.float32),
        }


def _scene(seed: int):
    rng = np.random.default_rng(seed)
    while True:
        xyz, K = random_scenes(rng, 1)
        xyz, K = xyz[0], K[0]
        K[0, 0] = K[1, 1] = 500.0
        xyz = xyz - xyz[0] + np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05), rng.uniform(0.45, 0.9)])
        uv = g.project(xyz, K)
        if (uv > 15).all() and (uv[:, 0] < 625).all() and (uv[:, 1] < 465).all():
            # keep blobs apart: every pair of keypoints at least 6 px away in the image
            d = np.linalg.norm(uv[:, None] - uv[None], axis=-1) + np.eye(21) * 100
            if d.min() > 11:
                return xyz, K, uv


def test_check_image_refuses_bad_images():
    for bad in (
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((480, 640), np.uint8),
        np.zeros((480, 640, 3), np.float32),
        np.zeros((480, 640, 4), np.uint8),
        [[0]],
    ):
        with pytest.raises(ValueError):
            check_image(bad)


def test_pipeline_recovers_metric_3d_from_measured_keypoints():
    errors, bias = [], []
    for seed in range(12):
        xyz, K, uv = _scene(seed)
        _, z = g.to_2p5d(xyz, K)
        L = np.linalg.norm(xyz[9] - xyz[0])
        prior = {b: float(v) for b, v in zip(BONES, bone_lengths(xyz))}  # the true bones: the scale is exact
        be = DotBackend(z)
        be.config = ModelConfig(
            input_size=S, output_stride=1, crop_padding=1.4, bone_lengths=tuple((a, b, prior[(a, b)]) for a, b in BONES)
        )
        est = HandPoseEstimator(PipelineConfig(refine_iterations=0, min_hand_score=0.5), backend=be)
        img = draw_dots(uv)
        res = est.estimate(img, K, [est.crop_from_keypoints(uv)])
        assert len(res) == 1
        r = res[0]
        assert r.valid and r.status in ("ok", "approximate")
        # blob centroids measured through two resamplings: small random error, no systematic offset (a pixel-centre
        # convention bug in the crop maps would show as a ~0.5 px bias)
        err = (r.uv - uv) / (r.crop.side / S)  # in crop pixels, the resolution the detector works at
        assert np.abs(err).max() < 0.6 and np.abs(err).mean() < 0.15
        bias.append(err.mean(axis=0))
        errors.append(np.linalg.norm(r.xyz - xyz, axis=1).mean())
        assert abs(r.scale - L) / L < 0.05
        assert r.scale_source == "bone_prior" and r.handedness == "right"
        assert np.isclose(r.root_depth, r.xyz[0, 2])
        assert set(est.last_timings) == {"preprocess", "inference", "decode", "reconstruct"}
    assert np.abs(np.mean(bias, axis=0)).max() < 0.05, np.mean(bias, axis=0)
    # sub-pixel keypoints give millimetre-level metric 3D
    assert np.median(errors) < 0.01, errors


def test_full_frame_crop_is_refined_around_the_hand():
    xyz, K, uv = _scene(3)
    _, z = g.to_2p5d(xyz, K)
    be = DotBackend(z)
    est = HandPoseEstimator(PipelineConfig(refine_iterations=1, min_hand_score=0.0), backend=be)
    img = draw_dots(uv, sigma=2.5)
    r = est.estimate(img, K)[0]  # no crop: full frame, then one refinement pass around the keypoints
    assert be.calls == [1, 1]
    assert r.crop.side < 640
    assert np.abs((r.uv - uv) / (r.crop.side / S)).max() < 0.6


def test_known_hand_length_sets_the_scale_and_its_source():
    xyz, K, uv = _scene(5)
    _, z = g.to_2p5d(xyz, K)
    be = DotBackend(z)
    est = HandPoseEstimator(PipelineConfig(refine_iterations=0, hand_length=0.20), backend=be)
    r1 = est.estimate(draw_dots(uv), K, [est.crop_from_keypoints(uv)])[0]
    est.config.hand_length = 0.16
    r2 = est.estimate(draw_dots(uv), K, [est.crop_from_keypoints(uv)])[0]
    assert r1.scale_source == r2.scale_source == "hand_size"
    assert np.isclose(r1.scale / r2.scale, 0.20 / 0.16)


def test_distortion_is_undone_before_reconstruction():
    D = [-0.25, 0.07, 0.0, 0.0, 0.0]
    xyz, K, _ = _scene(7)
    uv_d = g.project(xyz, K, D)
    _, z = g.to_2p5d(xyz, K)
    be = DotBackend(z)
    be.config = ModelConfig(
        input_size=S,
        output_stride=1,
        crop_padding=1.4,
        bone_lengths=tuple((a, b, v) for (a, b), v in zip(BONES, bone_lengths(xyz))),
    )
    est = HandPoseEstimator(PipelineConfig(refine_iterations=0), backend=be)
    good = est.estimate(draw_dots(uv_d), K, [est.crop_from_keypoints(uv_d)], dist_coeffs=D)[0]
    bad = est.estimate(draw_dots(uv_d), K, [est.crop_from_keypoints(uv_d)])[0]
    e_good = np.linalg.norm(good.xyz - xyz, axis=1).mean()
    e_bad = np.linalg.norm(bad.xyz - xyz, axis=1).mean() if bad.valid else np.inf
    assert e_good < 0.01 and e_good < e_bad


def test_missing_keypoints_and_low_scores_are_invalid_not_nan_results():
    xyz, K, uv = _scene(9)
    _, z = g.to_2p5d(xyz, K)
    est = HandPoseEstimator(PipelineConfig(refine_iterations=0, min_hand_score=0.5), backend=DotBackend(z))
    blank = np.zeros((480, 640, 3), np.uint8)  # no hand at all: the detector finds nothing
    r = est.estimate(blank, K, [est.crop_from_keypoints(uv)])[0]
    assert not r.valid and np.isnan(r.xyz).all() and np.isnan(r.scale)
    assert r.status == "nonfinite"
    with pytest.raises(ValueError):
        est.estimate(draw_dots(uv), np.zeros((3, 3)), [est.crop_from_keypoints(uv)])


def test_a_crop_request_can_lower_the_score_threshold_for_a_tracked_hand():
    """CropRequest.min_score (the tracker's hysteresis) replaces min_hand_score for that crop only."""

    class Unsure(DotBackend):  # every keypoint found with confidence 0.4
        def infer(self, crops: np.ndarray):
            out = super().infer(crops)
            return {**out, "keypoint_scores": out["keypoint_scores"] * np.float32(0.4)}

    xyz, K, uv = _scene(4)
    _, z = g.to_2p5d(xyz, K)
    img = draw_dots(uv)
    score = HandPoseEstimator(PipelineConfig(refine_iterations=0, min_hand_score=0.0), backend=Unsure(z))
    s0 = score.estimate(img, K, [score.crop_from_keypoints(uv)])[0].score
    assert s0 == pytest.approx(0.4)
    est = HandPoseEstimator(PipelineConfig(refine_iterations=0, min_hand_score=s0 + 0.01), backend=Unsure(z))
    box = est.crop_from_keypoints(uv).box
    strict, lowered, raised = est.estimate(
        img,
        K,
        [CropRequest(box, True), CropRequest(box, True, min_score=s0 - 0.01), CropRequest(box, True, min_score=0.99)],
    )
    assert not strict.valid and strict.status == "low_score" and np.isnan(strict.xyz).all()
    assert lowered.valid and np.isfinite(lowered.xyz).all() and lowered.score == pytest.approx(s0)
    assert not raised.valid and raised.status == "low_score"


def test_detection_crops_are_refined_only_when_asked():
    """A palm detector's crop (turned to the hand) gets one pass unless refine_detections; a loose ROI gets two."""
    xyz, K, uv = _scene(6)
    _, z = g.to_2p5d(xyz, K)
    img = draw_dots(uv)
    for refine_detections, passes in ((False, [1]), (True, [1, 1])):
        be = DotBackend(z)
        cfg = PipelineConfig(refine_iterations=1, min_hand_score=0.0, refine_detections=refine_detections)
        est = HandPoseEstimator(cfg, backend=be)
        loose = est.crop_from_roi(*uv.min(0), *(uv.max(0) - uv.min(0)))
        (r,) = est.estimate(img, K, [CropRequest(loose.box, from_keypoints=False, detected=True)])
        assert be.calls == passes and r.valid
        assert r.crop == loose.box if not refine_detections else r.crop != loose.box
        be.calls.clear()
        est.estimate(img, K, [loose])
        assert be.calls == [1, 1]  # an ROI is refined either way


def test_several_hands_in_one_batch():
    xyz, K, uv = _scene(11)
    _, z = g.to_2p5d(xyz, K)
    be = DotBackend(z)
    est = HandPoseEstimator(PipelineConfig(refine_iterations=0), backend=be)
    crops = [est.crop_from_keypoints(uv), CropBox(uv[:, 0].mean(), uv[:, 1].mean(), 200.0), est.crop_from_keypoints(uv)]
    res = est.estimate(draw_dots(uv), K, crops)
    assert len(res) == 3 and be.calls == [3]
    np.testing.assert_allclose(res[0].xyz, res[2].xyz)


class ChiralDotBackend(DotBackend):
    """DotBackend whose handedness follows the chirality of the dots, so that a mirrored crop reads as the other hand."""

    def infer(self, crops: np.ndarray):
        out = super().infer(crops)
        a, b = out["uv"][:, 5] - out["uv"][:, 0], out["uv"][:, 17] - out["uv"][:, 0]
        out["handedness"] = np.where(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] > 0, 0.9, 0.1).astype(np.float32)
        return out


@pytest.mark.parametrize("mode,copies", [("none", 1), ("mirror", 2), ("dihedral", 8)])
def test_test_time_augmentation_maps_every_copy_back(mode: str, copies: int):
    xyz, K, uv = _scene(5)
    _, z = g.to_2p5d(xyz, K)
    be = ChiralDotBackend(z)
    be.config = ModelConfig(
        input_size=S,
        output_stride=1,
        crop_padding=1.4,
        bone_lengths=tuple((a, b, float(v)) for (a, b), v in zip(BONES, bone_lengths(xyz))),
    )
    be.max_batch = 4  # 2 crops x 8 copies go through the backend in chunks
    img = draw_dots(uv)
    plain = HandPoseEstimator(PipelineConfig(refine_iterations=0, min_hand_score=0.0), backend=be)
    ref = plain.estimate(img, K, [plain.crop_from_keypoints(uv)])[0]
    est = HandPoseEstimator(
        PipelineConfig(refine_iterations=0, min_hand_score=0.0, test_time_augmentation=mode), backend=be
    )
    be.calls.clear()
    crops = [est.crop_from_keypoints(uv), CropBox(uv[:, 0].mean(), uv[:, 1].mean(), 260.0, angle=0.3)]
    res = est.estimate(img, K, crops)
    n = 2 * copies
    assert be.calls == [4] * (n // 4) + ([n % 4] if n % 4 else [])
    for r in res:
        # every copy, turned and mirrored, is mapped back onto the same keypoints: a wrong inverse would scatter them
        assert np.abs((r.uv - uv) / (r.crop.side / S)).max() < 0.6
        assert r.valid and np.linalg.norm(r.xyz - xyz, axis=1).mean() < 0.01
        # the mirrored copies read as the other hand and are swapped back
        assert r.handedness == ref.handedness and r.handedness_score == pytest.approx(0.9)
    np.testing.assert_allclose(res[0].uv, ref.uv, atol=0.5)


def test_merge_augmented_undoes_each_transform_in_order():
    from hand_pose_25d.crop import dihedral_matrix, transform_points
    from hand_pose_25d.inference.pipeline import merge_augmented

    rng = np.random.default_rng(0)
    B, size, codes = 3, 64, (0, 4, 1, 5, 2, 6, 3, 7)
    uv = rng.uniform(5, 58, (B, 21, 2))
    z = rng.normal(0, 1, (B, 21))
    right = np.array([0.9, 0.2, 0.6])
    noise = rng.normal(0, 0.5, (len(codes), B, 21, 2))
    noise -= noise.mean(axis=0)  # zero-mean over the copies: the merge must give uv back exactly
    out = {
        "uv": np.concatenate([transform_points(uv + noise[j], dihedral_matrix(c, size)) for j, c in enumerate(codes)]),
        "z_rel": np.tile(z, (len(codes), 1)),
        "keypoint_scores": np.tile(np.linspace(0, 1, 21), (len(codes) * B, 1)),
        "handedness": np.concatenate([1 - right if c & 4 else right for c in codes])[:, None],
    }
    m = merge_augmented(out, codes, size)
    np.testing.assert_allclose(m["uv"], uv, atol=1e-4)
    np.testing.assert_allclose(m["z_rel"], z, atol=1e-5)
    np.testing.assert_allclose(m["handedness"], right[:, None], atol=1e-6)
    assert m["handedness"].shape == (B, 1) and m["keypoint_scores"].shape == (B, 21)
    with pytest.raises(ValueError, match="copies"):
        merge_augmented({k: v[:-1] for k, v in out.items()}, codes, size)


def test_unknown_test_time_augmentation_is_refused():
    with pytest.raises(ValueError, match="test_time_augmentation"):
        HandPoseEstimator(PipelineConfig(test_time_augmentation="flip"), backend=DotBackend(np.zeros(21)))
