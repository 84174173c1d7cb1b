"""``hand-pose-25d bench --backend B --model default|paper|fast|compact|PATH [--batch N] ... --json OUT``.

Latency (p50/p90/p99) and throughput of the network alone and of the whole pipeline on a 640x480 frame, per
stage, with the machine and versions; optionally MediaPipe's hand landmark model side by side
(``--compare-mediapipe``). The measuring code is :mod:`hand_pose_25d.bench`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub) -> None:
    from ..inference.contract import BACKENDS
    from ..inference.pipeline_config import TTA_MODES

    p = sub.add_parser(
        "bench",
        help="latency of the network and of the whole pipeline (p50/p90/p99, per stage), optionally vs MediaPipe",
        description="Measure the network alone (backend.infer on a batch of crops) and the whole pipeline on a "
        "640x480 frame (HandPoseEstimator.estimate with a crop), write the figures, machine and versions as JSON "
        "and print a table. --model paper|fast|compact measures an untrained network of that preset (timings only).",
    )
    p.add_argument("--backend", default="onnxruntime", choices=BACKENDS, help="runtime")
    p.add_argument(
        "--model",
        default="default",
        help="'default' (the shipped model), a preset (paper, fast, compact: untrained) or a model file",
    )
    p.add_argument("--batch", type=int, default=1, help="crops per network call (hands per frame in the pipeline)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads of the runtime (0: its default)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu; cuda for tensorrt)")
    p.add_argument("--fp16", action="store_true", help="half precision (CUDA only)")
    p.add_argument("--iters", type=int, default=200, help="timed calls per measurement")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls before timing")
    p.add_argument(
        "--crop",
        default="track",
        choices=("track", "roi", "full"),
        help="pipeline crop: track (from keypoints, one network pass), roi (loose box) or full (whole "
        "frame); roi and full are refined with a second pass",
    )
    p.add_argument(
        "--tta",
        default="none",
        choices=TTA_MODES,
        help="pipeline: test-time augmentation (2 or 8 network passes per crop; see predict --tta)",
    )
    p.add_argument("--network-only", action="store_true", help="skip the pipeline measurement")
    p.add_argument(
        "--compare-mediapipe",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time MediaPipe's hand_landmark_full.tflite (and its solutions.hands graph) in the "
        "MediaPipe environment (see --mediapipe-python; tools/setup_mediapipe.sh creates one); "
        "default: whenever that environment exists",
    )
    p.add_argument(
        "--mediapipe-python",
        default="",
        help="Python of an environment with mediapipe==0.10.21 and ai-edge-litert (default: "
        "$HAND_POSE_25D_MEDIAPIPE_PYTHON, else ./.venv-mediapipe/bin/python)",
    )
    p.add_argument("--mediapipe-threads", type=int, default=2, help="TFLite threads for MediaPipe's model")
    p.add_argument("--mediapipe-model", default="", help="a hand landmark .tflite instead of the wheel's")
    p.add_argument("--json", type=Path, required=True, help="output JSON")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..bench.bench_config import BenchSettings
    from ..bench.measure import find_mediapipe_python, format_report, run_benchmark
    from ..fileio import write_json
    from ..inference.contract import default_device

    device = args.device or default_device(args.backend)
    if args.compare_mediapipe is None:  # side by side whenever a MediaPipe environment is there
        args.compare_mediapipe = find_mediapipe_python(args.mediapipe_python) is not None
    settings = BenchSettings(
        backend=args.backend,
        model=args.model,
        batch=args.batch,
        threads=args.threads,
        device=device,
        fp16=args.fp16,
        iters=args.iters,
        warmup=args.warmup,
        crop=args.crop,
        tta=args.tta,
        pipeline=not args.network_only,
        compare_mediapipe=args.compare_mediapipe,
        mediapipe_python=args.mediapipe_python,
        mediapipe_threads=args.mediapipe_threads,
        mediapipe_model=args.mediapipe_model,
    )
    settings.check()
    say = None if args.quiet else (lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
    result = run_benchmark(settings, progress=say)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, result, indent=2)
    print(format_report(result))
    print(f"wrote {args.json}")
    mp = result.get("mediapipe")
    if mp is not None and not mp.get("available"):
        print(f"hand-pose-25d bench: warning: MediaPipe was not measured: {mp.get('reason')}", file=sys.stderr)
    return 0
