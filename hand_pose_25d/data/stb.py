"""Reader of the Stereo Hand Pose Tracking Benchmark (STB / "SHP"; Zhang et al., ICIP 2017, arXiv:1610.07214).

On-disk layout (the dataset's README, ``github.com/zhjwustc/icip17_stereo_hand_pose_dataset``)::

    <root>/images/<seq>/BB_left_%d.png  BB_right_%d.png  SK_color_%d.png  SK_depth_%d.png   (frames 0..1499)
    <root>/labels/<seq>_BB.mat  <seq>_SK.mat                       (each: handPara, 3 x 21 x 1500, millimetres)

with ``<seq>`` in B1..B6 x {Counting, Random} (12 sequences, 18,000 frames). Facts used, and where they come from:

* Joint order of ``handPara`` (README): "palm center (not wrist or hand center), little_mcp, little_pip,
  little_dip, little_tip, ring_mcp, ..., middle_..., index_..., thumb_mcp, thumb_pip, thumb_dip, thumb_tip" -- the
  public loaders name them ``loc_bn_palm_L, loc_bn_pinky_L_01..04, ring, mid, index, thumb`` and Z&B's
  ``BinaryDbReaderSTB.convert_kp`` maps STB 17..20 to their thumb MCP..tip. This reader maps them to this
  package's order with :data:`STB_TO_OURS` (the STB thumb "mcp", its first joint, is ``thumb_cmc`` here).
  Frame ``i`` (0-based file name) is ``handPara[:, :, i]`` (Z&B ``create_db.m``: ``im_id+1`` in MATLAB).
* Units: millimetres (README) -> metres here. The hand is a **left** hand (``_L`` joint names; Z&B
  ``BinaryDbReaderSTB``: "this dataset only contains left hands").
* Bumblebee2 stereo camera (README): fx = fy = 822.79041, cx = 318.47345, cy = 250.31296, baseline 120.054 mm.
  ``_BB.mat`` labels are in the left camera's frame; the right camera's frame is the left one shifted by the
  baseline, ``X_right = X_left - (120.054, 0, 0)`` mm (Z&B ``create_db.m``: ``R_r(1, 4) = -base``); both
  images use the same K (Z&B project both with it).
* RealSense F200 colour camera (README): fx = 607.92271, fy = 607.88192, cx = 314.78337, cy = 236.42484;
  rotation vector om = (0.00531, -0.01196, 0.00301) (Rodrigues) and translation T = (-24.0381, -0.4563,
  -1.2326) mm "can transform the coordinates relative to color camera to those relative to depth camera",
  i.e. ``X_depth = R X_color + T``; the README's ``positionCalc.m`` goes back with ``colorXYZ = R \\ (depthXYZ -
  T)``. The ``_SK.mat`` labels are in the **depth** camera's frame: the public loaders that read them (Ge et
  al. CVPR 2019 ``hand-graph-cnn`` ``STB_dataset.py``; Yang et al. ``bihand``) apply exactly this inverse
  transform before projecting with the colour K, and so does this reader (``camera="SK"``).
* Depth images: ``depth = R + 256 * G`` (README; not read here, the path is in ``meta["depth_file"]``).
* Splits of the field (Z&B ``create_db.m`` evaluates on B1Counting + B1Random; the paper follows Z&B): test = B1
  (2 sequences), train = B2-B6 (10 sequences). With both Bumblebee images per frame (``camera="BB"``, as Z&B)
  that is 6,000 test / 30,000 train samples; with ``camera="SK"`` 3,000 / 15,000.
* Images are 640 x 480. STB has no visibility flags: every keypoint is ``visible``.

STB annotates the palm centre, not the wrist. Keypoint 0 of this package is the wrist, so ``wrist=`` says what
goes there (the palm centre is always in ``meta["palm_xyz"]`` / ``meta["palm_uv"]``):

* ``"extrapolate"`` (default): ``wrist = ring_mcp + 2 * (palm - ring_mcp)`` (= ``2 * palm - ring_mcp``: the
  ring knuckle reflected through the palm centre), the convention of Z&B (``BinaryDbReaderSTB``,
  ``use_wrist_coord=True``: ``kp[16] + 2 * (kp[0] - kp[16])``, their 16 = ring MCP) and of Ge et al.
  (``palm2wrist``); ``wrist_ref`` / ``wrist_factor`` change the knuckle and the factor (Yang et al. use middle
  MCP and 2.2). Labeled and visible like a real keypoint -- but it is an estimate, not an annotation.
* ``"unlabeled"``: the same estimated position (so crops and root depths still work) but ``labeled[0]`` and
  ``visible[0]`` False, so losses and metrics ignore it.
* ``"palm"``: keypoint 0 holds the palm centre itself (Z&B's ``use_wrist_coord=False`` convention). Then
  keypoint 0 is **not** a wrist: bone lengths from it differ from the skeleton's priors.

``meta``: ``dataset``, ``split``, ``index``, ``file``, ``sequence``, ``camera``, ``frame``, ``wrist``,
``palm_xyz`` (metres), ``palm_uv``, ``depth_file`` (SK only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..geometry import project
from .registry import DatasetReader, PathLike, canonical_split, read_rgb, require_dir, require_file
from .sample import HandSample

__all__ = [
    "STB_TO_OURS",
    "STB_SEQUENCES",
    "STB_SPLITS",
    "BB_K",
    "BB_BASELINE_MM",
    "SK_COLOR_K",
    "SK_ROTATION_VECTOR",
    "SK_TRANSLATION_MM",
    "STB_WRIST_REF",
    "STB_WRIST_FACTOR",
    "rodrigues",
    "sk_depth_to_color",
    "stb_to_ours",
    "wrist_from_palm",
    "load_hand_para",
    "STBDataset",
]

#: ``ours[i] = stb[STB_TO_OURS[i]]``: palm/wrist slot, thumb (STB 17-20), index (13-16), middle (9-12),
#: ring (5-8), little (1-4); each STB finger is already ordered knuckle -> tip.
STB_TO_OURS: Tuple[int, ...] = (0, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4)

STB_SEQUENCES: Tuple[str, ...] = tuple(f"B{b}{kind}" for b in range(1, 7) for kind in ("Counting", "Random"))
#: Sequences of each split (the field's split: B1 for testing, B2-B6 for training).
STB_SPLITS: Dict[str, Tuple[str, ...]] = {
    "train": tuple(s for s in STB_SEQUENCES if not s.startswith("B1")),
    "test": ("B1Counting", "B1Random"),
    "all": STB_SEQUENCES,
}

#: Bumblebee2 intrinsics (both rectified images), pixels.
BB_K: np.ndarray = np.array([[822.79041, 0.0, 318.47345], [0.0, 822.79041, 250.31296], [0.0, 0.0, 1.0]])
#: Bumblebee2 baseline, millimetres (right camera at +x of the left one).
BB_BASELINE_MM: float = 120.054
#: RealSense F200 colour camera intrinsics, pixels.
SK_COLOR_K: np.ndarray = np.array([[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]])
#: Rodrigues vector and translation (mm) with ``X_depth = R X_color + T`` (README).
SK_ROTATION_VECTOR: Tuple[float, float, float] = (0.00531, -0.01196, 0.00301)
SK_TRANSLATION_MM: Tuple[float, float, float] = (-24.0381, -0.4563, -1.2326)

#: Default wrist extrapolation: ``wrist = kp[STB_WRIST_REF] + STB_WRIST_FACTOR * (palm - kp[STB_WRIST_REF])``
#: with keypoints in this package's order (13 = ring MCP), as Z&B and Ge et al.
STB_WRIST_REF: int = 13
STB_WRIST_FACTOR: float = 2.0

_CAMERAS: Dict[str, Tuple[str, ...]] = {
    "BB": ("BB_left", "BB_right"),
    "BB_left": ("BB_left",),
    "BB_right": ("BB_right",),
    "SK": ("SK",),
}
_WRIST_MODES = ("extrapolate", "unlabeled", "palm")


def rodrigues(rvec: Sequence[float]) -> np.ndarray:
    """Rotation matrix (3, 3) of a Rodrigues (axis * angle) vector, as MATLAB's ``rodrigues`` / ``cv2.Rodrigues``."""
    r = np.asarray(rvec, dtype=np.float64).reshape(3)
    theta = float(np.linalg.norm(r))
    if theta < 1e-15:
        return np.eye(3)
    k = r / theta
    Kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(theta) * Kx + (1.0 - np.cos(theta)) * (Kx @ Kx)


