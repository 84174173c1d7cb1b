"""Writers of tiny RHD, STB and FreiHAND folders in the datasets' exact on-disk formats (for tests).

The keypoint orders are written from the datasets' own joint-name lists (RHD README, STB README), translated to
this package's names by name -- deliberately not with the readers' index tables, so the tests check them.
Images are small and filled with a per-file colour so a test can tell which file a sample was read from.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
from scipy.io import savemat

from hand_pose_25d.skeleton import KEYPOINT_NAMES

# ---------------------------------------------------------------------------------------------------------------
# joint names of the datasets, translated to this package's names

_FINGER_RENAME = {
    "thumb": "thumb",
    "index": "index",
    "middle": "middle",
    "ring": "ring",
    "pinky": "little",
    "little": "little",
}
# the first joint of the thumb is called "mcp" in RHD/STB (and FreiHAND/MANO), "cmc" here
_THUMB_JOINT = {"mcp": "cmc", "pip": "mcp", "dip": "ip", "tip": "tip"}

#: RHD README: 0 wrist, then per finger tip, dip, pip, mcp: thumb, index, middle, ring, pinky.
RHD_NAMES: List[str] = ["wrist"] + [
    f"{finger}_{joint}"
    for finger in ("thumb", "index", "middle", "ring", "pinky")
    for joint in ("tip", "dip", "pip", "mcp")
]
#: STB README: palm center, little mcp..tip, ring, middle, index, thumb (each mcp, pip, dip, tip).
STB_NAMES: List[str] = ["palm"] + [
    f"{finger}_{joint}"
    for finger in ("little", "ring", "middle", "index", "thumb")
    for joint in ("mcp", "pip", "dip", "tip")
]


def ours_name(dataset_name: str) -> str:
    """This package's keypoint name of a dataset joint name (``palm`` maps to the wrist slot)."""
    if dataset_name in ("wrist", "palm"):
        return "wrist"
    finger, joint = dataset_name.split("_")
    finger = _FINGER_RENAME[finger]
    if finger == "thumb":
        return f"thumb_{_THUMB_JOINT[joint]}"
    return f"{finger}_{joint}"


