"""A small random-hand generator for tests, independent of the package's synthetic renderer.

Hands are built finger by finger from bone lengths with random flexion and splay, then rotated uniformly at
random and placed 0.2-1.5 m in front of a random pinhole camera.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from hand_pose_25d.skeleton import DEFAULT_BONE_LENGTHS, FINGERS

_SPLAY_DEG = {"thumb": -55.0, "index": -12.0, "middle": 0.0, "ring": 10.0, "little": 22.0}


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix (3, 3) about ``axis`` by ``angle`` radians."""
    x, y, z = axis / np.linalg.norm(axis)
    c, s = np.cos(angle), np.sin(angle)
    C = 1 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
        ]
    )


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (from a random unit quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def random_hand(
    rng: np.random.Generator, prop_sigma: float = 0.08, bones: Optional[Dict[Tuple[int, int], float]] = None
) -> np.ndarray:
    """One hand (21, 3) in metres in a hand-local frame, wrist at the origin."""
    bones = DEFAULT_BONE_LENGTHS if bones is None else bones
    xyz = np.zeros((21, 3))
    size = rng.uniform(0.8, 1.2)
    for finger, chain4 in FINGERS.items():
        ang = np.deg2rad(_SPLAY_DEG[finger] + rng.normal(0, 6))
        direction = np.array([np.sin(ang), np.cos(ang), 0.0])
        chain = (0,) + chain4
        R = np.eye(3)
        if finger == "thumb":
            R = axis_angle(np.array([0.0, 1.0, 0.0]), np.deg2rad(rng.uniform(-30, 60)))
        for i in range(4):
            length = bones[(chain[i], chain[i + 1])] * size * np.exp(rng.normal(0, prop_sigma))
            if i > 0:
                R = R @ axis_angle(np.array([1.0, 0.0, 0.0]), np.deg2rad(rng.uniform(-10, 95 if i < 3 else 80)))
            xyz[chain[i + 1]] = xyz[chain[i]] + R @ direction * length
    return xyz


def random_camera(rng: np.random.Generator, width: int = 640, height: int = 480) -> np.ndarray:
    """Random pinhole intrinsics (3, 3): focal length 300-1500 px, slight aspect and principal point jitter."""
    f = rng.uniform(300, 1500)
    return np.array(
        [
            [f * rng.uniform(0.95, 1.05), 0.0, width / 2 + rng.normal(0, 10)],
            [0.0, f, height / 2 + rng.normal(0, 10)],
            [0.0, 0.0, 1.0],
        ]
    )


def random_scenes(
    rng: np.random.Generator, n: int, prop_sigma: float = 0.08, bones: Optional[Dict[Tuple[int, int], float]] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` randomly oriented hands (n, 21, 3) in camera coordinates, wrist 0.2-1.5 m away, and their K (n, 3, 3).

    Every keypoint is at least 5 cm in front of the camera (a hand reaching behind the camera is redrawn).
    """
    hands = np.empty((n, 21, 3))
    Ks = np.empty((n, 3, 3))
    i = 0
    while i < n:
        h = random_hand(rng, prop_sigma, bones) @ random_rotation(rng).T
        z = rng.uniform(0.2, 1.5)
        t = np.array([rng.uniform(-0.3, 0.3) * z, rng.uniform(-0.2, 0.2) * z, z])
        h = h - h[0] + t
        if h[:, 2].min() < 0.05:
            continue
        hands[i] = h
        Ks[i] = random_camera(rng)
        i += 1
    return hands, Ks
