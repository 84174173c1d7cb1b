"""``hand-pose-25d export``: ONNX through the CLI, checked in a separate ONNX Runtime process; TensorRT fallbacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from hand_pose_25d.cli import main  # noqa: E402
from hand_pose_25d.inference.contract import CONFIG_KEY  # noqa: E402
from hand_pose_25d.model.checkpoint import save_checkpoint  # noqa: E402
from hand_pose_25d.model.onnx_export import OUTPUT_NAMES, ExportWrapper  # noqa: E402
from hand_pose_25d.model.presets import preset_config  # noqa: E402
from hand_pose_25d.settings import from_dict, to_dict  # noqa: E402


def tensorrt_usable() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, randomised_model):
    cfg = preset_config("compact", image_mean=[0.5, 0.45, 0.4], image_std=[0.2, 0.25, 0.3])
    model = randomised_model(cfg)
    path = tmp_path_factory.mktemp("ckpt") / "hand.pt"
    save_checkpoint(path, model, cfg)
    return path, model, cfg


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    ckpt, _, _ = checkpoint
    out = tmp_path_factory.mktemp("onnx") / "sub" / "hand.onnx"
    assert main(["export", "--model", str(ckpt), "--format", "onnx", "--out", str(out)]) == 0
    return out


ORT_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, onnxruntime as ort
    model, inputs, output = sys.argv[1:4]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    data = np.load(inputs)
    res = {}
    for key in data.files:
        for name, value in zip(names, sess.run(names, {"image": data[key]})):
            res[key + "/" + name] = value
    res["input_names"] = np.array([i.name for i in sess.get_inputs()])
    res["output_names"] = np.array(names)
    np.savez(output, **res)
    """
)


def test_onnx_export_matches_pytorch_in_a_separate_onnxruntime_process(exported, checkpoint, tmp_path, capsys):
    _, model, cfg = checkpoint
    rng = np.random.default_rng(7)
    S = cfg.input_size
    batches = {f"b{b}": rng.integers(0, 256, (b, S, S, 3), dtype=np.uint8) for b in (1, 3)}
    np.savez(tmp_path / "in.npz", **batches)
    subprocess.run(
        [sys.executable, "-c", ORT_SCRIPT, str(exported), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        check=True,
        timeout=120,
    )
    got = np.load(tmp_path / "out.npz")
    assert list(got["input_names"]) == ["image"]
    assert list(got["output_names"]) == list(OUTPUT_NAMES)
    wrapper = ExportWrapper(model, cfg).eval()
    for key, crops in batches.items():
        with torch.no_grad():
            ref = dict(zip(OUTPUT_NAMES, (t.numpy() for t in wrapper(torch.from_numpy(crops)))))
        b = len(crops)
        assert got[f"{key}/uv"].shape == (b, 21, 2) and got[f"{key}/handedness"].shape == (b,)
        np.testing.assert_allclose(got[f"{key}/uv"], ref["uv"], atol=1e-3, rtol=0)  # crop pixels
        np.testing.assert_allclose(got[f"{key}/z_rel"], ref["z_rel"], atol=1e-4, rtol=0)
        np.testing.assert_allclose(got[f"{key}/keypoint_scores"], ref["keypoint_scores"], atol=1e-4, rtol=0)
        np.testing.assert_allclose(got[f"{key}/handedness"], ref["handedness"], atol=1e-4, rtol=0)
    assert np.abs(got["b3/uv"][0] - got["b3/uv"][1]).max() > 1e-2  # the outputs depend on the crop


def test_exported_graph_io_metadata_and_checker(exported, checkpoint):
    _, _, cfg = checkpoint
    proto = onnx.load(str(exported))
    onnx.checker.check_model(proto)
    inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    assert [i.name for i in inputs] == ["image"]
    dims = inputs[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [cfg.input_size, cfg.input_size, 3]
    assert inputs[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in proto.graph.output] == list(OUTPUT_NAMES)
    assert all(o.type.tensor_type.shape.dim[0].dim_param for o in proto.graph.output)  # dynamic batch everywhere
    meta = {p.key: p.value for p in proto.metadata_props}
    stored = from_dict(type(cfg), json.loads(meta[CONFIG_KEY]))
    assert to_dict(stored) == to_dict(cfg)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 17


def test_export_reports_its_verification(checkpoint, tmp_path, capsys):
    ckpt, _, _ = checkpoint
    assert main(["export", "--model", str(ckpt), "--out", str(tmp_path / "m.onnx"), "--opset", "16"]) == 0
    out = capsys.readouterr().out
    assert "onnx.checker passes" in out and "uv" in out
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 16


def test_export_input_errors(checkpoint, exported, tmp_path, capsys):
    ckpt, _, _ = checkpoint
    assert main(["export", "--model", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    assert main(["export", "--model", str(exported), "--out", str(tmp_path / "x.onnx")]) == 2
    assert ".pt checkpoint" in capsys.readouterr().err
    assert main(["export", "--model", str(ckpt)]) == 2
    assert "--out is required" in capsys.readouterr().err
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["export", "--model", str(garbage), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "not a hand_pose_25d checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_default_model_export(tmp_path, capsys):
    from hand_pose_25d.inference.backends import default_model_path

    try:
        shipped = default_model_path(".pt")
    except FileNotFoundError:
        shipped = None
    code = main(["export", "--model", "default", "--out", str(tmp_path / "d.onnx"), "--no-verify"])
    if shipped is None:
        assert code == 2 and "default.pt" in capsys.readouterr().err
    else:
        assert code == 0 and (tmp_path / "d.onnx").is_file()


@pytest.mark.skipif(
    tensorrt_usable(), reason="TensorRT and a GPU are present: the engine build is tested in test_tensorrt.py"
)
def test_tensorrt_export_validates_the_onnx_then_says_what_is_missing(exported, capsys):
    assert (
        main(
            ["export", "--model", str(exported), "--format", "tensorrt", "--out", str(exported.with_suffix(".engine"))]
        )
        == 3
    )
    cap = capsys.readouterr()
    assert "validated" in cap.out and "opset 17" in cap.out  # the ONNX check ran and passed first
    assert "TensorRT" in cap.err or "GPU" in cap.err  # then the actionable BackendUnavailable message
    assert not exported.with_suffix(".engine").exists()


@pytest.mark.skipif(tensorrt_usable(), reason="TensorRT and a GPU are present")
def test_tensorrt_export_from_a_checkpoint_writes_the_onnx_first(checkpoint, tmp_path, capsys):
    ckpt, _, _ = checkpoint
    assert main(["export", "--model", str(ckpt), "--format", "tensorrt", "--out", str(tmp_path / "e.engine")]) == 3
    cap = capsys.readouterr()
    assert (tmp_path / "e.onnx").is_file() and "validated" in cap.out


def test_tensorrt_export_refuses_broken_and_foreign_onnx_before_needing_tensorrt(tmp_path, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage that is not protobuf" * 10)
    assert main(["export", "--model", str(broken), "--format", "tensorrt"]) == 2
    err = capsys.readouterr().err
    assert "not a valid ONNX model" in err and "install" not in err
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(foreign))
    assert main(["export", "--model", str(foreign), "--format", "tensorrt"]) == 2
    assert "model config" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path / "nothing.onnx"), "--format", "tensorrt"]) == 2
    assert main(["export", "--model", str(foreign), "--format", "tensorrt", "--device", "cpu"]) == 2
    assert "CUDA" in capsys.readouterr().err
