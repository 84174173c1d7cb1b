"""``python -m hand_pose_25d.pretrained convert``: MediaPipe .tflite -> PyTorch (.pt) + ONNX, checked end to end.

For each requested model (:data:`.mediapipe_wheel.MODELS`, or ``all``) into ``--out DIR``:

1. find or download the ``mediapipe==0.10.21`` wheel (``--cache DIR``, default ``$HAND_POSE_WHEEL_CACHE`` or
   ``~/.cache/hand_pose_25d/wheels``) and extract ``<name>.tflite`` (+ ``<name>.tflite.sha256`` and
   ``LICENSE.mediapipe.txt``);
2. build :class:`.tflite_torch.TFLiteModule` from it (input float32 NHWC RGB in [0, 1], outputs in the TFLite shapes);
3. ``--check`` (default): run the ai-edge-litert interpreter and the module on a few random inputs and one structured
   (synthetic image-like) input and fail if any output differs by more than ``--tol`` (1e-3) in absolute value;
4. save ``<name>.pt`` (state dict + the name and sha256 of the ``.tflite`` kept beside it; rebuild with
   :func:`.tflite_torch.load_module`) and ``<name>.onnx`` (opset 17, dynamic batch, TFLite tensor names), and check
   ONNX Runtime against PyTorch (batch 1 and 2);
5. time a forward pass of PyTorch, ONNX Runtime and the interpreter (batch 1, ``--threads`` threads) and write
   ``<name>.json`` with every number, then print a short report.

``--no-check`` skips the interpreter comparison (and ONNX Runtime where it is not installed).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..fileio import atomic_output
from .mediapipe_wheel import (
    MEDIAPIPE_VERSION,
    MODELS,
    PretrainedError,
    default_cache_dir,
    extract_model,
    find_or_download_wheel,
    sha256_file,
)

__all__ = ["convert_model", "structured_input", "build_parser", "main"]

DEFAULT_TOL = 1e-3


def structured_input(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """A deterministic image-like float32 NHWC input in [0, 1]: a colour gradient with a skin-toned palm and fingers.

    Args:
        shape: (B, H, W, 3).
    """
    b, h, w, c = (int(s) for s in shape)
    yy, xx = np.meshgrid(np.linspace(0.0, 1.0, h), np.linspace(0.0, 1.0, w), indexing="ij")
    img = np.stack([0.2 + 0.5 * xx, 0.3 + 0.4 * yy, 0.5 - 0.3 * xx * yy], axis=-1)
    skin = np.array([0.87, 0.67, 0.55])
    palm = ((xx - 0.5) / 0.22) ** 2 + ((yy - 0.62) / 0.2) ** 2 < 1.0
    fingers = np.zeros_like(palm)
    for cx, top in ((0.33, 0.2), (0.44, 0.12), (0.55, 0.1), (0.66, 0.16)):
        fingers |= (np.abs(xx - cx) < 0.045) & (yy > top) & (yy < 0.6)
    thumb = (np.abs((yy - 0.62) - 0.9 * (xx - 0.25)) < 0.05) & (xx > 0.12) & (xx < 0.35)
    img[palm | fingers | thumb] = skin
    rng = np.random.default_rng(seed)
    img = np.clip(img + rng.normal(0.0, 0.02, img.shape), 0.0, 1.0)
    out = np.broadcast_to(img[..., :c], (b, h, w, c)).astype(np.float32)
    return np.ascontiguousarray(out)


def _median_ms(fn: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


class _Interpreter:
    """ai-edge-litert reference interpreter: numpy NHWC in, {output tensor index: array} out."""

    def __init__(self, path: Path, threads: int) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise PretrainedError(
                f"the reference interpreter is missing: pip install ai-edge-litert (or pass --no-check) ({exc})"
            ) from exc
        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        self.interp.allocate_tensors()
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()

    def __call__(self, x: np.ndarray) -> Dict[int, np.ndarray]:
        self.interp.set_tensor(self.inputs[0]["index"], x)
        self.interp.invoke()
        return {int(o["index"]): self.interp.get_tensor(o["index"]).copy() for o in self.outputs}


def convert_model(
    name: str,
    out_dir: Path,
    *,
    cache_dir: Optional[Path] = None,
    wheel: Optional[Path] = None,
    check: bool = True,
    tol: float = DEFAULT_TOL,
    threads: int = 2,
    bench_runs: int = 20,
    n_random: int = 3,
    log: Callable[[str], None] = print,
) -> Dict[str, Any]:
    """Convert one model (see the module docstring); return the report (also written as ``<name>.json``).

    Raises:
        ValueError: unknown model name.
        PretrainedError: no wheel, a damaged wheel, the interpreter missing while ``check``, or a mismatch above
            ``tol`` (interpreter vs PyTorch, or ONNX Runtime vs PyTorch).
        UnsupportedOperatorError: the model uses an operator the converter lacks.
    """
    import torch

    from .tflite_reader import read_tflite
    from .tflite_torch import SUPPORTED_OPS, TFLiteModule, encoder_stride_features, export_onnx, save_module

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    info = MODELS[name]
    out_dir = Path(out_dir)
    if wheel is None:
        wheel = find_or_download_wheel(cache_dir if cache_dir is not None else default_cache_dir())
    tfl = extract_model(wheel, name, out_dir)
    desc = read_tflite(tfl, supported=SUPPORTED_OPS)
    in_shape = tuple(desc.tensors[desc.inputs[0]].shape)
    if len(desc.inputs) != 1 or in_shape != info.input_shape:
        raise PretrainedError(
            f"{tfl}: expected one input of shape {list(info.input_shape)}, the file has "
            + ", ".join(str(list(desc.tensors[i].shape)) for i in desc.inputs)
        )
    torch.set_num_threads(threads)
    module = TFLiteModule(desc).eval()
    module.check_shapes()
    report: Dict[str, Any] = {
        "model": name,
        "mediapipe_version": MEDIAPIPE_VERSION,
        "wheel": Path(wheel).name,
        "tflite": tfl.name,
        "tflite_sha256": sha256_file(tfl),
        "input": {"name": module.input_names[0], "shape": list(in_shape), "layout": "NHWC", "range": [0.0, 1.0]},
        "outputs": [
            {"name": n, "shape": list(module.tensor_shapes[i])}
            for n, i in zip(module.output_names, module.output_indices)
        ],
        "operators": desc.opcode_counts(),
        "parameters": int(sum(p.numel() for p in module.parameters())),
        "threads": threads,
        "platform": f"{platform.system()} {platform.machine()}, python {platform.python_version()}, "
        f"torch {torch.__version__}",
    }
    try:
        report["stride_features"] = {
            str(s): {"name": e["name"], "shape": list(e["shape"])} for s, e in encoder_stride_features(desc).items()
        }
    except (ValueError, StopIteration, KeyError):
        report["stride_features"] = {}

    inputs = [np.random.default_rng(seed).random(in_shape, dtype=np.float32) for seed in range(n_random)]
    inputs.append(structured_input(in_shape))

    def torch_run(x: np.ndarray) -> List[np.ndarray]:
        with torch.no_grad():
            return [t.numpy() for t in module(torch.from_numpy(x))]

    interp = None
    if check:
        interp = _Interpreter(tfl, threads)
        diffs = {n: 0.0 for n in module.output_names}
        for x in inputs:
            ref = interp(x)
            for n, idx, y in zip(module.output_names, module.output_indices, torch_run(x)):
                diffs[n] = max(diffs[n], float(np.max(np.abs(ref[idx].astype(np.float64) - y))))
        report["max_abs_diff_vs_interpreter"] = diffs
        bad = {n: d for n, d in diffs.items() if not d <= tol}
        if bad:
            raise PretrainedError(
                f"{name}: PyTorch differs from the ai-edge-litert interpreter by more than {tol:g}: "
                + ", ".join(f"{n}: {d:.3g}" for n, d in bad.items())
            )

    pt = save_module(module, out_dir / f"{name}.pt", tfl, model=name, mediapipe_version=MEDIAPIPE_VERSION)
    onnx_path = export_onnx(module, out_dir / f"{name}.onnx", opset=17, dynamic_batch=True)
    report["pt"], report["pt_sha256"] = pt.name, sha256_file(pt)
    report["onnx"], report["onnx_sha256"] = onnx_path.name, sha256_file(onnx_path)

    sess = None
    try:
        import onnxruntime as ort
    except ImportError as exc:
        if check:
            raise PretrainedError(
                f"checking the ONNX export needs onnxruntime: pip install onnxruntime ({exc})"
            ) from exc
        report["max_abs_diff_onnx_vs_torch"] = None
    else:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        in_name = sess.get_inputs()[0].name
        diffs = {n: 0.0 for n in module.output_names}
        for x in inputs + [np.concatenate([inputs[0], inputs[-1]], axis=0)]:  # batch 1 and a batch of 2
            ys = sess.run(module.output_names, {in_name: x})
            for n, a, b in zip(module.output_names, ys, torch_run(x)):
                diffs[n] = max(diffs[n], float(np.max(np.abs(a.astype(np.float64) - b))))
        report["max_abs_diff_onnx_vs_torch"] = diffs
        bad = {n: d for n, d in diffs.items() if not d <= tol}
        if bad:
            raise PretrainedError(
                f"{name}: ONNX Runtime differs from PyTorch by more than {tol:g}: "
                + ", ".join(f"{n}: {d:.3g}" for n, d in bad.items())
            )

    if bench_runs > 0:
        x = inputs[-1]
        xt = torch.from_numpy(x)
        timing: Dict[str, Optional[float]] = {}
        with torch.no_grad():
            timing["torch_ms"] = _median_ms(lambda: module(xt), bench_runs)
        timing["onnxruntime_ms"] = (
            _median_ms(lambda: sess.run(None, {in_name: x}), bench_runs) if sess is not None else None
        )
        if interp is None:
            try:
                interp = _Interpreter(tfl, threads)
            except PretrainedError:
                interp = None
        timing["interpreter_ms"] = _median_ms(lambda: interp(x), bench_runs) if interp is not None else None
        report["median_ms_per_forward_batch1"] = timing

    with atomic_output(out_dir / f"{name}.json") as tmp:
        Path(tmp).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(_format_report(report))
    return report


def _format_report(r: Dict[str, Any]) -> str:
    lines = [
        f"{r['model']}: {r['tflite']} (mediapipe {r['mediapipe_version']}, sha256 {r['tflite_sha256'][:12]}...), "
        f"{sum(r['operators'].values())} ops, {r['parameters']:,} parameters -> {r['pt']}, {r['onnx']}"
    ]
    d1, d2 = r.get("max_abs_diff_vs_interpreter"), r.get("max_abs_diff_onnx_vs_torch")
    for o in r["outputs"]:
        n = o["name"]
        a = f"{d1[n]:.2e}" if d1 else "not checked"
        b = f"{d2[n]:.2e}" if d2 else "not checked"
        lines.append(f"  {n:<11} {str(o['shape']):<15} max |torch - litert| {a}   max |onnx - torch| {b}")
    t = r.get("median_ms_per_forward_batch1")
    if t:
        fmt = lambda v: f"{v:.2f} ms" if v is not None else "n/a"  # noqa: E731
        lines.append(
            f"  batch 1, {r['threads']} threads: torch {fmt(t['torch_ms'])}, onnxruntime {fmt(t['onnxruntime_ms'])}, "
            f"litert {fmt(t['interpreter_ms'])}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m hand_pose_25d.pretrained`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m hand_pose_25d.pretrained",
        description=f"Import MediaPipe {MEDIAPIPE_VERSION}'s palm / hand TFLite models into PyTorch and ONNX.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser(
        "convert",
        help="extract, convert, check and export a model",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        required=True,
        action="append",
        choices=list(MODELS) + ["all"],
        metavar="NAME",
        help=f"model to convert: {', '.join(MODELS)} or all (repeatable)",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder with (or for) the mediapipe wheel "
        "(default: $HAND_POSE_WHEEL_CACHE or ~/.cache/hand_pose_25d/wheels)",
    )
    p.add_argument("--wheel", type=Path, default=None, help="use this mediapipe wheel file instead of the cache")
    p.add_argument(
        "--check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compare with the ai-edge-litert interpreter and ONNX Runtime (default: on)",
    )
    p.add_argument("--tol", type=float, default=DEFAULT_TOL, help="largest allowed max abs difference (default 1e-3)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch / onnxruntime / litert (default 2)")
    p.add_argument("--bench-runs", type=int, default=20, help="timed forward passes per runtime (0: no timing)")
    sub.add_parser("list", help="list the models in the wheel")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m hand_pose_25d.pretrained``."""
    from .tflite_reader import UnsupportedOperatorError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        for m in MODELS.values():
            print(f"{m.name:<20} input {list(m.input_shape)}  {m.member}")
        return 0
    if args.command != "convert":
        parser.print_help()
        return 2
    names = list(MODELS) if "all" in args.model else list(dict.fromkeys(args.model))
    try:
        for name in names:
            convert_model(
                name,
                args.out,
                cache_dir=args.cache,
                wheel=args.wheel,
                check=args.check,
                tol=args.tol,
                threads=args.threads,
                bench_runs=args.bench_runs,
            )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, UnsupportedOperatorError) as exc:
        print(f"convert: error: {exc}", file=sys.stderr)
        return 2
    except (PretrainedError, ImportError, RuntimeError) as exc:
        print(f"convert: error: {exc}", file=sys.stderr)
        return 3
    return 0
