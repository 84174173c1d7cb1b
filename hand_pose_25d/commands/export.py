"""``hand-pose-25d export --model default|PATH --format onnx|tensorrt --out PATH [--fp16] [--max-batch N] [--opset N]``.

* ``onnx``: the checkpoint (``default`` = the shipped ``default.pt``) is exported with decoding inside the graph,
  named input ``image`` (uint8 (B, S, S, 3)) and outputs ``uv``, ``z_rel``, ``keypoint_scores``, ``handedness``,
  a dynamic batch axis and the model config in the metadata (:func:`hand_pose_25d.model.onnx_export.export_onnx`).
  The file is then checked with ``onnx.checker`` and ONNX Runtime's output compared with PyTorch's on random
  crops (batch 1 and 3; ``--no-verify`` skips it). Needs torch and onnx, never TensorRT.
* ``tensorrt``: from a checkpoint (exported to ONNX first, written beside ``--out``) or an ONNX file; the ONNX
  is validated for TensorRT (``default``: the shipped ``default.onnx``) (:func:`~hand_pose_25d.inference.tensorrt_backend.validate_onnx_for_tensorrt`)
  before TensorRT is needed, then the engine is built (FP16 optional, an optimisation profile for batches
  1..--max-batch, a timing cache beside the ONNX) and written as an engine container with the model config in
  its header. Without ``--out`` it goes to the engine cache beside the ONNX file (named by the ONNX hash,
  TensorRT version, GPU, precision and batch range), where the tensorrt backend looks for it. Where TensorRT or
  a GPU is missing the command fails with what to install (exit code 3).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, Tuple

#: Largest differences accepted between ONNX Runtime and PyTorch (crop pixels for uv; reference-bone units for z).
TOLERANCES = {"uv": 1e-3, "z_rel": 1e-4, "keypoint_scores": 1e-4, "handedness": 1e-4}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX (decoding in the graph) or build a TensorRT engine",
        description="Export a .pt checkpoint to ONNX, or build a TensorRT engine from a checkpoint or ONNX file.",
    )
    p.add_argument(
        "--model",
        default="default",
        help="'default' (the shipped default.pt), a .pt checkpoint, or (tensorrt) an .onnx export",
    )
    p.add_argument("--format", default="onnx", choices=("onnx", "tensorrt"), help="output format")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output file (.onnx / .engine); tensorrt without --out: the engine cache beside the ONNX",
    )
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (11-20 for TensorRT 10)")
    p.add_argument("--fp16", action="store_true", help="tensorrt: allow FP16 kernels")
    p.add_argument("--max-batch", type=int, default=8, help="tensorrt: largest batch of the optimisation profile")
    p.add_argument("--workspace-mb", type=int, default=1024, help="tensorrt: builder workspace limit in MiB")
    p.add_argument("--device", default="cuda", help="tensorrt: cuda or cuda:N")
    p.add_argument("--no-verify", action="store_true", help="onnx: skip the ONNX Runtime vs PyTorch comparison")
    p.set_defaults(run=run)


def _checkpoint_path(model: str) -> Path:
    from ..inference.backends import default_model_path

    if model in ("", "default"):
        return default_model_path(".pt")
    path = Path(model).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    return path


def export_checkpoint(checkpoint: Path, out: Path, opset: int) -> Path:
    """Export the checkpoint ``checkpoint`` to the ONNX file ``out`` (dynamic batch, config in the metadata)."""
    from ..model.checkpoint import load_checkpoint
    from ..model.onnx_export import export_onnx

    if checkpoint.suffix.lower() not in (".pt", ".pth"):
        raise ValueError(f"--model must be a .pt checkpoint for this export, got {checkpoint.name}")
    if not 7 <= opset <= 21:
        raise ValueError(f"--opset must be in 7..21, got {opset}")
    loaded = load_checkpoint(checkpoint, map_location="cpu")
    return export_onnx(loaded.model, loaded.config, out, opset=opset, dynamic_batch=True)


def verify_onnx(
    checkpoint: Path, onnx_path: Path, batches: Tuple[int, ...] = (1, 3), seed: int = 0
) -> Dict[str, float]:
    """Largest |ONNX Runtime - PyTorch| per output over random uint8 crops of each batch size.

    Raises:
        RuntimeError: a difference above :data:`TOLERANCES`.
    """
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    from ..inference.contract import INPUT_NAME, OUTPUT_NAMES
    from ..model.checkpoint import load_checkpoint
    from ..model.onnx_export import ExportWrapper

    onnx.checker.check_model(onnx.load(str(onnx_path)))
    loaded = load_checkpoint(checkpoint, map_location="cpu")
    wrapper = ExportWrapper(loaded.model, loaded.config).eval()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    S = loaded.config.input_size
    rng = np.random.default_rng(seed)
    worst = {k: 0.0 for k in OUTPUT_NAMES}
    for b in batches:
        crops = rng.integers(0, 256, (b, S, S, 3), dtype=np.uint8)
        got = dict(zip(OUTPUT_NAMES, sess.run(list(OUTPUT_NAMES), {INPUT_NAME: crops})))
        with torch.no_grad():
            ref = dict(zip(OUTPUT_NAMES, (t.numpy() for t in wrapper(torch.from_numpy(crops)))))
        for k in OUTPUT_NAMES:
            if got[k].shape != ref[k].shape:
                raise RuntimeError(f"{onnx_path}: output {k} has shape {got[k].shape}, PyTorch gives {ref[k].shape}")
            worst[k] = max(worst[k], float(np.max(np.abs(got[k].astype(np.float64) - ref[k]))))
    bad = {k: v for k, v in worst.items() if not v <= TOLERANCES[k]}
    if bad:
        raise RuntimeError(
            f"{onnx_path}: ONNX Runtime differs from PyTorch beyond tolerance: {bad} (limits {TOLERANCES})"
        )
    return worst


def run(args: argparse.Namespace) -> int:
    if args.max_batch < 1:
        raise ValueError(f"--max-batch must be at least 1, got {args.max_batch}")
    if args.format == "onnx":
        if args.out is None:
            raise ValueError("--out is required for --format onnx (the .onnx file to write)")
        ignored = [flag for flag, on in (("--fp16", args.fp16), ("--max-batch", args.max_batch != 8)) if on]
        if ignored:
            print(
                f"export: warning: {' and '.join(ignored)} only apply to --format tensorrt (the ONNX file is FP32 "
                "with a dynamic batch); ignored",
                file=sys.stderr,
            )
        checkpoint = _checkpoint_path(args.model)
        out = export_checkpoint(checkpoint, args.out, args.opset)
        print(f"exported {checkpoint} -> {out} (opset {args.opset}, dynamic batch, decoding in the graph)")
        if not args.no_verify:
            worst = verify_onnx(checkpoint, out)
            print(
                "verified: onnx.checker passes; ONNX Runtime vs PyTorch max |diff| (batch 1 and 3): "
                + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
            )
        return 0

    from ..inference.contract import parse_device
    from ..inference.tensorrt_backend import build_engine, validate_onnx_for_tensorrt

    kind, index = parse_device(args.device)
    if kind != "cuda":
        raise ValueError(
            f"TensorRT engines are built on a CUDA device; --device must be cuda or cuda:N, got {args.device!r}"
        )
    if args.model in ("", "default"):
        from ..inference.backends import default_model_path

        onnx_path = default_model_path(".onnx")  # the shipped export of default.pt
    elif Path(args.model).suffix.lower() in (".pt", ".pth"):
        checkpoint = _checkpoint_path(args.model)
        onnx_path = args.out.with_suffix(".onnx") if args.out is not None else checkpoint.with_suffix(".onnx")
        if onnx_path.resolve() == (args.out.resolve() if args.out is not None else None):
            raise ValueError(f"--out {args.out} would overwrite the intermediate ONNX file; use an .engine suffix")
        export_checkpoint(checkpoint, onnx_path, args.opset)
        print(f"exported {checkpoint} -> {onnx_path}")
    else:
        onnx_path = Path(args.model).expanduser()
        if onnx_path.suffix.lower() != ".onnx":
            raise ValueError(
                f"--model for --format tensorrt must be a .pt checkpoint or an .onnx export, got {onnx_path.name}"
            )
        if not onnx_path.is_file():
            raise FileNotFoundError(f"model file not found: {onnx_path}")
    config, facts = validate_onnx_for_tensorrt(onnx_path)
    print(
        f"validated {onnx_path} for TensorRT: opset {facts['opset']}, input uint8 (batch, {facts['input_size']}, "
        f"{facts['input_size']}, 3), {facts['num_keypoints']} keypoints, preset {config.preset}",
        flush=True,
    )
    engine = build_engine(
        onnx_path,
        args.out,
        fp16=args.fp16,
        max_batch=args.max_batch,
        workspace_mb=args.workspace_mb,
        device_index=index,
    )
    print(f"built TensorRT engine {engine} (fp16={args.fp16}, batch 1..{args.max_batch})")
    return 0
