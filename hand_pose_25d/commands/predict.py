"""``hand-pose-25d predict IMAGE|DIR|VIDEO --camera-info YAML --out DIR [--box x,y,w,h] [--model] [--backend] ...``.

Runs the inference pipeline (:class:`~hand_pose_25d.inference.pipeline.HandPoseEstimator`, the node's code
path) on an image, every image of a folder (sorted by name) or every frame of a video, and writes per frame:

* ``<name>.json``: the image name (and frame index / time for videos), its size, whether the detector ran, the
  hands (:meth:`HandPoseResult.to_dict`: uv, z_rel, metric xyz in the camera frame, scores, handedness, status
  ..., and where each crop came from: ``detect``, ``track``, ``box`` or ``full``) and the time of each stage in ms;
* ``<name>.png`` (unless ``--no-overlay``): the image with the 2D skeleton and crop box, and next to it a 3D
  view of the keypoints in the camera frame (``--no-3d``: the 2D overlay only);

plus ``summary.json`` (model, camera, inputs, failures, mean timings). Video frames go to ``<video stem>/``
named ``frame_000000``...

Crops: with ``--box x,y,w,h`` (top-left corner and size in pixels) the hand is looked for in that box; without it
the palm detector finds the hands (up to ``--max-hands``, default 2) in the whole image, and an image where it finds
none reports none (``--detector none``, or no detector made by ``hand-pose-25d setup-models``: the whole image is
searched by the pose network instead). Box and whole-image crops are refined by a second pass around the
keypoints found; detection crops, already turned to the hand, are not (``pipeline.refine_detections``). In a video
the crops follow the hands (:class:`hand_pose_25d.inference.tracking.HandTracker`, the node's tracker): while a
hand of the previous frame is valid the next crop is built from its keypoints (one pass; a followed hand stays
valid down to ``--track-min-score``, a new one needs ``--min-score``), and the detector runs again while fewer
than ``--max-hands`` hands are followed or after a followed hand's score dropped (``--no-track``: every frame on
its own). Images of a folder are independent.

Camera: ``--camera-info`` is required (metric 3D needs the intrinsics): a ROS camera_calibration YAML
(:mod:`hand_pose_25d.camera`). An image whose size differs from the calibrated one is an ERROR (its
intrinsics would be wrong and so would every 3D coordinate), unless ``--scale-intrinsics`` is given for
images that were resized (not cropped) from the calibrated resolution. ``--rectified`` uses the projection
matrix and no distortion (rectified images).

Errors: an unreadable file given directly is an error (exit 2); in a folder an unreadable image is reported,
skipped and makes the exit status 1 once the others are done.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


def add_parser(sub) -> None:
    from ..inference.contract import BACKENDS
    from ..inference.pipeline_config import TTA_MODES
    from ..inference.tracking import TrackingConfig

    p = sub.add_parser(
        "predict",
        help="3D hand pose of an image, a folder of images or a video: JSON and overlay images per frame",
        description="Estimate the metric 3D hand pose in an image, every image of a folder or every frame of a "
        "video, writing JSON and an overlay (2D skeleton + 3D view) per frame.",
    )
    p.add_argument("input", type=Path, help="an image, a folder of images, or a video (mp4, avi, ...)")
    p.add_argument(
        "--camera-info",
        type=Path,
        default=None,
        help="ROS camera_calibration YAML of the camera (required: metric 3D needs the intrinsics)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--box", default=None, help="hand box x,y,w,h in pixels (top-left corner, size); default: full image"
    )
    p.add_argument("--model", default="default", help="'default', or a .pt / .onnx / .engine file")
    p.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="runtime (default: from the model file: .pt -> torch, .engine -> tensorrt, else onnxruntime)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu; cuda for tensorrt)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: runtime default)")
    p.add_argument(
        "--tta",
        default="none",
        choices=TTA_MODES,
        help="test-time augmentation: average over the crop and its mirror (2 passes) or its 8 turns and "
        "mirrors (8 passes); default none",
    )
    p.add_argument("--no-track", action="store_true", help="video: process every frame on its own (no tracking)")
    p.add_argument("--max-hands", type=int, default=2, help="most hands per frame (default 2)")
    p.add_argument(
        "--detector",
        default="default",
        help="palm detector without --box: 'default' (made by hand-pose-25d setup-models), a "
        "palm_detector.onnx, or 'none' (the pose network searches the whole image)",
    )
    p.add_argument(
        "--track-min-score",
        type=float,
        default=TrackingConfig().min_score,
        help="video: a hand followed from the previous frame stays valid down to this score (tracking.min_score; a "
        "new hand needs --min-score; default %(default)s)",
    )
    p.add_argument("--min-score", type=float, default=None, help="hands scored below this are invalid (default 0.25)")
    p.add_argument(
        "--rectified", action="store_true", help="images are rectified: intrinsics from the projection matrix"
    )
    p.add_argument(
        "--scale-intrinsics",
        action="store_true",
        help="rescale the calibration to images of another size with the same aspect ratio (resized images)",
    )
    p.add_argument("--no-overlay", action="store_true", help="write JSON only")
    p.add_argument("--no-3d", action="store_true", help="overlay without the 3D view")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


# --------------------------------------------------------------------------------------------------------------
# inputs


def parse_box(text: str) -> Tuple[float, float, float, float]:
    """``"x,y,w,h"`` -> floats; ``ValueError`` unless four finite numbers with w, h > 0."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--box must be four numbers x,y,w,h (pixels), got {text!r}") from None
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ValueError(f"--box must be four finite numbers x,y,w,h (pixels), got {text!r}")
    if values[2] <= 0 or values[3] <= 0:
        raise ValueError(f"--box width and height must be positive, got {text!r}")
    return values  # type: ignore[return-value]


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file; ``FileNotFoundError`` / ``ValueError`` naming the file."""
    import cv2

    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read the image {path} (not an image, corrupt, or a format OpenCV cannot decode)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def is_video(path: Path) -> bool:
    """True for a file with a video suffix."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def list_images(folder: Path) -> List[Path]:
    """Image files (by suffix) directly in ``folder``, sorted by name."""
    return sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name
    )


