#!/usr/bin/env python3
"""Real photographs for evaluation only (never training): label them with MediaPipe, then check our pipeline on them.

The photos come from Debian packages (``apt-get install opencv-doc``: about 600 images, a few with hands). Two steps:

``label``  runs MediaPipe's ``solutions.hands`` (static images, up to 2 hands) in ``.venv-mediapipe`` (re-executing
           itself there when this Python has no mediapipe) and writes ``labels.json``: per image its size and the
           hands found (21 keypoints in pixels, handedness, score); ``--sheet PNG`` draws every labelled hand on a
           contact sheet (one tile per hand, numbered ``photo#hand``, with its skeleton) to check the labels by eye.
``review`` records the outcome of that check in the labels file (``review.dropped``: image, hand, reason): a
           wrong label is dropped with ``--drop IMAGE#HAND`` (``IMAGE`` alone: every hand of the photo), never by
           editing numbers; ``--undrop`` takes a drop back; ``--sheet`` redraws the sheet (dropped hands in red).
           ``hand-pose-25d eval --data photos`` and ``check`` skip the dropped hands. ``--unlabelled IMAGE`` records
           a photo that shows a hand MediaPipe did not label (``review.unlabelled``): ``check`` does not count it
           among the photos without a hand.
``sheet``  redraws the contact sheet of a labels file.
``check``  runs ``hand_pose_25d``'s pipeline on each whole photo the way ``hand-pose-25d predict`` does without
           ``--box`` (palm detector, then the pose network on each detected hand, refined) and compares: a labelled
           hand is *found* when a valid predicted hand has its median keypoint distance to MediaPipe's under
           ``--tol`` (0.2) of the labelled hand's box side; a photo without a labelled hand is a *false positive*
           when any valid hand is predicted. Writes the per-photo results and the totals as JSON. (The PCK figures
           are ``hand-pose-25d eval --data photos --root labels.json``.)

The photos are for evaluation only, never training: ``open_dataset("photos", ...)`` has no training split.

usage:
  tools/real_photos.py label --out real_labels.json [--sheet real_labels.png] [IMAGE_OR_DIR ...]
  tools/real_photos.py review --labels real_labels.json --drop IMAGE#HAND --reason "..." [--sheet PNG]
  tools/real_photos.py sheet --labels real_labels.json --out real_labels.png
  .venv/bin/python tools/real_photos.py check --labels real_labels.json --json real_check.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

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
                # normalised edge -> pixel centre; 0.01 px is far below the labels' accuracy
                uv = [[round(p.x * w - 0.5, 2), round(p.y * h - 0.5, 2)] for p in lm.landmark]
                c = hd.classification[0]
                found.append({"uv": uv, "handedness": c.label.lower(), "score": round(float(c.score), 4)})
            labels[str(path)] = {"width": w, "height": h, "hands": found}
    data = {
        "labeller": f"mediapipe {mp.__version__} solutions.hands (static_image_mode, max_num_hands=2, "
        "min_detection_confidence=0.5)",
        "note": "real photos for evaluation only, never training; 'handedness' is MediaPipe's (it assumes a "
        "mirrored image)",
        "images": labels,
        "review": {"dropped": []},
    }
    _write(Path(args.out), data)
    n_photos = sum(1 for v in labels.values() if v["hands"])
    n_hands = sum(len(v["hands"]) for v in labels.values())
    print(f"label: {len(labels)} images, {n_photos} with hands ({n_hands} hands) -> {args.out}")
    if args.sheet:
        _sheet(data, Path(args.sheet))
    return 0


def _write(path: Path, data: Dict[str, Any]) -> None:
    """The labels file: one image per line (small, diffable)."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in data["images"].items()]
    head = {k: v for k, v in data.items() if k not in ("images", "review")}
    text = "{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in head.items())
    text += '  "images": {\n' + ",\n".join("  " + line for line in lines) + "\n  },\n"
    text += f'  "review": {json.dumps(data.get("review", {"dropped": []}), indent=1)}\n}}\n'
    json.loads(text)  # the file must stay plain JSON
    path.write_text(text)


