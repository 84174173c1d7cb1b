"""The heatmap codecs of the torch heads and losses, against an independent numpy reference (test/reference_codec.py):
conventions, round trips, confidence."""

from __future__ import annotations

import numpy as np
import pytest

import reference_codec as D

# --------------------------------------------------------------------------------------------------------------
# the grid convention


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_grid_cell_centre_is_mean_of_covered_pixel_centres(stride):
    h, w = 3, 5
    grid = D.heatmap_grid(h, w, stride)
    assert grid.shape == (h, w, 2)
    for i in range(h):
        for j in range(w):
            cols = [stride * j + d for d in range(stride)]  # input pixel centres covered by cell (i, j)
            rows = [stride * i + d for d in range(stride)]
            assert grid[i, j, 0] == pytest.approx(np.mean(cols))
            assert grid[i, j, 1] == pytest.approx(np.mean(rows))
    u, v = D.heatmap_axes(h, w, stride)
    np.testing.assert_allclose(u, grid[0, :, 0])
    np.testing.assert_allclose(v, grid[:, 0, 1])


def test_pixels_cells_inverse():
    uv = np.random.default_rng(0).uniform(-3, 130, (7, 2))
    for s in (1, 2, 4):
        np.testing.assert_allclose(D.cells_to_pixels(D.pixels_to_cells(uv, s), s), uv)
    assert D.pixels_to_cells(np.array([1.5, 5.5]), 4).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_stride(bad):
    with pytest.raises(ValueError, match="stride"):
        D.heatmap_grid(4, 4, bad)


# --------------------------------------------------------------------------------------------------------------
# Gaussian encoding


def test_encode_gaussian_values():
    uv = np.array([[[5.5, 9.5]]])  # stride 4: exactly the centre of cell (row 2, col 1)
    hm = D.encode_gaussian(uv, 16, 4, sigma=1.5)
    assert hm.shape == (1, 1, 4, 4) and hm.dtype == np.float32
    assert hm[0, 0, 2, 1] == pytest.approx(1.0)
    assert hm[0, 0, 2, 2] == pytest.approx(np.exp(-1 / (2 * 1.5**2)), rel=1e-6)
    assert hm[0, 0, 0, 0] == pytest.approx(np.exp(-(1 + 4) / (2 * 1.5**2)), rel=1e-6)


def test_encode_gaussian_rectangular_and_invalid():
    uv = np.array([[10.0, 3.0], [np.nan, 2.0], [4.0, 4.0]])
    hm = D.encode_gaussian(uv, (32, 16), 2, sigma=1.0, valid=np.array([True, True, False]))
    assert hm.shape == (3, 8, 16)  # (K, h, w) with width 32 / 2, height 16 / 2
    assert np.unravel_index(hm[0].argmax(), hm[0].shape) == (1, 5)  # u=10 -> cell 4.75, v=3 -> cell 1.25
    assert not hm[1].any() and not hm[2].any()


