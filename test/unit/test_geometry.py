"""2.5D representation, closed-form reconstruction, root choice, degenerate input, scale, distortion."""

from __future__ import annotations

import numpy as np
import pytest

from hand_pose_25d import geometry as g
from hand_pose_25d.skeleton import BONES, DEFAULT_BONE_LENGTHS, bone_lengths

from handgen import random_scenes

ROOT, REF = 0, (0, 9)


@pytest.fixture(scope="module")
def scenes():
    """20,000 random hands and cameras (fixed seed)."""
    return random_scenes(np.random.default_rng(1234), 20000)


def _normalised(xyz: np.ndarray, ref=REF) -> np.ndarray:
    L = np.linalg.norm(xyz[..., ref[1], :] - xyz[..., ref[0], :], axis=-1)
    return xyz / L[..., None, None]


def _rel_err(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).max(axis=(-1, -2)) / np.abs(b).max(axis=(-1, -2))


def test_to_2p5d_definition():
    xyz, K = random_scenes(np.random.default_rng(0), 5)
    uv, z = g.to_2p5d(xyz, K, root=ROOT, ref_bone=REF)
    for i in range(5):
        p = (K[i] @ xyz[i].T).T
        np.testing.assert_allclose(uv[i], p[:, :2] / p[:, 2:], rtol=0, atol=1e-9)
        L = np.linalg.norm(xyz[i, 9] - xyz[i, 0])
        np.testing.assert_allclose(z[i], (xyz[i, :, 2] - xyz[i, 0, 2]) / L, atol=1e-12)
    assert np.all(z[:, ROOT] == 0)


def test_lift_2p5d_inverts_to_2p5d_given_the_root_depth_and_scale():
    xyz, K = random_scenes(np.random.default_rng(5), 50)
    uv, z = g.to_2p5d(xyz, K, root=ROOT, ref_bone=REF)
    L = np.linalg.norm(xyz[:, REF[1]] - xyz[:, REF[0]], axis=-1)
    back = g.lift_2p5d(uv, z, K, xyz[:, ROOT, 2], L)  # batched (50, 21, ...) with one K per hand
    np.testing.assert_allclose(back, xyz, rtol=0, atol=1e-12)
    one = g.lift_2p5d(uv[3], z[3], K[3], xyz[3, ROOT, 2], L[3])
    np.testing.assert_allclose(one, xyz[3], rtol=0, atol=1e-12)
    # a wrong scale moves every keypoint along its own ray: the image projection stays, the depths do not
    off = g.lift_2p5d(uv, z, K, xyz[:, ROOT, 2], 1.2 * L)
    np.testing.assert_allclose(g.project(off, K), uv, atol=1e-9)
    assert np.abs(off[..., 2] - xyz[..., 2]).max() > 1e-3
    # distortion: pixels of a distorted camera are undistorted first
    dist = [-0.2, 0.05, 0.001, -0.001, 0.0]
    uv_d = g.project(xyz[3], K[3], dist)
    np.testing.assert_allclose(g.lift_2p5d(uv_d, z[3], K[3], xyz[3, ROOT, 2], L[3], dist), xyz[3], atol=1e-9)
    with pytest.raises(ValueError, match="calibrated"):
        g.lift_2p5d(uv[3], z[3], np.zeros((3, 3)), 1.0, 0.1)


def test_reconstruction_exact_on_20000_random_hands(scenes):
    xyz, K = scenes
    uv, z = g.to_2p5d(xyz, K, root=ROOT, ref_bone=REF)
    rec = g.reconstruct_3d(uv, z, K, root=ROOT, ref_bone=REF, return_details=True)
    assert rec.xyz.shape == xyz.shape
    assert not np.isnan(rec.xyz).any()
    assert rec.valid.all() and (rec.status == g.Status.OK).all()
    err = _rel_err(rec.xyz, _normalised(xyz))
    wrong_root = err > 1e-6
    assert wrong_root.mean() < 0.005, f"wrong root on {wrong_root.mean():.3%} of hands"
    # every hand with the right root is exact
    assert err[~wrong_root].max() < 1e-9
    # and metric: scale * normalised == ground truth when the scale is known
    L = np.linalg.norm(xyz[:, 9] - xyz[:, 0], axis=-1)
    assert _rel_err(rec.xyz[~wrong_root] * L[~wrong_root, None, None], xyz[~wrong_root]).max() < 1e-9


