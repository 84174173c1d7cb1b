"""The ``landmark`` preset: the latent 2.5D head on MediaPipe's hand-landmark encoder, imported from its TFLite file.

The real encoder is used where a mediapipe 0.10.21 wheel is cached (``hand-pose-25d setup-models``, run by
``make test``, fetches it); the checks of the weights' provenance run without one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tflite", reason="the importer needs the 'tflite' package (pip install tflite)")

from mediapipe_wheel_fixture import cached_wheel  # noqa: E402

from hand_pose_25d.model.checkpoint import _plain, build_model, load_checkpoint, save_checkpoint  # noqa: E402
from hand_pose_25d.model.model_config import ModelConfig  # noqa: E402
from hand_pose_25d.model.presets import preset_config  # noqa: E402
from hand_pose_25d.model.pretrained_net import (  # noqa: E402
    ENCODER_LICENSE,
    build_pretrained_net,
    encoder_tflite,
    encoder_weights_record,
)
from hand_pose_25d.pretrained import mediapipe_wheel  # noqa: E402
from hand_pose_25d.pretrained.graph_spec import description_from_spec, graph_spec, resize_input  # noqa: E402
from hand_pose_25d.pretrained.mediapipe_wheel import MODELS, PretrainedError  # noqa: E402
from hand_pose_25d.pretrained.tflite_reader import read_tflite  # noqa: E402
from hand_pose_25d.pretrained.tflite_torch import SUPPORTED_OPS, TFLiteModule  # noqa: E402
from hand_pose_25d.settings import to_dict  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NAMES = [MODELS["hand_landmark_full"].stride_features[s] for s in (4, 8, 16)]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with hand_landmark_full.tflite extracted from the cached wheel."""
    wheel = cached_wheel()
    if wheel is None:
        pytest.skip("no cached mediapipe 0.10.21 wheel ('hand-pose-25d setup-models' fetches it)")
    out = tmp_path_factory.mktemp("models")
    mediapipe_wheel.extract_model(wheel, "hand_landmark_full", out / "mediapipe")
    return out


def test_presets_record_the_weights_source_and_license() -> None:
    cfg = preset_config("landmark")
    assert cfg.encoder == "hand_landmark_full"
    assert cfg.weights_source == encoder_weights_record("hand_landmark_full")
    assert MODELS["hand_landmark_full"].sha256 in cfg.weights_source
    assert cfg.weights_license == ENCODER_LICENSE
    assert cfg.output_stride * 2**cfg.depth == 16
    assert preset_config("compact").encoder == "none"


@pytest.mark.parametrize("field", ["weights_source", "weights_license"])
def test_a_model_whose_weights_cannot_be_traced_is_refused(field: str) -> None:
    data = to_dict(preset_config("landmark"))
    data[field] = ""
    with pytest.raises(ValueError, match="does not record where its weights come from or under which license"):
        ModelConfig.from_json(__import__("json").dumps(data))
    # the from-scratch presets need no record
    ModelConfig.from_json(preset_config("compact").to_json())


def test_wrong_weights_source_is_refused_before_building() -> None:
    cfg = preset_config("landmark", weights_source="some tflite from the internet")
    with pytest.raises(ValueError, match="does not name the file the hand_landmark_full encoder is imported from"):
        build_pretrained_net(cfg)


def test_encoder_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mediapipe_wheel, "_pip_download", lambda dest, extra, timeout: (False, "ERROR: no network"))
    with pytest.raises(PretrainedError, match="(?s)wheel is missing.*no network"):
        encoder_tflite("hand_landmark_full", tmp_path / "models", tmp_path / "wheels")
    # a wheel whose hand_landmark_full.tflite is another file than the one the preset was made from
    wheels = tmp_path / "wheels2"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "mediapipe-0.10.21-py3-none-any.whl", "w") as zf:
        zf.writestr(MODELS["hand_landmark_full"].member, b"\0\0\0\0TFL3" + b"\0" * 64)
    with pytest.raises(PretrainedError, match="not the file the pretrained encoder was made from"):
        encoder_tflite("hand_landmark_full", tmp_path / "models2", wheels)


def test_graph_spec_round_trip_and_resize(models_dir: Path) -> None:
    desc = read_tflite(models_dir / "mediapipe" / "hand_landmark_full.tflite", supported=SUPPORTED_OPS)
    full = TFLiteModule(desc, input_layout="NCHW", outputs=NAMES, output_layout="NCHW").eval()
    spec = graph_spec(desc, NAMES)
    _plain(spec, "encoder_graph")  # storable in a weights-only checkpoint
    assert sum(1 for t in spec["tensors"] if t.get("weight")) > 30
    assert all("data" not in t or len(t["data"]) <= 16 for t in spec["tensors"])
    rebuilt_desc, outs = description_from_spec(spec)
    rebuilt = TFLiteModule(rebuilt_desc, input_layout="NCHW", outputs=outs, output_layout="NCHW").eval()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert float(rebuilt(x)[0].abs().max()) != float(full(x)[0].abs().max())  # zeros until the state dict
        rebuilt.load_state_dict(full.state_dict())
        for a, b in zip(full(x), rebuilt(x)):
            assert torch.equal(a, b)
    with pytest.raises(ValueError, match="not a TFLite graph spec"):
        description_from_spec({"format": "something else"})

    small = resize_input(desc, 128, 128, outputs=NAMES)
    enc = TFLiteModule(small, input_layout="NCHW", outputs=NAMES, output_layout="NCHW").eval()
    enc.check_shapes()
    with torch.no_grad():
        shapes = [tuple(t.shape) for t in enc(torch.rand(1, 3, 128, 128))]
    assert shapes == [(1, 24, 32, 32), (1, 40, 16, 16), (1, 112, 8, 8)]
    with pytest.raises(ValueError, match="whole pixels"):
        resize_input(desc, 136, 136, outputs=NAMES)
    with pytest.raises(ValueError, match="depends on the input size"):
        resize_input(desc, 128, 128)  # the whole graph ends in FULLY_CONNECTED layers


