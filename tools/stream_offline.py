#!/usr/bin/env python3
"""The synthetic camera's stream through the node's pipeline, offline: which frames get a valid hand, per seed.

Renders the frames ``hand_pose_25d.ros.synthetic_camera`` publishes (``MultiHandSequence``, the camera's settings)
and runs them through ``HandTracker`` + ``HandPoseEstimator`` as the node does (palm detector when set up, the
default tracking settings, every frame, no transport). Prints one line per seed: ``#`` a frame with a valid hand,
``.`` none; and the fraction of frames with one.

    .venv/bin/python tools/stream_offline.py --seeds 0-21 --frames 45
    .venv/bin/python tools/stream_offline.py --seeds 4,11 --frames 200 --json stream.json
    .venv/bin/python tools/stream_offline.py --set pipeline.refine_iterations=0 --set tracking.min_score=0.3

``--set KEY=VALUE`` (repeatable; VALUE in YAML) overrides a node setting (``pipeline.*``, ``tracking.*``: the names
of the node's parameters).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hand_pose_25d.data.synthetic import MultiHandSequence  # noqa: E402
from hand_pose_25d.inference.pipeline import HandPoseEstimator  # noqa: E402
from hand_pose_25d.inference.pipeline_config import PipelineConfig  # noqa: E402
from hand_pose_25d.inference.tracking import HandTracker, TrackingConfig  # noqa: E402
from hand_pose_25d.settings import replace_flat  # noqa: E402


def parse_seeds(text: str) -> List[int]:
    """``"0-3,7"`` -> [0, 1, 2, 3, 7]."""
    out: List[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out += list(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def run_seed(
    est: HandPoseEstimator, cfg: TrackingConfig, seed: int, frames: int, rate: float, width: int, height: int
) -> Dict[str, Any]:
    """One seed's stream: per frame whether a valid hand was published, its source and score."""
    seq = MultiHandSequence(seed=seed, width=width, height=height, fps=rate, hands=1)
    tracker = HandTracker()
    rows = []
    for t in range(frames):
        sample = seq.frame(t)[0]
        stamp = int(round(t * 1e9 / rate))
        planned, dets = tracker.plan_frame(cfg, est, sample.image, stamp)
        results = est.estimate(sample.image, sample.K, [p.request for p in planned]) if planned else []
        hands = tracker.update(cfg, planned, results, stamp)
        err = float(np.linalg.norm(hands[0].result.uv - sample.uv, axis=1).mean()) if hands else None
        rows.append(
            {
                "frame": t,
                "hand": bool(hands),
                "source": hands[0].source if hands else None,
                "score": float(hands[0].result.score) if hands else None,
                "error_px": err,
                "detector_ran": dets is not None,
            }
        )
    found = sum(r["hand"] for r in rows)
    return {
        "seed": seed,
        "frames": frames,
        "with_hand": found,
        "fraction": found / max(frames, 1),
        "pattern": "".join("#" if r["hand"] else "." for r in rows),
        "rows": rows,
    }


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="4,11", help="seeds, e.g. '0-21' or '4,11' (default %(default)s)")
    ap.add_argument("--frames", type=int, default=45, help="frames per seed from the first (default %(default)s)")
    ap.add_argument("--rate", type=float, default=10.0, help="camera rate in Hz (default %(default)s)")
    ap.add_argument("--model", default="default", help="pose model (default: the shipped one)")
    ap.add_argument("--detector", default="default", help="palm detector: 'default', 'none' or a file")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", type=Path, help="write every frame's record here")
    args = ap.parse_args(argv)
    import yaml

    updates: Dict[str, Dict[str, Any]] = {
        "pipeline": {"model": args.model, "detector.model": args.detector},
        "tracking": {},
    }
    for item in args.overrides:
        key, sep, value = item.partition("=")
        section, _, name = key.strip().partition(".")
        if not sep or section not in updates or not name:
            raise SystemExit(f"--set expects pipeline.KEY=VALUE or tracking.KEY=VALUE, got {item!r}")
        updates[section][name] = yaml.safe_load(value)
    try:
        pipeline = replace_flat(PipelineConfig(), updates["pipeline"])
        tracking = replace_flat(TrackingConfig(), updates["tracking"])
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None
    est = HandPoseEstimator(pipeline)
    print(f"{est.detector_status}; model {args.model}")
    results = []
    for seed in parse_seeds(args.seeds):
        r = run_seed(est, tracking, seed, args.frames, args.rate, 640, 480)
        results.append(r)
        print(f"seed {seed:3d} {r['pattern']} {r['with_hand']}/{r['frames']}", flush=True)
    total = sum(r["with_hand"] for r in results)
    frames = sum(r["frames"] for r in results)
    print(f"all: a valid hand in {total} of {frames} frames ({100.0 * total / max(frames, 1):.1f} %)")
    if args.json:
        args.json.write_text(json.dumps({"seeds": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
