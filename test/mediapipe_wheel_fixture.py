"""The cached mediapipe 0.10.21 wheel that tests of the real MediaPipe models use, if there is one (never downloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from hand_pose_25d.pretrained import mediapipe_wheel
from hand_pose_25d.pretrained.mediapipe_wheel import PretrainedError, find_or_download_wheel

REPO = Path(__file__).resolve().parents[1]


def cached_wheel() -> Optional[Path]:
    """A wheel in ``$HAND_POSE_WHEEL_CACHE`` (``hand-pose-25d setup-models`` puts it there) or ``<repo>/.whl``."""
    for folder in (mediapipe_wheel.default_cache_dir(), REPO / ".whl"):
        try:
            return find_or_download_wheel(Path(folder), download=False)
        except PretrainedError:
            continue
    return None