def sk_depth_to_color(xyz_depth_mm: np.ndarray) -> np.ndarray:
    """Points (..., 3) in the F200 depth camera frame -> colour camera frame, both mm: ``R^T (X - T)``."""
    R = rodrigues(SK_ROTATION_VECTOR)
    return (np.asarray(xyz_depth_mm, dtype=np.float64) - np.asarray(SK_TRANSLATION_MM)) @ R


def stb_to_ours(arr: np.ndarray) -> np.ndarray:
    """Reorder STB (21, ...) keypoints (palm first) to this package's order; slot 0 still holds the palm."""
    arr = np.asarray(arr)
    if arr.shape[0] != 21:
        raise ValueError(f"STB arrays have 21 keypoints, got shape {arr.shape}")
    return arr[np.asarray(STB_TO_OURS)]


def wrist_from_palm(kp: np.ndarray, ref: int = STB_WRIST_REF, factor: float = STB_WRIST_FACTOR) -> np.ndarray:
    """Extrapolated wrist (..., D) of keypoints (..., 21, D) in this package's order with the palm in slot 0."""
    kp = np.asarray(kp, dtype=np.float64)
    return kp[..., ref, :] + factor * (kp[..., 0, :] - kp[..., ref, :])


def load_hand_para(path: Path) -> np.ndarray:
    """``handPara`` of an STB label file as (frames, 21, 3) float64 millimetres (STB joint order).

    Raises:
        FileNotFoundError: missing file.
        ValueError: no ``handPara`` or not (3, 21, frames).
    """
    from scipy.io import loadmat

    require_file(path, "STB label file")
    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise ValueError(f"cannot read STB label file {path}: {exc}") from exc
    if "handPara" not in mat:
        raise ValueError(f"{path}: no 'handPara' array (variables: {sorted(k for k in mat if not k.startswith('__'))})")
    hp = np.asarray(mat["handPara"], dtype=np.float64)
    if hp.ndim == 2 and hp.shape == (3, 21):
        hp = hp[:, :, None]  # MATLAB drops a trailing singleton dimension
    if hp.ndim != 3 or hp.shape[:2] != (3, 21):
        raise ValueError(f"{path}: handPara has shape {hp.shape}, expected (3, 21, frames)")
    return np.ascontiguousarray(np.transpose(hp, (2, 1, 0)))


