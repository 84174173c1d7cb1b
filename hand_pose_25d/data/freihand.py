"""Reader of FreiHAND (Zimmermann et al., ICCV 2019) in its published layout.

On-disk layout (``lmb-freiburg/freihand``: ``utils/fh_utils.py``, ``view_samples.py``, ``pred.py``, ``eval.py``)::

    <root>/training/rgb/%08d.jpg     130,240 images = 32,560 unique samples x 4 versions
    <root>/training/mask/%08d.jpg    32,560 masks (one per unique sample)
    <root>/training_K.json  training_xyz.json  training_scale.json  training_mano.json  training_verts.json
    <root>/evaluation/rgb/%08d.jpg   3,960 images
    <root>/evaluation_K.json  evaluation_scale.json  [evaluation_xyz.json ...: in the released eval annotations]

Facts used, and where they come from:

* ``<set>_K.json`` is a list of 3x3 intrinsics and ``<set>_xyz.json`` a list of (21, 3) keypoints, one per unique
  sample (``load_db_annotation`` asserts equal lengths); the 3D keypoints are metric (metres) in the camera frame
  and the 2D keypoints are their projection ``uv = (K @ xyz.T).T[:, :2] / z`` (``projectPoints``; FreiHAND has
  no separate 2D labels and no visibility flags -- ``eval.py`` feeds ``np.ones`` as visibility).
* Training image ``id`` uses the labels of ``id % 32560``: ``sample_version.map_id(idx, version) = idx +
  32560 * [gs, hom, sample, auto].index(version)`` (green screen, homogenized, auto colorisation with sample
  points, auto colorisation without); the evaluation split has only the ``gs`` version. The number of unique
  samples is taken from the length of ``<set>_xyz.json`` (32,560 / 3,960 in the release).
* ``<set>_scale.json``: "scalar metric length of the reference bone" per sample (``pred.py``); it is stored in
  ``meta["scale"]`` when the file exists. (Which bone it is -- reportedly middle MCP -> PIP, keypoints 9-10 --
  is not used here.)
* Keypoint order: 0 wrist, then thumb, index, middle, ring, little, each knuckle -> tip (``plot_hand`` draws
  bones 0-1, 1-2, 2-3, 3-4, 0-5, ...) -- this package's order, so no reordering.
* All hands are **right** hands (the MANO right-hand model is fitted to every sample).
* Images are 224 x 224 JPEG.

``training_mano.json`` and ``*_verts.json`` are not read (this package does not use MANO). The evaluation split
needs ``evaluation_xyz.json`` (published separately as the evaluation annotations); without it, pass
``allow_unlabeled=True`` to read the images with all-NaN ``uv``, ``xyz=None`` and ``labeled``/``visible`` False.

``meta``: ``dataset``, ``split``, ``index``, ``file``, ``sample_id`` (label index), ``image_id``, ``version``,
``scale`` (metres, if available), ``mask_file`` (training).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..geometry import project
from .registry import DatasetReader, PathLike, canonical_split, read_rgb, require_dir, require_file
from .sample import HandSample

__all__ = ["FREIHAND_VERSIONS", "FREIHAND_SPLIT_DIRS", "load_json_array", "FreiHANDDataset"]

#: Image versions of the training set, in the order of their id blocks (``fh_utils.sample_version``).
FREIHAND_VERSIONS: Tuple[str, ...] = ("gs", "hom", "sample", "auto")
#: File-name prefix of each canonical split.
FREIHAND_SPLIT_DIRS: Dict[str, str] = {"train": "training", "test": "evaluation"}


def load_json_array(path: Path, tail: Tuple[int, ...], what: str) -> np.ndarray:
    """A JSON list of arrays as one float64 array (N, *tail).

    Raises:
        FileNotFoundError: missing file.
        ValueError: not valid JSON, or entries of another shape (the message names the file).
    """
    require_file(path, what)
    try:
        with open(path, "r") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"{path}: entries are not all numeric arrays of shape {tail}") from None
    if arr.ndim != 1 + len(tail) or arr.shape[1:] != tail:
        raise ValueError(f"{path}: expected a list of {tail} arrays, got array shape {arr.shape}")
    return arr


class FreiHANDDataset(DatasetReader):
    """FreiHAND as a lazy sequence of :class:`HandSample` (see the module docstring for the conventions).

    Args:
        root: folder holding ``training/``, ``training_xyz.json`` ... (``FreiHAND_pub_v2``).
        split: ``"train"``/``"training"`` or ``"test"``/``"evaluation"``/``"eval"``.
        versions: training image versions to include, any of ``("gs", "hom", "sample", "auto")`` (default
            all four: 4 x 32,560 samples, ordered version block by version block as the image ids).
            The evaluation split has ``"gs"`` only.
        allow_unlabeled: evaluation split without ``evaluation_xyz.json``: read images without labels.

    Raises:
        FileNotFoundError: missing root, image folder or annotation file.
        ValueError: unknown split or version, inconsistent annotation files.
    """

    name = "freihand"

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        *,
        versions: Optional[Sequence[str]] = None,
        allow_unlabeled: bool = False,
    ) -> None:
        self.split = canonical_split(split, FREIHAND_SPLIT_DIRS, "FreiHAND")
        set_name = FREIHAND_SPLIT_DIRS[self.split]
        if versions is None:
            versions = FREIHAND_VERSIONS if self.split == "train" else ("gs",)
        versions = tuple(versions)
        bad = [v for v in versions if v not in FREIHAND_VERSIONS]
        if bad or not versions or len(set(versions)) != len(versions):
            raise ValueError(f"versions must be distinct names from {FREIHAND_VERSIONS}, got {versions!r}")
        if self.split == "test" and versions != ("gs",):
            raise ValueError("the FreiHAND evaluation split only has the 'gs' version")
        self.root = require_dir(Path(root), "FreiHAND root folder")
        self.rgb_dir = require_dir(self.root / set_name / "rgb", f"FreiHAND {set_name} image folder")
        self.versions = versions
        self.K = load_json_array(self.root / f"{set_name}_K.json", (3, 3), f"FreiHAND {set_name}_K.json")
        xyz_path = self.root / f"{set_name}_xyz.json"
        self.xyz: Optional[np.ndarray]
        if xyz_path.is_file() or not allow_unlabeled:
            if not xyz_path.is_file() and self.split == "test":
                raise FileNotFoundError(
                    f"FreiHAND evaluation labels not found: {xyz_path} (they are published separately as the "
                    "evaluation annotations); pass allow_unlabeled=True to read the images only"
                )
            self.xyz = load_json_array(xyz_path, (21, 3), f"FreiHAND {set_name}_xyz.json")
            if len(self.xyz) != len(self.K):
                raise ValueError(f"{xyz_path.name} has {len(self.xyz)} entries but {set_name}_K.json {len(self.K)}")
        else:
            self.xyz = None
        scale_path = self.root / f"{set_name}_scale.json"
        self.scale: Optional[np.ndarray] = None
        if scale_path.is_file():
            self.scale = load_json_array(scale_path, (), f"FreiHAND {set_name}_scale.json")
            if len(self.scale) != len(self.K):
                raise ValueError(f"{scale_path.name} has {len(self.scale)} entries but {set_name}_K.json {len(self.K)}")
        #: Number of unique samples (32,560 for the released training set).
        self.num_unique = len(self.K)
        self._items: List[Tuple[str, int]] = [(v, i) for v in versions for i in range(self.num_unique)]

    def __len__(self) -> int:
        return len(self._items)

    def image_id(self, version: str, sample_id: int) -> int:
        """Image file number of unique sample ``sample_id`` in ``version`` (``sample_id + N * version block``)."""
        return sample_id + self.num_unique * FREIHAND_VERSIONS.index(version)

    def image_file(self, image_id: int) -> Path:
        """Path of image number ``image_id`` of this split."""
        return self.rgb_dir / f"{image_id:08d}.jpg"

    def _load(self, index: int) -> HandSample:
        version, sid = self._items[index]
        image_id = self.image_id(version, sid)
        path = self.image_file(image_id)
        K = self.K[sid]
        meta: Dict[str, Any] = {
            "dataset": "freihand",
            "split": self.split,
            "index": index,
            "file": str(path),
            "sample_id": sid,
            "image_id": image_id,
            "version": version,
        }
        if self.scale is not None:
            meta["scale"] = float(self.scale[sid])
        if self.split == "train":
            meta["mask_file"] = str(self.root / "training" / "mask" / f"{sid:08d}.jpg")
        if self.xyz is None:
            none = np.zeros(21, dtype=bool)
            return HandSample(
                image=read_rgb(path),
                K=K,
                uv=np.full((21, 2), np.nan),
                visible=none,
                xyz=None,
                handedness="right",
                meta=meta,
                labeled=none.copy(),
            )
        xyz = self.xyz[sid]
        return HandSample(
            image=read_rgb(path),
            K=K,
            uv=project(xyz, K),
            visible=np.ones(21, dtype=bool),
            xyz=xyz.copy(),
            handedness="right",
            meta=meta,
        )
