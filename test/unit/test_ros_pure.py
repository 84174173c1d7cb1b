"""The ROS-free parts of ``hand_pose_25d.ros``: image conversion, camera_info validation and pairing, crop choice and
track ids, the newest-frame queue, throttling, parameters and the generated YAML, markers/TF naming, the overlay,
the synthetic camera's ground truth. Only the last few tests build ROS messages (skipped without rclpy, unless
HAND_POSE_REQUIRE_ROS=1)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from hand_pose_25d.crop import CropBox, box_from_keypoints
from hand_pose_25d.geometry import project
from hand_pose_25d.inference.pipeline import HandPoseResult
from hand_pose_25d.inference.tracking import HandTracker, TrackingConfig, box_iou, clip_roi, keypoint_box
from hand_pose_25d.ros import camera_info as ci
from hand_pose_25d.ros import image_conversion as ic
from hand_pose_25d.ros.markers import bone_segments
from hand_pose_25d.ros.messages import publish_problem
from hand_pose_25d.ros.node_config import NodeConfig
from hand_pose_25d.ros.params import config_from_values, descriptor_fields, node_params_yaml
from hand_pose_25d.ros.runtime import FrameStats, KeyedThrottle, PendingFrames
from hand_pose_25d.ros.tf import keypoint_frame_names
from hand_pose_25d.settings import parameter_specs
from hand_pose_25d.skeleton import BONES, FINGER_COLORS, KEYPOINT_NAMES, keypoint_colors
from hand_pose_25d.visualize import draw_overlay

from handgen import random_scenes

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------------------------
# image conversion


def test_rgb8_with_row_padding_is_cropped_to_the_pixels():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    step = 7 * 3 + 11  # 11 bytes of padding per row
    rows = np.full((5, step), 0xEE, np.uint8)
    rows[:, :21] = rgb.reshape(5, 21)
    out = ic.image_to_numpy("rgb8", 5, 7, step, False, rows.tobytes())
    assert out.shape == (5, 7, 3) and np.array_equal(out, rgb)
    assert np.array_equal(ic.to_rgb8(out, "rgb8"), rgb)


@pytest.mark.parametrize("encoding", ["bgr8", "rgba8", "bgra8", "mono8"])
def test_colour_orders_and_grey_become_rgb(encoding):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    if encoding == "bgr8":
        raw, expected = rgb[..., ::-1], rgb
    elif encoding == "rgba8":
        raw, expected = np.concatenate([rgb, np.full((4, 6, 1), 7, np.uint8)], axis=2), rgb
    elif encoding == "bgra8":
        raw, expected = np.concatenate([rgb[..., ::-1], np.full((4, 6, 1), 7, np.uint8)], axis=2), rgb
    else:
        raw = rgb[..., 0]
        expected = np.stack([raw] * 3, axis=2)
    fields = ic.numpy_to_image_fields(np.ascontiguousarray(raw), encoding)
    pixels = ic.image_to_numpy(
        encoding, fields["height"], fields["width"], fields["step"], fields["is_bigendian"], fields["data"]
    )
    out = ic.to_rgb8(pixels, encoding)
    assert out.dtype == np.uint8 and out.shape == (4, 6, 3) and out.flags.c_contiguous
    assert np.array_equal(out, expected)


def test_big_endian_16_bit_pixels_are_byte_swapped():
    values = np.array([[1, 258, 65535], [4096, 0, 513]], dtype=np.uint16)
    big = values.astype(">u2").tobytes()
    little = values.astype("<u2").tobytes()
    assert big != little
    for data, be in ((big, True), (little, False)):
        out = ic.image_to_numpy("16UC1", 2, 3, 6, be, data)
        assert out.dtype == np.uint16 and out.dtype.byteorder in ("=", "|") and np.array_equal(out, values)
    # big-endian with row padding
    padded = np.zeros((2, 10), np.uint8)
    padded[:, :6] = np.frombuffer(big, np.uint8).reshape(2, 6)
    assert np.array_equal(ic.image_to_numpy("mono16", 2, 3, 10, True, padded.tobytes()), values)


@pytest.mark.parametrize(
    "args, message",
    [
        (("yuv422", 4, 4, 8, False, bytes(32)), "unknown image encoding 'yuv422'"),
        (("rgb8", 4, 4, 11, False, bytes(44)), "step 11 is smaller than one row"),
        (("rgb8", 4, 4, 12, False, bytes(47)), r"47 bytes, fewer than step\*height = 12\*4 = 48"),
        (("rgb8", 0, 4, 12, False, b""), r"no pixels \(4x0\)"),
        (("16UC1", 2, 2, 3, False, bytes(6)), "step 3 is smaller than one row"),
    ],
)
def test_malformed_images_are_refused_with_the_reason(args, message):
    with pytest.raises(ic.ImageFormatError, match=message):
        ic.image_to_numpy(*args)


def test_only_the_five_input_encodings_are_accepted():
    for enc in ("16UC1", "rgb16", "bayer_rggb8", "yuv422", "32FC1"):
        with pytest.raises(
            ic.ImageFormatError, match=f"unsupported image encoding '{enc}'.*rgb8, bgr8, rgba8, bgra8, mono8"
        ):
            ic.check_input_encoding(enc)
    for enc in ic.INPUT_ENCODINGS:
        ic.check_input_encoding(enc)


def test_numpy_to_image_fields_checks_shape_and_dtype():
    f = ic.numpy_to_image_fields(np.zeros((3, 5, 3), np.uint8), "rgb8")
    assert (f["height"], f["width"], f["step"], len(f["data"]), f["is_bigendian"]) == (3, 5, 15, 45, 0)
    with pytest.raises(ic.ImageFormatError, match="uint8 array of shape"):
        ic.numpy_to_image_fields(np.zeros((3, 5), np.uint8), "rgb8")
    with pytest.raises(ic.ImageFormatError):
        ic.numpy_to_image_fields(np.zeros((3, 5, 3), np.float32), "rgb8")
    f16 = ic.numpy_to_image_fields(np.arange(6, dtype=np.uint16).reshape(2, 3), "mono16")
    assert f16["step"] == 6
    back = ic.image_to_numpy("mono16", 2, 3, 6, f16["is_bigendian"], f16["data"])
    assert np.array_equal(back, np.arange(6).reshape(2, 3))


# --------------------------------------------------------------------------------------------------------------
# camera_info


K0 = [600.0, 0.0, 320.0, 0.0, 610.0, 240.0, 0.0, 0.0, 1.0]
P0 = [580.0, 0.0, 316.0, 0.0, 0.0, 590.0, 244.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def _model(**kw):
    args = dict(frame_id="cam", k=K0, d=[0.0] * 5, distortion_model="plumb_bob", p=P0, width=640, height=480)
    args.update(kw)
    return ci.camera_model_from_fields(**args)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(k=[0.0] * 9), "K is all zeros: the camera is not calibrated"),
        (dict(k=[float("nan")] * 9), "K contains NaN"),
        (dict(k=K0[:8] + [0.0]), "not a usable camera matrix"),
        (dict(d=[0.1, float("nan"), 0, 0, 0]), "D contains NaN"),
        (
            dict(d=[0.1, 0.0, 0.0, 0.0], distortion_model="equidistant"),
            "distortion model 'equidistant' is not supported",
        ),
        (
            dict(d=[0.1, 0.0, 0.0], distortion_model="plumb_bob"),
            "plumb_bob distortion needs 4 or 5 coefficients, got 3",
        ),
        (dict(p=[0.0] * 12, rectified=True), "P is all zeros"),
        (dict(k=[1.0] * 8), "K must have 9 entries"),
        (dict(k=[-600.0, 0.0, 320.0, 0.0, 610.0, 240.0, 0.0, 0.0, 1.0]), "non-positive focal lengths"),
    ],
)
def test_unusable_camera_info_is_refused_with_the_reason(kw, message):
    with pytest.raises(ci.CameraInfoError, match=message):
        _model(**kw)


def test_camera_model_intrinsics_distortion_and_rectified():
    m = _model()
    np.testing.assert_array_equal(m.K, np.reshape(K0, (3, 3)))
    assert m.dist_coeffs is None and (m.width, m.height) == (640, 480)  # all-zero D: a pinhole image
    d = [-0.2, 0.05, 0.001, 0.0, 0.0]
    assert np.array_equal(_model(d=d).dist_coeffs, d)
    assert len(_model(d=[0.1] * 8, distortion_model="rational_polynomial").dist_coeffs) == 8
    # an unknown model with all-zero coefficients is a pinhole camera
    assert _model(distortion_model="", d=[]).dist_coeffs is None
    r = _model(d=d, rectified=True)
    np.testing.assert_array_equal(r.K, np.reshape(P0, (3, 4))[:, :3])
    assert r.dist_coeffs is None  # rectified: no distortion even if D is set


def test_binning_and_roi_give_the_intrinsics_of_the_published_pixels():
    """Project with the full-resolution K, map to binned/ROI pixels by hand (pixel centres), compare."""
    hands, _ = random_scenes(np.random.default_rng(3), 3)
    K = np.reshape(K0, (3, 3))
    bx, by, x0, y0, rw, rh = 2, 4, 64, 32, 512, 400
    m = _model(binning_x=bx, binning_y=by, roi=(x0, y0, rw, rh))
    assert (m.width, m.height) == (rw // bx, rh // by)
    full = project(hands, K)
    # full-resolution pixel centre u covers binned pixel j = (u - x0 + 0.5) / bx - 0.5
    expected = np.stack([(full[..., 0] - x0 + 0.5) / bx - 0.5, (full[..., 1] - y0 + 0.5) / by - 0.5], axis=-1)
    np.testing.assert_allclose(project(hands, m.K), expected, atol=1e-9)
    ci.check_image_size(m, rw // bx, rh // by)
    with pytest.raises(
        ci.CameraInfoError, match="image is 640x480 pixels but the camera_info of frame 'cam' describes 256x100"
    ):
        ci.check_image_size(m, 640, 480)
    ci.check_image_size(_model(width=0, height=0), 123, 45)  # size unknown: anything goes


def test_camera_info_buffer_pairs_by_frame_and_stamp():
    buf = ci.CameraInfoBuffer(size=4)
    for stamp in (1_000, 2_000, 3_000):
        buf.add(ci.CameraInfoEntry("cam", stamp, _model(), None))
    buf.add(ci.CameraInfoEntry("other", 2_500, None, "K is all zeros"))
    assert buf.match("cam", 2_000, "exact", 0).stamp_ns == 2_000
    assert buf.match("cam", 2_040, "exact", 50).stamp_ns == 2_000
    assert buf.match("cam", 2_500, "exact", 100) is None
    assert buf.match("cam", 9_999, "latest", 0).stamp_ns == 3_000
    assert buf.match("other", 2_500, "exact", 0).error == "K is all zeros"  # an invalid one pairs too
    assert buf.match("nope", 2_000, "latest", 0) is None
    assert "no camera_info for frame 'nope'" in buf.explain_missing("nope", 2_000, 0, "/camera_info")
    assert "within 1e-07 s of the image stamp" in buf.explain_missing("cam", 2_500, 100, "/camera_info")
    assert "the nearest differs by 5e-07 s" in buf.explain_missing("cam", 2_500, 100, "/camera_info")
    assert "set input.camera_info_sync to 'latest'" in buf.explain_missing("cam", 2_500, 100, "/camera_info")
    buf.add(ci.CameraInfoEntry("cam", 4_000, _model(), None))  # size 4: the oldest is forgotten
    assert buf.match("cam", 1_000, "exact", 0) is None
    assert "no camera_info received on /ci yet" in ci.CameraInfoBuffer().explain_missing("cam", 0, 0, "/ci")
    with pytest.raises(ValueError, match="'exact' or 'latest'"):
        buf.match("cam", 0, "nearest", 0)


# --------------------------------------------------------------------------------------------------------------
# crop choice and tracking


def _result(uv: np.ndarray, valid: bool = True, score: float = 0.9) -> HandPoseResult:
    nan = np.full((21, 3), np.nan)
    return HandPoseResult(
        uv=uv,
        z_rel=np.zeros(21),
        xyz=np.ones((21, 3)) if valid else nan,
        xyz_normalized=np.ones((21, 3)),
        keypoint_scores=np.full(21, score),
        score=score,
        handedness="right",
        handedness_score=0.9,
        root_depth=0.5,
        scale=0.09,
        scale_source="bone_prior",
        crop=CropBox(100, 100, 50),
        valid=valid,
        status="ok" if valid else "degenerate_bone",
    )


def _hand_uv(cx: float, cy: float, size: float = 60.0, seed: int = 0) -> np.ndarray:
    uv = np.random.default_rng(seed).uniform(-0.5, 0.5, (21, 2)) * size
    uv[0], uv[1] = (-size / 2, -size / 2), (size / 2, size / 2)  # the box is exactly size x size
    return uv + np.array([cx, cy])


def test_clip_roi_and_iou():
    assert clip_roi(10, 20, 30, 40, 640, 480) == (10.0, 20.0, 40.0, 60.0)
    assert clip_roi(-10, -10, 30, 30, 640, 480) == (0.0, 0.0, 20.0, 20.0)
    assert clip_roi(0, 0, 0, 0, 640, 480) is None  # all zero: no ROI
    assert clip_roi(700, 10, 30, 30, 640, 480) is None  # outside the image
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert keypoint_box(np.array([[1.0, 2.0], [3.0, 7.0], [np.nan, 0.0]])) == (0.5, 1.5, 3.5, 7.5)


def test_crop_modes():
    cfg = TrackingConfig()
    tr = HandTracker()
    (p,) = tr.plan(cfg, 640, 480, 0, None, 1.3)
    assert p.source == "full" and p.request.box == CropBox(319.5, 239.5, 640.0) and not p.request.from_keypoints
    roi = clip_roi(100, 50, 80, 120, 640, 480)
    (p,) = tr.plan(cfg, 640, 480, 0, roi, 1.3)
    assert p.source == "roi" and p.request.box == CropBox.from_xywh(100, 50, 80, 120, padding=1.3)
    assert tr.plan(TrackingConfig(crop_mode="roi"), 640, 480, 0, None, 1.3) == []
    assert tr.plan(TrackingConfig(crop_mode="full"), 640, 480, 0, roi, 1.3)[0].source == "full"
    assert tr.plan(TrackingConfig(crop_mode="track"), 640, 480, 0, roi, 1.3)[0].source == "full"  # ROI ignored

    # a valid hand is tracked: the next frame is cropped around its keypoints
    uv = _hand_uv(400, 300)
    planned = tr.plan(cfg, 640, 480, 0, None, 1.3)
    (hand,) = tr.update(cfg, planned, [_result(uv)], 0)
    (p,) = tr.plan(cfg, 640, 480, 100_000_000, None, 1.3)
    assert p.source == "track" and p.request.from_keypoints and p.track is hand.track
    assert p.request.box == box_from_keypoints(uv, padding=1.3)
    # auto: a recent ROI wins over the track; 'track' mode ignores it
    assert tr.plan(cfg, 640, 480, 100_000_000, roi, 1.3)[0].source == "roi"
    assert tr.plan(TrackingConfig(crop_mode="track"), 640, 480, 100_000_000, roi, 1.3)[0].source == "track"
    # the track expires after tracking.timeout (by stamp) and when stamps go backwards
    assert tr.plan(cfg, 640, 480, 600_000_001, None, 1.3)[0].source == "full"


def test_search_box_replaces_the_full_image_until_a_hand_is_followed():
    """``predict --box``: the box is searched while no hand is followed; a followed hand wins over it."""
    cfg = TrackingConfig(crop_mode="track", max_hands=1)
    tr = HandTracker()
    box = (100.0, 50.0, 180.0, 170.0)
    (p,) = tr.plan(cfg, 640, 480, 0, None, 1.3, search_box=box)
    assert p.source == "box" and p.request.box == CropBox.from_xywh(100, 50, 80, 120, padding=1.3)
    assert not p.request.from_keypoints
    uv = _hand_uv(140, 110)
    tr.update(cfg, [p], [_result(uv)], 0)
    (p,) = tr.plan(cfg, 640, 480, 1_000_000, None, 1.3, search_box=box)
    assert p.source == "track" and p.request.box == box_from_keypoints(uv, padding=1.3)
    tr.update(cfg, [p], [_result(uv, valid=False)], 1_000_000)  # lost: back to the box
    (p,) = tr.plan(cfg, 640, 480, 2_000_000, None, 1.3, search_box=box)
    assert p.source == "box"
    tr.update(cfg, [p], [_result(uv, score=0.1)], 2_000_000)  # a new hand, valid but below min_score: not followed
    assert tr.plan(cfg, 640, 480, 3_000_000, None, 1.3, search_box=box)[0].source == "box"


def test_a_followed_hand_needs_only_the_tracking_score():
    """Hysteresis: track crops ask the pipeline for tracking.min_score, other crops keep min_hand_score."""
    cfg = TrackingConfig(crop_mode="track", min_score=0.15, redetect_score=0.0)
    tr = HandTracker()
    (p,) = tr.plan(cfg, 640, 480, 0, None, 1.3)
    assert p.source == "full" and p.request.min_score is None  # a new hand: the pipeline's min_hand_score
    tr.update(cfg, [p], [_result(_hand_uv(300, 200), score=0.5)], 0)
    (p,) = tr.plan(cfg, 640, 480, 10**8, None, 1.3)
    assert p.source == "track" and p.request.min_score == 0.15
    (h,) = tr.update(cfg, [p], [_result(_hand_uv(302, 200), score=0.16)], 10**8)  # valid at 0.16: still followed
    assert h.track.follow and h.track.track_id == 1
    (p,) = tr.plan(cfg, 640, 480, 2 * 10**8, None, 1.3)
    assert p.source == "track"


def test_plan_frame_runs_the_detector_only_when_wanted():
    """plan_frame: the estimator's detector runs when wants_detection says so, never without one or with a box."""

    class Est:
        model_config = types.SimpleNamespace(crop_padding=1.3)

        def __init__(self, detector: bool) -> None:
            self.detector = object() if detector else None
            self.calls = 0

        def detect_crops(self, image, max_hands):
            self.calls += 1
            return [CropBox(300.0, 200.0, 120.0)]

    image = np.zeros((480, 640, 3), np.uint8)
    cfg = TrackingConfig(crop_mode="track")
    est = Est(detector=True)
    planned, dets = HandTracker().plan_frame(cfg, est, image, 0)
    assert est.calls == 1 and dets == [CropBox(300.0, 200.0, 120.0)] and [p.source for p in planned] == ["detect"]
    planned, dets = HandTracker().plan_frame(cfg, est, image, 0, search_box=(10.0, 10.0, 90.0, 90.0))
    assert est.calls == 1 and dets is None and [p.source for p in planned] == ["box"]
    planned, dets = HandTracker().plan_frame(cfg, Est(detector=False), image, 0)
    assert dets is None and [p.source for p in planned] == ["full"]


