"""``hand-pose-25d``: the command-line interface (train, eval, export, predict, bench, synth, config).

Each subcommand lives in :mod:`hand_pose_25d.commands` as a module with ``add_parser(subparsers)`` and
``run(args) -> int``; heavy imports happen inside ``run`` so that ``hand-pose-25d --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from . import __version__

#: Subcommand -> its module in :mod:`hand_pose_25d.commands`.
COMMANDS = {
    "train": "train",
    "eval": "eval",
    "export": "export",
    "predict": "predict",
    "bench": "bench",
    "synth": "synth",
    "config": "show_config",
    "setup-models": "setup_models",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="hand-pose-25d",
        description="Metric 3D hand pose from one RGB camera (latent 2.5D heatmap regression).",
    )
    parser.add_argument("--version", action="version", version=f"hand_pose_25d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(f".commands.{module}", __package__)
        except ModuleNotFoundError as exc:  # a command whose module is not part of this installation
            if exc.name and exc.name.endswith(f"commands.{module}"):
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``hand-pose-25d`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError) as exc:
        print(f"hand-pose-25d {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # BackendUnavailable and other actionable runtime problems
        print(f"hand-pose-25d {args.command}: error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