def test_root_choice_beats_plus_root_and_survives_proportion_mismatch():
    """The paper's '+' root is wrong about 0.5-1 % of the time; the bone-prior choice several times less."""
    rng = np.random.default_rng(7)
    # hands whose palm is 15 % shorter and fingers 10 % longer than the prior used for the choice
    bones = {b: v * (0.85 if b[0] == 0 and b[1] != 1 else 1.1) for b, v in DEFAULT_BONE_LENGTHS.items()}
    for bone_set in (None, bones):
        xyz, K = random_scenes(rng, 10000, bones=bone_set)
        uv, z = g.to_2p5d(xyz, K)
        rec = g.reconstruct_3d(uv, z, K, return_details=True)
        z_true = xyz[:, 0, 2] / np.linalg.norm(xyz[:, 9] - xyz[:, 0], axis=-1)
        z_hi, z_lo, _ = g.root_depth_candidates(g.pixels_to_normalized(uv, K), z, REF)
        plus_wrong = np.abs(z_hi - z_true) / z_true > 1e-6
        ours_wrong = np.abs(rec.z_root - z_true) / z_true > 1e-6
        # both roots are the only candidates: the true one is always among them
        assert np.all(~plus_wrong | (np.abs(z_lo - z_true) / z_true < 1e-6))
        assert plus_wrong.mean() > 0.003  # the ambiguity is real in this population
        assert ours_wrong.mean() < 0.005
        assert ours_wrong.mean() < plus_wrong.mean() / 2


