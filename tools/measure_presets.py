#!/usr/bin/env python3
"""Measure model presets (and candidate variants): parameters, GFLOPs, ONNX Runtime latency, training throughput.

For each configuration:

* ``params``: number of parameters (M);
* ``GFLOPs``: forward FLOPs of one 128x128 crop counted by ``torch.utils.flop_counter`` (a multiply-add = 2 FLOPs;
  convolutions and matrix products only);
* ``ORT p50 / p90``: batch-1 latency of the exported ONNX model (uint8 input, decoding in the graph, exactly
  what :func:`hand_pose_25d.model.onnx_export.export_onnx` writes) under ONNX Runtime on the CPU with
  ``intra_op_num_threads`` threads (default 2), one ``session.run`` per sample; the best p50 of ``--repeats``
  timing rounds is reported with that round's p90;
* ``train samples/s``: PyTorch forward + loss + backward + Adam step, ``torch.set_num_threads(threads)``, at batch
  32 (batch 2 and a single step for configurations above ``--heavy-gflops``, marked in the table); the best of
  ``--repeats`` windows of ``--train-steps`` steps.

Examples::

    .venv/bin/python tools/measure_presets.py                       # the three presets
    .venv/bin/python tools/measure_presets.py --presets compact \\
        --candidate c48:compact:channels=48 --candidate s2:compact:output_stride=2,depth=4
    .venv/bin/python tools/measure_presets.py --markdown docs/presets-table.md

Timings are noisy when other processes use the cores: the load average is printed before each measurement and
the table reports how many cores OTHER processes kept busy during each timing (from /proc/stat minus this
process's own CPU time); only rows with values near 0 are clean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hand_pose_25d.bench.stats import latency_stats  # noqa: E402
from hand_pose_25d.model.checkpoint import build_model  # noqa: E402
from hand_pose_25d.model.losses import compute_loss  # noqa: E402
from hand_pose_25d.model.model_config import ModelConfig  # noqa: E402
from hand_pose_25d.model.network import count_parameters  # noqa: E402
from hand_pose_25d.model.onnx_export import export_onnx  # noqa: E402
from hand_pose_25d.model.presets import PRESETS, preset_config  # noqa: E402


def loadavg() -> str:
    """The 1-minute load average (or '?' where /proc is missing)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


class ForeignLoad:
    """CPU time used by OTHER processes while a measurement runs, in cores (0: the machine was ours alone).

    Busy CPU time of the whole machine (``/proc/stat``) minus this process's own CPU time, divided by the wall
    time. ``value`` is None where /proc/stat is unavailable.
    """

    def __enter__(self) -> "ForeignLoad":
        self.value: Optional[float] = None
        self._start = (self._busy(), time.process_time(), time.perf_counter())
        return self

    def __exit__(self, *exc: Any) -> None:
        busy0, own0, t0 = self._start
        busy1 = self._busy()
        if busy0 is None or busy1 is None:
            return
        wall = time.perf_counter() - t0
        self.value = max(0.0, ((busy1 - busy0) - (time.process_time() - own0)) / max(wall, 1e-9))

    @staticmethod
    def _busy() -> Optional[float]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal
        return busy / os.sysconf("SC_CLK_TCK")


