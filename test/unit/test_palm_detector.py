"""The palm detector at run time (hand_pose_25d.detection.palm_detector) and the tracker's use of detections.

A stand-in ONNX detector with the real one's inputs, outputs and metadata answers one known palm, so that the
whole path (letterbox, decoding, NMS, back to image pixels, the hand's rotated crop) is checked against numbers
computed here; the real converted detector is checked on a real photograph where both exist.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from palm_fixtures import _raw_palm, build_detector  # noqa: E402

from hand_pose_25d.crop import CropBox  # noqa: E402
from hand_pose_25d.detection.palm import PALM_INPUT_SIZE, letterbox  # noqa: E402
from hand_pose_25d.detection.palm_detector import (  # noqa: E402
    DetectorConfig,
    PalmDetector,
    default_detector_path,
    load_detector,
)
from hand_pose_25d.inference.contract import DETECTOR_CONFIG_KEY  # noqa: E402
from hand_pose_25d.inference.tracking import HandTracker, TrackingConfig  # noqa: E402

S = PALM_INPUT_SIZE


def test_a_detection_maps_back_to_the_image_with_the_hand_crop(tmp_path):
    # an upright palm (wrist below the middle MCP) at normalised (0.5, 0.6) of the letterboxed input
    kps = [(0.5, 0.7), (0.45, 0.55), (0.5, 0.5), (0.55, 0.52), (0.6, 0.55), (0.4, 0.65), (0.38, 0.6)]
    anchor = 24 * 14 * 2 + 12 * 2  # a cell near the palm (24x24 map, 2 anchors a cell)
    path = build_detector(tmp_path / "palm.onnx", anchor, _raw_palm(anchor, (0.5, 0.6), (0.2, 0.2), kps))
    det = PalmDetector(path)
    image = np.zeros((480, 640, 3), np.uint8)  # landscape: letterboxed with bands above and below
    (hand,) = det.detect(image, DetectorConfig())
    assert hand.score == pytest.approx(1 / (1 + math.exp(-5.0)), abs=1e-6)
    _, inverse = letterbox(image.shape)
    # the palm centre (0.5, 0.6) of the input, in input pixels t * S - 0.5, then through the inverse letterbox
    expected = inverse @ np.array([0.5 * S - 0.5, 0.6 * S - 0.5, 1.0])
    np.testing.assert_allclose(hand.palm.center, expected, atol=1e-3)
    # the hand's crop: upright (no rotation), 2.6 x the palm's (square) side, moved towards the fingers by half a palm
    palm_side = 0.2 * S * (640 / S)  # input pixels -> image pixels (the image is 640 wide)
    assert hand.crop.angle == pytest.approx(0.0, abs=1e-6)
    assert hand.crop.side == pytest.approx(2.6 * palm_side, rel=1e-3)
    assert hand.crop.cx == pytest.approx(expected[0], abs=1e-2)
    assert hand.crop.cy == pytest.approx(expected[1] - 0.5 * palm_side, abs=1e-2)
    assert hand.crop.score == pytest.approx(hand.score)  # the crop carries the palm's score to the tracker
    # a higher threshold than the score: nothing
    assert det.detect(image, DetectorConfig(min_score=0.999)) == []
    with pytest.raises(ValueError, match="uint8 RGB"):
        det.detect(np.zeros((480, 640), np.uint8), DetectorConfig())


def test_a_two_head_detector_decodes_its_second_copy_of_the_anchors(tmp_path):
    """With MediaPipe's tail and the fine-tuned one in one file, outputs hold every anchor twice: a palm answered by
    the second head decodes against the same anchor as by the first, to the same place."""
    kps = [(0.5, 0.7), (0.45, 0.55), (0.5, 0.5), (0.55, 0.52), (0.6, 0.55), (0.4, 0.65), (0.38, 0.6)]
    anchor = 24 * 14 * 2 + 12 * 2
    row = _raw_palm(anchor, (0.5, 0.6), (0.2, 0.2), kps)
    image = np.zeros((480, 640, 3), np.uint8)
    (one,) = PalmDetector(build_detector(tmp_path / "one.onnx", anchor, row)).detect(image, DetectorConfig())
    two = PalmDetector(build_detector(tmp_path / "two.onnx", 2016 + anchor, row, heads=2))
    assert two.heads == 2 and "fine-tuned" in two.describe()
    (hand,) = two.detect(image, DetectorConfig())
    np.testing.assert_allclose(hand.palm.center, one.palm.center, atol=1e-6)
    np.testing.assert_allclose(hand.palm.keypoints, one.palm.keypoints, atol=1e-6)
    with pytest.raises(ValueError, match="1 or 2 heads"):
        PalmDetector(build_detector(tmp_path / "three.onnx", anchor, row, heads=3))
    liar = build_detector(tmp_path / "liar.onnx", anchor, row, heads=2)  # 4032 anchors, metadata says 1 head
    model = onnx.load(str(liar))
    for entry in model.metadata_props:
        if entry.key == DETECTOR_CONFIG_KEY:
            entry.value = entry.value.replace('"heads": 2', '"heads": 1')
    onnx.save(model, str(liar))
    with pytest.raises(ValueError, match="4032 anchors, its metadata says 1 head"):
        PalmDetector(liar)


def test_a_palm_turned_a_quarter_gives_a_turned_crop(tmp_path):
    # wrist left of the middle MCP: the fingers point right, the crop is turned by -90 degrees (CropBox convention)
    kps = [(0.4, 0.5), (0.5, 0.45), (0.6, 0.5), (0.58, 0.55), (0.55, 0.6), (0.45, 0.4), (0.42, 0.42)]
    anchor = 24 * 12 * 2 + 12 * 2
    path = build_detector(tmp_path / "palm.onnx", anchor, _raw_palm(anchor, (0.5, 0.5), (0.2, 0.2), kps))
    (hand,) = PalmDetector(path).detect(np.zeros((300, 300, 3), np.uint8), DetectorConfig())
    assert abs(abs(hand.crop.angle) - math.pi / 2) < 1e-6
    # moved towards the fingers (+x)
    assert hand.crop.cx > hand.palm.center[0] + 10


def test_missing_corrupt_and_foreign_detector_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="setup-models"):
        PalmDetector(tmp_path / "none.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00 not a model \xff" * 4)
    with pytest.raises(ValueError, match="junk.onnx"):
        PalmDetector(tmp_path / "junk.onnx")
    anchor, row = 0, np.zeros(18, np.float32)
    with pytest.raises(ValueError, match="not a palm detector"):
        PalmDetector(build_detector(tmp_path / "plain.onnx", anchor, row, meta=False))
    # 'none' and a missing default are not errors: the pipeline says why it has no detector
    det, why = load_detector(DetectorConfig(model="none"))
    assert det is None and "none" in why
    with pytest.raises(FileNotFoundError):
        load_detector(DetectorConfig(model=str(tmp_path / "none.onnx")))


def test_missing_default_detector_is_reported_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setenv("HAND_POSE_25D_MODELS", str(tmp_path / "empty"))
    assert default_detector_path() == tmp_path / "empty" / "palm_detector.onnx"
    det, why = load_detector(DetectorConfig())
    assert det is None and "hand-pose-25d setup-models" in why and str(tmp_path / "empty") in why


def test_tracker_runs_the_detector_until_hands_are_followed_then_every_interval():
    from test_ros_pure import _hand_uv, _result

    cfg = TrackingConfig(max_hands=2, redetect_interval=3)
    tr = HandTracker()
    assert tr.wants_detection(cfg, 0)  # nothing followed
    assert not tr.wants_detection(cfg, 0, roi=(0.0, 0.0, 10.0, 10.0))  # an ROI wins
    assert not tr.wants_detection(TrackingConfig(crop_mode="full"), 0)
    # the detector found nothing: nothing to crop (the default), or the full image with the fallback; no detector:
    # the full image
    assert tr.plan(cfg, 640, 480, 0, None, 1.3, detections=[]) == []
    fallback = TrackingConfig(full_frame_fallback=True)
    assert tr.plan(fallback, 640, 480, 0, None, 1.3, detections=[])[0].source == "full"
    assert tr.plan(cfg, 640, 480, 0, None, 1.3, detections=None)[0].source == "full"
    # two detections: two loose crops, one track each after update
    d1, d2 = CropBox(200, 200, 150), CropBox(450, 250, 150)
    planned = tr.plan(cfg, 640, 480, 0, None, 1.3, detections=[d1, d2])
    assert [p.source for p in planned] == ["detect", "detect"] and not planned[0].request.from_keypoints
    hands = tr.update(cfg, planned, [_result(_hand_uv(200, 200)), _result(_hand_uv(450, 250, seed=1))], 0)
    ids = sorted(h.track.track_id for h in hands)
    assert ids == [1, 2]
    assert not tr.wants_detection(cfg, 1_000_000)  # max_hands followed: no detector
    # one hand lost: the detector runs again only every redetect_interval frames
    planned = tr.plan(cfg, 640, 480, 1_000_000, None, 1.3)
    tr.update(cfg, planned, [_result(_hand_uv(200, 200)), _result(_hand_uv(450, 250), valid=False)], 1_000_000)
    runs = []
    for t in (2_000_000, 3_000_000, 4_000_000, 5_000_000):
        run = tr.wants_detection(cfg, t)
        runs.append(run)
        planned = tr.plan(cfg, 640, 480, t, None, 1.3, detections=[d1] if run else None)
        assert [p.source for p in planned] == ["track"]  # the detection of the followed hand is dropped
        tr.update(cfg, planned, [_result(_hand_uv(200, 200))], t)
    assert runs == [False, True, False, False]  # 3 frames after the last detection (at stamp 0, then 1 ms, 2 ms)
    assert [t.track_id for t in tr.tracks] == [1]  # the followed hand kept its id throughout


def test_a_confident_palm_needs_only_the_tracking_score():
    """A detection the palm detector scores at least tracking.confirm_score is held to tracking.min_score (like a
    followed hand), a weaker one to pipeline.min_hand_score (min_score None), and so is a crop without a score."""
    from hand_pose_25d.detection.palm_detector import PalmCrop

    cfg = TrackingConfig(max_hands=3, confirm_score=0.9, min_score=0.15)
    crops = [PalmCrop(100, 100, 120, score=0.95), PalmCrop(300, 300, 120, score=0.7), CropBox(500, 200, 120)]
    planned = HandTracker().plan(cfg, 640, 480, 0, None, 1.3, detections=crops)
    assert [p.request.min_score for p in planned] == [0.15, None, None]
    assert all(p.request.detected and p.source == "detect" for p in planned)
    off = TrackingConfig(max_hands=3, confirm_score=1.0)
    assert [p.request.min_score for p in HandTracker().plan(off, 640, 480, 0, None, 1.3, detections=crops)] == [
        None
    ] * 3


REAL_PHOTO = Path("/usr/share/doc/opencv-doc/opencv4/html/handSrc.jpg")


@pytest.mark.skipif(not default_detector_path().is_file(), reason="no converted detector (hand-pose-25d setup-models)")
@pytest.mark.skipif(not REAL_PHOTO.is_file(), reason="no real photograph with a hand (Debian package opencv-doc)")
def test_the_converted_detector_finds_the_hand_of_a_real_photograph():
    import cv2

    image = cv2.cvtColor(cv2.imread(str(REAL_PHOTO)), cv2.COLOR_BGR2RGB)
    det = PalmDetector(default_detector_path(), num_threads=1)
    hands = det.detect(image, DetectorConfig())
    assert len(hands) == 1 and hands[0].score > 0.9
    assert 150 < hands[0].palm.center[0] < 450 and 100 < hands[0].palm.center[1] < 400
    assert det.detect(np.full((480, 640, 3), 128, np.uint8), DetectorConfig()) == []  # a grey frame: no hand


def test_a_conversion_that_does_not_match_the_interpreter_is_refused(tmp_path):
    """The set-up's check is real: asked for a tolerance below the conversion's true difference (1.5e-4), it fails
    naming the outputs, and no detector file is left behind."""
    pytest.importorskip("torch")
    pytest.importorskip("tflite")
    pytest.importorskip("ai_edge_litert")
    from hand_pose_25d.pretrained import mediapipe_wheel
    from hand_pose_25d.pretrained.convert import convert_model

    try:
        wheel = mediapipe_wheel.find_or_download_wheel(mediapipe_wheel.default_cache_dir(), download=False)
    except mediapipe_wheel.PretrainedError:
        pytest.skip("no cached mediapipe 0.10.21 wheel (hand-pose-25d setup-models fetches it)")
    with pytest.raises(mediapipe_wheel.PretrainedError, match="differs from the ai-edge-litert interpreter"):
        convert_model(
            "palm_detection_full", tmp_path, wheel=wheel, tol=1e-7, bench_runs=0, n_random=1, log=lambda m: None
        )
    assert not list(tmp_path.glob("*.onnx"))
