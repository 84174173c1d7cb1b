"""Hand detection stages that run before the 2.5D pose network.

:mod:`hand_pose_25d.detection.palm` is the numpy half of a BlazePalm (MediaPipe palm detector) stage: SSD
anchors, decoding of the raw model outputs, weighted non-maximum suppression, letterboxing, and the
MediaPipe palm -> hand ROI (and landmarks -> next-frame ROI) transforms. It needs numpy only (OpenCV just for
its optional image-warp helpers); the model itself is run elsewhere.

Importing this package is cheap: it pulls in neither torch, cv2, rclpy nor tensorrt.
"""

from __future__ import annotations
