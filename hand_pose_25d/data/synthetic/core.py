"""Public entry points of the synthetic renderer: random frames and training crops (:class:`SyntheticHands`)
and temporally smooth sequences for a synthetic camera (:class:`SyntheticSequence`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...crop import CropBox, box_from_keypoints, crop_intrinsics, crop_matrix, invert_affine, transform_points
from ...geometry import project
from ...settings import validate
from ..sample import HandSample
from .appearance import Degradation, degrade, fda_target, fda_transfer, sample_degradation, scene_background
from .hand_model import (
    GRASP_GESTURES,
    LIMITS_HI,
    LIMITS_LO,
    HandPose,
    HandShape,
    forward_kinematics,
    sample_pose,
    sample_shape,
)
from .raycast import RenderBuffers
from .scene import (
    MIRROR,
    Scene,
    axis_angle,
    build_scene,
    keypoint_visibility,
    matrix_to_quat,
    place_hand,
    quat_to_matrix,
    render_layer,
    sample_appearance,
    sample_intrinsics,
    sample_realism,
    sample_rotation,
)
from .synthetic_config import SyntheticConfig

__all__ = ["SyntheticHands", "SyntheticSequence", "MultiHandSequence", "Rendered"]

# independent random streams of one sample: np.random.default_rng([seed, index, stream])
_HAND, _CAMERA, _LOOK, _BACKGROUND, _OBJECTS, _DEGRADE, _CROP, _SHADE, _NOISE = range(1, 10)
# streams of the realism settings (drawn only when they are on: with them off a sample is what it was before them)
_PHOTO, _FDA, _REAL = 31, 32, 33


def _fda(img: np.ndarray, rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
    """Amplitude-spectrum augmentation of ``img`` with probability ``cfg.fda_prob`` (see :func:`fda_transfer`)."""
    if cfg.fda_prob <= 0 or rng.random() >= cfg.fda_prob:
        return img
    beta = float(rng.uniform(*cfg.fda_beta_range))
    blend = float(rng.uniform(*cfg.fda_blend_range))
    out = fda_transfer(img, fda_target(rng, cfg), beta, blend)
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass
class Rendered:
    """A rendered sample with the internals the tests and tools inspect.

    Attributes:
        sample: the :class:`HandSample`.
        scene: the scene (camera-frame geometry of the full camera).
        buffers: z-buffer of the render (ids = primitive ids, ``-1`` background), at ``render_size``.
        render_K: intrinsics of the rendered (pre-resize) image.
        occlusion_visible: (21,) keypoints not hidden by the hand itself or objects (image bounds not applied).
    """

    sample: HandSample
    scene: Scene
    buffers: RenderBuffers
    render_K: np.ndarray
    render_size: Tuple[int, int]
    occlusion_visible: np.ndarray


def depth_image(buffers: Any, width: int, height: int, wall: float) -> np.ndarray:
    """(height, width) float32 metres: the z-buffer of a render where it hit, a wall at ``wall`` metres elsewhere."""
    out = np.full((height, width), np.float32(wall), np.float32)
    x0, y0, x1, y1 = buffers.roi
    if x1 > x0 and y1 > y0:
        region = out[y0:y1, x0:x1]
        hit = np.isfinite(buffers.depth)
        region[hit] = np.minimum(region[hit], buffers.depth[hit])
    return out


def _wall(seed: int, index: int) -> float:
    """The distance in metres of the wall behind the hand (the depth image's background), 1.2 to 3 m."""
    return float(np.random.default_rng([int(seed), int(index), 20]).uniform(1.2, 3.0))


def _inside(uv: np.ndarray, width: float, height: float) -> np.ndarray:
    return (uv[:, 0] >= -0.5) & (uv[:, 0] <= width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] <= height - 0.5)


