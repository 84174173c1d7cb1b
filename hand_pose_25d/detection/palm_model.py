"""The palm detector as a hand_pose_25d model file: MediaPipe's BlazePalm converted, wrapped and exported (torch).

:func:`build_palm_detector` is the set-up step (``hand-pose-25d setup-models``): it takes
``palm_detection_full.tflite`` out of the ``mediapipe==0.10.21`` wheel (Apache-2.0; the wheel is fetched with
``pip download --no-deps`` or found in a cache), converts it with the package's own TFLite importer
(:mod:`hand_pose_25d.pretrained`), checks the conversion against the ai-edge-litert interpreter (max abs
difference <= 1e-3), wraps it in :class:`PalmDetectorGraph` and exports ``palm_detector.onnx``:

* input ``image``: uint8 (B, 192, 192, 3) RGB, the letterboxed frame (:func:`.palm.letterbox_image`);
* outputs ``regressors`` float32 (B, 2016, 18) (box + 7 palm keypoints, anchor-relative, in input pixels) and
  ``logits`` float32 (B, 2016) (score logits; the score is their sigmoid, :func:`.palm.decode_palms`);
* metadata :data:`hand_pose_25d.inference.contract.DETECTOR_CONFIG_KEY` (JSON: kind, input size, anchors, source
  file, sha256, MediaPipe version, license) and the contract's format version.

The license notice of the weights (``LICENSE.mediapipe.txt``) is written beside the export. Nothing here runs at
inference time: :class:`hand_pose_25d.detection.palm_detector.PalmDetector` loads the ONNX file with ONNX Runtime.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ..fileio import write_json
from ..inference.contract import DETECTOR_CONFIG_KEY, FORMAT_VERSION, FORMAT_VERSION_KEY
from .palm import PALM_INPUT_SIZE, PALM_NUM_ANCHORS, PALM_NUM_COORDS
from .palm_detector import DETECTOR_FILE

__all__ = ["PalmDetectorGraph", "export_palm_detector", "build_palm_detector", "DETECTOR_MODEL"]

#: The MediaPipe model the detector is built from.
DETECTOR_MODEL = "palm_detection_full"


class PalmDetectorGraph(nn.Module):
    """uint8 RGB letterboxed frames in, (regressors, logits) out; the converted BlazePalm inside.

    ``forward(image)``: (B, 192, 192, 3) uint8 -> ``regressors`` (B, 2016, 18), score ``logits`` (B, 2016).
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor]:
        """See the class docstring."""
        x = image.to(torch.float32) * (1.0 / 255.0)
        outs = self.net(x)
        regressors, logits = (outs[0], outs[1]) if outs[0].shape[-1] == PALM_NUM_COORDS else (outs[1], outs[0])
        return regressors, logits.reshape(image.shape[0], -1)


def export_palm_detector(graph: PalmDetectorGraph, path: Path, info: Dict[str, Any]) -> Path:
    """Export ``graph`` to ONNX (opset 17, dynamic batch) with ``info`` as the detector metadata; returns ``path``."""
    from ..model.onnx_export import trace_to_onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, PALM_INPUT_SIZE, PALM_INPUT_SIZE, 3, dtype=torch.uint8)
    return trace_to_onnx(
        graph.eval(),
        (dummy,),
        path,
        input_names=["image"],
        output_names=["regressors", "logits"],
        dynamic_axes={"image": {0: "batch"}, "regressors": {0: "batch"}, "logits": {0: "batch"}},
        metadata={DETECTOR_CONFIG_KEY: json.dumps(info, sort_keys=True), FORMAT_VERSION_KEY: FORMAT_VERSION},
        doc="BlazePalm palm detector (MediaPipe, Apache-2.0) converted by hand_pose_25d. Input 'image': uint8 (B, 192, "
        "192, 3) letterboxed RGB. Outputs 'regressors' (B, 2016, 18), 'logits' (B, 2016). Config: "
        + DETECTOR_CONFIG_KEY,
    )


def build_palm_detector(
    out_dir: Path,
    *,
    cache_dir: Optional[Path] = None,
    check: bool = True,
    log: Callable[[str], None] = print,
) -> Dict[str, Any]:
    """Convert, check and export the palm detector into ``out_dir`` (see the module docstring).

    Returns:
        The report (also written to ``out_dir/palm_detector.json``): the conversion's figures (max abs difference
        against the interpreter, timings), the ONNX Runtime vs PyTorch difference of the wrapped export, paths.

    Raises:
        hand_pose_25d.pretrained.mediapipe_wheel.PretrainedError: no wheel (no network and none cached), a damaged
            wheel, the interpreter missing while ``check``, or a conversion that does not match it.
    """
    from ..pretrained.convert import convert_model
    from ..pretrained.mediapipe_wheel import LICENSE_NOTICE_NAME, MEDIAPIPE_VERSION, PretrainedError
    from ..pretrained.tflite_torch import load_module

    out_dir = Path(out_dir)
    work = out_dir / "mediapipe"
    report = convert_model(DETECTOR_MODEL, work, cache_dir=cache_dir, check=check, log=log)
    net = load_module(work / report["pt"]).eval()
    graph = PalmDetectorGraph(net).eval()
    info = {
        "kind": "palm_detector",
        "input_size": PALM_INPUT_SIZE,
        "num_anchors": PALM_NUM_ANCHORS,
        "source": f"mediapipe=={MEDIAPIPE_VERSION} wheel, {report['tflite']}",
        "tflite_sha256": report["tflite_sha256"],
        "license": "Apache-2.0 (MediaPipe authors); see LICENSE.mediapipe.txt",
        "max_abs_diff_vs_interpreter": report.get("max_abs_diff_vs_interpreter"),
    }
    final = out_dir / DETECTOR_FILE
    path = export_palm_detector(graph, out_dir / f".{DETECTOR_FILE}.unchecked", info)  # in place once checked
    shutil.copyfile(work / LICENSE_NOTICE_NAME, out_dir / LICENSE_NOTICE_NAME)  # the wheel's own notice
    # the wrapped export against PyTorch on letterboxed-frame-like inputs
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = {"regressors": 0.0, "logits": 0.0}
    for batch in (1, 2):
        x = rng.integers(0, 256, (batch, PALM_INPUT_SIZE, PALM_INPUT_SIZE, 3), dtype=np.uint8)
        with torch.no_grad():
            ref = [t.numpy() for t in graph(torch.from_numpy(x))]
        got = sess.run(["regressors", "logits"], {"image": x})
        for name, a, b in zip(("regressors", "logits"), got, ref):
            worst[name] = max(worst[name], float(np.max(np.abs(a.astype(np.float64) - b))))
    if not all(v <= 1e-3 for v in worst.values()):
        path.unlink()
        raise PretrainedError(f"{final}: ONNX Runtime differs from PyTorch by {worst} (> 1e-3)")
    os.replace(path, final)
    path = final
    out = {
        "detector": str(path),
        "license": str(out_dir / LICENSE_NOTICE_NAME),
        "conversion": report,
        "max_abs_diff_onnx_vs_torch": worst,
    }
    write_json(out_dir / "palm_detector.json", out)
    log(f"palm detector: {path} (ONNX Runtime vs PyTorch max abs diff {max(worst.values()):.2g})")
    return out
