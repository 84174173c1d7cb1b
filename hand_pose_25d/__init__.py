"""hand_pose_25d: metric 3D hand pose from one RGB camera (latent 2.5D heatmap regression, Iqbal et al. 2018).

Importing the package is cheap: it pulls in neither torch, rclpy nor tensorrt. The pure core lives in
:mod:`hand_pose_25d.skeleton`, :mod:`hand_pose_25d.geometry`, :mod:`hand_pose_25d.metrics` and
:mod:`hand_pose_25d.decoding`.
"""

__version__ = "0.1.0"
