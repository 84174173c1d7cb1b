"""Opening the public hand datasets by name, and what their readers share (numpy + OpenCV).

``open_dataset("rhd" | "stb" | "freihand", root, split, **options)`` returns a lazy ``Sequence[HandSample]``:
building it reads only the annotation files; ``dataset[i]`` decodes image ``i``. See
:mod:`hand_pose_25d.data.rhd`, :mod:`hand_pose_25d.data.stb` and :mod:`hand_pose_25d.data.freihand` for the on-disk
layouts, the keypoint-order conversions and the options of each reader.

Split names: every reader accepts ``"train"`` (alias ``"training"``) and ``"test"`` (aliases ``"evaluation"``,
``"eval"``); STB also ``"all"``. A reader's own ``split`` attribute holds the canonical name.

Evaluation-only sets (:data:`EVAL_ONLY_DATASETS`): ``open_dataset("photos", labels_json, "test")`` opens real
photographs with 2D labels (:mod:`hand_pose_25d.data.photos`); it has no training split, so asking for one (the
default ``"train"`` included) raises ``ValueError``: the photos are never a training source.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Dict, Iterable, Tuple, Union

import numpy as np

from .sample import HandSample

__all__ = [
    "DATASET_NAMES",
    "EVAL_ONLY_DATASETS",
    "DatasetReader",
    "canonical_split",
    "read_rgb",
    "require_dir",
    "require_file",
    "open_dataset",
]

#: Names accepted by :func:`open_dataset` (case-insensitive).
DATASET_NAMES: Tuple[str, ...] = ("rhd", "stb", "freihand")
#: Sets :func:`open_dataset` opens for evaluation only: they refuse every training split.
EVAL_ONLY_DATASETS: Tuple[str, ...] = ("photos",)

_SPLIT_ALIASES: Dict[str, str] = {
    "train": "train",
    "training": "train",
    "test": "test",
    "eval": "test",
    "evaluation": "test",
    "all": "all",
}

PathLike = Union[str, "os.PathLike[str]"]


def canonical_split(split: str, allowed: Iterable[str], dataset: str) -> str:
    """Map a split name or alias (``"training"``, ``"evaluation"`` ...) to its canonical name.

    Raises:
        ValueError: unknown split, or one the dataset does not have (the message lists the valid names).
    """
    allowed = tuple(allowed)
    name = _SPLIT_ALIASES.get(str(split).strip().lower())
    if name is None or name not in allowed:
        aliases = sorted(a for a, c in _SPLIT_ALIASES.items() if c in allowed)
        raise ValueError(f"{dataset} has no split {split!r}; use one of {', '.join(aliases)}")
    return name


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory, else ``FileNotFoundError`` naming ``what`` and the path."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path} is not a directory")
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else ``FileNotFoundError`` naming ``what`` and the path."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file as (H, W, 3) uint8 RGB (8-bit; grey images are expanded to 3 channels).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot decode it.
    """
    import cv2

    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode image {path} (corrupt or not an image)")
    return np.ascontiguousarray(bgr[:, :, ::-1])


class DatasetReader(Sequence[HandSample]):
    """Base of the dataset readers: a lazy, indexable, iterable sequence of :class:`HandSample`.

    Subclasses set ``name``, ``root``, ``split`` and implement :meth:`__len__` and :meth:`_load`. Indexing accepts
    negative indices and slices (a slice returns a list); an index out of range raises ``IndexError`` naming
    the dataset size (``IndexError`` is also what ends iteration).
    """

    name: str = ""
    root: Path
    split: str

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def _load(self, index: int) -> HandSample: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._load(i) for i in range(*index.indices(len(self)))]
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{self.name} indices must be integers or slices, not {type(index).__name__}")
        n = len(self)
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"{self.name} {self.split} index {index} out of range: the split has {n} samples")
        return self._load(i % n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, samples={len(self)})"


def open_dataset(name: str, root: PathLike, split: str = "train", **options: Any) -> DatasetReader:
    """Open a public dataset by name.

    Args:
        name: ``"rhd"``, ``"stb"`` or ``"freihand"`` (case-insensitive), or ``"photos"`` (evaluation only: its
            ``root`` is the labels JSON file and its one split ``"test"``).
        root: the dataset folder (RHD: ``RHD_published_v2``; STB: the folder holding ``images/`` and ``labels/``;
            FreiHAND: the folder holding ``training/`` and ``training_xyz.json``).
        split: ``"train"``/``"training"``, ``"test"``/``"evaluation"``/``"eval"`` (STB also ``"all"``).
        **options: passed to the reader (e.g. ``hands="all"`` for RHD, ``camera="SK"`` for STB,
            ``versions=("gs",)`` for FreiHAND).

    Raises:
        ValueError: unknown dataset name or split, bad options.
        FileNotFoundError: ``root`` or an annotation file is missing.
    """
    key = str(name).strip().lower()
    if key == "rhd":
        from .rhd import RHDDataset

        return RHDDataset(root, split, **options)
    if key == "stb":
        from .stb import STBDataset

        return STBDataset(root, split, **options)
    if key == "freihand":
        from .freihand import FreiHANDDataset

        return FreiHANDDataset(root, split, **options)
    if key == "photos":
        from .photos import PhotosDataset

        return PhotosDataset(root, split, **options)
    known = ", ".join(DATASET_NAMES + EVAL_ONLY_DATASETS)
    raise ValueError(f"unknown dataset {name!r}; known datasets: {known}")
