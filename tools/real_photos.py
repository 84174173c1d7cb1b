#!/usr/bin/env python3
"""Real photographs for evaluation only (never training): label them with MediaPipe, then check our pipeline on them.

The photos come from Debian packages (``apt-get install opencv-doc``: about 600 images, a few with hands). Two steps:

``label``  runs MediaPipe's ``solutions.hands`` (static images, up to 2 hands) in ``.venv-mediapipe`` (re-executing
           itself there when this Python has no mediapipe) and writes ``labels.json``: per image its size and the
           hands found (21 keypoints in pixels, handedness, score); ``--sheet PNG`` draws the labelled photos on a
           contact sheet to check the labels by eye.
``check``  runs ``hand_pose_25d``'s pipeline on each whole photo the way ``hand-pose-25d predict`` does without
           ``--box`` (palm detector, then the pose network on each detected hand, refined) and compares: a labelled
           hand is *found* when a valid predicted hand has its median keypoint distance to MediaPipe's under
           ``--tol`` (0.2) of the labelled hand's box side; a photo without a labelled hand is a *false positive*
           when any valid hand is predicted. Writes the per-photo results and the totals as JSON.

usage:
  tools/real_photos.py label --out real_labels.json [--sheet real_labels.png] [IMAGE_OR_DIR ...]
  .venv/bin/python tools/real_photos.py check --labels real_labels.json --json real_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCES = ("/usr/share/doc/opencv-doc/examples/data", "/usr/share/doc/opencv-doc/opencv4/html")
SUFFIXES = (".jpg", ".jpeg", ".png")


def list_images(sources: Sequence[str], min_side: int = 96) -> List[Path]:
    """Image files under ``sources`` (files or folders, not recursive), sorted."""
    out: List[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in SUFFIXES)
        elif p.is_file():
            out.append(p)
    return out


def label(args: argparse.Namespace) -> int:
    try:
        import mediapipe as mp  # noqa: F401
    except ImportError:
        py = ROOT / ".venv-mediapipe" / "bin" / "python"
        if not py.is_file():
            print("label: needs mediapipe: run tools/setup_mediapipe.sh (creates .venv-mediapipe)", file=sys.stderr)
            return 2
        return subprocess.call([str(py), str(Path(__file__).resolve()), *sys.argv[1:]])
    import cv2
    import mediapipe as mp

    images = list_images(args.images or DEFAULT_SOURCES)
    if not images:
        print(f"label: no images in {args.images or DEFAULT_SOURCES} (apt-get install opencv-doc)", file=sys.stderr)
        return 2
    labels: Dict[str, Any] = {}
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, min_detection_confidence=0.5) as hands:
        for path in images:
            bgr = cv2.imread(str(path))
            if bgr is None or min(bgr.shape[:2]) < 96:
                continue
            h, w = bgr.shape[:2]
            res = hands.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            found = []
            for lm, hd in zip(res.multi_hand_landmarks or [], res.multi_handedness or []):
                uv = [[p.x * w - 0.5, p.y * h - 0.5] for p in lm.landmark]  # normalised edge -> pixel centre
                c = hd.classification[0]
                found.append({"uv": uv, "handedness": c.label.lower(), "score": float(c.score)})
            labels[str(path)] = {"width": w, "height": h, "hands": found}
    Path(args.out).write_text(
        json.dumps({"labeller": f"mediapipe {mp.__version__} solutions.hands", "images": labels}, indent=1)
    )
    n_hands = sum(1 for v in labels.values() if v["hands"])
    print(f"label: {len(labels)} images, {n_hands} with hands -> {args.out}")
    if args.sheet:
        _sheet([(Path(k), v) for k, v in labels.items() if v["hands"]], Path(args.sheet))
    return 0


def _sheet(items: List[Any], path: Path, tile: int = 256) -> None:
    import cv2
    import numpy as np

    if not items:
        return
    cols = min(4, len(items))
    rows = (len(items) + cols - 1) // cols
    sheet = np.zeros((rows * tile, cols * tile, 3), np.uint8)
    for i, (p, v) in enumerate(items):
        img = cv2.imread(str(p))
        s = tile / max(img.shape[:2])
        img = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)))
        for hand in v["hands"]:
            for x, y in hand["uv"]:
                cv2.circle(img, (int((x + 0.5) * s), int((y + 0.5) * s)), 2, (0, 255, 0), -1)
        r, c = divmod(i, cols)
        sheet[r * tile : r * tile + img.shape[0], c * tile : c * tile + img.shape[1]] = img
        cv2.putText(sheet, p.name[:28], (c * tile + 4, r * tile + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
    cv2.imwrite(str(path), sheet)
    print(f"label: contact sheet of the labelled photos -> {path}")


def check(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from hand_pose_25d.fileio import write_json
    from hand_pose_25d.inference.pipeline import HandPoseEstimator
    from hand_pose_25d.inference.pipeline_config import PipelineConfig
    from hand_pose_25d.inference.tracking import HandTracker, TrackingConfig

    data = json.loads(Path(args.labels).read_text())
    est = HandPoseEstimator(PipelineConfig(num_threads=args.threads))
    if est.detector is None:
        print(f"check: {est.detector_status}", file=sys.stderr)
        return 2
    tracking = TrackingConfig(crop_mode="track", max_hands=2, full_frame_fallback=args.full_frame_fallback)
    rows, found, labelled, fp, empty, palm_hits, palm_fp = [], 0, 0, 0, 0, 0, 0
    for name, lab in data["images"].items():
        bgr = cv2.imread(name)
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        f = 0.9 * max(w, h)  # any plausible camera: the check is 2D
        K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
        tracker = HandTracker()
        dets = est.detect_crops(rgb, tracking.max_hands)
        planned = tracker.plan(tracking, w, h, 0, None, est.model_config.crop_padding, detections=dets)
        results = est.estimate(rgb, K, [p.request for p in planned]) if planned else []
        valid = [r for r in results if r.valid]
        hits, palm_on = [], []
        for hand in lab["hands"]:
            g = np.asarray(hand["uv"], float)
            side = float(np.max(g.max(0) - g.min(0)))
            lo, hi = g.min(0), g.max(0)
            palm_on.append(any(lo[0] <= d.cx <= hi[0] and lo[1] <= d.cy <= hi[1] for d in dets or []))
            palm_hits += int(palm_on[-1])
            best = min((float(np.median(np.linalg.norm(r.uv - g, axis=1))) / side for r in valid), default=None)
            hits.append(best is not None and best < args.tol)
            labelled += 1
            found += int(hits[-1])
        if not lab["hands"]:
            empty += 1
            fp += int(bool(valid))
            palm_fp += int(bool(dets))
        if lab["hands"] or valid:
            rows.append(
                {
                    "image": name,
                    "labelled_hands": len(lab["hands"]),
                    "found": hits,
                    "palm_on_hand": palm_on,
                    "predicted_valid_hands": len(valid),
                    "palms": len(dets or []),
                }
            )
    result = {
        "labels": args.labels,
        "labeller": data.get("labeller"),
        "detector": est.detector_status,
        "tolerance": args.tol,
        "full_frame_fallback": bool(args.full_frame_fallback),
        "labelled_hands": labelled,
        "labelled_hands_found": found,
        "labelled_hands_with_a_palm_detection": palm_hits,
        "photos_without_hands": empty,
        "photos_without_hands_with_a_predicted_hand": fp,
        "photos_without_hands_with_a_palm_detection": palm_fp,
        "photos": rows,
    }
    write_json(args.json, result)
    print(
        f"check: {found} of {labelled} labelled hands found with a valid pose ({palm_hits} with a palm detection); "
        f"{fp} of {empty} photos without a hand report one ({palm_fp} with a palm detection) -> {args.json}"
    )
    return 0


def main(argv: Sequence[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("label", help="label real photos with MediaPipe (in .venv-mediapipe)")
    a.add_argument("images", nargs="*", help=f"images or folders (default: {', '.join(DEFAULT_SOURCES)})")
    a.add_argument("--out", required=True)
    a.add_argument("--sheet", default="", help="contact sheet PNG of the labelled photos")
    a.set_defaults(run=label)
    b = sub.add_parser("check", help="run the pipeline on the whole photos and compare with the labels")
    b.add_argument("--labels", required=True)
    b.add_argument("--json", required=True)
    b.add_argument("--tol", type=float, default=0.2, help="fraction of the hand box side (default 0.2)")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument(
        "--full-frame-fallback",
        action="store_true",
        help="where the detector finds nothing, search the whole photo with the pose network (the node's "
        "tracking.full_frame_fallback)",
    )
    b.set_defaults(run=check)
    args = p.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    os.environ.setdefault("GLOG_minloglevel", "2")
    sys.exit(main())
