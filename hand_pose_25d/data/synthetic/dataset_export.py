"""Export synthetic samples to disk (images + one ``labels.json``) and read such folders back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union, overload

import numpy as np

from ...settings import from_dict, to_dict
from ..sample import HandSample
from .core import SyntheticHands
from .synthetic_config import SyntheticConfig

__all__ = ["export_dataset", "load_exported", "ExportedDataset", "LABELS_FORMAT"]

LABELS_FORMAT = "hand_pose_25d.synthetic/1"


def export_dataset(
    out_dir: Union[str, Path],
    num: int,
    seed: int = 0,
    mode: str = "crop",
    *,
    config: Optional[SyntheticConfig] = None,
    out_size: int = 128,
    crop_padding: float = 1.3,
    width: int = 640,
    height: int = 480,
    image_format: str = "jpg",
    jpeg_quality: int = 95,
    start: int = 0,
    progress: bool = True,
) -> Path:
    """Render samples ``start .. start + num - 1`` of ``SyntheticHands(config, seed)`` into ``out_dir``.

    Writes ``images/%06d.<jpg|png>`` (numbered from 0) and ``labels.json`` holding, per image, K (3x3), uv (21x2
    pixels), xyz (21x3 metres, camera frame), visible (21 bools), handedness, plus the renderer settings.

    Args:
        mode: ``"crop"`` (``out_size`` square training crops, K = crop intrinsics) or ``"frame"``
            (``width`` x ``height`` camera images).
        image_format: ``"jpg"`` (``jpeg_quality``) or ``"png"`` (lossless).

    Returns:
        The path of ``labels.json``.
    """
    import cv2

    if mode not in ("crop", "frame"):
        raise ValueError(f"mode must be 'crop' or 'frame', got {mode!r}")
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {image_format!r}")
    if num < 0:
        raise ValueError(f"num must be non-negative, got {num}")
    gen = SyntheticHands(config, seed)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    if image_format == "jpg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    records: List[Dict[str, Any]] = []
    indices = range(start, start + num)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"exporting synthetic {mode}s", unit="img")
    for j, i in enumerate(indices):
        s = gen.crop(i, out_size, crop_padding) if mode == "crop" else gen.frame(i, width, height)
        name = f"images/{j:06d}.{image_format}"
        if not cv2.imwrite(str(out / name), s.image[..., ::-1], params):
            raise OSError(f"could not write {out / name}")
        rec: Dict[str, Any] = {
            "image": name,
            "index": i,
            "width": int(s.image.shape[1]),
            "height": int(s.image.shape[0]),
            "K": s.K.tolist(),
            "uv": s.uv.tolist(),
            "xyz": s.xyz.tolist(),
            "visible": s.visible.astype(bool).tolist(),
            "handedness": s.handedness,
        }
        if mode == "crop":
            rec["K_full"] = np.asarray(s.meta["K_full"]).tolist()
            rec["A"] = np.asarray(s.meta["A"]).tolist()
        records.append(rec)
    labels = {
        "format": LABELS_FORMAT,
        "mode": mode,
        "seed": int(seed),
        "config": to_dict(gen.config),
        "samples": records,
    }
    path = out / "labels.json"
    tmp = out / "labels.json.tmp"
    tmp.write_text(json.dumps(labels))
    tmp.replace(path)
    return path


class ExportedDataset(Sequence[HandSample]):
    """Samples of an exported folder; images are read from disk when a sample is accessed."""

    def __init__(self, root: Path, labels: Dict[str, Any]) -> None:
        self.root = root
        self.records: List[Dict[str, Any]] = labels["samples"]
        self.mode: str = labels.get("mode", "frame")
        self.seed: int = int(labels.get("seed", 0))
        self.config = from_dict(SyntheticConfig, labels["config"]) if "config" in labels else None

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, i: int) -> HandSample: ...

    @overload
    def __getitem__(self, i: slice) -> List[HandSample]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample {i} out of range for {n} samples")
        rec = self.records[i % n]
        import cv2

        path = self.root / rec["image"]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"image of sample {i} not found or unreadable: {path}")
        meta: Dict[str, Any] = {
            "source": "synthetic-export",
            "path": str(path),
            "index": rec.get("index"),
            "mode": self.mode,
        }
        for key in ("K_full", "A"):
            if key in rec:
                meta[key] = np.asarray(rec[key], np.float64)
        return HandSample(
            image=np.ascontiguousarray(img[..., ::-1]),
            K=np.asarray(rec["K"]),
            uv=np.asarray(rec["uv"]),
            visible=np.asarray(rec["visible"], bool),
            xyz=np.asarray(rec["xyz"]),
            handedness=rec.get("handedness"),
            meta=meta,
        )


def load_exported(out_dir: Union[str, Path]) -> ExportedDataset:
    """Read a folder written by :func:`export_dataset` (lazy image loading)."""
    root = Path(out_dir)
    path = root / "labels.json"
    if not path.is_file():
        raise FileNotFoundError(f"no labels.json in {root} (not an exported synthetic dataset?)")
    try:
        labels = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(labels, dict) or labels.get("format") != LABELS_FORMAT or "samples" not in labels:
        raise ValueError(f"{path}: not a {LABELS_FORMAT} labels file")
    return ExportedDataset(root, labels)
