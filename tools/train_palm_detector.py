#!/usr/bin/env python3
"""Fine-tune the palm detector's layers after its stride-8 features on rendered frames (hand_pose_25d.training.
palm_finetune).

    .venv/bin/python tools/train_palm_detector.py --frames 3000 --val 400 --epochs 8 --keep 0.05 --empty 0.1 \
        --out runs/palm_detector/v2.pt      # the shipped hand_pose_25d/models/palm_detector_tuned.pt

Steps: render frames (train seed ``--seed``, held-out seed ``--seed + 1``), fit the palm-box convention to the
unchanged detector's boxes on the rendered hands it finds, cache the trunk's features (``--cache``), train the
tail, and report on the held-out frames, before and after, at the node's threshold
(``pipeline.detector.min_score``): the fraction of hands found (a palm whose wrist and middle-MCP keypoints lie
within 0.5 palm lengths of the truth), and the false palms per frame. The real-photo checks are separate
(``hand-pose-25d eval --data photos``, ``tools/real_photos.py check``) and must stay where they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from hand_pose_25d.detection.palm import postprocess_palms  # noqa: E402
from hand_pose_25d.detection.palm_detector import DetectorConfig, default_models_dir  # noqa: E402
from hand_pose_25d.detection.palm_model import PalmTail  # noqa: E402
from hand_pose_25d.pretrained.tflite_torch import load_module  # noqa: E402
from hand_pose_25d.training import palm_finetune as ph  # noqa: E402

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def evaluate(frames: ph.DetectorFrames, reg: np.ndarray, logits: np.ndarray, min_score: float) -> Dict[str, Any]:
    """Hands found / false palms on frames (input pixels)."""
    hands = found = false = 0
    empty_frames = empty_false = 0
    matched = []
    for i in range(len(frames)):
        dets = postprocess_palms(reg[i], logits[i], IDENTITY, min_score=min_score)
        gts = [h for h in range(frames.palms.shape[1]) if np.isfinite(frames.palms[i, h]).all()]
        used = set()
        for h in gts:
            p = frames.palms[i, h]
            length = float(np.linalg.norm(p[2] - p[0])) + 1e-6
            hands += 1
            for j, d in enumerate(dets):
                if j in used:
                    continue
                e = max(np.linalg.norm(d.keypoints[0] - p[0]), np.linalg.norm(d.keypoints[2] - p[2])) / length
                if e < 0.5:
                    used.add(j)
                    found += 1
                    matched.append((d, p))
                    break
        false += len(dets) - len(used)
        if not gts:
            empty_frames += 1
            empty_false += len(dets)
    return {
        "hands": hands,
        "found": found,
        "recall": found / max(hands, 1),
        "false_per_frame": false / max(len(frames), 1),
        "empty_frames": empty_frames,
        "false_on_empty": empty_false,
        "matched": matched,
    }


def fit_box_convention(matched) -> Tuple[float, float]:
    """size_factor, center_shift from the detector's own boxes on the hands it found."""
    sizes, shifts = [], []
    for d, p in matched:
        c = p.mean(axis=0)
        r = float(np.linalg.norm(p - c, axis=1).max())
        box = np.asarray(d.box)
        w = float(box[2] - box[0])
        bc = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        axis = p[2] - p[0]
        sizes.append(w / max(r, 1e-6))
        shifts.append(float(np.dot(bc - c, axis) / max(np.dot(axis, axis), 1e-6)))
    return float(np.median(sizes)), float(np.median(shifts))


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=3000, help="training frames (default %(default)s)")
    ap.add_argument("--val", type=int, default=400, help="held-out frames (default %(default)s)")
    ap.add_argument("--seed", type=int, default=20000, help="render seed (default %(default)s)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--empty", type=float, default=0.25, help="fraction of frames without a hand (default %(default)s)")
    ap.add_argument("--keep", type=float, default=0.05, help="weight of the ignored anchors' logit change")
    ap.add_argument("--model", type=Path, help="converted palm_detection_full.pt (default: the models dir's)")
    ap.add_argument("--cache", type=Path, default=Path("data/cache/palm_detector"), help="frames and features cache")
    ap.add_argument("--out", type=Path, default=Path("runs/palm_detector/palm_tuned.pt"))
    ap.add_argument("--report", type=Path, help="write the figures as JSON here (default: beside --out)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    model = args.model or default_models_dir() / "mediapipe" / "palm_detection_full.pt"
    net = load_module(model).eval()
    tail = PalmTail(net).eval()
    min_score = DetectorConfig().min_score
    args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    def frames_and_feats(name: str, count: int, seed: int):
        f = args.cache / f"{name}_{count}_{seed}_{args.empty:g}.npz"
        if f.is_file():
            z = np.load(f)
            fr = ph.DetectorFrames(z["images"], z["palms"])
        else:
            fr = ph.render_detector_frames(count, seed=seed, empty_fraction=args.empty)
            np.savez(f, images=fr.images, palms=fr.palms)
        ff = f.with_suffix(".cut.pt")
        if ff.is_file():
            feats = torch.load(ff)
        else:
            feats = ph.extract_features(net, fr.images, tail.feature_name)
            torch.save(feats, ff)
        return fr, feats

    train, train_f = frames_and_feats("train", args.frames, args.seed)
    val, val_f = frames_and_feats("val", args.val, args.seed + 1)
    print(f"data ready in {time.time() - t0:.0f} s: {len(train)} training, {len(val)} held-out frames")

    before_train = evaluate(train, *ph.run_tail(tail, train_f), min_score=0.5)
    size_factor, center_shift = fit_box_convention(before_train["matched"])
    print(
        f"palm box convention (from {len(before_train['matched'])} found hands): side {size_factor:.3f} x the "
        f"largest keypoint distance from the centroid, centre shifted {center_shift:+.3f} palm lengths"
    )
    before = evaluate(val, *ph.run_tail(tail, val_f), min_score)
    labels, targets = ph.anchor_targets(train, ph.palm_boxes(train.palms, size_factor, center_shift))
    print(f"anchors: {int((labels == 1).sum())} positive, {int((labels == 0).sum())} negative")
    history = ph.train_tail(tail, train_f, labels, targets, epochs=args.epochs, lr=args.lr, keep_weight=args.keep)
    after = evaluate(val, *ph.run_tail(tail, val_f), min_score)
    after_train = evaluate(train, *ph.run_tail(tail, train_f), min_score)
    for name, r in (("MediaPipe's tail", before), ("fine-tuned tail", after)):
        print(
            f"held-out, {name}: {r['found']}/{r['hands']} hands found ({100 * r['recall']:.1f} %), "
            f"{r['false_per_frame']:.3f} false palms per frame, {r['false_on_empty']} on {r['empty_frames']} "
            "frames without a hand"
        )
    print(f"training frames, fine-tuned: {100 * after_train['recall']:.1f} % found")
    info = {
        "trained_on": f"{args.frames} rendered frames (seed {args.seed}), hand_pose_25d synthetic renderer",
        "size_factor": size_factor,
        "center_shift": center_shift,
        "epochs": args.epochs,
        "lr": args.lr,
        "held_out": {
            k: {kk: vv for kk, vv in r.items() if kk != "matched"} for k, r in (("before", before), ("after", after))
        },
        "base_model": "palm_detection_full.tflite, mediapipe==0.10.21 (Apache-2.0)",
    }
    ph.save_tuned(tail, args.out, **info)
    report = args.report or args.out.with_suffix(".json")
    report.write_text(json.dumps({**info, "history": history}, indent=1))
    print(f"wrote {args.out} and {report} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