def test_a_weak_track_is_re_detected_and_keeps_its_id():
    """A followed hand scoring below redetect_score: the detector runs on the next frame and its crop of that hand
    replaces the track crop; a strong track ignores the detection of its hand."""
    cfg = TrackingConfig(crop_mode="track", max_hands=1, min_score=0.15, redetect_score=0.3)
    tr = HandTracker()
    uv = _hand_uv(300, 200)
    tr.update(cfg, tr.plan(cfg, 640, 480, 0, None, 1.3), [_result(uv, score=0.5)], 0)
    assert not tr.wants_detection(cfg, 10**8)  # one strong hand, max_hands 1
    det = CropBox(296.0, 204.0, 150.0)
    (p,) = tr.plan(cfg, 640, 480, 10**8, None, 1.3, detections=[det])
    assert p.source == "track"  # the detection of a strong track is dropped
    (h,) = tr.update(cfg, [p], [_result(uv, score=0.2)], 10**8)  # weak, kept by hysteresis
    assert tr.wants_detection(cfg, 2 * 10**8)
    (p,) = tr.plan(cfg, 640, 480, 2 * 10**8, None, 1.3, detections=[det])
    assert p.source == "redetect" and p.request.box == det and not p.request.from_keypoints
    assert p.request.min_score == 0.15 and p.track is h.track
    (h2,) = tr.update(cfg, [p], [_result(_hand_uv(296, 204), score=0.5)], 2 * 10**8)
    assert h2.track.track_id == h.track.track_id and h2.track.follow
    assert not tr.wants_detection(cfg, 3 * 10**8)
    # a detection of another place is a new hand, not a replacement
    weak = TrackingConfig(crop_mode="track", max_hands=2, redetect_score=0.6)
    planned = tr.plan(weak, 640, 480, 3 * 10**8, None, 1.3, detections=[CropBox(100.0, 100.0, 80.0)])
    assert [q.source for q in planned] == ["track", "detect"]