def to_dataset_order(ours: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Keypoints (21, ...) in this package's order -> the dataset order given by its joint names."""
    return np.stack([ours[KEYPOINT_NAMES.index(ours_name(n))] for n in names])


def write_image(path: Path, rgb: Tuple[int, int, int], size: Tuple[int, int] = (24, 32)) -> None:
    """A flat image of colour ``rgb`` (written BGR by OpenCV, as the datasets' PNG/JPEG files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.empty(size + (3,), np.uint8)
    img[:] = rgb[::-1]
    assert cv2.imwrite(str(path), img)


# ---------------------------------------------------------------------------------------------------------------
# RHD


def write_rhd(
    root: Path,
    set_name: str,
    samples: Dict[int, Dict[str, np.ndarray]],
    mask_counts: Dict[int, Tuple[int, int]],
    protocol: int = pickle.HIGHEST_PROTOCOL,
) -> None:
    """``root/<set_name>/{color,mask,depth}/%05d.png`` and ``anno_<set_name>.pickle``.

    ``samples[id]`` has ``left``/``right`` (21, 3) hands in this package's order (metres), ``vis_left``/``vis_right``
    (21,) bool and ``K`` (3, 3); ``uv`` is written as the projection. ``mask_counts[id] = (n_left, n_right)`` pixels
    of left (label 5) and right (label 20) hand parts in the mask (plus some person pixels, label 1).
    """
    d = root / set_name
    anno = {}
    for sid, s in samples.items():
        xyz = np.concatenate([to_dataset_order(s["left"], RHD_NAMES), to_dataset_order(s["right"], RHD_NAMES)])
        vis = np.concatenate([to_dataset_order(s["vis_left"], RHD_NAMES), to_dataset_order(s["vis_right"], RHD_NAMES)])
        uvh = xyz @ s["K"].T
        uv = uvh[:, :2] / uvh[:, 2:]
        anno[sid] = {
            "xyz": xyz.astype(np.float32),
            "uv_vis": np.column_stack([uv, vis.astype(float)]).astype(np.float32),
            "K": s["K"].astype(np.float32),
        }
        write_image(d / "color" / f"{sid:05d}.png", (30 + sid, 100, 200))
        n_left, n_right = mask_counts[sid]
        mask = np.zeros((24, 32), np.uint8)
        flat = mask.reshape(-1)
        flat[:n_left] = 5
        flat[n_left : n_left + n_right] = 20
        flat[n_left + n_right : n_left + n_right + 50] = 1
        (d / "mask").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(d / "mask" / f"{sid:05d}.png"), mask)
        # depth 0.75 m everywhere: 0.75 / 5 * 65535 = 9830.25 -> 9830 = 38 * 256 + 102 (R = top, G = bottom bits)
        depth = np.zeros((24, 32, 3), np.uint8)
        depth[:, :, 2] = 38  # R (BGR order on disk via OpenCV)
        depth[:, :, 1] = 102  # G
        (d / "depth").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(d / "depth" / f"{sid:05d}.png"), depth)
    with open(d / f"anno_{set_name}.pickle", "wb") as f:
        pickle.dump(anno, f, protocol=protocol)


class Python2StylePickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes ``bytes`` as Python 2 ``str`` opcodes (SHORT_BINSTRING / BINSTRING), as a Python 2 pickle of numpy
    arrays does. Python 3 reads such a pickle only with ``encoding="latin1"`` (or "bytes")."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def write_rhd_python2_pickle(path: Path, anno: Dict[int, Dict[str, np.ndarray]]) -> None:
    """An annotation pickle in the byte format of a Python 2 writer (protocol 2, array data as ``str``)."""
    with open(path, "wb") as f:
        Python2StylePickler(f, protocol=2).dump(anno)


# ---------------------------------------------------------------------------------------------------------------
# STB


def write_stb_sequence(root: Path, seq: str, cam: str, hands_mm: np.ndarray, with_images: Sequence[str]) -> None:
    """``root/labels/<seq>_<cam>.mat`` with ``handPara`` (3, 21, F) from ``hands_mm`` (F, 21, 3) in STB order, and
    images ``root/images/<seq>/<prefix>_<i>.png`` for each prefix in ``with_images`` (colour encodes prefix/frame)."""
    (root / "labels").mkdir(parents=True, exist_ok=True)
    savemat(str(root / "labels" / f"{seq}_{cam}.mat"), {"handPara": np.transpose(hands_mm, (2, 1, 0))})
    for p, prefix in enumerate(with_images):
        for i in range(hands_mm.shape[0]):
            write_image(root / "images" / seq / f"{prefix}_{i}.png", (10 * p + 5, 7 * i, 77))


# ---------------------------------------------------------------------------------------------------------------
# FreiHAND


def write_freihand(
    root: Path,
    set_name: str,
    xyz: np.ndarray,
    K: np.ndarray,
    versions: int,
    write_xyz: bool = True,
    scale: bool = True,
) -> None:
    """``root/<set>_K.json``, ``<set>_xyz.json``, ``<set>_scale.json`` and ``root/<set>/rgb/%08d.jpg`` for
    ``versions`` blocks of ``len(xyz)`` images (image id ``k`` gets colour ``(8 * k, 50, 100)``)."""
    n = len(xyz)
    (root / f"{set_name}_K.json").write_text(json.dumps(K.tolist()))
    if write_xyz:
        (root / f"{set_name}_xyz.json").write_text(json.dumps(xyz.tolist()))
    if scale:
        s = np.linalg.norm(xyz[:, 10] - xyz[:, 9], axis=-1)
        (root / f"{set_name}_scale.json").write_text(json.dumps(s.tolist()))
    for k in range(n * versions):
        write_image(root / set_name / "rgb" / f"{k:08d}.jpg", (8 * k, 50, 100), size=(16, 16))
    if set_name == "training":
        for k in range(n):
            write_image(root / "training" / "mask" / f"{k:08d}.jpg", (255, 255, 255), size=(16, 16))
