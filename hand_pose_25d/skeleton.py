"""The 21-keypoint hand skeleton: order, names, kinematic tree, bone-length prior, handedness.

Pure Python/numpy. The keypoint order is the FreiHAND / MANO / MediaPipe order used everywhere inside
this package; dataset readers convert to it at the dataset boundary::

    0  wrist
    1  thumb_cmc    2  thumb_mcp    3  thumb_ip     4  thumb_tip
    5  index_mcp    6  index_pip    7  index_dip    8  index_tip
    9  middle_mcp  10  middle_pip  11  middle_dip  12  middle_tip
   13  ring_mcp    14  ring_pip    15  ring_dip    16  ring_tip
   17  little_mcp  18  little_pip  19  little_dip  20  little_tip

Handedness is anatomical: a ``"right"`` hand is the person's right hand, whatever the camera sees.
Nothing here assumes a mirrored (selfie) image; a horizontally flipped image of a right hand shows a
left hand, and :func:`mirror_handedness` / :func:`flip_uv_horizontally` express exactly that.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

NUM_KEYPOINTS: int = 21

KEYPOINT_NAMES: Tuple[str, ...] = (
    "wrist",
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "index_mcp",
    "index_pip",
    "index_dip",
    "index_tip",
    "middle_mcp",
    "middle_pip",
    "middle_dip",
    "middle_tip",
    "ring_mcp",
    "ring_pip",
    "ring_dip",
    "ring_tip",
    "little_mcp",
    "little_pip",
    "little_dip",
    "little_tip",
)

FINGER_NAMES: Tuple[str, ...] = ("thumb", "index", "middle", "ring", "little")

#: Keypoint indices of each finger, from the knuckle nearest the wrist to the tip.
FINGERS: Dict[str, Tuple[int, int, int, int]] = {
    name: (1 + 4 * i, 2 + 4 * i, 3 + 4 * i, 4 + 4 * i) for i, name in enumerate(FINGER_NAMES)
}

#: Display colour per finger, RGB in 0..1 (the wrist and palm bones grey): shared by the drawings of
#: :mod:`hand_pose_25d.visualize`, the demo's 3D plots and the RViz markers of :mod:`hand_pose_25d.ros.markers`.
FINGER_COLORS: Dict[str, Tuple[float, float, float]] = {
    "palm": (0.8, 0.8, 0.8),
    "thumb": (1.0, 0.3, 0.3),
    "index": (1.0, 0.8, 0.2),
    "middle": (0.3, 0.9, 0.3),
    "ring": (0.2, 0.7, 1.0),
    "little": (0.8, 0.4, 1.0),
}


def keypoint_colors() -> np.ndarray:
    """(21, 3) RGB in 0..1: the wrist grey, every other keypoint in its finger's colour."""
    colors = np.tile(np.asarray(FINGER_COLORS["palm"]), (NUM_KEYPOINTS, 1))
    for finger, idx in FINGERS.items():
        colors[list(idx)] = FINGER_COLORS[finger]
    return colors


#: Parent of each keypoint in the kinematic tree (the wrist is the root, parent -1).
PARENTS: Tuple[int, ...] = (
    -1,
    0,
    1,
    2,
    3,
    0,
    5,
    6,
    7,
    0,
    9,
    10,
    11,
    0,
    13,
    14,
    15,
    0,
    17,
    18,
    19,
)

#: The 20 bones as (parent, child) keypoint index pairs, ordered by child index.
BONES: Tuple[Tuple[int, int], ...] = tuple((PARENTS[k], k) for k in range(1, NUM_KEYPOINTS))

#: Default root keypoint (the wrist) and reference bone (wrist -> middle MCP) of the 2.5D representation.
DEFAULT_ROOT: int = 0
DEFAULT_REF_BONE: Tuple[int, int] = (0, 9)

#: Mean adult bone lengths in metres, keyed by (parent, child).
#:
#: Where the figures come from: approximate adult means rounded to the millimetre, chosen to agree with
#: published hand anthropometry (phalanx lengths as tabulated by Buryanov & Kotiuk, "Proportions of Hand
#: Segments", Int. J. Morphol. 28(3), 2010; metacarpal plus carpal height for the wrist -> MCP bones),
#: giving a hand length (wrist crease to middle fingertip) of 0.184 m, the usual adult average. Fingertip
#: "bones" run from the DIP (thumb: IP) joint to the end of the finger pad, as datasets annotate tips.
#: They are a prior for the global scale (paper Eq. 7). A trained model carries the mean bone lengths of
#: its own training data, which take precedence over these defaults.
DEFAULT_BONE_LENGTHS: Dict[Tuple[int, int], float] = {
    (0, 1): 0.035,
    (1, 2): 0.040,
    (2, 3): 0.031,
    (3, 4): 0.027,
    (0, 5): 0.087,
    (5, 6): 0.040,
    (6, 7): 0.023,
    (7, 8): 0.021,
    (0, 9): 0.090,
    (9, 10): 0.045,
    (10, 11): 0.027,
    (11, 12): 0.022,
    (0, 13): 0.082,
    (13, 14): 0.042,
    (14, 15): 0.026,
    (15, 16): 0.021,
    (0, 17): 0.077,
    (17, 18): 0.033,
    (18, 19): 0.019,
    (19, 20): 0.019,
}

