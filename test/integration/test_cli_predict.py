"""``hand-pose-25d predict``: images, folders and videos -> JSON + overlays, checked against the pipeline itself."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from hand_pose_25d.camera import write_camera_yaml  # noqa: E402
from hand_pose_25d.cli import main  # noqa: E402
from hand_pose_25d.crop import box_from_keypoints  # noqa: E402
from hand_pose_25d.data.synthetic import SyntheticHands  # noqa: E402
from hand_pose_25d.geometry import project  # noqa: E402
from hand_pose_25d.inference.pipeline import HandPoseEstimator  # noqa: E402
from hand_pose_25d.inference.pipeline_config import PipelineConfig  # noqa: E402
from hand_pose_25d.model.onnx_export import export_onnx  # noqa: E402
from hand_pose_25d.model.presets import preset_config  # noqa: E402

W, H = 320, 240


@pytest.fixture(scope="module")
def setup(tmp_path_factory, randomised_model):
    """A compact network with randomised weights (outputs vary with the image), three frames, their camera."""
    root = tmp_path_factory.mktemp("predict")
    cfg = preset_config("compact")
    onnx_path = export_onnx(randomised_model(cfg), cfg, root / "hand.onnx")
    gen = SyntheticHands(seed=3)
    samples = [gen.frame(i, W, H) for i in range(3)]
    K = samples[0].K
    images = root / "images"
    images.mkdir()
    for i, s in enumerate(samples):
        assert cv2.imwrite(str(images / f"frame_{2 - i}.png"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
    cam = write_camera_yaml(root / "camera.yaml", K, W, H)
    return {"root": root, "onnx": onnx_path, "samples": samples, "images": images, "camera": cam, "K": K}


def estimator(setup) -> HandPoseEstimator:
    return HandPoseEstimator(PipelineConfig(model=str(setup["onnx"]), min_hand_score=0.0))


def predict(setup, *args, extra=("--detector", "none")) -> int:
    """``hand-pose-25d predict`` with the randomised network; the whole image is searched unless ``extra`` says."""
    return main(
        [
            "predict",
            *map(str, args),
            "--camera-info",
            str(setup["camera"]),
            "--model",
            str(setup["onnx"]),
            "--min-score",
            "0",
            "--no-progress",
            "--max-hands",
            "1",
            *extra,
        ]
    )


def read_rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_single_image_json_equals_the_pipeline_and_overlay_has_both_views(setup, tmp_path, capsys):
    img_path = setup["images"] / "frame_2.png"
    out = tmp_path / "out"
    assert predict(setup, img_path, "--out", out) == 0
    assert "1 frame(s)" in capsys.readouterr().out
    rec = json.loads((out / "frame_2.json").read_text())
    assert rec["image"] == "frame_2.png" and (rec["width"], rec["height"]) == (W, H) and rec["crop_source"] == "full"
    assert set(rec["timings_ms"]) == {"preprocess", "inference", "decode", "reconstruct", "total"}
    assert (
        sum(rec["timings_ms"][k] for k in ("preprocess", "inference", "decode", "reconstruct"))
        <= rec["timings_ms"]["total"]
    )
    hand = rec["hands"][0]
    for key in (
        "uv",
        "z_rel",
        "xyz",
        "xyz_normalized",
        "keypoint_scores",
        "score",
        "handedness",
        "root_depth",
        "scale",
        "crop",
        "valid",
        "status",
    ):
        assert key in hand
    # the same image through the pipeline directly, full-frame crop, the YAML's intrinsics
    est = estimator(setup)
    image = read_rgb(img_path)
    ref = est.estimate(image, setup["K"], [est.full_frame_crop(W, H)])[0]
    np.testing.assert_allclose(np.array(hand["uv"], float), ref.uv, atol=1e-9)
    assert hand["valid"] == ref.valid and hand["status"] == ref.status
    assert ref.valid and ref.status == "ok"  # with --min-score 0 this network's hand reconstructs exactly
    xyz = np.array(hand["xyz"], float)
    np.testing.assert_allclose(xyz, ref.xyz, atol=1e-9)
    # the metric 3D reprojects onto the 2D keypoints with the YAML's K (the CLI used the right intrinsics)
    np.testing.assert_allclose(project(xyz, setup["K"]), ref.uv, atol=1e-6)
    panel = read_rgb(out / "frame_2.png")
    assert panel.shape == (H, W + H, 3)
    assert not np.array_equal(panel[:, :W], image)  # skeleton/crop drawn on the left half
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 1 and summary["kind"] == "image"
    np.testing.assert_allclose(summary["camera"]["K"], setup["K"])


def test_folder_in_sorted_order_with_box_and_a_broken_file(setup, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in setup["images"].iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "frame_9.png").write_bytes(b"this is not a PNG")
    (folder / "notes.txt").write_text("ignored: not an image")
    out = tmp_path / "out"
    x, y, w, h = 40, 30, 150, 120
    assert predict(setup, folder, "--out", out, "--box", f"{x},{y},{w},{h}", "--no-3d") == 1  # one unreadable image
    err = capsys.readouterr().err
    assert "frame_9.png" in err
    recs = [json.loads((out / f"frame_{i}.json").read_text()) for i in range(3)]
    assert [r["frame_index"] for r in recs] == [0, 1, 2]  # sorted by name
    assert all(r["crop_source"] == "box" for r in recs)
    est = estimator(setup)
    for i, r in enumerate(recs):
        ref = est.estimate(read_rgb(folder / f"frame_{i}.png"), setup["K"], [est.crop_from_roi(x, y, w, h)])[0]
        np.testing.assert_allclose(np.array(r["hands"][0]["uv"], float), ref.uv, atol=1e-9)
        assert read_rgb(out / f"frame_{i}.png").shape == (H, W, 3)  # --no-3d: the 2D overlay only
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3 and [f["file"] for f in summary["failures"]] == [str(folder / "frame_9.png")]
    assert summary["box"] == [x, y, w, h] and not (out / "notes.json").exists()


def write_video(path, samples, fourcc="MJPG"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (W, H))
    assert writer.isOpened()
    for s in samples:
        writer.write(cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
    writer.release()
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert len(frames) == len(samples)  # the container reads back here
    return frames


def test_video_tracks_the_hand_from_frame_to_frame(setup, tmp_path):
    samples = setup["samples"] + setup["samples"][:1]
    video = tmp_path / "clip.avi"
    frames = write_video(video, samples)
    out = tmp_path / "out"
    assert predict(setup, video, "--out", out, "--track-min-score", "0") == 0
    recs = [json.loads((out / "clip" / f"frame_{i:06d}.json").read_text()) for i in range(len(frames))]
    assert [r["frame_index"] for r in recs] == [0, 1, 2, 3]
    assert recs[1]["time_s"] == pytest.approx(0.1, abs=1e-3)
    assert recs[0]["crop_source"] == "full"
    est = estimator(setup)
    previous = None
    for i, (rec, frame) in enumerate(zip(recs, frames)):
        hand = rec["hands"][0]
        if previous is not None and previous.valid:  # tracked: the crop is built from the previous keypoints
            assert rec["crop_source"] == "track"
            req = est.crop_from_keypoints(previous.uv)
            box = box_from_keypoints(previous.uv, padding=est.model_config.crop_padding)
            assert hand["crop"]["cx"] == pytest.approx(box.cx) and hand["crop"]["side"] == pytest.approx(box.side)
        else:
            assert rec["crop_source"] == "full"
            req = est.full_frame_crop(W, H)
        previous = est.estimate(frame, setup["K"], [req])[0]
        np.testing.assert_allclose(np.array(hand["uv"], float), previous.uv, atol=1e-9)
        assert read_rgb(out / "clip" / f"frame_{i:06d}.png").shape == (H, W + H, 3)
    assert any(r["crop_source"] == "track" for r in recs)
    assert json.loads((out / "summary.json").read_text())["tracking"] is True

    assert predict(setup, video, "--out", tmp_path / "notrack", "--no-track", "--no-overlay") == 0
    recs = [json.loads((tmp_path / "notrack" / "clip" / f"frame_{i:06d}.json").read_text()) for i in range(4)]
    assert all(r["crop_source"] == "full" for r in recs)
    assert not list((tmp_path / "notrack").rglob("*.png"))


def test_camera_size_mismatch_is_an_error_unless_rescaling_is_asked_for(setup, tmp_path, capsys):
    big = write_camera_yaml(tmp_path / "big.yaml", setup["K"] * [[2, 1, 2], [1, 2, 2], [1, 1, 1]], 2 * W, 2 * H)
    img = setup["images"] / "frame_0.png"
    args = ["predict", str(img), "--camera-info", str(big), "--model", str(setup["onnx"]), "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 2
    assert f"{W}x{H}" in capsys.readouterr().err
    assert main(args + ["--out", str(tmp_path / "b"), "--scale-intrinsics"]) == 0
    K = np.array(json.loads((tmp_path / "b" / "summary.json").read_text())["camera"]["K"])
    # 2x focal lengths halve back exactly; the principal point maps as (c + 0.5) / 2 - 0.5
    big_K = setup["K"] * [[2, 1, 2], [1, 2, 2], [1, 1, 1]]
    np.testing.assert_allclose(K[0, 0], big_K[0, 0] / 2)
    np.testing.assert_allclose(K[:2, 2], (big_K[:2, 2] + 0.5) / 2 - 0.5)


def test_input_errors(setup, tmp_path, capsys):
    img = setup["images"] / "frame_0.png"
    assert main(["predict", str(img), "--out", str(tmp_path / "o"), "--model", str(setup["onnx"])]) == 2
    assert "metric 3D needs the camera intrinsics" in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG garbage")
    assert predict(setup, broken, "--out", tmp_path / "o") == 2
    assert "cannot read the image" in capsys.readouterr().err
    bad_video = tmp_path / "bad.avi"
    bad_video.write_bytes(b"RIFF not really a video" * 20)
    assert predict(setup, bad_video, "--out", tmp_path / "o") == 2
    assert "bad.avi" in capsys.readouterr().err
    assert predict(setup, tmp_path / "missing.png", "--out", tmp_path / "o") == 2
    assert predict(setup, img, "--out", tmp_path / "o", "--box", "1,2,3") == 2
    assert "--box" in capsys.readouterr().err
    assert predict(setup, img, "--out", tmp_path / "o", "--box", "1000,2,30,30") == 2
    assert "outside" in capsys.readouterr().err
    assert predict(setup, img, "--out", setup["images"]) == 2  # would overwrite the input images
    assert "input images" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert predict(setup, empty, "--out", tmp_path / "o") == 2
    assert "holds no image" in capsys.readouterr().err


def test_whole_images_go_through_the_palm_detector(setup, tmp_path, capsys):
    """Without --box the detector's crops are used (source 'detect'); where it finds nothing, no hand is reported."""
    import json as _json

    from palm_fixtures import _raw_palm, build_detector

    anchor = 24 * 14 * 2 + 12 * 2
    kps = [(0.5, 0.7), (0.45, 0.55), (0.5, 0.5), (0.55, 0.52), (0.6, 0.55), (0.4, 0.65), (0.38, 0.6)]
    found = build_detector(tmp_path / "found.onnx", anchor, _raw_palm(anchor, (0.5, 0.6), (0.2, 0.2), kps))
    nothing = build_detector(tmp_path / "nothing.onnx", anchor, _raw_palm(anchor, (0.5, 0.6), (0.2, 0.2), kps), -9.0)
    img = setup["images"] / "frame_0.png"
    assert predict(setup, img, "--out", tmp_path / "a", "--max-hands", "2", extra=("--detector", str(found))) == 0
    rec = _json.loads((tmp_path / "a" / "frame_0.json").read_text())
    assert rec["detector_ran"] and [h["crop_source"] for h in rec["hands"]] == ["detect"]
    summary = _json.loads((tmp_path / "a" / "summary.json").read_text())
    assert "palm detector" in summary["detector"] and "detect" in summary["mean_timings_ms"]
    assert predict(setup, img, "--out", tmp_path / "b", extra=("--detector", str(nothing))) == 0
    rec = _json.loads((tmp_path / "b" / "frame_0.json").read_text())
    assert rec["detector_ran"] and rec["hands"] == [] and rec["crop_source"] == "none"
    assert predict(setup, img, "--out", tmp_path / "c", extra=("--detector", str(tmp_path / "missing.onnx"))) == 2
    assert "palm detector model not found" in capsys.readouterr().err
