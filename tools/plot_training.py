#!/usr/bin/env python3
"""Plot training runs: held-out root-relative 3D AUC (20-50 mm), 2D EPE and the training loss against the step.

Reads ``log.csv`` and ``eval.jsonl`` of each run folder written by ``hand-pose-25d train``. A resumed run appends
to the same files (its ``time_s`` restarts at 0); the last row of each step wins and the wall-clock time is the
sum over the segments. Prints one line per run (steps, hours, best held-out AUC) and writes a PNG.

usage: .venv/bin/python tools/plot_training.py runs/compact_synthetic [runs/other ...] --out curve.png
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np


def read_log(run: Path) -> Tuple[np.ndarray, np.ndarray, float]:
    """(steps (N,), loss (N,), wall-clock seconds over all segments) from ``run/log.csv``."""
    rows: Dict[int, float] = {}
    total, last_t = 0.0, 0.0
    with open(run / "log.csv", newline="") as f:
        for r in csv.DictReader(f):
            t = float(r["time_s"])
            if t < last_t:  # a resumed segment starts its clock again
                total += last_t
            last_t = t
            rows[int(r["step"])] = float(r["loss"])
    total += last_t
    steps = np.array(sorted(rows), dtype=np.int64)
    return steps, np.array([rows[s] for s in steps]), total


def read_eval(run: Path) -> List[Dict[str, float]]:
    """Held-out evaluations of ``run/eval.jsonl``, one dict per step (the last one of a step wins), by step."""
    by_step: Dict[int, Dict[str, float]] = {}
    path = run / "eval.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                e = json.loads(line)
                by_step[int(e["step"])] = e
    return [by_step[s] for s in sorted(by_step)]


def smooth(y: np.ndarray, n: int = 10) -> np.ndarray:
    """Running mean over ``n`` log rows (shorter at the start)."""
    c = np.cumsum(np.insert(y, 0, 0.0))
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(0, i - n)
    return (c[i] - c[lo]) / (i - lo)


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (log.csv, eval.jsonl)")
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--title", default="", help="figure title")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for run in args.runs:
        if not (run / "log.csv").is_file():
            print(f"error: {run}/log.csv does not exist", file=sys.stderr)
            return 2
        steps, loss, seconds = read_log(run)
        evals = read_eval(run)
        label = run.name
        axes[2].plot(steps, smooth(loss), label=label)
        if evals:
            es = [e["step"] for e in evals]
            axes[0].plot(es, [e["val_auc3d_20_50"] for e in evals], "o-", ms=3, label=label)
            axes[1].plot(es, [e["val_epe2d_px"] for e in evals], "o-", ms=3, label=label)
            best = max(evals, key=lambda e: e["val_auc3d_20_50"])
            print(
                f"{label}: {int(steps[-1])} steps, {seconds / 3600:.2f} h, best held-out AUC 20-50 mm "
                f"{best['val_auc3d_20_50']:.3f} at step {best['step']} (2D EPE {best['val_epe2d_px']:.1f} px, "
                f"3D EPE {best['val_epe3d_mm']:.1f} mm)"
            )
        else:
            print(f"{label}: {int(steps[-1])} steps, {seconds / 3600:.2f} h, no held-out evaluation")
    axes[0].set(xlabel="step", ylabel="AUC 20-50 mm", title="held-out root-relative 3D AUC")
    axes[1].set(xlabel="step", ylabel="px", title="held-out 2D EPE (128 px crops)")
    axes[2].set(xlabel="step", ylabel="loss", title="training loss (running mean)", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
    if len(args.runs) > 1:
        axes[0].legend()
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
