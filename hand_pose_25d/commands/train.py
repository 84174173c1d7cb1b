"""``hand-pose-25d train --config config/train/<name>.yaml [--set key=value ...] [--resume CKPT]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (CPU or CUDA; multi-GPU with torchrun)",
        description="Train a model from a YAML TrainConfig. Multi-GPU: torchrun --nproc-per-node N "
        "$(which hand-pose-25d) train --config ...",
    )
    p.add_argument("--config", required=True, type=Path, help="training YAML (see config/train/)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set steps=1000 --set optim.lr=1e-3 (YAML values)",
    )
    p.add_argument("--out", type=Path, help="run folder (overrides out_dir)")
    p.add_argument("--resume", type=Path, help="checkpoint to resume from (e.g. runs/x/last.pt)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from ..settings import load_yaml, replace_flat
    from ..training.train_config import TrainConfig
    from ..training.trainer import train

    cfg = load_yaml(TrainConfig, args.config)
    updates = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        updates[key.strip()] = yaml.safe_load(value)
    if args.out:
        updates["out_dir"] = str(args.out)
    if updates:
        cfg = replace_flat(cfg, updates)
    path = train(cfg, resume=args.resume, progress=not args.no_progress)
    print(f"checkpoint: {path}")
    return 0