def test_encode_gaussian_errors():
    with pytest.raises(ValueError, match="multiple"):
        D.encode_gaussian(np.zeros((1, 2)), 30, 4, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        D.encode_gaussian(np.zeros((1, 2)), 32, 4, 0.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., K, 2\)"):
        D.encode_gaussian(np.zeros((3,)), 32, 4, 1.0)
    with pytest.raises(ValueError, match="valid"):
        D.encode_gaussian(np.zeros((2, 2)), 32, 4, 1.0, valid=np.ones(3, bool))


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_argmax_round_trip_within_half_a_cell(stride):
    rng = np.random.default_rng(stride)
    S = 64
    uv = rng.uniform(0, S - 1, (5, 21, 2))
    hm = D.encode_gaussian(uv, S, stride, sigma=2.0)
    dec, maxvals = D.decode_argmax(hm, stride)
    assert dec.shape == uv.shape and maxvals.shape == uv.shape[:-1]
    assert np.abs(dec - uv).max() <= stride / 2 + 1e-9
    # the peak value is the Gaussian at the nearest cell centre
    np.testing.assert_allclose(maxvals, np.exp(-(((dec - uv) / stride) ** 2).sum(-1) / 8.0), rtol=1e-5)


def test_argmax_quarter_offset_refinement():
    stride = 4
    cells = np.array([[[3.3, 5.0]], [[6.0, 2.8]]])  # fractional (col, row)
    uv = D.cells_to_pixels(cells, stride)
    hm = D.encode_gaussian(uv, 48, stride, sigma=1.5)
    plain, _ = D.decode_argmax(hm, stride)
    refined, _ = D.decode_argmax(hm, stride, refine=True)
    np.testing.assert_allclose(D.pixels_to_cells(plain, stride), [[[3, 5]], [[6, 3]]])
    # a keypoint exactly on a cell centre stays; otherwise a quarter cell towards the true position
    np.testing.assert_allclose(D.pixels_to_cells(refined, stride), [[[3.25, 5]], [[6, 2.75]]])
    # a border maximum is not moved
    edge = D.encode_gaussian(np.array([[0.0, 0.0]]), 16, 1, sigma=1.0)
    np.testing.assert_allclose(D.decode_argmax(edge, 1, refine=True)[0], [[0.0, 0.0]])


def test_depth_maps_and_depth_at():
    rng = np.random.default_rng(1)
    S, stride = 32, 2
    uv = rng.uniform(2, 29, (2, 21, 2))
    z = rng.normal(size=(2, 21))
    hm = D.encode_gaussian(uv, S, stride, sigma=1.0)
    dm = D.encode_depth_maps(z, hm)
    np.testing.assert_allclose(dm, z[..., None, None] * hm, rtol=1e-6, atol=1e-7)
    dec, peak = D.decode_argmax(hm, stride)
    # paper Eq. 12: the depth map at the argmax cell is z times the peak value
    np.testing.assert_allclose(D.decode_depth_at(dm, dec, stride), z * peak, rtol=1e-5, atol=1e-7)
    # any point inside a cell reads that cell; out-of-map points clamp; NaN gives NaN
    maps = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    pts = np.array([[[4.4, 0.2]], [[-20.0, 100.0]], [[np.nan, 1.0]]])
    got = D.decode_depth_at(np.repeat(maps, 3, axis=0), pts, 4)
    assert got[0, 0] == 1.0 and got[1, 0] == 12.0 and np.isnan(got[2, 0])
    with pytest.raises(ValueError):
        D.encode_depth_maps(np.zeros(3), hm[0])
    with pytest.raises(ValueError):
        D.decode_depth_at(dm, uv[:, :3], stride)
    # unknown depth (NaN) gives an all-zero target
    assert not D.encode_depth_maps(np.full((2, 21), np.nan), hm).any()


# --------------------------------------------------------------------------------------------------------------
# softmax / soft-argmax


def test_softmax2d_sums_to_one_and_beta_scales():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 3, 5, 6)) * 10
    p = D.softmax2d(logits, np.array([0.5, 1.0, 2.0]))
    np.testing.assert_allclose(p.sum(axis=(-2, -1)), 1.0)
    np.testing.assert_allclose(D.softmax2d(logits, 2.0), D.softmax2d(2.0 * logits, 1.0))
    np.testing.assert_allclose(p[:, 2], D.softmax2d(logits[:, 2:3] * 2.0)[:, 0])
    huge = D.softmax2d(np.full((1, 4, 4), 1e4))  # stable for large logits
    np.testing.assert_allclose(huge, 1 / 16)
    for bad in (0.0, -1.0, np.ones(2), np.nan):
        with pytest.raises(ValueError, match="beta"):
            D.softmax2d(logits, bad)


@pytest.mark.parametrize("stride", [1, 4])
def test_soft_argmax_recovers_sub_pixel_peak(stride):
    rng = np.random.default_rng(3)
    S = 64
    n = S // stride
    grid = D.heatmap_grid(n, n, stride)
    uv = rng.uniform(20, 44, (6, 2))
    sigma = 1.0 * stride  # a sharp peak: one cell
    logits = -((grid[None] - uv[:, None, None]) ** 2).sum(-1) / (2 * sigma**2)
    dec, probs = D.decode_soft_argmax(logits, 1.0, stride)
    assert probs.shape == logits.shape
    assert np.abs(dec - uv).max() < 0.05


def test_keypoint_confidence_sharp_uniform_bimodal():
    stride, n = 2, 16
    grid = D.heatmap_grid(n, n, stride)
    radius = 4.0
    # sharp peak -> ~1
    sharp = -((grid - np.array([12.3, 17.1])) ** 2).sum(-1) / (2 * 0.8**2)
    uv, probs = D.decode_soft_argmax(sharp[None], 1.0, stride)
    assert D.keypoint_confidence(probs, uv, stride, radius)[0] > 0.99
    # uniform -> fraction of cell centres in the disc, counted by hand
    uniform = np.full((1, n, n), 1.0 / (n * n))
    centre = np.array([[15.5, 15.5]])
    count = sum(
        1 for i in range(n) for j in range(n) if (2 * j + 0.5 - 15.5) ** 2 + (2 * i + 0.5 - 15.5) ** 2 <= radius**2
    )
    assert D.keypoint_confidence(uniform, centre, stride, radius)[0] == pytest.approx(count / n**2)
    # two far-apart peaks: the mean lies between them, where there is no mass
    bi = np.zeros((1, n, n))
    bi[0, 3, 3] = bi[0, 12, 12] = 0.5
    uvb = D._expectation(bi, stride)
    assert D.keypoint_confidence(bi, uvb, stride, radius)[0] == pytest.approx(0.0)
    assert D.keypoint_confidence(bi, np.array([[6.5, 6.5]]), stride, radius)[0] == pytest.approx(0.5)
    assert D.keypoint_confidence(bi, np.array([[np.nan, 1.0]]), stride, radius)[0] == 0.0
    with pytest.raises(ValueError, match="radius"):
        D.keypoint_confidence(bi, uvb, stride, 0.0)


