"""ROS 2 layer of hand_pose_25d: the ``hand_pose_node`` node, the ``synthetic_camera`` node and their pure helpers.

Importing this package (or any module except :mod:`.node`) does not import rclpy: the pure logic is tested
without ROS, as in image_pipeline's camera_calibration.

* :mod:`.node` -- ``HandPoseNode`` and ``main`` (``ros2 run hand_pose_25d hand_pose_node`` /
  ``python -m hand_pose_25d.ros.node``); imports rclpy.
* :mod:`.synthetic_camera` -- rendered hands with ground truth as a camera (rclpy imported inside ``main``).
* :mod:`.params` -- parameters and ``config/hand_pose.yaml`` generated from :class:`hand_pose_25d.config.NodeConfig`.
* :mod:`.image_conversion` -- ``sensor_msgs/Image`` <-> numpy (``step``, ``is_bigendian``; cv_bridge where usable).
* :mod:`.camera_info` -- camera_info validation (K, D, binning, ROI, rectified P) and image pairing.
* :mod:`.tracking` -- crop choice (ROI / track / full image) and track ids.
* :mod:`.runtime` -- newest-frame queue, frame statistics, per-problem log throttling.
* :mod:`.messages`, :mod:`.markers`, :mod:`.tf`, :mod:`.overlay` -- outputs.

Topics, parameters and TF frames: ``docs/ros.md``.
"""
