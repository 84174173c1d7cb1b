"""Crops as affine maps: geometry of the matrix, intrinsics, and the image warp."""

import numpy as np
import pytest

from hand_pose_25d.crop import (
    CropBox,
    box_from_keypoints,
    crop_intrinsics,
    crop_matrix,
    invert_affine,
    transform_points,
    warp,
)


def test_box_edges_map_to_crop_edges():
    box = CropBox(100.0, 50.0, 40.0)
    A = crop_matrix(box, 128)
    corners = np.array([[80.0, 30.0], [120.0, 70.0], [100.0, 50.0]])
    np.testing.assert_allclose(transform_points(corners, A), [[-0.5, -0.5], [127.5, 127.5], [63.5, 63.5]])


def test_rotation_direction_and_inverse():
    box = CropBox(10.0, 10.0, 20.0, angle=np.pi / 2)
    A = crop_matrix(box, 20)
    # with a 90 degree counter-clockwise crop, the image point above the centre (smaller v) lies on the crop's +x axis
    p = transform_points(np.array([[10.0, 5.0]]), A)
    np.testing.assert_allclose(p, [[9.5 + 5.0, 9.5]], atol=1e-12)
    back = transform_points(p, invert_affine(A))
    np.testing.assert_allclose(back, [[10.0, 5.0]], atol=1e-12)


def test_box_from_keypoints_and_invalid():
    uv = np.array([[10.0, 20.0], [30.0, 60.0], [np.nan, 0.0]])
    box = box_from_keypoints(uv, padding=1.5)
    assert (box.cx, box.cy, box.side) == (20.0, 40.0, 60.0)
    box = box_from_keypoints(uv, valid=np.array([True, False, True]), padding=1.0, min_side=8)
    assert box.side == 8 and (box.cx, box.cy) == (10.0, 20.0)
    with pytest.raises(ValueError):
        box_from_keypoints(np.full((3, 2), np.nan))
    with pytest.raises(ValueError):
        CropBox(0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        CropBox(np.nan, 0.0, 5.0)


def test_xywh_round_trip_and_roi_clipping():
    box = CropBox.from_xywh(10, 20, 30, 50)
    assert box.as_xywh() == (10 - 10.0, 20.0, 50.0, 50.0)  # square of side max(w, h) centred on the rectangle
    assert box.clipped_roi(40, 60) == (0, 20, 40, 40)


def test_crop_intrinsics_project_like_the_warp():
    K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
    P = np.array([0.05, -0.02, 0.6])
    uv = (K @ P)[:2] / P[2]
    A = crop_matrix(CropBox(uv[0] + 3, uv[1] - 4, 90.0, 0.7), 64)
    Kc = crop_intrinsics(K, A)
    p = Kc @ P
    np.testing.assert_allclose(p[:2] / p[2], transform_points(uv[None], A)[0], atol=1e-9)


def test_warp_places_a_bright_pixel_where_the_matrix_says():
    img = np.zeros((240, 320, 3), np.uint8)
    img[100, 150] = 255
    for side, angle in ((64.0, 0.0), (32.0, 0.4), (400.0, 0.0)):  # up-scaling, rotated, strong down-scaling
        box = CropBox(160.0, 110.0, side, angle)
        A = crop_matrix(box, 64)
        out = warp(img, A, 64).astype(float)[..., 0]
        assert out.max() > 0
        expected = transform_points(np.array([[150.0, 100.0]]), A)[0]
        ys, xs = np.mgrid[0:64, 0:64]
        centroid = np.array([(out * xs).sum(), (out * ys).sum()]) / out.sum()
        np.testing.assert_allclose(centroid, expected, atol=0.6)
