"""Reader of the Rendered Hand Pose dataset (RHD; Zimmermann & Brox, ICCV 2017) in its published layout.

On-disk layout (``RHD_published_v2``, as read by ``lmb-freiburg/hand3d/create_binary_db.py`` and the dataset's
``view_samples.py``)::

    RHD_published_v2/
        training/   color/%05d.png  mask/%05d.png  depth/%05d.png  anno_training.pickle     (41,258 images)
        evaluation/ color/%05d.png  mask/%05d.png  depth/%05d.png  anno_evaluation.pickle   ( 2,728 images)

Facts used, and where they come from:

* ``anno_<set>.pickle`` is a dict ``{sample_id: {"xyz", "uv_vis", "K"}}`` with ``xyz`` (42, 3) in metres in the
  camera frame, ``uv_vis`` (42, 3) = (u, v, visible) with ``visible == 1`` marking a visible keypoint, and ``K``
  (3, 3) per image; images are ``color/%05d.png`` of the same id (``create_binary_db.py``: "x, y, z coordinates
  of the keypoints, in meters", "u, v coordinates of 42 hand keypoints, pixel", ``uv_vis[:, 2] == 1``).
  Pickles written by Python 2 are read with ``encoding="latin1"`` when the default fails.
* Keypoints 0-20 are the **left** hand, 21-41 the **right** hand (``BinaryDbReader.py``: ``keypoint_xyz[:21]`` is
  "left", ``[-21:]`` "right"; ``hand_side`` 0 = left). Within a hand the RHD order is 0 wrist, then per finger
  from the **tip to the knuckle**: thumb 1-4 (tip, dip, pip, mcp), index 5-8, middle 9-12, ring 13-16, pinky
  17-20 (the dataset README's keypoint list, reproduced in public loaders, e.g. the ``//left thumb tip``,
  ``//left thumb dip`` ... table of RHD visualisers; Z&B's ``plot_hand`` draws bones 0-4, 4-3, 3-2, 2-1, i.e.
  wrist -> mcp -> ... -> tip). This reader reverses each finger (:data:`RHD_TO_OURS`) to this package's
  knuckle-to-tip order; the RHD thumb "mcp" (its first joint) is this package's ``thumb_cmc``.
* ``mask/%05d.png``: 0 background, 1 person, 2-17 left hand parts, 18-33 right hand parts
  (``BinaryDbReader.py``: left = ``1 < mask < 18``, right = ``mask > 17``).
* Z&B evaluate **one hand per image, the dominant one**: the hand with more mask pixels, the right hand on a
  tie (``num_px_left_hand > num_px_right_hand`` -> left, else right); their evaluation set has 2,728 samples.
* ``depth/%05d.png``: depth in metres = ``(R * 256 + G) / (2**16 - 1) * 5`` (``view_samples.py``,
  ``depth_two_uint8_to_float(depth[:, :, 0], depth[:, :, 1])``, channels in RGB order).
* Images are 320 x 320.

Samples: ``hands="dominant"`` (default, the Z&B protocol; one sample per image, the hand is chosen from the
mask when the sample is read) or ``hands="all"`` (one sample per hand that has at least ``min_visible`` visible
keypoints, chosen from the annotation when the reader is built; ``min_visible=0`` keeps every hand). ``uv`` are the
annotated pixel positions, ``visible`` is ``uv_vis[:, 2] == 1``, ``labeled`` is all True (RHD gives 3D and 2D
positions of every keypoint, occluded or outside the image), ``xyz`` are metres, ``handedness`` is the half the
keypoints come from. ``meta``: ``dataset``, ``split``, ``index``, ``file``, ``image_id``, ``hand``,
``mask_file``, ``depth_file``, ``num_visible``.

Not verified without the real files: that the annotated ``uv`` equal ``project(xyz, K)`` to sub-pixel accuracy
under this package's pixel-centre convention (the reader uses the annotated ``uv`` as given).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import numpy as np

from .registry import DatasetReader, PathLike, canonical_split, read_rgb, require_dir, require_file
from .sample import HandSample

__all__ = ["RHD_TO_OURS", "RHD_SPLIT_DIRS", "load_rhd_annotations", "rhd_to_ours", "RHDDataset"]

#: ``ours[i] = rhd_hand[RHD_TO_OURS[i]]`` for one RHD hand (21 keypoints): wrist, then each finger reversed.
RHD_TO_OURS: Tuple[int, ...] = (0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17)
#: Folder of each canonical split.
RHD_SPLIT_DIRS: Dict[str, str] = {"train": "training", "test": "evaluation"}
#: First keypoint of each hand in the 42-keypoint arrays.
_HAND_OFFSET: Dict[str, int] = {"left": 0, "right": 21}
_HANDS_MODES = ("dominant", "all")


def rhd_to_ours(arr: np.ndarray, hand: str) -> np.ndarray:
    """Select ``hand`` ('left'/'right') from an RHD (42, ...) array and reorder it to this package's order (21, ...)."""
    if hand not in _HAND_OFFSET:
        raise ValueError(f"hand must be 'left' or 'right', got {hand!r}")
    arr = np.asarray(arr)
    if arr.shape[0] != 42:
        raise ValueError(f"RHD arrays have 42 keypoints (left 0-20, right 21-41), got shape {arr.shape}")
    return arr[_HAND_OFFSET[hand] + np.asarray(RHD_TO_OURS)]


