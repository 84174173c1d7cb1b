"""Depth images (hand_pose_25d.depth) and their use by the pipeline: conversion, the fit, and every kind of bad depth.

The scenes are rendered (exact depth of the hand and a wall behind it), turned into what a sensor gives by
simulate_depth, and the fit is checked against the renderer's true root depth and bone length; a wrong depth image
(zeros, NaN, a constant wall, a misaligned map, an unknown encoding) must leave the bone prior's result unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from hand_pose_25d.data.synthetic import SyntheticHands, SyntheticSequence
from hand_pose_25d.depth import (
    DepthConfig,
    depth_from_buffer,
    depth_to_metres,
    root_and_scale_from_depth,
    simulate_depth,
)
from hand_pose_25d.geometry import to_2p5d


def test_conversion_of_depth_encodings_and_holes():
    mm = np.array([[0, 1000], [2500, 65535]], np.uint16)
    np.testing.assert_allclose(depth_to_metres(mm, "16UC1"), [[np.nan, 1.0], [2.5, 65.535]], rtol=1e-6)
    f = np.array([[np.nan, 1.5, -1.0, np.inf]], np.float32)
    np.testing.assert_array_equal(depth_to_metres(f, "32FC1"), [[np.nan, 1.5, np.nan, np.nan]])
    # a padded row (step larger than width x 2) and big-endian data decode the same
    rows = np.zeros((2, 6), np.uint8)
    rows[:, :4] = mm.byteswap().view(np.uint8).reshape(2, 4)
    np.testing.assert_array_equal(
        depth_from_buffer("16UC1", 2, 2, 6, True, rows.tobytes()).metres(), depth_to_metres(mm, "16UC1")
    )
    with pytest.raises(ValueError, match="depth encoding 'bgr8' is not supported"):
        depth_from_buffer("bgr8", 2, 2, 6, False, rows.tobytes())
    with pytest.raises(ValueError, match="step 2 is smaller"):
        depth_from_buffer("16UC1", 2, 2, 2, False, rows.tobytes())
    with pytest.raises(ValueError, match="has 11 bytes, height x step needs 12"):
        depth_from_buffer("16UC1", 2, 2, 6, False, rows.tobytes()[:11])
    with pytest.raises(ValueError, match="size 0x2"):
        depth_from_buffer("16UC1", 2, 0, 6, False, b"")


def test_simulated_sensor_noise_holes_and_edges():
    z = np.full((100, 100), 2.0, np.float32)
    z[30:70, 30:70] = 0.5
    out = simulate_depth(z, np.random.default_rng(0), noise_at_1m=0.004, dropout=0.05)
    hand = out[40:60, 40:60]
    assert 0.0005 < np.nanstd(hand) < 0.002  # 4 mm at 1 m -> 1 mm at 0.5 m
    assert np.isnan(out[29:31, 30:70]).all() and np.isnan(out[30:70, 69:71]).all()  # the silhouette's edge
    assert 0.02 < np.isnan(out).mean() < 0.2
    np.testing.assert_array_equal(out, simulate_depth(z, np.random.default_rng(0), noise_at_1m=0.004, dropout=0.05))


def _scenes(n: int = 12):
    """Rendered frames with the true 2.5D pose and a sensor's depth image of each."""
    gen = SyntheticHands(seed=7)
    for i in range(n):
        s = gen.frame(i)
        uv, z = to_2p5d(s.xyz, s.K)
        yield s, uv, z, simulate_depth(s.depth, np.random.default_rng(i))


