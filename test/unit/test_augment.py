"""Training crops: labels follow the pixels, 3D stays exact through crop, rotation and mirroring."""

import numpy as np

from hand_pose_25d import geometry as g
from hand_pose_25d.data.augment import AugmentConfig, photometric, training_crop
from hand_pose_25d.data.sample import HandSample

from handgen import random_scenes


def _sample(seed=0, dist=None):
    xyz, K = random_scenes(np.random.default_rng(seed), 1)
    uv = g.project(xyz[0], K[0], dist)
    img = np.zeros((480, 640, 3), np.uint8)
    for u, v in np.round(uv).astype(int):  # a bright dot at every keypoint
        if 1 <= u < 639 and 1 <= v < 479:
            img[v - 1 : v + 2, u - 1 : u + 2] = 255
    inside = (uv[:, 0] >= 1) & (uv[:, 0] < 639) & (uv[:, 1] >= 1) & (uv[:, 1] < 479)
    return HandSample(img, K[0], uv, inside, xyz[0], "right", None if dist is None else np.array(dist))


def test_crop_labels_and_reconstruction_exact_with_jitter_rotation_and_flip():
    rng = np.random.default_rng(1)
    cfg = AugmentConfig(
        flip_prob=0.5, zoom_out_prob=0.3, brightness=0, contrast=0, saturation=0, hue_deg=0, blur_prob=0, noise_std=0
    )
    flips = 0
    for seed in range(40):
        s = _sample(seed)
        c = training_crop(s, 128, 1.3, rng, cfg)
        assert c.image.shape == (128, 128, 3)
        np.testing.assert_allclose(g.project(c.xyz, c.K), c.uv, atol=1e-8)
        uv, z = g.to_2p5d(c.xyz, c.K)
        rec = g.reconstruct_3d(c.uv, z, c.K)
        L = np.linalg.norm(c.xyz[9] - c.xyz[0])
        if np.isfinite(rec).all():
            np.testing.assert_allclose(rec * L, c.xyz, atol=1e-9)
        flips += c.handedness == "left"
        # the bright dots moved with the labels
        for (u, v), vis in zip(c.uv, c.visible):
            if vis and 2 <= u < 126 and 2 <= v < 126:
                assert c.image[int(round(v)) - 1 : int(round(v)) + 2, int(round(u)) - 1 : int(round(u)) + 2].max() > 0
    assert 5 < flips < 35


def test_nominal_crop_is_the_pipeline_box():
    s = _sample(3)
    c = training_crop(s, 64, 1.5)
    box = c.meta["crop_box"]
    lo, hi = s.uv.min(0), s.uv.max(0)
    assert np.isclose(box.side, (hi - lo).max() * 1.5) and box.angle == 0.0
    assert c.uv.min() >= -0.5 and c.uv.max() <= 63.5


def test_distorted_sample_labels_are_undistorted():
    dist = [-0.2, 0.05, 0.0, 0.0, 0.0]
    s = _sample(4, dist)
    c = training_crop(s, 96, 1.3)
    np.testing.assert_allclose(g.project(c.xyz, c.K), c.uv, atol=1e-6)


def test_photometric_changes_pixels_only():
    s = _sample(5)
    rng = np.random.default_rng(0)
    a = training_crop(
        s,
        64,
        1.3,
        np.random.default_rng(0),
        AugmentConfig(shift=0, scale_min=1, scale_max=1, zoom_out_prob=0, rotation_deg=0),
    )
    b = training_crop(s, 64, 1.3)
    np.testing.assert_allclose(a.uv, b.uv)
    assert not np.array_equal(a.image, b.image)
    # photometric() alters the pixels only: same shape and dtype, a different image, the input left as it was
    before = b.image.copy()
    out = photometric(b.image, rng, AugmentConfig())
    assert out.shape == before.shape and out.dtype == np.uint8 and not np.array_equal(out, before)
    np.testing.assert_array_equal(b.image, before)
    none = AugmentConfig(brightness=0, contrast=0, saturation=0, hue_deg=0, blur_prob=0, noise_std=0)
    np.testing.assert_array_equal(photometric(before, rng, none), before)