def test_decode_latent_depth_is_expectation():
    rng = np.random.default_rng(4)
    l2d = rng.normal(size=(3, 21, 8, 8))
    lz = rng.normal(size=(3, 21, 8, 8))
    beta = rng.uniform(0.5, 2, 21)
    uv, z, conf = D.decode_latent(l2d, lz, beta, 4, radius=6.0)
    probs = D.softmax2d(l2d, beta)
    np.testing.assert_allclose(z, (probs * lz).sum((-2, -1)))
    _, z_const, _ = D.decode_latent(l2d, np.full_like(lz, 0.7), beta, 4)
    np.testing.assert_allclose(z_const, 0.7)
    assert uv.shape == (3, 21, 2) and conf.shape == (3, 21)
    assert np.all((conf >= 0) & (conf <= 1))
    with pytest.raises(ValueError, match="same shape"):
        D.decode_latent(l2d, lz[:, :, :4], beta, 4)
    with pytest.raises(ValueError, match=r"\(\.\.\., K, h, w\)"):
        D.decode_latent(l2d[0, 0], lz[0, 0], 1.0, 4)


def test_default_radius_matches_model_config():
    from hand_pose_25d.model.model_config import ModelConfig

    c = ModelConfig()
    assert D.DEFAULT_CONFIDENCE_RADIUS == pytest.approx(c.confidence_radius * c.input_size)


# --------------------------------------------------------------------------------------------------------------
# agreement with the torch heads


def _randomised_head(head_name: str):
    torch = pytest.importorskip("torch")
    from hand_pose_25d.model.heads import build_head
    from hand_pose_25d.model.model_config import ModelConfig
    from hand_pose_25d.settings import from_dict

    cfg = from_dict(ModelConfig, {"head": head_name, "input_size": 64, "output_stride": 2, "depth": 2, "channels": 8})
    torch.manual_seed(0)
    head = build_head(cfg, 8, 16).double().eval()
    with torch.no_grad():
        head.tail.out.weight.normal_(0, 5.0)
        if head_name == "latent":
            head.beta_raw.uniform_(-1, 2)
    return torch, cfg, head


def test_latent_head_matches_numpy_decoder():
    torch, cfg, head = _randomised_head("latent")
    feats = torch.randn(3, 8, 32, 32, dtype=torch.float64)
    deep = torch.randn(3, 16, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        out = head(feats, deep)
    uv, z, conf = D.decode_latent(
        out["logits_2d"].numpy(),
        out["logits_z"].numpy(),
        out["beta"].numpy(),
        cfg.output_stride,
        radius=cfg.confidence_radius * cfg.input_size,
    )
    np.testing.assert_allclose(out["uv"].numpy(), uv, atol=1e-5)
    np.testing.assert_allclose(out["z"].numpy(), z, atol=1e-5)
    np.testing.assert_allclose(out["confidence"].numpy(), conf, atol=1e-5)
    np.testing.assert_allclose(
        out["probs"].numpy(), D.softmax2d(out["logits_2d"].numpy(), out["beta"].numpy()), atol=1e-10
    )
    assert conf.std() > 0.01  # the random maps give a spread of confidences, so the comparison means something


def test_latent_head_float32_close_to_numpy():
    torch, cfg, head = _randomised_head("latent")
    head = head.float()
    with torch.no_grad():
        out = head(torch.randn(2, 8, 32, 32), torch.randn(2, 16, 8, 8))
    uv, z, _ = D.decode_latent(out["logits_2d"].numpy(), out["logits_z"].numpy(), out["beta"].numpy(), 2)
    np.testing.assert_allclose(out["uv"].numpy(), uv, atol=1e-3)
    np.testing.assert_allclose(out["z"].numpy(), z, atol=1e-4)


def test_direct_head_matches_numpy_decoder():
    torch, cfg, head = _randomised_head("direct")
    with torch.no_grad():
        out = head(torch.randn(3, 8, 32, 32, dtype=torch.float64), torch.randn(3, 16, 8, 8, dtype=torch.float64))
    uv, peak = D.decode_argmax(out["heatmaps"].numpy(), cfg.output_stride)
    np.testing.assert_allclose(out["uv"].numpy(), uv, atol=1e-5)
    np.testing.assert_allclose(out["z"].numpy(), D.decode_depth_at(out["depthmaps"].numpy(), uv, 2), atol=1e-5)
    np.testing.assert_allclose(out["confidence"].numpy(), np.clip(peak, 0, 1), atol=1e-5)


def test_torch_gaussian_targets_match_numpy():
    torch = pytest.importorskip("torch")
    from hand_pose_25d.model.losses import gaussian_heatmaps

    rng = np.random.default_rng(5)
    uv = rng.uniform(-5, 70, (2, 21, 2))
    uv[0, 3] = np.nan
    valid = rng.random((2, 21)) > 0.2
    for stride in (1, 4):
        ref = D.encode_gaussian(uv, 64, stride, 1.7, valid=valid, dtype=np.float64)
        got = gaussian_heatmaps(torch.from_numpy(uv), 64, stride, 1.7, torch.from_numpy(valid)).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-12)
