"""The network, its heads, losses, presets, checkpoints and ONNX export.

Importing this package is cheap and does not import torch: only :mod:`~hand_pose_25d.model.presets` is pure
Python. The torch modules are imported explicitly where they are needed:

* :mod:`hand_pose_25d.model.presets` -- ``PRESETS``, ``preset_config(name, **overrides) -> ModelConfig``
  (``paper``, ``fast`` and the CPU real-time default ``compact``; measured in ``docs/model-presets.md``).
* :mod:`hand_pose_25d.model.network` -- ``HandPoseNet(config)``: encoder-decoder stages with skip connections.
  ``forward(x)`` takes a float tensor (B, 3, S, S) normalised with ``image_mean`` / ``image_std`` and returns a
  list with one dict per stage (see :mod:`hand_pose_25d.model.heads` for the keys).
* :mod:`hand_pose_25d.model.heads` -- ``LatentHead`` (the paper's latent 2.5D heatmaps), ``DirectHead`` and
  ``HolisticHead`` (the paper's baselines), selected by ``ModelConfig.head``.
* :mod:`hand_pose_25d.model.losses` -- ``LossConfig``, ``compute_loss(outputs, targets, model_config, loss_config)``.
* :mod:`hand_pose_25d.model.checkpoint` -- ``build_model``, ``save_checkpoint``, ``load_checkpoint``.
* :mod:`hand_pose_25d.model.onnx_export` -- ``ExportWrapper``, ``export_onnx`` (the contract it follows, and ``read_onnx_config``: :mod:`hand_pose_25d.inference.contract`).
"""
