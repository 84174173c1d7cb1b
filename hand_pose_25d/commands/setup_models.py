"""``hand-pose-25d setup-models [--out DIR] [--cache DIR] [--no-check] [--original]``: make the palm detector.

Fetches ``mediapipe==0.10.21`` with ``pip download --no-deps`` (or takes it from ``--cache``), converts
``palm_detection_full.tflite`` with the package's TFLite importer, checks it against the ai-edge-litert interpreter
(max abs difference <= 1e-3), loads the shipped fine-tuned weights of its later layers
(``hand_pose_25d/models/palm_detector_tuned.pt``; ``--original`` keeps MediaPipe's) and writes
``palm_detector.onnx``, its report and the license notice into ``--out`` (default: the models folder the node looks
in, see :func:`hand_pose_25d.detection.palm_detector.default_models_dir`). The converted weights are made here, at
set-up; the repository ships only the fine-tuned layers.

Also puts ``hand_landmark_full.tflite`` (checked by its sha256) into ``<out>/mediapipe/``: the ``landmark`` preset's
encoder, needed to train a new model on it (a trained model carries its encoder and needs no file).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "setup-models",
        help="make the palm detector (palm_detector.onnx) from the mediapipe 0.10.21 wheel, checked",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: $HAND_POSE_25D_MODELS or ~/.cache/hand_pose_25d/models)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder with (or for) the mediapipe wheel "
        "(default: $HAND_POSE_WHEEL_CACHE or ~/.cache/hand_pose_25d/wheels)",
    )
    p.add_argument("--no-check", action="store_true", help="skip the comparison with the TFLite interpreter")
    p.add_argument("--force", action="store_true", help="rebuild even if the detector is there and loads")
    p.add_argument(
        "--original",
        action="store_true",
        help="MediaPipe's weights unchanged (default: with the shipped fine-tuned later layers, "
        "hand_pose_25d/models/palm_detector_tuned.pt, which find rendered hands too)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..detection.palm_detector import DETECTOR_FILE, PalmDetector, default_models_dir
    from ..pretrained.mediapipe_wheel import PretrainedError

    out = args.out or default_models_dir()
    target = out / DETECTOR_FILE
    try:
        from ..detection.palm_model import TUNED_WEIGHTS, build_palm_detector, tuned_weights_sha256
    except ImportError as exc:
        raise RuntimeError(f"setup-models needs torch and onnx: {exc}") from exc
    tuned = None if args.original else TUNED_WEIGHTS
    if tuned is not None and not tuned.is_file():
        raise RuntimeError(f"the fine-tuned palm detector weights are missing: {tuned} (reinstall, or use --original)")
    want = tuned_weights_sha256(tuned)
    if target.is_file() and not args.force:
        try:
            det = PalmDetector(target)
        except (ValueError, OSError) as exc:
            print(f"setup-models: {target} is unusable ({exc}); rebuilding it")
        else:
            have = (det.info.get("fine_tuned") or {}).get("sha256")
            if have == want:
                print(f"setup-models: {det.describe()} is ready at {target} (--force rebuilds it)")
                return _encoder(out, args.cache)
            print(f"setup-models: {target} was made with other weights; rebuilding it")
    try:
        build_palm_detector(out, cache_dir=args.cache, check=not args.no_check, tuned=tuned)
    except PretrainedError as exc:
        raise RuntimeError(str(exc)) from exc
    PalmDetector(target)  # what was written loads
    return _encoder(out, args.cache)


def _encoder(out: Path, cache) -> int:
    """The hand-landmark encoder's .tflite for training the ``landmark`` preset (checked by its sha256)."""
    from ..pretrained.mediapipe_wheel import PretrainedError

    try:
        from ..model.pretrained_net import encoder_tflite
    except ImportError as exc:  # torch missing: only training needs the encoder file
        print(f"setup-models: hand_landmark_full.tflite skipped (needs torch: {exc})")
        return 0
    try:
        path = encoder_tflite("hand_landmark_full", out, cache)
    except PretrainedError as exc:
        raise RuntimeError(str(exc)) from exc
    print(f"setup-models: the landmark preset's encoder (training only) is at {path}")
    return 0
