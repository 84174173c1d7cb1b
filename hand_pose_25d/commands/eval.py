"""``hand-pose-25d eval --model PATH|default --data synthetic|rhd|stb|freihand ... --json OUT [--plot PNG] [--tta MODE]``.

``--data photos --root LABELS.json [--mode box|whole|both]``: real photographs with 2D labels
(``tools/real_photos.py label``), evaluation only: PCK@0.2 of the labelled hand's box side with the box given and on
the whole image (:func:`hand_pose_25d.evaluation.evaluate_photos`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub) -> None:
    from ..inference.contract import BACKENDS
    from ..inference.pipeline_config import TTA_MODES

    p = sub.add_parser("eval", help="evaluate a model: 2D/3D EPE, PCK and AUC (JSON with every prediction)")
    p.add_argument("--model", default="default", help="'default', or a .pt / .onnx / .engine file")
    p.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="runtime (default: from the model file: .pt -> torch, .engine/.plan -> tensorrt, else onnxruntime)",
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
    p.add_argument(
        "--data",
        default="synthetic",
        choices=("synthetic", "rhd", "stb", "freihand", "photos"),
        help="evaluation set (photos: real photographs with 2D labels, evaluation only)",
    )
    p.add_argument("--root", default="", help="dataset folder (rhd, stb, freihand); photos: the labels JSON file")
    p.add_argument(
        "--mode",
        default="both",
        choices=("box", "whole", "both"),
        help="photos: the hand box given (the labelled keypoints' box, padded as in training), the whole image "
        "(palm detector then pose, as predict without --box), or both (default)",
    )
    p.add_argument(
        "--detector",
        default="default",
        help="photos, whole image: palm detector 'default', a palm_detector.onnx, or 'none' (whole-image search)",
    )
    p.add_argument("--max-hands", type=int, default=2, help="photos, whole image: most hands per photo (default 2)")
    p.add_argument("--split", default="", help="dataset split (default: the reader's evaluation split)")
    p.add_argument("--seed", type=int, default=12345, help="synthetic: renderer seed (use one never used in training)")
    p.add_argument(
        "--num",
        type=int,
        default=None,
        help="number of images (default: 500 synthetic ones, or the whole dataset; 0: the whole dataset)",
    )
    p.add_argument(
        "--mask",
        default=None,
        choices=("labeled", "visible"),
        help="keypoints evaluated (default: labeled for synthetic, visible for datasets)",
    )
    p.add_argument(
        "--depth",
        action="store_true",
        help="synthetic: give the pipeline each image's aligned depth as a sensor would (noise, holes) and report "
        "the camera-frame error with it and with the bone prior",
    )
    p.add_argument("--depth-noise", type=float, default=0.002, help="--depth: noise std in m at 1 m (default 0.002)")
    p.add_argument(
        "--depth-dropout", type=float, default=0.02, help="--depth: fraction of pixels without depth (default 0.02)"
    )
    p.add_argument("--json", type=Path, required=True, help="output JSON (metrics, predictions, ground truth)")
    p.add_argument("--plot", type=Path, help="PCK plot PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import (
        dataset_samples,
        evaluate,
        headline,
        pipeline_for_eval,
        plot_pck,
        synthetic_samples,
        write_result_json,
    )
    from ..inference.contract import backend_for_model, default_device

    model = str(args.model)
    backend = args.backend or backend_for_model(model)
    device = args.device or default_device(backend)
    if args.data == "photos":
        return run_photos(args, model, backend, device)
    est = pipeline_for_eval(args.model, backend, device, args.threads, tta=args.tta)
    if args.data == "synthetic":
        num = 500 if args.num is None else args.num
        if num <= 0:
            raise ValueError("--num must be positive for synthetic data")
        samples = synthetic_samples(args.seed, num)
        info = {"data": "synthetic", "seed": args.seed, "image_size": [640, 480]}
        mask = args.mask or "labeled"
    else:
        if not args.root:
            raise ValueError(f"--root is required for --data {args.data}")
        split = args.split or {"rhd": "evaluation", "stb": "test", "freihand": "evaluation"}[args.data]
        samples = dataset_samples(args.data, args.root, split, args.num or None)
        num = len(samples)
        info = {"data": args.data, "data_root": args.root, "split": split}
        mask = args.mask or "visible"
    info["model"] = args.model
    info["test_time_augmentation"] = args.tta
    result = evaluate(
        est,
        samples,
        num=num,
        mask_mode=mask,
        progress=not args.no_progress,
        info=info,
        freihand=args.data == "freihand",
        depth={"noise_at_1m": args.depth_noise, "dropout": args.depth_dropout} if args.depth else None,
    )
    write_result_json(result, args.json)
    if args.plot:
        plot_pck(result, args.plot)
    print(json.dumps(headline(result), indent=2))
    print(f"wrote {args.json}" + (f" and {args.plot}" if args.plot else ""))
    return 0


def run_photos(args: argparse.Namespace, model: str, backend: str, device: str) -> int:
    from ..data.registry import open_dataset
    from ..evaluation import (
        evaluate_photos,
        headline_photos,
        pipeline_for_eval,
        pipeline_for_whole_images,
        plot_pck_photos,
        write_result_json,
    )

    if not args.root:
        raise ValueError("--root is required for --data photos: the labels JSON of tools/real_photos.py label")
    if args.max_hands < 1:
        raise ValueError(f"--max-hands must be at least 1, got {args.max_hands}")
    ds = open_dataset("photos", args.root, args.split or "test")  # fails here when the photos are not installed
    box = whole = None
    if args.mode in ("box", "both"):
        box = pipeline_for_eval(model, backend, device, args.threads, tta=args.tta)
    if args.mode in ("whole", "both"):
        whole = pipeline_for_whole_images(model, backend, device, args.threads, args.tta, args.detector)
    info = {"data_root": args.root, "model": args.model, "test_time_augmentation": args.tta, "mode": args.mode}
    result = evaluate_photos(
        ds, box_estimator=box, whole_estimator=whole, max_hands=args.max_hands, progress=not args.no_progress, info=info
    )
    write_result_json(result, args.json)
    if args.plot:
        plot_pck_photos(result, args.plot)
    print(json.dumps(headline_photos(result), indent=2))
    print(f"wrote {args.json}" + (f" and {args.plot}" if args.plot else ""))
    return 0