def test_time_going_backwards_drops_tracks():
    cfg = TrackingConfig()
    tr = HandTracker()
    tr.update(cfg, tr.plan(cfg, 640, 480, 10**9, None, 1.3), [_result(_hand_uv(300, 200))], 10**9)
    assert tr.plan(cfg, 640, 480, 10**9 + 1, None, 1.3)[0].source == "track"
    assert tr.plan(cfg, 640, 480, 10**9 - 10**8, None, 1.3)[0].source == "full"


def test_track_ids_persist_while_boxes_overlap():
    cfg = TrackingConfig()
    tr = HandTracker()
    ids = []
    for i, cx in enumerate((300, 310, 322, 335)):  # moving hand: same track
        planned = tr.plan(cfg, 640, 480, i * 10**8, None, 1.3)
        (h,) = tr.update(cfg, planned, [_result(_hand_uv(cx, 240, seed=i))], i * 10**8)
        ids.append((h.track.track_id, h.track.slot))
    assert ids == [(1, 0)] * 4
    # an invalid estimate ends the track; the next valid hand gets a new id
    planned = tr.plan(cfg, 640, 480, 5 * 10**8, None, 1.3)
    assert tr.update(cfg, planned, [_result(_hand_uv(335, 240), valid=False)], 5 * 10**8) == []
    assert tr.tracks == []
    planned = tr.plan(cfg, 640, 480, 6 * 10**8, None, 1.3)
    (h,) = tr.update(cfg, planned, [_result(_hand_uv(340, 240))], 6 * 10**8)
    assert (h.track.track_id, h.track.slot, planned[0].source) == (2, 0, "full")
    # a hand far from the previous one (no overlap) is a new hand
    planned = tr.plan(TrackingConfig(crop_mode="full"), 640, 480, 7 * 10**8, None, 1.3)
    (h,) = tr.update(cfg, planned, [_result(_hand_uv(100, 100))], 7 * 10**8)
    assert h.track.track_id == 3


