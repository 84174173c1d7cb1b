"""Every probability and range of the synthetic hand renderer, as one typed settings dataclass."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Tuple

from ...settings import setting

__all__ = ["SyntheticConfig", "LEGACY_SETTINGS", "legacy_config"]


@dataclass
class SyntheticConfig:
    """Distribution of the synthetic scenes (hand, camera, appearance, background, occluders, degradations).

    Ranges are ``(low, high)`` pairs, sampled uniformly unless a description says otherwise. Probabilities
    are per sample. Lengths are metres, angles degrees, pixel values on the 0-255 scale.
    """

    # ---- the hand -------------------------------------------------------------------------------------------
    hand_scale_range: Tuple[float, float] = setting(
        (0.8, 1.2), description="Overall hand size as a multiple of the default adult bone lengths."
    )
    bone_proportion_sigma: float = setting(
        0.04,
        description="Std of the per-bone log length factor (clipped at 2.5 sigma), on top of the scale.",
        min=0.0,
        max=0.2,
    )
    thickness_range: Tuple[float, float] = setting(
        (0.88, 1.15), description="Finger and palm thickness as a multiple of the default for the hand's size."
    )
    left_hand_prob: float = setting(0.5, description="Probability that the hand is a left hand.", min=0.0, max=1.0)
    pose_uniform_weight: float = setting(
        0.2, description="Mixture weight of poses with independent uniform joint angles within the limits.", min=0.0
    )
    pose_synergy_weight: float = setting(
        0.4, description="Mixture weight of poses from correlated finger curls (grasp synergies).", min=0.0
    )
    pose_gesture_weight: float = setting(
        0.4, description="Mixture weight of perturbed canonical gestures (open, fist, point, pinch, ...).", min=0.0
    )
    gesture_noise_deg: float = setting(
        7.0, description="Std of the Gaussian perturbation of gesture joint angles, degrees.", min=0.0, max=45.0
    )
    # ---- camera and placement -------------------------------------------------------------------------------
    distance_range: Tuple[float, float] = setting((0.2, 1.5), description="Depth (camera Z) of the wrist in metres.")
    distance_log_uniform: bool = setting(
        True, description="Sample the wrist depth log-uniformly (more near hands) instead of uniformly."
    )
    hfov_range_deg: Tuple[float, float] = setting(
        (45.0, 90.0), description="Horizontal field of view of the random pinhole camera, degrees."
    )
    principal_point_jitter: float = setting(
        0.03,
        description="Std of the principal point offset from the image centre, as a fraction of the size.",
        min=0.0,
        max=0.2,
    )
    focal_aspect_jitter: float = setting(
        0.02, description="Max relative difference between fy and fx.", min=0.0, max=0.2
    )
    palm_facing_prob: float = setting(
        0.5,
        description="Probability of a rotation with the palm or the back facing the camera (else uniform).",
        min=0.0,
        max=1.0,
    )
    palm_facing_max_deg: float = setting(
        50.0,
        description="Max angle between the palm normal and the viewing axis for palm/back-facing hands.",
        min=0.0,
        max=90.0,
    )
    crop_camera_sizes: Tuple[Tuple[int, int], ...] = setting(
        default_factory=lambda: ((640, 480), (1280, 720), (320, 240), (848, 480)),
        description="(width, height) of the full cameras that training crops are cut from, chosen uniformly.",
    )
    crop_partial_prob: float = setting(
        0.08, description="Probability that a training crop's hand extends beyond its camera image.", min=0.0, max=1.0
    )
    crop_center_jitter: float = setting(
        0.1, description="Max shift of the crop centre as a fraction of the crop side.", min=0.0, max=0.5
    )
    crop_scale_range: Tuple[float, float] = setting(
        (0.85, 1.25), description="Multiplier of the crop side (sampled log-uniformly)."
    )
    crop_rotation_deg: float = setting(
        180.0, description="Max in-plane rotation of the crop, degrees (0 disables).", min=0.0, max=180.0
    )
    # ---- appearance -----------------------------------------------------------------------------------------
    forearm_prob: float = setting(
        0.97,
        description="Probability of a forearm attached at the wrist (else the hand ends at the wrist; 0.85 before "
        "the realism settings).",
        min=0.0,
        max=1.0,
    )
    sleeve_prob: float = setting(
        0.4, description="Probability that the forearm wears a sleeve (given a forearm).", min=0.0, max=1.0
    )
    nail_prob: float = setting(0.7, description="Probability of visible (lighter or painted) nails.", min=0.0, max=1.0)
    albedo_noise: float = setting(
        0.08, description="Amplitude of the low-frequency multiplicative skin albedo noise.", min=0.0, max=0.5
    )
    ambient_range: Tuple[float, float] = setting((0.25, 0.6), description="Ambient light intensity.")
    specular_prob: float = setting(0.5, description="Probability of a specular highlight term.", min=0.0, max=1.0)
    glove_prob: float = setting(
        0.03, description="Probability of a uniformly coloured (gloved) hand instead of skin.", min=0.0, max=1.0
    )
    # ---- realism (skin texture, lighting, shadows, arm; LEGACY_SETTINGS turns all of it off) ------------------
    skin_texture: float = setting(
        1.0,
        description="Strength of the skin texture: blotches (redness and pigment), knuckle and crease darkening at "
        "the finger joints, a whiter free edge of the nails (0: the plain albedo noise only).",
        min=0.0,
        max=3.0,
    )
    subsurface: float = setting(
        0.6,
        description="Strength of the subsurface-scattering look of skin: reddish light bleeding past the shadow "
        "terminator and a soft sheen (0: plain wrapped Lambert).",
        min=0.0,
        max=2.0,
    )
    light_temperature_range: Tuple[float, float] = setting(
        (2700.0, 7500.0),
        description="Colour temperature of the key light in kelvin (log-uniform); the ambient light gets a "
        "cooler or warmer tint to match. (0, 0): the legacy +-12 % warm/cool tint.",
    )
    shadow_prob: float = setting(
        0.3,
        description="Probability of soft self-shadowing of the hand by the key light (a low-resolution shadow map "
        "cast with the same ray caster).",
        min=0.0,
        max=1.0,
    )
    shadow_strength_range: Tuple[float, float] = setting(
        (0.5, 0.9), description="Fraction of the key light that a shadow removes."
    )
    arm_to_border: bool = setting(
        True,
        description="Extend the upper arm until it leaves the camera image, so that an arm never ends in view.",
    )
    sleeve_texture: float = setting(
        1.0,
        description="Strength of the cloth texture of sleeves (stripes on some, fold shading, weave noise; 0: flat).",
        min=0.0,
        max=3.0,
    )
    # ---- background -----------------------------------------------------------------------------------------
    background_photo_prob: float = setting(
        0.6,
        description="Probability of a photographic background (wallpapers found in /usr/share/wallpapers, "
        "/usr/share/backgrounds, $HAND_POSE_BACKGROUNDS and background_photo_dirs) instead of a procedural one; "
        "without photos the procedural ones are used (a warning says so once).",
        min=0.0,
        max=1.0,
    )
    background_photo_dirs: Tuple[str, ...] = setting(
        default_factory=tuple,
        description="More folders searched (recursively) for background photos (.jpg, .png, .webp).",
    )
    background_photo_system: bool = setting(
        True,
        description="Also search the standard wallpaper folders (/usr/share/wallpapers, /usr/share/backgrounds).",
    )
    fda_prob: float = setting(
        0.2,
        description="Probability of amplitude-spectrum (Fourier domain adaptation) augmentation: the low-frequency "
        "amplitude of the rendered image blended with a background photo's, the phase kept.",
        min=0.0,
        max=1.0,
    )
    fda_beta_range: Tuple[float, float] = setting(
        (0.005, 0.03),
        description="Half-width of the low-frequency band whose amplitude is swapped, as a fraction of the "
        "shorter image side (FDA's beta).",
    )
    fda_blend_range: Tuple[float, float] = setting(
        (0.2, 0.7), description="Weight of the photo's amplitude in the blend (1: swapped as in FDA)."
    )
    clutter_range: Tuple[int, int] = setting((0, 14), description="Number of 2D clutter shapes on the background.")
    skin_distractor_prob: float = setting(
        0.3, description="Probability of skin-coloured blobs among the background clutter.", min=0.0, max=1.0
    )
    background_blur_prob: float = setting(
        0.35, description="Probability of defocus blur of the background.", min=0.0, max=1.0
    )
    # ---- occluders ------------------------------------------------------------------------------------------
    occluder_prob: float = setting(
        0.2, description="Probability of 3D occluders (spheres, boxes, rods) between camera and hand.", min=0.0, max=1.0
    )
    held_object_prob: float = setting(
        0.7, description="Probability of an object held in the hand for grasp gestures.", min=0.0, max=1.0
    )
    # ---- image degradations ---------------------------------------------------------------------------------
    gaussian_blur_prob: float = setting(0.3, description="Probability of Gaussian blur.", min=0.0, max=1.0)
    blur_sigma_range: Tuple[float, float] = setting((0.4, 1.6), description="Gaussian blur sigma in pixels.")
    motion_blur_prob: float = setting(0.12, description="Probability of linear motion blur.", min=0.0, max=1.0)
    motion_blur_length_range: Tuple[int, int] = setting((3, 9), description="Motion blur kernel length in pixels.")
    noise_prob: float = setting(0.6, description="Probability of Gaussian sensor noise.", min=0.0, max=1.0)
    noise_sigma_range: Tuple[float, float] = setting((1.0, 8.0), description="Sensor noise std (0-255 scale).")
    jpeg_prob: float = setting(0.4, description="Probability of JPEG compression artefacts.", min=0.0, max=1.0)
    jpeg_quality_range: Tuple[int, int] = setting((30, 95), description="JPEG quality.")
    brightness_jitter: float = setting(
        0.25, description="Max relative change of the image brightness.", min=0.0, max=1.0
    )
    contrast_jitter: float = setting(0.25, description="Max relative change of the image contrast.", min=0.0, max=1.0)
    saturation_jitter: float = setting(0.3, description="Max relative change of colour saturation.", min=0.0, max=1.0)
    white_balance_jitter: float = setting(
        0.08, description="Max relative per-channel gain (white balance error).", min=0.0, max=0.5
    )
    gamma_range: Tuple[float, float] = setting((0.75, 1.35), description="Gamma applied to the [0, 1] image.")
    vignetting_prob: float = setting(0.3, description="Probability of vignetting.", min=0.0, max=1.0)
    vignetting_strength: float = setting(
        0.45, description="Max darkening at the image corners by vignetting.", min=0.0, max=1.0
    )

    def check(self) -> None:
        """Consistency of the range settings (called by :func:`hand_pose_25d.settings.validate`)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_range"):
                if len(value) != 2 or not value[0] <= value[1]:
                    raise ValueError(f"{f.name}: expected (low, high) with low <= high, got {value!r}")
        positive = (
            "hand_scale_range",
            "thickness_range",
            "distance_range",
            "hfov_range_deg",
            "crop_scale_range",
            "gamma_range",
            "blur_sigma_range",
        )
        for name in positive:
            value = getattr(self, name)
            if len(value) != 2 or not (0 < value[0] <= value[1]):
                raise ValueError(f"{name}: expected 0 < low <= high, got {value!r}")
        if self.hfov_range_deg[1] >= 170:
            raise ValueError(
                f"hfov_range_deg: a pinhole field of view must be below 170 degrees, got {self.hfov_range_deg}"
            )
        if self.distance_range[0] < 0.05:
            raise ValueError(f"distance_range: the hand must be at least 0.05 m away, got {self.distance_range}")
        if self.pose_uniform_weight + self.pose_synergy_weight + self.pose_gesture_weight <= 0:
            raise ValueError("pose_*_weight: at least one pose mixture weight must be positive")
        if not self.crop_camera_sizes or any(len(s) != 2 or min(s) < 16 for s in self.crop_camera_sizes):
            raise ValueError(
                f"crop_camera_sizes: expected (width, height) pairs of at least 16 px, got {self.crop_camera_sizes!r}"
            )
        if self.clutter_range[0] < 0 or self.motion_blur_length_range[0] < 1:
            raise ValueError("clutter_range and motion_blur_length_range must be non-negative / at least 1")
        if not (0.0 <= self.fda_beta_range[0] and self.fda_beta_range[1] <= 0.5):
            raise ValueError(f"fda_beta_range must lie in [0, 0.5], got {self.fda_beta_range}")
        if not (0.0 <= self.fda_blend_range[0] and self.fda_blend_range[1] <= 1.0):
            raise ValueError(f"fda_blend_range must lie in [0, 1], got {self.fda_blend_range}")
        if not (0.0 <= self.shadow_strength_range[0] and self.shadow_strength_range[1] <= 1.0):
            raise ValueError(f"shadow_strength_range must lie in [0, 1], got {self.shadow_strength_range}")
        t = self.light_temperature_range
        if tuple(t) != (0.0, 0.0) and not (1000.0 <= t[0] and t[1] <= 20000.0):
            raise ValueError(f"light_temperature_range: expected kelvin in 1000..20000 or (0, 0), got {t}")
        if not (1 <= self.jpeg_quality_range[0] and self.jpeg_quality_range[1] <= 100):
            raise ValueError(f"jpeg_quality_range must lie in 1..100, got {self.jpeg_quality_range}")


#: The settings that turn every realism addition off: the renderer then draws the images it drew before them,
#: sample for sample (the "before" of ``tools/measure_realism.py --legacy``).
LEGACY_SETTINGS = {
    "forearm_prob": 0.85,
    "skin_texture": 0.0,
    "subsurface": 0.0,
    "light_temperature_range": (0.0, 0.0),
    "shadow_prob": 0.0,
    "arm_to_border": False,
    "sleeve_texture": 0.0,
    "background_photo_prob": 0.0,
    "fda_prob": 0.0,
}


def legacy_config(**overrides: object) -> SyntheticConfig:
    """A :class:`SyntheticConfig` with :data:`LEGACY_SETTINGS` (then ``overrides``) applied."""
    values = dict(LEGACY_SETTINGS)
    values.update(overrides)
    return SyntheticConfig(**values)  # type: ignore[arg-type]
