"""Latency statistics and call timing: the one percentile helper of the package.

Standard library + numpy only, and no import of the package: the MediaPipe worker
(:mod:`hand_pose_25d.bench.mediapipe_worker`), which runs in MediaPipe's own Python environment, loads this file
by path.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np

__all__ = ["latency_stats", "time_calls"]


def latency_stats(samples_ms: Sequence[float], *, finite_only: bool = False) -> Dict[str, Optional[float]]:
    """p50/p90/p99 (linear interpolation), mean, std, min, max and count ``n`` of latencies in milliseconds.

    Args:
        samples_ms: the latencies.
        finite_only: drop NaN/inf samples first and return ``n`` 0 with every figure None when nothing is left
            (for figures over a stream that may have none); otherwise an empty or non-finite input is an error.

    Raises:
        ValueError: no sample, or a non-finite one (unless ``finite_only``).
    """
    a = np.asarray(samples_ms, dtype=np.float64).ravel()
    if finite_only:
        a = a[np.isfinite(a)]
        if a.size == 0:
            return {"p50": None, "p90": None, "p99": None, "mean": None, "std": None, "min": None, "max": None, "n": 0}
    if a.size == 0:
        raise ValueError("no latency samples")
    if not np.all(np.isfinite(a)):
        raise ValueError("latency samples contain NaN or infinite values")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(a.mean()),
        "std": float(a.std()),
        "min": float(a.min()),
        "max": float(a.max()),
        "n": int(a.size),
    }


def time_calls(fn: Callable[[], Any], iters: int, warmup: int) -> np.ndarray:
    """Call ``fn`` ``warmup`` times untimed, then ``iters`` times; returns the (iters,) latencies in ms."""
    for _ in range(warmup):
        fn()
    out = np.empty(iters, dtype=np.float64)
    for i in range(iters):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1000.0
    return out