def test_low_score_hands_keep_their_id_but_are_not_followed():
    cfg = TrackingConfig(min_score=0.5)
    tr = HandTracker()
    (h,) = tr.update(cfg, tr.plan(cfg, 640, 480, 0, None, 1.3), [_result(_hand_uv(300, 200), score=0.4)], 0)
    assert not h.track.follow
    planned = tr.plan(cfg, 640, 480, 10**8, None, 1.3)
    assert planned[0].source == "full"
    (h2,) = tr.update(cfg, planned, [_result(_hand_uv(305, 200), score=0.4)], 10**8)
    assert h2.track.track_id == h.track.track_id


def test_several_hands_slots_duplicates_and_max_hands():
    cfg = TrackingConfig(max_hands=2)
    tr = HandTracker()
    a = _hand_uv(150, 200)
    (ha,) = tr.update(cfg, tr.plan(cfg, 640, 480, 0, None, 1.3), [_result(a)], 0)
    # an ROI away from the tracked hand starts a second hand; both are cropped
    roi = clip_roi(440, 170, 60, 60, 640, 480)
    planned = tr.plan(cfg, 640, 480, 10**8, roi, 1.3)
    assert sorted(p.source for p in planned) == ["roi", "track"]
    b = _hand_uv(470, 200)
    results = [_result(b if p.source == "roi" else a, score=0.8 if p.source == "roi" else 0.9) for p in planned]
    hands = tr.update(cfg, planned, results, 10**8)
    assert {(h.track.track_id, h.track.slot) for h in hands} == {(1, 0), (2, 1)}
    assert keypoint_frame_names("hand", 1)[0] == "hand_2_wrist"
    # two crops that found the same hand: only one is published
    planned = tr.plan(cfg, 640, 480, 2 * 10**8, None, 1.3)
    hands = tr.update(cfg, planned, [_result(a), _result(a + 1.0, score=0.5)], 2 * 10**8)
    assert len(hands) == 1 and hands[0].track.track_id == 1
    # max_hands 1: one crop, one hand
    one = TrackingConfig(max_hands=1)
    assert len(tr.plan(one, 640, 480, 3 * 10**8, roi, 1.3)) == 1
    with pytest.raises(ValueError, match="2 crops but 1 results"):
        tr.update(cfg, planned, [_result(a)], 0)


