#!/usr/bin/env python3
"""Where the 3D error of an evaluation comes from: the 2D keypoints or the relative depths, near or far hands.

Reads the JSON written by ``hand-pose-25d eval ... --json OUT`` (it holds every prediction and ground truth) and
rebuilds each hand with the **ground-truth root depth and reference-bone scale** from four combinations of the
predicted / true 2D keypoints ``uv`` and relative depths ``z_rel``:

* predicted uv + predicted z_rel: the JSON's ``3d_absolute_gt_root_scale`` figure (a check that this script
  reconstructs the way the evaluation does);
* **true uv** + predicted z_rel: what perfect 2D would leave (the depth error alone);
* predicted uv + **true z_rel**: what perfect relative depths would leave (the 2D error alone);
* true + true: zero (a check).

Then the root-relative 3D AUC (20-50 mm, the JSON's protocol) by distance of the hand from the camera.
Numpy only; prints a table. Lens distortion is ignored (the synthetic camera has none).

usage: .venv/bin/python tools/error_split.py eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hand_pose_25d import metrics as M  # noqa: E402
from hand_pose_25d.geometry import lift_2p5d, to_2p5d  # noqa: E402


def summary(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, protocol: str = "absolute") -> Dict[str, float]:
    r = M.evaluate_3d(pred, gt, mask, protocol=protocol)
    return {"median_mm": r["epe_median"], "auc_20_50": r["auc_20_50"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", type=Path, help="the JSON of hand-pose-25d eval --json")
    args = ap.parse_args()
    try:
        d = json.loads(args.json.read_text())
    except (OSError, ValueError) as e:
        ap.error(f"cannot read {args.json}: {e}")
    missing = [
        f"{g}.{k}"
        for g, keys in (
            ("ground_truth", ("gt_xyz_m", "gt_mask", "gt_K", "gt_uv")),
            ("predictions", ("pred_uv", "pred_z_rel", "pred_xyz_root_relative_m")),
        )
        for k in keys
        if k not in d.get(g, {})
    ]
    if missing:
        ap.error(f"{args.json} is not the JSON of hand-pose-25d eval --json (no {', '.join(missing)})")
    info = d.get("info", {})
    root, ref = int(info.get("root", 0)), tuple(info.get("ref_bone", (0, 9)))

    def arr(group: str, key: str) -> np.ndarray:
        return np.asarray(d[group][key], dtype=np.float64)

    gt = arr("ground_truth", "gt_xyz_m")
    ok = np.isfinite(gt).all(axis=(1, 2))
    if not ok.any():
        ap.error(f"{args.json} has no hand with 3D labels")
    gt = gt[ok]
    mask = np.asarray(d["ground_truth"]["gt_mask"], dtype=bool)[ok]
    K = arr("ground_truth", "gt_K")[ok]
    gt_uv = arr("ground_truth", "gt_uv")[ok]
    pred_uv = arr("predictions", "pred_uv")[ok]
    pred_z = arr("predictions", "pred_z_rel")[ok]
    L = np.linalg.norm(gt[:, ref[1]] - gt[:, ref[0]], axis=-1)
    Zr = gt[:, root, 2]
    _, gt_z = to_2p5d(gt, K, root=root, ref_bone=ref)

    print(f"{args.json}: {len(gt)} hands with 3D labels; true root depth and scale in every row")
    print(f"{'2D keypoints':<12} {'rel. depths':<12} {'median (mm)':>12} {'AUC 20-50 mm':>13}")
    for name_uv, uv in (("predicted", pred_uv), ("true", gt_uv)):
        for name_z, z in (("predicted", pred_z), ("true", gt_z)):
            s = summary(lift_2p5d(uv, z, K, Zr, L), gt, mask)
            print(f"{name_uv:<12} {name_z:<12} {s['median_mm']:>12.1f} {s['auc_20_50']:>13.3f}")
    ref_fig = d.get("metrics", {}).get("3d_absolute_gt_root_scale", {})
    if ref_fig.get("auc_20_50") is not None:
        print(f"(the evaluation's own figure for predicted + predicted: AUC {ref_fig['auc_20_50']:.3f})")

    rr = arr("predictions", "pred_xyz_root_relative_m")[ok]
    dist = np.linalg.norm(gt[:, root], axis=-1)
    print("\nroot-relative 3D (true reference-bone scale) by distance of the wrist from the camera")
    print(f"{'distance (m)':<14} {'hands':>6} {'median (mm)':>12} {'AUC 20-50 mm':>13}")
    for lo, hi in ((0.0, 0.5), (0.5, 1.0), (1.0, 10.0)):
        sel = (dist >= lo) & (dist < hi)
        if not sel.any():
            continue
        s = summary(rr[sel], gt[sel], mask[sel], protocol="root_relative")
        label = f"{lo:.1f}-{hi:.1f}" if hi < 10 else f">= {lo:.1f}"
        print(f"{label:<14} {int(sel.sum()):>6} {s['median_mm']:>12.1f} {s['auc_20_50']:>13.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
