#!/usr/bin/env python3
"""A realism figure for the synthetic renderer: the fraction of rendered hands that MediaPipe's palm detector finds.

The palm detector (BlazePalm, trained on real photographs; ``hand-pose-25d setup-models`` makes it) runs on ``--num``
full frames of renderer seed ``--seed``. A rendered hand counts as *found* when a detection's palm box lies mostly
inside the hand's keypoint box (intersection >= ``--overlap`` of the palm box's area; the box of all 21 keypoints,
enlarged by 10 % of its side). Every frame has one hand, fully in view (``SyntheticHands.frame`` places all 21
keypoints inside the image). Detections matching no hand are counted as false detections.

    .venv/bin/python tools/measure_realism.py --legacy --json before.json       # the renderer before the realism work
    .venv/bin/python tools/measure_realism.py --json after.json                 # the default (realistic) settings
    .venv/bin/python tools/measure_realism.py --set fda_prob=0 --set background_photo_prob=0
    .venv/bin/python tools/measure_realism.py --figure docs/images/renderer_realism.png --figure-only

``--legacy`` turns every realism setting off (:func:`hand_pose_25d.data.synthetic.synthetic_config.legacy_config`):
the images are those of the renderer before them, sample for sample. ``--set KEY=VALUE`` (repeatable, VALUE in YAML:
``0.5``, ``[0.2, 0.6]``, ``true``) overrides any ``SyntheticConfig`` setting on top. ``--figure PNG`` writes a sheet
of sample renders, legacy on the top row and the chosen settings below (same indices), with the detections drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hand_pose_25d.data.synthetic import SyntheticConfig, SyntheticHands  # noqa: E402
from hand_pose_25d.data.synthetic.synthetic_config import legacy_config  # noqa: E402
from hand_pose_25d.settings import replace_flat  # noqa: E402

#: Keypoint-box side (pixels at 640x480) bins of the per-size table.
SIZE_BINS = ((0, 80), (80, 160), (160, 10_000))


def parse_overrides(items: Sequence[str]) -> Dict[str, Any]:
    """``KEY=VALUE`` strings -> {key: value} (VALUE parsed as YAML)."""
    import yaml

    out: Dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def make_config(legacy: bool, overrides: Dict[str, Any]) -> SyntheticConfig:
    cfg = legacy_config() if legacy else SyntheticConfig()
    return replace_flat(cfg, overrides) if overrides else cfg


def hand_box(uv: np.ndarray, grow: float = 0.1) -> np.ndarray:
    """[x0, y0, x1, y1] of the keypoints, enlarged by ``grow`` x the longer side on every edge."""
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    m = grow * float(max(hi - lo))
    return np.array([lo[0] - m, lo[1] - m, hi[0] + m, hi[1] + m])


def overlap_of(palm: np.ndarray, box: np.ndarray) -> float:
    """Area of palm box ``palm`` inside ``box`` over the palm box's area."""
    w = max(0.0, min(palm[2], box[2]) - max(palm[0], box[0]))
    h = max(0.0, min(palm[3], box[3]) - max(palm[1], box[1]))
    area = max((palm[2] - palm[0]) * (palm[3] - palm[1]), 1e-9)
    return float(w * h / area)


def measure(
    cfg: SyntheticConfig,
    detector: Any,
    det_cfg: Any,
    seed: int,
    num: int,
    width: int,
    height: int,
    overlap: float,
) -> Dict[str, Any]:
    """Render ``num`` frames and run the detector on each; the totals and one record per frame."""
    gen = SyntheticHands(cfg, seed=seed)
    records: List[Dict[str, Any]] = []
    t_render = t_detect = 0.0
    for i in range(num):
        t0 = time.perf_counter()
        s = gen.frame(i, width, height)
        t1 = time.perf_counter()
        dets = detector.detect(s.image, det_cfg)
        t_render += t1 - t0
        t_detect += time.perf_counter() - t1
        box = hand_box(s.uv)
        ov = [overlap_of(d.palm.box, box) for d in dets]
        matched = [o >= overlap for o in ov]
        records.append(
            {
                "index": i,
                "found": bool(any(matched)),
                "best_score": max((d.score for d, m in zip(dets, matched) if m), default=0.0),
                "detections": len(dets),
                "false_detections": int(sum(1 for m in matched if not m)),
                "box_side_px": float(max(box[2] - box[0], box[3] - box[1])),
                "distance_m": float(s.meta["distance"]),
                "visible_keypoints": int(s.visible.sum()),
                "background": s.meta.get("background", "procedural"),
            }
        )
    found = sum(r["found"] for r in records)
    by_size = []
    for lo, hi in SIZE_BINS:
        sel = [r for r in records if lo <= r["box_side_px"] < hi]
        by_size.append(
            {
                "box_side_px": [lo, hi],
                "hands": len(sel),
                "found": sum(r["found"] for r in sel),
                "fraction": (sum(r["found"] for r in sel) / len(sel)) if sel else None,
            }
        )
    by_bg: Dict[str, Dict[str, Any]] = {}
    for r in records:
        b = by_bg.setdefault(r["background"], {"hands": 0, "found": 0})
        b["hands"] += 1
        b["found"] += int(r["found"])
    for b in by_bg.values():
        b["fraction"] = b["found"] / b["hands"]
    return {
        "hands": num,
        "found": int(found),
        "fraction_found": found / max(num, 1),
        "false_detections": int(sum(r["false_detections"] for r in records)),
        "by_box_side": by_size,
        "by_background": by_bg,
        "render_ms_per_frame": 1000 * t_render / max(num, 1),
        "detect_ms_per_frame": 1000 * t_detect / max(num, 1),
        "records": records,
    }