def test_root_depth_and_scale_from_a_sensor_depth_image():
    root_err, scale_err, fails = [], [], 0
    for s, uv, z, depth in _scenes():
        fit = root_and_scale_from_depth(uv, z, depth, s.K, prior_scale=0.095)
        # the same image as a 16UC1 message, read in place, gives the same fit (to the millimetre rounding)
        mm = np.where(np.isfinite(depth), np.round(depth * 1000), 0).astype(np.uint16)
        h, w = mm.shape
        lazy_depth = depth_from_buffer("16UC1", h, w, 2 * w, False, mm.tobytes())
        lazy = root_and_scale_from_depth(uv, z, lazy_depth, s.K, prior_scale=0.095)
        assert lazy.ok == fit.ok and (not fit.ok or abs(lazy.root_depth - fit.root_depth) < 1e-3)
        if not fit.ok:
            fails += 1
            continue
        root_err.append(abs(fit.root_depth - s.xyz[0, 2]))
        scale_err.append(abs(fit.scale / np.linalg.norm(s.xyz[9] - s.xyz[0]) - 1.0))
    assert fails <= 2
    assert np.median(root_err) < 0.012 and np.median(scale_err) < 0.03  # measured: 8 mm, 1.5 %


@pytest.mark.parametrize("kind", ["zeros", "nan", "none"])
def test_missing_depth_gives_no_fit(kind):
    s, uv, z, depth = next(_scenes(1))
    bad = {"zeros": depth_to_metres(np.zeros_like(depth, np.uint16), "16UC1"), "nan": depth * np.nan, "none": None}
    fit = root_and_scale_from_depth(uv, z, bad[kind], s.K, prior_scale=0.095)
    assert not fit.ok and fit.reason == ("no_depth" if kind == "none" else "too_few_valid")


@pytest.fixture(scope="module")
def estimator():
    pytest.importorskip("onnxruntime")
    from hand_pose_25d.inference.pipeline import HandPoseEstimator
    from hand_pose_25d.inference.pipeline_config import PipelineConfig

    return HandPoseEstimator(PipelineConfig(num_threads=1, refine_iterations=0))


def test_the_pipeline_uses_good_depth_and_ignores_bad_depth(estimator):
    """Good depth: scale_source 'depth', closer to the truth than the prior. Wrong depth: the prior's result, as if
    there were no depth image, with the reason."""
    seq = SyntheticSequence(seed=11)
    s = seq.frame(240)  # a frame whose hand the shipped model finds
    crop = [estimator.crop_from_keypoints(s.uv)]
    plain = estimator.estimate(s.image, s.K, crop)[0]
    assert plain.valid and plain.depth_status == "" and plain.scale_source == "bone_prior"
    depth = simulate_depth(s.depth, np.random.default_rng(1))
    good = estimator.estimate(s.image, s.K, crop, depth=depth)[0]
    assert good.valid and good.scale_source == "depth" and good.depth_status == "ok"
    err = lambda r: float(np.linalg.norm(r.xyz - s.xyz, axis=1).mean())  # noqa: E731
    assert err(good) < 0.5 * err(plain) and err(good) < 0.03
    assert good.prior_root_depth == pytest.approx(plain.root_depth) and good.prior_scale == pytest.approx(plain.scale)
    h, w = depth.shape
    wrong = {
        "zeros": np.full((h, w), np.nan, np.float32),  # 16UC1 zeros, after depth_to_metres
        "nan": depth * np.nan,
        "wall": np.full((h, w), 2.0, np.float32),  # a constant wall: consistent, but far from the prior
        "misaligned": np.roll(depth, (0, 120), axis=(0, 1)),  # shifted by 120 px: the palm reads the wall
    }
    for kind, d in wrong.items():
        r = estimator.estimate(s.image, s.K, crop, depth=d)[0]
        assert r.scale_source == "bone_prior" and r.depth_status in (
            "too_few_valid",
            "inconsistent",
            "disagrees",
            "degenerate",
        ), kind
        np.testing.assert_allclose(r.xyz, plain.xyz, err_msg=kind)  # exactly the result without depth
        assert r.valid == plain.valid
    with pytest.raises(ValueError, match="depth image is"):
        estimator.estimate(s.image, s.K, crop, depth=depth[:-1])


def test_depth_settings_are_validated():
    from hand_pose_25d.settings import from_dict

    with pytest.raises(ValueError, match="min_inliers"):
        from_dict(DepthConfig, {"min_inliers": 0})
    assert from_dict(DepthConfig, {"enabled": True}).enabled
