"""Drawing: 2D skeleton overlay, crop boxes, the 3D view, panels and PNG output (hand_pose_25d.visualize)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hand_pose_25d.crop import CropBox
from hand_pose_25d.inference.pipeline import HandPoseResult
from hand_pose_25d.skeleton import BONES, FINGERS, keypoint_colors
from hand_pose_25d.visualize import (
    View3D,
    draw_crop_box,
    draw_hand,
    draw_overlay,
    line_thickness,
    prediction_panel,
    render_3d,
    save_rgb,
    side_by_side,
)
from hand_pose_25d.visualize import draw_overlay as ros_draw_overlay

PALETTE = (keypoint_colors() * 255).round().astype(int)


def open_hand_xyz(up: bool = True) -> np.ndarray:
    """A flat open hand 0.5 m in front of the camera, fingers pointing up (-y) or down (+y), metres."""
    xyz = np.zeros((21, 3))
    xyz[0] = [0.0, 0.0, 0.5]
    sign = -1.0 if up else 1.0
    for f, (name, idx) in enumerate(FINGERS.items()):
        x = (f - 2) * 0.022
        for j, k in enumerate(idx):
            xyz[k] = [x * (1 + 0.2 * j), sign * (0.03 + 0.025 * (j + 1)), 0.5 + 0.002 * j]
    return xyz


def spread_uv(cx: float = 160.0, cy: float = 120.0, size: float = 90.0) -> np.ndarray:
    """2D keypoints of a spread hand, ~size px tall, wrist at the bottom."""
    xyz = open_hand_xyz()
    return np.stack([cx + xyz[:, 0] / 0.1 * size * 0.5, cy + (xyz[:, 1] + 0.075) / 0.15 * size], axis=1)


def test_draw_hand_colours_each_keypoint_and_skips_missing_ones():
    img = np.zeros((240, 320, 3), np.uint8)
    uv = spread_uv()
    uv[20] = np.nan  # little fingertip unknown
    draw_hand(img, uv)
    for k in (4, 8, 12, 16):  # fingertips: the filled disc of the keypoint's own colour
        u, v = np.round(uv[k]).astype(int)
        np.testing.assert_array_equal(img[v, u], PALETTE[k])
    # no line towards the missing keypoint: the pixels just beyond the little finger's DIP (19) stay dark
    u19, v19 = np.round(uv[19]).astype(int)
    assert not img[max(v19 - 12, 0) : v19 - 6, u19].any()
    with pytest.raises(ValueError):
        draw_hand(img, uv[:20])
    with pytest.raises(ValueError):
        draw_hand(img.astype(np.float32), uv)


def test_overlay_is_a_copy_and_the_ros_debug_image_uses_it():
    img = np.full((240, 320, 3), 30, np.uint8)
    uv = spread_uv()
    crops = [(CropBox(160, 120, 150), "track"), (CropBox(60, 60, 40), "full")]
    out = draw_overlay(img, [uv], crops, labels=["right 0.90"])
    assert out.shape == img.shape and out.dtype == np.uint8 and (img == 30).all()
    np.testing.assert_array_equal(ros_draw_overlay(img, [uv], crops, ["right 0.90"]), out)
    # box edges in their source colours: the top edge of the track box is green, of the full box grey
    np.testing.assert_array_equal(out[45, 160], (0, 200, 0))
    np.testing.assert_array_equal(out[40, 60], (160, 160, 160))
    # a hand with a non-finite keypoint is not drawn at all (as in the node's debug image)
    bad = uv.copy()
    bad[3] = np.inf
    assert (draw_overlay(img, [bad]) == img).all()


def test_rotated_crop_box_corners():
    img = np.zeros((200, 200, 3), np.uint8)
    box = CropBox(100, 100, 80, angle=np.pi / 4)
    draw_crop_box(img, box, (255, 0, 0), thickness=1)
    # rotated by 45 degrees the square's corners lie on the axes through the centre, 40*sqrt(2) away
    r = int(round(40 * np.sqrt(2)))
    for u, v in ((100 + r, 100), (100 - r, 100), (100, 100 + r), (100, 100 - r)):
        assert img[v - 1 : v + 2, u - 1 : u + 2, 0].max() == 255
    assert img[100, 100].sum() == 0 and img[60, 60].sum() == 0  # centre and the unrotated corner untouched


def test_line_thickness_scales_with_resolution():
    assert line_thickness(320, 240) == 1 and line_thickness(1920, 1080) == 6


def _colour_centroid_row(img: np.ndarray, colour) -> float:
    mask = np.all(np.abs(img.astype(int) - np.asarray(colour)) <= 30, axis=2)
    assert mask.sum() > 10, "colour not found in the 3D view"
    return float(np.nonzero(mask)[0].mean())


def test_3d_view_shows_the_camera_frame_with_y_down():
    view = View3D(240, 200)
    up = view.render([open_hand_xyz(up=True)])
    down = view.render([open_hand_xyz(up=False)])
    assert up.shape == (200, 240, 3) and up.dtype == np.uint8
    # index fingertip colour vs the grey wrist: above it for fingers towards -y (up in the image), below for +y
    index = PALETTE[FINGERS["index"][-1]]
    middle = PALETTE[FINGERS["middle"][-1]]
    wrist_row_up = float(np.mean([_colour_centroid_row(up, index), _colour_centroid_row(up, middle)]))
    wrist_row_down = float(np.mean([_colour_centroid_row(down, index), _colour_centroid_row(down, middle)]))
    assert wrist_row_up < 100 < wrist_row_down  # fingers in the upper half, then in the lower half
    empty = view.render([np.full((21, 3), np.nan)])
    assert not np.any(np.all(np.abs(empty.astype(int) - index) <= 30, axis=2))  # nothing drawn for invalid hands
    view.close()
    one_shot = render_3d([open_hand_xyz()], 240, 200)
    np.testing.assert_array_equal(one_shot, up)  # deterministic rendering
    with pytest.raises(ValueError):
        view.render([np.zeros((20, 3))])


def _result(uv: np.ndarray, xyz: np.ndarray, valid: bool = True) -> HandPoseResult:
    return HandPoseResult(
        uv=uv,
        z_rel=np.zeros(21),
        xyz=xyz,
        xyz_normalized=xyz / 0.1,
        keypoint_scores=np.full(21, 0.8),
        score=0.8,
        handedness="right",
        handedness_score=0.9,
        root_depth=float(xyz[0, 2]),
        scale=0.1,
        scale_source="bone_prior",
        crop=CropBox(160, 120, 140),
        valid=valid,
        status="ok" if valid else "low_score",
    )


def test_side_by_side_and_prediction_panel():
    a = np.zeros((100, 50, 3), np.uint8)
    b = np.full((50, 40, 3), 255, np.uint8)
    out = side_by_side(a, b)
    assert out.shape == (100, 130, 3) and (out[:, 50:] == 255).all() and (out[:, :50] == 0).all()
    img = np.full((240, 320, 3), 20, np.uint8)
    res = _result(spread_uv(), open_hand_xyz())
    panel = prediction_panel(img, [res], ["track"])
    assert panel.shape == (240, 320 + 240, 3)
    np.testing.assert_array_equal(
        panel[:, :320], draw_overlay(img, [res.uv], [(res.crop, "track")], ["right 0.80 z=0.50m"])
    )
    # the 3D half shows the hand's colours
    assert np.any(np.all(np.abs(panel[:, 320:].astype(int) - PALETTE[8]) <= 30, axis=2))
    flat = prediction_panel(img, [res], ["track"], with_3d=False)
    assert flat.shape == img.shape
    invalid = prediction_panel(img, [_result(spread_uv(), np.full((21, 3), np.nan), valid=False)])
    assert not np.any(np.all(np.abs(invalid[:, 320:].astype(int) - PALETTE[8]) <= 30, axis=2))


def test_save_rgb_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = save_rgb(tmp_path / "a" / "x.png", img)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, img)  # RGB order kept, PNG lossless
    with pytest.raises(ValueError, match="could not write"):
        save_rgb(tmp_path / "x.unknown_suffix", img)


def test_bones_use_the_child_colour():
    img = np.zeros((240, 320, 3), np.uint8)
    uv = spread_uv()
    draw_hand(img, uv, thickness=3)
    for a, b in BONES:
        mid = np.round((uv[a] + uv[b]) / 2).astype(int)
        if np.linalg.norm(uv[a] - uv[b]) > 14:  # away from the keypoint discs
            np.testing.assert_array_equal(img[mid[1], mid[0]], PALETTE[b])
