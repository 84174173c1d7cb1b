"""What ``hand-pose-25d bench`` measures: :class:`BenchSettings` (checked by :meth:`BenchSettings.check`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from ..inference.contract import BACKENDS
from ..inference.pipeline_config import TTA_MODES
from ..model.presets import PRESETS

__all__ = ["BenchSettings", "PRESET_MODELS", "PIPELINE_CROPS"]

#: ``--model`` values that mean an untrained network of that preset (timings only).
PRESET_MODELS: Tuple[str, ...] = tuple(PRESETS)
#: Crops of the pipeline measurement.
PIPELINE_CROPS: Tuple[str, ...] = ("track", "roi", "full")


@dataclass
class BenchSettings:
    """What to measure.

    Attributes:
        backend: 'onnxruntime', 'torch' or 'tensorrt'.
        model: 'default' (the shipped model), a preset name ('paper', 'fast', 'compact', 'landmark': untrained, timings only;
            'landmark' needs the encoder file of ``hand-pose-25d setup-models``)
            or a model file path.
        batch: crops per network call; hands per frame in the pipeline.
        threads: CPU threads of the runtime (0: its default).
        device: 'cpu', 'cuda' or 'cuda:N'.
        fp16: half precision (CUDA only).
        iters, warmup: timed and untimed calls per measurement.
        crop: pipeline crop: 'track' (from keypoints, one pass), 'roi' (a loose box, refined: two passes) or
            'full' (the whole frame, refined: two passes).
        tta: the pipeline's test-time augmentation ('none', 'mirror': 2 network passes per crop, 'dihedral': 8).
        width, height: pipeline frame size in pixels.
        seed: seed of the random crops and of the synthetic frame.
        network: measure the network alone; ``pipeline``: measure the pipeline.
        compare_mediapipe: also measure MediaPipe (see :func:`bench_mediapipe`).
        mediapipe_python: Python of the MediaPipe environment ('' = :func:`find_mediapipe_python`).
        mediapipe_threads: TFLite threads for MediaPipe's landmark model.
        mediapipe_model: path of a hand landmark .tflite ('' = the one the MediaPipe wheel ships).
    """

    backend: str = "onnxruntime"
    model: str = "default"
    batch: int = 1
    threads: int = 0
    device: str = "cpu"
    fp16: bool = False
    iters: int = 200
    warmup: int = 20
    crop: str = "track"
    tta: str = "none"
    width: int = 640
    height: int = 480
    seed: int = 0
    network: bool = True
    pipeline: bool = True
    compare_mediapipe: bool = False
    mediapipe_python: str = ""
    mediapipe_threads: int = 2
    mediapipe_model: str = ""

    def check(self) -> None:
        """``ValueError`` naming the first invalid setting."""
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; use {', '.join(BACKENDS)}")
        if self.batch < 1 or self.batch > 256:
            raise ValueError(f"--batch must be in 1..256, got {self.batch}")
        if self.iters < 1:
            raise ValueError(f"--iters must be at least 1, got {self.iters}")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be >= 0, got {self.warmup}")
        if self.threads < 0:
            raise ValueError(f"--threads must be >= 0, got {self.threads}")
        if self.crop not in PIPELINE_CROPS:
            raise ValueError(f"--crop must be track, roi or full, got {self.crop!r}")
        if self.tta not in TTA_MODES:
            raise ValueError(f"--tta must be one of {', '.join(TTA_MODES)}, got {self.tta!r}")
        if self.width < 64 or self.height < 64:
            raise ValueError(f"frame must be at least 64x64 pixels, got {self.width}x{self.height}")
        if self.mediapipe_threads < 1:
            raise ValueError(f"--mediapipe-threads must be at least 1, got {self.mediapipe_threads}")
