"""A TFLite (sub)graph as plain, weight-free data, so that a checkpoint can rebuild a converted network (numpy only).

A network built on an imported TFLite encoder (:class:`hand_pose_25d.model.pretrained_net.PretrainedHandPoseNet`)
must load from its checkpoint alone, without the mediapipe wheel it was first built from (nanoGPT style: the file
rebuilds the model). :func:`graph_spec` turns the part of a :class:`~.tflite_reader.ModelDescription` that some
outputs need into a dict of str / int / float / bool / list values: tensors (name, shape, dtype), operators and
their options, and the *small* constants (shape vectors, axes, paddings, scalars). Large float constants (the
weights) are left out: they are parameters or buffers of the module and come back from its ``state_dict``.
:func:`description_from_spec` is the inverse, with zeros standing in for the weights until the state dict is loaded.

:func:`resize_input` changes the spatial input size of a fully convolutional graph (every rank-4 activation is
scaled with the input), which is how the 224-pixel hand-landmark encoder runs on 128-pixel crops.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .tflite_reader import ModelDescription, OperatorInfo, TensorInfo

__all__ = ["SPEC_FORMAT", "SMALL_CONSTANT", "needed_operators", "graph_spec", "description_from_spec", "resize_input"]

SPEC_FORMAT = "hand_pose_25d.tflite_graph_spec/1"
#: Constants with at most this many elements keep their values in the spec (shapes, axes, paddings, scalars).
SMALL_CONSTANT = 16


def needed_operators(desc: ModelDescription, outputs: Sequence[int]) -> List[OperatorInfo]:
    """The operators (in execution order) that the tensors ``outputs`` (indices) depend on."""
    producer = {out: op for op in desc.operators for out in op.outputs}
    needed, stack = set(), list(outputs)
    inputs = set(desc.inputs)
    while stack:
        t = stack.pop()
        if t in inputs or desc.tensors[t].data is not None:
            continue
        op = producer.get(t)
        if op is None:
            raise ValueError(f"{desc.source}: tensor {desc.tensors[t].name!r} is neither produced nor an input")
        if op.index in needed:
            continue
        needed.add(op.index)
        stack.extend(i for i in op.inputs if i >= 0)
    return [op for op in desc.operators if op.index in needed]


def _plain_options(options: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in options.items():
        if isinstance(v, (np.integer, np.floating, np.bool_)):
            v = v.item()
        elif isinstance(v, tuple):
            v = list(v)
        out[str(k)] = v
    return out


def graph_spec(desc: ModelDescription, outputs: Sequence[Union[str, int]]) -> Dict[str, Any]:
    """The weight-free description of what ``outputs`` (tensor names or indices) need; see the module docstring.

    Returns a dict ``{"format", "source", "inputs", "outputs", "tensors", "operators"}`` holding only plain python
    values (accepted by ``torch.load(weights_only=True)``); tensor indices are renumbered densely.
    """
    out_idx = [desc.tensor(o).index for o in outputs]
    ops = needed_operators(desc, out_idx)
    used = sorted({i for op in ops for i in (*op.inputs, *op.outputs) if i >= 0} | set(out_idx))
    inputs = [i for i in desc.inputs if i in used]
    new = {old: k for k, old in enumerate(used)}
    tensors: List[Dict[str, Any]] = []
    for old in used:
        t = desc.tensors[old]
        entry: Dict[str, Any] = {"name": t.name, "shape": [int(s) for s in t.shape], "dtype": t.dtype}
        if t.data is not None:
            if t.data.size <= SMALL_CONSTANT:
                entry["data"] = np.asarray(t.data).reshape(-1).tolist()
            else:
                entry["weight"] = True  # restored from the module's state_dict
        tensors.append(entry)
    operators = [
        {
            "index": int(op.index),
            "opcode": op.opcode,
            "inputs": [new[i] if i >= 0 else -1 for i in op.inputs],
            "outputs": [new[i] for i in op.outputs],
            "options": _plain_options(op.options),
            "options_type": op.options_type,
            "version": int(op.version),
        }
        for op in ops
    ]
    return {
        "format": SPEC_FORMAT,
        "source": str(desc.source),
        "inputs": [new[i] for i in inputs],
        "outputs": [new[i] for i in out_idx],
        "tensors": tensors,
        "operators": operators,
    }


def description_from_spec(spec: Dict[str, Any]) -> Tuple[ModelDescription, List[int]]:
    """Rebuild a :class:`ModelDescription` from :func:`graph_spec`'s dict; weights are zeros of the right shape.

    Returns:
        ``(description, output tensor indices)``.

    Raises:
        ValueError: not a spec of this format, or an inconsistent one.
    """
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise ValueError(f"not a TFLite graph spec (format {found!r}, expected {SPEC_FORMAT!r})")
    try:
        tensors = []
        for k, t in enumerate(spec["tensors"]):
            shape = tuple(int(s) for s in t["shape"])
            data = None
            if "data" in t:
                data = np.asarray(t["data"], dtype=t["dtype"]).reshape(shape)
            elif t.get("weight"):
                data = np.zeros(shape, dtype=t["dtype"])
            tensors.append(TensorInfo(index=k, name=str(t["name"]), shape=shape, dtype=str(t["dtype"]), data=data))
        operators = [
            OperatorInfo(
                index=int(op["index"]),
                opcode=str(op["opcode"]),
                inputs=tuple(int(i) for i in op["inputs"]),
                outputs=tuple(int(i) for i in op["outputs"]),
                options=dict(op["options"]),
                options_type=str(op["options_type"]),
                version=int(op["version"]),
            )
            for op in spec["operators"]
        ]
        desc = ModelDescription(
            tensors=tensors,
            operators=operators,
            inputs=tuple(int(i) for i in spec["inputs"]),
            outputs=tuple(int(i) for i in spec["outputs"]),
            source=str(spec.get("source", "<spec>")),
        )
        return desc, list(desc.outputs)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"malformed TFLite graph spec: {type(exc).__name__}: {exc}") from exc


def resize_input(
    desc: ModelDescription, height: int, width: int, outputs: Optional[Sequence[Union[str, int]]] = None
) -> ModelDescription:
    """A copy of a fully convolutional ``desc`` whose single NHWC input is ``height`` x ``width``.

    Every rank-4 activation's spatial size is scaled by the same factor as the input's; with ``outputs`` (tensor
    names or indices), only the part of the graph they need is considered (the rest keeps its shapes and must not
    be run). Raises ``ValueError`` when
    a scaled size is not a whole number (the input must be a multiple of the graph's coarsest stride) or when an
    operator depends on the spatial size in a way that cannot be scaled (RESHAPE / FULLY_CONNECTED / MEAN of a
    spatial map).
    """
    if len(desc.inputs) != 1:
        raise ValueError(f"{desc.source}: resize_input needs a single-input graph, it has {len(desc.inputs)}")
    x = desc.tensors[desc.inputs[0]]
    if len(x.shape) != 4:
        raise ValueError(f"{desc.source}: the input {x.name!r} is not an NHWC image ({x.shape})")
    h0, w0 = int(x.shape[1]), int(x.shape[2])
    if (h0, w0) == (height, width):
        return desc
    ops = desc.operators if outputs is None else needed_operators(desc, [desc.tensor(o).index for o in outputs])
    scaled = {i for op in ops for i in (*op.inputs, *op.outputs) if i >= 0} | set(desc.inputs)
    for op in ops:
        if op.opcode in ("RESHAPE", "FULLY_CONNECTED", "MEAN", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"):
            raise ValueError(
                f"{desc.source}: operator {op.index} ({op.opcode}) depends on the input size; cut the graph before it"
            )
    tensors = []
    for t in desc.tensors:
        if t.data is None and len(t.shape) == 4 and t.index in scaled:
            n, h, w, c = t.shape
            if (h * height) % h0 or (w * width) % w0:
                raise ValueError(
                    f"{desc.source}: input {height}x{width} does not scale {t.name!r} ({h}x{w} at input {h0}x{w0}) "
                    f"to whole pixels; use a multiple of the graph's coarsest stride ({h0 // max(1, min(h, w))})"
                )
            t = replace(t, shape=(n, h * height // h0, w * width // w0, c), shape_signature=None)
        tensors.append(t)
    return replace(desc, tensors=tensors)
