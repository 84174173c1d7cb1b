#!/usr/bin/env python3
"""A/B in one process: the palm detector's ONNX Runtime session with and without busy-waiting threads.

The two sessions alternate on every iteration (detector, then the pose of the detected hand, then one tracked
frame), so a noisy host slows both alike. Prints p50 / p90 in ms of each step for A (spinning, ONNX Runtime's
default) and B (``session.intra_op.allow_spinning`` 0, what ``PalmDetector`` uses).

    .venv/bin/python tools/ab_detector_spinning.py --iters 400
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hand_pose_25d.data.synthetic import SyntheticHands  # noqa: E402
from hand_pose_25d.inference.pipeline import CropRequest, HandPoseEstimator  # noqa: E402
from hand_pose_25d.inference.pipeline_config import PipelineConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    import onnxruntime as ort

    est = HandPoseEstimator(PipelineConfig())
    det = est.detector
    if det is None:
        raise SystemExit(f"no palm detector: {est.detector_status}")
    sessions = {}
    for name, spin in (("A spinning", "1"), ("B no spinning", "0")):
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        sessions[name] = ort.InferenceSession(str(det.path), sess_options=opts, providers=["CPUExecutionProvider"])
    sample = SyntheticHands(seed=0).frame(0, 640, 480)
    found = est.detect_crops(sample.image)
    box = found[0] if found else est.crop_from_keypoints(sample.uv).box
    detected = [CropRequest(box, detected=True)]
    tracked = [est.crop_from_keypoints(sample.uv)]
    times: Dict[str, Dict[str, List[float]]] = {
        n: {"detector": [], "detector + pose": [], "next tracked frame": []} for n in sessions
    }
    for i in range(args.warmup + args.iters):
        for name, session in sessions.items():
            det.session = session
            t0 = time.perf_counter()
            est.detect_crops(sample.image)
            t1 = time.perf_counter()
            est.estimate(sample.image, sample.K, detected, dist_coeffs=sample.dist_coeffs)
            t2 = time.perf_counter()
            est.estimate(sample.image, sample.K, tracked, dist_coeffs=sample.dist_coeffs)
            t3 = time.perf_counter()
            if i >= args.warmup:
                times[name]["detector"].append((t1 - t0) * 1e3)
                times[name]["detector + pose"].append((t2 - t0) * 1e3)
                times[name]["next tracked frame"].append((t3 - t2) * 1e3)
    print(f"{'':16s}" + "".join(f"{k:>26s}" for k in times[next(iter(times))]))
    for name, steps in times.items():
        cells = "".join(f"{np.median(v):14.2f} / {np.percentile(v, 90):6.2f} ms" for v in steps.values())
        print(f"{name:16s}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
