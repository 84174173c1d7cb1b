"""Articulated hand model: shape (bone lengths, thickness), joint angles with anatomical limits, pose sampling,
forward kinematics and the analytic primitives that make up the hand's surface.

The hand-local frame of a RIGHT hand (metres): origin at the wrist keypoint, +y distal (wrist -> middle MCP),
+x radial (towards the thumb), +z palmar (out of the palm). Fingers flex towards +z. A left hand is the right
hand mirrored through the local Y-Z plane (x -> -x); keypoint order and joint angles are unchanged.

numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...skeleton import BONES, DEFAULT_BONE_LENGTHS, NUM_KEYPOINTS

__all__ = [
    "DOF_NAMES",
    "JOINT_LIMITS_DEG",
    "GESTURES",
    "HandShape",
    "HandPose",
    "Posed",
    "sample_shape",
    "sample_pose",
    "gesture_pose",
    "forward_kinematics",
    "hand_parts",
]

LONG_FINGERS: Tuple[str, ...] = ("index", "middle", "ring", "little")

#: Degrees of freedom of the hand model, in the order of :attr:`HandPose.angles` (degrees).
#: Finger MCP abduction is positive towards the thumb (radial); flexion is positive towards the palm.
#: ``palm_cup`` flexes the ring and little metacarpals (transverse arch); ``wrist_*`` only move the forearm.
DOF_NAMES: Tuple[str, ...] = (
    "thumb_cmc_flex",
    "thumb_cmc_abd",
    "thumb_mcp_flex",
    "thumb_mcp_abd",
    "thumb_ip_flex",
    *(f"{f}_{j}" for f in LONG_FINGERS for j in ("mcp_flex", "mcp_abd", "pip_flex", "dip_flex")),
    "palm_cup",
    "wrist_flex",
    "wrist_dev",
)
_DOF = {name: i for i, name in enumerate(DOF_NAMES)}
NUM_DOF = len(DOF_NAMES)

#: Anatomical limits (degrees) of every degree of freedom.
JOINT_LIMITS_DEG: Dict[str, Tuple[float, float]] = {
    "thumb_cmc_flex": (-15.0, 50.0),  # in the palm plane, towards the little finger
    "thumb_cmc_abd": (-10.0, 55.0),  # palmar abduction, away from the palm plane
    "thumb_mcp_flex": (-10.0, 60.0),
    "thumb_mcp_abd": (-10.0, 10.0),
    "thumb_ip_flex": (-15.0, 80.0),
    "index_mcp_flex": (-25.0, 90.0),
    "index_mcp_abd": (-15.0, 22.0),
    "index_pip_flex": (-5.0, 110.0),
    "index_dip_flex": (-5.0, 85.0),
    "middle_mcp_flex": (-25.0, 90.0),
    "middle_mcp_abd": (-15.0, 15.0),
    "middle_pip_flex": (-5.0, 110.0),
    "middle_dip_flex": (-5.0, 85.0),
    "ring_mcp_flex": (-25.0, 90.0),
    "ring_mcp_abd": (-20.0, 12.0),
    "ring_pip_flex": (-5.0, 110.0),
    "ring_dip_flex": (-5.0, 85.0),
    "little_mcp_flex": (-25.0, 95.0),
    "little_mcp_abd": (-30.0, 10.0),
    "little_pip_flex": (-5.0, 110.0),
    "little_dip_flex": (-5.0, 85.0),
    "palm_cup": (0.0, 18.0),
    "wrist_flex": (-70.0, 70.0),
    "wrist_dev": (-25.0, 35.0),
}
LIMITS_LO = np.array([JOINT_LIMITS_DEG[n][0] for n in DOF_NAMES])
LIMITS_HI = np.array([JOINT_LIMITS_DEG[n][1] for n in DOF_NAMES])

# ---- rest geometry (right hand, before scaling) ------------------------------------------------------------
#: Angle (deg) of the wrist -> MCP directions from +y towards +x (radial) in the palm plane.
_META_ANGLE = {"index": 13.0, "middle": 0.0, "ring": -11.5, "little": -23.0}
#: Rest direction (deg) of the straight, adducted fingers from +y towards +x.
_FINGER_ANGLE = {"index": 4.0, "middle": 0.0, "ring": -4.5, "little": -10.0}
#: How much of ``palm_cup`` each metacarpal takes (palmar flexion of the metacarpal).
_CUP_SHARE = {"index": 0.15, "middle": 0.0, "ring": 0.5, "little": 1.0}
#: Joint radii (m) at MCP, PIP, DIP and at the tip end of the distal phalanx of the average hand.
_RADII = {
    "thumb": (0.0145, 0.0112, 0.0098, 0.0087),  # CMC, MCP, IP, tip
    "index": (0.0102, 0.0089, 0.0078, 0.0070),
    "middle": (0.0105, 0.0092, 0.0080, 0.0072),
    "ring": (0.0098, 0.0086, 0.0075, 0.0068),
    "little": (0.0088, 0.0077, 0.0067, 0.0061),
}
#: Thumb CMC position: direction from the wrist (deg from +y towards +x, deg of palmar elevation).
_THUMB_CMC_DIR = (52.0, 22.0)
#: Thumb metacarpal at rest (cmc angles 0): in-plane angle from +y towards +x, and palmar elevation (deg).
_THUMB_REST = (40.0, 8.0)
#: Pronation (deg) of the thumb about its metacarpal: rest value and gain per degree of CMC flexion+abduction.
_THUMB_TWIST = (15.0, 0.0)

_BONE_INDEX = {bone: i for i, bone in enumerate(BONES)}
_DEFAULT_LENGTHS = np.array([DEFAULT_BONE_LENGTHS[b] for b in BONES])
FINGER_CHAINS: Dict[str, Tuple[int, int, int, int]] = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "little": (17, 18, 19, 20),
}


@dataclass
class HandShape:
    """Per-person hand geometry.

    Attributes:
        bone_lengths: (20,) metres, in the order of :data:`hand_pose_25d.skeleton.BONES`.
        scale: overall size factor the lengths were drawn with (1 = default adult hand).
        thickness: radius multiplier on top of ``scale``.
        meta_jitter: (4,) degrees added to the metacarpal fan angles of index, middle, ring, little.
    """

    bone_lengths: np.ndarray
    scale: float = 1.0
    thickness: float = 1.0
    meta_jitter: np.ndarray = field(default_factory=lambda: np.zeros(4))

    def length(self, parent: int, child: int) -> float:
        """Length in metres of bone (parent, child)."""
        return float(self.bone_lengths[_BONE_INDEX[(parent, child)]])

    def radius(self, finger: str, joint: int) -> float:
        """Radius in metres of ``finger``'s joint 0 (MCP/CMC) .. 3 (tip end)."""
        return _RADII[finger][joint] * self.scale * self.thickness


