"""ROS 2 layer of hand_pose_25d: the ``hand_pose_node`` node, the ``synthetic_camera`` node and their pure helpers.

Importing this package (or any module except :mod:`.node`) does not import rclpy: the pure logic is tested
without ROS, as in image_pipeline's camera_calibration. This is the only room of the package that imports ROS code;
the pipeline, the tracker and the camera model it adapts are ROS-free (:mod:`hand_pose_25d.inference`,
:mod:`hand_pose_25d.camera`) and shared with the CLI.

* :mod:`.node` -- ``HandPoseNode`` and ``main`` (``ros2 run hand_pose_25d hand_pose_node`` /
  ``python -m hand_pose_25d.ros.node``); imports rclpy.
* :mod:`.synthetic_camera` -- rendered hands with ground truth as a camera (rclpy imported inside ``main``).
* :mod:`.node_config` -- :class:`~.node_config.NodeConfig`, every parameter of the node (QoS, pairing, outputs).
* :mod:`.params` -- parameters and ``config/hand_pose.yaml`` generated from :class:`~.node_config.NodeConfig`.
* :mod:`.image_conversion` -- ``sensor_msgs/Image`` <-> numpy (``step``, ``is_bigendian``; cv_bridge where usable).
* :mod:`.camera_info` -- camera_info validation (K, D, binning, ROI, rectified P) into a
  :class:`hand_pose_25d.camera.CameraCalibration`, and image pairing.
* :mod:`.runtime` -- newest-frame queue, frame statistics, per-problem log throttling.
* :mod:`.messages`, :mod:`.markers`, :mod:`.tf` -- outputs (the debug image is :func:`hand_pose_25d.visualize.draw_overlay`).
* :mod:`.demo` -- ``python -m hand_pose_25d.ros.demo`` (``make demo``): the node on the synthetic camera, end to end.

Topics, parameters and TF frames: ``docs/ros.md``.
"""
