"""The palm detector as a hand_pose_25d model file: MediaPipe's BlazePalm converted, wrapped and exported (torch).

:func:`build_palm_detector` is the set-up step (``hand-pose-25d setup-models``): it takes
``palm_detection_full.tflite`` out of the ``mediapipe==0.10.21`` wheel (Apache-2.0; the wheel is fetched with
``pip download --no-deps`` or found in a cache), converts it with the package's own TFLite importer
(:mod:`hand_pose_25d.pretrained`), checks the conversion against the ai-edge-litert interpreter (max abs
difference <= 1e-3), adds a second copy of its layers after the stride-8 features with the shipped fine-tuned
weights (``hand_pose_25d/models/palm_detector_tuned.pt``, :data:`TUNED_WEIGHTS`, trained on rendered frames by
``tools/train_palm_detector.py``; :class:`PalmTail`), wraps both in :class:`PalmDetectorGraph` and exports
``palm_detector.onnx``:

* input ``image``: uint8 (B, 192, 192, 3) RGB, the letterboxed frame (:func:`.palm.letterbox_image`);
* outputs ``regressors`` float32 (B, H x 2016, 18) (box + 7 palm keypoints, anchor-relative, in input pixels) and
  ``logits`` float32 (B, H x 2016) (score logits; the score is their sigmoid, :func:`.palm.decode_palms`), H = 2
  heads (MediaPipe's tail, then the fine-tuned one, on the same anchors), or 1 with ``tuned=None``;
* metadata :data:`hand_pose_25d.inference.contract.DETECTOR_CONFIG_KEY` (JSON: kind, input size, anchors, heads,
  source file, sha256, MediaPipe version, license, the fine-tuned weights' sha256) and the contract's format
  version.

The license notice of the weights (``LICENSE.mediapipe.txt``) is written beside the export. Nothing here runs at
inference time: :class:`hand_pose_25d.detection.palm_detector.PalmDetector` loads the ONNX file with ONNX Runtime.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ..fileio import write_json
from ..inference.contract import DETECTOR_CONFIG_KEY, FORMAT_VERSION, FORMAT_VERSION_KEY
from .palm import PALM_INPUT_SIZE, PALM_NUM_ANCHORS, PALM_NUM_COORDS
from .palm_detector import DETECTOR_FILE

__all__ = [
    "PalmDetectorGraph",
    "PalmTail",
    "cut_tensor",
    "export_palm_detector",
    "build_palm_detector",
    "DETECTOR_MODEL",
    "TUNED_WEIGHTS",
    "tuned_weights_sha256",
]

#: The MediaPipe model the detector is built from.
DETECTOR_MODEL = "palm_detection_full"
#: The shipped fine-tuned weights of the detector's later layers (``tools/train_palm_detector.py``): applied to the
#: converted BlazePalm at set-up unless ``build_palm_detector(tuned=None)`` (``setup-models --original``).
TUNED_WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "palm_detector_tuned.pt"


def tuned_weights_sha256(path: Optional[Path] = TUNED_WEIGHTS) -> Optional[str]:
    """sha256 of the fine-tuned weights file (None for no file): recorded in the detector's metadata, so that
    ``setup-models`` rebuilds a detector made with other weights."""
    if path is None or not Path(path).is_file():
        return None
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _regressors_and_logits(outs: Tuple[Tensor, ...]) -> Tuple[Tensor, Tensor]:
    """BlazePalm's two outputs in either order -> ``regressors`` (B, 2016, 18), ``logits`` (B, 2016)."""
    regressors, logits = (outs[0], outs[1]) if outs[0].shape[-1] == PALM_NUM_COORDS else (outs[1], outs[0])
    return regressors, logits.reshape(logits.shape[0], -1)


