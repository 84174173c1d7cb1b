"""ONNX export of the network with pre-processing and decoding inside the graph.

The exported graph (and :class:`ExportWrapper`, which other backends such as TensorRT reuse) follows the contract of
:mod:`hand_pose_25d.inference.contract`: input ``image`` (uint8 RGB crops) and outputs ``uv``, ``z_rel``,
``keypoint_scores``, ``handedness``, taken from the LAST stage. The conversion to float and the normalisation
(:class:`~hand_pose_25d.model.network.ImageNormalizer`, the same module training uses) happen in the graph. The
batch axis is dynamic by default. The model's :class:`ModelConfig` is stored as JSON in the ONNX
``metadata_props`` under the contract's ``CONFIG_KEY``, with ``FORMAT_VERSION_KEY``;
:func:`hand_pose_25d.inference.contract.read_onnx_config` reads it back and checks the version.

The export uses PyTorch's TorchScript-based exporter (``dynamo=False``), which needs no extra package.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from ..fileio import atomic_output
from ..inference.contract import CONFIG_KEY, FORMAT_VERSION, FORMAT_VERSION_KEY, INPUT_NAME, OUTPUT_NAMES
from .model_config import ModelConfig
from .network import ImageNormalizer, check_config_matches

__all__ = ["ExportWrapper", "export_onnx", "trace_to_onnx", "round_weights_to_half"]


class ExportWrapper(nn.Module):
    """Deployment form of a model: uint8 NHWC RGB crops in, the last stage's decoded 2.5D pose out.

    ``forward(image)`` takes a uint8 tensor (B, S, S, 3) and returns ``(uv (B, K, 2), z_rel (B, K),
    keypoint_scores (B, K), handedness (B,))`` as float32 (see the module docstring). Call ``eval()`` first
    (BatchNorm must use its running statistics).
    """

    def __init__(self, model: nn.Module, config: ModelConfig) -> None:
        super().__init__()
        check_config_matches(model, config)
        self.model = model
        self.input_size = config.input_size
        self.normalize = ImageNormalizer(config)

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """uint8 (B, S, S, 3) RGB -> (uv, z_rel, keypoint_scores, handedness), float32."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            s = self.input_size
            if image.dim() != 4 or tuple(image.shape[1:]) != (s, s, 3) or image.dtype != torch.uint8:
                raise ValueError(f"expected a uint8 tensor (B, {s}, {s}, 3), got {image.dtype} {tuple(image.shape)}")
        out = self.model(self.normalize(image))[-1]
        return out["uv"], out["z"], out["confidence"], torch.sigmoid(out["handedness_logit"])


def export_onnx(
    model: nn.Module,
    config: ModelConfig,
    path: Union[str, os.PathLike],
    *,
    opset: int = 17,
    dynamic_batch: bool = True,
    half_weights: bool = False,
) -> Path:
    """Export ``model`` (built from ``config``) to an ONNX file with the I/O of :class:`ExportWrapper`.

    The model is exported in eval mode on the CPU (its mode and device are restored afterwards). The result
    passes ``onnx.checker.check_model`` and carries the config in its metadata.

    Args:
        model: the network.
        config: its :class:`ModelConfig` (architecture fields must match the model's).
        path: destination ``.onnx`` file (parent directories are created; written atomically).
        opset: ONNX opset version.
        dynamic_batch: make the batch axis of the input and outputs dynamic (else fixed to 1).
        half_weights: store the large float32 weights as float16 initializers followed by a ``Cast`` to float32:
            half the file size; runtimes fold the casts when they load the model, so inference still runs in
            float32 on the float16-rounded weights (round the model's weights to float16 first, e.g. with
            :func:`round_weights_to_half`, for PyTorch and ONNX to compute the same function).

    Returns:
        The path written.
    """

    if not isinstance(config, ModelConfig):
        raise ValueError(f"config must be a ModelConfig, got {type(config).__name__}")
    config.check()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    wrapper = ExportWrapper(model, config).cpu().eval()
    s = config.input_size
    dummy = torch.randint(0, 256, (2 if dynamic_batch else 1, s, s, 3), dtype=torch.uint8)
    dynamic_axes = {name: {0: "batch"} for name in (INPUT_NAME,) + OUTPUT_NAMES} if dynamic_batch else None
    try:
        trace_to_onnx(
            wrapper,
            (dummy,),
            path,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic_axes,
            opset=opset,
            metadata={CONFIG_KEY: config.to_json(), FORMAT_VERSION_KEY: FORMAT_VERSION},
            doc=(
                "hand_pose_25d latent 2.5D hand pose network. Input 'image': uint8 (B, S, S, 3) RGB crop. Outputs: "
                "'uv' (B, K, 2) crop pixels, 'z_rel' (B, K) root-relative depth / reference bone length, "
                "'keypoint_scores' (B, K) in [0, 1], 'handedness' (B,) P(right hand). Config: metadata " + CONFIG_KEY
            ),
            # half_weights: keep BatchNormalization nodes (ONNX Runtime and TensorRT fuse them at load time in
            # float32), so that the stored float16 numbers are the model's own, not products of a fusion
            training=torch.onnx.TrainingMode.PRESERVE if half_weights else torch.onnx.TrainingMode.EVAL,
            transform=_store_initializers_as_half if half_weights else None,
        )
    finally:
        model.to(device)
        model.train(was_training)
    return path


def trace_to_onnx(
    module: nn.Module,
    example_inputs: Tuple[Tensor, ...],
    path: Union[str, os.PathLike],
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Optional[Dict[str, Dict[int, str]]] = None,
    opset: int = 17,
    metadata: Optional[Mapping[str, str]] = None,
    producer: str = "hand_pose_25d",
    doc: str = "",
    training: Any = None,
    transform: Optional[Callable[[Any], None]] = None,
) -> Path:
    """The package's one way to write an ONNX file from a torch module: the TorchScript-based exporter
    (``dynamo=False``), constant folding, exporter warnings silenced, ``metadata`` as ``metadata_props``, the
    result checked with ``onnx.checker`` and written atomically (``path``'s folder must exist).

    Args:
        module: traced in its current mode and device (put it in eval mode on the CPU first).
        example_inputs: the inputs to trace with.
        transform: applied to the loaded ``ModelProto`` before the metadata is set (e.g. float16 storage).
        training: ``torch.onnx.TrainingMode`` (default EVAL).
    """
    import onnx

    path = Path(path)
    with atomic_output(path) as tmp:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*[Cc]onstant folding.*", category=UserWarning)
            torch.onnx.export(
                module,
                example_inputs,
                tmp,
                dynamo=False,
                opset_version=opset,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
                training=torch.onnx.TrainingMode.EVAL if training is None else training,
            )
        proto = onnx.load(tmp)
        if transform is not None:
            transform(proto)
        del proto.metadata_props[:]
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = producer
        proto.doc_string = doc
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
    return path


def round_weights_to_half(model: nn.Module) -> nn.Module:
    """Round every floating-point parameter and buffer of ``model`` to float16 precision in place (dtype kept)."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().to(t.dtype))
    return model


def _store_initializers_as_half(proto, min_elements: int = 64) -> None:
    """Replace float32 initializers of at least ``min_elements`` values by float16 ones + ``Cast`` nodes."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts = []
    for i, init in enumerate(list(graph.initializer)):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        name = str(init.name)  # (init is the graph's own entry, overwritten below)
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), name=name + "__fp16")
        graph.initializer[i].CopyFrom(half)
        casts.append(helper.make_node("Cast", [half.name], [name], to=TensorProto.FLOAT, name=name + "__cast"))
    # the casts must come before their consumers: prepend them
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