@dataclass
class HandPose:
    """Joint angles (degrees) in the order of :data:`DOF_NAMES`, and how the pose was drawn."""

    angles: np.ndarray
    kind: str = "custom"

    def __getitem__(self, name: str) -> float:
        return float(self.angles[_DOF[name]])

    def copy(self) -> "HandPose":
        return HandPose(self.angles.copy(), self.kind)


def default_shape() -> HandShape:
    """The average adult hand: default bone lengths, unit scale and thickness."""
    return HandShape(_DEFAULT_LENGTHS.copy())


def sample_shape(
    rng: np.random.Generator,
    scale_range: Tuple[float, float] = (0.8, 1.2),
    proportion_sigma: float = 0.04,
    thickness_range: Tuple[float, float] = (0.88, 1.15),
) -> HandShape:
    """Random hand: uniform overall scale times per-bone log-normal factors clipped at 2.5 sigma."""
    scale = float(rng.uniform(*scale_range))
    factor = np.exp(np.clip(rng.normal(0.0, 1.0, len(BONES)), -2.5, 2.5) * proportion_sigma)
    return HandShape(
        bone_lengths=_DEFAULT_LENGTHS * scale * factor,
        scale=scale,
        thickness=float(rng.uniform(*thickness_range)),
        meta_jitter=rng.normal(0.0, 1.2, 4),
    )


# ----------------------------------------------------------------------------------------------------------
# pose sampling


def _finger_state(mcp: float, abd: float, pip: float, dip: Optional[float] = None) -> Tuple[float, ...]:
    return (mcp, abd, pip, pip * 0.7 if dip is None else dip)


