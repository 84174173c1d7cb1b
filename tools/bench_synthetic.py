#!/usr/bin/env python3
"""Measure the synthetic renderer's speed (crops/s and frames/s, single process) and optionally write the
example mosaic of docs/synthetic-data.md.

    .venv/bin/python tools/bench_synthetic.py                      # 128 px crops and 640x480 frames
    .venv/bin/python tools/bench_synthetic.py --stages             # plus a per-stage time breakdown
    .venv/bin/python tools/bench_synthetic.py --mosaic docs/images/synthetic_examples.png

Times are CPU time of this process (``time.process_time``), the best of ``--repeats`` runs, after a warm-up:
on a machine shared with other jobs, wall time measures the other jobs too. The load average is printed with
the results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hand_pose_25d.data.synthetic import SyntheticHands  # noqa: E402
from hand_pose_25d.skeleton import BONES  # noqa: E402


def _best_cpu_time(fn: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _stage_breakdown(gen: SyntheticHands, mode: str, indices: range, **kw) -> Dict[str, float]:
    """Milliseconds per sample spent in the main stages (CPU time), by wrapping the stage functions."""
    from hand_pose_25d.data.synthetic import core, scene

    totals: Dict[str, float] = defaultdict(float)
    patched = []

    def wrap(module, name):
        fn = getattr(module, name)

        def timed(*a, **k):
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                totals[name] += time.process_time() - t

        setattr(module, name, timed)
        patched.append((module, name, fn))

    for name in ("make_background", "render_layer", "degrade", "keypoint_visibility"):
        wrap(core, name)
    for name in ("render_primitives", "shade"):
        wrap(scene, name)
    orig_scene = gen.scene

    def timed_scene(*a, **k):
        t = time.process_time()
        try:
            return orig_scene(*a, **k)
        finally:
            totals["scene (hand, camera, objects)"] += time.process_time() - t

    gen.scene = timed_scene  # type: ignore[method-assign]
    t0 = time.process_time()
    try:
        for i in indices:
            getattr(gen, mode)(i, **kw)
    finally:
        for module, name, fn in patched:
            setattr(module, name, fn)
        del gen.scene
    n = len(indices)
    out = {k: v / n * 1000 for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    out["total"] = (time.process_time() - t0) / n * 1000
    return out


def _draw_labels(image: np.ndarray, uv: np.ndarray, visible: np.ndarray, scale: float = 1.0) -> np.ndarray:
    import cv2

    out = image.copy()
    p = np.round(uv * scale + (scale - 1) / 2).astype(int)
    for a, b in BONES:
        cv2.line(out, tuple(p[a]), tuple(p[b]), (255, 230, 60), 1, cv2.LINE_AA)
    for k in range(len(p)):
        cv2.circle(out, tuple(p[k]), 2, (40, 255, 40) if visible[k] else (255, 40, 40), -1, cv2.LINE_AA)
    return out


def write_mosaic(path: Path, seed: int = 1) -> int:
    """Example crops (raw and with labels) and two full frames with labels; returns the file size in bytes."""
    import cv2

    gen = SyntheticHands(seed=seed)
    crops = [gen.crop(i, 128) for i in range(12)]
    rows: List[np.ndarray] = []
    rows.append(np.concatenate([c.image for c in crops[:6]], axis=1))
    rows.append(np.concatenate([_draw_labels(c.image, c.uv, c.visible) for c in crops[:6]], axis=1))
    rows.append(np.concatenate([c.image for c in crops[6:12]], axis=1))
    frames = []
    near = [i for i in range(200) if gen.scene(i, 640, 480).xyz[0, 2] < 0.5][:2]  # hands big enough to see
    for i in near:
        f = gen.frame(i, 640, 480)
        small = cv2.resize(f.image, (384, 288), interpolation=cv2.INTER_AREA)
        frames.append(_draw_labels(small, (f.uv + 0.5) * 0.6 - 0.5, f.visible))
    rows.append(np.concatenate(frames, axis=1))
    mosaic = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    # 22 levels per channel keep the PNG under 300 KB
    bgr = cv2.cvtColor(mosaic, cv2.COLOR_RGB2BGR).astype(np.int16)
    q = np.minimum(bgr // 12 * 12 + 6, 255).astype(np.uint8)
    cv2.imwrite(str(path), q, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path.stat().st_size


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", type=int, default=300, help="crops per timed run")
    ap.add_argument("--frames", type=int, default=40, help="frames per timed run")
    ap.add_argument("--size", type=int, default=128, help="crop side in pixels")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stages", action="store_true", help="also print a per-stage breakdown")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--mosaic", type=Path, help="write the example mosaic PNG here and exit")
    args = ap.parse_args(argv)

    if args.mosaic:
        size = write_mosaic(args.mosaic)
        print(f"wrote {args.mosaic} ({size / 1024:.0f} KB)")
        return 0

    gen = SyntheticHands(seed=args.seed)
    for i in range(50):  # warm-up: imports, caches, the noise tile
        gen.crop(i, args.size)
    gen.frame(0, args.width, args.height)
    base = 10_000
    t_crop = _best_cpu_time(lambda: [gen.crop(base + i, args.size) for i in range(args.crops)], args.repeats)
    t_frame = _best_cpu_time(
        lambda: [gen.frame(base + i, args.width, args.height) for i in range(args.frames)], args.repeats
    )
    res = {
        "crop_size": args.size,
        "crop_ms": t_crop / args.crops * 1000,
        "crops_per_s": args.crops / t_crop,
        "frame_size": [args.width, args.height],
        "frame_ms": t_frame / args.frames * 1000,
        "frames_per_s": args.frames / t_frame,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if args.stages:
        res["crop_stages_ms"] = _stage_breakdown(gen, "crop", range(base, base + args.crops), out_size=args.size)
        res["frame_stages_ms"] = _stage_breakdown(
            gen, "frame", range(base, base + args.frames), width=args.width, height=args.height
        )
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"crops  {args.size}x{args.size}: {res['crop_ms']:.2f} ms each, {res['crops_per_s']:.0f} crops/s (1 process)")
    print(f"frames {args.width}x{args.height}: {res['frame_ms']:.2f} ms each, {res['frames_per_s']:.1f} frames/s")
    print(f"CPU time, best of {args.repeats}; load average {res['load_average']}")
    for key in ("crop_stages_ms", "frame_stages_ms"):
        if key in res:
            print(key.replace("_stages_ms", "") + " stages (ms per sample, CPU time):")
            for name, ms in res[key].items():
                print(f"  {name:32s} {ms:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
