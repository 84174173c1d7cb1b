"""BlazePalm post-processing: anchors, decoding, weighted NMS, letterbox, and the palm/landmark -> hand ROI maps."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from hand_pose_25d.detection.palm import (
    PALM_NUM_ANCHORS,
    PALM_SPEC,
    PalmDetection,
    RotatedRect,
    apply_affine,
    decode_boxes,
    decode_palms,
    hand_roi_from_keypoints,
    hand_roi_from_palm,
    invert_affine,
    landmarks_to_rect,
    letterbox,
    letterbox_padding,
    normalize_radians,
    palm_to_image,
    postprocess_palms,
    roi_crop_matrix,
    rotation_from_points,
    ssd_anchors,
    transform_rect,
    weighted_nms,
)

SIZE = 192.0


# ---------------------------------------------------------------------------------------------------- helpers


def encode(anchor: np.ndarray, center, wh, keypoints) -> np.ndarray:
    """Raw (18,) regressor that decodes to a normalised box centre/size and keypoints for ``anchor``."""
    ax, ay, aw, ah = anchor
    raw = [(center[0] - ax) / aw * SIZE, (center[1] - ay) / ah * SIZE, wh[0] / aw * SIZE, wh[1] / ah * SIZE]
    for kx, ky in keypoints:
        raw += [(kx - ax) / aw * SIZE, (ky - ay) / ah * SIZE]
    return np.array(raw)


def blank_outputs():
    return np.zeros((1, PALM_NUM_ANCHORS, 18)), np.full((1, PALM_NUM_ANCHORS, 1), -50.0)


def palm_keypoints(wrist, mcp):
    """7 keypoints with wrist (0) and middle MCP (2) set, the others spread between them."""
    wrist, mcp = np.asarray(wrist, float), np.asarray(mcp, float)
    kp = np.array([wrist + (mcp - wrist) * t for t in np.linspace(0.0, 1.0, 7)])
    kp[0], kp[2] = wrist, mcp
    return kp


def det(score, box, kps=None):
    return PalmDetection(score, np.asarray(box, float), np.zeros((7, 2)) if kps is None else kps)


def rot(phi):
    c, s = math.cos(phi), math.sin(phi)
    return np.array([[c, -s], [s, c]])


# ---------------------------------------------------------------------------------------------------- anchors


def test_anchor_count_order_and_layer_boundary():
    a = ssd_anchors()
    assert a.shape == (2016, 4) and 24 * 24 * 2 + 12 * 12 * 6 == 2016
    np.testing.assert_array_equal(a[:, 2:], 1.0)  # fixed_anchor_size
    # stride 8: 24x24 cells, 2 anchors per cell, x fastest after the in-cell anchor
    np.testing.assert_allclose(a[0, :2], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[1, :2], a[0, :2])
    np.testing.assert_allclose(a[2, :2], [1.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[48, :2], [0.5 / 24, 1.5 / 24])  # second row
    np.testing.assert_allclose(a[1151, :2], [23.5 / 24, 23.5 / 24])
    # the three stride-16 layers share one 12x12 map with 6 anchors per cell
    np.testing.assert_allclose(a[1152:1158, :2], np.tile([0.5 / 12, 0.5 / 12], (6, 1)))
    np.testing.assert_allclose(a[1158, :2], [1.5 / 12, 0.5 / 12])
    np.testing.assert_allclose(a[-1, :2], [11.5 / 12, 11.5 / 12])
    np.testing.assert_array_equal(PALM_SPEC.anchors(), a)
    assert not PALM_SPEC.anchors().flags.writeable


def test_anchors_match_naive_loops_and_merge_only_consecutive_strides():
    ref = []
    for stride, per_cell in ((8, 2), (16, 6)):
        n = 192 // stride
        for y in range(n):
            for x in range(n):
                ref += [[(x + 0.5) / n, (y + 0.5) / n, 1.0, 1.0]] * per_cell
    np.testing.assert_allclose(ssd_anchors(), ref)
    # 16, 8, 16 are not consecutive: three maps of 2 anchors per cell
    a = ssd_anchors(strides=(16, 8, 16))
    assert a.shape == (144 * 2 + 576 * 2 + 144 * 2, 4)
    # non-fixed sizes: scale_i and sqrt(scale_i * scale_{i+1}), aspect 1
    b = ssd_anchors(strides=(8, 16), min_scale=0.2, max_scale=0.8, fixed_anchor_size=False)
    np.testing.assert_allclose(b[0, 2:], [0.2, 0.2])
    np.testing.assert_allclose(b[1, 2:], [math.sqrt(0.2 * 0.8)] * 2)
    np.testing.assert_allclose(b[-1, 2:], [math.sqrt(0.8 * 1.0)] * 2)
    with pytest.raises(ValueError):
        ssd_anchors(strides=())
    with pytest.raises(ValueError):
        ssd_anchors(aspect_ratios=(0.0,))


# ---------------------------------------------------------------------------------------------------- decoding


def test_encode_decode_round_trip():
    anchors = ssd_anchors()
    reg, logits = blank_outputs()
    center, wh = (0.40, 0.55), (0.20, 0.25)
    kps = palm_keypoints((0.41, 0.64), (0.40, 0.47))
    for i in (700, 1500):  # one anchor per feature map
        reg[0, i] = encode(anchors[i], center, wh, kps)
    logits[0, 700], logits[0, 1500] = 2.0, 1000.0  # the second is clipped to 100
    dets = decode_palms(reg, logits, anchors)
    assert len(dets) == 2
    exp_box = np.array([0.30, 0.425, 0.50, 0.675]) * SIZE - 0.5
    for d in dets:
        np.testing.assert_allclose(d.box, exp_box, atol=1e-9)
        np.testing.assert_allclose(d.keypoints, kps * SIZE - 0.5, atol=1e-9)
        np.testing.assert_allclose(d.center, np.array(center) * SIZE - 0.5, atol=1e-9)
        assert d.width == pytest.approx(0.2 * SIZE) and d.height == pytest.approx(0.25 * SIZE)
    assert dets[0].score == pytest.approx(1.0 / (1.0 + math.exp(-2.0)))
    assert dets[1].score == pytest.approx(1.0 / (1.0 + math.exp(-100.0)))
    # unbatched shapes decode the same; the normalised decode is consistent
    flat = decode_palms(reg[0], logits[0, :, 0], anchors)
    np.testing.assert_allclose(flat[1].box, dets[1].box)
    boxes, kp_n = decode_boxes(reg, anchors)
    np.testing.assert_allclose(boxes[700], [0.30, 0.425, 0.50, 0.675], atol=1e-12)
    np.testing.assert_allclose(kp_n[1500], kps, atol=1e-12)


def test_score_threshold_and_negative_sizes():
    anchors = ssd_anchors()
    reg, logits = blank_outputs()
    reg[0, 10] = encode(anchors[10], (0.1, 0.1), (0.05, 0.05), np.full((7, 2), 0.1))
    logits[0, 10] = 0.0  # score exactly 0.5: kept at the default threshold (score >= threshold)
    assert len(decode_palms(reg, logits)) == 1
    assert len(decode_palms(reg, logits, min_score=0.51)) == 0
    logits[0, 20] = -1000.0  # clipped to -100 before the sigmoid, so the score stays positive
    everything = decode_palms(reg, logits, min_score=0.0)
    assert len(everything) == PALM_NUM_ANCHORS
    assert min(d.score for d in everything) == pytest.approx(1.0 / (1.0 + math.exp(100.0)), rel=1e-9, abs=0.0)
    reg[0, 10, 2] = -1.0  # negative width: dropped like MediaPipe does
    assert decode_palms(reg, logits) == []


def test_decode_rejects_bad_input():
    reg, logits = blank_outputs()
    with pytest.raises(ValueError, match="regressors"):
        decode_palms(reg[..., :17], logits)
    with pytest.raises(ValueError, match="regressors"):
        decode_palms(np.concatenate([reg, reg]), logits)
    with pytest.raises(ValueError, match="logits"):
        decode_palms(reg, logits[:, :100])
    with pytest.raises(ValueError, match="anchors"):
        decode_palms(reg, logits, ssd_anchors()[:100])
    bad = reg.copy()
    bad[0, 5, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        decode_palms(bad, logits)
    bad_logits = logits.copy()
    bad_logits[0, 7, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        decode_palms(reg, bad_logits)
    with pytest.raises(ValueError):
        decode_palms(reg, logits, min_score=float("nan"))
    with pytest.raises(ValueError):
        PalmDetection(0.9, np.array([0.0, 0.0, np.nan, 1.0]), np.zeros((7, 2)))
    with pytest.raises(ValueError):
        PalmDetection(0.9, np.array([5.0, 0.0, 1.0, 1.0]), np.zeros((7, 2)))  # xmax < xmin
    with pytest.raises(ValueError):
        PalmDetection(0.9, np.zeros(3), np.zeros((7, 2)))


# ---------------------------------------------------------------------------------------------------- NMS


def test_weighted_nms_merges_overlaps_with_score_weights_and_keeps_separate():
    ka, kb, kc = np.full((7, 2), 1.0), np.full((7, 2), 4.0), np.full((7, 2), 55.0)
    a = det(0.9, [0, 0, 10, 10], ka)
    b = det(0.6, [1, 1, 11, 11], kb)  # IoU with a = 81 / 119 > 0.3
    c = det(0.8, [50, 50, 60, 60], kc)
    out = weighted_nms([b, c, a])
    assert [d.score for d in out] == [0.9, 0.8]  # best member's score, best cluster first
    np.testing.assert_allclose(out[0].box, (0.9 * a.box + 0.6 * b.box) / 1.5)
    np.testing.assert_allclose(out[0].keypoints, np.full((7, 2), (0.9 * 1.0 + 0.6 * 4.0) / 1.5))
    np.testing.assert_allclose(out[1].box, c.box)
    np.testing.assert_allclose(out[1].keypoints, kc)
    assert len(weighted_nms([b, c, a], max_detections=1)) == 1
    assert weighted_nms([]) == []


def test_weighted_nms_clusters_against_the_best_box_only_and_threshold_is_strict():
    a = det(0.9, [0, 0, 10, 10])
    b = det(0.8, [4, 0, 14, 10])  # IoU(a, b) = 60 / 140
    c = det(0.7, [8, 0, 18, 10])  # IoU(a, c) = 20 / 180, IoU(b, c) = 60 / 140
    out = weighted_nms([a, b, c])
    assert len(out) == 2
    np.testing.assert_allclose(out[0].box, (0.9 * a.box + 0.8 * b.box) / 1.7)
    np.testing.assert_allclose(out[1].box, c.box)  # b was consumed by a's cluster, so c stays alone
    # IoU exactly at the threshold does not merge (MediaPipe: similarity > threshold)
    d, e = det(0.9, [0, 0, 2, 1]), det(0.5, [1, 0, 3, 1])  # IoU = 1/3
    assert len(weighted_nms([d, e], iou_threshold=1.0 / 3.0)) == 2
    assert len(weighted_nms([d, e], iou_threshold=0.3)) == 1
    with pytest.raises(ValueError):
        weighted_nms([a, PalmDetection(0.5, np.array([0.0, 0, 1, 1]), np.zeros((3, 2)))])


# ---------------------------------------------------------------------------------------------------- letterbox


@pytest.mark.parametrize("hw", [(480, 640), (640, 480), (192, 192), (100, 300)])
def test_letterbox_round_trip_and_mediapipe_padding(hw):
    h, w = hw
    A, A_inv = letterbox((h, w, 3))
    s = min(192 / w, 192 / h)
    # image outer edges map onto the centred content area, equal padding on both sides
    edges = apply_affine(np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]]), A)
    pad_x, pad_y = (192 - s * w) / 2, (192 - s * h) / 2
    np.testing.assert_allclose(edges, [[pad_x - 0.5, pad_y - 0.5], [191.5 - pad_x, 191.5 - pad_y]], atol=1e-9)
    assert min(pad_x, pad_y) == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, [w, h], size=(20, 2))
    np.testing.assert_allclose(apply_affine(apply_affine(pts, A), A_inv), pts, atol=1e-9)
    # same as MediaPipe's DetectionLetterboxRemovalCalculator on normalised coordinates
    left, top, right, bottom = letterbox_padding((h, w))
    q = rng.uniform(0, 1, size=(20, 2))
    img_norm = np.stack([(q[:, 0] - left) / (1 - left - right), (q[:, 1] - top) / (1 - top - bottom)], axis=1)
    np.testing.assert_allclose(apply_affine(q * 192 - 0.5, A_inv), img_norm * [w, h] - 0.5, atol=1e-9)


def test_letterbox_image_warp():
    cv2 = pytest.importorskip("cv2")
    del cv2
    from hand_pose_25d.detection.palm import letterbox_image

    img = np.full((100, 200, 3), 255, np.uint8)
    out, A, _ = letterbox_image(img)
    assert out.shape == (192, 192, 3)
    assert out[:40].max() == 0 and out[-40:].max() == 0  # 48 rows of padding top and bottom
    assert out[60:130].min() == 255
    np.testing.assert_allclose(A, letterbox((100, 200))[0])


def test_mediapipe_sampling_is_half_a_pixel_off_the_exact_map():
    pytest.importorskip("cv2")
    from hand_pose_25d.detection.palm import crop_roi, letterbox_image, mediapipe_sampling_matrix

    A, _ = letterbox((480, 640))
    np.testing.assert_allclose(mediapipe_sampling_matrix(A), [[0.3, 0.0, 0.0], [0.0, 0.3, 24.0]], atol=1e-12)
    img = np.random.default_rng(3).uniform(0, 1, (384, 384, 3)).astype(np.float32)
    exact, _, _ = letterbox_image(img)  # 2x reduction: each input pixel is the mean of a 2x2 block
    blocks = img.reshape(192, 2, 192, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(exact, blocks, atol=1e-5)
    mp_like, _, _ = letterbox_image(img, mediapipe_sampling=True)  # MediaPipe CPU: samples pixel 2i exactly
    np.testing.assert_allclose(mp_like, img[::2, ::2], atol=1e-6)
    # crops: replicate (MediaPipe's hand-landmark default) or zero outside the image
    small = np.full((20, 20), 7, np.uint8)
    rect = RotatedRect(9.5, 9.5, 40.0, 40.0)
    assert crop_roi(small, rect, 8)[0].min() == 7
    zero, A2 = crop_roi(small, rect, 8, border="zero")
    assert zero[0, 0] == 0 and zero[4, 4] == 7
    np.testing.assert_allclose(A2, roi_crop_matrix(rect, 8))
    with pytest.raises(ValueError):
        crop_roi(small, rect, 8, border="reflect")


def test_letterbox_and_affine_errors():
    with pytest.raises(ValueError):
        letterbox((0, 10))
    with pytest.raises(ValueError):
        letterbox((10,))
    with pytest.raises(ValueError):
        letterbox((10, 10), size=0)
    with pytest.raises(ValueError):
        invert_affine(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        apply_affine(np.zeros((3, 3)), np.eye(3)[:2])


def test_palm_to_image_maps_box_and_keypoints():
    A, A_inv = letterbox((480, 640))  # scale 0.3, 24 px vertical padding
    kps = palm_keypoints((96.0, 120.0), (96.0, 80.0))
    d = det(0.7, [76.0, 70.0, 116.0, 130.0], kps)
    out = palm_to_image(d, A_inv)
    assert out.score == 0.7
    np.testing.assert_allclose(out.keypoints, apply_affine(kps, A_inv))
    np.testing.assert_allclose(apply_affine(out.box.reshape(2, 2), A).ravel(), d.box, atol=1e-9)
    assert out.width == pytest.approx(40 / 0.3) and out.height == pytest.approx(60 / 0.3)


def test_postprocess_end_to_end():
    anchors = ssd_anchors()
    reg, logits = blank_outputs()
    kps = palm_keypoints((0.5, 0.6), (0.5, 0.4))
    for i, dx in ((1152 + 6 * 78, 0.0), (1152 + 6 * 78 + 1, 0.01)):  # two overlapping hits on one palm
        reg[0, i] = encode(anchors[i], (0.5 + dx, 0.5), (0.2, 0.2), kps)
        logits[0, i] = 3.0
    _, A_inv = letterbox((480, 640))
    (p,) = postprocess_palms(reg, logits, A_inv)
    np.testing.assert_allclose(p.center, apply_affine(np.array([0.505, 0.5]) * 192 - 0.5, A_inv), atol=1e-9)
    roi = hand_roi_from_palm(p)
    assert roi.rotation == pytest.approx(0.0)
    assert roi.width == pytest.approx(2.6 * 0.2 * 192 / 0.3)


# ---------------------------------------------------------------------------------------------------- ROIs


def test_roi_of_upright_palm():
    d = det(0.9, [80, 150, 120, 210], palm_keypoints((100, 200), (100, 150)))  # wrist below the middle MCP
    roi = hand_roi_from_palm(d)
    assert roi.rotation == pytest.approx(0.0)
    assert (roi.center_x, roi.center_y) == pytest.approx((100.0, 180.0 - 0.5 * 60))  # shifted towards the fingers
    assert roi.width == pytest.approx(2.6 * 60) and roi.height == pytest.approx(2.6 * 60)  # square of the long side
    np.testing.assert_allclose(roi.axis_aligned_box(), [100 - 78, 150 - 78, 100 + 78, 150 + 78])


def test_roi_of_palm_rotated_90_degrees_and_crop_is_upright():
    d = det(0.9, [90, 80, 150, 120], palm_keypoints((100, 100), (150, 100)))  # fingers point right
    roi = hand_roi_from_palm(d)
    assert roi.rotation == pytest.approx(math.pi / 2)
    assert (roi.center_x, roi.center_y) == pytest.approx((120.0 + 0.5 * 40, 100.0))  # shift_y along the fingers
    assert roi.width == pytest.approx(2.6 * 60)
    down = hand_roi_from_palm(det(0.9, [80, 100, 120, 160], palm_keypoints((100, 100), (100, 150))))
    assert abs(down.rotation) == pytest.approx(math.pi)
    diag = rotation_from_points(np.array([0.0, 0.0]), np.array([1.0, -1.0]))  # up-right
    assert diag == pytest.approx(math.pi / 4)
    # in every orientation the crop shows the middle MCP straight above the wrist
    for phi in (0.0, 0.5, math.pi / 2, 2.5, -1.0, -math.pi + 0.1):
        wrist = np.array([300.0, 200.0])
        mcp = wrist + rot(phi) @ np.array([0.0, -50.0])
        r = hand_roi_from_palm(det(0.9, [250, 150, 350, 250], palm_keypoints(wrist, mcp)))
        assert r.rotation == pytest.approx(normalize_radians(phi))
        cw, cm = apply_affine(np.stack([wrist, mcp]), roi_crop_matrix(r, 224))
        assert cw[0] == pytest.approx(cm[0], abs=1e-9) and cm[1] < cw[1]


def test_crop_matrix_edges_and_mediapipe_roi_mapping():
    r = RotatedRect(140.0, 90.0, 120.0, 80.0, 0.6)
    S = 64
    A = roi_crop_matrix(r, S)
    np.testing.assert_allclose(
        apply_affine(r.corners(), A), [[-0.5, -0.5], [S - 0.5, -0.5], [S - 0.5, S - 0.5], [-0.5, S - 0.5]], atol=1e-9
    )
    np.testing.assert_allclose(apply_affine(r.center, A), [(S - 1) / 2] * 2, atol=1e-9)
    # MediaPipe's GetRotatedSubRectToRectTransformMatrix: crop normalised (u, v) -> image normalised
    W, H = 320, 240
    a, b, c, d = r.width, r.height, math.cos(r.rotation), math.sin(r.rotation)
    e, f = r.center_x + 0.5, r.center_y + 0.5
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.3, 0.8]])
    xn = (a * c * uv[:, 0] - b * d * uv[:, 1] + (-0.5 * a * c + 0.5 * b * d + e)) / W
    yn = (a * d * uv[:, 0] + b * c * uv[:, 1] + (-0.5 * b * c - 0.5 * a * d + f)) / H
    crop_px = uv * S - 0.5
    np.testing.assert_allclose(apply_affine(crop_px, invert_affine(A)), np.stack([xn * W - 0.5, yn * H - 0.5], 1))
    # normalised round trip
    xc, yc, wn, hn, rn = r.to_normalized(W, H)
    assert (xc, yc, wn, hn, rn) == pytest.approx((140.5 / W, 90.5 / H, 120.0 / W, 80.0 / H, 0.6))
    back = RotatedRect.from_normalized(xc, yc, wn, hn, rn, W, H)
    got = [back.center_x, back.center_y, back.width, back.height, back.rotation]
    np.testing.assert_allclose(got, [140, 90, 120, 80, 0.6])


def test_crop_matrix_agrees_with_package_crop_box():
    try:
        from hand_pose_25d.crop import CropBox, crop_matrix
    except ImportError:  # pragma: no cover - the crop module is being refactored elsewhere
        pytest.skip("hand_pose_25d.crop.CropBox/crop_matrix not available")
    r = RotatedRect(50.0, 70.0, 90.0, 90.0, 1.1)
    np.testing.assert_allclose(roi_crop_matrix(r, 128), crop_matrix(CropBox(50.0, 70.0, 90.0, -1.1), 128), atol=1e-12)


def test_transform_rect_order_shift_then_square_then_scale():
    r = RotatedRect(0.0, 0.0, 10.0, 40.0, math.pi / 2)
    t = transform_rect(r, shift_x=0.5, shift_y=-0.25, square_long=True, scale_x=2.0, scale_y=3.0)
    # shift uses the original sizes along the rotated axes: x axis (0, 1), y axis (-1, 0)
    assert (t.center_x, t.center_y) == pytest.approx((10.0, 5.0))
    assert (t.width, t.height) == pytest.approx((80.0, 120.0))
    s = transform_rect(r, square_short=True)
    assert (s.width, s.height) == (10.0, 10.0)
    with pytest.raises(ValueError):
        transform_rect(r, square_long=True, square_short=True)
    with pytest.raises(ValueError):
        RotatedRect(0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        RotatedRect(np.nan, 0.0, 1.0, 1.0)


def upright_hand() -> np.ndarray:
    """21 MediaPipe-ordered keypoints of an upright open hand (index/ring MCP x = 85/115 straddle the middle, 100)."""
    kp = np.zeros((21, 2))
    kp[0] = (100, 200)
    kp[1:5] = [(80, 190), (70, 175), (62, 160), (55, 148)]  # thumb CMC, MCP, IP, tip
    for base, x in ((5, 85.0), (9, 100.0), (13, 115.0), (17, 130.0)):
        kp[base : base + 4] = [(x, 150), (x, 130), (x, 115), (x, 100)]  # MCP, PIP, DIP, tip
    return kp


def test_landmark_roi_upright_uses_stable_joints_only():
    kp = upright_hand()
    raw = landmarks_to_rect(kp)
    assert raw.rotation == pytest.approx(0.0)  # wrist -> ((index MCP + ring MCP) / 2 + middle MCP) / 2 is vertical
    partial = kp[[0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]]
    lo, hi = partial.min(0), partial.max(0)
    assert (raw.width, raw.height) == pytest.approx(tuple(hi - lo))
    assert (raw.center_x, raw.center_y) == pytest.approx(tuple((lo + hi) / 2))
    moved = kp.copy()
    moved[[4, 7, 8, 11, 12, 15, 16, 19, 20]] += 500.0  # fingertips and DIPs do not matter
    assert landmarks_to_rect(moved) == raw
    roi = hand_roi_from_keypoints(kp)
    side = max(hi - lo)
    assert (roi.width, roi.height) == pytest.approx((2 * side, 2 * side))
    assert (roi.center_x, roi.center_y) == pytest.approx((raw.center_x, raw.center_y - 0.1 * raw.height))


def test_landmark_roi_rotation_averages_index_middle_and_ring_mcp():
    kp = upright_hand()
    kp[5], kp[13] = (80.0, 150.0), (110.0, 140.0)  # index / ring MCP no longer symmetric about the middle MCP
    target = ((kp[5] + kp[13]) / 2 + kp[9]) / 2
    expected = rotation_from_points(kp[0], target)
    assert abs(expected - rotation_from_points(kp[0], kp[9])) > 0.02
    assert landmarks_to_rect(kp).rotation == pytest.approx(expected)


@pytest.mark.parametrize("phi", [0.7, -2.0, 3.0])
def test_landmark_roi_rotates_with_the_hand(phi):
    kp = upright_hand()
    pivot = np.array([320.0, 240.0])
    turned = (kp - pivot) @ rot(phi).T + pivot
    r0, r1 = hand_roi_from_keypoints(kp), hand_roi_from_keypoints(turned)
    assert r1.rotation == pytest.approx(normalize_radians(phi))
    assert (r1.width, r1.height) == pytest.approx((r0.width, r0.height))
    np.testing.assert_allclose(r1.center, rot(phi) @ (r0.center - pivot) + pivot, atol=1e-9)


def test_keypoint_roi_errors():
    kp = upright_hand()
    with pytest.raises(ValueError):
        hand_roi_from_keypoints(kp[:20])
    bad = kp.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError):
        hand_roi_from_keypoints(bad)
    with pytest.raises(ValueError):
        landmarks_to_rect(np.zeros((21, 2)))
    with pytest.raises(ValueError):
        hand_roi_from_palm(det(0.9, [0, 0, 10, 10]), end_keypoint=7)
    with pytest.raises(ValueError):
        rotation_from_points(np.array([0.0, np.nan]), np.array([1.0, 1.0]))


def test_normalize_radians_range():
    for a in (0.0, math.pi, -math.pi, 3 * math.pi / 2, -7.0, 100.0):
        n = normalize_radians(a)
        assert -math.pi <= n < math.pi
        assert math.isclose(math.cos(n), math.cos(a), abs_tol=1e-9)
        assert math.isclose(math.sin(n), math.sin(a), abs_tol=1e-9)


def test_import_is_cheap():
    code = (
        "import sys, hand_pose_25d.detection, hand_pose_25d.detection.palm\n"
        "print(','.join(m for m in ('torch', 'cv2', 'rclpy', 'tensorrt', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
