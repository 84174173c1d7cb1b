"""``hand-pose-25d synth --out DIR --num N [--seed S] [--mode crop|frame]``: export synthetic hands to disk."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("synth", help="render synthetic hands with exact labels to a folder (images + labels.json)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--num", type=int, default=1000, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="renderer seed (deterministic per seed and index)")
    p.add_argument(
        "--mode",
        choices=("crop", "frame"),
        default="frame",
        help="frame: full camera images (640x480 by default); crop: hand-centred network-size crops",
    )
    p.add_argument("--width", type=int, default=640, help="frame width in pixels")
    p.add_argument("--height", type=int, default=480, help="frame height in pixels")
    p.add_argument("--size", type=int, default=128, help="crop side in pixels (mode crop)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data.synthetic import export_dataset

    if args.num <= 0:
        raise ValueError("--num must be positive")
    kwargs = {"width": args.width, "height": args.height} if args.mode == "frame" else {"out_size": args.size}
    export_dataset(args.out, args.num, args.seed, mode=args.mode, **kwargs)
    print(f"wrote {args.num} {args.mode}s to {args.out}")
    return 0
