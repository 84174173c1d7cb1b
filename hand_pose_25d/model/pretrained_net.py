"""The latent 2.5D head on a pretrained encoder: MediaPipe's hand-landmark network, imported from its TFLite file.

``hand_landmark_full.tflite`` (inside the ``mediapipe==0.10.21`` wheel, Apache-2.0, (c) The MediaPipe Authors) is a
MobileNet-style encoder trained on real annotated hands. :func:`build_pretrained_net` imports it with the project's
TFLite importer (:mod:`hand_pose_25d.pretrained`), cuts it at stride ``E = output_stride * 2**depth`` (e.g. 16),
runs it at the model's ``input_size`` (any multiple of its coarsest stride; it is fully convolutional up to the
cut) and adds a light decoder back to the heatmap resolution, with skip features from the encoder::

    x (B, 3, S, S), RGB in [0, 1]  ->  encoder maps f_s at s = output_stride, 2 output_stride, ..., E
    d_E = block(lateral_E(f_E))                                        (C, S/E)
    d_s = block(up2(d_2s) + lateral_s(f_s)),  s = E/2 .. output_stride  (C, S/s)     C = ModelConfig.channels
    head(d_output_stride, deepest = f_E)                              latent / direct / holistic (see .heads)

``lateral`` is a 1x1 conv-BN-ReLU, ``block`` a ``ModelConfig.block`` block (``blocks_per_level`` of them). The
imported encoder has no normalisation layers (TFLite folds them into the convolutions); its weights are trained with
the rest. The network's input convention is MediaPipe's (RGB in [0, 1]), so the presets set ``image_mean`` 0 and
``image_std`` 1.

The model carries the weight-free graph of its encoder (:attr:`PretrainedHandPoseNet.encoder_graph`, see
:mod:`hand_pose_25d.pretrained.graph_spec`); a checkpoint stores it, so loading needs neither the wheel nor the
``.tflite``. Building a fresh model (for training) needs the ``.tflite``: from the models folder, else from the
mediapipe wheel (downloaded with ``pip download --no-deps`` once, as ``hand-pose-25d setup-models`` does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..pretrained.graph_spec import description_from_spec, graph_spec, resize_input
from .heads import build_head
from .model_config import ModelConfig
from .network import make_block

__all__ = [
    "ENCODER_LICENSE",
    "encoder_tflite",
    "encoder_weights_record",
    "PretrainedHandPoseNet",
    "build_pretrained_net",
]

#: The license of the MediaPipe hand models, as recorded in :attr:`ModelConfig.weights_license`.
ENCODER_LICENSE = "Apache-2.0 (The MediaPipe Authors; notice: THIRD_PARTY_NOTICES.md, LICENSE.mediapipe.txt)"


def encoder_tflite(
    name: str, models_dir: Optional[Union[str, os.PathLike]] = None, cache_dir: Optional[Union[str, os.PathLike]] = None
) -> Path:
    """The ``.tflite`` of the MediaPipe model ``name``: ``<models_dir>/mediapipe/<name>.tflite`` if it is there and
    matches its ``.sha256`` record, else extracted there from the mediapipe wheel (found in ``cache_dir`` or
    downloaded).

    Raises:
        hand_pose_25d.pretrained.mediapipe_wheel.PretrainedError: the wheel is missing and cannot be downloaded,
            is damaged, or lacks the model.
    """
    from ..detection.palm_detector import default_models_dir
    from ..pretrained.mediapipe_wheel import (
        MODELS,
        PretrainedError,
        default_cache_dir,
        extract_model,
        find_or_download_wheel,
        sha256_file,
    )

    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    folder = folder / "mediapipe"
    info = MODELS[name]
    path = folder / info.file_name
    if path.is_file() and sha256_file(path) == info.sha256:
        return path
    wheel = find_or_download_wheel(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    path = extract_model(wheel, name, folder)
    digest = sha256_file(path)
    if digest != info.sha256:
        raise PretrainedError(
            f"{wheel}: {info.member} has sha256 {digest}, not the file the pretrained encoder was made from "
            f"({info.sha256}); use the mediapipe 0.10.21 wheel from PyPI"
        )
    return path


def encoder_weights_record(name: str) -> str:
    """The :attr:`ModelConfig.weights_source` text of the encoder ``name`` (file in the wheel and its sha256)."""
    from ..pretrained.mediapipe_wheel import MEDIAPIPE_VERSION, MODELS

    return (
        f"mediapipe=={MEDIAPIPE_VERSION} wheel (PyPI): {MODELS[name].member} sha256 {MODELS[name].sha256}; "
        "cut, resized and fine-tuned by hand_pose_25d"
    )


class _Lateral(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PretrainedHandPoseNet(nn.Module):
    """Imported encoder + decoder + head (see the module docstring); same call convention as ``HandPoseNet``.

    ``forward(x)`` takes (B, 3, S, S) float RGB in [0, 1] (normalised with the config's image_mean 0 / image_std 1)
    and returns a one-element list with the head's output dict.

    Args:
        config: a config with ``encoder`` set.
        encoder_graph: the encoder's weight-free graph (:func:`~hand_pose_25d.pretrained.graph_spec.graph_spec`) at
            ``config.input_size``; its ``outputs`` are the feature maps at strides ``output_stride`` .. E.
        encoder: an already built encoder module for that graph (with the imported weights); ``None`` builds one
            with zero weights, to be replaced by ``load_state_dict``.
    """

    def __init__(self, config: ModelConfig, encoder_graph: Dict[str, Any], encoder: Optional[nn.Module] = None) -> None:
        super().__init__()
        from ..pretrained.tflite_reader import check_supported
        from ..pretrained.tflite_torch import SUPPORTED_OPS, TFLiteModule

        config.check()
        if config.encoder == "none":
            raise ValueError("PretrainedHandPoseNet needs a config with an encoder (ModelConfig.encoder)")
        self.config = config
        self.encoder_graph = encoder_graph
        if encoder is None:
            desc, outs = description_from_spec(encoder_graph)
            check_supported(desc, SUPPORTED_OPS)
            encoder = TFLiteModule(desc, input_layout="NCHW", outputs=outs, output_layout="NCHW")
        self.encoder = encoder
        shapes = [encoder.tensor_shapes[i] for i in encoder.output_indices]  # NHWC
        s = config.input_size
        strides = [s // int(sh[1]) for sh in shapes]
        want = [config.output_stride * 2**i for i in range(config.depth + 1)]
        if strides != want or any(int(sh[1]) * st != s for sh, st in zip(shapes, strides)):
            raise ValueError(
                f"the encoder graph gives maps at strides {strides} for input {s}; the config needs {want}"
            )
        enc_ch = [int(sh[3]) for sh in shapes]
        c = config.channels
        n = config.blocks_per_level
        probe = build_head(config, c, enc_ch[-1])
        self.with_decoder = probe.produces_maps
        if self.with_decoder:
            self.lateral = nn.ModuleList(_Lateral(ch, c) for ch in enc_ch)
            self.post = nn.ModuleList(
                nn.Sequential(*[make_block(config.block, c, c) for _ in range(n)]) for _ in enc_ch
            )
        self.head = probe

    def freeze_encoder(self, stride: int) -> int:
        """Stop training the encoder's operators whose output map has a stride <= ``stride`` (input pixels per map
        pixel; 0 freezes nothing, the cut stride everything). Returns the number of parameters frozen.

        Frozen early layers are also not back-propagated through, which is most of a training step's cost.
        """
        s = self.config.input_size
        frozen = 0
        for key, _, _, out_idx, _ in self.encoder._plan:
            shape = self.encoder.tensor_shapes[out_idx]
            if len(shape) == 4 and s // int(shape[1]) <= stride:
                for p in self.encoder.ops[key].parameters():
                    if p.requires_grad:
                        p.requires_grad_(False)
                        frozen += p.numel()
        return frozen

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is a floating tensor (B, 3, S, S) with S = ``config.input_size``."""
        s = self.config.input_size
        if not isinstance(x, Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (3, s, s) or not x.is_floating_point():
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"expected a float tensor (B, 3, {s}, {s}) RGB in [0, 1], got {got}")

    def forward(self, x: Tensor) -> List[Dict[str, Tensor]]:
        """(B, 3, S, S) RGB in [0, 1] -> ``[head output dict]`` (see :mod:`.heads`)."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            self.check_input(x)
        feats = self.encoder(x)
        deepest = feats[-1]
        if not self.with_decoder:
            return [self.head(None, deepest)]
        y = self.post[-1](self.lateral[-1](deepest))
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, scale_factor=2.0, mode="nearest") + self.lateral[i](feats[i])
            y = self.post[i](y)
        return [self.head(y, deepest)]


def build_pretrained_net(
    config: ModelConfig,
    encoder_graph: Optional[Dict[str, Any]] = None,
    *,
    models_dir: Optional[Union[str, os.PathLike]] = None,
    cache_dir: Optional[Union[str, os.PathLike]] = None,
) -> PretrainedHandPoseNet:
    """The network of ``config``: from ``encoder_graph`` (a checkpoint's; weights follow by ``load_state_dict``)
    or, when it is None, with the imported TFLite weights (see :func:`encoder_tflite` for where the file comes from).
    """
    if encoder_graph is not None:
        return PretrainedHandPoseNet(config, encoder_graph)
    from ..pretrained.mediapipe_wheel import MODELS
    from ..pretrained.tflite_reader import read_tflite
    from ..pretrained.tflite_torch import SUPPORTED_OPS, TFLiteModule

    name = config.encoder
    if MODELS[name].sha256 not in config.weights_source:
        raise ValueError(
            f"weights_source {config.weights_source!r} does not name the file the {name} encoder is imported from "
            f"(sha256 {MODELS[name].sha256}); set it with encoder_weights_record({name!r})"
        )
    tfl = encoder_tflite(name, models_dir, cache_dir)
    desc = read_tflite(tfl, supported=SUPPORTED_OPS)
    strides = MODELS[name].stride_features
    names = [strides[config.output_stride * 2**i] for i in range(config.depth + 1)]
    s = config.input_size
    desc = resize_input(desc, s, s, outputs=names)
    encoder = TFLiteModule(desc, input_layout="NCHW", outputs=names, output_layout="NCHW")
    return PretrainedHandPoseNet(config, graph_spec(desc, names), encoder)
