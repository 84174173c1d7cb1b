"""The palm detector at run time: a full frame in, hand crops out (numpy + ONNX Runtime, imported lazily).

:class:`PalmDetector` runs ``palm_detector.onnx`` (made at set-up by ``hand-pose-25d setup-models`` from MediaPipe's
BlazePalm, :mod:`.palm_model`) on a letterboxed frame and returns the palms in image pixels
(:func:`.palm.postprocess_palms`) and, for each, the hand's crop: MediaPipe's rotated hand ROI
(:func:`.palm.hand_roi_from_palm`, 2.6 x the palm, shifted towards the fingers, turned so that the fingers point
up) as a loose :class:`hand_pose_25d.inference.pipeline.CropRequest` that the pipeline refines around the keypoints
it finds. :class:`DetectorConfig` holds its settings (``pipeline.detector.*``).

Where the model is: ``default`` is ``<models dir>/palm_detector.onnx`` with the models dir
``$HAND_POSE_25D_MODELS``, else ``$XDG_CACHE_HOME/hand_pose_25d/models`` (``~/.cache/hand_pose_25d/models``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ..crop import CropBox
from ..inference.contract import (
    DETECTOR_CONFIG_KEY,
    FORMAT_VERSION,
    FORMAT_VERSION_KEY,
    BackendUnavailable,
    parse_device,
    read_onnx_metadata,
)
from ..settings import setting
from .palm import (
    PALM_INPUT_SIZE,
    PALM_NUM_ANCHORS,
    PALM_SPEC,
    PalmDetection,
    RotatedRect,
    hand_roi_from_palm,
    letterbox_image,
    postprocess_palms,
)

__all__ = [
    "DetectorConfig",
    "PalmDetector",
    "DetectedHand",
    "PalmCrop",
    "default_models_dir",
    "default_detector_path",
]

#: File name of the exported detector (written by :mod:`.palm_model`, read here).
DETECTOR_FILE = "palm_detector.onnx"


def default_models_dir() -> Path:
    """Where ``hand-pose-25d setup-models`` writes converted models: ``$HAND_POSE_25D_MODELS``, else
    ``$XDG_CACHE_HOME/hand_pose_25d/models`` (``~/.cache/hand_pose_25d/models``)."""
    env = os.environ.get("HAND_POSE_25D_MODELS")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "hand_pose_25d" / "models"


def default_detector_path() -> Path:
    """The palm detector the ``default`` setting means (it may not exist: run ``hand-pose-25d setup-models``)."""
    return default_models_dir() / DETECTOR_FILE


@dataclass
class DetectorConfig:
    """The palm detector, the first stage of the pipeline on frames where no hand is tracked."""

    model: str = setting(
        "default",
        description="Palm detector: 'default' (palm_detector.onnx made by 'hand-pose-25d setup-models' in "
        "$HAND_POSE_25D_MODELS or ~/.cache/hand_pose_25d/models; without it the node searches the full image and "
        "says so), a path to such a file, or 'none' (no detector: the full image is searched).",
    )
    min_score: float = setting(
        0.6,
        description="Palms scored below this are ignored (MediaPipe's own threshold is 0.5). Of 859 photos without a "
        "hand, 42 give a palm at 0.6 and 3 a valid hand once the pose score is applied (tracking.confirm_score).",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    nms_iou: float = setting(
        0.3,
        description="Palm boxes overlapping more than this (intersection over union) are merged (weighted "
        "non-maximum suppression).",
        min=0.0,
        max=1.0,
        dynamic=True,
    )
    roi_scale: float = setting(
        2.6,
        description="Side of a detected hand's crop as a multiple of its palm box (MediaPipe's 2.6); the crop is "
        "refined around the keypoints found.",
        min=1.0,
        max=5.0,
        dynamic=True,
    )


@dataclass(frozen=True)
class PalmCrop(CropBox):
    """A detected hand's crop (a :class:`~hand_pose_25d.crop.CropBox`) with the palm detector's score in [0, 1]."""

    score: float = 0.0


@dataclass(frozen=True)
class DetectedHand:
    """A palm found in a frame: the detection (image pixels), the hand's rotated ROI, and its crop for the network."""

    palm: PalmDetection
    roi: RotatedRect
    crop: PalmCrop

    @property
    def score(self) -> float:
        """The palm detector's score in [0, 1]."""
        return float(self.palm.score)