def _radius2(u: np.ndarray, v: np.ndarray, K: np.ndarray, width: int, height: int) -> np.ndarray:
    """Squared distance of camera pixels from the principal point over the squared half-diagonal."""
    return (((u - K[0, 2]) ** 2 + (v - K[1, 2]) ** 2) / ((width / 2.0) ** 2 + (height / 2.0) ** 2)).astype(np.float32)


class SyntheticHands:
    """Random synthetic hands: ``frame(i)`` full camera images and ``crop(i)`` hand-centred training crops.

    The same (seed, index) always gives the same sample, bit for bit; each sample draws from its own
    ``np.random.default_rng([seed, index, stream])`` streams, so instances are safe to use from several
    processes (DataLoader workers) and indices can be rendered in any order.
    """

    def __init__(self, config: Optional[SyntheticConfig] = None, seed: int = 0) -> None:
        self.config = SyntheticConfig() if config is None else config
        if not isinstance(self.config, SyntheticConfig):
            raise ValueError(f"config must be a SyntheticConfig, got {type(self.config).__name__}")
        validate(self.config)
        if int(seed) < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.seed = int(seed)

    def _rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(index), stream])

    # -- scenes ---------------------------------------------------------------------------------------------
    def _hand(self, index: int) -> Tuple[str, HandShape, HandPose]:
        """Handedness, shape and pose of sample ``index``."""
        cfg = self.config
        rh = self._rng(index, _HAND)
        handedness = "left" if rh.random() < cfg.left_hand_prob else "right"
        shape = sample_shape(rh, cfg.hand_scale_range, cfg.bone_proportion_sigma, cfg.thickness_range)
        weights = (cfg.pose_uniform_weight, cfg.pose_synergy_weight, cfg.pose_gesture_weight)
        pose = sample_pose(rh, weights, cfg.gesture_noise_deg, shape)
        return handedness, shape, pose

    def hand_xyz(self, index: int) -> np.ndarray:
        """Keypoints (21, 3) in metres of the hand of sample ``index`` in its hand-local frame (wrist at the origin,
        mirrored for a left hand), without rendering: the same bones and pose as ``crop(index)`` / ``frame(index)``
        (e.g. to compute the bone-length prior of the training distribution)."""
        handedness, shape, pose = self._hand(index)
        xyz = forward_kinematics(shape, pose).xyz
        return xyz @ MIRROR if handedness == "left" else xyz

    def scene(self, index: int, width: int, height: int, *, inside: bool = True) -> Scene:
        """The random scene of sample ``index`` for a ``width`` x ``height`` camera (no image rendered).

        With ``inside`` all keypoints project inside the image (with a margin), else only the centre of the
        keypoints' box is guaranteed to.
        """
        if index < 0:
            raise ValueError(f"index must be non-negative, got {index}")
        if width < 16 or height < 16:
            raise ValueError(f"image size must be at least 16x16, got {width}x{height}")
        cfg = self.config
        handedness, shape, pose = self._hand(index)
        posed = forward_kinematics(shape, pose)
        rc = self._rng(index, _CAMERA)
        K = sample_intrinsics(rc, width, height, cfg)
        T = None
        for attempt in range(40):
            R = sample_rotation(rc, cfg)
            G = R @ MIRROR if handedness == "left" else R
            T = place_hand(rc, posed.xyz @ G.T, K, width, height, cfg, inside=inside)
            if T is not None:
                break
        if T is None:
            raise ValueError(
                f"no placement of hand {index} fits a {width}x{height} image with distance_range "
                f"{cfg.distance_range}: widen the range or the image"
            )
        ra = self._rng(index, _LOOK)
        look = sample_appearance(ra, cfg)
        sample_realism(self._rng(index, _REAL), cfg, look)
        forearm = ra.random() < cfg.forearm_prob
        sleeve = float(ra.uniform(0.02, 0.15)) if ra.random() < cfg.sleeve_prob else None
        ro = self._rng(index, _OBJECTS)
        gesture = pose.kind.split(":", 1)[1] if pose.kind.startswith("gesture:") else ""
        # grasp gestures, and synergy poses with half-curled fingers, may hold an object
        curl = float(np.mean([pose[f"{f}_pip_flex"] for f in ("index", "middle", "ring", "little")]))
        grasp = gesture in GRASP_GESTURES or (pose.kind == "synergy" and 30.0 <= curl <= 95.0)
        held = grasp and ro.random() < cfg.held_object_prob
        occl = ro.random() < cfg.occluder_prob
        return build_scene(
            K,
            width,
            height,
            handedness,
            shape,
            pose,
            R,
            T,
            look,
            forearm=forearm,
            sleeve_from=sleeve,
            held_object=held,
            occluders=occl,
            rng=ro,
            posed=posed,
            arm_to_border=cfg.arm_to_border,
        )

    def _meta(self, mode: str, index: int, scene: Scene) -> Dict[str, object]:
        meta: Dict[str, object] = {
            "source": "synthetic",
            "mode": mode,
            "seed": self.seed,
            "index": int(index),
            "distance": float(scene.xyz[0, 2]),
            "pose_kind": scene.pose.kind,
            "joint_angles_deg": scene.pose.angles.copy(),
            "bone_lengths": scene.shape.bone_lengths.copy(),
        }
        meta.update(scene.info)
        return meta

    # -- full frames ----------------------------------------------------------------------------------------
    def render_frame(self, index: int, width: int = 640, height: int = 480) -> Rendered:
        """Full ``width`` x ``height`` camera image of sample ``index`` with its internals (see :class:`Rendered`)."""
        scene = self.scene(index, width, height, inside=True)
        K = scene.K
        img, bg_kind = scene_background(
            self._rng(index, _BACKGROUND), self._rng(index, _PHOTO), height, width, self.config
        )
        buf = render_layer(scene, K, width, height, img, self._rng(index, _SHADE))
        img = _fda(img, self._rng(index, _FDA), self.config)
        deg = sample_degradation(self._rng(index, _DEGRADE), self.config)
        r2 = None
        if deg.vignetting > 0:
            u = np.arange(width, dtype=np.float32)[None, :]
            v = np.arange(height, dtype=np.float32)[:, None]
            r2 = _radius2(u, v, K, width, height)
        image = degrade(img, deg, self._rng(index, _NOISE), r2)
        uv = project(scene.xyz, K)
        occ = keypoint_visibility(scene)
        sample = HandSample(
            image=image,
            K=K,
            uv=uv,
            visible=occ & _inside(uv, width, height),
            xyz=scene.xyz.copy(),
            handedness=scene.handedness,
            meta=dict(self._meta("frame", index, scene), background=bg_kind),
            depth=depth_image(buf, width, height, _wall(self.seed, index)),
        )
        return Rendered(sample, scene, buf, K, (width, height), occ)

    def frame(self, index: int, width: int = 640, height: int = 480) -> HandSample:
        """Full camera image (``width`` x ``height``) of sample ``index``: K, exact uv / xyz / visibility."""
        return self.render_frame(index, width, height).sample

    # -- training crops -------------------------------------------------------------------------------------
    def crop_box(self, index: int, uv: np.ndarray, crop_padding: float) -> CropBox:
        """The jittered crop box of sample ``index`` around full-camera keypoints ``uv`` (21, 2).

        Starts from the inference pipeline's box (:func:`hand_pose_25d.crop.box_from_keypoints` with
        ``crop_padding``), then shifts the centre by up to ``crop_center_jitter`` x side, scales the side
        log-uniformly in ``crop_scale_range`` and rotates by up to ``crop_rotation_deg``.
        """
        cfg = self.config
        rj = self._rng(index, _CROP)
        box = box_from_keypoints(uv, padding=crop_padding)
        lo, hi = cfg.crop_scale_range
        side = box.side * math.exp(rj.uniform(math.log(lo), math.log(hi)))
        j = cfg.crop_center_jitter
        cx = box.cx + rj.uniform(-j, j) * side
        cy = box.cy + rj.uniform(-j, j) * side
        angle = math.radians(rj.uniform(-cfg.crop_rotation_deg, cfg.crop_rotation_deg))
        return CropBox(cx, cy, side, angle)

    def render_crop(self, index: int, out_size: int = 128, crop_padding: float = 1.3) -> Rendered:
        """Hand-centred ``out_size`` square crop of sample ``index`` with its internals (see :class:`Rendered`).

        The hand is placed in a random full camera (size from ``crop_camera_sizes``); the crop box is built as
        at inference and jittered; the crop is ray cast DIRECTLY with the crop's intrinsics at the resolution
        the camera would give it (min(out_size, box side in camera pixels)) and resized to ``out_size``. Crop
        pixels outside the camera image are black, as :func:`hand_pose_25d.crop.warp` pads them.
        """
        if not 8 <= out_size <= 2048:
            raise ValueError(f"out_size must be in 8..2048, got {out_size}")
        if not crop_padding >= 1.0:
            raise ValueError(f"crop_padding must be >= 1, got {crop_padding}")
        cfg = self.config
        rc = self._rng(index, _CAMERA + 100)
        cw, ch = cfg.crop_camera_sizes[int(rc.integers(len(cfg.crop_camera_sizes)))]
        partial = rc.random() < cfg.crop_partial_prob
        scene = self.scene(index, cw, ch, inside=not partial)
        K = scene.K
        uv_full = project(scene.xyz, K)
        box = self.crop_box(index, uv_full, crop_padding)
        A = crop_matrix(box, out_size)
        K_crop = crop_intrinsics(K, A)
        res = int(max(8, min(out_size, round(box.side))))
        A_src = crop_matrix(box, res)
        K_src = crop_intrinsics(K, A_src)
        img, bg_kind = scene_background(self._rng(index, _BACKGROUND), self._rng(index, _PHOTO), res, res, cfg)
        buf = render_layer(scene, K_src, res, res, img, self._rng(index, _SHADE))
        img = _fda(img, self._rng(index, _FDA), cfg)
        # camera pixel of every rendered pixel: black outside the camera image, vignetting by camera position
        Ai = invert_affine(A_src)
        e = res - 0.5
        corners = transform_points(np.array([[-0.5, -0.5], [e, -0.5], [-0.5, e], [e, e]]), Ai)
        crosses = not np.all(_inside(corners, cw, ch))
        deg = sample_degradation(self._rng(index, _DEGRADE), cfg)
        u = v = None
        if crosses or deg.vignetting > 0:
            g = np.arange(res, dtype=np.float64)
            u = Ai[0, 0] * g[None, :] + Ai[0, 1] * g[:, None] + Ai[0, 2]
            v = Ai[1, 0] * g[None, :] + Ai[1, 1] * g[:, None] + Ai[1, 2]
        r2 = _radius2(u, v, K, cw, ch) if deg.vignetting > 0 else None
        image = degrade(img, deg, self._rng(index, _NOISE), r2)
        if crosses:
            image[(u < -0.5) | (u > cw - 0.5) | (v < -0.5) | (v > ch - 0.5)] = 0
        if res != out_size:
            import cv2

            image = cv2.resize(image, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
        uv = transform_points(uv_full, A)
        occ = keypoint_visibility(scene)
        visible = occ & _inside(uv_full, cw, ch) & _inside(uv, out_size, out_size)
        meta = self._meta("crop", index, scene)
        meta.update(
            {
                "K_full": K.copy(),
                "box": box,
                "A": A,
                "camera_size": (cw, ch),
                "render_size": res,
                "uv_full": uv_full,
                "background": bg_kind,
            }
        )
        sample = HandSample(
            image=image, K=K_crop, uv=uv, visible=visible, xyz=scene.xyz.copy(), handedness=scene.handedness, meta=meta
        )
        return Rendered(sample, scene, buf, K_src, (res, res), occ)

    def crop(self, index: int, out_size: int = 128, crop_padding: float = 1.3) -> HandSample:
        """Training crop of sample ``index``: image ``out_size`` square, ``K`` = crop intrinsics, ``uv`` in crop
        pixels; ``meta`` holds the full camera's ``K_full``, the ``box`` (CropBox) and the 2x3 crop matrix ``A``."""
        return self.render_crop(index, out_size, crop_padding).sample


# ----------------------------------------------------------------------------------------------------------
# sequences


def _bspline_weights(u: float) -> np.ndarray:
    """Uniform cubic B-spline basis weights (4,) at local parameter u in [0, 1)."""
    u2, u3 = u * u, u * u * u
    return np.array([(1 - u) ** 3, 3 * u3 - 6 * u2 + 4, -3 * u3 + 3 * u2 + 3 * u + 1, u3]) / 6.0


class SyntheticSequence:
    """A temporally smooth synthetic camera stream: one person's hand moving in front of a fixed background.

    Pose (joint angles), orientation and position follow uniform cubic B-splines through random keyframes every
    1-2 s (the spline stays inside the convex hull of the keyframes, so joint limits hold). Hand shape,
    handedness, camera, background, lighting and degradations are fixed per sequence; sensor noise is drawn per
    frame. ``frame(t)`` is random access and deterministic for (seed, t). A stream is what a camera sees, so the
    config's amplitude-spectrum (FDA) setting, a training augmentation of :class:`SyntheticHands` samples, does not
    apply (with it, the palm detector found the hand of seed 11 in 0 of 20 frames instead of 7).
    """

    def __init__(
        self,
        config: Optional[SyntheticConfig] = None,
        seed: int = 0,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        *,
        u_range: Tuple[float, float] = (0.3, 0.7),
        handedness: Optional[str] = None,
    ) -> None:
        if not 0.0 <= u_range[0] < u_range[1] <= 1.0:
            raise ValueError(f"u_range must be 0 <= low < high <= 1, got {u_range}")
        if handedness not in (None, "left", "right"):
            raise ValueError(f"handedness must be 'left', 'right' or None, got {handedness!r}")
        self.u_range = (float(u_range[0]), float(u_range[1]))
        self.hands = SyntheticHands(config, seed)
        self.config = self.hands.config
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if width < 32 or height < 32:
            raise ValueError(f"image size must be at least 32x32, got {width}x{height}")
        self.seed, self.width, self.height, self.fps = int(seed), int(width), int(height), float(fps)
        cfg = self.config
        rng = np.random.default_rng([self.seed, 0, 1000])
        drawn = "left" if rng.random() < cfg.left_hand_prob else "right"
        self.handedness = handedness or drawn
        self.shape = sample_shape(rng, cfg.hand_scale_range, cfg.bone_proportion_sigma, cfg.thickness_range)
        self.K = sample_intrinsics(rng, width, height, cfg)
        self.appearance = sample_appearance(rng, cfg)
        sample_realism(np.random.default_rng([self.seed, 0, 1005]), cfg, self.appearance)
        self.forearm = rng.random() < cfg.forearm_prob
        self.sleeve = float(rng.uniform(0.02, 0.15)) if rng.random() < cfg.sleeve_prob else None
        self.keyframe_dt = float(rng.uniform(1.0, 2.0))
        self.base_rotation = sample_rotation(rng, cfg)
        zlo, zhi = cfg.distance_range
        self.base_depth = float(math.exp(rng.uniform(math.log(max(zlo, 0.3)), math.log(max(min(zhi, 0.9), zlo)))))
        self.degradation: Degradation = sample_degradation(rng, cfg)
        self.degradation.motion_length = 0
        self._background, self.background_kind = scene_background(
            np.random.default_rng([self.seed, 0, 1001]), np.random.default_rng([self.seed, 0, 1006]), height, width, cfg
        )
        u = np.arange(width, dtype=np.float32)[None, :]
        v = np.arange(height, dtype=np.float32)[:, None]
        self._r2 = _radius2(u, v, self.K, width, height)
        self._keys: Dict[int, Tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        #: distance in metres of the wall behind the hand (the depth image's background)
        self.wall = _wall(self.seed, 2**31)

    def _key(self, k: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keyframe ``k``: joint angles (deg), quaternion (4,), (pixel u, pixel v, log depth) of the wrist."""
        if k not in self._keys:
            cfg = self.config
            rng = np.random.default_rng([self.seed, k + 1_000_000, 1002])  # any integer k, incl. negative
            pose = sample_pose(rng, (0.1, 0.5, 0.4), cfg.gesture_noise_deg, self.shape)
            axis = rng.normal(size=3)
            R = axis_angle(axis, math.radians(rng.uniform(0, 55))) @ self.base_rotation
            q = matrix_to_quat(R)
            q0 = matrix_to_quat(self.base_rotation)
            if q @ q0 < 0:
                q = -q
            zlo, zhi = cfg.distance_range
            z = float(np.clip(self.base_depth * math.exp(rng.normal(0, 0.15)), zlo, zhi))
            pos = np.array(
                [rng.uniform(*self.u_range) * self.width, rng.uniform(0.35, 0.75) * self.height, math.log(z)]
            )
            if len(self._keys) > 64:
                self._keys.clear()
            self._keys[k] = (pose.angles, q, pos)
        return self._keys[k]

    def state(self, t_index: int) -> Tuple[HandPose, np.ndarray, np.ndarray]:
        """Pose, rotation (3, 3) and wrist position (3,) at frame ``t_index``."""
        t = t_index / self.fps / self.keyframe_dt
        i = math.floor(t)
        w = _bspline_weights(t - i)
        keys = [self._key(i + j) for j in (-1, 0, 1, 2)]
        angles = sum(wj * kj[0] for wj, kj in zip(w, keys))
        q = sum(wj * kj[1] for wj, kj in zip(w, keys))
        pos = sum(wj * kj[2] for wj, kj in zip(w, keys))
        R = quat_to_matrix(q / np.linalg.norm(q))
        z = math.exp(pos[2])
        T = z * (np.linalg.inv(self.K) @ np.array([pos[0], pos[1], 1.0]))
        pose = HandPose(np.clip(angles, LIMITS_LO, LIMITS_HI), "sequence")
        return pose, R, T

    def frame(self, t_index: int, pose_index: Optional[int] = None) -> HandSample:
        """Frame ``t_index`` (time ``t_index / fps`` seconds) as a full-camera :class:`HandSample`.

        ``pose_index``: show the hand as at that frame instead (a static hand: the sensor noise still changes with
        ``t_index``).
        """
        scene = self.scene(t_index if pose_index is None else pose_index)
        img = self._background.copy()
        buf = render_layer(scene, self.K, self.width, self.height, img, np.random.default_rng([self.seed, 0, 1003]))
        image = degrade(img, self.degradation, np.random.default_rng([self.seed, int(t_index), 1004]), self._r2)
        return self._sample(scene, image, t_index, depth_image(buf, self.width, self.height, self.wall))

    def background_frame(self, rng: np.random.Generator) -> np.ndarray:
        """This sequence's background with no hand, through the same sensor degradation (noise drawn from ``rng``):
        (H, W, 3) uint8 RGB, a frame without a hand for a detector's negatives."""
        return degrade(self._background.copy(), self.degradation, rng, self._r2)

    def _sample(self, scene: Any, image: np.ndarray, t_index: int, depth: Optional[np.ndarray] = None) -> HandSample:
        """The :class:`HandSample` of this sequence's hand in ``scene``, shown in ``image``."""
        uv = project(scene.xyz, self.K)
        vis = keypoint_visibility(scene) & _inside(uv, self.width, self.height)
        meta = {
            "source": "synthetic-sequence",
            "seed": self.seed,
            "t_index": int(t_index),
            "time": t_index / self.fps,
            "distance": float(scene.xyz[0, 2]),
        }
        return HandSample(
            image=image,
            K=self.K.copy(),
            uv=uv,
            visible=vis,
            xyz=scene.xyz.copy(),
            handedness=self.handedness,
            meta=meta,
            depth=depth,
        )

    def scene(self, t_index: int) -> Any:
        """The camera-frame scene (hand geometry and appearance) of frame ``t_index``, not rendered."""
        pose, R, T = self.state(int(t_index))
        G = R @ MIRROR if self.handedness == "left" else R
        rel = forward_kinematics(self.shape, pose).xyz @ G.T
        # keep every keypoint in front of the camera
        if (rel[:, 2] + T[2]).min() < 0.06:
            T = T * (0.06 - rel[:, 2].min()) / T[2]
        return build_scene(
            self.K,
            self.width,
            self.height,
            self.handedness,
            self.shape,
            pose,
            R,
            T,
            self.appearance,
            forearm=self.forearm,
            sleeve_from=self.sleeve,
            arm_to_border=self.config.arm_to_border,
        )


class MultiHandSequence:
    """Several hands in one synthetic camera stream (``hands`` 1 or 2): each a :class:`SyntheticSequence` of its own
    motion, keeping to its side of the image (left hand on the image's left half, right hand on the right), with the
    camera, background and degradations of the first one. ``frame(t)`` renders them nearest last (a nearer hand
    hides a farther one; the farther hand's visibility does not know it) and returns one :class:`HandSample` per
    hand, all holding the same image.
    """

    def __init__(
        self,
        config: Optional[SyntheticConfig] = None,
        seed: int = 0,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        hands: int = 2,
    ) -> None:
        if hands not in (1, 2):
            raise ValueError(f"hands must be 1 or 2, got {hands}")
        if hands == 1:
            self.sequences = [SyntheticSequence(config, seed, width, height, fps)]
        else:
            first = SyntheticSequence(config, seed, width, height, fps, u_range=(0.52, 0.85), handedness="right")
            second = SyntheticSequence(config, seed + 7919, width, height, fps, u_range=(0.15, 0.48), handedness="left")
            second.K, second._r2 = first.K, first._r2
            second._background, second.degradation = first._background, first.degradation
            self.sequences = [first, second]
        first = self.sequences[0]
        self.seed, self.width, self.height, self.fps, self.K = first.seed, width, height, float(fps), first.K

    @property
    def handedness(self) -> str:
        """The hands' handedness, comma-separated (for logs)."""
        return ",".join(s.handedness for s in self.sequences)

    def frame(self, t_index: int, pose_index: Optional[int] = None) -> List[HandSample]:
        """Frame ``t_index``: one :class:`HandSample` per hand, sharing the rendered image (``pose_index``: the hands
        as at that frame, see :meth:`SyntheticSequence.frame`)."""
        if len(self.sequences) == 1:
            return [self.sequences[0].frame(t_index, pose_index)]
        first = self.sequences[0]
        scenes = [s.scene(t_index if pose_index is None else pose_index) for s in self.sequences]
        img = first._background.copy()
        depth = np.full((self.height, self.width), np.float32(first.wall), np.float32)
        for i in sorted(range(len(scenes)), key=lambda i: -float(scenes[i].xyz[0, 2])):  # farthest first
            rng = np.random.default_rng([first.seed, i, 1003])
            buf = render_layer(scenes[i], first.K, self.width, self.height, img, rng)
            depth = np.minimum(depth, depth_image(buf, self.width, self.height, first.wall))
        image = degrade(img, first.degradation, np.random.default_rng([first.seed, int(t_index), 1004]), first._r2)
        return [s._sample(sc, image, t_index, depth) for s, sc in zip(self.sequences, scenes)]