_STRAIGHT = _finger_state(5.0, 0.0, 5.0, 3.0)
_CURLED = _finger_state(85.0, 0.0, 100.0, 60.0)
_HALF = _finger_state(40.0, 0.0, 50.0)

#: Canonical gestures: per long finger (mcp_flex, mcp_abd, pip, dip), thumb (cmc_flex, cmc_abd, mcp, mcp_abd, ip),
#: palm cup. Angles in degrees.
GESTURES: Dict[str, Dict[str, Tuple[float, ...]]] = {
    "open": {
        "index": (0, 12, 0, 0),
        "middle": (0, 0, 0, 0),
        "ring": (0, -8, 0, 0),
        "little": (0, -18, 0, 0),
        "thumb": (-15, 5, 5, 0, 5),
        "cup": (2,),
    },
    "relaxed": {
        "index": (15, 4, 20, 10),
        "middle": (20, 0, 25, 12),
        "ring": (25, -3, 30, 15),
        "little": (30, -6, 32, 16),
        "thumb": (0, 15, 15, 0, 15),
        "cup": (6,),
    },
    "fist": {
        "index": _CURLED,
        "middle": _CURLED,
        "ring": _CURLED,
        "little": _CURLED,
        "thumb": (40, 20, 45, 0, 40),
        "cup": (12,),
    },
    "point": {
        "index": _STRAIGHT,
        "middle": _CURLED,
        "ring": _CURLED,
        "little": _CURLED,
        "thumb": (35, 20, 40, 0, 40),
        "cup": (10,),
    },
    "pinch": {
        "index": (35, 0, 45, 25),
        "middle": (10, 0, 15, 8),
        "ring": (8, -4, 10, 5),
        "little": (6, -10, 8, 4),
        "thumb": (20, 45, 20, 0, 20),
        "cup": (6,),
    },
    "ok": {
        "index": (40, 5, 55, 30),
        "middle": (5, 0, 5, 3),
        "ring": (5, -8, 5, 3),
        "little": (5, -18, 5, 3),
        "thumb": (22, 48, 25, 0, 25),
        "cup": (5,),
    },
    "thumbs_up": {
        "index": _CURLED,
        "middle": _CURLED,
        "ring": _CURLED,
        "little": _CURLED,
        "thumb": (25, 5, 0, 0, 0),
        "cup": (12,),
    },
    "victory": {
        "index": (0, 16, 3, 2),
        "middle": (0, -8, 3, 2),
        "ring": _CURLED,
        "little": _CURLED,
        "thumb": (35, 20, 40, 0, 40),
        "cup": (10,),
    },
    "grasp_cylinder": {
        "index": (50, 0, 60, 35),
        "middle": (52, 0, 62, 36),
        "ring": (54, -2, 62, 36),
        "little": (56, -5, 60, 34),
        "thumb": (15, 45, 15, 0, 15),
        "cup": (10,),
    },
    "grasp_sphere": {
        "index": (35, 12, 40, 25),
        "middle": (38, 0, 42, 25),
        "ring": (40, -8, 42, 25),
        "little": (42, -16, 40, 24),
        "thumb": (5, 45, 15, 0, 20),
        "cup": (12,),
    },
    "three": {
        "index": _STRAIGHT,
        "middle": _STRAIGHT,
        "ring": _STRAIGHT,
        "little": _CURLED,
        "thumb": (35, 28, 35, 0, 40),
        "cup": (8,),
    },
    "call": {
        "index": _CURLED,
        "middle": _CURLED,
        "ring": _CURLED,
        "little": (0, -20, 3, 2),
        "thumb": (-12, 20, 0, 0, 0),
        "cup": (10,),
    },
    "rock": {
        "index": (0, 10, 3, 2),
        "middle": _CURLED,
        "ring": _CURLED,
        "little": (0, -18, 3, 2),
        "thumb": (32, 25, 35, 0, 40),
        "cup": (8,),
    },
    "claw": {
        "index": (10, 8, 75, 55),
        "middle": (10, 0, 80, 55),
        "ring": (12, -6, 80, 55),
        "little": (15, -14, 75, 50),
        "thumb": (5, 35, 25, 0, 40),
        "cup": (8,),
    },
}
GRASP_GESTURES = ("grasp_cylinder", "grasp_sphere")
CONTACT_GESTURES = ("pinch", "ok")