class STBDataset(DatasetReader):
    """STB as a lazy sequence of :class:`HandSample` (see the module docstring for the conventions).

    Args:
        root: folder holding ``images/`` and ``labels/``.
        split: ``"train"`` (B2-B6), ``"test"``/``"evaluation"`` (B1) or ``"all"``; ignored if ``sequences`` given.
        camera: ``"BB"`` (both stereo images, default, as Z&B), ``"BB_left"``, ``"BB_right"`` or ``"SK"``.
        wrist: ``"extrapolate"``, ``"unlabeled"`` or ``"palm"`` (module docstring).
        wrist_ref, wrist_factor: the extrapolation ``kp[wrist_ref] + wrist_factor * (palm - kp[wrist_ref])``.
        sequences: explicit list of sequence names instead of a split.

    Raises:
        FileNotFoundError: missing root, ``labels/`` or ``images/`` folder or label file.
        ValueError: unknown split, camera, wrist mode or sequence; malformed label file.
    """

    name = "stb"

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        *,
        camera: str = "BB",
        wrist: str = "extrapolate",
        wrist_ref: int = STB_WRIST_REF,
        wrist_factor: float = STB_WRIST_FACTOR,
        sequences: Optional[Sequence[str]] = None,
    ) -> None:
        self.split = canonical_split(split, STB_SPLITS, "STB")
        if camera not in _CAMERAS:
            raise ValueError(f"camera must be one of {tuple(_CAMERAS)}, got {camera!r}")
        if wrist not in _WRIST_MODES:
            raise ValueError(f"wrist must be one of {_WRIST_MODES}, got {wrist!r}")
        if not (1 <= int(wrist_ref) <= 20):
            raise ValueError(f"wrist_ref must be a finger keypoint index 1..20, got {wrist_ref!r}")
        if not np.isfinite(wrist_factor):
            raise ValueError(f"wrist_factor must be finite, got {wrist_factor!r}")
        seqs = tuple(sequences) if sequences is not None else STB_SPLITS[self.split]
        unknown = [s for s in seqs if s not in STB_SEQUENCES]
        if unknown or not seqs:
            raise ValueError(f"unknown STB sequence(s) {unknown or seqs}; known: {', '.join(STB_SEQUENCES)}")
        self.root = require_dir(Path(root), "STB root folder")
        self.images_dir = require_dir(self.root / "images", "STB images folder")
        self.labels_dir = require_dir(self.root / "labels", "STB labels folder")
        self.camera = camera
        self.wrist = wrist
        self.wrist_ref = int(wrist_ref)
        self.wrist_factor = float(wrist_factor)
        self.sequences = seqs
        label_cam = "SK" if camera == "SK" else "BB"
        # Keypoints in metres, this package's order (slot 0 = palm), in the frame of the label file's camera
        # (BB: left Bumblebee camera; SK: already moved to the colour camera).
        self._labels: Dict[str, np.ndarray] = {}
        for seq in seqs:
            mm = load_hand_para(self.labels_dir / f"{seq}_{label_cam}.mat")
            if label_cam == "SK":
                mm = sk_depth_to_color(mm)
            self._labels[seq] = mm[:, np.asarray(STB_TO_OURS), :] / 1000.0
        self._items: List[Tuple[str, str, int]] = [
            (seq, cam, f) for seq in seqs for f in range(self._labels[seq].shape[0]) for cam in _CAMERAS[camera]
        ]

    def __len__(self) -> int:
        return len(self._items)

    def image_file(self, sequence: str, camera: str, frame: int) -> Path:
        """Path of one image; ``camera`` is ``"BB_left"``, ``"BB_right"`` or ``"SK"``."""
        prefix = "SK_color" if camera == "SK" else camera
        return self.images_dir / sequence / f"{prefix}_{frame}.png"

    def _load(self, index: int) -> HandSample:
        seq, cam, frame = self._items[index]
        kp = self._labels[seq][frame].copy()  # (21, 3) metres, palm in slot 0
        if cam == "BB_right":
            kp[:, 0] -= BB_BASELINE_MM / 1000.0
        K = SK_COLOR_K if cam == "SK" else BB_K
        palm = kp[0].copy()
        labeled = np.ones(21, dtype=bool)
        if self.wrist != "palm":
            kp[0] = wrist_from_palm(kp, self.wrist_ref, self.wrist_factor)
            if self.wrist == "unlabeled":
                labeled[0] = False
        uv = project(kp, K)
        palm_uv = project(palm[None], K)[0]
        path = self.image_file(seq, cam, frame)
        meta: Dict[str, Any] = {
            "dataset": "stb",
            "split": self.split,
            "index": index,
            "file": str(path),
            "sequence": seq,
            "camera": cam,
            "frame": frame,
            "wrist": self.wrist,
            "palm_xyz": palm,
            "palm_uv": palm_uv,
        }
        if cam == "SK":
            meta["depth_file"] = str(self.images_dir / seq / f"SK_depth_{frame}.png")
        return HandSample(
            image=read_rgb(path),
            K=K.copy(),
            uv=uv,
            visible=labeled.copy(),
            xyz=kp,
            handedness="left",
            meta=meta,
            labeled=labeled,
        )