def parse_value(text: str) -> Any:
    """A JSON value where the text is one (numbers, true/false, lists), else the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_candidate(spec: str) -> Tuple[str, ModelConfig]:
    """``label:preset:key=value,key=value`` -> (label, config)."""
    parts = spec.split(":", 2)
    if len(parts) < 2:
        raise SystemExit(f"--candidate {spec!r}: expected label:preset[:key=value,...]")
    label, preset = parts[0], parts[1]
    overrides: Dict[str, Any] = {}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            key, _, value = item.partition("=")
            if not _:
                raise SystemExit(f"--candidate {spec!r}: {item!r} is not key=value")
            overrides[key.strip()] = parse_value(value.strip())
    return label, preset_config(preset, **overrides)


def count_gflops(model: torch.nn.Module, config: ModelConfig) -> float:
    """Forward GFLOPs of one input (multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    x = torch.zeros(1, 3, config.input_size, config.input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def ort_latency(
    model: torch.nn.Module, config: ModelConfig, threads: int, runs: int, repeats: int, budget_s: float
) -> Tuple[float, float, int]:
    """Best p50 over ``repeats`` rounds and that round's p90 (ms), and the number of runs per round."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_onnx(model, config, path, dynamic_batch=True)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    s = config.input_size
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, s, s, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    sess.run(None, {"image": image})
    first = time.perf_counter() - t0
    n = int(max(3, min(runs, budget_s / max(first, 1e-6) / max(repeats, 1))))
    for _ in range(min(n // 5, 50)):
        sess.run(None, {"image": image})
    best: Optional[Tuple[float, float]] = None
    for _ in range(repeats):
        times = []
        for _ in range(n):
            t = time.perf_counter_ns()
            sess.run(None, {"image": image})
            times.append((time.perf_counter_ns() - t) / 1e6)
        st = latency_stats(times)
        p50, p90 = st["p50"], st["p90"]
        if best is None or p50 < best[0]:
            best = (p50, p90)
    assert best is not None
    return best[0], best[1], n


def train_throughput(model: torch.nn.Module, config: ModelConfig, batch: int, steps: int, repeats: int = 1) -> float:
    """Samples per second of forward + loss + backward + Adam step at ``batch``.

    After 2 warm-up steps, ``repeats`` windows of ``steps`` steps are timed; the best window is reported.
    """
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    s, k = config.input_size, config.num_keypoints
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, s, s, generator=g)
    targets = {
        "uv": torch.rand(batch, k, 2, generator=g) * (s - 1),
        "z": torch.randn(batch, k, generator=g) * 0.3,
        "handedness": (torch.rand(batch, generator=g) > 0.5).float(),
    }

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss, _ = compute_loss(model(x), targets, config)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    best = 0.0
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        best = max(best, batch * steps / (time.perf_counter() - t))
    return best


def measure(label: str, config: ModelConfig, args: argparse.Namespace) -> Dict[str, Any]:
    """All figures of one configuration (printed as they come)."""
    torch.manual_seed(0)
    model = build_model(config)
    row: Dict[str, Any] = {"label": label, "config": config}
    row["params_m"] = count_parameters(model) / 1e6
    row["gflops"] = count_gflops(model, config)
    print(f"[{label}] params {row['params_m']:.3f} M, {row['gflops']:.3f} GFLOPs", flush=True)
    if not args.skip_ort:
        print(f"[{label}] ORT timing (load {loadavg()}) ...", flush=True)
        with ForeignLoad() as other:
            p50, p90, n = ort_latency(model, config, args.threads, args.ort_runs, args.repeats, args.ort_budget)
        row.update(ort_p50=p50, ort_p90=p90, ort_runs=n, ort_other=other.value)
        print(
            f"[{label}] ORT batch 1: p50 {p50:.3f} ms, p90 {p90:.3f} ms ({n} runs x {args.repeats}; "
            f"other processes used {_cores(other.value)} cores)",
            flush=True,
        )
    if not args.skip_train:
        batch = args.train_batch if row["gflops"] <= args.heavy_gflops else 2
        steps = args.train_steps if row["gflops"] <= args.heavy_gflops else 1
        print(f"[{label}] training throughput at batch {batch} (load {loadavg()}) ...", flush=True)
        row["train_batch"] = batch
        with ForeignLoad() as other:
            row["train_sps"] = train_throughput(model, config, batch, steps, args.repeats if steps > 1 else 1)
        row["train_other"] = other.value
        print(
            f"[{label}] train: {row['train_sps']:.3g} samples/s at batch {batch} "
            f"(other processes used {_cores(other.value)} cores)",
            flush=True,
        )
    return row


def _cores(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.2f}"


def describe(config: ModelConfig) -> str:
    """Short architecture summary of a config."""
    return (
        f"{config.head}, {config.input_size}px/s{config.output_stride}, c{config.channels}"
        f"{'x' + format(config.channel_growth, 'g') if config.channel_growth != 1 else ''}, d{config.depth}, "
        f"n{config.blocks_per_level}, {config.block}, {config.num_stages} stage(s), "
        f"{'1-3-1' if config.fast_head else '7x7'} tail"
    )


def markdown(rows: List[Dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| preset | architecture | params (M) | GFLOPs | ORT p50 (ms) | ORT p90 (ms) | train samples/s (batch) "
        "| other load ORT / train (cores) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        ort_p50 = f"{r['ort_p50']:.2f}" if "ort_p50" in r else "-"
        ort_p90 = f"{r['ort_p90']:.2f}" if "ort_p90" in r else "-"
        train = f"{r['train_sps']:.3g} ({r['train_batch']})" if "train_sps" in r else "-"
        lines.append(
            f"| {r['label']} | {describe(r['config'])} | {r['params_m']:.3f} | {r['gflops']:.3f} | {ort_p50} | {ort_p90} | {train} "
            f"| {_cores(r.get('ort_other'))} / {_cores(r.get('train_other'))} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS), help="presets to measure (default: all)")
    parser.add_argument(
        "--candidate", action="append", default=[], help="label:preset:key=value,... variant to measure"
    )
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads and torch threads")
    parser.add_argument("--ort-runs", type=int, default=500, help="timed ORT runs per round (fewer for slow models)")
    parser.add_argument("--ort-budget", type=float, default=60.0, help="seconds of ORT timing per configuration")
    parser.add_argument("--repeats", type=int, default=3, help="ORT timing rounds (the best p50 is reported)")
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument(
        "--heavy-gflops", type=float, default=5.0, help="above this, train throughput uses batch 2, 1 step"
    )
    parser.add_argument("--skip-ort", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.threads} threads, load {loadavg()}", flush=True)
    jobs = [(name, preset_config(name)) for name in args.presets] + [parse_candidate(c) for c in args.candidate]
    rows = [measure(label, config, args) for label, config in jobs]
    table = markdown(rows)
    print()
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