# --------------------------------------------------------------------------------------------------------------
# run-time helpers


def test_pending_frames_take_the_newest_ready_frame_and_drop_older_ones():
    q: PendingFrames[int] = PendingFrames(capacity=4)
    assert q.put(1) == [] and q.put(2) == [] and q.put(3) == [] and q.put(4) == []
    assert q.put(5) == [1]  # capacity: the oldest is evicted
    ready = {3}
    chosen, superseded, expired, _ = q.select(lambda f: f in ready, lambda f: False)
    assert (chosen, superseded, expired) == (3, [2], [])  # 2 is older than the chosen frame: dropped
    assert len(q) == 2  # 4 and 5 still wait (e.g. for their camera_info)
    chosen, superseded, expired, version = q.select(lambda f: False, lambda f: f == 4)
    assert (chosen, superseded, expired) == (None, [], [4])
    ready = {5}
    assert q.select(lambda f: f in ready, lambda f: False)[:3] == (5, [], [])
    assert len(q) == 0
    with pytest.raises(ValueError):
        PendingFrames(capacity=0)


def test_pending_frames_wait_wakes_on_notify():
    import threading
    import time

    q: PendingFrames[int] = PendingFrames()
    *_, version = q.select(lambda f: True, lambda f: False)
    t = threading.Timer(0.05, q.notify)
    t.start()
    t0 = time.monotonic()
    q.wait(version, 5.0)
    assert time.monotonic() - t0 < 2.0
    q.close()
    t0 = time.monotonic()
    q.wait(version, 5.0)
    assert time.monotonic() - t0 < 1.0 and q.closed


