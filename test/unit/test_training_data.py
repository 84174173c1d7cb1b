"""Training records: lossless crop transforms keep labels exact; records mask what they lack."""

import numpy as np
import pytest

from hand_pose_25d import geometry as g
from hand_pose_25d.crop import crop_intrinsics, transform_points
from hand_pose_25d.data.sample import HandSample
from hand_pose_25d.model.model_config import ModelConfig
from hand_pose_25d.training.data import dihedral_image, dihedral_matrix, sample_to_record

from handgen import random_scenes


@pytest.mark.parametrize("code", range(8))
def test_dihedral_transform_moves_pixels_and_labels_together(code):
    S = 16
    img = np.zeros((S, S, 3), np.uint8)
    img[3, 11] = 255  # pixel at (u=11, v=3)
    out = dihedral_image(img, code)
    v, u = np.argwhere(out[..., 0] == 255)[0]
    np.testing.assert_allclose(transform_points(np.array([[11.0, 3.0]]), dihedral_matrix(code, S))[0], [u, v])
    assert np.linalg.det(dihedral_matrix(code, S)[:, :2]) == (-1 if code & 4 else 1)


def test_dihedral_keeps_projection_and_reconstruction_exact():
    xyz, K = random_scenes(np.random.default_rng(0), 1)
    uv = g.project(xyz[0], K[0])
    for code in range(8):
        A = dihedral_matrix(code, 128)
        Kc = crop_intrinsics(K[0], A)
        uvc = transform_points(uv, A)
        np.testing.assert_allclose(g.project(xyz[0], Kc), uvc, atol=1e-9)
        _, z = g.to_2p5d(xyz[0], Kc)
        rec = g.reconstruct_3d(uvc, z, Kc)
        L = np.linalg.norm(xyz[0, 9] - xyz[0, 0])
        np.testing.assert_allclose(rec * L, xyz[0], atol=1e-9)


def test_record_of_2d_only_and_handedness():
    mc = ModelConfig(input_size=32, output_stride=1, depth=2)
    xyz, K = random_scenes(np.random.default_rng(1), 1)
    uv = g.project(xyz[0], K[0])
    labeled = np.ones(21, bool)
    labeled[5] = False
    s = HandSample(np.zeros((32, 32, 3), np.uint8), K[0], uv, np.ones(21, bool), None, None, labeled=labeled)
    r = sample_to_record(s, mc)
    assert not r["has_3d"] and (r["z"] == 0).all() and r["handedness"] == -1
    assert not r["labeled"][5] and (r["uv"][5] == 0).all()
    s3 = HandSample(np.zeros((32, 32, 3), np.uint8), K[0], uv, np.ones(21, bool), xyz[0], "left")
    r3 = sample_to_record(s3, mc)
    _, z = g.to_2p5d(xyz[0], K[0])
    assert r3["has_3d"] and r3["handedness"] == 0.0
    np.testing.assert_allclose(r3["z"], z, atol=1e-6)
    with pytest.raises(ValueError):
        sample_to_record(HandSample(np.zeros((31, 32, 3), np.uint8), K[0], uv, np.ones(21, bool)), mc)
