"""ONNX export: graph I/O, metadata, ONNX Runtime == PyTorch (hand_pose_25d.model.onnx_export)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from hand_pose_25d.inference.contract import CONFIG_KEY, FORMAT_VERSION_KEY, OUTPUT_NAMES, read_onnx_config  # noqa: E402
from hand_pose_25d.model.checkpoint import build_model  # noqa: E402
from hand_pose_25d.model.model_config import ModelConfig  # noqa: E402
from hand_pose_25d.model.onnx_export import ExportWrapper, export_onnx, round_weights_to_half  # noqa: E402
from hand_pose_25d.settings import from_dict  # noqa: E402


def small(**kw) -> ModelConfig:
    base = dict(
        input_size=64,
        channels=8,
        depth=2,
        output_stride=2,
        blocks_per_level=1,
        channel_growth=1.0,
        image_mean=[0.5, 0.4, 0.3],
        image_std=[0.2, 0.25, 0.3],
    )
    base.update(kw)
    return from_dict(ModelConfig, base)


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    "kw",
    [
        {"head": "latent"},
        {"head": "latent", "num_stages": 2, "output_stride": 4},
        {"head": "direct"},
        {"head": "holistic", "num_stages": 2},
    ],
)
def test_ort_matches_torch(tmp_path, kw, randomised_model):
    cfg = small(**kw)
    model = randomised_model(cfg)
    path = export_onnx(model, cfg, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    sess = session(path)
    wrapper = ExportWrapper(model, cfg).eval()
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        image = rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
        got = dict(zip(OUTPUT_NAMES, sess.run(list(OUTPUT_NAMES), {"image": image})))
        with torch.no_grad():
            ref = dict(zip(OUTPUT_NAMES, (t.numpy() for t in wrapper(torch.from_numpy(image)))))
        assert got["uv"].shape == (batch, 21, 2) and got["uv"].dtype == np.float32
        assert got["z_rel"].shape == got["keypoint_scores"].shape == (batch, 21)
        assert got["handedness"].shape == (batch,)
        np.testing.assert_allclose(got["uv"], ref["uv"], atol=1e-3)
        np.testing.assert_allclose(got["z_rel"], ref["z_rel"], atol=1e-4)
        np.testing.assert_allclose(got["keypoint_scores"], ref["keypoint_scores"], atol=1e-4)
        np.testing.assert_allclose(got["handedness"], ref["handedness"], atol=1e-5)
        assert np.all((got["handedness"] >= 0) & (got["handedness"] <= 1))
        if batch == 3:
            assert np.abs(got["uv"][0] - got["uv"][1]).max() > 1e-3  # outputs depend on the image
            assert np.abs(got["z_rel"]).max() > 1e-3


def test_half_weight_storage_halves_the_file_and_computes_the_same(tmp_path, randomised_model):
    """The shipped model's packaging: float16-rounded weights, stored as float16 in the checkpoint and the ONNX."""
    from hand_pose_25d.model.checkpoint import load_checkpoint, save_checkpoint

    cfg = small(channels=16)
    model = round_weights_to_half(randomised_model(cfg))
    for p in model.parameters():  # rounding is idempotent: the values are exact float16 numbers
        assert torch.equal(p, p.half().float())
    full = export_onnx(model, cfg, tmp_path / "full.onnx")
    half = export_onnx(model, cfg, tmp_path / "half.onnx", half_weights=True)
    assert half.stat().st_size < 0.75 * full.stat().st_size  # (the small graph's structure weighs too)
    proto = onnx.load(str(half))
    onnx.checker.check_model(proto)
    assert any(n.op_type == "Cast" and n.input[0].endswith("__fp16") for n in proto.graph.node)
    assert read_onnx_config(half) == cfg
    image = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    a = session(full).run(list(OUTPUT_NAMES), {"image": image})
    b = session(half).run(list(OUTPUT_NAMES), {"image": image})
    for name, x, y in zip(OUTPUT_NAMES, a, b):  # float32 round-off only
        np.testing.assert_allclose(x, y, atol=1e-4 if name == "uv" else 1e-5, err_msg=name)
    # the checkpoint with float16 storage loads into the float32 model with the same values
    pt = save_checkpoint(tmp_path / "m.pt", model, cfg, half_weights=True)
    pt_full = save_checkpoint(tmp_path / "m_full.pt", model, cfg)
    assert pt.stat().st_size < 0.65 * pt_full.stat().st_size
    loaded = load_checkpoint(pt).model
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and v.dtype == v2.dtype and torch.equal(v, v2), k