def test_keyed_throttle_is_per_kind_and_counts_held_messages():
    now = [0.0]
    th = KeyedThrottle(clock=lambda: now[0])
    assert th.check("encoding", 5.0) == 0
    assert th.check("encoding", 5.0) is None
    assert th.check("camera_info", 5.0) == 0  # another kind is not held back by the first
    now[0] = 4.9
    assert th.check("encoding", 5.0) is None
    now[0] = 5.1
    assert th.check("encoding", 5.0) == 2  # two held back since the last one
    assert th.check("encoding", 0.0) == 0  # period 0: every message


def test_frame_stats_counts_and_report():
    st = FrameStats()
    for name, n in (("received", 10), ("processed", 4), ("dropped", 5), ("refused", 1)):
        st.count(name, n)
    st.latency(12.0, 8.0)
    st.latency(14.0, 10.0)
    line = st.report(now=st._since + 2.0)
    assert "received 10, processed 4, dropped 5, refused 1" in line
    assert "received 5.0/s, processed 2.0/s" in line and "latency 13.0 ms (pipeline 9.0 ms)" in line
    assert st.snapshot()["dropped"] == 5
    with pytest.raises(ValueError, match="unknown counter"):
        st.count("lost")


# --------------------------------------------------------------------------------------------------------------
# parameters


def test_config_yaml_is_generated_from_the_settings():
    text = (REPO / "config" / "hand_pose.yaml").read_text()
    assert text == node_params_yaml(), (
        "config/hand_pose.yaml is stale: hand-pose-25d config node > config/hand_pose.yaml"
    )
    data = yaml.safe_load(text)
    params = data["/**"]["ros__parameters"]

    def flat(d, prefix=""):
        for k, v in d.items():
            yield from flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [(prefix + k, v)]

    specs = {s.name: s.default for s in parameter_specs(NodeConfig())}
    assert dict(flat(params)) == specs
    assert "# Hands whose overall score is below this are reported invalid." in text


def test_parameter_table_of_the_docs_is_generated_from_the_settings():
    from hand_pose_25d.ros.params import node_params_markdown

    table = node_params_markdown()
    for doc in ("docs/ros.md", "README.md"):
        assert table in (REPO / doc).read_text(), f"{doc}: stale parameter table: hand-pose-25d config node --markdown"


def test_every_parameter_is_documented():
    docs = (REPO / "docs" / "ros.md").read_text()
    for spec in parameter_specs(NodeConfig()):
        assert f"| `{spec.name}` |" in docs, f"{spec.name} is missing from the parameter table of docs/ros.md"
        assert spec.description in docs, f"docs/ros.md has a stale description of {spec.name}"


def test_parameter_descriptors():
    specs = {s.name: s for s in parameter_specs(NodeConfig())}
    f = descriptor_fields(specs["pipeline.min_hand_score"])
    assert (f["type"], f["read_only"], f["range"]) == (3, False, ("float", 0.0, 1.0))
    assert "overall score" in f["description"]
    f = descriptor_fields(specs["input.depth"])
    assert (f["type"], f["read_only"], f["range"]) == (2, True, ("int", 1, 100))
    f = descriptor_fields(specs["tracking.crop_mode"])
    assert (f["type"], f["read_only"], f["range"]) == (4, False, None)
    assert f["additional_constraints"] == "one of: auto, roi, track, full"
    assert descriptor_fields(specs["output.publish_tf"])["type"] == 1
    for spec in specs.values():
        assert spec.description, spec.name
        if spec.type in ("int", "float"):
            assert descriptor_fields(spec)["range"] is not None, f"{spec.name} has no range"