def gesture_pose(
    name: str, rng: Optional[np.random.Generator] = None, noise_deg: float = 0.0, shape: Optional[HandShape] = None
) -> HandPose:
    """The canonical gesture ``name`` (see :data:`GESTURES`), optionally perturbed by Gaussian noise, clipped to
    the joint limits. The forearm (wrist_flex/dev) is drawn at random when ``rng`` is given, else straight.
    For the thumb-index contact gestures ('pinch', 'ok') the thumb is posed by inverse kinematics onto the
    index finger pad of ``shape`` (default: the average hand)."""
    if name not in GESTURES:
        raise ValueError(f"unknown gesture {name!r}; expected one of {', '.join(GESTURES)}")
    spec = GESTURES[name]
    a = np.zeros(NUM_DOF)
    t = spec["thumb"]
    a[_DOF["thumb_cmc_flex"]], a[_DOF["thumb_cmc_abd"]], a[_DOF["thumb_mcp_flex"]] = t[0], t[1], t[2]
    a[_DOF["thumb_mcp_abd"]], a[_DOF["thumb_ip_flex"]] = t[3], t[4]
    for f in LONG_FINGERS:
        for j, v in zip(("mcp_flex", "mcp_abd", "pip_flex", "dip_flex"), spec[f]):
            a[_DOF[f"{f}_{j}"]] = v
    a[_DOF["palm_cup"]] = spec["cup"][0]
    if rng is not None:
        a = a + rng.normal(0.0, noise_deg, NUM_DOF) * _NOISE_WEIGHT
        a[_DOF["wrist_flex"]] = rng.normal(0.0, 25.0)
        a[_DOF["wrist_dev"]] = rng.normal(0.0, 10.0)
    pose = HandPose(np.clip(a, LIMITS_LO, LIMITS_HI), f"gesture:{name}")
    if name in CONTACT_GESTURES:
        shape = default_shape() if shape is None else shape
        posed = forward_kinematics(shape, pose)
        gap = 0.8 * (shape.radius("index", 3) + shape.radius("thumb", 3))
        target = posed.xyz[8] + posed.frames[8][:, 2] * gap - posed.frames[8][:, 1] * 0.004
        pose = thumb_to_target(shape, pose, target)
    return pose


#: Relative noise per DOF for gesture perturbation (abductions and cupping move less than flexions).
_NOISE_WEIGHT = np.array([0.4 if ("abd" in n or n == "palm_cup") else 1.0 for n in DOF_NAMES])


def _uniform_pose(rng: np.random.Generator) -> HandPose:
    a = rng.uniform(LIMITS_LO, LIMITS_HI)
    return HandPose(a, "uniform")


def _synergy_pose(rng: np.random.Generator) -> HandPose:
    """Correlated curls: one global grasp level, neighbour-correlated per-finger deviations, DIP coupled to PIP."""
    a = np.zeros(NUM_DOF)
    g = float(rng.beta(0.9, 0.9))  # global curl 0..1, U-shaped-ish: many open and many closed hands
    style = float(rng.uniform(0.0, 1.0))  # 0: curl at the MCP (flat grasp), 1: curl at the PIP (hook)
    dev = 0.0
    spread = float(rng.uniform(-0.3, 1.0)) * (1.0 - g)
    for i, f in enumerate(LONG_FINGERS):
        dev = 0.6 * dev + float(rng.normal(0.0, 0.16))  # AR(1) along the fingers: neighbours correlate
        c = float(np.clip(g + dev + 0.05 * i * g, 0.0, 1.0))
        mcp = c * (95.0 * (1.0 - 0.5 * style) + 10.0) - 10.0 * (1 - c) * float(rng.uniform(0, 1))
        pip = c * (105.0 * (0.55 + 0.45 * style)) + float(rng.normal(0, 5))
        dip = (0.65 + float(rng.normal(0, 0.08))) * pip + float(rng.normal(0, 4))
        abd_dir = {"index": 1.0, "middle": 0.1, "ring": -0.6, "little": -1.0}[f]
        abd = abd_dir * spread * 20.0 + float(rng.normal(0, 3))
        a[_DOF[f"{f}_mcp_flex"]], a[_DOF[f"{f}_mcp_abd"]] = mcp, abd
        a[_DOF[f"{f}_pip_flex"]], a[_DOF[f"{f}_dip_flex"]] = pip, dip
    tc = float(np.clip(g + rng.normal(0, 0.3), 0, 1))  # thumb curl correlates with the fingers
    a[_DOF["thumb_cmc_flex"]] = -10 + 50 * tc + float(rng.normal(0, 6))
    a[_DOF["thumb_cmc_abd"]] = float(rng.uniform(-5, 55))
    a[_DOF["thumb_mcp_flex"]] = 55 * tc + float(rng.normal(0, 6))
    a[_DOF["thumb_mcp_abd"]] = float(rng.normal(0, 4))
    a[_DOF["thumb_ip_flex"]] = 70 * tc + float(rng.normal(0, 8))
    a[_DOF["palm_cup"]] = 18 * g * float(rng.uniform(0.3, 1.0))
    a[_DOF["wrist_flex"]] = rng.normal(0.0, 25.0)
    a[_DOF["wrist_dev"]] = rng.normal(0.0, 10.0)
    return HandPose(np.clip(a, LIMITS_LO, LIMITS_HI), "synergy")