def test_wrapper_normalises_like_training(tmp_path, randomised_model):
    cfg = small()
    model = randomised_model(cfg)
    image = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    x = image.permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(cfg.image_mean).view(1, 3, 1, 1)) / torch.tensor(cfg.image_std).view(1, 3, 1, 1)
    with torch.no_grad():
        uv, z, score, hand = ExportWrapper(model, cfg)(image)
        last = model(x)[-1]
    torch.testing.assert_close(uv, last["uv"], atol=1e-4, rtol=0)
    torch.testing.assert_close(z, last["z"], atol=1e-5, rtol=0)
    torch.testing.assert_close(hand, torch.sigmoid(last["handedness_logit"]), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="uint8"):
        ExportWrapper(model, cfg)(image.float())


def test_graph_io_and_metadata(tmp_path, randomised_model):
    cfg = small(crop_padding=1.7)
    model = randomised_model(cfg).train()
    path = export_onnx(model, cfg, tmp_path / "deep" / "m.onnx")
    assert model.training  # the caller's mode is restored
    proto = onnx.load(str(path))
    (inp,) = proto.graph.input
    assert inp.name == "image"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [64, 64, 3]
    assert [o.name for o in proto.graph.output] == list(OUTPUT_NAMES)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta[FORMAT_VERSION_KEY] == "1"
    assert ModelConfig.from_json(meta[CONFIG_KEY]) == cfg
    assert read_onnx_config(path) == cfg
    assert read_onnx_config(path).crop_padding == 1.7


def test_fixed_batch(tmp_path, randomised_model):
    cfg = small()
    path = export_onnx(randomised_model(cfg), cfg, tmp_path / "m.onnx", dynamic_batch=False)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 1


def test_read_onnx_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        read_onnx_config(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01 definitely not protobuf \xff" * 3)
    with pytest.raises(ValueError, match="junk.onnx"):
        read_onnx_config(tmp_path / "junk.onnx")
    # a valid ONNX model without our metadata
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    graph = onnx.helper.make_graph(
        [node],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    onnx.save(onnx.helper.make_model(graph), tmp_path / "plain.onnx")
    with pytest.raises(ValueError, match="model_config"):
        read_onnx_config(tmp_path / "plain.onnx")


def test_export_rejects_mismatched_config(tmp_path):
    cfg = small()
    with pytest.raises(ValueError, match="depth"):
        export_onnx(build_model(cfg), small(depth=1), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_live_loader_refuses_another_format_version(tmp_path):
    """Every backend reads the config through the contract, which checks the export format version."""
    from hand_pose_25d.inference.backends import create_backend

    cfg = small()
    path = export_onnx(build_model(cfg).eval(), cfg, tmp_path / "m.onnx")
    assert create_backend("onnxruntime", str(path)).config == cfg
    proto = onnx.load(str(path))
    for p in proto.metadata_props:
        if p.key == FORMAT_VERSION_KEY:
            p.value = "99"
    onnx.save(proto, str(tmp_path / "future.onnx"))
    with pytest.raises(ValueError, match="unsupported hand_pose_25d.format_version '99'"):
        create_backend("onnxruntime", str(tmp_path / "future.onnx"))
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = CONFIG_KEY, cfg.to_json()
    onnx.save(proto, str(tmp_path / "unversioned.onnx"))
    with pytest.raises(ValueError, match="format_version None"):
        create_backend("onnxruntime", str(tmp_path / "unversioned.onnx"))