def test_parameter_values_are_validated_through_the_dataclass():
    cfg = config_from_values({"pipeline.min_hand_score": 0.5, "tracking.crop_mode": "track"})
    assert cfg.pipeline.min_hand_score == 0.5 and cfg.tracking.crop_mode == "track"
    for values, word in (
        ({"tracking.crop_mode": "bogus"}, "crop_mode"),
        ({"pipeline.min_hand_score": 2.0}, "min_hand_score"),
        ({"output.frame_prefix": "a/b"}, "frame_prefix"),
        ({"nope.x": 1}, "nope.x"),
        ({"input.depth": "5"}, "depth"),
    ):
        with pytest.raises(ValueError, match=word):
            config_from_values(values)


# --------------------------------------------------------------------------------------------------------------
# results, markers, TF names, overlay


def test_only_finite_valid_hands_are_publishable():
    uv = _hand_uv(300, 200)
    assert publish_problem(_result(uv)) is None
    assert publish_problem(_result(uv, valid=False)) == "invalid hand (degenerate_bone)"
    r = _result(uv)
    r.xyz[3, 1] = np.nan
    assert publish_problem(r) == "non-finite xyz"
    r = _result(uv)
    r.xyz[5, 2] = -0.1
    assert publish_problem(r) == "keypoint behind the camera"
    r = _result(uv)
    r.scale = float("nan")
    assert publish_problem(r) == "non-finite scale"


def test_tf_frame_names():
    names = keypoint_frame_names("hand")
    assert names[0] == "hand_wrist" and names[8] == "hand_index_tip" and names[20] == "hand_little_tip"
    assert list(names) == [f"hand_{n}" for n in KEYPOINT_NAMES] and len(set(names)) == 21
    assert keypoint_frame_names("left", 2)[4] == "left_3_thumb_tip"


def test_marker_geometry_and_colours():
    xyz = np.arange(63, dtype=float).reshape(21, 3)
    pts, colors = bone_segments(xyz)
    assert pts.shape == (40, 3) and colors.shape == (40, 3)
    for i, (a, b) in enumerate(BONES):
        np.testing.assert_array_equal(pts[2 * i], xyz[a])
        np.testing.assert_array_equal(pts[2 * i + 1], xyz[b])
    kc = keypoint_colors()
    assert tuple(kc[0]) == FINGER_COLORS["palm"] and tuple(kc[8]) == FINGER_COLORS["index"]
    assert tuple(colors[2 * 19]) == FINGER_COLORS["little"]


def test_overlay_draws_the_skeleton_and_leaves_the_rest():
    img = np.full((240, 320, 3), 40, np.uint8)
    uv = _hand_uv(160, 120, size=80)
    out = draw_overlay(img, [uv], [(CropBox(160, 120, 110), "track")])
    assert out.shape == img.shape and out.dtype == np.uint8 and np.array_equal(img, np.full_like(img, 40))
    changed = np.any(out != img, axis=2)
    for u, v in np.round(uv).astype(int):
        assert changed[v, u]
    assert not changed[:30, :80].any()  # far from the hand and its crop box
    with pytest.raises(ValueError):
        draw_overlay(np.zeros((4, 4), np.uint8), [uv])


# --------------------------------------------------------------------------------------------------------------
# the synthetic camera's ground truth


def test_synthetic_camera_info_and_ground_truth():
    from hand_pose_25d.data.synthetic import SyntheticSequence
    from hand_pose_25d.ros.synthetic_camera import camera_info_fields, ground_truth_fields

    sample = SyntheticSequence(seed=3, width=320, height=240, fps=10).frame(2)
    info = camera_info_fields(sample.K, 320, 240)
    np.testing.assert_array_equal(np.reshape(info["k"], (3, 3)), sample.K)
    np.testing.assert_array_equal(np.reshape(info["p"], (3, 4)), np.concatenate([sample.K, np.zeros((3, 1))], 1))
    fields = {k: info[k] for k in ("k", "d", "p", "width", "height", "distortion_model")}
    model = ci.camera_model_from_fields(frame_id="c", **fields)
    assert model.dist_coeffs is None
    gt = ground_truth_fields(sample)
    xyz = gt["xyz"]
    np.testing.assert_allclose(project(xyz, sample.K), gt["uv"], atol=1e-6)
    assert gt["scale"] == pytest.approx(np.linalg.norm(xyz[9] - xyz[0]))
    np.testing.assert_allclose((xyz[:, 2] - xyz[0, 2]) / gt["scale"], gt["z_rel"], atol=1e-12)
    assert gt["handedness"] in ("left", "right") and gt["root_depth"] == xyz[0, 2]
    x, y, w, h = gt["crop_roi"]
    vis = sample.uv[np.all((sample.uv >= 0) & (sample.uv < [320, 240]), axis=1)]
    assert (vis >= [x - 1, y - 1]).all() and (vis <= [x + w, y + h]).all()


# --------------------------------------------------------------------------------------------------------------
# message builders (need the ROS message packages)


@pytest.fixture
def ros_msgs():
    try:
        from sensor_msgs.msg import Image  # noqa: F401

        from hand_pose_25d_msgs.msg import HandPose  # noqa: F401
    except Exception as exc:
        reason = f"ROS 2 message packages not available in {sys.executable}: {exc}"
        if os.environ.get("HAND_POSE_REQUIRE_ROS") == "1":
            pytest.fail(reason + " (HAND_POSE_REQUIRE_ROS=1)", pytrace=False)
        pytest.skip(reason)