def sample_pose(
    rng: np.random.Generator,
    weights: Tuple[float, float, float] = (0.2, 0.4, 0.4),
    gesture_noise_deg: float = 7.0,
    shape: Optional[HandShape] = None,
) -> HandPose:
    """A natural pose from the mixture (uniform angles, grasp synergies, perturbed gestures) with ``weights``."""
    w = np.asarray(weights, dtype=np.float64)
    kind = int(rng.choice(3, p=w / w.sum()))
    if kind == 0:
        return _uniform_pose(rng)
    if kind == 1:
        return _synergy_pose(rng)
    names = tuple(GESTURES)
    return gesture_pose(names[int(rng.integers(len(names)))], rng, gesture_noise_deg, shape)


# ----------------------------------------------------------------------------------------------------------
# forward kinematics


def _rot_x(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _dir(angle_deg: float, elev_deg: float) -> np.ndarray:
    """Unit vector at ``angle_deg`` from +y towards +x, elevated ``elev_deg`` towards +z."""
    a, e = math.radians(angle_deg), math.radians(elev_deg)
    return np.array([math.sin(a) * math.cos(e), math.cos(a) * math.cos(e), math.sin(e)])


def _cross(a: Sequence[float], b: Sequence[float]) -> Tuple[float, float, float]:
    """Cross product of two 3-vectors as python floats (much faster than np.cross for single vectors)."""
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _frame(y: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """Right-handed rotation with columns (x, y, z): y given, z = z_hint made orthogonal to y, x = y cross z."""
    y0, y1, y2 = float(y[0]), float(y[1]), float(y[2])
    n = math.sqrt(y0 * y0 + y1 * y1 + y2 * y2)
    y0, y1, y2 = y0 / n, y1 / n, y2 / n
    h0, h1, h2 = float(z_hint[0]), float(z_hint[1]), float(z_hint[2])
    d = h0 * y0 + h1 * y1 + h2 * y2
    z0, z1, z2 = h0 - d * y0, h1 - d * y1, h2 - d * y2
    n = math.sqrt(z0 * z0 + z1 * z1 + z2 * z2)
    z0, z1, z2 = z0 / n, z1 / n, z2 / n
    x0, x1, x2 = _cross((y0, y1, y2), (z0, z1, z2))
    return np.array([[x0, y0, z0], [x1, y1, z1], [x2, y2, z2]])


@dataclass
class Posed:
    """A posed right hand in its local frame.

    Attributes:
        xyz: (21, 3) keypoints in metres.
        frames: per keypoint, the (3, 3) rotation of the bone that ENDS there (columns: lateral x, along y,
            palmar z); the wrist's entry is the palm frame.
        forearm_dir: (3,) unit vector from the wrist towards the elbow.
        palm_frame: (3, 3) rotation of the palm (columns x radial, y distal, z palmar).
    """

    xyz: np.ndarray
    frames: List[np.ndarray]
    forearm_dir: np.ndarray
    palm_frame: np.ndarray


def forward_kinematics(shape: HandShape, pose: HandPose) -> Posed:
    """Keypoints (21, 3) of a right hand in the hand-local frame for ``shape`` and ``pose`` (angles in degrees)."""
    a = pose.angles
    xyz = np.zeros((NUM_KEYPOINTS, 3))
    frames: List[np.ndarray] = [np.eye(3)] * NUM_KEYPOINTS
    ez = np.array([0.0, 0.0, 1.0])
    cup = a[_DOF["palm_cup"]]
    for i, f in enumerate(LONG_FINGERS):
        mcp_i, pip_i, dip_i, tip_i = FINGER_CHAINS[f]
        c = cup * _CUP_SHARE[f]
        meta_dir = _dir(_META_ANGLE[f] + shape.meta_jitter[i], c)
        xyz[mcp_i] = meta_dir * shape.length(0, mcp_i)
        frames[mcp_i] = _frame(meta_dir, ez)
        # finger base frame: rest direction in the palm plane, tilted palmar by the metacarpal's cup share
        base = _frame(_dir(_FINGER_ANGLE[f], c), ez)
        R = base @ _rot_z(-a[_DOF[f"{f}_mcp_abd"]]) @ _rot_x(a[_DOF[f"{f}_mcp_flex"]])
        xyz[pip_i] = xyz[mcp_i] + R[:, 1] * shape.length(mcp_i, pip_i)
        frames[pip_i] = R
        R = R @ _rot_x(a[_DOF[f"{f}_pip_flex"]])
        xyz[dip_i] = xyz[pip_i] + R[:, 1] * shape.length(pip_i, dip_i)
        frames[dip_i] = R
        R = R @ _rot_x(a[_DOF[f"{f}_dip_flex"]])
        xyz[tip_i] = xyz[dip_i] + R[:, 1] * shape.length(dip_i, tip_i)
        frames[tip_i] = R
    _thumb_chain(shape, a, xyz, frames)
    palm = _frame(xyz[9] - xyz[0], ez)
    frames[0] = palm
    fore = palm @ _rot_x(a[_DOF["wrist_flex"]]) @ _rot_z(a[_DOF["wrist_dev"]])
    return Posed(xyz=xyz, frames=frames, forearm_dir=-fore[:, 1], palm_frame=palm)


def _thumb_chain(shape: HandShape, a: np.ndarray, xyz: np.ndarray, frames: List[np.ndarray]) -> None:
    """Fill keypoints 1-4 (and their bone frames) of the thumb for joint angles ``a`` (degrees)."""
    cmc_dir = _dir(*_THUMB_CMC_DIR)
    xyz[1] = cmc_dir * shape.length(0, 1)
    frames[1] = _frame(cmc_dir, np.array([0.0, 0.0, 1.0]))
    flex, abd = a[_DOF["thumb_cmc_flex"]], a[_DOF["thumb_cmc_abd"]]
    meta = _dir(_THUMB_REST[0] - flex, _THUMB_REST[1] + abd)
    # pad direction: towards the ulnar side (-x), turned palmar by the thumb's pronation
    twist = math.radians(_THUMB_TWIST[0] + _THUMB_TWIST[1] * (max(flex, 0.0) + max(abd, 0.0)))
    ulnar = np.array([-1.0, 0.0, 0.0]) + meta[0] * meta  # -x made orthogonal to meta
    ulnar /= np.linalg.norm(ulnar)
    palmar = np.array(_cross(ulnar, meta))
    if palmar[2] < 0:
        palmar = -palmar
    R = _frame(meta, math.cos(twist) * ulnar + math.sin(twist) * palmar)
    xyz[2] = xyz[1] + R[:, 1] * shape.length(1, 2)
    frames[2] = R
    R = R @ _rot_z(-a[_DOF["thumb_mcp_abd"]]) @ _rot_x(a[_DOF["thumb_mcp_flex"]])
    xyz[3] = xyz[2] + R[:, 1] * shape.length(2, 3)
    frames[3] = R
    R = R @ _rot_x(a[_DOF["thumb_ip_flex"]])
    xyz[4] = xyz[3] + R[:, 1] * shape.length(3, 4)
    frames[4] = R


_THUMB_IK_DOFS = np.array([_DOF[n] for n in ("thumb_cmc_flex", "thumb_cmc_abd", "thumb_mcp_flex", "thumb_ip_flex")])


def thumb_to_target(shape: HandShape, pose: HandPose, target: np.ndarray, iterations: int = 8) -> HandPose:
    """Copy of ``pose`` whose thumb angles (CMC 2 DOF, MCP, IP; within limits) bring the thumb tip closest to
    ``target`` (3,) in the hand-local frame: damped Gauss-Newton with a numerical Jacobian."""
    a = pose.angles.copy()
    xyz = np.zeros((NUM_KEYPOINTS, 3))
    frames: List[np.ndarray] = [np.eye(3)] * NUM_KEYPOINTS
    lo, hi = LIMITS_LO[_THUMB_IK_DOFS], LIMITS_HI[_THUMB_IK_DOFS]
    for _ in range(iterations):
        _thumb_chain(shape, a, xyz, frames)
        r = xyz[4] - target
        if np.dot(r, r) < 1e-8:
            break
        J = np.empty((3, len(_THUMB_IK_DOFS)))
        for k, dof in enumerate(_THUMB_IK_DOFS):
            b = a.copy()
            b[dof] += 0.5
            _thumb_chain(shape, b, xyz, frames)
            J[:, k] = (xyz[4] - target - r) / 0.5
        JtJ = J.T @ J
        step = np.linalg.solve(JtJ + (1e-3 * np.trace(JtJ) / 4 + 1e-12) * np.eye(len(_THUMB_IK_DOFS)), -J.T @ r)
        a[_THUMB_IK_DOFS] = np.clip(a[_THUMB_IK_DOFS] + np.clip(step, -25, 25), lo, hi)
    return HandPose(a, pose.kind)


# ----------------------------------------------------------------------------------------------------------
# surface primitives of the hand (local frame)


@dataclass
class Part:
    """One analytic surface primitive of the hand, in the hand-local frame.

    kind 'cone': a round cone (convex hull of sphere (a, ra) and sphere (b, rb)); kind 'ellipsoid': centre ``a``
    and axes ``axes`` (3, 3) whose COLUMNS are the semi-axis vectors.

    Attributes:
        joints: keypoints this part belongs to (visibility: a keypoint seen on one of its parts is visible).
        material: 'skin', 'sleeve'.
        nail: for distal phalanges, the dorsal unit direction (-z of the bone frame): nails are drawn there.
    """

    kind: str
    a: np.ndarray
    b: Optional[np.ndarray] = None
    ra: float = 0.0
    rb: float = 0.0
    axes: Optional[np.ndarray] = None
    joints: Tuple[int, ...] = ()
    material: str = "skin"
    nail: Optional[np.ndarray] = None
    #: for finger segments and metacarpals: the dorsal unit direction and which ends are joints (A, B), for the
    #: knuckle and crease texture
    dorsal: Optional[np.ndarray] = None
    joint_ends: Tuple[bool, bool] = (False, False)


#: Max depth (m) of the hand surface in front of each keypoint for the keypoint to count as visible, before
#: scaling: MCPs sit under the palm pad, the wrist inside the wrist.
_SURFACE_DEPTH = np.array([0.030, 0.026, 0.018, 0.015, 0.006] + [0.022, 0.015, 0.013, 0.006] * 4)


#: Radius of the forearm at the elbow end, for clearance computations (times scale x thickness).
FOREARM_RADIUS = 0.029


def surface_depths(shape: HandShape) -> np.ndarray:
    """(21,) max depth in metres of the hand surface in front of each keypoint that still shows the keypoint."""
    return _SURFACE_DEPTH * shape.scale * shape.thickness


def hand_parts(
    shape: HandShape,
    posed: Posed,
    forearm: bool = True,
    sleeve_from: Optional[float] = None,
    forearm_length: Optional[float] = None,
) -> List[Part]:
    """The surface primitives of the posed hand (local frame, right hand).

    Args:
        forearm: add a forearm (round cone) from the wrist towards the elbow.
        sleeve_from: distance in metres from the wrist where a sleeve starts (None: bare forearm).
        forearm_length: visible forearm length in metres (default 0.26 x scale).
    """
    x = posed.xyz
    P = posed.palm_frame
    s = shape.scale * shape.thickness
    parts: List[Part] = []
    # fingers: three round cones each; the distal one ends in a sphere whose surface passes through the tip
    for f in ("thumb",) + LONG_FINGERS:
        chain = FINGER_CHAINS[f]
        r = [shape.radius(f, j) for j in range(4)]
        if f == "thumb":
            segs = [(1, 2, r[0], r[1]), (2, 3, r[1], r[2]), (3, 4, r[2], r[3])]
        else:
            segs = [(chain[k], chain[k + 1], r[k], r[k + 1]) for k in range(3)]
        for k, (i, j, ri, rj) in enumerate(segs):
            end = x[j]
            nail = None
            if k == 2:
                along = posed.frames[j][:, 1]
                end = x[j] - along * (rj - 0.0004 * s)  # tip keypoint 0.4 mm inside the pad
                nail = -posed.frames[j][:, 2]
            dorsal = -posed.frames[j][:, 2]
            parts.append(
                Part(
                    "cone",
                    x[i].copy(),
                    end.copy(),
                    ri,
                    rj,
                    joints=(i, j),
                    nail=nail,
                    dorsal=dorsal,
                    joint_ends=(True, k < 2),
                )
            )
    # metacarpals of the long fingers (knuckle row and back of the hand)
    for f in LONG_FINGERS:
        m = FINGER_CHAINS[f][0]
        start = x[m] * 0.22
        parts.append(
            Part(
                "cone",
                start,
                x[m].copy(),
                0.0095 * s,
                shape.radius(f, 0) * 1.03,
                joints=(0, m),
                dorsal=-P[:, 2],
                joint_ends=(False, True),
            )
        )
    # palm body: a flattened ellipsoid between wrist and knuckles
    mcps = x[[5, 9, 13, 17]]
    centre = 0.5 * mcps.mean(axis=0) + P[:, 0] * 0.002 * s
    half_len = 0.6 * np.linalg.norm(mcps.mean(axis=0) - x[0])
    half_w = 0.5 * np.linalg.norm(x[5] - x[17]) + 0.013 * s
    axes = np.column_stack([P[:, 0] * half_w, P[:, 1] * half_len, P[:, 2] * 0.0135 * s])
    parts.append(Part("ellipsoid", centre, axes=axes, joints=(0, 1, 5, 9, 13, 17)))
    # carpus: the wrist end of the palm
    axes = np.column_stack([P[:, 0] * 0.027 * s, P[:, 1] * 0.028 * s, P[:, 2] * 0.016 * s])
    parts.append(Part("ellipsoid", x[0] + P[:, 1] * 0.012 * s, axes=axes, joints=(0, 1)))
    # thenar eminence: between the thumb metacarpal and the palm
    c = 0.45 * x[1] + 0.35 * x[2] + 0.2 * x[5] * 0.5 + P[:, 2] * 0.004 * s
    u = x[2] - x[0]
    u = u - np.dot(u, P[:, 2]) * P[:, 2]
    u /= np.linalg.norm(u)
    v = np.array(_cross(P[:, 2], u))
    axes = np.column_stack([u * 0.030 * s, v * 0.016 * s, P[:, 2] * 0.013 * s])
    parts.append(Part("ellipsoid", c, axes=axes, joints=(0, 1, 2)))
    # hypothenar eminence
    c = 0.55 * x[17] * 0.75 + P[:, 0] * -0.004 * s + P[:, 2] * 0.003 * s
    axes = np.column_stack([P[:, 0] * 0.013 * s, P[:, 1] * 0.032 * s, P[:, 2] * 0.011 * s])
    parts.append(Part("ellipsoid", c, axes=axes, joints=(0, 17)))
    if forearm:
        d = posed.forearm_dir
        length = 0.26 * shape.scale if forearm_length is None else max(float(forearm_length), 0.01)
        r0, r1 = 0.021 * s, 0.021 * s + 0.008 * s * length / (0.26 * shape.scale)
        if sleeve_from is None or sleeve_from >= length:
            parts.append(Part("cone", x[0] + d * 0.004, x[0] + d * length, r0, r1, joints=(0,)))
        else:
            cut = max(sleeve_from, 0.01)
            rc = r0 + (r1 - r0) * cut / length
            parts.append(Part("cone", x[0] + d * 0.004, x[0] + d * cut, r0, rc, joints=(0,)))
            parts.append(Part("cone", x[0] + d * cut, x[0] + d * length, rc + 0.004, r1 + 0.006, material="sleeve"))
    return parts