@dataclass
class VideoFrames:
    """Frames of a video file as (index, time in s, RGB image), with the frame count OpenCV reports."""

    path: Path
    count: int = 0
    fps: float = 0.0
    _cap: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import cv2

        if not self.path.is_file():
            raise FileNotFoundError(f"video not found: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise ValueError(f"cannot open the video {self.path} (corrupt, or a codec this OpenCV build cannot decode)")
        self._cap = cap
        self.count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def __iter__(self) -> Iterator[Tuple[int, float, np.ndarray]]:
        import cv2

        index = 0
        try:
            while True:
                ok, bgr = self._cap.read()
                if not ok or bgr is None:
                    break
                t = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if not np.isfinite(t) or (t <= 0 and index > 0):
                    t = index / self.fps if self.fps > 0 else float("nan")
                yield index, float(t), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            self._cap.release()
        if index == 0:
            raise ValueError(f"no frame could be decoded from the video {self.path}")


# --------------------------------------------------------------------------------------------------------------
# per-frame prediction


class Predictor:
    """Runs the pipeline on frames with the crop policy of the module docstring and writes the outputs."""

    def __init__(self, est: Any, calib: Any, args: argparse.Namespace) -> None:
        self.est = est
        self.calib = calib
        self.rectified = bool(args.rectified)
        self.scale_intrinsics = bool(args.scale_intrinsics)
        self.box = parse_box(args.box) if args.box else None
        from ..inference.tracking import HandTracker, TrackingConfig

        # hands followed while they stay valid and scored; without --box the palm detector finds them (else the full
        # image is searched); with --box, the box is searched while no hand is followed
        self.use_detector = est.detector is not None
        self.tracking = TrackingConfig(
            crop_mode="track",
            min_score=float(args.track_min_score),
            max_hands=int(args.max_hands),
            timeout=10.0,
            full_frame_fallback=not self.use_detector,
        )
        self.tracker = HandTracker()
        self.overlay = not args.no_overlay
        self.with_3d = not args.no_3d
        self._views: Dict[int, Any] = {}
        self._camera: Dict[Tuple[int, int], Tuple[np.ndarray, Optional[np.ndarray]]] = {}
        self.timings: List[Dict[str, float]] = []
        self.valid = 0

    def camera_for(self, width: int, height: int) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(K, distortion) for images of ``width`` x ``height`` (``ValueError`` on a size mismatch, see --scale-intrinsics)."""
        key = (width, height)
        if key not in self._camera:
            calib = self.calib
            if (width, height) != (calib.width, calib.height):
                if not self.scale_intrinsics:
                    calib.check_image_size(
                        width,
                        height,
                        " (pass the calibration of this resolution, or --scale-intrinsics if the images are resized, not cropped)",
                    )  # raises
                calib = calib.scaled_to(width, height)
            self._camera[key] = calib.intrinsics(rectified=self.rectified)
        return self._camera[key]

    def search_box(self, width: int, height: int) -> Optional[Tuple[float, float, float, float]]:
        """``--box`` as (x0, y0, x1, y1) pixel edges, checked against the image; None without ``--box``."""
        if self.box is None:
            return None
        x, y, w, h = self.box
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise ValueError(f"--box {self.box} lies outside the {width}x{height} image")
        return (x, y, x + w, y + h)

    def run_frame(
        self, image: np.ndarray, frame_index: int = 0, track: bool = False
    ) -> Tuple[List[Any], Dict[str, Any]]:
        """Estimate the hands in ``image`` (RGB); returns (HandPoseResults, the JSON record without names).

        Args:
            frame_index: position in a video (orders the frames for the tracker).
            track: follow the hands of the previous frame (a video); False: the frame on its own.
        """
        h, w = image.shape[:2]
        K, dist = self.camera_for(w, h)
        if not track:
            self.tracker.reset()
        stamp_ns = int(frame_index) * 1_000_000  # frame order is all the tracker needs (1 ms a frame)
        search = self.search_box(w, h)
        t = time.perf_counter()
        planned, detections = self.tracker.plan_frame(self.tracking, self.est, image, stamp_ns, search_box=search)
        results = self.est.estimate(image, K, [p.request for p in planned], dist_coeffs=dist) if planned else []
        total = (time.perf_counter() - t) * 1000.0
        tracked = {id(th.result) for th in self.tracker.update(self.tracking, planned, results, stamp_ns)}
        timings = dict(self.est.last_timings if planned else {}, total=total)
        if detections is not None:
            timings["detect"] = self.est.last_detect_ms
        self.timings.append(timings)
        hands = []
        for p, r in zip(planned, results):
            hand = r.to_dict()
            hand["crop_source"] = p.source
            hand["valid"] = bool(r.valid and id(r) in tracked)  # a second copy of a hand already seen is not
            hands.append(hand)
        self.valid += sum(h["valid"] for h in hands)
        record = {
            "width": int(w),
            "height": int(h),
            "crop_source": planned[0].source if planned else "none",
            "detector_ran": detections is not None,
            "hands": hands,
            "timings_ms": timings,
        }
        return list(results), record

    def write(self, out: Path, name: str, image: np.ndarray, results: List[Any], record: Dict[str, Any]) -> None:
        """Write ``<out>/<name>.json`` and (with overlays) ``<out>/<name>.png``."""
        from ..fileio import write_json

        out.mkdir(parents=True, exist_ok=True)
        write_json(out / f"{name}.json", record, indent=1)
        if self.overlay:
            from ..visualize import View3D, prediction_panel, save_rgb

            view = None
            if self.with_3d:
                h = image.shape[0]
                view = self._views.get(h)
                if view is None:
                    view = self._views[h] = View3D(h, h)
            sources = [hand["crop_source"] for hand in record["hands"]]
            panel = prediction_panel(image, results, sources, view=view, with_3d=self.with_3d)
            save_rgb(out / f"{name}.png", panel)

    def mean_timings(self) -> Dict[str, float]:
        """Mean time per stage over the processed frames (ms)."""
        keys = sorted({k for t in self.timings for k in t})
        return {k: float(np.mean([t[k] for t in self.timings if k in t])) for k in keys}


def _names(paths: Sequence[Path]) -> List[str]:
    """Output names: the file stem, or stem_suffix where two inputs share a stem."""
    stems = [p.stem for p in paths]
    return [f"{p.stem}_{p.suffix.lstrip('.').lower()}" if stems.count(p.stem) > 1 else p.stem for p in paths]


def _progress(iterable: Any, total: Optional[int], enabled: bool, desc: str) -> Any:
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total or None, desc=desc, unit="frame")


def run(args: argparse.Namespace) -> int:
    from ..camera import read_camera_yaml
    from ..fileio import write_json
    from ..inference.contract import backend_for_model, default_device
    from ..inference.pipeline import HandPoseEstimator
    from ..inference.pipeline_config import PipelineConfig
    from ..settings import from_dict, to_dict

    if args.camera_info is None:
        raise ValueError(
            "--camera-info is required: metric 3D needs the camera intrinsics. Pass the camera's ROS "
            "camera_calibration YAML (image_width, image_height, camera_matrix, distortion_model, "
            "distortion_coefficients), e.g. the file written by 'ros2 run camera_calibration cameracalibrator'"
        )
    calib = read_camera_yaml(args.camera_info)
    if args.box:
        parse_box(args.box)  # fail before loading the model
    if not 0.0 <= args.track_min_score <= 1.0:
        raise ValueError(f"--track-min-score must be in [0, 1], got {args.track_min_score}")
    inp: Path = args.input
    if not inp.exists():
        raise FileNotFoundError(f"input not found: {inp}")
    if inp.is_dir():
        images = list_images(inp)
        if not images:
            raise ValueError(f"{inp} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        kind = "folder"
    elif is_video(inp):
        kind = "video"
    else:
        kind = "image"

    source_dir = inp if kind == "folder" else inp.parent
    if args.out.resolve() == source_dir.resolve():
        raise ValueError(
            f"--out {args.out} is the folder of the input images: choose another folder (outputs would overwrite them)"
        )
    model = str(args.model)
    backend = args.backend or backend_for_model(model)
    device = args.device or default_device(backend)
    cfg_kwargs: Dict[str, Any] = dict(
        model=model, backend=backend, device=device, num_threads=args.threads, test_time_augmentation=args.tta
    )
    if args.min_score is not None:
        cfg_kwargs["min_hand_score"] = args.min_score
    base = to_dict(PipelineConfig())
    base["detector"]["model"] = args.detector
    cfg = from_dict(PipelineConfig, dict(base, **cfg_kwargs))  # validated
    est = HandPoseEstimator(cfg)
    pred = Predictor(est, calib, args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    failures: List[Dict[str, str]] = []
    frames = 0
    show = not args.no_progress

    if kind == "image":
        image = read_image(inp)
        results, record = pred.run_frame(image)
        record = {"image": inp.name, "source": str(inp), "frame_index": 0, **record}
        pred.write(out, inp.stem, image, results, record)
        frames = 1
    elif kind == "folder":
        for i, (path, name) in enumerate(_progress(list(zip(images, _names(images))), len(images), show, "predict")):
            try:
                image = read_image(path)
            except (OSError, ValueError) as exc:
                print(f"hand-pose-25d predict: error: {exc}; skipped", file=sys.stderr)
                failures.append({"file": str(path), "error": str(exc)})
                continue
            results, record = pred.run_frame(image)
            record = {"image": path.name, "source": str(path), "frame_index": i, **record}
            pred.write(out, name, image, results, record)
            frames += 1
    else:
        video = VideoFrames(inp)
        folder = out / inp.stem
        for index, t, image in _progress(video, video.count, show, "predict"):
            results, record = pred.run_frame(image, index, track=not args.no_track)
            name = f"frame_{index:06d}"
            record = {"image": f"{inp.name}#{index}", "source": str(inp), "frame_index": index, "time_s": t, **record}
            pred.write(folder, name, image, results, record)
            frames += 1

    K, dist = next(iter(pred._camera.values())) if pred._camera else calib.intrinsics(args.rectified)
    summary = {
        "input": str(inp),
        "kind": kind,
        "frames": frames,
        "valid_hands": pred.valid,
        "failures": failures,
        "model": model,
        "backend": est.backend.describe(),
        "model_preset": est.model_config.preset,
        "camera_info": str(args.camera_info),
        "camera": {
            "width": calib.width,
            "height": calib.height,
            "K": K,
            "dist_coeffs": dist,
            "rectified": bool(args.rectified),
            "scaled": bool(args.scale_intrinsics),
        },
        "tracking": kind == "video" and not args.no_track,
        "box": list(pred.box) if pred.box else None,
        "detector": est.detector_status if pred.use_detector else "not used",
        "mean_timings_ms": pred.mean_timings(),
    }
    write_json(out / "summary.json", summary, indent=1)
    mean = pred.mean_timings().get("total", float("nan"))
    print(f"{frames} frame(s), {pred.valid} valid hand(s), {mean:.1f} ms per frame in the pipeline; wrote {out}")
    if failures:
        print(
            f"hand-pose-25d predict: {len(failures)} file(s) could not be read (see {out / 'summary.json'})",
            file=sys.stderr,
        )
        return 1
    return 0
