"""Inference: the exported model's contract, its backends, the pipeline and its settings, the tracker (numpy core).

* :mod:`.contract` -- tensor names, metadata key and format version, :data:`~.contract.BACKENDS`, the
  :class:`~.contract.Backend` interface, :func:`~.contract.parse_device`, :func:`~.contract.read_onnx_config`;
* :mod:`.backends` -- ONNX Runtime and PyTorch backends, :func:`~.backends.create_backend`, the shipped model's path;
  :mod:`.tensorrt_backend` -- TensorRT engines (runtimes imported lazily, with what to install when missing);
* :mod:`.pipeline_config` -- :class:`~.pipeline_config.PipelineConfig`;
* :mod:`.pipeline` -- :class:`~.pipeline.HandPoseEstimator`: image + intrinsics + crops -> metric 3D hands;
* :mod:`.tracking` -- :class:`~.tracking.TrackingConfig` and :class:`~.tracking.HandTracker`: crop choice and
  track ids across frames (used by the ROS node and ``hand-pose-25d predict``).
"""
