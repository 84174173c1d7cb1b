"""hand_pose_25d: metric 3D hand pose from one RGB camera (latent 2.5D heatmap regression, Iqbal et al. 2018).

Importing the package is cheap: it pulls in neither torch, rclpy nor tensorrt. One room per concern:

* pure core (numpy): :mod:`.skeleton` (keypoints, bones, colours), :mod:`.geometry` (2.5D <-> 3D, scale),
  :mod:`.crop`, :mod:`.camera` (intrinsics, distortion, calibration YAML), :mod:`.metrics`, :mod:`.evaluation`,
  :mod:`.visualize`, :mod:`.fileio` (atomic writes, strict JSON), :mod:`.settings` (the typed settings machinery);
* :mod:`.model` -- the network (torch), its :class:`~.model.model_config.ModelConfig`, presets, losses,
  checkpoints and ONNX export;
* :mod:`.inference` -- the exported model's contract and backends, the pipeline and its settings, the tracker;
* :mod:`.detection` -- the palm detector's decoding (anchors, NMS, hand boxes);
* :mod:`.pretrained` -- importing real-trained weights (TFLite) from registry packages;
* :mod:`.data` -- datasets, the synthetic renderer, augmentation; :mod:`.training` -- the training loop;
* :mod:`.bench` -- benchmarks; :mod:`.commands` and :mod:`.cli` -- the ``hand-pose-25d`` command;
* :mod:`.ros` -- everything ROS 2: the node, its settings, messages, TF, markers, the synthetic camera and the demo.
  Only this room imports ROS (``test/unit/test_imports.py``).
"""

__version__ = "0.1.0"