def cut_tensor(net: nn.Module, size: int = 12) -> int:
    """Index of the feature tensor where fine-tuning starts: the input of the first operator with a ``size`` x
    ``size`` output (for BlazePalm, the 24 x 24 x 128 stride-8 features); everything after it is trained.

    Raises:
        ValueError: no such operator, or an operator after the cut needs a tensor from before it.
    """
    plan = net._plan  # (module key, activation inputs, layouts, output, layout)
    producer = {out: s for s, (_, _, _, out, _) in enumerate(plan)}
    for _, act_in, _, out, _ in plan:
        if tuple(net.tensor_shapes[out][1:3]) == (size, size):
            cut = act_in[0]
            break
    else:
        raise ValueError(f"no operator with a {size} x {size} output: not a BlazePalm graph")
    step = producer[cut]
    for _, act_in, _, _, _ in plan[step + 1 :]:
        for i in act_in:
            if i != cut and producer.get(i, -1) <= step and i not in net.input_indices:
                raise ValueError(f"operator after the cut needs tensor {net.tensor_names[i]!r} from before it")
    return cut


class PalmTail(nn.Module):
    """The part of a converted BlazePalm after :func:`cut_tensor`: cut features in, the detector's outputs out.

    It shares its modules with ``net`` (training it changes ``net``). ``forward(f)``: f (B, 128, 24, 24) NCHW ->
    ``regressors`` (B, 2016, 18), ``logits`` (B, 2016), in the anchor order of
    :func:`hand_pose_25d.detection.palm.ssd_anchors`.
    """

    def __init__(self, net: nn.Module, cut: Optional[int] = None) -> None:
        super().__init__()
        self.net = net
        self.cut = cut_tensor(net) if cut is None else int(cut)
        producer = {out: s for s, (_, _, _, out, _) in enumerate(net._plan)}
        self.steps = net._plan[producer[self.cut] + 1 :]
        self.keys = [key for key, _, _, _, _ in self.steps]
        self.feature_name = net.tensor_names[self.cut]

    def tail_parameters(self) -> List[nn.Parameter]:
        """The trainable parameters after the cut."""
        return [p for key in self.keys for p in self.net.ops[key].parameters()]

    def tail_state(self) -> Dict[str, Tensor]:
        """``net.state_dict()`` entries of the modules after the cut."""
        prefixes = tuple(f"ops.{key}." for key in self.keys)
        return {k: v.detach().clone() for k, v in self.net.state_dict().items() if k.startswith(prefixes)}

    def forward(self, f: Tensor) -> Tuple[Tensor, Tensor]:
        """See the class docstring."""
        from ..pretrained.tflite_torch import _NCHW, _to_layout

        env: Dict[int, Tuple[Tensor, str]] = {self.cut: (f.contiguous(memory_format=torch.channels_last), _NCHW)}
        for key, act_in, req, out_idx, out_layout in self.steps:
            args = [_to_layout(env[i][0], env[i][1], want) for i, want in zip(act_in, req)]
            env[out_idx] = (self.net.ops[key](*args), out_layout)
        return _regressors_and_logits([self.net._deliver(env, i, "NHWC") for i in self.net.output_indices])


class PalmDetectorGraph(nn.Module):
    """uint8 RGB letterboxed frames in, (regressors, logits) out; the converted BlazePalm inside.

    ``forward(image)``: (B, 192, 192, 3) uint8 -> ``regressors`` (B, H * 2016, 18), score ``logits`` (B, H * 2016),
    H = :attr:`heads`: 1 for ``net`` alone; 2 with ``tuned``, a copy of ``net`` whose layers after the stride-8
    features were fine-tuned (:mod:`hand_pose_25d.training.palm_finetune`): both tails run on the shared trunk
    and their anchors are concatenated (MediaPipe's first, then the tuned ones), so that the decoder's weighted
    NMS merges what either finds (the tuned tail finds rendered hands, MediaPipe's keeps the real ones it finds).
    """

    def __init__(self, net: nn.Module, tuned: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.net = net
        self.heads = 1 if tuned is None else 2
        if tuned is not None:
            self.tail = PalmTail(net)
            self.tuned_tail = PalmTail(tuned, self.tail.cut)

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor]:
        """See the class docstring."""
        x = image.to(torch.float32) * (1.0 / 255.0)
        if self.heads == 1:
            return _regressors_and_logits(self.net(x))
        name = self.tail.feature_name
        f = self.net.features(x, [name], layout="NCHW")[name]
        r1, l1 = self.tail(f)
        r2, l2 = self.tuned_tail(f)
        return torch.cat([r1, r2], 1), torch.cat([l1, l2], 1)


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
        "192, 3) letterboxed RGB. Outputs 'regressors' (B, heads x 2016, 18), 'logits' (B, heads x 2016). Config: "
        + DETECTOR_CONFIG_KEY,
    )


