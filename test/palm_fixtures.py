"""A stand-in palm detector for the tests: an ONNX file with the real detector's inputs, outputs and metadata that
answers one known palm whatever the image (used by test/unit/test_palm_detector.py and the CLI tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hand_pose_25d.detection.palm import PALM_INPUT_SIZE, PALM_SPEC
from hand_pose_25d.inference.contract import DETECTOR_CONFIG_KEY, FORMAT_VERSION, FORMAT_VERSION_KEY

S = PALM_INPUT_SIZE


def _raw_palm(anchor: int, center, size, keypoints):
    """The raw regressor row of one anchor for a palm at normalised ``center`` / ``size`` with ``keypoints``."""
    ax, ay = PALM_SPEC.anchors()[anchor, :2]
    row = [(center[0] - ax) * S, (center[1] - ay) * S, size[0] * S, size[1] * S]
    for kx, ky in keypoints:
        row += [(kx - ax) * S, (ky - ay) * S]
    return np.asarray(row, np.float32)


def build_detector(
    path: Path, anchor: int, row: np.ndarray, logit: float = 5.0, meta: bool = True, heads: int = 1
) -> Path:
    """A palm detector ONNX file that answers ``row`` at ``anchor`` (score sigmoid(logit)) whatever the image; with
    ``heads`` 2 its outputs hold the anchors twice (as with the fine-tuned tail) and ``anchor`` indexes them all."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n = 2016 * heads
    regs = np.zeros((1, n, 18), np.float32)
    regs[0, anchor] = row
    logits = np.full((1, n), -20.0, np.float32)
    logits[0, anchor] = logit
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["f", "axes"], ["s"], keepdims=0),
        helper.make_node("Mul", ["s", "zero"], ["b"]),
        helper.make_node("Unsqueeze", ["b", "ax1"], ["b2"]),
        helper.make_node("Unsqueeze", ["b2", "ax2"], ["b3"]),
        helper.make_node("Add", ["b3", "regs_c"], ["regressors"]),
        helper.make_node("Add", ["b2", "logits_c"], ["logits"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "ax1"),
        numpy_helper.from_array(np.array([2], np.int64), "ax2"),
        numpy_helper.from_array(regs, "regs_c"),
        numpy_helper.from_array(logits, "logits_c"),
    ]
    graph = helper.make_graph(
        nodes,
        "palm",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", S, S, 3])],
        [
            helper.make_tensor_value_info("regressors", TensorProto.FLOAT, ["batch", n, 18]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if meta:
        info = {"kind": "palm_detector", "input_size": S, "num_anchors": 2016, "source": "test", "heads": heads}
        for key, value in ((DETECTOR_CONFIG_KEY, json.dumps(info)), (FORMAT_VERSION_KEY, FORMAT_VERSION)):
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path