def test_quadratic_matches_method_notes_coefficients():
    """The vector form (a = d.d, b = 2 d.e, c = e.e - 1) equals method-notes' explicit corrected Eq. (6)."""
    xyz, K = random_scenes(np.random.default_rng(3), 50)
    uv, z = g.to_2p5d(xyz, K)
    xn = g.pixels_to_normalized(uv, K)
    n, m = 9, 0
    xn_, yn_, xm_, ym_ = xn[:, n, 0], xn[:, n, 1], xn[:, m, 0], xn[:, m, 1]
    zn, zm = z[:, n], z[:, m]
    a = (xn_ - xm_) ** 2 + (yn_ - ym_) ** 2
    b = 2 * (zn * (xn_**2 + yn_**2 - xn_ * xm_ - yn_ * ym_) + zm * (xm_**2 + ym_**2 - xn_ * xm_ - yn_ * ym_))
    c = (xn_ * zn - xm_ * zm) ** 2 + (yn_ * zn - ym_ * zm) ** 2 + (zn - zm) ** 2 - 1.0
    r_plus = (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    r_minus = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    z_hi, z_lo, approx = g.root_depth_candidates(xn, z, (m, n))
    np.testing.assert_allclose(z_hi, r_plus, rtol=1e-9)
    np.testing.assert_allclose(z_lo, r_minus, rtol=1e-7, atol=1e-9)
    assert not approx.any()


def test_paper_eq6_as_printed_is_wrong():
    """Pixels instead of normalised coordinates, or no factor 2, do not recover the root depth."""
    xyz, K = random_scenes(np.random.default_rng(5), 200)
    uv, z = g.to_2p5d(xyz, K)
    z_true = xyz[:, 0, 2] / np.linalg.norm(xyz[:, 9] - xyz[:, 0], axis=-1)
    for coords, factor in ((uv, 2.0), (g.pixels_to_normalized(uv, K), 1.0)):
        x, y = coords[..., 0], coords[..., 1]
        a = (x[:, 9] - x[:, 0]) ** 2 + (y[:, 9] - y[:, 0]) ** 2
        b = factor * z[:, 9] * (x[:, 9] ** 2 + y[:, 9] ** 2 - x[:, 9] * x[:, 0] - y[:, 9] * y[:, 0])
        c = (x[:, 9] * z[:, 9]) ** 2 + (y[:, 9] * z[:, 9]) ** 2 + z[:, 9] ** 2 - 1
        with np.errstate(invalid="ignore"):
            r = 0.5 * (-b + np.sqrt(b * b - 4 * a * c)) / a
        assert np.nanmedian(np.abs(r - z_true) / z_true) > 1e-3


def test_crop_intrinsics_keep_reconstruction_exact():
    from hand_pose_25d.crop import CropBox, box_from_keypoints, crop_intrinsics, crop_matrix, transform_points

    rng = np.random.default_rng(11)
    xyz, K = random_scenes(rng, 300)
    uv, z = g.to_2p5d(xyz, K)
    out = []
    for i in range(300):
        b = box_from_keypoints(uv[i], padding=1.3)
        box = CropBox(
            b.cx + rng.normal(0, 5), b.cy + rng.normal(0, 5), b.side * rng.uniform(0.8, 1.3), rng.uniform(-np.pi, np.pi)
        )
        A = crop_matrix(box, 128)
        Kc = crop_intrinsics(K[i], A)
        uv_c = transform_points(uv[i], A)
        np.testing.assert_allclose(uv_c, g.project(xyz[i], Kc), atol=1e-8)
        out.append(g.reconstruct_3d(uv_c, z[i], Kc))
    err = _rel_err(np.array(out), _normalised(xyz))
    assert (err < 1e-9).mean() > 0.995


def test_estimate_scale_exact_when_prior_equals_bones(scenes):
    xyz, K = scenes
    xyz = xyz[:2000]
    L = np.linalg.norm(xyz[:, 9] - xyz[:, 0], axis=-1)
    norm = xyz / L[:, None, None]
    for i in range(0, 2000, 97):
        prior = dict(zip(BONES, bone_lengths(xyz[i])))
        s = g.estimate_scale(norm[i], prior)
        assert abs(s - L[i]) / L[i] < 1e-12
    # batched, against the closed form computed by hand for one hand
    s = g.estimate_scale(norm)
    d = bone_lengths(norm[0])
    mu = np.array([DEFAULT_BONE_LENGTHS[b] for b in BONES])
    assert s.shape == (2000,)
    assert abs(s[0] - (d @ mu) / (d @ d)) < 1e-15


def test_estimate_scale_is_least_squares_minimiser():
    rng = np.random.default_rng(2)
    norm = rng.normal(size=(21, 3))
    s = g.estimate_scale(norm)
    mu = np.array([DEFAULT_BONE_LENGTHS[b] for b in BONES])
    d = bone_lengths(norm)
    cost = lambda t: np.sum((t * d - mu) ** 2)  # noqa: E731
    assert cost(s) <= cost(s * 1.001) and cost(s) <= cost(s * 0.999)


def test_estimate_scale_invalid_hand_is_nan_and_bad_prior_raises():
    assert np.isnan(g.estimate_scale(np.full((21, 3), np.nan)))
    assert np.isnan(g.estimate_scale(np.zeros((21, 3))))
    with pytest.raises(ValueError):
        g.estimate_scale(np.zeros((21, 3)), {(0, 9): -1.0})
    with pytest.raises(ValueError):
        g.estimate_scale(np.zeros((21, 3)), {})
    with pytest.raises(ValueError):
        g.estimate_scale(np.zeros((21, 3)), {(0, 0): 1.0})


# ---------------------------------------------------------------------------------------------- degenerate input


def _one_hand(seed=21):
    xyz, K = random_scenes(np.random.default_rng(seed), 1)
    return xyz[0], K[0]


def test_zero_image_length_reference_bone_is_marked_invalid():
    xyz, K = _one_hand()
    uv, z = g.to_2p5d(xyz, K)
    uv[9] = uv[0]  # reference bone projects to a point
    rec = g.reconstruct_3d(uv, z, K, return_details=True)
    assert not rec.valid and rec.status == g.Status.DEGENERATE_BONE
    assert np.isnan(rec.xyz).all() and np.isnan(rec.z_root)
    assert np.isnan(g.reconstruct_3d(uv, z, K)).all()


def test_bone_along_viewing_ray_does_not_blow_up():
    """The middle MCP straight behind the wrist: image length ~0, finite roots or a clean invalid mark."""
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    xyz, _ = _one_hand(3)
    xyz = xyz - xyz[0]
    d = xyz[9] / np.linalg.norm(xyz[9])
    R = _rot_to(d, np.array([0.0, 0.0, 1.0]))
    xyz = xyz @ R.T + np.array([0.0, 0.0, 0.6])
    for eps in (0.0, 1e-9, 1e-6, 1e-4):
        h = xyz.copy()
        h[9, 0] += eps
        uv, z = g.to_2p5d(h, K)
        rec = g.reconstruct_3d(uv, z, K, return_details=True)
        if rec.valid:
            assert np.isfinite(rec.xyz).all()
        else:
            assert np.isnan(rec.xyz).all() and rec.status == g.Status.DEGENERATE_BONE


def _rot_to(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    v = np.cross(a, b)
    c = float(a @ b)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


def test_noisy_prediction_with_negative_discriminant_is_valid_and_approximate():
    xyz, K = _one_hand(5)
    uv, z = g.to_2p5d(xyz, K)
    z = z.copy()
    z[9] = 3.0  # depth difference larger than the bone: no exact solution
    rec = g.reconstruct_3d(uv, z, K, return_details=True)
    assert rec.valid and rec.status == g.Status.APPROXIMATE
    assert np.isfinite(rec.xyz).all()
    # the vertex of the quadratic: the root depth giving the reference bone the length closest to 1
    length = np.linalg.norm(rec.xyz[9] - rec.xyz[0])
    for dz in (-1e-3, 1e-3):
        other = g._lift(g.pixels_to_normalized(uv, K), z, np.array(rec.z_root + dz))
        assert abs(np.linalg.norm(other[9] - other[0]) - 1) >= abs(length - 1) - 1e-12


def test_all_points_behind_camera_is_invalid():
    xyz, K = _one_hand(8)
    uv, z = g.to_2p5d(xyz, K)
    z = z.copy()
    z[4] = -1e6  # a keypoint absurdly far in front of the root: no root depth keeps it in front of the camera
    rec = g.reconstruct_3d(uv, z, K, return_details=True)
    assert not rec.valid and rec.status == g.Status.BEHIND_CAMERA
    assert np.isnan(rec.xyz).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_marks_only_that_hand(bad):
    xyz, K = random_scenes(np.random.default_rng(9), 4)
    uv, z = g.to_2p5d(xyz, K)
    uv[1, 3, 0] = bad
    z[2, 7] = bad
    rec = g.reconstruct_3d(uv, z, K, return_details=True)
    assert list(rec.valid) == [True, False, False, True]
    assert (rec.status[[1, 2]] == g.Status.NONFINITE_INPUT).all()
    assert np.isnan(rec.xyz[[1, 2]]).all() and np.isfinite(rec.xyz[[0, 3]]).all()


@pytest.mark.parametrize(
    "K",
    [np.zeros((3, 3)), np.full((3, 3), np.nan), np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 0]]), np.eye(2)],
)
def test_unusable_intrinsics_raise_value_error(K):
    xyz, _ = _one_hand()
    uv = np.zeros((21, 2))
    with pytest.raises(ValueError):
        g.reconstruct_3d(uv, np.zeros(21), K)
    with pytest.raises(ValueError):
        g.to_2p5d(xyz, K)