class PalmDetector:
    """BlazePalm on ONNX Runtime (CPU, or the CUDA execution provider; never a silent fallback).

    Args:
        path: ``palm_detector.onnx`` written by ``hand-pose-25d setup-models``.
        device: 'cpu' or 'cuda[:N]'.
        num_threads: intra-op threads (0: ONNX Runtime's default).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not an ONNX model, or not a palm detector exported by hand_pose_25d (metadata, format version,
            inputs and outputs are checked).
        BackendUnavailable: onnxruntime, or the requested execution provider, is missing.
    """

    def __init__(self, path: Path, *, device: str = "cpu", num_threads: int = 0) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"palm detector model not found: {path} (make it with 'hand-pose-25d setup-models', or set "
                "pipeline.detector.model to 'none')"
            )
        meta = read_onnx_metadata(path)
        text = meta.get(DETECTOR_CONFIG_KEY)
        if text is None:
            raise ValueError(f"{path} is not a palm detector exported by 'hand-pose-25d setup-models' (no metadata)")
        if meta.get(FORMAT_VERSION_KEY) != FORMAT_VERSION:
            raise ValueError(
                f"{path}: unsupported {FORMAT_VERSION_KEY} {meta.get(FORMAT_VERSION_KEY)!r}; rebuild it with "
                "'hand-pose-25d setup-models'"
            )
        try:
            self.info = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: invalid detector metadata: {exc}") from None
        if self.info.get("input_size") != PALM_INPUT_SIZE or self.info.get("num_anchors") != PALM_NUM_ANCHORS:
            raise ValueError(f"{path}: not a BlazePalm detector (metadata {self.info})")
        self.heads = self.info.get("heads", 1)
        if self.heads not in (1, 2):
            raise ValueError(f"{path}: a palm detector has 1 or 2 heads, this one says {self.heads!r}")
        # with two heads (MediaPipe's and the fine-tuned one) the outputs hold each anchor twice
        self.anchors = np.tile(PALM_SPEC.anchors(), (self.heads, 1))
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable("the palm detector runs on ONNX Runtime: pip install onnxruntime") from exc
        kind, index = parse_device(device)
        provider = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}.get(kind)
        if provider is None:
            raise ValueError(f"the palm detector runs on 'cpu' or 'cuda[:N]', not {device!r}")
        if provider not in ort.get_available_providers():
            raise BackendUnavailable(f"{provider} is not available in this onnxruntime build; use device 'cpu'")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # no busy-waiting of its threads between runs: the detector runs now and then between the pose network's
        # runs, and spinning threads of one session slow the other down (tools/ab_detector_spinning.py, the two
        # alternating in one process, 2 cores: detector p50 16.1 vs 21.4 ms, detector + pose 23.8 vs 29.7 ms; the
        # next tracked frame unchanged, 7.0 vs 6.9 ms)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if num_threads > 0:
            opts.intra_op_num_threads, opts.inter_op_num_threads = int(num_threads), 1
        providers = [(provider, {"device_id": index})] if kind == "cuda" else [provider]
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:
            raise ValueError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        names = ([i.name for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()])
        if names != (["image"], ["regressors", "logits"]):
            raise ValueError(f"{path}: unexpected inputs/outputs {names}")
        n_out = self.session.get_outputs()[1].shape[1]  # symbolic in set-up's exports: then decoding checks it
        if isinstance(n_out, int) and n_out != len(self.anchors):
            raise ValueError(
                f"{path}: its outputs hold {n_out} anchors, its metadata says {self.heads} head(s) of "
                f"{PALM_NUM_ANCHORS} ({len(self.anchors)})"
            )
        self.path = path
        self.device = device

    def describe(self) -> str:
        """One line: the model and its source."""
        tuned = " + a tail fine-tuned on rendered hands" if self.heads == 2 else ""
        return f"palm detector {self.path.name} ({self.info.get('source', '?')}{tuned}) on ONNX Runtime"

    def detect(self, image: np.ndarray, cfg: DetectorConfig, max_hands: Optional[int] = None) -> List[DetectedHand]:
        """The hands in a full frame, best first.

        Args:
            image: (H, W, 3) uint8 RGB.
            cfg: thresholds and the ROI scale.
            max_hands: keep at most this many (None: all).

        Returns:
            One :class:`DetectedHand` per palm found (after weighted NMS), in image pixels.
        """
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {getattr(image, 'shape', type(image))}")
        inp, _, inverse = letterbox_image(image, PALM_INPUT_SIZE, mediapipe_sampling=True)
        regressors, logits = self.session.run(["regressors", "logits"], {"image": np.ascontiguousarray(inp[None])})
        palms = postprocess_palms(
            regressors[0],
            logits[0],
            inverse,
            min_score=cfg.min_score,
            iou_threshold=cfg.nms_iou,
            max_detections=max_hands,
            anchors=self.anchors,
        )
        out = []
        for palm in palms:
            roi = hand_roi_from_palm(palm, scale_x=cfg.roi_scale, scale_y=cfg.roi_scale)
            side = float(max(roi.width, roi.height))
            out.append(
                DetectedHand(
                    palm,
                    roi,
                    PalmCrop(float(roi.center_x), float(roi.center_y), side, -float(roi.rotation), float(palm.score)),
                )
            )
        return out


def load_detector(
    cfg: DetectorConfig, *, device: str = "cpu", num_threads: int = 0
) -> Tuple[Optional[PalmDetector], str]:
    """The detector ``cfg.model`` asks for, and a line saying what was loaded or why none is used.

    'none' gives (None, reason). 'default' without its file gives (None, what to run): the pipeline then searches the
    full image. An explicit path that is missing or broken raises (the user asked for that file).
    """
    if cfg.model.strip().lower() in ("none", ""):
        return None, "no palm detector (pipeline.detector.model is 'none'): the full image is searched"
    if cfg.model == "default":
        path = default_detector_path()
        if not path.is_file():
            return None, (
                f"no palm detector at {path}: the full image is searched until a hand is tracked; make it with "
                "'hand-pose-25d setup-models' (needs the mediapipe 0.10.21 wheel from PyPI once)"
            )
    else:
        path = Path(cfg.model).expanduser()
    det = PalmDetector(path, device="cuda" if device.startswith("cuda") else "cpu", num_threads=num_threads)
    return det, det.describe()