HANDEDNESS: Tuple[str, ...] = ("left", "right")


def keypoint_index(name: str) -> int:
    """Index of the keypoint called ``name`` (see :data:`KEYPOINT_NAMES`); ``ValueError`` if unknown."""
    try:
        return KEYPOINT_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown keypoint {name!r}; expected one of {', '.join(KEYPOINT_NAMES)}") from None


def validate_bone(bone: Tuple[int, int]) -> Tuple[int, int]:
    """Check that ``bone`` is a (parent, child) pair of distinct keypoint indices and return it as ints."""
    if len(bone) != 2:
        raise ValueError(f"a bone is a (parent, child) pair of keypoint indices, got {bone!r}")
    a, b = int(bone[0]), int(bone[1])
    if not (0 <= a < NUM_KEYPOINTS and 0 <= b < NUM_KEYPOINTS) or a == b:
        raise ValueError(f"bone {bone!r} must join two different keypoints in 0..{NUM_KEYPOINTS - 1}")
    return a, b


def bone_lengths(xyz: np.ndarray, bones: Tuple[Tuple[int, int], ...] = BONES) -> np.ndarray:
    """Lengths of ``bones`` for hands ``xyz`` of shape (..., 21, 3); returns (..., len(bones)), same units."""
    xyz = np.asarray(xyz, dtype=np.float64)
    idx = np.asarray(bones, dtype=np.intp)
    return np.linalg.norm(xyz[..., idx[:, 1], :] - xyz[..., idx[:, 0], :], axis=-1)


def mean_bone_lengths(xyz: np.ndarray) -> Dict[Tuple[int, int], float]:
    """Mean length of every bone over a set of hands ``xyz`` (N, 21, 3) in metres, as a bone-length prior."""
    lengths = bone_lengths(np.asarray(xyz).reshape(-1, NUM_KEYPOINTS, 3))
    means = np.nanmean(lengths, axis=0)
    return {bone: float(m) for bone, m in zip(BONES, means)}


def bone_lengths_to_list(lengths: Dict[Tuple[int, int], float]) -> list:
    """Serialisable form ``[[parent, child, metres], ...]`` of a bone-length mapping (for JSON/YAML/ONNX)."""
    return [[int(a), int(b), float(m)] for (a, b), m in sorted(lengths.items())]


def bone_lengths_from_list(items) -> Dict[Tuple[int, int], float]:
    """Inverse of :func:`bone_lengths_to_list`; validates the bones and that every length is positive."""
    out: Dict[Tuple[int, int], float] = {}
    for item in items:
        a, b, m = item
        bone = validate_bone((a, b))
        if not np.isfinite(m) or m <= 0:
            raise ValueError(f"bone {bone} has length {m!r}; lengths must be positive metres")
        out[bone] = float(m)
    return out


def mirror_handedness(handedness: str) -> str:
    """The handedness seen after mirroring an image horizontally ('left' <-> 'right')."""
    if handedness not in HANDEDNESS:
        raise ValueError(f"handedness must be 'left' or 'right', got {handedness!r}")
    return "right" if handedness == "left" else "left"


def flip_uv_horizontally(uv: np.ndarray, width: int) -> np.ndarray:
    """Pixel coordinates (..., 2) after flipping an image of ``width`` pixels left-right.

    Uses the pixel-centre convention of this package: integer coordinates are pixel centres, so the
    image spans [-0.5, width - 0.5] and a flip maps u -> width - 1 - u. The keypoint order is unchanged.
    """
    out = np.array(uv, dtype=np.float64, copy=True)
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def mirror_xyz(xyz: np.ndarray) -> np.ndarray:
    """3D keypoints (..., 3) mirrored through the camera's Y-Z plane (X -> -X): a left hand becomes a right one."""
    out = np.array(xyz, dtype=np.float64, copy=True)
    out[..., 0] = -out[..., 0]
    return out