def load_rhd_annotations(path: Path) -> Dict[int, Dict[str, np.ndarray]]:
    """Load and check an ``anno_<set>.pickle``: ``{id: {"xyz": (42, 3), "uv_vis": (42, 3), "K": (3, 3)}}`` float64.

    Raises:
        FileNotFoundError: missing file.
        ValueError: not a dict of annotations with those keys and shapes (the message names the sample id).
    """
    require_file(path, "RHD annotation file")
    with open(path, "rb") as f:
        try:
            raw = pickle.load(f)
        except UnicodeDecodeError:  # written by Python 2 (numpy arrays hold byte strings)
            f.seek(0)
            raw = pickle.load(f, encoding="latin1")
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict {{sample_id: annotation}}, got {type(raw).__name__}")
    out: Dict[int, Dict[str, np.ndarray]] = {}
    shapes = {"xyz": (42, 3), "uv_vis": (42, 3), "K": (3, 3)}
    for key, anno in raw.items():
        if not isinstance(anno, dict):
            raise ValueError(f"{path}: annotation of sample {key!r} is not a dict")
        entry = {}
        for field, shape in shapes.items():
            if field not in anno:
                raise ValueError(f"{path}: sample {key!r} has no {field!r} (keys: {sorted(anno)})")
            a = np.asarray(anno[field], dtype=np.float64)
            if a.shape != shape:
                raise ValueError(f"{path}: sample {key!r} {field!r} has shape {a.shape}, expected {shape}")
            entry[field] = a
        out[int(key)] = entry
    return out


