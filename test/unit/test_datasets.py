"""Dataset readers (RHD, STB, FreiHAND) on tiny fixtures written in each dataset's exact file format."""

from __future__ import annotations

import json
import pickle
import shutil

import cv2
import numpy as np
import pytest

from hand_pose_25d.data import freihand as fh
from hand_pose_25d.data import rhd, stb
from hand_pose_25d.data.registry import DATASET_NAMES, open_dataset
from hand_pose_25d.data.sample import HandSample
from hand_pose_25d.skeleton import KEYPOINT_NAMES, bone_lengths

from fixtures_datasets import (
    RHD_NAMES,
    STB_NAMES,
    ours_name,
    to_dataset_order,
    write_freihand,
    write_image,
    write_rhd,
    write_rhd_python2_pickle,
    write_stb_sequence,
)
from handgen import random_scenes


def _project(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection written out: u = fx x / z + s y / z + cx, v = fy y / z + cy."""
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    return np.column_stack([K[0, 0] * x / z + K[0, 1] * y / z + K[0, 2], K[1, 1] * y / z + K[1, 2]])


def test_name_tables_cover_every_keypoint():
    # the fixtures' name translation is a bijection onto this package's keypoints
    assert sorted(ours_name(n) for n in RHD_NAMES) == sorted(KEYPOINT_NAMES)
    assert sorted(ours_name(n) for n in STB_NAMES) == sorted(KEYPOINT_NAMES)
    assert ours_name("thumb_mcp") == "thumb_cmc" and ours_name("pinky_dip") == "little_dip"


# ----------------------------------------------------------------------------------------------------------------
# RHD


@pytest.fixture()
def rhd_root(tmp_path):
    rng = np.random.default_rng(0)
    hands, Ks = random_scenes(rng, 6)
    K = np.array([[283.0, 0.0, 160.0], [0.0, 283.0, 160.0], [0.0, 0.0, 1.0]])  # RHD-like, per image
    samples, masks = {}, {}
    for j, sid in enumerate([0, 1, 2]):
        vis_l = rng.random(21) > 0.3
        vis_r = rng.random(21) > 0.3
        samples[sid] = {
            "left": hands[2 * j],
            "right": hands[2 * j + 1],
            "vis_left": vis_l,
            "vis_right": vis_r,
            "K": K * [[1 + 0.1 * j], [1 + 0.1 * j], [1]],
        }
    samples[2]["vis_left"][:] = False  # sample 2: the left hand is entirely out of view
    masks = {0: (40, 10), 1: (10, 40), 2: (30, 30)}  # dominant: left, right, tie -> right
    write_rhd(tmp_path / "RHD_published_v2", "evaluation", samples, masks)
    write_rhd(tmp_path / "RHD_published_v2", "training", {7: samples[0]}, {7: (0, 5)}, protocol=2)
    return tmp_path / "RHD_published_v2", samples


def test_rhd_dominant_hand_order_units_visibility(rhd_root):
    root, samples = rhd_root
    ds = rhd.RHDDataset(root, "evaluation")
    assert len(ds) == 3 and ds.split == "test"
    expected_hand = {0: "left", 1: "right", 2: "right"}
    for i, s in enumerate(ds):
        assert isinstance(s, HandSample)
        hand = expected_hand[i]
        src = samples[i]
        assert s.handedness == hand and s.meta["hand"] == hand and s.meta["image_id"] == i
        # float32 on disk: exact after the same rounding
        np.testing.assert_array_equal(s.xyz, src[hand].astype(np.float32).astype(np.float64))
        np.testing.assert_array_equal(s.visible, src[f"vis_{hand}"])
        assert s.labeled.all()
        np.testing.assert_allclose(s.K, src["K"].astype(np.float32))
        np.testing.assert_allclose(s.uv, _project(src[hand], src["K"]), atol=1e-3)
        np.testing.assert_allclose(bone_lengths(s.xyz), bone_lengths(src[hand]), atol=1e-6)  # order is right
        assert s.image.shape == (24, 32, 3) and s.image.dtype == np.uint8
        assert tuple(s.image[0, 0]) == (30 + i, 100, 200)  # RGB, from color/%05d.png of this id
        assert s.meta["dataset"] == "rhd" and s.meta["split"] == "test" and s.meta["index"] == i
        assert s.meta["file"].endswith(f"color/{i:05d}.png")
        assert s.meta["num_visible"] == int(src[f"vis_{hand}"].sum())


def test_rhd_all_hands_and_min_visible(rhd_root):
    root, samples = rhd_root
    ds = rhd.RHDDataset(root, "test", hands="all", min_visible=1)
    got = [(s.meta["image_id"], s.handedness) for s in ds]
    assert got == [(0, "left"), (0, "right"), (1, "left"), (1, "right"), (2, "right")]  # 2/left has none visible
    assert len(rhd.RHDDataset(root, "test", hands="all", min_visible=0)) == 6
    n_vis = int(samples[0]["vis_left"].sum())
    kept = rhd.RHDDataset(root, "test", hands="all", min_visible=n_vis + 1)
    assert (0, "left") not in [(s.meta["image_id"], s.handedness) for s in kept]
    left = ds[0]
    np.testing.assert_array_equal(left.xyz, samples[0]["left"].astype(np.float32).astype(np.float64))


def test_rhd_mapping_table_and_depth(rhd_root):
    root, _ = rhd_root
    # RHD_TO_OURS agrees with the README names, keypoint by keypoint
    for i, name in enumerate(KEYPOINT_NAMES):
        assert ours_name(RHD_NAMES[rhd.RHD_TO_OURS[i]]) == name
    ds = rhd.RHDDataset(root, "test")
    np.testing.assert_allclose(ds.read_depth(0), 9830 / 65535 * 5, rtol=1e-12)  # ~0.75 m
    assert ds.dominant_hand(0) == "left" and ds.dominant_hand(2) == "right"


def test_rhd_training_split_parent_folder_and_python2_pickle(rhd_root):
    root, samples = rhd_root
    ds = rhd.RHDDataset(root.parent, "training")  # the folder containing RHD_published_v2 also works
    assert len(ds) == 1 and ds[0].meta["image_id"] == 7 and ds[0].handedness == "right"  # mask (0, 5)
    assert ds.root == root
    # the same annotations as a Python 2 pickle: plain pickle.load fails, the reader falls back to latin1
    path = root / "training" / "anno_training.pickle"
    with open(path, "rb") as f:
        anno = pickle.load(f)
    write_rhd_python2_pickle(path, anno)
    with open(path, "rb") as f, pytest.raises(UnicodeDecodeError):
        pickle.load(f)
    s = rhd.RHDDataset(root, "training")[0]
    np.testing.assert_array_equal(s.xyz, samples[0]["right"].astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(s.visible, samples[0]["vis_right"])


def test_rhd_errors(rhd_root, tmp_path):
    root, _ = rhd_root
    with pytest.raises(FileNotFoundError, match="RHD root"):
        rhd.RHDDataset(tmp_path / "nope", "test")
    with pytest.raises(ValueError, match="no split"):
        rhd.RHDDataset(root, "validation")
    with pytest.raises(ValueError, match="hands"):
        rhd.RHDDataset(root, "test", hands="both")
    ds = rhd.RHDDataset(root, "test")
    with pytest.raises(IndexError, match="3 samples"):
        ds[3]
    assert ds[-1].meta["image_id"] == 2
    (root / "evaluation" / "mask" / "00001.png").unlink()
    with pytest.raises(FileNotFoundError, match="mask"):
        ds[1]
    (root / "evaluation" / "color" / "00000.png").unlink()
    with pytest.raises(FileNotFoundError, match="00000.png"):
        ds[0]
    (root / "evaluation" / "anno_evaluation.pickle").unlink()
    with pytest.raises(FileNotFoundError, match="annotation"):
        rhd.RHDDataset(root, "test")
    # malformed annotation
    with open(root / "evaluation" / "anno_evaluation.pickle", "wb") as f:
        pickle.dump({0: {"xyz": np.zeros((21, 3)), "uv_vis": np.zeros((42, 3)), "K": np.eye(3)}}, f)
    with pytest.raises(ValueError, match="shape"):
        rhd.RHDDataset(root, "test")


# ----------------------------------------------------------------------------------------------------------------
# STB


def _stb_hands(rng, n):
    """Hands (n, 21, 3) in metres, this package's order, and the STB palm = midpoint of wrist and ring MCP."""
    hands, _ = random_scenes(rng, n)
    hands[:, :, 2] += 0.3  # keep them well in front
    palm = 0.5 * (hands[:, 0] + hands[:, 13])
    return hands, palm


def _stb_order_mm(hands, palm):
    out = []
    for h, p in zip(hands, palm):
        ours = h.copy()
        ours[0] = p  # the STB palm goes in the wrist slot
        out.append(to_dataset_order(ours, STB_NAMES) * 1000.0)
    return np.stack(out)


@pytest.fixture()
def stb_root(tmp_path):
    rng = np.random.default_rng(1)
    data = {}
    for seq, frames in (("B1Counting", 3), ("B1Random", 2), ("B2Counting", 2)):
        hands, palm = _stb_hands(rng, frames)
        write_stb_sequence(tmp_path, seq, "BB", _stb_order_mm(hands, palm), ("BB_left", "BB_right"))
        # SK labels are in the depth camera frame: X_depth = R X_color + T (README), R from OpenCV's Rodrigues
        R, _ = cv2.Rodrigues(np.array(stb.SK_ROTATION_VECTOR))
        color_mm = _stb_order_mm(hands, palm)
        depth_mm = color_mm @ R.T + np.array(stb.SK_TRANSLATION_MM)
        write_stb_sequence(tmp_path, seq, "SK", depth_mm, ("SK_color",))
        data[seq] = (hands, palm)
    return tmp_path, data


def test_stb_bb_left_right_order_units_wrist(stb_root):
    root, data = stb_root
    ds = stb.STBDataset(root, "test")  # camera="BB": left and right image of every frame
    assert len(ds) == 2 * (3 + 2)
    K = np.array([[822.79041, 0, 318.47345], [0, 822.79041, 250.31296], [0, 0, 1]])
    for s in ds:
        seq, frame, cam = s.meta["sequence"], s.meta["frame"], s.meta["camera"]
        hands, palm = data[seq]
        expected = hands[frame].copy()
        if cam == "BB_right":
            expected[:, 0] -= 0.120054
        # the extrapolated wrist 2 * palm - ring_mcp recovers the true wrist of these fixtures
        np.testing.assert_allclose(s.xyz, expected, atol=1e-12)
        np.testing.assert_allclose(s.K, K)
        np.testing.assert_allclose(s.uv, _project(expected, K), atol=1e-9)
        assert s.handedness == "left" and s.visible.all() and s.labeled.all()
        palm_cam = palm[frame] - ([0.120054, 0, 0] if cam == "BB_right" else 0)
        np.testing.assert_allclose(s.meta["palm_xyz"], palm_cam, atol=1e-12)
        np.testing.assert_allclose(s.meta["palm_uv"], _project(palm_cam[None], K)[0], atol=1e-9)
        p = 0 if cam == "BB_left" else 1
        assert tuple(s.image[0, 0]) == (10 * p + 5, 7 * frame, 77)
        assert s.meta["file"].endswith(f"{seq}/{cam}_{frame}.png")
    assert [ds[i].meta["camera"] for i in range(2)] == ["BB_left", "BB_right"]


def test_stb_sk_depth_to_colour_transform(stb_root):
    root, data = stb_root
    ds = stb.STBDataset(root, "test", camera="SK")
    assert len(ds) == 5
    K = np.array([[607.92271, 0, 314.78337], [0, 607.88192, 236.42484], [0, 0, 1]])
    for s in ds:
        hands, _ = data[s.meta["sequence"]]
        expected = hands[s.meta["frame"]]
        np.testing.assert_allclose(s.xyz, expected, atol=1e-12)
        np.testing.assert_allclose(s.uv, _project(expected, K), atol=1e-8)
        assert s.meta["depth_file"].endswith(f"SK_depth_{s.meta['frame']}.png")
    # the README's colorXYZ = R \ (depthXYZ - T), written with a linear solve
    R, _ = cv2.Rodrigues(np.array(stb.SK_ROTATION_VECTOR))
    np.testing.assert_allclose(stb.rodrigues(stb.SK_ROTATION_VECTOR), R, atol=1e-15)
    X = np.array([[10.0, -20.0, 400.0], [0.0, 5.0, 350.0]])
    ref = np.linalg.solve(R, (X - np.array(stb.SK_TRANSLATION_MM)).T).T
    np.testing.assert_allclose(stb.sk_depth_to_color(X), ref, atol=1e-12)


def test_stb_wrist_modes_and_mapping_table(stb_root):
    root, data = stb_root
    for i, name in enumerate(KEYPOINT_NAMES[1:], start=1):
        assert ours_name(STB_NAMES[stb.STB_TO_OURS[i]]) == name
    assert STB_NAMES[stb.STB_TO_OURS[0]] == "palm" and KEYPOINT_NAMES[stb.STB_WRIST_REF] == "ring_mcp"
    hands, palm = data["B1Counting"]
    pal = stb.STBDataset(root, "test", camera="BB_left", wrist="palm")[0]
    np.testing.assert_allclose(pal.xyz[0], palm[0], atol=1e-12)
    np.testing.assert_allclose(pal.xyz[1:], hands[0][1:], atol=1e-12)
    assert pal.labeled.all()
    unl = stb.STBDataset(root, "test", camera="BB_left", wrist="unlabeled")[0]
    np.testing.assert_allclose(unl.xyz, hands[0], atol=1e-12)
    assert not unl.labeled[0] and not unl.visible[0] and unl.labeled[1:].all()
    mid = stb.STBDataset(root, "test", camera="BB_left", wrist_ref=9, wrist_factor=2.2)[0]
    np.testing.assert_allclose(mid.xyz[0], hands[0][9] + 2.2 * (palm[0] - hands[0][9]), atol=1e-12)


def test_stb_splits_and_errors(stb_root, tmp_path):
    root, _ = stb_root
    assert stb.STB_SPLITS["train"][0] == "B2Counting" and len(stb.STB_SPLITS["train"]) == 10
    with pytest.raises(FileNotFoundError, match="B2Random_BB.mat"):  # the fixture has only B2Counting
        stb.STBDataset(root, "train")
    ds = stb.STBDataset(root, "train", sequences=["B2Counting"], camera="BB_right")
    assert len(ds) == 2 and ds[1].meta["camera"] == "BB_right" and ds[1].meta["split"] == "train"
    with pytest.raises(ValueError, match="camera"):
        stb.STBDataset(root, "test", camera="ZED")
    with pytest.raises(ValueError, match="sequence"):
        stb.STBDataset(root, "test", sequences=["B7Counting"])
    with pytest.raises(ValueError, match="wrist"):
        stb.STBDataset(root, "test", wrist="guess")
    with pytest.raises(FileNotFoundError, match="STB root"):
        stb.STBDataset(tmp_path / "missing", "test")
    with pytest.raises(IndexError):
        stb.STBDataset(root, "test")[10]
    # malformed label file
    from scipy.io import savemat

    savemat(str(root / "labels" / "B1Random_BB.mat"), {"handPara": np.zeros((3, 20, 2))})
    with pytest.raises(ValueError, match="handPara has shape"):
        stb.STBDataset(root, "test")
    savemat(str(root / "labels" / "B1Random_BB.mat"), {"joints": np.zeros((3, 21, 2))})
    with pytest.raises(ValueError, match="no 'handPara'"):
        stb.STBDataset(root, "test")


# ----------------------------------------------------------------------------------------------------------------
# FreiHAND


@pytest.fixture()
def fh_root(tmp_path):
    rng = np.random.default_rng(2)
    xyz, K = random_scenes(rng, 3)
    write_freihand(tmp_path, "training", xyz, K, versions=4)
    ev_xyz, ev_K = random_scenes(rng, 2)
    write_freihand(tmp_path, "evaluation", ev_xyz, ev_K, versions=1)
    return tmp_path, xyz, K, ev_xyz, ev_K


def test_freihand_training_versions_and_labels(fh_root):
    root, xyz, K, _, _ = fh_root
    ds = fh.FreiHANDDataset(root, "training")
    assert len(ds) == 12 and ds.num_unique == 3
    for i, s in enumerate(ds):
        j = i % 3  # image i uses labels i % N
        assert s.meta["sample_id"] == j and s.meta["image_id"] == i
        assert s.meta["version"] == fh.FREIHAND_VERSIONS[i // 3]
        np.testing.assert_allclose(s.xyz, xyz[j], atol=1e-15)
        np.testing.assert_allclose(s.K, K[j])
        np.testing.assert_allclose(s.uv, _project(xyz[j], K[j]), atol=1e-9)
        assert s.visible.all() and s.labeled.all() and s.handedness == "right"
        assert s.meta["scale"] == pytest.approx(np.linalg.norm(xyz[j, 10] - xyz[j, 9]))
        assert s.meta["mask_file"].endswith(f"training/mask/{j:08d}.jpg")
        assert np.abs(s.image[8, 8].astype(int) - [8 * i, 50, 100]).max() <= 3  # JPEG, the right file, RGB
    only = fh.FreiHANDDataset(root, "train", versions=("hom", "auto"))
    assert len(only) == 6 and [s.meta["image_id"] for s in only] == [3, 4, 5, 9, 10, 11]


def test_freihand_evaluation_with_and_without_labels(fh_root):
    root, _, _, ev_xyz, ev_K = fh_root
    ds = fh.FreiHANDDataset(root, "evaluation")
    assert len(ds) == 2
    np.testing.assert_allclose(ds[1].xyz, ev_xyz[1], atol=1e-15)
    np.testing.assert_allclose(ds[1].uv, _project(ev_xyz[1], ev_K[1]), atol=1e-9)
    assert "mask_file" not in ds[1].meta
    (root / "evaluation_xyz.json").unlink()
    with pytest.raises(FileNotFoundError, match="allow_unlabeled"):
        fh.FreiHANDDataset(root, "test")
    un = fh.FreiHANDDataset(root, "test", allow_unlabeled=True)
    s = un[0]
    assert s.xyz is None and not s.labeled.any() and not s.visible.any() and np.isnan(s.uv).all()
    np.testing.assert_allclose(s.K, ev_K[0])
    with pytest.raises(ValueError, match="gs"):
        fh.FreiHANDDataset(root, "test", versions=("hom",))


def test_freihand_errors(fh_root, tmp_path):
    root, _, _, _, _ = fh_root
    with pytest.raises(ValueError, match="versions"):
        fh.FreiHANDDataset(root, "train", versions=("gs", "sepia"))
    with pytest.raises(FileNotFoundError, match="FreiHAND root"):
        fh.FreiHANDDataset(tmp_path / "absent", "train")
    ds = fh.FreiHANDDataset(root, "train")
    with pytest.raises(IndexError, match="12 samples"):
        ds[12]
    with pytest.raises(TypeError):
        ds["0"]
    (root / "training" / "rgb" / "00000005.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="00000005.jpg"):
        ds[5]
    (root / "training_K.json").write_text(json.dumps([np.eye(3).tolist()] * 2))
    with pytest.raises(ValueError, match="entries"):
        fh.FreiHANDDataset(root, "train")
    (root / "training_K.json").write_text("[[1, 2")
    with pytest.raises(ValueError, match="JSON"):
        fh.FreiHANDDataset(root, "train")
    (root / "training_K.json").write_text(json.dumps([np.eye(3).tolist()] * 3))
    (root / "training_xyz.json").unlink()
    with pytest.raises(FileNotFoundError, match="training_xyz.json"):
        fh.FreiHANDDataset(root, "train")


# ----------------------------------------------------------------------------------------------------------------
# registry


def test_open_dataset_by_name(rhd_root, stb_root, fh_root):
    rroot, _ = rhd_root
    sroot, _ = stb_root
    froot = fh_root[0]
    assert DATASET_NAMES == ("rhd", "stb", "freihand")
    r = open_dataset("RHD", rroot, "evaluation", hands="all")
    assert isinstance(r, rhd.RHDDataset) and len(r) == 5
    s = open_dataset("stb", sroot, "test", camera="SK")
    assert isinstance(s, stb.STBDataset) and len(s) == 5
    f = open_dataset("FreiHAND", froot, "train", versions=("gs",))
    assert isinstance(f, fh.FreiHANDDataset) and len(f) == 3
    # Sequence behaviour: slices, negative indices, iteration ends
    assert [x.meta["index"] for x in f[1:]] == [1, 2]
    assert f[-1].meta["sample_id"] == 2
    assert len(list(f)) == 3
    assert "samples=3" in repr(f)


def test_open_dataset_errors(tmp_path, rhd_root):
    with pytest.raises(ValueError, match="known datasets: rhd, stb, freihand"):
        open_dataset("nyu", tmp_path, "train")
    with pytest.raises(FileNotFoundError):
        open_dataset("freihand", tmp_path / "missing", "train")
    with pytest.raises(FileNotFoundError):
        open_dataset("stb", tmp_path, "test")  # root exists, labels/ does not
    with pytest.raises(ValueError, match="no split 'all'"):
        open_dataset("rhd", rhd_root[0], "all")
    with pytest.raises(TypeError):
        open_dataset("rhd", rhd_root[0], "test", camera="SK")  # an option of another reader


def test_readers_are_lazy(rhd_root):
    root, _ = rhd_root
    shutil.rmtree(root / "evaluation" / "color")  # building the index needs no image
    ds = rhd.RHDDataset(root, "test", hands="all")
    assert len(ds) == 5
    with pytest.raises(FileNotFoundError):
        ds[0]
    write_image(root / "evaluation" / "color" / "00000.png", (1, 2, 3))
    assert tuple(ds[0].image[0, 0]) == (1, 2, 3)
