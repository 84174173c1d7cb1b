"""Real photographs with 2D hand labels, for **evaluation only** (never training).

The labels file is what ``tools/real_photos.py label`` writes (MediaPipe's ``solutions.hands`` on photos from Debian
packages, e.g. ``apt-get install opencv-doc``), reviewed by eye with ``tools/real_photos.py review``::

    {"labeller": "mediapipe 0.10.21 solutions.hands",
     "images": {"/usr/share/doc/opencv-doc/.../hand.jpg":
                    {"width": 640, "height": 480,
                     "hands": [{"uv": [[u, v] x 21], "handedness": "right", "score": 0.97}, ...]},
                ...},
     "review": {"dropped": [{"image": "...", "hand": 1, "reason": "..."}, ...]}}

``uv`` are pixels of the whole photo (pixel centres at integer coordinates, this package's keypoint order, which is
MediaPipe's). A dropped hand (``hand`` null drops every hand of the photo) is not evaluated. The photos are read
from the paths in the file: a missing photo is a ``FileNotFoundError`` saying which package to install; a photo
whose size differs from the labelled one is a ``ValueError`` (another version of the package).

As a :class:`~hand_pose_25d.data.registry.DatasetReader` the set is one :class:`HandSample` per kept hand (the whole
photo, that hand's keypoints; ``xyz`` None: there is no 3D ground truth; ``K`` a nominal pinhole, focal 0.9 x the
longer side, which no 2D figure depends on). :attr:`PhotosDataset.photos` groups the hands by photo, for the
whole-image evaluation. The only split is ``"test"``: asking for ``"train"`` raises, so the photos cannot be used as
a training source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from .registry import DatasetReader, PathLike, read_rgb, require_file
from .sample import HandSample

__all__ = ["PHOTOS_INSTALL_HINT", "PhotoHand", "Photo", "load_photo_labels", "dropped_hands", "PhotosDataset"]

#: Where the photos of the shipped labels come from.
PHOTOS_INSTALL_HINT = "the labelled photos come from Debian packages: apt-get install opencv-doc"


@dataclass
class PhotoHand:
    """One labelled hand: ``uv`` (21, 2) pixels, its index in the photo's label list, handedness and score."""

    uv: np.ndarray
    index: int
    handedness: Optional[str] = None
    score: float = float("nan")


@dataclass
class Photo:
    """One photo and its kept hands (possibly none)."""

    path: Path
    width: int
    height: int
    hands: List[PhotoHand] = field(default_factory=list)
    dropped: int = 0

    def read(self) -> np.ndarray:
        """The photo as (H, W, 3) uint8 RGB, checked against the labelled size."""
        if not self.path.is_file():
            raise FileNotFoundError(f"labelled photo not found: {self.path} ({PHOTOS_INSTALL_HINT})")
        image = read_rgb(self.path)
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"{self.path} is {image.shape[1]}x{image.shape[0]} but was labelled at {self.width}x{self.height} "
                "(another version of the photo: label it again)"
            )
        return image

    def intrinsics(self) -> np.ndarray:
        """A nominal pinhole for the photo (focal 0.9 x the longer side, centred): 2D figures do not depend on it."""
        f = 0.9 * max(self.width, self.height)
        return np.array([[f, 0.0, (self.width - 1) / 2.0], [0.0, f, (self.height - 1) / 2.0], [0.0, 0.0, 1.0]])


