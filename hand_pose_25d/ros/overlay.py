"""The debug image: the 2D skeleton and the network crops drawn on a copy of the input (numpy + OpenCV).

The drawing code is shared with ``hand-pose-25d predict`` and lives in :mod:`hand_pose_25d.visualize`;
:func:`draw_overlay` is :func:`hand_pose_25d.visualize.draw_overlay` (crop boxes: 'roi' yellow, 'track'
green, 'full' grey).
"""

from __future__ import annotations

from ..visualize import draw_overlay

__all__ = ["draw_overlay"]