@pytest.mark.ros
def test_hand_pose_message_fields(ros_msgs):
    from std_msgs.msg import Header

    from hand_pose_25d.ros.messages import hand_pose_array_msg, hand_pose_msg

    uv = _hand_uv(300, 200)
    r = _result(uv)
    r.xyz = np.arange(63, dtype=float).reshape(21, 3) / 100 + 0.3
    header = Header(frame_id="cam")
    msg = hand_pose_msg(r, header, 7, 640, 480)
    assert len(msg.keypoints) == 21 and len(msg.keypoints_2d) == 21
    assert msg.keypoints[4].y == pytest.approx(r.xyz[4, 1]) and msg.keypoints_2d[4].x == pytest.approx(
        uv[4, 0], abs=1e-4
    )
    assert msg.keypoint_scores.dtype == np.float32 and msg.relative_depths.shape == (21,)
    assert list(msg.reference_bone) == [0, 9] and msg.track_id == 7 and msg.handedness == 2
    assert (msg.crop.x_offset, msg.crop.y_offset, msg.crop.width, msg.crop.height) == CropBox(100, 100, 50).clipped_roi(
        640, 480
    )
    with pytest.raises(ValueError, match="refusing to publish"):
        hand_pose_msg(_result(uv, valid=False), header, 1, 640, 480)
    arr = hand_pose_array_msg(header, [msg])
    assert arr.header.frame_id == "cam" and len(arr.hands) == 1


@pytest.mark.ros
def test_image_message_round_trip_through_the_converter(ros_msgs):
    from hand_pose_25d.ros.image_conversion import ImageConverter, rgb8_to_image_msg

    rgb = np.random.default_rng(5).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    msg = rgb8_to_image_msg(rgb)
    assert (msg.width, msg.height, msg.step, msg.encoding) == (9, 6, 27, "rgb8")
    conv = ImageConverter()
    assert np.array_equal(conv.to_rgb8(msg), rgb)
    bgr = rgb8_to_image_msg(np.ascontiguousarray(rgb[..., ::-1]), encoding="bgr8")
    assert np.array_equal(conv.to_rgb8(bgr), rgb)
    bgr.encoding = "16UC1"
    with pytest.raises(ic.ImageFormatError, match="unsupported image encoding '16UC1'"):
        conv.to_rgb8(bgr)


# --------------------------------------------------------------------------------------------------------------
# the children of the demo and the stress run (ros/processes.py)


def test_child_env_is_one_private_loopback_domain_with_the_shm_profile(monkeypatch, tmp_path):
    from hand_pose_25d.ros.processes import child_env

    monkeypatch.setenv("ROS_LOCALHOST_ONLY", "1")
    monkeypatch.setenv("ROS_NAMESPACE", "/elsewhere")
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", "/user/profile.xml")
    profile = tmp_path / "fastdds_shm.xml"
    env = child_env(17, tmp_path / "logs", profile)
    assert env["ROS_DOMAIN_ID"] == "17" and env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert "ROS_LOCALHOST_ONLY" not in env and "ROS_NAMESPACE" not in env
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] == str(profile)  # the stress run's transport, whatever the user set
    assert env["ROS_LOG_DIR"] == str((tmp_path / "logs").resolve()) and env["PYTHONUNBUFFERED"] == "1"
    # the demo keeps a profile the user chose; without a profile found, none is set
    assert child_env(17, tmp_path, profile, keep_user_profile=True)["FASTDDS_DEFAULT_PROFILES_FILE"] == (
        "/user/profile.xml"
    )
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE")
    assert "FASTDDS_DEFAULT_PROFILES_FILE" not in child_env(17, tmp_path, None)


def test_ros_command_writes_parameters_and_namespace():
    from hand_pose_25d.ros.processes import ros_command

    cmd = ros_command("hand_pose_25d.ros.synthetic_camera", {"rate": 10.0, "publish_depth": False, "seed": 9}, ns="/b")
    assert cmd[1:4] == ["-m", "hand_pose_25d.ros.synthetic_camera", "--ros-args"]
    assert cmd[4:] == ["-p", "rate:=10.0", "-p", "publish_depth:=false", "-p", "seed:=9", "-r", "__ns:=/b"]
    assert ros_command("m") == [cmd[0], "-m", "m", "--ros-args"]
    node = ros_command("n", {"a": True}, params_file=Path("p.yaml"), raw=("b:=1",), ns="/x")
    assert node[4:] == ["--params-file", "p.yaml", "-p", "a:=true", "-p", "b:=1", "-r", "__ns:=/x"]


def test_config_files_are_found_in_the_source_tree_or_said_missing(monkeypatch, capsys):
    from hand_pose_25d.ros import processes, stress

    found = processes.config_file("hand_pose.yaml")
    assert found is not None and found.parent == processes.config_dirs()[0]
    assert processes.config_file("no_such_file.yaml") is None
    # installed without its share/ files: the stress run stops at once and says where it looked
    monkeypatch.setattr(stress, "PARAMS_FILE", None)
    assert stress.main(["--short"]) == 2
    err = capsys.readouterr().err
    assert "config/hand_pose.yaml not found in" in err and str(processes.config_dirs()[0]) in err