def test_structural_errors_raise_value_error():
    xyz, K = _one_hand()
    uv, z = g.to_2p5d(xyz, K)
    with pytest.raises(ValueError):
        g.reconstruct_3d(uv[:20], z[:20], K)
    with pytest.raises(ValueError):
        g.reconstruct_3d(uv, z[:20], K)
    with pytest.raises(ValueError):
        g.reconstruct_3d(uv, z, K, ref_bone=(9, 9))
    with pytest.raises(ValueError):
        g.reconstruct_3d(uv, z, K, root=21)
    with pytest.raises(ValueError):
        g.reconstruct_3d(uv, z, K, dist_coeffs=[0.1, 0.2, 0.3])


def test_other_root_and_reference_bone():
    xyz, K = random_scenes(np.random.default_rng(4), 500)
    for root, ref in ((9, (5, 6)), (0, (0, 5)), (13, (13, 14))):
        uv, z = g.to_2p5d(xyz, K, root=root, ref_bone=ref)
        assert np.all(z[:, root] == 0)
        rec = g.reconstruct_3d(uv, z, K, root=root, ref_bone=ref)
        err = _rel_err(rec, _normalised(xyz, ref))
        assert (err < 1e-9).mean() > 0.99


def test_broadcasting_single_K_over_batch():
    xyz, K = random_scenes(np.random.default_rng(6), 8)
    uv, z = g.to_2p5d(xyz, K[0])
    rec = g.reconstruct_3d(uv, z, K[0])
    assert rec.shape == (8, 21, 3)
    assert (_rel_err(rec, _normalised(xyz)) < 1e-9).mean() >= 7 / 8


