"""Checkpoints: round trip, training state, error handling (hand_pose_25d.model.checkpoint)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hand_pose_25d.model.checkpoint import FORMAT, build_model, load_checkpoint, save_checkpoint  # noqa: E402
from hand_pose_25d.model.losses import compute_loss  # noqa: E402
from hand_pose_25d.model.model_config import ModelConfig  # noqa: E402
from hand_pose_25d.settings import from_dict, to_dict  # noqa: E402


def small(**kw) -> ModelConfig:
    base = dict(
        input_size=64, channels=8, depth=2, output_stride=2, blocks_per_level=1, channel_growth=1.0, num_stages=2
    )
    base.update(kw)
    return from_dict(ModelConfig, base)


def trained_model(cfg: ModelConfig):
    """A model after two optimiser steps (weights, BN statistics and Adam state differ from a fresh one)."""
    torch.manual_seed(0)
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    x = torch.randn(4, 3, 64, 64)
    tg = {"uv": torch.rand(4, 21, 2) * 63, "z": torch.randn(4, 21), "handedness": torch.tensor([0.0, 1.0, 1.0, -1.0])}
    for _ in range(2):
        loss, _ = compute_loss(model(x), tg, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval(), opt, sched


@pytest.mark.parametrize("head", ["latent", "direct", "holistic"])
def test_round_trip_same_outputs(tmp_path, head):
    cfg = small(head=head, crop_padding=1.5, bone_lengths=[[0, 9, 0.1], [0, 1, 0.04]])
    model, opt, sched = trained_model(cfg)
    path = save_checkpoint(
        tmp_path / "sub" / "m.pt",
        model,
        cfg,
        extra={"note": "hi", "metrics": {"auc": 0.5}, "t": torch.ones(2)},
        optimizer=opt,
        scheduler=sched,
        step=2,
    )
    assert path.is_file() and not list(path.parent.glob(".*tmp"))
    loaded = load_checkpoint(path)
    assert loaded.config == cfg
    assert loaded.step == 2
    assert loaded.extra["note"] == "hi" and loaded.extra["metrics"] == {"auc": 0.5}
    assert torch.equal(loaded.extra["t"], torch.ones(2))
    assert not loaded.model.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = model(x), loaded.model(x)
    for sa, sb in zip(a, b):
        for key in ("uv", "z", "confidence", "handedness_logit"):
            assert torch.equal(sa[key], sb[key]), key
    # the training state can be restored
    opt2 = torch.optim.AdamW(loaded.model.parameters(), lr=1e-2)
    opt2.load_state_dict(loaded.raw["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == 2
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 1.0 / (1 + s))
    sched2.load_state_dict(loaded.raw["scheduler"])
    assert sched2.last_epoch == 2
    # weights-only content: plain torch.load with the safe loader accepts it
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["model_config"] == to_dict(cfg)


def test_training_state_in_extra(tmp_path):
    """The trainer stores optimizer/scheduler state dicts inside ``extra``; that must stay weights-only safe."""
    cfg = small(num_stages=1)
    model, opt, sched = trained_model(cfg)
    extra = {"step": 2, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "best_auc": -1.0}
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model, cfg, extra=extra))
    assert loaded.extra["step"] == 2 and "state" in loaded.extra["optimizer"]


def test_wrapped_model_prefix_stripped(tmp_path):
    cfg = small(num_stages=1)
    model, _, _ = trained_model(cfg)
    wrapped = torch.nn.DataParallel(model)
    assert next(iter(wrapped.state_dict())).startswith("module.")
    loaded = load_checkpoint(save_checkpoint(tmp_path / "m.pt", wrapped, cfg))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)[-1]["uv"], loaded.model(x)[-1]["uv"])


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(path)


def test_corrupt_truncated_foreign(tmp_path):
    cfg = small(num_stages=1)
    good = save_checkpoint(tmp_path / "good.pt", build_model(cfg), cfg)
    data = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint at all" * 10)
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "foreign.pt")
    torch.save(build_model(cfg), tmp_path / "pickled_module.pt")  # a whole pickled module: refused by weights_only
    for name in ("trunc.pt", "junk.pt", "foreign.pt", "pickled_module.pt"):
        with pytest.raises(ValueError, match="is not a hand_pose_25d checkpoint"):
            load_checkpoint(tmp_path / name)


def test_bad_stored_config_and_weights(tmp_path):
    cfg = small(num_stages=1)
    raw = torch.load(save_checkpoint(tmp_path / "m.pt", build_model(cfg), cfg), weights_only=True)
    bad = dict(raw, model_config=dict(raw["model_config"], wings=2))
    torch.save(bad, tmp_path / "unknown_key.pt")
    with pytest.raises(ValueError, match="wings"):
        load_checkpoint(tmp_path / "unknown_key.pt")
    other = dict(raw, model_config=dict(raw["model_config"], channels=16))
    torch.save(other, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(tmp_path / "mismatch.pt")
    torch.save(dict(raw, format_version=99), tmp_path / "future.pt")
    with pytest.raises(ValueError, match="format_version"):
        load_checkpoint(tmp_path / "future.pt")


def test_save_errors(tmp_path):
    cfg = small(num_stages=1)
    model = build_model(cfg)
    with pytest.raises(ValueError, match="channels"):
        save_checkpoint(tmp_path / "a.pt", model, small(num_stages=1, channels=16))
    with pytest.raises(ValueError, match="extra"):
        save_checkpoint(tmp_path / "b.pt", model, cfg, extra={"f": object()})
    with pytest.raises(ValueError, match="step"):
        save_checkpoint(tmp_path / "c.pt", model, cfg, step=1.5)
    assert not list(tmp_path.iterdir())
