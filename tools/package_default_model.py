#!/usr/bin/env python3
"""Package a trained checkpoint as the shipped default model: ``hand_pose_25d/models/default.{pt,onnx}``.

1. load the checkpoint (``runs/landmark_synthetic/best.pt`` by default), drop the optimiser state;
2. round the weights to float16 (both files then hold the same numbers, half the size each);
3. ``default.pt``: a checkpoint with float16 weights, the model config and a training summary in ``extra``;
4. ``default.onnx``: the ONNX export (decoding in the graph, dynamic batch, config in the metadata) with float16
   weight storage and in-graph casts to float32;
5. verify: ``onnx.checker`` and ONNX Runtime against PyTorch on random crops (``hand-pose-25d export``'s check),
   and print the sizes.

usage: .venv/bin/python tools/package_default_model.py [CHECKPOINT] [--out-dir hand_pose_25d/models]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", type=Path, default=REPO / "runs" / "landmark_synthetic" / "best.pt")
    ap.add_argument("--out-dir", type=Path, default=REPO / "hand_pose_25d" / "models")
    args = ap.parse_args()

    from hand_pose_25d.commands.export import verify_onnx
    from hand_pose_25d.model.checkpoint import load_checkpoint, save_checkpoint
    from hand_pose_25d.model.onnx_export import export_onnx, round_weights_to_half

    ck = load_checkpoint(args.checkpoint)
    model = round_weights_to_half(ck.model.eval())
    extra = ck.extra or {}
    summary = {
        "source_checkpoint": args.checkpoint.name,
        "step": extra.get("step"),
        "held_out_metrics_at_selection": extra.get("metrics", {}),
        "train_config": extra.get("train_config", {}),
        "weights": "float16-rounded (stored as float16, computed in float32)",
        "docs": "docs/training.md",
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pt = save_checkpoint(args.out_dir / "default.pt", model, ck.config, extra={"training": summary}, half_weights=True)
    onnx_path = export_onnx(model, ck.config, args.out_dir / "default.onnx", half_weights=True)
    worst = verify_onnx(pt, onnx_path)
    print(
        json.dumps(
            {
                "default.pt": pt.stat().st_size,
                "default.onnx": onnx_path.stat().st_size,
                "onnxruntime_vs_torch_max_abs_diff": worst,
                "step": summary["step"],
                "held_out": summary["held_out_metrics_at_selection"],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