def _parse_ref(ref: str, images: Dict[str, Any]) -> Tuple[str, Any]:
    """``IMAGE#HAND`` or ``IMAGE`` (a path as in the file, or a file name unique in it) -> (path, hand or None)."""
    name, _, hand = ref.rpartition("#") if "#" in ref else (ref, "", "")
    matches = [k for k in images if k == name] or [k for k in images if Path(k).name == name]
    if len(matches) != 1:
        raise SystemExit(f"review: {name!r} names {len(matches)} labelled images (give the full path)")
    key = matches[0]
    if hand == "":
        return key, None
    i = int(hand)
    if not 0 <= i < len(images[key]["hands"]):
        raise SystemExit(f"review: {key} has {len(images[key]['hands'])} labelled hands, no hand {i}")
    return key, i


def _with_opencv() -> Any:
    """None where this Python has OpenCV, else the exit status of this command re-run by one that has."""
    try:
        import cv2  # noqa: F401

        return None
    except ImportError:
        for venv in (".venv", ".venv-mediapipe"):
            py = ROOT / venv / "bin" / "python"
            if py.is_file():
                return subprocess.call([str(py), str(Path(__file__).resolve()), *sys.argv[1:]])
        print("needs OpenCV (python3 -m pip install opencv-python, or make the .venv)", file=sys.stderr)
        return 2


def review(args: argparse.Namespace) -> int:
    if args.sheet and (rc := _with_opencv()) is not None:
        return rc
    path = Path(args.labels)
    data = json.loads(path.read_text())
    rev = data.setdefault("review", {})
    dropped = rev.setdefault("dropped", [])
    for ref in args.drop:
        key, hand = _parse_ref(ref, data["images"])
        if not args.reason:
            raise SystemExit("review: --drop needs --reason (what is wrong with the label)")
        dropped[:] = [d for d in dropped if (d["image"], d.get("hand")) != (key, hand)]
        dropped.append({"image": key, "hand": hand, "reason": args.reason})
    for ref in args.undrop:
        key, hand = _parse_ref(ref, data["images"])
        dropped[:] = [d for d in dropped if (d["image"], d.get("hand")) != (key, hand)]
    unlabelled = rev.setdefault("unlabelled", [])
    for ref in args.unlabelled:
        key, _ = _parse_ref(ref, data["images"])
        if data["images"][key]["hands"]:
            raise SystemExit(f"review: {key} has labelled hands; --unlabelled is for photos labelled without one")
        if not args.reason:
            raise SystemExit("review: --unlabelled needs --reason (what the photo shows)")
        unlabelled[:] = [d for d in unlabelled if d["image"] != key]
        unlabelled.append({"image": key, "reason": args.reason})
    if args.reviewed:
        rev["checked"] = args.reviewed
    _write(path, data)
    total = sum(len(v["hands"]) for v in data["images"].values())
    gone = sum(
        len(v["hands"])
        if any(d["image"] == k and d.get("hand") is None for d in dropped)
        else len({d["hand"] for d in dropped if d["image"] == k and d.get("hand") is not None})
        for k, v in data["images"].items()
    )
    print(f"review: {total - gone} of {total} labelled hands kept, {gone} dropped -> {path}")
    if args.sheet:
        _sheet(data, Path(args.sheet))
    return 0


def sheet(args: argparse.Namespace) -> int:
    if (rc := _with_opencv()) is not None:
        return rc
    _sheet(json.loads(Path(args.labels).read_text()), Path(args.out))
    return 0


#: Bones drawn on the sheet: the wrist to each finger's base, then along each finger (MediaPipe's order, ours).
_BONES = [(0, 1 + 4 * f) for f in range(5)] + [(1 + 4 * f + j, 2 + 4 * f + j) for f in range(5) for j in range(3)]
_FINGER_BGR = [(0, 0, 255), (0, 165, 255), (0, 255, 0), (255, 128, 0), (255, 0, 255)]


