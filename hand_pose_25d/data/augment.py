"""Training crops and augmentation for any :class:`~hand_pose_25d.data.sample.HandSample` (numpy + OpenCV).

A training crop is a hand-centred square of the full image, built the way the inference pipeline builds its
crops (:func:`hand_pose_25d.crop.box_from_keypoints` with the model's ``crop_padding``), then jittered in centre,
scale and in-plane rotation, optionally mirrored. The crop's intrinsics are ``[A; 0 0 1] @ K``, so the 3D labels
stay valid and 2.5D -> 3D reconstruction from the crop is exact (tested). Colour, blur and noise changes only
touch pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..crop import CropBox, box_from_keypoints, crop_intrinsics, crop_matrix, to_3x3, transform_points, warp
from ..geometry import undistort_points
from ..settings import setting
from ..skeleton import mirror_handedness
from .sample import HandSample


@dataclass
class AugmentConfig:
    """Random crop and appearance changes applied to training samples (all off with :meth:`none`)."""

    shift: float = setting(0.1, description="Max crop centre shift as a fraction of the crop side.", min=0.0, max=1.0)
    scale_min: float = setting(
        0.85, description="Smallest crop side relative to the nominal padded box.", min=0.1, max=10.0
    )
    scale_max: float = setting(
        1.25, description="Largest crop side relative to the nominal padded box.", min=0.1, max=10.0
    )
    zoom_out_prob: float = setting(
        0.1,
        description="Probability of a zoomed-out crop (hand small in the crop, as on a first full-frame pass).",
        min=0.0,
        max=1.0,
    )
    zoom_out_max: float = setting(3.5, description="Largest zoom-out factor of such crops.", min=1.0, max=10.0)
    rotation_deg: float = setting(
        180.0, description="Max in-plane rotation of the crop in degrees.", min=0.0, max=180.0
    )
    flip_prob: float = setting(
        0.0, description="Probability of mirroring the crop (swaps the handedness label).", min=0.0, max=1.0
    )
    brightness: float = setting(0.25, description="Max relative brightness change.", min=0.0, max=1.0)
    contrast: float = setting(0.25, description="Max relative contrast change.", min=0.0, max=1.0)
    saturation: float = setting(0.3, description="Max relative saturation change.", min=0.0, max=1.0)
    hue_deg: float = setting(8.0, description="Max hue rotation in degrees.", min=0.0, max=180.0)
    blur_prob: float = setting(0.2, description="Probability of a Gaussian blur.", min=0.0, max=1.0)
    noise_std: float = setting(
        4.0, description="Max standard deviation of additive Gaussian noise (8-bit levels).", min=0.0, max=64.0
    )

    def check(self) -> None:
        if self.scale_min > self.scale_max:
            raise ValueError(f"scale_min {self.scale_min} > scale_max {self.scale_max}")

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No geometric or photometric change: the nominal crop only (evaluation)."""
        return cls(
            shift=0.0,
            scale_min=1.0,
            scale_max=1.0,
            zoom_out_prob=0.0,
            rotation_deg=0.0,
            flip_prob=0.0,
            brightness=0.0,
            contrast=0.0,
            saturation=0.0,
            hue_deg=0.0,
            blur_prob=0.0,
            noise_std=0.0,
        )


def random_crop_box(nominal: CropBox, rng: np.random.Generator, cfg: AugmentConfig) -> CropBox:
    """Jitter a nominal crop box: centre shift, scale (with occasional zoom-out) and in-plane rotation."""
    scale = rng.uniform(cfg.scale_min, cfg.scale_max)
    if cfg.zoom_out_prob > 0 and rng.random() < cfg.zoom_out_prob:
        scale *= rng.uniform(1.0, cfg.zoom_out_max)
    side = nominal.side * scale
    dx, dy = rng.uniform(-cfg.shift, cfg.shift, size=2) * nominal.side
    angle = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg)) if cfg.rotation_deg > 0 else 0.0
    return CropBox(nominal.cx + dx, nominal.cy + dy, side, float(angle))