# ---------------------------------------------------------------------------------------------- distortion

PLUMB_BOB = [-0.28, 0.09, 0.001, -0.0005, -0.012]


def test_distortion_round_trip():
    rng = np.random.default_rng(1)
    xn = rng.uniform(-0.6, 0.6, size=(1000, 2))
    back = g._undistort_normalized(g.distort_normalized(xn, PLUMB_BOB), PLUMB_BOB)
    np.testing.assert_allclose(back, xn, atol=1e-7)


def test_distortion_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    K = np.array([[600.0, 0, 320], [0, 610.0, 240], [0, 0, 1]])
    pts = np.random.default_rng(2).uniform([-0.3, -0.2, 0.4], [0.3, 0.2, 1.2], size=(50, 3))
    ours = g.project(pts[None], K, PLUMB_BOB)[0]
    theirs, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K, np.array(PLUMB_BOB))
    np.testing.assert_allclose(ours, theirs[:, 0], atol=1e-6)


def test_reconstruction_with_distortion_is_exact():
    xyz, K = random_scenes(np.random.default_rng(12), 200)
    K = K.copy()
    K[:, 0, 0] = K[:, 1, 1] = 500.0  # keep the hands within the lens model's valid field
    uv_dist = g.project(xyz, K, PLUMB_BOB)
    _, z = g.to_2p5d(xyz, K)
    ok = np.abs(g.pixels_to_normalized(g.project(xyz, K), K)).max(axis=(1, 2)) < 0.7
    rec = g.reconstruct_3d(uv_dist, z, K, dist_coeffs=PLUMB_BOB)
    err = _rel_err(rec[ok], _normalised(xyz[ok]))
    assert (err < 1e-6).mean() > 0.99
    # without undistortion the same input is clearly wrong
    wrong = g.reconstruct_3d(uv_dist, z, K)
    assert np.nanmedian(_rel_err(wrong[ok], _normalised(xyz[ok]))) > 1e-3


def test_rotation_invariance_of_reconstruction():
    """Rotating the whole scene about the optical axis rotates the reconstruction (K with fx == fy, centred)."""
    xyz, _ = random_scenes(np.random.default_rng(13), 1)
    K = np.array([[700.0, 0, 0], [0, 700.0, 0], [0, 0, 1]])
    R = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    a = g.reconstruct_3d(*g.to_2p5d(xyz[0], K), K)
    b = g.reconstruct_3d(*g.to_2p5d(xyz[0] @ R.T, K), K)
    np.testing.assert_allclose(b, a @ R.T, atol=1e-9)