def test_landmark_net_trains_saves_loads_and_exports(
    models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAND_POSE_25D_MODELS", str(models_dir))
    cfg = preset_config("landmark")
    torch.manual_seed(0)
    net = build_model(cfg)
    x = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    out = net.eval()(x)[0]
    assert out["uv"].shape == (2, 21, 2) and out["z"].shape == (2, 21) and out["probs"].shape == (2, 21, 32, 32)
    with pytest.raises(ValueError, match=r"\(B, 3, 128, 128\)"):
        net(torch.rand(1, 3, 96, 96))

    # freezing the encoder up to stride 8: those weights do not move, the stride-16 blocks and the decoder do
    frozen = net.freeze_encoder(8)
    assert 0 < frozen < sum(p.numel() for p in net.encoder.parameters())
    before = {k: v.clone() for k, v in net.state_dict().items()}
    from hand_pose_25d.training.trainer import _param_groups

    groups = _param_groups(net, 1e-4, 1e-3, encoder_lr_scale=0.5)
    assert sorted({g["lr"] for g in groups}) == [5e-4, 1e-3]
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    opt = torch.optim.AdamW(groups)
    net.train()
    o = net(x)[0]
    (o["uv"].mean() + o["z"].pow(2).mean()).backward()
    opt.step()
    after = net.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    stride_of = {}
    for key, _, _, idx, _ in net.encoder._plan:
        stride_of[key] = 128 // int(net.encoder.tensor_shapes[idx][1])
    enc_moved = {k.split(".")[2] for k in moved if k.startswith("encoder.ops.")}
    assert enc_moved and all(stride_of[k] == 16 for k in enc_moved)
    assert any(k.startswith("lateral.") for k in moved) and any(k.startswith("head.") for k in moved)

    # the checkpoint rebuilds the model without the .tflite or the wheel
    net.eval()
    path = save_checkpoint(tmp_path / "m.pt", net, cfg)
    monkeypatch.setenv("HAND_POSE_25D_MODELS", str(tmp_path / "no_models"))
    monkeypatch.setenv("HAND_POSE_WHEEL_CACHE", str(tmp_path / "no_wheels"))
    monkeypatch.setattr(mediapipe_wheel, "_pip_download", lambda *a: pytest.fail("loading must not download"))
    loaded = load_checkpoint(path)
    assert loaded.config.weights_license == ENCODER_LICENSE
    with torch.no_grad():
        a, b = net(x)[0], loaded.model(x)[0]
    assert torch.equal(a["uv"], b["uv"]) and torch.equal(a["z"], b["z"])

    # a checkpoint that lost its encoder graph, or its license record, is refused by name
    raw = torch.load(path, weights_only=True)
    raw["encoder_graph"] = None
    torch.save(raw, tmp_path / "nograph.pt")
    with pytest.raises(ValueError, match="holds no encoder graph"):
        load_checkpoint(tmp_path / "nograph.pt")
    raw = torch.load(path, weights_only=True)
    raw["model_config"]["weights_license"] = ""
    torch.save(raw, tmp_path / "nolicense.pt")
    with pytest.raises(ValueError, match="cannot be traced"):
        load_checkpoint(tmp_path / "nolicense.pt")

    # ONNX export matches PyTorch, and the exported file carries the record
    pytest.importorskip("onnxruntime")
    from hand_pose_25d.commands.export import verify_onnx
    from hand_pose_25d.inference.contract import read_onnx_config
    from hand_pose_25d.model.onnx_export import export_onnx

    onnx_path = export_onnx(loaded.model, loaded.config, tmp_path / "m.onnx")
    worst = verify_onnx(path, onnx_path)
    assert max(worst.values()) < 1e-3, worst
    assert read_onnx_config(onnx_path).weights_source == cfg.weights_source


def test_resize_keeps_values_at_the_original_size(models_dir: Path) -> None:
    desc = read_tflite(models_dir / "mediapipe" / "hand_landmark_full.tflite", supported=SUPPORTED_OPS)
    assert resize_input(desc, 224, 224, outputs=NAMES) is desc
    whole = TFLiteModule(desc, input_layout="NCHW").eval()
    x = torch.from_numpy(np.random.default_rng(3).random((1, 3, 224, 224), dtype=np.float32))
    cut = TFLiteModule(desc, input_layout="NCHW", outputs=NAMES, output_layout="NCHW").eval()
    with torch.no_grad():
        ref = whole.features(x, NAMES)
        for name, got in zip(NAMES, cut(x)):
            assert torch.allclose(ref[name], got)