def load_photo_labels(path: PathLike) -> Dict[str, Any]:
    """The labels file as a dict, checked (``images`` with width/height/hands, 21 (u, v) per hand).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, or not a labels file (the message says what is wrong).
    """
    path = require_file(Path(path), "photo labels file (tools/real_photos.py label)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), dict):
        raise ValueError(f"{path} is not a photo labels file (no 'images' mapping; see tools/real_photos.py label)")
    for name, entry in data["images"].items():
        if not isinstance(entry, dict) or not {"width", "height", "hands"} <= set(entry):
            raise ValueError(f"{path}: image {name!r} needs width, height and hands")
        for i, hand in enumerate(entry["hands"]):
            uv = np.asarray(hand.get("uv"), dtype=np.float64) if isinstance(hand, dict) else None
            if uv is None or uv.shape != (21, 2) or not np.isfinite(uv).all():
                raise ValueError(f"{path}: hand {i} of {name!r} needs 21 finite (u, v) pixel positions")
    for d in data.get("review", {}).get("dropped", []):
        if d.get("image") not in data["images"]:
            raise ValueError(f"{path}: review drops a hand of {d.get('image')!r}, which is not labelled")
    for d in data.get("review", {}).get("unlabelled", []):
        entry = data["images"].get(d.get("image"))
        if entry is None or entry["hands"]:
            raise ValueError(
                f"{path}: review marks {d.get('image')!r} as a photo with an unlabelled hand, but it is not in the "
                "file or has labelled hands"
            )
    return data


def dropped_hands(data: Dict[str, Any]) -> Set[Tuple[str, Optional[int]]]:
    """(image, hand index) pairs the review dropped; hand None drops every hand of the image."""
    return {(d["image"], d.get("hand")) for d in data.get("review", {}).get("dropped", [])}


def unlabelled_hand_photos(data: Dict[str, Any]) -> Set[str]:
    """Photos the review found to show a hand that the labeller (MediaPipe) missed (``review.unlabelled``): they
    are not photos without a hand, and hold no label to score a pose against."""
    return {d["image"] for d in data.get("review", {}).get("unlabelled", [])}


class PhotosDataset(DatasetReader):
    """Labelled real photos as a lazy sequence of :class:`HandSample`, one per kept hand (see the module docstring).

    Args:
        root: the labels JSON file (``tools/real_photos.py label --out``).
        split: ``"test"`` (aliases ``"evaluation"``, ``"eval"``) -- the only one: the photos are never for training.
        with_empty: also list the photos without a kept hand in :attr:`photos`.

    Raises:
        ValueError: a training split, or a malformed labels file.
        FileNotFoundError: the labels file or a labelled photo is missing (install the package that ships them).
    """

    name = "photos"

    def __init__(self, root: PathLike, split: str = "test", *, with_empty: bool = False) -> None:
        key = str(split).strip().lower()
        if key not in ("test", "eval", "evaluation"):
            raise ValueError(
                f"photos has no split {split!r}: real photos are for evaluation only, never training (use split 'test')"
            )
        self.split = "test"
        self.root = Path(root)
        data = load_photo_labels(self.root)
        self.labeller = str(data.get("labeller", ""))
        self.num_dropped = 0
        drop = dropped_hands(data)
        self.photos: List[Photo] = []
        for name, entry in data["images"].items():
            photo = Photo(Path(name), int(entry["width"]), int(entry["height"]))
            for i, hand in enumerate(entry["hands"]):
                if (name, i) in drop or (name, None) in drop:
                    photo.dropped += 1
                    continue
                photo.hands.append(
                    PhotoHand(
                        np.asarray(hand["uv"], dtype=np.float64),
                        i,
                        hand.get("handedness"),
                        float(hand.get("score", float("nan"))),
                    )
                )
            self.num_dropped += photo.dropped
            if photo.hands or with_empty:
                self.photos.append(photo)
        missing = [p.path for p in self.photos if not p.path.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of the {len(self.photos)} labelled photos of {self.root} are missing, e.g. "
                f"{missing[0]} ({PHOTOS_INSTALL_HINT})"
            )
        self._items: List[Tuple[int, int]] = [
            (p, h) for p, photo in enumerate(self.photos) for h in range(len(photo.hands))
        ]

    def __len__(self) -> int:
        return len(self._items)

    def _load(self, index: int) -> HandSample:
        p, h = self._items[index]
        photo = self.photos[p]
        hand = photo.hands[h]
        return HandSample(
            image=photo.read(),
            K=photo.intrinsics(),
            uv=hand.uv.copy(),
            visible=np.ones(21, dtype=bool),
            xyz=None,
            handedness=None,  # MediaPipe's label assumes a mirrored (selfie) image: kept in meta, not interpreted
            meta={
                "dataset": "photos",
                "split": "test",
                "index": index,
                "file": str(photo.path),
                "hand": hand.index,
                "mediapipe_handedness": hand.handedness,
            },
        )