class RHDDataset(DatasetReader):
    """RHD as a lazy sequence of :class:`HandSample` (see the module docstring for the conventions).

    Args:
        root: the ``RHD_published_v2`` folder (or a folder containing it).
        split: ``"train"``/``"training"`` or ``"test"``/``"evaluation"``/``"eval"``.
        hands: ``"dominant"`` (one sample per image, the hand with more mask pixels, as Z&B) or ``"all"``.
        min_visible: with ``hands="all"``, keep a hand only if at least this many of its keypoints are visible.

    Raises:
        FileNotFoundError: missing root, split folder or annotation file.
        ValueError: unknown split or option, malformed annotations.
    """

    name = "rhd"

    def __init__(self, root: PathLike, split: str = "train", *, hands: str = "dominant", min_visible: int = 1) -> None:
        self.split = canonical_split(split, RHD_SPLIT_DIRS, "RHD")
        if hands not in _HANDS_MODES:
            raise ValueError(f"hands must be one of {_HANDS_MODES}, got {hands!r}")
        if int(min_visible) != min_visible or not 0 <= min_visible <= 21:
            raise ValueError(f"min_visible must be an integer in 0..21, got {min_visible!r}")
        root = require_dir(Path(root), "RHD root folder")
        if not (root / RHD_SPLIT_DIRS[self.split]).is_dir() and (root / "RHD_published_v2").is_dir():
            root = root / "RHD_published_v2"
        self.root = root
        self.hands = hands
        self.min_visible = int(min_visible)
        set_name = RHD_SPLIT_DIRS[self.split]
        self.split_dir = require_dir(root / set_name, f"RHD {set_name} folder")
        self.annotations = load_rhd_annotations(self.split_dir / f"anno_{set_name}.pickle")
        ids = sorted(self.annotations)
        # Each entry: (image id, hand) -- hand None means "dominant, decided from the mask on access".
        self._items: List[Tuple[int, Union[str, None]]] = []
        if hands == "dominant":
            self._items = [(i, None) for i in ids]
        else:
            for i in ids:
                vis = self.annotations[i]["uv_vis"][:, 2] == 1
                for hand, off in _HAND_OFFSET.items():
                    if int(vis[off : off + 21].sum()) >= self.min_visible:
                        self._items.append((i, hand))

    def __len__(self) -> int:
        return len(self._items)

    def image_file(self, image_id: int) -> Path:
        """Path of the colour image of RHD sample ``image_id``."""
        return self.split_dir / "color" / f"{image_id:05d}.png"

    def mask_file(self, image_id: int) -> Path:
        """Path of the segmentation mask of RHD sample ``image_id``."""
        return self.split_dir / "mask" / f"{image_id:05d}.png"

    def depth_file(self, image_id: int) -> Path:
        """Path of the RGB-coded depth image of RHD sample ``image_id``."""
        return self.split_dir / "depth" / f"{image_id:05d}.png"

    def read_mask(self, image_id: int) -> np.ndarray:
        """(H, W) uint8 part labels of RHD sample ``image_id`` (0 background, 1 person, 2-17 left, 18-33 right)."""
        import cv2

        path = require_file(self.mask_file(image_id), "RHD mask (needed to pick the dominant hand)")
        mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise ValueError(f"cannot decode RHD mask {path}")
        return mask if mask.ndim == 2 else mask[:, :, 0]

    def read_depth(self, index: int) -> np.ndarray:
        """(H, W) float64 depth in metres of sample ``index`` (``(R * 256 + G) / 65535 * 5``)."""
        image_id = self._items[self._check(index)][0]
        import cv2

        path = require_file(self.depth_file(image_id), "RHD depth image")
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode RHD depth image {path}")
        return (bgr[:, :, 2].astype(np.float64) * 256.0 + bgr[:, :, 1]) / (2**16 - 1) * 5.0

    def dominant_hand(self, image_id: int) -> str:
        """'left' or 'right': the hand with more mask pixels (ties -> right, as Z&B's ``BinaryDbReader``)."""
        mask = self.read_mask(image_id)
        n_left = int(np.count_nonzero((mask > 1) & (mask < 18)))
        n_right = int(np.count_nonzero(mask > 17))
        return "left" if n_left > n_right else "right"

    def _check(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"rhd {self.split} index {index} out of range: the split has {n} samples")
        return index % n

    def _load(self, index: int) -> HandSample:
        image_id, hand = self._items[index]
        if hand is None:
            hand = self.dominant_hand(image_id)
        anno = self.annotations[image_id]
        uv_vis = rhd_to_ours(anno["uv_vis"], hand)
        visible = uv_vis[:, 2] == 1
        path = self.image_file(image_id)
        meta: Dict[str, Any] = {
            "dataset": "rhd",
            "split": self.split,
            "index": index,
            "file": str(path),
            "image_id": image_id,
            "hand": hand,
            "mask_file": str(self.mask_file(image_id)),
            "depth_file": str(self.depth_file(image_id)),
            "num_visible": int(visible.sum()),
        }
        return HandSample(
            image=read_rgb(path),
            K=anno["K"],
            uv=uv_vis[:, :2],
            visible=visible,
            xyz=rhd_to_ours(anno["xyz"], hand),
            handedness=hand,
            meta=meta,
        )
