"""Synthetic scenes: camera, hand placement, occluders, shading, visibility, and the two render modes
(full camera frames and hand-centred training crops rendered directly with the crop's intrinsics).

numpy + OpenCV only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ...skeleton import NUM_KEYPOINTS
from .appearance import random_color, sample_skin
from .hand_model import (
    FINGER_CHAINS,
    FOREARM_RADIUS,
    HandPose,
    HandShape,
    Posed,
    forward_kinematics,
    hand_parts,
    surface_depths,
)
from .raycast import CONE, PrimitiveSet, RenderBuffers, render_primitives
from .synthetic_config import SyntheticConfig

__all__ = [
    "Appearance",
    "Scene",
    "MIRROR",
    "random_rotation",
    "sample_intrinsics",
    "sample_appearance",
    "sample_realism",
    "kelvin_to_rgb",
    "shadow_factor",
    "build_scene",
    "place_hand",
    "keypoint_visibility",
    "shade",
    "render_layer",
]

#: Reflection through the hand's local Y-Z plane: a right hand's geometry becomes a left hand's.
MIRROR = np.diag([-1.0, 1.0, 1.0])

# material slots of a scene's material table
SKIN, SLEEVE, FIRST_OBJECT = 0, 1, 2


@dataclass
class Appearance:
    """Colours and lighting of one scene (RGB float32 in [0, 1]; directions in the camera frame)."""

    skin: np.ndarray
    palm_skin: np.ndarray
    nail: Optional[np.ndarray]
    sleeve: np.ndarray
    light_dir: np.ndarray  # unit vector from the surface towards the light
    light_color: np.ndarray
    ambient: float
    ambient_color: np.ndarray
    wrap: float
    specular: float
    shininess: float
    albedo_noise: float
    albedo_cells: float
    skin_material: bool = True  # False: a glove (no palm lightening, no nails)
    # realism (see sample_realism; the defaults are the renderer before it)
    texture: float = 0.0  # skin texture strength
    subsurface: float = 0.0
    shadow: float = 0.0  # fraction of the key light a shadow removes (0: no shadows)
    sleeve_texture: float = 0.0
    sleeve_stripes: Optional[np.ndarray] = None  # second colour of a striped sleeve
    sleeve_period: float = 0.02  # metres along the arm (stripes, folds)
    texture_seed: int = 0


@dataclass
class Scene:
    """One hand (and its occluders) in the frame of a camera with intrinsics ``K`` and image size (width, height).

    Attributes:
        G: (3, 3) hand-local -> camera linear map (rotation, times :data:`MIRROR` for a left hand).
        T: (3,) camera-frame position of the wrist (metres).
        xyz: (21, 3) keypoints in the camera frame (metres).
        prims: every primitive in the camera frame; ids below ``num_hand`` belong to the hand.
        materials: (M, 3) albedo table indexed by the primitives' material ids.
        palm_normal: (3,) camera-frame unit normal out of the palm (palm lightening of dark skin).
        surface_depth: (21,) max depth of the hand surface in front of a keypoint that still shows it.
    """

    K: np.ndarray
    width: int
    height: int
    handedness: str
    shape: HandShape
    pose: HandPose
    G: np.ndarray
    T: np.ndarray
    xyz: np.ndarray
    prims: PrimitiveSet
    num_hand: int
    materials: np.ndarray
    palm_normal: np.ndarray
    surface_depth: np.ndarray
    appearance: Appearance
    info: Dict[str, object] = field(default_factory=dict)
    #: primitive id -> (dorsal unit direction in the camera frame, (joint at A, joint at B)) of finger segments and
    #: metacarpals (skin texture)
    dorsal: Dict[int, Tuple[np.ndarray, Tuple[bool, bool]]] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------
# random camera, rotation, appearance


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation matrix (3, 3) (normalised Gaussian quaternion)."""
    q = rng.normal(size=4)
    return quat_to_matrix(q / np.linalg.norm(q))


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion (w, x, y, z)."""
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) with w >= 0 of a rotation matrix (3, 3)."""
    m = R
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix (3, 3) about ``axis`` by ``angle`` radians."""
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    h = 0.5 * angle
    return quat_to_matrix(np.concatenate([[math.cos(h)], math.sin(h) * axis]))


def sample_rotation(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """Hand-local -> camera rotation: uniform, or (``palm_facing_prob``) with the palm or the back of the hand
    within ``palm_facing_max_deg`` of facing the camera and any roll."""
    if rng.random() >= cfg.palm_facing_prob:
        return random_rotation(rng)
    # palm normal (local +z) towards the camera (-z) or away from it (+z), inside a spherical cap
    cos_max = math.cos(math.radians(cfg.palm_facing_max_deg))
    cz = rng.uniform(cos_max, 1.0)
    phi = rng.uniform(0, 2 * math.pi)
    sz = math.sqrt(max(0.0, 1 - cz * cz))
    sign = -1.0 if rng.random() < 0.5 else 1.0
    target = np.array([sz * math.cos(phi), sz * math.sin(phi), sign * cz])
    # a rotation taking +z to target, then a random roll about target
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(z, target)
    s = np.linalg.norm(v)
    R0 = np.eye(3) if s < 1e-9 else axis_angle(v, math.atan2(s, float(np.dot(z, target))))
    if s < 1e-9 and target[2] < 0:
        R0 = np.diag([1.0, -1.0, -1.0])
    return axis_angle(target, rng.uniform(-math.pi, math.pi)) @ R0


def sample_intrinsics(rng: np.random.Generator, width: int, height: int, cfg: SyntheticConfig) -> np.ndarray:
    """Random pinhole K (3, 3) for a ``width`` x ``height`` image: horizontal FOV in ``hfov_range_deg``,
    fy/fx jitter, principal point near the centre (pixel-centre convention)."""
    hfov = math.radians(rng.uniform(*cfg.hfov_range_deg))
    fx = (width / 2.0) / math.tan(hfov / 2.0)
    fy = fx * (1.0 + rng.uniform(-cfg.focal_aspect_jitter, cfg.focal_aspect_jitter))
    j = cfg.principal_point_jitter
    cx = (width - 1) / 2.0 + float(np.clip(rng.normal(0, j), -2 * j, 2 * j)) * width
    cy = (height - 1) / 2.0 + float(np.clip(rng.normal(0, j), -2 * j, 2 * j)) * height
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def sample_appearance(rng: np.random.Generator, cfg: SyntheticConfig) -> Appearance:
    """Skin / glove colours, nails, sleeve and lighting of one scene."""
    glove = rng.random() < cfg.glove_prob
    if glove:
        skin = random_color(rng)
        dark = 0.0
    else:
        skin, dark = sample_skin(rng)
    # palms and soles are lighter than the back of the hand, markedly so for dark skin
    palm = skin + (np.array([0.93, 0.76, 0.66], np.float32) - skin) * np.float32((0.08 + 0.35 * dark) * (not glove))
    nail = None
    if not glove and rng.random() < cfg.nail_prob:
        if rng.random() < 0.2:  # polish
            nail = random_color(rng, saturation=rng.uniform(0.3, 1.0))
        else:
            nail = (skin * 0.55 + np.array([0.95, 0.82, 0.80], np.float32) * 0.45).astype(np.float32)
    # light mostly from the camera's side, sometimes grazing or from behind
    if rng.random() < 0.85:
        ldir = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), -rng.uniform(0.25, 1.5)])
    else:
        ldir = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-0.25, 0.8)])
    ldir /= np.linalg.norm(ldir)
    warm = rng.uniform(-0.12, 0.12)
    light = np.array([1.0 + warm, 1.0, 1.0 - warm], np.float32) * np.float32(rng.uniform(0.8, 1.25))
    amb_tint = np.exp(rng.normal(0, 0.06, 3)).astype(np.float32)
    specular = float(rng.uniform(0.03, 0.25)) if rng.random() < cfg.specular_prob else 0.0
    return Appearance(
        skin=skin.astype(np.float32),
        palm_skin=palm.astype(np.float32),
        nail=nail,
        sleeve=random_color(rng),
        light_dir=ldir,
        light_color=light,
        ambient=float(rng.uniform(*cfg.ambient_range)),
        ambient_color=amb_tint,
        wrap=float(rng.uniform(0.0, 0.5)),
        specular=specular,
        shininess=float(rng.uniform(6, 40)),
        albedo_noise=cfg.albedo_noise * float(rng.uniform(0.3, 1.0)),
        albedo_cells=float(rng.uniform(1.5, 5.0)),
        skin_material=not glove,
    )


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """Linear RGB (3,) of a black body at ``kelvin`` (Tanner Helland's fit of the CIE data), luminance 1."""
    t = kelvin / 100.0
    r = 1.0 if t <= 66 else 1.2929 * (t - 60) ** -0.1332
    g = 0.3901 * math.log(t) - 0.6318 if t <= 66 else 1.1298 * (t - 60) ** -0.0755
    b = 1.0 if t >= 66 else (0.0 if t <= 19 else 0.5432 * math.log(t - 10) - 1.1962)
    rgb = np.clip(np.array([r, g, b]), 0.0, 1.0) ** 2.2  # the fit is in sRGB
    return (rgb / max(float(rgb @ np.array([0.2126, 0.7152, 0.0722])), 1e-6)).astype(np.float32)


def sample_realism(rng: np.random.Generator, cfg: SyntheticConfig, ap: Appearance) -> Appearance:
    """Fill in ``ap``'s realism settings from their own stream ``rng`` (in place; also returned): skin and sleeve
    texture strengths, colour temperature of the key and ambient light, soft shadows. With the realism settings off
    (:data:`~.synthetic_config.LEGACY_SETTINGS`) nothing changes and nothing is drawn."""
    ap.texture = float(cfg.skin_texture * rng.uniform(0.6, 1.2)) if cfg.skin_texture > 0 else 0.0
    ap.subsurface = float(cfg.subsurface * rng.uniform(0.6, 1.2)) if cfg.subsurface > 0 else 0.0
    if cfg.sleeve_texture > 0:
        ap.sleeve_texture = float(cfg.sleeve_texture * rng.uniform(0.5, 1.2))
        ap.sleeve_period = float(math.exp(rng.uniform(math.log(0.008), math.log(0.05))))
        if rng.random() < 0.15:
            ap.sleeve_stripes = random_color(rng)
    lo, hi = cfg.light_temperature_range
    if hi > 0:
        kelvin = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        # the camera's white balance takes out part of the light's colour (a real photo under tungsten light is
        # warm, not orange)
        key = 0.3 * kelvin_to_rgb(kelvin) + 0.7
        amb = 0.3 * kelvin_to_rgb(float(np.clip(kelvin * math.exp(rng.normal(0.15, 0.3)), 1500, 15000))) + 0.7
        ap.light_color = (key * float(ap.light_color[1])).astype(np.float32)
        ap.ambient_color = (amb * ap.ambient_color).astype(np.float32)
    if cfg.shadow_prob > 0 and rng.random() < cfg.shadow_prob:
        ap.shadow = float(rng.uniform(*cfg.shadow_strength_range))
    ap.texture_seed = int(rng.integers(2**31))
    return ap


# ----------------------------------------------------------------------------------------------------------
# hand + objects in the camera frame


def _hand_prims(
    shape: HandShape,
    posed: Posed,
    forearm: bool,
    sleeve_from: Optional[float],
    forearm_length: Optional[float],
    G: np.ndarray,
    T: np.ndarray,
) -> PrimitiveSet:
    """The hand's primitives mapped to the camera frame by x -> G x + T."""
    ps, _ = _hand_prims_dorsal(shape, posed, forearm, sleeve_from, forearm_length, G, T)
    return ps


def _hand_prims_dorsal(
    shape: HandShape,
    posed: Posed,
    forearm: bool,
    sleeve_from: Optional[float],
    forearm_length: Optional[float],
    G: np.ndarray,
    T: np.ndarray,
) -> Tuple[PrimitiveSet, Dict[int, Tuple[np.ndarray, Tuple[bool, bool]]]]:
    """:func:`_hand_prims` and the camera-frame dorsal directions of the finger segments and metacarpals."""
    ps = PrimitiveSet()
    dorsal: Dict[int, Tuple[np.ndarray, Tuple[bool, bool]]] = {}
    for p in hand_parts(shape, posed, forearm=forearm, sleeve_from=sleeve_from, forearm_length=forearm_length):
        mat = SLEEVE if p.material == "sleeve" else SKIN
        if p.kind == "cone":
            nail = None if p.nail is None else G @ p.nail
            pid = ps.add_cone(G @ p.a + T, G @ p.b + T, p.ra, p.rb, material=mat, joints=p.joints, nail=nail)
            if p.dorsal is not None:
                dorsal[pid] = (G @ p.dorsal, p.joint_ends)
        else:
            ps.add_ellipsoid(G @ p.a + T, G @ p.axes, material=mat, joints=p.joints)
    return ps, dorsal


def _outside(p: np.ndarray, r: float, K: np.ndarray, width: int, height: int) -> bool:
    """Whether a sphere (centre ``p``, radius ``r``; camera frame) projects wholly outside the image."""
    if p[2] <= 0.02:
        return True
    u = K[0, 0] * p[0] / p[2] + K[0, 2]
    v = K[1, 1] * p[1] / p[2] + K[1, 2]
    m = K[0, 0] * r / p[2]
    return bool(u < -m or v < -m or u > width + m or v > height + m)


def _add_upper_arm(
    prims: PrimitiveSet,
    shape: HandShape,
    fore_dir: np.ndarray,
    T: np.ndarray,
    fore_len: float,
    material: int,
    view: Optional[Tuple[np.ndarray, int, int]] = None,
) -> None:
    """Upper arm from the elbow (camera frame), bent 60 degrees away from the camera (the body is usually behind
    the hand), so that the forearm does not end in a visible cap; skipped when it would come near the camera.

    With ``view`` = (K, width, height) the arm is made long enough (up to 1.6 m) to leave that image: bends of 20,
    40, 60 and 80 degrees (away from the camera, then turned about the forearm by up to 100 degrees) are tried in
    turn, the first that leaves the image taken, so that the arm continues nearly straight out of view as in
    close-up photos; if none leaves it, the 60 degree bend gets the full length.
    """
    s = shape.scale * shape.thickness
    d = fore_dir / np.linalg.norm(fore_dir)
    e = np.array([0.0, 0.0, 1.0]) - d[2] * d
    if np.linalg.norm(e) < 1e-3:
        e = np.array([0.0, 1.0, 0.0]) - d[1] * d
    e /= np.linalg.norm(e)
    u = 0.5 * d + 0.866 * e
    elbow = T + d * fore_len
    r_elbow = 0.021 * s + 0.008 * s + (0.006 if material == SLEEVE else 0.0)
    length = 0.3 * shape.scale
    if view is not None:
        K, width, height = view
        if not _outside(elbow, r_elbow, K, width, height):
            f = np.cross(d, e)
            best = None
            for bend in (20.0, 40.0, 60.0, 80.0):
                for turn in (0.0, 50.0, -50.0, 100.0, -100.0):
                    b, t = math.radians(bend), math.radians(turn)
                    cand = math.cos(b) * d + math.sin(b) * (math.cos(t) * e + math.sin(t) * f)
                    for L in np.geomspace(0.3 * shape.scale, 1.6, 14):
                        end = elbow + cand * L
                        if end[2] < 0.1:
                            break
                        if _outside(end, r_elbow + 0.012 + 0.02 * L, K, width, height):
                            if best is None or L < best[1]:
                                best = (cand, float(L))
                            break
                if best is not None:
                    break
            u, length = (best[0], best[1]) if best is not None else (u, 1.6)
    end = elbow + u * length
    if min(elbow[2], end[2]) < 0.1:
        return
    # the upper arm thickens towards the shoulder (about 2 cm over its first 30 cm, then slowly)
    grow = 0.012 + 0.02 * max(length - 0.3 * shape.scale, 0.0)
    prims.add_cone(elbow, end, r_elbow + 0.004, r_elbow + grow, material=material)


def _hand_sample_points(shape: HandShape, posed: Posed) -> Tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) along the finger bones with the local radius (N,), plus points on the palm's palmar
    surface (radius 0), for clearance tests (local frame)."""
    x = posed.xyz
    f = np.linspace(0.0, 1.0, 5)[:, None]
    pts, rad = [], []
    for finger, chain in FINGER_CHAINS.items():
        for j, (a, b) in enumerate(zip(chain[:-1], chain[1:])):
            ra, rb = shape.radius(finger, j), shape.radius(finger, j + 1)
            pts.extend(x[a] + (x[b] - x[a]) * f)
            rad.extend((ra + (rb - ra) * f).ravel())
    # palmar surface of the palm
    P = posed.palm_frame
    mc = posed.xyz[[5, 9, 13, 17]].mean(axis=0)
    s = shape.scale * shape.thickness
    for fy in (0.3, 0.55, 0.8):
        for fx in (-0.6, -0.2, 0.2, 0.6):
            c = mc * fy + P[:, 0] * fx * 0.5 * np.linalg.norm(posed.xyz[5] - posed.xyz[17])
            pts.append(c + P[:, 2] * 0.0135 * s)
            rad.append(0.0)
    return np.asarray(pts), np.asarray(rad)


def _held_object(
    rng: np.random.Generator,
    shape: HandShape,
    posed: Posed,
    gesture: str,
    prims: PrimitiveSet,
    material: int,
    G: np.ndarray,
    T: np.ndarray,
) -> Optional[str]:
    """Add an object grasped by the hand between palm and fingers (placed in the hand-local frame, added mapped
    by x -> G x + T); returns its kind or None when the hand leaves no room for one."""
    pts, rad = _hand_sample_points(shape, posed)
    x = posed.xyz
    P = posed.palm_frame
    s = shape.scale * shape.thickness
    mc = x[[5, 9, 13, 17]].mean(axis=0)
    width = np.linalg.norm(x[5] - x[17])
    surface = P[:, 2] * 0.0135 * s  # palmar surface of the palm, relative to its mid-plane
    radii = np.arange(0.008, 0.07, 0.002)
    sphere = gesture == "grasp_sphere" or (gesture != "grasp_cylinder" and rng.random() < 0.4)
    if sphere:
        grid = [(fy, fx) for fy in (0.45, 0.6, 0.75) for fx in (-0.25, 0.0, 0.25)]
        spots = np.array([mc * fy + P[:, 0] * fx * width + surface for fy, fx in grid])
        # the largest ball resting on the palm at each spot that no finger part intrudes into
        C = spots[:, None, :] + (radii[None, :, None] + 0.001) * P[:, 2]  # (spots, radii, 3)
        clear = np.linalg.norm(C[:, :, None, :] - pts, axis=-1) - rad  # (spots, radii, points)
        ok = np.all(clear >= radii[None, :, None] - 1e-4, axis=2)
    else:
        axis = (x[5] - x[17]) - np.dot(x[5] - x[17], P[:, 2]) * P[:, 2]
        axis /= np.linalg.norm(axis)
        half = float(rng.uniform(0.05, 0.12)) * shape.scale
        spots = np.array([mc * fy + surface for fy in (0.5, 0.62, 0.75, 0.88)])
        C = spots[:, None, :] + (radii[None, :, None] + 0.001) * P[:, 2]
        # distance of every hand point to each candidate axis segment
        rel = pts[None, None, :, :] - C[:, :, None, :]
        along = np.clip(rel @ axis, -half, half)
        clear = np.linalg.norm(rel - along[..., None] * axis, axis=-1) - rad
        ok = np.all(clear >= radii[None, :, None] - 1e-4, axis=2)
    # per spot the largest radius up to which every radius fits
    fits = np.cumprod(ok, axis=1).sum(axis=1)
    best = int(np.argmax(fits))
    if fits[best] < (3 if sphere else 1):
        return None
    r = float(radii[fits[best] - 1])
    centre = C[best, fits[best] - 1]
    if sphere:
        prims.add_sphere(G @ centre + T, r, material=material)
        return "sphere"
    shift = float(rng.uniform(-0.3, 0.3)) * half
    a, b = centre + axis * (shift - half), centre + axis * (shift + half)
    if rng.random() < 0.3:  # a box (a bar, a phone) instead of a rod
        R = np.column_stack([axis, np.cross(P[:, 2], axis), P[:, 2]])
        half_ext = np.array([half, r * rng.uniform(0.9, 2.0), r])
        prims.add_box(G @ ((a + b) / 2) + T, G @ R, half_ext, material=material)
        return "box"
    prims.add_cone(G @ a + T, G @ b + T, r, r * rng.uniform(0.85, 1.0), material=material)
    return "rod"


def _add_occluders(
    rng: np.random.Generator, scene_xyz: np.ndarray, scale: float, prims: PrimitiveSet, first_mat: int
) -> int:
    """Add 1-2 random 3D occluders between the camera and the hand (camera frame); returns how many."""
    n = int(rng.integers(1, 3))
    for i in range(n):
        k = int(rng.integers(NUM_KEYPOINTS))
        target = scene_xyz[k]
        frac = rng.uniform(0.35, 0.9)
        depth = max(float(target[2]) * frac, 0.08)
        size = min(float(rng.uniform(0.015, 0.06)) * scale * depth / float(target[2]), depth - 0.03)
        c = target * depth / float(target[2])
        c[:2] += rng.normal(0, 1.2 * size, 2)
        kind = int(rng.integers(3))
        mat = first_mat + i
        if kind == 0:
            prims.add_sphere(c, size, material=mat)
        elif kind == 1:
            half = rng.uniform(0.3, 1.6, 3) * size
            half *= min(1.0, (c[2] - 0.03) / float(np.linalg.norm(half)))  # keep it in front of the camera
            prims.add_box(c, random_rotation(rng), half, material=mat)
        else:
            d = rng.normal(size=3)
            d[2] *= 0.3
            d /= np.linalg.norm(d)
            L = size * rng.uniform(2, 8)
            if abs(d[2]) > 1e-9:  # both ends well in front of the camera
                L = min(L, max((c[2] - 0.03 - size) / abs(d[2]), size))
            r0, r1 = size * rng.uniform(0.25, 0.6, 2)
            prims.add_cone(c - d * L, c + d * L, r0, r1, material=mat)
    return n


def build_scene(
    K: np.ndarray,
    width: int,
    height: int,
    handedness: str,
    shape: HandShape,
    pose: HandPose,
    R: np.ndarray,
    T: np.ndarray,
    appearance: Appearance,
    *,
    forearm: bool = True,
    sleeve_from: Optional[float] = None,
    held_object: bool = False,
    occluders: bool = False,
    rng: Optional[np.random.Generator] = None,
    posed: Optional[Posed] = None,
    arm_to_border: bool = False,
) -> Scene:
    """Assemble a scene: hand pose + shape placed with rotation ``R`` and wrist position ``T`` (camera frame).

    A left hand uses the mirrored geometry ``G = R @ MIRROR``. Objects (``held_object``, ``occluders``) are
    random and need ``rng``. ``posed`` may pass the forward kinematics of (shape, pose) when already known.
    ``arm_to_border``: the upper arm reaches out of the ``width`` x ``height`` image of ``K``.
    """
    if handedness not in ("left", "right"):
        raise ValueError(f"handedness must be 'left' or 'right', got {handedness!r}")
    if posed is None:
        posed = forward_kinematics(shape, pose)
    G = R @ MIRROR if handedness == "left" else np.asarray(R, np.float64)
    T = np.asarray(T, np.float64)
    # a forearm pointing at the camera is shortened so that it stays well in front of it
    fore_len = 0.26 * shape.scale
    d_z = float((G @ posed.forearm_dir)[2])
    if d_z < 0:
        margin = 0.05 + FOREARM_RADIUS * shape.scale * shape.thickness + 0.01
        fore_len = min(fore_len, max((float(T[2]) - margin) / -d_z, 0.0))
    full_forearm = fore_len >= 0.26 * shape.scale - 1e-9
    forearm = forearm and fore_len > 0.02
    prims, dorsal = _hand_prims_dorsal(shape, posed, forearm, sleeve_from, fore_len, G, T)
    if forearm and full_forearm:
        view = (np.asarray(K, np.float64), int(width), int(height)) if arm_to_border else None
        mat = SLEEVE if sleeve_from is not None else SKIN
        _add_upper_arm(prims, shape, G @ posed.forearm_dir, T, fore_len, mat, view)
    num_hand = len(prims)
    materials: List[np.ndarray] = [appearance.skin, appearance.sleeve]
    info: Dict[str, object] = {}
    gesture = pose.kind.split(":", 1)[1] if pose.kind.startswith("gesture:") else ""
    if held_object and rng is not None:
        obj = _held_object(rng, shape, posed, gesture, prims, len(materials), G, T)
        if obj is not None:
            materials.append(random_color(rng))
            info["held_object"] = obj
    xyz = posed.xyz @ G.T + T
    if occluders and rng is not None:
        n = _add_occluders(rng, xyz, shape.scale, prims, len(materials))
        for _ in range(n):
            materials.append(sample_skin(rng)[0] if rng.random() < 0.1 else random_color(rng))
        info["occluders"] = n
    return Scene(
        K=np.asarray(K, np.float64),
        width=int(width),
        height=int(height),
        handedness=handedness,
        shape=shape,
        pose=pose,
        G=G,
        T=T,
        xyz=xyz,
        prims=prims,
        num_hand=num_hand,
        materials=np.asarray(materials, np.float32),
        palm_normal=G @ posed.palm_frame[:, 2],
        surface_depth=surface_depths(shape),
        appearance=appearance,
        info=info,
        dorsal=dorsal,
    )


def place_hand(
    rng: np.random.Generator,
    rel: np.ndarray,
    K: np.ndarray,
    width: int,
    height: int,
    cfg: SyntheticConfig,
    *,
    inside: bool = True,
    margin: float = 0.012,
) -> Optional[np.ndarray]:
    """Wrist position T (3,) for a hand with keypoints ``rel`` (21, 3) relative to the wrist (camera axes).

    The wrist depth is drawn from ``distance_range`` (log-uniformly if configured). With ``inside`` every keypoint
    projects at least ``margin`` metres (at its depth; at least 2 px) inside the image, else only the centre of
    the keypoints' box does. Every keypoint stays at least max(0.06 m, 0.4 x wrist depth) in front of the camera;
    the depth is raised (within the range) when the hand needs it. None when no placement was found.
    """
    zlo, zhi = cfg.distance_range
    if cfg.distance_log_uniform:
        z = math.exp(rng.uniform(math.log(zlo), math.log(zhi)))
    else:
        z = rng.uniform(zlo, zhi)
    # keep the whole hand in front of the camera
    need = -rel[:, 2].min()
    z = max(z, need / 0.6, need + 0.06)
    if z > zhi:
        return None
    Ki = np.linalg.inv(K)
    fx = K[0, 0]
    for _ in range(12):
        # offsets of the keypoints' projections from the wrist's, for a wrist on the optical axis
        P = rel + np.array([0.0, 0.0, z])
        uv = P[:, :2] / P[:, 2:3] * np.array([K[0, 0], K[1, 1]])
        lo, hi = uv.min(axis=0), uv.max(axis=0)
        m = max(2.0, fx * margin / max(float(P[:, 2].min()), 1e-3))
        size = np.array([width, height], np.float64)
        if inside:
            a = m - lo
            b = size - 1 - m - hi
        else:
            a = -(lo + hi) / 2
            b = size - 1 - (lo + hi) / 2
        if np.all(b > a):
            for _ in range(4):
                w_uv = rng.uniform(a, b)
                T = z * (Ki @ np.array([w_uv[0], w_uv[1], 1.0]))
                X = rel + T
                if X[:, 2].min() <= 0.05:
                    continue
                pix = X[:, :2] / X[:, 2:3] @ K[:2, :2].T + K[:2, 2]
                if inside:
                    ok = bool(
                        np.all(pix >= m - 0.5)
                        and np.all(pix[:, 0] <= width - 0.5 - m)
                        and np.all(pix[:, 1] <= height - 0.5 - m)
                    )
                else:
                    c = (pix.min(axis=0) + pix.max(axis=0)) / 2
                    ok = 0 <= c[0] <= width - 1 and 0 <= c[1] <= height - 1
                if ok:
                    return T
        z *= 1.12  # too big for the image at this depth: move away
        if z > zhi:
            return None
    return None


# ----------------------------------------------------------------------------------------------------------
# visibility


def keypoint_visibility(scene: Scene, tolerance: float = 0.003) -> np.ndarray:
    """(21,) bool: the keypoint is not hidden by the hand itself or by objects (image bounds NOT checked).

    The ray from the camera towards each keypoint is cast against every primitive. The keypoint is visible when
    the first surface on the ray belongs to a primitive attached to the keypoint (other primitives may be in
    front of it by at most ``tolerance`` metres) and that surface is near enough to the keypoint: within the
    keypoint's ``surface_depth`` for the palm, carpus, metacarpals and forearm (so the far side of the palm does
    not count as seeing a knuckle), within the whole phalanx for a finger segment (a ray along a finger may run
    inside the finger's own segment before reaching the joint, the joint is still seen).
    """
    X = scene.xyz
    dx, dy = X[:, 0] / X[:, 2], X[:, 1] / X[:, 2]
    t = scene.prims.first_hits(dx, dy)  # (P, 21)
    P = len(scene.prims)
    adj = np.zeros(t.shape, bool)
    reach = np.zeros(P)  # max depth of an attached surface in front of the keypoint; 0: use surface_depth
    phalanx = np.zeros(P, bool)
    for pid, joints in enumerate(scene.prims.joints[: scene.num_hand]):
        if joints:
            adj[pid, list(joints)] = True
            phalanx[pid] = len(joints) == 2 and min(joints) > 0 and scene.prims.kinds[pid] == CONE
    if phalanx.any():
        ids, tab = scene.prims.tables()[CONE]
        sel = phalanx[ids]
        reach[ids[sel]] = tab["L"][sel] + np.maximum(tab["ra"][sel], tab["rb"][sel])
    z = X[:, 2]
    t_adj_all = np.where(adj, t, np.inf)
    first = np.argmin(t_adj_all, axis=0)
    cols = np.arange(X.shape[0])
    t_adj = t_adj_all[first, cols]
    allow = np.where(reach[first] > 0, reach[first], scene.surface_depth)
    allow = np.where(np.isfinite(t_adj), allow, 0.0)
    t_adj = np.where(np.isfinite(t_adj), t_adj, z)  # a grazing ray that just misses its own surface
    t_other = np.where(adj, np.inf, t).min(axis=0)
    return (t_other >= t_adj - tolerance) & (t_adj >= z - allow - 1e-9) & (z > 0)


# ----------------------------------------------------------------------------------------------------------
# shading and rendering


def shade(buf: RenderBuffers, scene: Scene, rng: np.random.Generator, K: Optional[np.ndarray] = None) -> np.ndarray:
    """Colours (3, M) float32 (one row per RGB channel) of the hit pixels of ``buf``: albedo (skin tone, palm
    lightening, nails, low-frequency noise) times wrapped Lambert + hemispherical ambient, plus Blinn-Phong
    specular. Computed per channel on contiguous arrays (broadcasting over a trailing axis of 3 is slow).
    ``K``: the intrinsics ``buf`` was rendered with (default the scene's; it scales the texture and shadow map)."""
    fx = float((scene.K if K is None else K)[0, 0])
    ap = scene.appearance
    pid = buf.ids.ravel()[buf.hit]
    nx, ny, nz = (np.ascontiguousarray(buf.normals[:, i]) for i in range(3))
    mats = np.asarray(scene.prims.materials, np.int64)[pid]
    table = np.ascontiguousarray(scene.materials.T)  # (3, num materials)
    alb = [table[c][mats] for c in range(3)]
    skin = (mats == SKIN) & (pid < scene.num_hand)
    nails: Optional[Tuple[np.ndarray, np.ndarray]] = None
    if ap.skin_material:
        # palm lightening where the surface faces the palm's side
        pn = scene.palm_normal.astype(np.float32)
        k = np.minimum(np.maximum((nx * pn[0] + ny * pn[1] + nz * pn[2]) * np.float32(1.6) - np.float32(0.3), 0), 1)
        k *= skin
        dp = ap.palm_skin - ap.skin
        alb = [alb[c] + k * dp[c] for c in range(3)]
        if ap.nail is not None:
            nail_ids = [j for j, d in enumerate(scene.prims.nails[: scene.num_hand]) if d is not None]
            row = np.full(len(scene.prims), -1, np.int64)
            row[nail_ids] = np.arange(len(nail_ids))
            cand = np.flatnonzero(row[pid] >= 0)
            if len(cand) and nail_ids:
                raw = [scene.prims.raw(j) for j in nail_ids]
                a = np.array([r[0] for r in raw], np.float32)
                w = np.array([r[1] - r[0] for r in raw], np.float32)
                L2 = np.maximum(np.einsum("ij,ij->i", w, w), 1e-12)
                limit = 1.0 + 0.55 * np.array([r[3] for r in raw], np.float32) / np.sqrt(L2)
                dors = np.array([scene.prims.nails[j] for j in nail_ids], np.float32)
                r = row[pid[cand]]
                along = np.einsum("ij,ij->i", buf.points[cand] - a[r], w[r]) / L2[r]
                on = (np.einsum("ij,ij->i", buf.normals[cand], dors[r]) > 0.55) & (along > 0.45) & (along < limit[r])
                for c in range(3):
                    alb[c][cand[on]] = ap.nail[c]
                nails = (cand[on], (along > limit[r] - 0.2 * (limit[r] - 0.45))[on])
    if ap.albedo_noise > 0 and len(pid):
        h, w = buf.ids.shape
        cells = ap.albedo_cells / max(h, w)
        g = rng.random((max(2, int(cells * h) + 2), max(2, int(cells * w) + 2)), dtype=np.float32)
        field = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR).ravel()[buf.hit]
        fac = np.float32(1.0) + (field - np.float32(0.5)) * (np.float32(2 * ap.albedo_noise) * skin)
        alb = [alb[c] * fac for c in range(3)]
    if len(pid) and (ap.texture > 0 or ap.sleeve_texture > 0):
        alb = _texture_albedo(buf, scene, pid, mats, skin, alb, nails, fx)
    light = ap.light_dir.astype(np.float32)
    ndl = nx * light[0] + ny * light[1] + nz * light[2]
    diff = np.minimum(np.maximum((ndl + np.float32(ap.wrap)) * np.float32(1.0 / (1.0 + ap.wrap)), 0), 1)
    if ap.shadow > 0 and len(pid):
        # shadow-map resolution by the hand's size on screen: about 0.6 texels per pixel, 40 to 96
        hand_px = scene.shape.scale * 0.19 * abs(fx) / max(float(scene.xyz[0, 2]), 1e-3)
        res = int(np.clip(0.6 * hand_px, 40, 96))
        lit = shadow_factor(scene, buf.points, ap.light_dir, res=res, normals=buf.normals)
        diff = diff * (np.float32(1.0) - np.float32(ap.shadow) * (np.float32(1.0) - lit))
    hemi = np.float32(0.75 * ap.ambient) - np.float32(0.25 * ap.ambient) * ny  # sky light from above (-y)
    lc, ac = ap.light_color, ap.ambient_color
    col = [alb[c] * (diff * lc[c] + hemi * ac[c]) for c in range(3)]
    if ap.subsurface > 0 and len(pid):
        # light scattered under the skin: a reddish glow past the terminator (where wrapped light exceeds Lambert)
        # and a broad sheen at grazing view (the skin's oily layer, a Fresnel rim)
        sss = np.minimum(np.maximum((ndl + np.float32(0.6)) * np.float32(1 / 1.6), 0), 1) - np.maximum(ndl, 0)
        if ap.shadow > 0:
            sss = sss * (np.float32(0.4) + np.float32(0.6) * lit)
        sss *= skin * np.float32(ap.subsurface)
        tint = (0.55, 0.16, 0.08)
        col = [col[c] + alb[c] * sss * np.float32(tint[c] * lc[c]) for c in range(3)]
        px, py, pz = (np.ascontiguousarray(buf.points[:, i]) for i in range(3))
        ndv = -(nx * px + ny * py + nz * pz) / np.sqrt(px * px + py * py + pz * pz)
        rim = (np.float32(1.0) - np.minimum(np.maximum(ndv, 0), 1)) ** 4 * (skin * np.float32(0.06 * ap.subsurface))
        col = [col[c] + rim * np.float32(0.5 * lc[c] + 0.5 * ac[c] * ap.ambient) for c in range(3)]
    if ap.specular > 0:
        px, py, pz = (np.ascontiguousarray(buf.points[:, i]) for i in range(3))
        inv = np.float32(-1.0) / np.sqrt(px * px + py * py + pz * pz)
        hx, hy, hz = px * inv + light[0], py * inv + light[1], pz * inv + light[2]
        hn = np.float32(1.0) / np.maximum(np.sqrt(hx * hx + hy * hy + hz * hz), np.float32(1e-9))
        spec = np.maximum((nx * hx + ny * hy + nz * hz) * hn, 0) ** np.float32(ap.shininess) * (ndl > 0)
        spec *= np.float32(ap.specular)
        if ap.shadow > 0:
            spec = spec * (np.float32(1.0) - np.float32(ap.shadow) * (np.float32(1.0) - lit))
        col = [col[c] + spec * lc[c] for c in range(3)]
    return np.stack([np.minimum(np.maximum(col[c], 0), 1) for c in range(3)])


def _field(rng: np.random.Generator, h: int, w: int, cells: float, hit: np.ndarray) -> np.ndarray:
    """Smooth value noise in [0, 1] with about ``cells`` cells along the longer side of an (h, w) region, at the
    flat pixel indices ``hit`` (M,) float32. The field is interpolated (bicubic) at a quarter of a cell's size and
    looked up there: far cheaper than a full-size resize, and the field is smooth at that scale."""
    gh = max(2, int(cells * h / max(h, w)) + 2)
    gw = max(2, int(cells * w / max(h, w)) + 2)
    g = rng.random((gh, gw), dtype=np.float32)
    step = max(1, int(max(h, w) / max(cells, 1e-6) / 4))
    sh, sw = (h + step - 1) // step, (w + step - 1) // step
    small = cv2.resize(g, (sw, sh), interpolation=cv2.INTER_CUBIC)
    hy, hx = np.divmod(hit, w)
    return small[hy // step, hx // step]


def _cone_coords(buf: RenderBuffers, scene: Scene, sel: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For hit pixels ``sel`` (indices into buf.hit) on round cones: axial distance from end A (metres), the
    cone's length, and the unit axis (n, 3)."""
    pid = buf.ids.ravel()[buf.hit][sel].astype(np.int64)
    ids, tab = scene.prims.tables()[CONE]
    row = np.full(len(scene.prims), -1, np.int64)
    row[ids] = np.arange(len(ids))
    r = row[pid]
    A = np.stack([tab["Ax"][r], tab["Ay"][r], tab["Az"][r]], -1)
    w = np.stack([tab["wx"][r], tab["wy"][r], tab["wz"][r]], -1)
    along = np.einsum("ij,ij->i", buf.points[sel] - A, w)
    return along.astype(np.float32), tab["L"][r].astype(np.float32), w


def _texture_albedo(
    buf: RenderBuffers,
    scene: Scene,
    pid: np.ndarray,
    mats: np.ndarray,
    skin: np.ndarray,
    alb: List[np.ndarray],
    nails: Optional[Tuple[np.ndarray, np.ndarray]] = None,
    fx: Optional[float] = None,
) -> List[np.ndarray]:
    """Skin texture (blotches of redness and pigment, knuckle and crease darkening, whiter nail edges) and cloth
    texture of sleeves (stripes, fold shading, weave noise) on the albedo of the hit pixels."""
    ap = scene.appearance
    rng = np.random.default_rng(ap.texture_seed)
    h, w = buf.ids.shape
    alb = [a.copy() for a in alb]
    if ap.texture > 0 and ap.skin_material and skin.any():
        t = np.float32(ap.texture)
        f = float(scene.K[0, 0]) if fx is None else fx
        hs = max(scene.shape.scale * 0.19 * f / max(float(scene.xyz[0, 2]), 1e-3), 8.0)  # hand size, pixels
        red = _field(rng, h, w, 2.5 * max(h, w) / hs, buf.hit) - np.float32(0.5)
        pig = _field(rng, h, w, 7.0 * max(h, w) / hs, buf.hit) - np.float32(0.5)
        k = skin.astype(np.float32) * t
        alb[0] = alb[0] * (1 + k * (0.16 * red - 0.08 * pig))
        alb[1] = alb[1] * (1 + k * (-0.10 * red - 0.10 * pig))
        alb[2] = alb[2] * (1 + k * (-0.08 * red - 0.12 * pig))
        # knuckles and creases: darker skin around the finger joints, wide and wrinkled on the back, a thin line
        # on the palmar side
        if scene.dorsal:
            dor_ids = np.array(sorted(scene.dorsal), np.int64)
            has = np.zeros(len(scene.prims), bool)
            has[dor_ids] = True
            sel = np.flatnonzero(has[pid] & skin)
            if len(sel):
                along, L, _ = _cone_coords(buf, scene, sel)
                d = np.zeros((len(scene.prims), 3), np.float32)
                ends = np.zeros((len(scene.prims), 2), np.float32)
                for j, (v, je) in scene.dorsal.items():
                    d[j] = v
                    ends[j] = je
                p = pid[sel]
                side = np.einsum("ij,ij->i", buf.normals[sel], d[p])  # > 0: the back of the finger
                sc = np.float32(scene.shape.scale)
                dA = np.abs(along) / (0.0045 * sc)
                dB = np.abs(L - along) / (0.0045 * sc)
                near = ends[p, 0] * np.exp(-dA * dA) + ends[p, 1] * np.exp(-dB * dB)
                cA = np.abs(along - 0.002 * sc) / (0.0011 * sc)
                cB = np.abs(L - along - 0.002 * sc) / (0.0011 * sc)
                crease = ends[p, 0] * np.exp(-cA * cA) + ends[p, 1] * np.exp(-cB * cB)
                dark = np.where(side > 0.2, 0.2 * near, np.where(side < -0.2, 0.2 * crease, 0.08 * near))
                f = (np.float32(1.0) - np.minimum(dark * t, 0.6)).astype(np.float32)
                # knuckle skin is also a little redder / browner
                for c, g in enumerate((0.95, 1.0, 1.05)):
                    alb[c][sel] = alb[c][sel] * f ** np.float32(g)
        # nails: lighter, the free edge (the last fifth) whiter
        if nails is not None and len(nails[0]):
            idx, edge = nails
            amount = np.where(edge, 0.55, 0.2).astype(np.float32) * np.float32(min(ap.texture, 1.5))
            for c, white in enumerate((0.97, 0.93, 0.90)):
                alb[c][idx] += (np.float32(white) - alb[c][idx]) * amount
    if ap.sleeve_texture > 0:
        sleeve = np.flatnonzero((mats == SLEEVE) & (pid < scene.num_hand))
        kinds = np.asarray(scene.prims.kinds, np.int64)
        sleeve = sleeve[kinds[pid[sleeve]] == CONE]
        if len(sleeve):
            along, _, _ = _cone_coords(buf, scene, sleeve)
            st = np.float32(ap.sleeve_texture)
            ph = along * np.float32(2 * math.pi / ap.sleeve_period)
            if ap.sleeve_stripes is not None:
                on = np.sin(ph) > 0
                for c in range(3):
                    alb[c][sleeve[on]] = ap.sleeve_stripes[c]
            # folds: soft dark bands across the arm, their phase wandering with the image position
            wander = _field(rng, h, w, 6.0, buf.hit[sleeve]) * np.float32(6.0)
            folds = np.float32(0.5) + np.float32(0.5) * np.sin(ph * np.float32(0.37) + wander)
            weave = _field(rng, h, w, max(h, w) / 6.0, buf.hit[sleeve]) - np.float32(0.5)
            f = np.float32(1.0) - st * (np.float32(0.14) * folds**3 - np.float32(0.08) * weave)
            for c in range(3):
                alb[c][sleeve] = alb[c][sleeve] * f
    return alb


def shadow_factor(
    scene: Scene, points: np.ndarray, light_dir: np.ndarray, res: int = 96, normals: Optional[np.ndarray] = None
) -> np.ndarray:
    """(M,) float32 in [0, 1]: how much of the key light (direction ``light_dir``, towards the light) reaches each
    camera-frame point (1 lit, 0 in shadow), by a shadow map: the scene's primitives ray cast from a virtual camera
    far along the light direction into a ``res`` x ``res`` depth map, each point compared with its 4 nearest texels
    (bilinear percentage-closer filtering: soft edges). With ``normals`` the points are first moved 1.5 texels out along
    them (normal-offset shadow mapping: lit surfaces do not shadow themselves)."""
    if len(points) == 0:
        return np.ones(0, np.float32)
    centre = scene.xyz.mean(axis=0)
    radius = float(np.linalg.norm(scene.xyz - centre, axis=1).max()) + 0.03 * scene.shape.scale
    ld = np.asarray(light_dir, np.float64) / np.linalg.norm(light_dir)
    dist = 8.0 * radius
    eye = centre + ld * dist
    z = -ld
    x = np.cross([0.0, 1.0, 0.0], z)
    if np.linalg.norm(x) < 1e-6:
        x = np.cross([1.0, 0.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: the light camera's axes
    # the primitives near the hand (not the far arm, distant occluders): the others would fall outside the map
    lo, hi = scene.prims.bounds()
    gap = np.maximum(np.maximum(lo - centre, 0), np.maximum(centre - hi, 0))
    near = np.flatnonzero(np.linalg.norm(gap, axis=1) < radius)
    lp = scene.prims.transformed(R, -R @ eye, near)
    f = (res / 2.0) / math.tan(math.asin(min(radius / dist, 0.99)) * 1.05)
    Kl = np.array([[f, 0.0, (res - 1) / 2.0], [0.0, f, (res - 1) / 2.0], [0.0, 0.0, 1.0]])
    lbuf = render_primitives(lp, Kl, res, res)
    depth = np.full((res, res), np.inf, np.float32)
    x0, y0, x1, y1 = lbuf.roi
    depth[y0:y1, x0:x1] = lbuf.depth
    texel = dist / f  # metres per shadow-map texel at the hand
    pts = np.asarray(points, np.float32)
    lit_all = np.ones(len(pts), np.float32)
    # only points near the hand and facing the light can be shadowed (the others get no key light anyway)
    sel = np.linalg.norm(pts - centre.astype(np.float32), axis=1) < radius
    if normals is not None:
        sel &= np.asarray(normals, np.float32) @ ld.astype(np.float32) > -0.05
    sel = np.flatnonzero(sel)
    if len(sel) == 0:
        return lit_all
    pts = pts[sel]
    if normals is not None:
        pts = pts + np.float32(1.5 * texel) * np.asarray(normals, np.float32)[sel]
    q = ((pts - eye.astype(np.float32)) @ R.T.astype(np.float32)).astype(np.float32)
    zq = np.maximum(q[:, 2], 1e-6)
    u = f * q[:, 0] / zq + Kl[0, 2]
    v = f * q[:, 1] / zq + Kl[1, 2]
    bias = texel + 0.001
    # bilinear percentage-closer filtering: the depth test at the 4 texels around the point, weighted bilinearly
    u0, v0 = np.floor(u), np.floor(v)
    fu, fv = (u - u0).astype(np.float32), (v - v0).astype(np.float32)
    lit = np.zeros(len(pts), np.float32)
    for du, dv, wgt in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)), (0, 1, (1 - fu) * fv), (1, 1, fu * fv)):
        iu = np.clip(u0 + du, 0, res - 1).astype(np.int64)
        iv = np.clip(v0 + dv, 0, res - 1).astype(np.int64)
        lit += wgt * (q[:, 2] <= depth[iv, iu] + bias)
    # points outside the map (the far forearm, the upper arm) are lit
    outside = (u < 0) | (v < 0) | (u > res - 1) | (v > res - 1)
    lit[outside] = 1.0
    lit_all[sel] = lit
    return lit_all


def render_layer(
    scene: Scene, K: np.ndarray, width: int, height: int, background: np.ndarray, rng: np.random.Generator
) -> RenderBuffers:
    """Ray cast and shade ``scene`` with intrinsics ``K`` into ``background`` (H, W, 3) float32, in place.

    Silhouette pixels (hit next to background or to a surface more than 5 mm farther) are replaced by the
    3x3 mean of the composite, a cheap anti-aliasing. Returns the z-buffer.
    """
    buf = render_primitives(scene.prims, K, width, height)
    x0, y0, x1, y1 = buf.roi
    if len(buf.hit) == 0:
        return buf
    cols = shade(buf, scene, rng, K)
    roi = background[y0:y1, x0:x1]  # a view: writes go to the background
    hy, hx = np.divmod(buf.hit, x1 - x0)
    for c in range(3):
        roi[..., c][hy, hx] = cols[c]
    # anti-aliasing of depth discontinuities
    d = buf.depth  # inf where nothing was hit: |inf - z| > 0.005 marks silhouettes, inf - inf = nan does not
    edge = np.zeros(d.shape, bool)
    with np.errstate(invalid="ignore"):
        jump_x = np.abs(d[:, 1:] - d[:, :-1]) > 0.005
        jump_y = np.abs(d[1:, :] - d[:-1, :]) > 0.005
    edge[:, 1:] |= jump_x
    edge[:, :-1] |= jump_x
    edge[1:, :] |= jump_y
    edge[:-1, :] |= jump_y
    if edge.any():
        ey, ex = np.nonzero(edge)
        # average over the 3x3 neighbourhood in the full image (reaches one pixel beyond the roi)
        pad = background[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1]
        blurred = cv2.blur(pad, (3, 3), borderType=cv2.BORDER_REPLICATE)
        oy, ox = y0 - max(y0 - 1, 0), x0 - max(x0 - 1, 0)
        roi[ey, ex] = blurred[ey + oy, ex + ox]
    return buf