def write_figure(
    path: Path,
    cfg: SyntheticConfig,
    detector: Any,
    det_cfg: Any,
    seed: int,
    indices: Sequence[int],
    width: int,
    height: int,
    overlap: float,
    scale: float = 0.34,
) -> int:
    """Two rows of frames (legacy above, ``cfg`` below) with the hand box (yellow) and detections (green: found,
    red: false); returns the file size in bytes."""
    import cv2

    rows = []
    for row_cfg in (legacy_config(), cfg):
        gen = SyntheticHands(row_cfg, seed=seed)
        tiles = []
        for i in indices:
            s = gen.frame(i, width, height)
            img = cv2.resize(s.image, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)
            box = hand_box(s.uv) * scale
            cv2.rectangle(img, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (255, 220, 0), 1)
            for d in detector.detect(s.image, det_cfg) if detector is not None else []:
                b = d.palm.box * scale
                ok = overlap_of(d.palm.box, hand_box(s.uv)) >= overlap
                cv2.rectangle(
                    img, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (0, 255, 0) if ok else (255, 0, 0), 2
                )
            tiles.append(img)
        rows.append(np.concatenate(tiles, axis=1))
    sheet = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)
    for q in (92, 85, 75, 60):  # a JPEG-like budget in a PNG: quantise until it fits 300 KB
        levels = max(2, q // 4)
        step = 256 // levels
        small = np.minimum(bgr.astype(np.int16) // step * step + step // 2, 255).astype(np.uint8)
        cv2.imwrite(str(path), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if path.stat().st_size < 300_000:
            break
    return path.stat().st_size


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=300, help="frames to render (default 300)")
    ap.add_argument("--seed", type=int, default=0, help="renderer seed (default 0)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--legacy", action="store_true", help="the renderer without the realism settings")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--overlap", type=float, default=0.5, help="palm box fraction inside the hand box to match")
    ap.add_argument("--min-score", type=float, default=None, help="detector score threshold (default: the pipeline's)")
    ap.add_argument("--detector", default="default", help="palm detector model ('default' or a path)")
    ap.add_argument("--json", type=Path, help="write the results (totals and per-frame records) here")
    ap.add_argument("--figure", type=Path, help="write a before/after sheet of sample renders here")
    ap.add_argument("--figure-indices", default="0,1,2,3,4,5", help="comma-separated frame indices for --figure")
    ap.add_argument("--figure-only", action="store_true", help="only write --figure (no measurement)")
    args = ap.parse_args(argv)

    from hand_pose_25d.detection.palm_detector import DetectorConfig, load_detector

    cfg = make_config(args.legacy, parse_overrides(args.overrides))
    det_cfg = DetectorConfig(model=args.detector)
    if args.min_score is not None:
        det_cfg.min_score = float(args.min_score)
    detector, line = load_detector(det_cfg, num_threads=1)
    if detector is None:
        print(f"error: {line}", file=sys.stderr)
        return 2
    if args.figure:
        idx = [int(v) for v in args.figure_indices.split(",") if v.strip()]
        size = write_figure(args.figure, cfg, detector, det_cfg, args.seed, idx, args.width, args.height, args.overlap)
        print(f"wrote {args.figure} ({size / 1024:.0f} KB)")
        if args.figure_only:
            return 0
    res = measure(cfg, detector, det_cfg, args.seed, args.num, args.width, args.height, args.overlap)
    res.update(
        {
            "settings": "legacy" if args.legacy else "default",
            "overrides": parse_overrides(args.overrides),
            "seed": args.seed,
            "size": [args.width, args.height],
            "min_score": det_cfg.min_score,
            "overlap": args.overlap,
            "detector": line,
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        }
    )
    print(f"renderer settings: {res['settings']}{' + ' + str(res['overrides']) if res['overrides'] else ''}")
    print(f"{'what':28s} {'hands':>6s} {'found':>6s} {'fraction':>9s}")
    print(f"{'all (seed ' + str(args.seed) + ')':28s} {res['hands']:6d} {res['found']:6d} {res['fraction_found']:9.3f}")
    for b in res["by_box_side"]:
        lo, hi = b["box_side_px"]
        label = f"hand box {lo}-{hi} px" if hi < 10_000 else f"hand box >= {lo} px"
        frac = "-" if b["fraction"] is None else f"{b['fraction']:.3f}"
        print(f"{label:28s} {b['hands']:6d} {b['found']:6d} {frac:>9s}")
    for name, b in sorted(res["by_background"].items()):
        print(f"{'background ' + name:28s} {b['hands']:6d} {b['found']:6d} {b['fraction']:9.3f}")
    print(
        f"false detections: {res['false_detections']}; render {res['render_ms_per_frame']:.1f} ms/frame, "
        f"detector {res['detect_ms_per_frame']:.1f} ms/frame (wall time)"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
