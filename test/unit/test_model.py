"""The network, heads, losses and presets (hand_pose_25d.model)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hand_pose_25d.model.heads import disc_mass, pixel_axes, soft_argmax, spatial_softmax  # noqa: E402
from hand_pose_25d.model.losses import LossConfig, compute_loss  # noqa: E402
from hand_pose_25d.model.model_config import ModelConfig  # noqa: E402
from hand_pose_25d.model.network import HandPoseNet, check_config_matches, count_parameters, level_channels  # noqa: E402
from hand_pose_25d.model.presets import PRESETS, preset_config  # noqa: E402
from hand_pose_25d.settings import from_dict  # noqa: E402

import reference_codec as D  # noqa: E402

K = 21


def small(**kw) -> ModelConfig:
    """A tiny config that runs in milliseconds."""
    base = dict(input_size=64, channels=8, depth=2, output_stride=2, blocks_per_level=1, channel_growth=1.0)
    base.update(kw)
    return from_dict(ModelConfig, base)


def targets(b: int, s: int, seed: int = 0, **over):
    g = torch.Generator().manual_seed(seed)
    t = {
        "uv": torch.rand(b, K, 2, generator=g) * (s - 1),
        "labeled": torch.ones(b, K, dtype=torch.bool),
        "z": torch.randn(b, K, generator=g) * 0.5,
        "has_3d": torch.ones(b, dtype=torch.bool),
        "handedness": (torch.arange(b) % 2).float(),
    }
    t.update(over)
    return t


# --------------------------------------------------------------------------------------------------------------
# shapes


@pytest.mark.parametrize("head", ["latent", "direct", "holistic"])
@pytest.mark.parametrize(
    "extra",
    [{}, {"num_stages": 2, "block": "residual"}, {"block": "separable", "output_stride": 4, "channel_growth": 2.0}],
)
def test_output_shapes_every_head(head, extra):
    cfg = small(head=head, **extra)
    model = HandPoseNet(cfg)
    outs = model(torch.randn(3, 3, 64, 64))
    assert isinstance(outs, list) and len(outs) == cfg.num_stages
    n = 64 // cfg.output_stride
    for out in outs:
        assert out["uv"].shape == (3, K, 2)
        assert out["z"].shape == (3, K)
        assert out["confidence"].shape == (3, K)
        assert out["handedness_logit"].shape == (3,)
        c = out["confidence"]
        assert torch.all((c >= 0) & (c <= 1))
        if head == "latent":
            assert out["logits_2d"].shape == out["logits_z"].shape == out["probs"].shape == (3, K, n, n)
            assert out["beta"].shape == (K,) and torch.all(out["beta"] > 0)
        if head == "direct":
            assert out["heatmaps"].shape == out["depthmaps"].shape == (3, K, n, n)
        if head == "holistic":
            assert torch.all(c == 1)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_build_and_run_narrow(name):
    cfg = preset_config(name)
    # full width for the parameter count; a narrow copy (same layout) for a fast forward pass
    narrow = preset_config(name, channels=8)
    outs = HandPoseNet(narrow)(torch.randn(1, 3, cfg.input_size, cfg.input_size))
    assert len(outs) == cfg.num_stages
    n = cfg.input_size // cfg.output_stride
    assert outs[-1]["probs"].shape == (1, K, n, n)


def test_paper_sizes():
    paper = preset_config("paper")
    assert (paper.channels, paper.input_size, paper.output_stride, paper.num_stages, paper.fast_head) == (
        256,
        128,
        1,
        2,
        False,
    )
    n2 = count_parameters(HandPoseNet(paper))
    n1 = count_parameters(HandPoseNet(preset_config("paper", num_stages=1)))
    nf = count_parameters(HandPoseNet(preset_config("fast")))
    # the paper: 17 M parameters for one stage, 35 M for two
    assert 15e6 < n1 < 20e6 and 32e6 < n2 < 38e6
    assert nf < n1 / 3
    fast = preset_config("fast")
    assert (fast.channels, fast.num_stages, fast.fast_head) == (128, 1, True)


def test_model_config_defaults_are_compact():
    assert ModelConfig() == preset_config("compact")
    assert preset_config("compact", channels=16).channels == 16
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("huge")
    with pytest.raises(ValueError, match="unknown setting"):
        preset_config("compact", widht=3)
    with pytest.raises(ValueError, match="halved"):
        preset_config("compact", depth=6)
    with pytest.raises(ValueError, match="confidence_radius"):
        preset_config("compact", output_stride=8, confidence_radius=0.01)


def test_presets_import_without_torch():
    code = "import sys, hand_pose_25d.model, hand_pose_25d.model.presets as p; p.preset_config('paper'); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_level_channels_and_config_mismatch():
    assert level_channels(small(channel_growth=2.0)) == [8, 16, 32]
    assert level_channels(small(channels=32, depth=3, channel_growth=1.5)) == [
        32,
        48,
        72,
        112,
    ]  # 32 * 1.5**3 = 108 -> 13.5 eighths -> 112
    with pytest.raises(ValueError, match="channels"):
        check_config_matches(HandPoseNet(small()), small(channels=16))
    check_config_matches(HandPoseNet(small()), small(crop_padding=2.0))  # conventions may differ


def test_bad_input():
    model = HandPoseNet(small())
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\)"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="floating"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


# --------------------------------------------------------------------------------------------------------------
# soft-argmax, beta, confidence


def test_torch_soft_argmax_recovers_sub_pixel_peak():
    stride, n = 4, 16
    u_ax, v_ax = pixel_axes(n, n, stride, torch.float64)
    target = torch.tensor([[[23.37, 31.81], [40.05, 12.6]]], dtype=torch.float64)
    d2 = (u_ax.view(1, 1, 1, n) - target[..., 0, None, None]) ** 2 + (
        v_ax.view(1, 1, n, 1) - target[..., 1, None, None]
    ) ** 2
    logits = -d2 / (2 * stride**2)
    probs = spatial_softmax(logits, torch.ones(2, dtype=torch.float64))
    uv = soft_argmax(probs, u_ax, v_ax)
    assert (uv - target).abs().max() < 0.05
    conf = disc_mass(probs, uv, u_ax, v_ax, 3.0 * stride)  # 3 sigma: 1 - exp(-4.5) = 0.989 of the mass
    assert torch.all(conf > 0.95)


def test_beta_init_and_gradient():
    cfg = small(beta_init=2.5)
    model = HandPoseNet(cfg)
    head = model.heads[0]
    assert torch.allclose(head.beta, torch.full((K,), 2.5))
    loss, _ = compute_loss(model(torch.randn(2, 3, 64, 64)), targets(2, 64), cfg)
    loss.backward()
    assert head.beta_raw.grad is not None and head.beta_raw.grad.abs().sum() > 0


def test_sharper_maps_give_higher_confidence():
    cfg = small()
    head = HandPoseNet(cfg).heads[0].eval()
    with torch.no_grad():
        head.tail.out.weight.normal_(0, 1.0)
        feats, deep = torch.rand(1, 8, 32, 32), torch.randn(1, 8, 16, 16)
        head.beta_raw.fill_(-5.0)  # beta ~ 0.007: nearly uniform maps
        low = head(feats, deep)["confidence"]
        head.beta_raw.fill_(1e5)  # beta = 1e5: one-hot maps
        high = head(feats, deep)["confidence"]
    assert low.max() < 0.1 and high.min() > 0.9


# --------------------------------------------------------------------------------------------------------------
# losses


def test_latent_loss_values_by_hand():
    uv_pred = torch.tensor([[[10.0, 20.0], [30.0, 40.0]]])
    out = {
        "uv": uv_pred.expand(1, 2, 2).clone(),
        "z": torch.tensor([[0.5, -0.25]]),
        "handedness_logit": torch.tensor([0.3]),
    }
    tg = {
        "uv": torch.tensor([[[12.0, 17.0], [np.nan, 0.0]]]),
        "z": torch.tensor([[0.0, 0.75]]),
        "has_3d": torch.tensor([True]),
        "handedness": torch.tensor([1.0]),
    }
    cfg2 = small(num_keypoints=2, keypoint_names=["a", "b"], ref_bone=[0, 1], bone_lengths=[[0, 1, 0.09]])
    lc = LossConfig(z_weight=2.0, handedness_weight=0.5)
    total, comps = compute_loss([out], tg, cfg2, lc)
    xy = (2.0 + 3.0) / 64.0  # only keypoint 0 is labelled (keypoint 1 has a NaN target)
    z = (0.5 + 1.0) / 2
    h = math.log(1 + math.exp(-0.3))
    assert comps["xy"] == pytest.approx(xy)
    assert comps["z"] == pytest.approx(z)
    assert comps["handedness"] == pytest.approx(h, rel=1e-6)
    assert float(total) == pytest.approx(xy + 2.0 * z + 0.5 * h, rel=1e-6)
    assert comps["loss"] == pytest.approx(float(total))


@pytest.mark.parametrize("head", ["latent", "direct"])
def test_2d_only_sample_gives_zero_depth_gradient(head):
    cfg = small(head=head)
    model = HandPoseNet(cfg)
    outs = model(torch.randn(2, 3, 64, 64))
    key = "logits_z" if head == "latent" else "depthmaps"
    for out in outs:
        out[key].retain_grad()
    z = torch.randn(2, K)
    z[1] = float("nan")  # sample 1 has no 3D label (NaN must not leak into the gradient)
    loss, comps = compute_loss(outs, targets(2, 64, z=z, has_3d=torch.tensor([True, False])), cfg)
    loss.backward()
    g = outs[0][key].grad
    assert torch.isfinite(g).all()
    assert torch.all(g[1] == 0)
    assert g[0].abs().sum() > 0
    assert comps["z"] > 0


def test_no_3d_at_all_and_unknown_handedness():
    cfg = small()
    model = HandPoseNet(cfg)
    outs = model(torch.randn(2, 3, 64, 64))
    tg = {"uv": torch.rand(2, K, 2) * 63, "handedness": torch.tensor([-1.0, float("nan")])}
    loss, comps = compute_loss(outs, tg, cfg)
    assert comps["z"] == 0.0 and comps["handedness"] == 0.0 and comps["xy"] > 0
    loss.backward()
    assert torch.all(model.heads[0].handedness.weight.grad == 0)


def test_auxiliary_heatmap_cross_entropy():
    from hand_pose_25d.model.losses import gaussian_heatmaps, heatmap_cross_entropy

    cfg = small(output_stride=2)  # 32x32 maps
    uv = torch.tensor([[[20.5, 30.5], [40.5, 10.5]]]).expand(1, 2, 2).clone()
    labeled = torch.tensor([[True, False]])
    tgt = gaussian_heatmaps(uv, 64, 2, 1.0)
    tgt = tgt / tgt.sum(dim=(2, 3), keepdim=True)
    uniform = torch.full((1, 2, 32, 32), 1.0 / 1024)
    # CE of the uniform map is log(1024); of the target itself its entropy (smaller); unlabelled ones do not count
    assert float(heatmap_cross_entropy(uniform, uv, labeled, 64, 2, 1.0)) == pytest.approx(math.log(1024), rel=1e-5)
    ent = float(-(tgt[0, 0] * torch.log(tgt[0, 0].clamp(min=1e-12))).sum())
    assert float(heatmap_cross_entropy(tgt, uv, labeled, 64, 2, 1.0)) == pytest.approx(ent, rel=1e-5)
    assert ent < math.log(1024) - 2
    assert float(heatmap_cross_entropy(uniform, uv, torch.zeros(1, 2, dtype=torch.bool), 64, 2, 1.0)) == 0.0
    # in compute_loss: added for the latent head only, with the weight given, and with a gradient to the maps
    model = HandPoseNet(cfg)
    outs = model(torch.randn(2, 3, 64, 64))
    tg = targets(2, 64)
    base, c0 = compute_loss(outs, tg, cfg)
    lc = LossConfig(aux_heatmap_weight=0.5)
    with_aux, c1 = compute_loss(outs, tg, cfg, lc)
    assert "aux_heatmap" not in c0 and c1["aux_heatmap"] > 0
    assert float(with_aux) == pytest.approx(float(base) + 0.5 * c1["aux_heatmap"], rel=1e-5)
    annealed, c2 = compute_loss(outs, tg, cfg, lc, aux_weight=0.0)
    assert float(annealed) == pytest.approx(float(base), rel=1e-6) and "aux_heatmap" not in c2
    outs[0]["logits_2d"].retain_grad()
    with_aux.backward()
    assert outs[0]["logits_2d"].grad.abs().sum() > 0
    direct = small(head="direct")
    d_outs = HandPoseNet(direct)(torch.randn(2, 3, 64, 64))
    assert "aux_heatmap" not in compute_loss(d_outs, tg, direct, lc)[1]


def test_direct_loss_is_about_one_for_zero_prediction():
    cfg = small(head="direct")
    n = 32
    uv = torch.tensor([[[31.5, 30.5]]]).expand(1, K, 2)
    z = torch.full((1, K), 0.5)
    out = {
        "uv": uv.clone(),
        "z": z.clone(),
        "handedness_logit": torch.zeros(1),
        "heatmaps": torch.zeros(1, K, n, n),
        "depthmaps": torch.zeros(1, K, n, n),
    }
    _, comps = compute_loss([out], {"uv": uv, "z": z}, cfg, LossConfig(heatmap_sigma=2.0))
    assert comps["xy"] == pytest.approx(1.0, rel=1e-3)
    assert comps["z"] == pytest.approx(0.25, rel=1e-3)
    # the exact target gives zero
    hm = torch.from_numpy(D.encode_gaussian(uv.numpy(), 64, 2, 2.0))
    out.update(heatmaps=hm, depthmaps=0.5 * hm)
    _, comps = compute_loss([out], {"uv": uv, "z": z}, cfg, LossConfig(heatmap_sigma=2.0))
    assert comps["xy"] == pytest.approx(0.0, abs=1e-10) and comps["z"] == pytest.approx(0.0, abs=1e-10)


def test_multi_stage_loss_sums_all_stages():
    cfg = small(num_stages=3)
    outs = HandPoseNet(cfg)(torch.randn(2, 3, 64, 64))
    assert len(outs) == 3
    tg = targets(2, 64)
    total, comps = compute_loss(outs, tg, cfg)
    singles = [float(compute_loss([o], tg, cfg)[0].detach()) for o in outs]
    assert float(total.detach()) == pytest.approx(sum(singles), rel=1e-6)
    assert {"stage0/xy", "stage1/xy", "stage2/xy"} <= set(comps)
    assert comps["xy"] == pytest.approx(sum(comps[f"stage{i}/xy"] for i in range(3)))


def test_loss_target_errors():
    cfg = small()
    outs = HandPoseNet(cfg)(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="'uv'"):
        compute_loss(outs, {}, cfg)
    with pytest.raises(ValueError, match=r"targets\['uv'\]"):
        compute_loss(outs, {"uv": torch.zeros(2, 5, 2)}, cfg)
    with pytest.raises(ValueError, match="has_3d"):
        compute_loss(
            outs, {"uv": torch.zeros(2, K, 2), "z": torch.zeros(2, K), "has_3d": torch.ones(3, dtype=torch.bool)}, cfg
        )
    with pytest.raises(ValueError, match="empty"):
        compute_loss([], {"uv": torch.zeros(2, K, 2)}, cfg)


# --------------------------------------------------------------------------------------------------------------
# learning


@pytest.mark.parametrize("head", ["latent", "direct", "holistic"])
def test_tiny_overfit(head):
    torch.manual_seed(0)
    cfg = small(head=head, output_stride=4, depth=2, channels=16)
    model = HandPoseNet(cfg)
    x = torch.randn(2, 3, 64, 64)
    tg = targets(2, 64, seed=1)
    tg["uv"] = tg["uv"] * 0.6 + 12  # keep away from the border
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss, _ = compute_loss(model(x), tg, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    model.eval()
    with torch.no_grad():
        final, comps = compute_loss(model(x), tg, cfg)
    assert float(final) < 0.4 * first, (first, comps)
