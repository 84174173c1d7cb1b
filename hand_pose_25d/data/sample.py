"""The one sample type every dataset reader and the synthetic renderer produce (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from ..skeleton import HANDEDNESS, NUM_KEYPOINTS


@dataclass
class HandSample:
    """One hand in one RGB image, in this package's keypoint order (:mod:`hand_pose_25d.skeleton`).

    Attributes:
        image: (H, W, 3) uint8 RGB image.
        K: (3, 3) float64 intrinsics of ``image`` (pixel centres at integer coordinates).
        uv: (21, 2) float64 keypoint pixel positions in ``image``.
        visible: (21,) bool, True where the keypoint is annotated and visible (used to mask 2D losses/metrics).
        xyz: (21, 3) float64 keypoints in metres in the camera frame (REP 103 optical frame), or None when
            the sample has 2D labels only.
        handedness: 'left', 'right' (anatomical) or None when unknown.
        dist_coeffs: optional plumb_bob distortion of ``image``; ``uv`` are the distorted (observed) pixels.
        meta: free-form provenance (dataset name, index, file path ...).
        labeled: (21,) bool, True where ``uv`` (and ``xyz``) hold a real label, visible or occluded; defaults to
            all True. Training losses mask with ``labeled``; metrics may use ``visible`` (datasets' convention).
        depth: optional (H, W) float32 exact depth in metres aligned to ``image`` (the renderer's: the hand, and a
            wall behind it); a sensor's version is :func:`hand_pose_25d.depth.simulate_depth` of it.
    """

    image: np.ndarray
    K: np.ndarray
    uv: np.ndarray
    visible: np.ndarray
    xyz: Optional[np.ndarray] = None
    handedness: Optional[str] = None
    dist_coeffs: Optional[np.ndarray] = None
    meta: Dict[str, Any] = field(default_factory=dict)
    labeled: Optional[np.ndarray] = None
    depth: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.labeled = (
            np.ones(NUM_KEYPOINTS, dtype=bool) if self.labeled is None else np.asarray(self.labeled, dtype=bool)
        )
        self.K = np.asarray(self.K, dtype=np.float64)
        self.uv = np.asarray(self.uv, dtype=np.float64)
        self.visible = np.asarray(self.visible, dtype=bool)
        if self.xyz is not None:
            self.xyz = np.asarray(self.xyz, dtype=np.float64)
        self.check()

    @property
    def has_3d(self) -> bool:
        """True when the sample carries 3D labels."""
        return self.xyz is not None

    def check(self) -> None:
        """Raise ``ValueError`` naming the first malformed field."""
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"image must be an (H, W, 3) uint8 RGB array, got {getattr(img, 'shape', None)} "
                f"{getattr(img, 'dtype', type(img).__name__)}"
            )
        if self.K.shape != (3, 3):
            raise ValueError(f"K must be (3, 3), got {self.K.shape}")
        if self.uv.shape != (NUM_KEYPOINTS, 2):
            raise ValueError(f"uv must be ({NUM_KEYPOINTS}, 2), got {self.uv.shape}")
        if self.visible.shape != (NUM_KEYPOINTS,):
            raise ValueError(f"visible must be ({NUM_KEYPOINTS},), got {self.visible.shape}")
        if self.labeled.shape != (NUM_KEYPOINTS,):
            raise ValueError(f"labeled must be ({NUM_KEYPOINTS},), got {self.labeled.shape}")
        if self.xyz is not None and self.xyz.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"xyz must be ({NUM_KEYPOINTS}, 3) or None, got {self.xyz.shape}")
        if self.handedness is not None and self.handedness not in HANDEDNESS:
            raise ValueError(f"handedness must be 'left', 'right' or None, got {self.handedness!r}")