def build_palm_detector(
    out_dir: Path,
    *,
    cache_dir: Optional[Path] = None,
    check: bool = True,
    tuned: Optional[Path] = TUNED_WEIGHTS,
    log: Callable[[str], None] = print,
) -> Dict[str, Any]:
    """Convert, check and export the palm detector into ``out_dir`` (see the module docstring).

    The conversion is checked against the interpreter first; then ``tuned`` (the fine-tuned weights of the later
    layers, :mod:`hand_pose_25d.training.palm_finetune`; None for MediaPipe's weights unchanged) is loaded into it.

    Returns:
        The report (also written to ``out_dir/palm_detector.json``): the conversion's figures (max abs difference
        against the interpreter, timings), the ONNX Runtime vs PyTorch difference of the wrapped export, paths.

    Raises:
        hand_pose_25d.pretrained.mediapipe_wheel.PretrainedError: no wheel (no network and none cached), a damaged
            wheel, the interpreter missing while ``check``, or a conversion that does not match it.
        FileNotFoundError, ValueError: ``tuned`` is missing, corrupt or does not fit the model.
    """
    from ..pretrained.convert import convert_model
    from ..pretrained.mediapipe_wheel import LICENSE_NOTICE_NAME, MEDIAPIPE_VERSION, PretrainedError
    from ..pretrained.tflite_torch import load_module

    out_dir = Path(out_dir)
    work = out_dir / "mediapipe"
    report = convert_model(DETECTOR_MODEL, work, cache_dir=cache_dir, check=check, log=log)
    net = load_module(work / report["pt"]).eval()
    tuned_info: Optional[Dict[str, Any]] = None
    tuned_net: Optional[nn.Module] = None
    if tuned is not None:
        from ..training.palm_finetune import apply_tuned, load_tuned

        payload = load_tuned(Path(tuned))
        tuned_net = load_module(work / report["pt"]).eval()
        count = apply_tuned(tuned_net, payload)
        tuned_info = {
            "file": Path(tuned).name,
            "sha256": tuned_weights_sha256(Path(tuned)),
            "from_tensor": payload["cut"],
            "tensors": count,
            "trained_on": payload.get("info", {}).get("trained_on"),
        }
        log(f"palm detector: MediaPipe's tail and a fine-tuned one ({count} tensors, {Path(tuned).name})")
    graph = PalmDetectorGraph(net, tuned_net).eval()
    info = {
        "kind": "palm_detector",
        "input_size": PALM_INPUT_SIZE,
        "num_anchors": PALM_NUM_ANCHORS,
        "heads": graph.heads,
        "source": f"mediapipe=={MEDIAPIPE_VERSION} wheel, {report['tflite']}",
        "tflite_sha256": report["tflite_sha256"],
        "license": "Apache-2.0 (MediaPipe authors; fine-tuned layers: the hand_pose_25d authors); see "
        "LICENSE.mediapipe.txt",
        "max_abs_diff_vs_interpreter": report.get("max_abs_diff_vs_interpreter"),
        "fine_tuned": tuned_info,
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