def _sheet(data: Dict[str, Any], path: Path, tile: int = 288, cols: int = 5) -> None:
    """One tile per labelled hand: the photo around the hand (box x 2), the skeleton, ``photo#hand`` and the score."""
    import cv2
    import numpy as np

    gone = {(d["image"], d.get("hand")) for d in data.get("review", {}).get("dropped", [])}
    items = [(k, i, h) for k, v in data["images"].items() for i, h in enumerate(v["hands"])]
    if not items:
        return
    cols = min(cols, len(items))
    rows = (len(items) + cols - 1) // cols
    sheet = np.zeros((rows * (tile + 18), cols * tile, 3), np.uint8)
    cache: Dict[str, Any] = {}
    for n, (name, i, hand) in enumerate(items):
        img = cache.get(name)
        if img is None:
            img = cache[name] = cv2.imread(name)
        uv = np.asarray(hand["uv"], float)
        lo, hi = uv.min(0), uv.max(0)
        c, side = (lo + hi) / 2, max(float((hi - lo).max()) * 2.0, 32.0)
        s = tile / side
        A = np.array([[s, 0, tile / 2 - s * c[0]], [0, s, tile / 2 - s * c[1]]])
        view = cv2.warpAffine(img, A, (tile, tile), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        p = uv * s + A[:, 2]
        for a, b in _BONES:
            f = (max(a, b) - 1) // 4
            cv2.line(view, tuple(int(x) for x in p[a]), tuple(int(x) for x in p[b]), _FINGER_BGR[f], 1, cv2.LINE_AA)
        for k, q in enumerate(p):
            cv2.circle(view, (int(q[0]), int(q[1])), 3 if k in (0, 4, 8, 12, 16, 20) else 2, (255, 255, 255), -1)
        dropped = (name, i) in gone or (name, None) in gone
        if dropped:
            cv2.rectangle(view, (0, 0), (tile - 1, tile - 1), (0, 0, 255), 4)
            cv2.line(view, (0, 0), (tile - 1, tile - 1), (0, 0, 255), 2)
        r, col = divmod(n, cols)
        y0 = r * (tile + 18)
        sheet[y0 + 18 : y0 + 18 + tile, col * tile : (col + 1) * tile] = view
        text = f"{n}: {Path(name).name[:24]}#{i} {hand.get('score', 0):.2f}"
        colour = (0, 0, 255) if dropped else (255, 255, 0)
        cv2.putText(sheet, text, (col * tile + 3, y0 + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
    cv2.imwrite(str(path), sheet)
    print(f"contact sheet of {len(items)} labelled hands ({len(gone)} drops recorded) -> {path}")


def check(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from hand_pose_25d.data.photos import dropped_hands, load_photo_labels, unlabelled_hand_photos
    from hand_pose_25d.fileio import write_json
    from hand_pose_25d.inference.pipeline import HandPoseEstimator
    from hand_pose_25d.inference.pipeline_config import PipelineConfig
    from hand_pose_25d.inference.tracking import HandTracker, TrackingConfig

    data = load_photo_labels(args.labels)
    gone = dropped_hands(data)
    has_hand = unlabelled_hand_photos(data)
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
        kept = [h for i, h in enumerate(lab["hands"]) if (name, i) not in gone and (name, None) not in gone]
        for hand in kept:
            g = np.asarray(hand["uv"], float)
            side = float(np.max(g.max(0) - g.min(0)))
            lo, hi = g.min(0), g.max(0)
            palm_on.append(any(lo[0] <= d.cx <= hi[0] and lo[1] <= d.cy <= hi[1] for d in dets or []))
            palm_hits += int(palm_on[-1])
            best = min((float(np.median(np.linalg.norm(r.uv - g, axis=1))) / side for r in valid), default=None)
            hits.append(best is not None and best < args.tol)
            labelled += 1
            found += int(hits[-1])
        if not lab["hands"] and name not in has_hand:  # photos with only dropped labels hold a hand: neither count
            empty += 1
            fp += int(bool(valid))
            palm_fp += int(bool(dets))
        if kept or valid:
            rows.append(
                {
                    "image": name,
                    "labelled_hands": len(kept),
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
        "dropped_by_review": len(data.get("review", {}).get("dropped", [])),
        "photos_with_an_unlabelled_hand": sorted(has_hand),
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
    r = sub.add_parser("review", help="record the by-eye check in the labels file: drop wrong labels")
    r.add_argument("--labels", required=True)
    r.add_argument("--drop", action="append", default=[], help="IMAGE#HAND (or IMAGE: all its hands); repeatable")
    r.add_argument("--undrop", action="append", default=[], help="take a drop back (IMAGE#HAND or IMAGE)")
    r.add_argument(
        "--unlabelled",
        action="append",
        default=[],
        help="IMAGE: a photo without labels that shows a hand (checked by eye); not a photo without a hand",
    )
    r.add_argument("--reason", default="", help="why the dropped labels are wrong (required with --drop)")
    r.add_argument("--reviewed", default="", help="a line saying how the labels were checked (stored)")
    r.add_argument("--sheet", default="", help="redraw the contact sheet (dropped hands crossed in red)")
    r.set_defaults(run=review)
    c = sub.add_parser("sheet", help="draw the contact sheet of a labels file")
    c.add_argument("--labels", required=True)
    c.add_argument("--out", required=True)
    c.set_defaults(run=sheet)
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
