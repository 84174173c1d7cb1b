"""TensorRT support: ONNX validation and the engine container are always tested; engines need TensorRT and a GPU.

Tests marked ``tensorrt`` build and run real engines and are skipped where TensorRT 10 or an NVIDIA GPU is
missing (with the reason); everything else runs everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from hand_pose_25d.inference import tensorrt_backend as trtb  # noqa: E402
from hand_pose_25d.inference.backends import create_backend  # noqa: E402
from hand_pose_25d.inference.contract import CONFIG_KEY, BackendUnavailable  # noqa: E402
from hand_pose_25d.model.checkpoint import build_model  # noqa: E402
from hand_pose_25d.model.model_config import ModelConfig  # noqa: E402
from hand_pose_25d.model.onnx_export import export_onnx  # noqa: E402
from hand_pose_25d.model.presets import preset_config  # noqa: E402
from hand_pose_25d.settings import to_dict  # noqa: E402


def _tensorrt_missing_reason() -> str:
    try:
        import tensorrt as trt
    except ImportError:
        return "TensorRT is not installed (pip install tensorrt, or JetPack's python3-libnvinfer)"
    if int(str(trt.__version__).split(".")[0]) < 10:
        return f"TensorRT {trt.__version__} is older than 10"
    if not torch.cuda.is_available():
        return f"no NVIDIA GPU visible to torch {torch.__version__}"
    return ""


TRT_MISSING = _tensorrt_missing_reason()
needs_tensorrt = pytest.mark.skipif(bool(TRT_MISSING), reason=TRT_MISSING or "TensorRT available")


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    """A small real export (dynamic batch) and its config."""
    cfg = preset_config("compact", input_size=64, channels=8, depth=2, output_stride=2, blocks_per_level=1)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    path = export_onnx(model, cfg, tmp_path_factory.mktemp("trt") / "small.onnx")
    return path, cfg, model


def _mutated(src, dst, fn):
    proto = onnx.load(str(src))
    fn(proto)
    onnx.save(proto, str(dst))
    return dst


# --------------------------------------------------------------------------------------------------------------
# ONNX validation (no TensorRT needed)


def test_validation_passes_on_a_real_export(small_export):
    path, cfg, _ = small_export
    config, facts = trtb.validate_onnx_for_tensorrt(path)
    assert to_dict(config) == to_dict(cfg)
    assert facts["opset"] == 17 and facts["input_size"] == 64 and facts["num_keypoints"] == 21
    assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def _set_meta_input_size(proto, size):
    for p in proto.metadata_props:
        if p.key == "hand_pose_25d.model_config":
            data = json.loads(p.value)
            data["input_size"] = size
            p.value = json.dumps(data)


def _rename_input(proto, name):
    old = proto.graph.input[0].name
    proto.graph.input[0].name = name
    for node in proto.graph.node:
        for i, x in enumerate(node.input):
            if x == old:
                node.input[i] = name


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p.graph.input[0].type.tensor_type.__setattr__("elem_type", onnx.TensorProto.FLOAT), "must be uint8"),
        (lambda p: p.graph.output.remove(p.graph.output[3]), "missing output 'handedness'"),
        (
            lambda p: (
                p.graph.input[0].type.tensor_type.shape.dim[0].ClearField("dim_param")
                or p.graph.input[0].type.tensor_type.shape.dim[0].__setattr__("dim_value", 1)
            ),
            "symbolic batch",
        ),
        (lambda p: _set_meta_input_size(p, 128), r"\(batch, 128, 128, 3\)"),
        (lambda p: p.metadata_props.remove(p.metadata_props[0]), "model config"),
        (
            lambda p: [
                setattr(p.metadata_props[i], "value", "{not json")
                for i in range(len(p.metadata_props))
                if p.metadata_props[i].key == "hand_pose_25d.model_config"
            ],
            "invalid stored model config",
        ),
        (lambda p: _rename_input(p, "pixels"), "single input 'image'"),
    ],
)
def test_validation_names_the_problem(small_export, tmp_path, mutate, message):
    path, _, _ = small_export
    bad = _mutated(path, tmp_path / "bad.onnx", mutate)
    with pytest.raises(ValueError, match=message):
        trtb.validate_onnx_for_tensorrt(bad)


def test_validation_refuses_fixed_batch_exports_garbage_and_missing_files(tmp_path):
    cfg = preset_config("compact", input_size=64, channels=8, depth=2, output_stride=2, blocks_per_level=1)
    fixed = export_onnx(build_model(cfg).eval(), cfg, tmp_path / "fixed.onnx", dynamic_batch=False)
    with pytest.raises(ValueError, match="symbolic batch"):
        trtb.validate_onnx_for_tensorrt(fixed)
    garbage = tmp_path / "g.onnx"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        trtb.validate_onnx_for_tensorrt(garbage)
    with pytest.raises(FileNotFoundError):
        trtb.validate_onnx_for_tensorrt(tmp_path / "none.onnx")


def test_backend_validates_before_needing_tensorrt(small_export, tmp_path):
    path, _, _ = small_export
    garbage = tmp_path / "g.onnx"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        create_backend("tensorrt", str(garbage), device="cuda")
    with pytest.raises(BackendUnavailable, match="cuda"):
        create_backend("tensorrt", str(path), device="cpu")
    if TRT_MISSING:
        with pytest.raises(BackendUnavailable, match="TensorRT|GPU"):
            create_backend("tensorrt", str(path), device="cuda")
        with pytest.raises(BackendUnavailable, match="TensorRT|GPU"):
            trtb.build_engine(path, tmp_path / "x.engine")


# --------------------------------------------------------------------------------------------------------------
# engine container and cache (no TensorRT needed)


def test_engine_container_round_trip(tmp_path):
    plan = bytes(range(256)) * 3
    header = {
        "metadata": {"hand_pose_25d.model_config": "{}"},
        "tensorrt_version": "10.3.0",
        "gpu": "Orin",
        "fp16": True,
        "max_batch": 4,
        "onnx_sha256": "ab" * 32,
    }
    path = tmp_path / "m.engine"
    trtb.write_engine_file(path, plan, header)
    raw = path.read_bytes()
    assert raw.startswith(trtb.MAGIC)
    (n,) = struct.unpack("<I", raw[8:12])
    assert json.loads(raw[12 : 12 + n])["gpu"] == "Orin" and raw[12 + n :] == plan  # the documented layout
    got_header, got_plan = trtb.read_engine_file(path)
    assert got_plan == plan
    assert got_header == dict(header, format_version=trtb.ENGINE_FORMAT_VERSION)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically


def test_engine_container_errors(tmp_path):
    path = tmp_path / "m.engine"
    trtb.write_engine_file(path, b"PLAN" * 10, {"a": 1})
    raw = path.read_bytes()
    truncated = tmp_path / "t.engine"
    truncated.write_bytes(raw[: len(raw) - 40])  # header intact, plan cut away
    with pytest.raises(ValueError, match="truncated"):
        trtb.read_engine_file(truncated)
    short = tmp_path / "s.engine"
    short.write_bytes(raw[:10])
    with pytest.raises(ValueError):
        trtb.read_engine_file(short)
    foreign = tmp_path / "trtexec.plan"
    foreign.write_bytes(b"ftrt" + os.urandom(100))  # a bare TensorRT plan has no header
    with pytest.raises(ValueError, match="not a hand_pose_25d engine"):
        trtb.read_engine_file(foreign)
    corrupt = tmp_path / "c.engine"
    corrupt.write_bytes(trtb.MAGIC + struct.pack("<I", 5) + b"{bad}" + b"plan")
    with pytest.raises(ValueError, match="corrupt engine header"):
        trtb.read_engine_file(corrupt)
    with pytest.raises(FileNotFoundError):
        trtb.read_engine_file(tmp_path / "none.engine")


def test_engine_cache_key_changes_with_each_input():
    base = dict(onnx_sha256="0" * 64, trt_version="10.3.0", gpu_name="Orin", fp16=False, max_batch=8)
    key = trtb.engine_cache_key(**base)
    assert key == trtb.engine_cache_key(**base) and len(key) == 16
    variants = [
        dict(base, onnx_sha256="1" + "0" * 63),
        dict(base, trt_version="10.4.0"),
        dict(base, gpu_name="NVIDIA GeForce RTX 4090"),
        dict(base, fp16=True),
        dict(base, max_batch=16),
    ]
    keys = {trtb.engine_cache_key(**v) for v in variants}
    assert key not in keys and len(keys) == len(variants)


def test_engine_cache_path_beside_the_onnx_or_in_the_user_cache(tmp_path, monkeypatch):
    onnx_path = tmp_path / "models" / "hand.onnx"
    onnx_path.parent.mkdir()
    assert trtb.engine_cache_path(onnx_path, "abc") == onnx_path.with_name("hand.abc.engine")
    # a read-only model folder (e.g. an installed package): the engine goes to $XDG_CACHE_HOME/hand_pose_25d/engines
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(trtb.os, "access", lambda p, mode: False)
    path = trtb.engine_cache_path(onnx_path, "abc")
    assert path == tmp_path / "cache" / "hand_pose_25d" / "engines" / "hand.abc.engine" and path.parent.is_dir()


# --------------------------------------------------------------------------------------------------------------
# real engines (TensorRT 10 + NVIDIA GPU)


@pytest.mark.tensorrt
@needs_tensorrt
def test_engine_matches_onnxruntime_and_is_cached(small_export, tmp_path):
    import shutil

    src, cfg, _ = small_export
    path = tmp_path / "small.onnx"
    shutil.copy(src, path)
    ort_backend = create_backend("onnxruntime", str(path))
    trt_backend = create_backend("tensorrt", str(path), device="cuda", max_batch=4)
    engines = list(tmp_path.glob("small.*.engine"))
    assert len(engines) == 1 and (tmp_path / "small.onnx.timing_cache").is_file()
    header, _ = trtb.read_engine_file(engines[0])
    assert (
        ModelConfig.from_json(header["metadata"][CONFIG_KEY]) == cfg
        and header["max_batch"] == 4
        and header["fp16"] is False
    )
    rng = np.random.default_rng(0)
    for b in (1, 3):
        crops = rng.integers(0, 256, (b, 64, 64, 3), dtype=np.uint8)
        a, t = ort_backend.infer(crops), trt_backend.infer(crops)
        np.testing.assert_allclose(t["uv"], a["uv"], atol=2e-2)
        np.testing.assert_allclose(t["z_rel"], a["z_rel"], atol=1e-3)
    with pytest.raises(ValueError, match="max_batch"):
        trt_backend.infer(rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8))
    mtime = engines[0].stat().st_mtime_ns
    create_backend("tensorrt", str(path), device="cuda", max_batch=4)
    assert engines[0].stat().st_mtime_ns == mtime  # reused from the cache, not rebuilt


@pytest.mark.tensorrt
@needs_tensorrt
def test_cli_builds_fp16_engine(small_export, tmp_path):
    from hand_pose_25d.cli import main

    src, _, _ = small_export
    out = tmp_path / "e.engine"
    assert (
        main(["export", "--model", str(src), "--format", "tensorrt", "--out", str(out), "--fp16", "--max-batch", "2"])
        == 0
    )
    header, plan = trtb.read_engine_file(out)
    assert header["fp16"] is True and header["max_batch"] == 2 and len(plan) > 1000
    backend = create_backend("tensorrt", str(out), device="cuda")
    res = backend.infer(np.zeros((2, 64, 64, 3), np.uint8))
    assert res["uv"].shape == (2, 21, 2) and np.isfinite(res["uv"]).all()
