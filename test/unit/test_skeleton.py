"""Keypoint order, kinematic tree, bone prior and handedness helpers."""

import numpy as np
import pytest

from hand_pose_25d import skeleton as sk


def test_order_and_tree():
    assert sk.NUM_KEYPOINTS == len(sk.KEYPOINT_NAMES) == len(sk.PARENTS) == 21
    assert sk.KEYPOINT_NAMES[0] == "wrist" and sk.KEYPOINT_NAMES[4] == "thumb_tip"
    assert sk.KEYPOINT_NAMES[9] == "middle_mcp" and sk.KEYPOINT_NAMES[20] == "little_tip"
    assert sk.FINGERS["ring"] == (13, 14, 15, 16)
    # every finger chain starts at the wrist and is a path in the tree
    for chain in sk.FINGERS.values():
        assert sk.PARENTS[chain[0]] == 0
        for a, b in zip(chain, chain[1:]):
            assert sk.PARENTS[b] == a
    assert len(sk.BONES) == 20 and set(sk.BONES) == set(sk.DEFAULT_BONE_LENGTHS)
    assert sk.keypoint_index("index_tip") == 8
    with pytest.raises(ValueError):
        sk.keypoint_index("pinky_tip")


def test_default_bones_plausible():
    hand_length = sum(sk.DEFAULT_BONE_LENGTHS[b] for b in [(0, 9), (9, 10), (10, 11), (11, 12)])
    assert 0.17 < hand_length < 0.20
    assert all(0.01 < v < 0.1 for v in sk.DEFAULT_BONE_LENGTHS.values())


def test_bone_lengths_and_round_trip():
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(5, 21, 3))
    L = sk.bone_lengths(xyz)
    assert L.shape == (5, 20)
    assert np.isclose(L[2, 8], np.linalg.norm(xyz[2, 9] - xyz[2, 0]))  # bone 8 is (0, 9)
    means = sk.mean_bone_lengths(xyz)
    assert np.isclose(means[(0, 9)], L[:, 8].mean())
    assert sk.bone_lengths_from_list(sk.bone_lengths_to_list(sk.DEFAULT_BONE_LENGTHS)) == sk.DEFAULT_BONE_LENGTHS
    with pytest.raises(ValueError):
        sk.bone_lengths_from_list([[0, 9, -0.1]])
    with pytest.raises(ValueError):
        sk.validate_bone((3, 3))


def test_handedness_and_flips():
    assert sk.mirror_handedness("left") == "right" and sk.mirror_handedness("right") == "left"
    with pytest.raises(ValueError):
        sk.mirror_handedness("Left")
    uv = np.array([[0.0, 5.0], [639.0, 1.0], [319.5, 2.0]])
    f = sk.flip_uv_horizontally(uv, 640)
    np.testing.assert_allclose(f[:, 0], [639.0, 0.0, 319.5])
    np.testing.assert_allclose(sk.flip_uv_horizontally(f, 640), uv)
    xyz = np.ones((21, 3))
    assert (sk.mirror_xyz(xyz)[:, 0] == -1).all() and (sk.mirror_xyz(xyz)[:, 1:] == 1).all()
