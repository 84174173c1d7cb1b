"""``hand-pose-25d config {node,pipeline,train,model}``: print the default settings as commented YAML."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("config", help="print default settings as commented YAML (node, pipeline, train, model)")
    p.add_argument("kind", choices=("node", "pipeline", "train", "model"), help="which settings")
    p.add_argument(
        "--markdown",
        action="store_true",
        help="node: the parameter table (Markdown) of docs/ros.md and the README instead of YAML",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inference.pipeline_config import PipelineConfig
    from ..model.model_config import ModelConfig
    from ..settings import dump_yaml

    if args.kind == "pipeline":
        print(dump_yaml(PipelineConfig()), end="")
    elif args.kind == "model":
        print(dump_yaml(ModelConfig()), end="")
    elif args.kind == "train":
        from ..training.train_config import TrainConfig

        print(dump_yaml(TrainConfig()), end="")
    else:
        from ..ros.params import node_params_markdown, node_params_yaml

        print(node_params_markdown() if args.markdown else node_params_yaml(), end="")
    return 0