def photometric(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Random brightness, contrast, saturation, hue, blur and noise on an (H, W, 3) uint8 RGB image."""
    import cv2

    img = image.astype(np.float32)
    if cfg.brightness > 0:
        img *= 1.0 + rng.uniform(-cfg.brightness, cfg.brightness)
    if cfg.contrast > 0:
        mean = img.mean()
        img = (img - mean) * (1.0 + rng.uniform(-cfg.contrast, cfg.contrast)) + mean
    if cfg.saturation > 0:
        grey = img.mean(axis=2, keepdims=True)
        img = (img - grey) * (1.0 + rng.uniform(-cfg.saturation, cfg.saturation)) + grey
    out = np.clip(img, 0, 255).astype(np.uint8)
    if cfg.hue_deg > 0:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
        shift = int(round(rng.uniform(-cfg.hue_deg, cfg.hue_deg) / 2.0))  # OpenCV hue is 0..179
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if cfg.blur_prob > 0 and rng.random() < cfg.blur_prob:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=float(rng.uniform(0.4, 1.5)))
    if cfg.noise_std > 0:
        std = rng.uniform(0, cfg.noise_std)
        if std > 0.5:
            noisy = out.astype(np.float32) + rng.normal(0.0, std, size=out.shape).astype(np.float32)
            out = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def training_crop(
    sample: HandSample,
    out_size: int,
    crop_padding: float,
    rng: Optional[np.random.Generator] = None,
    cfg: Optional[AugmentConfig] = None,
) -> HandSample:
    """A (jittered, augmented) ``out_size`` square crop of ``sample`` with labels in crop pixels.

    The nominal box is built from the labelled keypoints exactly as the inference pipeline builds boxes from
    tracked keypoints. Lens distortion, if any, is removed from the labels first (the crop is then treated as a
    pinhole image; the residual image distortion inside a small crop is ignored).

    Args:
        sample: full-image sample.
        out_size: crop side in pixels (the network input size).
        crop_padding: nominal box side as a multiple of the keypoints' larger extent (``ModelConfig.crop_padding``).
        rng: random generator; with ``None`` or ``cfg=AugmentConfig.none()`` the nominal crop is returned.
        cfg: augmentation settings.

    Returns:
        A new sample: image (out_size, out_size, 3), ``K`` = crop intrinsics, ``uv`` crop pixels, same ``xyz``
        (camera frame), handedness swapped when mirrored; ``meta`` gains ``crop_box`` and ``crop_matrix``.
    """
    cfg = cfg or AugmentConfig.none()
    uv = sample.uv
    if sample.dist_coeffs is not None and np.any(np.asarray(sample.dist_coeffs) != 0):
        uv = undistort_points(uv, sample.K, sample.dist_coeffs)
    valid = sample.labeled & np.isfinite(uv).all(axis=1)
    nominal = box_from_keypoints(uv, valid, padding=crop_padding)
    box = random_crop_box(nominal, rng, cfg) if rng is not None else nominal
    A = crop_matrix(box, out_size)
    handedness = sample.handedness
    if rng is not None and cfg.flip_prob > 0 and rng.random() < cfg.flip_prob:
        F = np.array([[-1.0, 0.0, out_size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        A = (F @ to_3x3(A))[:2]
        handedness = mirror_handedness(handedness) if handedness is not None else None
    image = warp(sample.image, A, out_size)
    if rng is not None:
        image = photometric(image, rng, cfg)
    uv_crop = transform_points(uv, A)
    inside = (uv_crop >= -0.5).all(axis=1) & (uv_crop <= out_size - 0.5).all(axis=1)
    meta = dict(sample.meta, crop_box=box, crop_matrix=A, source_K=sample.K)
    return HandSample(
        image=image,
        K=crop_intrinsics(sample.K, A),
        uv=uv_crop,
        visible=sample.visible & inside,
        xyz=None if sample.xyz is None else sample.xyz.copy(),
        handedness=handedness,
        dist_coeffs=None,
        meta=meta,
        labeled=sample.labeled.copy(),
    )
