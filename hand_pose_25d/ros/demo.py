"""``python -m hand_pose_25d.ros.demo`` (``make demo``): the node's main job, end to end, on the shipped default model.

Starts two real ROS 2 processes on a private domain (random ``ROS_DOMAIN_ID``, localhost only, shared-memory
transport from ``config/fastdds_shm.xml``):

* ``synthetic_camera``: rendered hands moving smoothly in front of a camera, published as ``image`` +
  ``camera_info`` at 30 Hz, with the exact ground truth on ``synthetic_camera/ground_truth``;
* ``hand_pose_node`` with ``config/hand_pose.yaml`` and the chosen model and backend.

This process subscribes like any user of the node would (``hand_poses``, ``/tf``, ``markers`` and the camera's
``image`` and ground truth), runs for ``--duration`` seconds with a progress bar, stops both processes and writes
``--out`` (default ``demo_out/``):

* ``summary.json``: end-to-end latency (image stamp to receipt of its ``HandPoseArray``: p50/p90/p99), frames
  published / answered / dropped (and the node's own counters), 2D and 3D errors against the ground truth, TF and
  marker counts, versions;
* ``demo.gif``: an animation of the stream with the predicted skeleton (colours) over the true one (white), and
  the 3D hand in the camera frame; ``frames/*.png``: a few of its frames at full size;
* ``pose_3d.png``: predicted against true 3D keypoints (metres, camera frame) for four frames;
* ``errors.png``: errors and latency over time;
* ``logs/``: the two processes' logs.

Exit status: 0 when the node answered frames and the outputs were written, 1 otherwise (with the reason).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..bench.machine import versions
from ..bench.stats import latency_stats
from ..fileio import write_json
from ..inference.contract import BACKENDS
from ..skeleton import BONES, keypoint_colors
from .processes import Proc, child_env, config_file, ros_command

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # hand_pose_25d/
START_TIMEOUT_S = 90.0


# --------------------------------------------------------------------------------------------------------------
# pure helpers (tested without ROS)


def parse_node_stats(log: str) -> Dict[str, int]:
    """The totals of the last statistics line of ``hand_pose_node`` (``frames: received N, processed N, ...``)."""
    lines = [ln for ln in log.splitlines() if "frames: received" in ln]
    if not lines:
        return {}
    totals = lines[-1].split("frames:", 1)[1].split("|")[0]
    return {k: int(v) for k, v in re.findall(r"(\w+) (\d+)\s*(?:,|$)", totals.strip())}


@dataclass
class FrameRecord:
    """One camera frame as seen by this process (stamp in ns)."""

    stamp_ns: int
    truth_xyz: Optional[np.ndarray] = None  # (21, 3) m
    truth_uv: Optional[np.ndarray] = None  # (21, 2) px
    truth_visible: Optional[np.ndarray] = None  # (21,) bool
    truth_scale: float = float("nan")  # true reference bone length, m
    image_arrival: Optional[float] = None  # time.time() of the image's arrival here
    answer_arrival: Optional[float] = None  # time.time() of its HandPoseArray's arrival
    hands: List[Dict[str, Any]] = field(default_factory=list)  # published hands: xyz, uv, score, handedness, ...
    truths: List[Dict[str, Any]] = field(default_factory=list)  # every true hand: track_id, xyz, uv, visible, scale


def first_hand(rec: FrameRecord) -> Optional[Dict[str, Any]]:
    """The published hand compared with the first true hand: the first published one when one hand is in the
    stream, the one matched to it (:func:`match_hands`) when there are more; None without one."""
    if rec.truth_xyz is None or not rec.hands:
        return None
    if len(rec.truths) <= 1:
        return rec.hands[0]
    return match_hands(rec).get(rec.truths[0]["track_id"])


def frame_errors(rec: FrameRecord) -> Optional[Dict[str, float]]:
    """Errors of the first published hand of ``rec`` against its ground truth, or None without both.

    Returns mean per-keypoint errors: ``abs_mm`` (3D, camera frame, as published: estimated root depth and
    bone-prior scale), ``rel_mm`` (root-relative, as published), ``rel_gt_scale_mm`` (root-relative after
    rescaling the prediction to the true reference bone length: the Zimmermann & Brox protocol), ``px`` (2D),
    and ``root_depth_mm`` (|Z_root - Z_root_true|).
    """
    h = first_hand(rec)
    if h is None:
        return None
    p, g = np.asarray(h["xyz"], float), rec.truth_xyz
    rel_p, rel_g = p - p[0], g - g[0]
    bone = float(np.linalg.norm(p[9] - p[0]))
    scaled = rel_p * (rec.truth_scale / bone) if bone > 0 and np.isfinite(rec.truth_scale) else rel_p
    return {
        "abs_mm": float(np.linalg.norm(p - g, axis=1).mean() * 1000.0),
        "rel_mm": float(np.linalg.norm(rel_p - rel_g, axis=1).mean() * 1000.0),
        "rel_gt_scale_mm": float(np.linalg.norm(scaled - rel_g, axis=1).mean() * 1000.0),
        "px": float(np.linalg.norm(np.asarray(h["uv"], float) - rec.truth_uv, axis=1).mean()),
        "root_depth_mm": float(abs(p[0, 2] - g[0, 2]) * 1000.0),
    }


def in_view(truth: Dict[str, Any], width: int, height: int) -> bool:
    """A true hand is in view when more than half of its keypoints lie inside the ``width`` x ``height`` image."""
    uv = np.asarray(truth["uv"], float)
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < height - 0.5)
    return int(inside.sum()) > uv.shape[0] // 2


def match_hands(rec: FrameRecord, max_fraction: float = 0.35) -> Dict[int, Dict[str, Any]]:
    """Published hands of ``rec`` matched to its true hands: {true track_id: published hand}.

    A published hand belongs to a true hand when the median 2D distance of their keypoints is below ``max_fraction``
    of the true keypoint box's larger side; each is matched once, nearest first.
    """
    pairs = []
    for t in rec.truths:
        g = np.asarray(t["uv"], float)
        side = float(np.max(g.max(axis=0) - g.min(axis=0)))
        for j, h in enumerate(rec.hands):
            d = float(np.median(np.linalg.norm(np.asarray(h["uv"], float) - g, axis=1)))
            if side > 0 and d < max_fraction * side:
                pairs.append((d, t["track_id"], j))
    out: Dict[int, Dict[str, Any]] = {}
    used: set = set()
    for _, tid, j in sorted(pairs):
        if tid not in out and j not in used:
            out[tid] = rec.hands[j]
            used.add(j)
    return out


def per_hand(records: Sequence[FrameRecord], width: int, height: int) -> List[Dict[str, Any]]:
    """For each true hand: frames in view, frames in view with a valid published pose for it (``detection_rate``),
    time from its first frame in view to its first detection, and the node's track ids for it (``id_switches``:
    changes of the id between two detections; ``id_swaps``: detections under an id that an other true hand had)."""
    ids = sorted({t["track_id"] for r in records for t in r.truths})
    owner: Dict[int, int] = {}  # published track id -> the true hand it was first matched to
    out = []
    stats = {
        tid: {"in_view": 0, "detected": 0, "first_view": None, "first_hit": None, "ids": [], "swaps": 0} for tid in ids
    }
    for r in sorted(records, key=lambda r: r.stamp_ns):
        matched = match_hands(r) if r.hands else {}
        for t in r.truths:
            st = stats[t["track_id"]]
            if not in_view(t, width, height):
                continue
            st["in_view"] += 1
            if st["first_view"] is None:
                st["first_view"] = r.stamp_ns
            h = matched.get(t["track_id"])
            if h is None:
                continue
            st["detected"] += 1
            if st["first_hit"] is None:
                st["first_hit"] = r.stamp_ns
            pid = int(h["track_id"])
            st["ids"].append(pid)
            if owner.setdefault(pid, t["track_id"]) != t["track_id"]:
                st["swaps"] += 1
    for tid in ids:
        st = stats[tid]
        seq = st["ids"]
        out.append(
            {
                "true_track_id": tid,
                "frames_in_view": st["in_view"],
                "frames_detected": st["detected"],
                "detection_rate": round(st["detected"] / st["in_view"], 4) if st["in_view"] else None,
                "time_to_first_detection_s": (
                    round((st["first_hit"] - st["first_view"]) / 1e9, 3) if st["first_hit"] is not None else None
                ),
                "track_ids": sorted(set(seq)),
                "id_switches": int(sum(1 for a, b in zip(seq, seq[1:]) if a != b)),
                "id_swaps": st["swaps"],
            }
        )
    return out


def jitter(records: Sequence[FrameRecord], warmup_s: float = 1.0) -> Optional[Dict[str, Any]]:
    """Jitter of a static hand: the standard deviation over time of each published keypoint (mm), mean over
    keypoints, in depth (z) and across (x, y), for the first true hand, after ``warmup_s`` s; None if too few."""
    recs = sorted((r for r in records if r.truths), key=lambda r: r.stamp_ns)
    if not recs:
        return None
    t0 = recs[0].stamp_ns
    xyz = []
    for r in recs:
        if (r.stamp_ns - t0) / 1e9 < warmup_s:
            continue
        h = match_hands(r).get(r.truths[0]["track_id"]) if r.hands else None
        if h is not None:
            xyz.append(np.asarray(h["xyz"], float))
    if len(xyz) < 10:
        return None
    sd = np.stack(xyz).std(axis=0) * 1000.0  # (21, 3) mm
    return {
        "frames": len(xyz),
        "depth_mm": round(float(sd[:, 2].mean()), 2),
        "xy_mm": round(float(np.linalg.norm(sd[:, :2], axis=1).mean()), 2),
        "3d_mm": round(float(np.linalg.norm(sd, axis=1).mean()), 2),
    }


def prior_xyz(hand: Dict[str, Any]) -> np.ndarray:
    """The published hand placed with the bone prior instead of the depth image: each keypoint moved along its pixel's
    ray to the depth ``prior_root_depth + prior_scale * z_rel`` (the node's reconstruction without depth)."""
    xyz = np.asarray(hand["xyz"], float)
    if hand.get("scale_source") != 2:  # HandPose.SCALE_DEPTH
        return xyz
    z = hand["prior_root_depth"] + hand["prior_scale"] * np.asarray(hand["z_rel"], float)
    return xyz * (z / xyz[:, 2])[:, None]


def depth_comparison(records: Sequence[FrameRecord]) -> Dict[str, Any]:
    """Camera-frame error (mean over keypoints, median over frames) of the first hand as published (with depth) and
    placed with the bone prior instead, over the same frames; and how often the depth was used."""
    with_depth, prior, used, n = [], [], 0, 0
    for r in records:
        h = first_hand(r)
        if h is None or r.truth_xyz is None:
            continue
        n += 1
        used += int(h.get("scale_source") == 2)
        with_depth.append(float(np.linalg.norm(np.asarray(h["xyz"], float) - r.truth_xyz, axis=1).mean() * 1000.0))
        prior.append(float(np.linalg.norm(prior_xyz(h) - r.truth_xyz, axis=1).mean() * 1000.0))

    def med(v: List[float]) -> Optional[float]:
        return round(float(np.median(v)), 2) if v else None

    return {
        "frames": n,
        "depth_used_fraction": round(used / n, 4) if n else None,
        "epe3d_camera_frame_with_depth_median_mm": med(with_depth),
        "epe3d_camera_frame_bone_prior_median_mm": med(prior),
    }


def summarize(records: Sequence[FrameRecord], width: int = 640, height: int = 480) -> Dict[str, Any]:
    """Frame counts, latency and accuracy over ``records`` (frames with ground truth)."""
    with_truth = [r for r in records if r.truth_xyz is not None]
    answered = [r for r in with_truth if r.answer_arrival is not None]
    with_hand = [r for r in answered if r.hands]
    lat = [(r.answer_arrival - r.stamp_ns / 1e9) * 1000.0 for r in answered]
    lat_img = [(r.answer_arrival - r.image_arrival) * 1000.0 for r in answered if r.image_arrival is not None]
    errs = [e for e in (frame_errors(r) for r in with_hand) if e is not None]
    hands = per_hand(with_truth, width, height)

    def stat(key: str) -> Dict[str, Optional[float]]:
        v = np.asarray([e[key] for e in errs])
        if v.size == 0:
            return {"mean": None, "median": None}
        return {"mean": round(float(v.mean()), 2), "median": round(float(np.median(v)), 2)}

    # root-relative 3D PCK over keypoints with the true scale (Z&B protocol): AUC over 20-50 mm
    auc = None
    per_kp = []
    for r in with_hand:
        h = first_hand(r)
        if h is None:
            continue
        p, g = np.asarray(h["xyz"], float), r.truth_xyz
        bone = float(np.linalg.norm(p[9] - p[0]))
        if bone > 0:
            per_kp.append(np.linalg.norm((p - p[0]) * (r.truth_scale / bone) - (g - g[0]), axis=1) * 1000.0)
    if per_kp:
        d = np.concatenate(per_kp)
        thresholds = np.linspace(20.0, 50.0, 31)
        auc = round(float(np.mean([(d <= t).mean() for t in thresholds])), 4)
    return {
        "frames": {
            "published_with_truth": len(with_truth),
            "answered": len(answered),
            "with_hand": len(with_hand),
            "unanswered": len(with_truth) - len(answered),
            "answered_fraction": round(len(answered) / max(1, len(with_truth)), 4),
        },
        "hands": hands,
        "latency_ms": {
            "stamp_to_hand_pose": latency_stats(lat, finite_only=True),
            "image_arrival_to_hand_pose": latency_stats(lat_img, finite_only=True),
        },
        "accuracy": {
            "frames_evaluated": len(errs),
            "answered_with_hand_fraction": round(len(with_hand) / max(1, len(answered)), 4),
            "detection_rate": {f"hand_{h['true_track_id']}": h["detection_rate"] for h in hands},
            "epe3d_camera_frame_mm": stat("abs_mm"),
            "epe3d_root_relative_mm": stat("rel_mm"),
            "epe3d_root_relative_gt_scale_mm": stat("rel_gt_scale_mm"),
            "auc3d_root_relative_gt_scale_20_50mm": auc,
            "root_depth_error_mm": stat("root_depth_mm"),
            "epe2d_px": stat("px"),
        },
    }


# --------------------------------------------------------------------------------------------------------------
# pictures


def overlay_frame(image: np.ndarray, rec: FrameRecord, view: Any = None) -> np.ndarray:
    """``image`` with the true skeleton (white) under the predicted one (colours), and the 3D view beside it."""
    import cv2

    from ..visualize import draw_hand, draw_label, side_by_side

    out = np.ascontiguousarray(image).copy()
    t = max(1, int(round(min(out.shape[:2]) / 240)))
    truths = [tr["uv"] for tr in rec.truths] or ([rec.truth_uv] if rec.truth_uv is not None else [])
    for uv in truths:
        for a, b in BONES:
            pa, pb = uv[a], uv[b]
            cv2.line(
                out,
                (int(round(pa[0])), int(round(pa[1]))),
                (int(round(pb[0])), int(round(pb[1]))),
                (255, 255, 255),
                t + 2,
                cv2.LINE_AA,
            )
    text = "no hand published"
    for h in rec.hands:
        draw_hand(out, np.asarray(h["uv"], float), thickness=t)
    first = first_hand(rec)
    if first is not None:
        e = frame_errors(rec)
        text = f"{first['handedness']} {first['score']:.2f}  z={first['xyz'][0][2]:.2f} m"
        if e:
            text += f"  err {e['abs_mm']:.0f} mm (rel {e['rel_gt_scale_mm']:.0f})"
    elif rec.hands:
        text = f"{len(rec.hands)} hand(s) published, none on the first true hand"
    draw_label(out, text, (8, 22))
    if view is None:
        return out
    hands = [np.asarray(h["xyz"], float) for h in rec.hands]
    colors: List[Any] = [None] * len(hands)
    for tr in rec.truths or ([{"xyz": rec.truth_xyz}] if rec.truth_xyz is not None else []):
        hands.append(np.asarray(tr["xyz"], float))
        colors.append("k")
    panel = view.render(hands, colors=colors, title="camera frame [m]: predicted (colours), true (black dashed)")
    return side_by_side(out, panel)


def plot_3d(records: Sequence[FrameRecord], path: Path) -> Optional[Path]:
    """Predicted (colours) against true (black, dashed) 3D keypoints of four frames; None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    chosen = [r for r in records if first_hand(r) is not None]
    if not chosen:
        return None
    picks = [chosen[i] for i in np.unique(np.linspace(0, len(chosen) - 1, 4).round().astype(int))]
    colors = keypoint_colors()
    fig = Figure(figsize=(4.0 * len(picks), 4.4), dpi=100)
    FigureCanvasAgg(fig)
    t0 = records[0].stamp_ns
    for i, r in enumerate(picks):
        ax = fig.add_subplot(1, len(picks), i + 1, projection="3d")
        p, g = np.asarray(first_hand(r)["xyz"], float), r.truth_xyz
        for xyz, style, lw in ((g, "--", 1.2), (p, "-", 2.0)):
            q = np.stack([xyz[:, 0], xyz[:, 2], -xyz[:, 1]], axis=1)  # x right, z depth, -y up
            for a, b in BONES:
                ax.plot(*q[[a, b]].T, style, color="k" if style == "--" else colors[b], linewidth=lw)
        ax.scatter(p[:, 0], p[:, 2], -p[:, 1], c=colors, s=10, depthshade=False)
        pts = np.concatenate([p, g])
        q = np.stack([pts[:, 0], pts[:, 2], -pts[:, 1]], axis=1)
        c, half = (q.min(0) + q.max(0)) / 2, max(0.12, float((q.max(0) - q.min(0)).max()) * 0.6)
        ax.set_xlim(c[0] - half, c[0] + half)
        ax.set_ylim(c[1] - half, c[1] + half)
        ax.set_zlim(c[2] - half, c[2] + half)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("x [m]", fontsize=7)
        ax.set_ylabel("z [m]", fontsize=7)
        ax.set_zlabel("-y [m]", fontsize=7)
        ax.tick_params(labelsize=6)
        e = frame_errors(r)
        ax.set_title(
            f"t = {(r.stamp_ns - t0) / 1e9:.1f} s: {e['abs_mm']:.0f} mm abs, {e['rel_gt_scale_mm']:.0f} mm rel",
            fontsize=8,
        )
    fig.suptitle("predicted (colours) vs true (black dashed) 3D keypoints, camera optical frame", fontsize=9)
    fig.tight_layout()
    fig.savefig(str(path))
    return path


def plot_timeline(records: Sequence[FrameRecord], path: Path) -> Optional[Path]:
    """Per-frame errors and latency over time; None without matplotlib or data."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    rows = [(r, frame_errors(r)) for r in records if r.answer_arrival is not None]
    if not rows:
        return None
    t0 = records[0].stamp_ns
    fig = Figure(figsize=(9, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    t = np.array([(r.stamp_ns - t0) / 1e9 for r, _ in rows])
    for key, label in (
        ("abs_mm", "3D, camera frame"),
        ("rel_mm", "3D root-relative"),
        ("rel_gt_scale_mm", "3D root-relative, true scale"),
    ):
        ax1.plot(t, [e[key] if e else np.nan for _, e in rows], ".-", ms=3, lw=0.8, label=label)
    ax1.set_ylabel("mean keypoint error [mm]")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.plot(t, [(r.answer_arrival - r.stamp_ns / 1e9) * 1000 for r, _ in rows], ".", ms=3)
    ax2.set_ylabel("image stamp to HandPose [ms]")
    ax2.set_xlabel("time [s]")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(str(path))
    return path


def write_gif(frames: Sequence[np.ndarray], path: Path, fps: float) -> Optional[Path]:
    """Animated GIF of RGB ``frames`` (Pillow); None when Pillow is missing or there is nothing to write."""
    try:
        from PIL import Image
    except ImportError:
        return None
    if not frames:
        return None
    images = [Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=128) for f in frames]
    images[0].save(
        str(path), save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0, optimize=True
    )
    return path


# --------------------------------------------------------------------------------------------------------------
# the run


def _config_file(name: str) -> Optional[Path]:
    """``config/<name>`` of the source tree, or of the installed ament package share; None if neither exists."""
    return config_file(name)


def _check_ros() -> Optional[str]:
    try:
        import rclpy  # noqa: F401
        from sensor_msgs.msg import Image  # noqa: F401
        from tf2_msgs.msg import TFMessage  # noqa: F401

        from hand_pose_25d_msgs.msg import HandPoseArray  # noqa: F401
    except Exception as exc:  # ImportError or a type-support failure
        first = (str(exc).splitlines() or [""])[0]
        return (
            f"no ROS 2 runtime in {sys.executable} ({type(exc).__name__}: {first}). Run `make demo` (it installs "
            f"one), or tools/setup_ros.sh {sys.prefix}, or source a ROS 2 workspace that has hand_pose_25d_msgs"
        )
    return None


class _Observer:
    """This process's ROS node: records the camera's frames and ground truth and the node's outputs."""

    def __init__(self, keep_every: int, max_images: int) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import Image
        from tf2_msgs.msg import TFMessage
        from visualization_msgs.msg import MarkerArray

        from hand_pose_25d_msgs.msg import HandPoseArray

        def qos(depth: int, reliable: bool) -> QoSProfile:
            return QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=depth,
                reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            )

        self.ctx = Context()
        rclpy.init(context=self.ctx, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f"hand_pose_demo_{os.getpid()}", context=self.ctx)
        self.lock = threading.Lock()
        self.records: Dict[int, FrameRecord] = {}
        self.images: Dict[int, np.ndarray] = {}
        self.keep_every, self.max_images = max(1, keep_every), max_images
        self.tf_msgs = self.tf_frames = self.marker_msgs = 0
        self.tf_children: set = set()
        self.tf_parents: set = set()
        self.marker_frames: set = set()
        self._images_seen = 0
        n = self.node
        self.poses_sub = n.create_subscription(HandPoseArray, "hand_poses", self._on_poses, qos(50, True))
        n.create_subscription(HandPoseArray, "synthetic_camera/ground_truth", self._on_truth, qos(50, True))
        n.create_subscription(Image, "image", self._on_image, qos(5, False))
        n.create_subscription(TFMessage, "/tf", self._on_tf, qos(100, True))
        n.create_subscription(MarkerArray, "markers", self._on_markers, qos(50, True))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(n)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # the context was shut down
            pass

    def set_node_params(self, values: Dict[str, Any], timeout_s: float = 5.0) -> bool:
        """Set parameters of hand_pose_node (dotted names); True when every one was accepted."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        client = self.node.create_client(SetParameters, "hand_pose_node/set_parameters")
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                return False
            req = SetParameters.Request(
                parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
            )
            future = client.call_async(req)
            t0 = time.monotonic()
            while not future.done() and time.monotonic() - t0 < timeout_s:
                time.sleep(0.02)
            return bool(future.done() and all(r.successful for r in future.result().results))
        finally:
            self.node.destroy_client(client)

    def _rec(self, stamp_ns: int) -> FrameRecord:
        rec = self.records.get(stamp_ns)
        if rec is None:
            rec = self.records[stamp_ns] = FrameRecord(stamp_ns)
        return rec

    @staticmethod
    def _ns(stamp: Any) -> int:
        return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)

    def _on_truth(self, msg: Any) -> None:
        if not msg.hands:
            return
        truths = [
            {
                "track_id": int(h.track_id),
                "xyz": np.array([[p.x, p.y, p.z] for p in h.keypoints]),
                "uv": np.array([[p.x, p.y] for p in h.keypoints_2d]),
                "visible": np.asarray(h.keypoint_scores) > 0.5,
                "scale": float(h.scale),
            }
            for h in msg.hands
        ]
        with self.lock:
            rec = self._rec(self._ns(msg.header.stamp))
            rec.truths = truths
            rec.truth_xyz, rec.truth_uv = truths[0]["xyz"], truths[0]["uv"]
            rec.truth_visible, rec.truth_scale = truths[0]["visible"], truths[0]["scale"]

    def _on_image(self, msg: Any) -> None:
        now = time.time()
        stamp = self._ns(msg.header.stamp)
        with self.lock:
            self._rec(stamp).image_arrival = now
            self._images_seen += 1
            if (
                self._images_seen % self.keep_every == 0
                and len(self.images) < self.max_images
                and msg.encoding == "rgb8"
            ):
                self.images[stamp] = (
                    np.frombuffer(bytes(msg.data), np.uint8)
                    .reshape(msg.height, msg.step)[:, : msg.width * 3]
                    .reshape(msg.height, msg.width, 3)
                    .copy()
                )

    def _on_poses(self, msg: Any) -> None:
        now = time.time()
        hands = []
        names = {0: "unknown", 1: "left", 2: "right"}
        for h in msg.hands:
            hands.append(
                {
                    "track_id": int(h.track_id),
                    "xyz": [[p.x, p.y, p.z] for p in h.keypoints],
                    "uv": [[p.x, p.y] for p in h.keypoints_2d],
                    "score": float(h.score),
                    "handedness": names.get(int(h.handedness), "unknown"),
                    "root_depth": float(h.root_depth),
                    "scale": float(h.scale),
                    "scale_source": int(h.scale_source),
                    "prior_root_depth": float(h.prior_root_depth),
                    "prior_scale": float(h.prior_scale),
                    "z_rel": [float(v) for v in h.relative_depths],
                }
            )
        with self.lock:
            rec = self._rec(self._ns(msg.header.stamp))
            rec.answer_arrival, rec.hands = now, hands

    def _on_tf(self, msg: Any) -> None:
        with self.lock:
            self.tf_msgs += 1
            self.tf_frames += len(msg.transforms)
            for t in msg.transforms:
                self.tf_children.add(t.child_frame_id)
                self.tf_parents.add(t.header.frame_id)

    def _on_markers(self, msg: Any) -> None:
        with self.lock:
            self.marker_msgs += 1
            for m in msg.markers:
                self.marker_frames.add(m.header.frame_id)

    def snapshot(self) -> Tuple[List[FrameRecord], Dict[int, np.ndarray]]:
        with self.lock:
            return [self.records[k] for k in sorted(self.records)], dict(self.images)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hand_pose_25d.ros.demo",
        description="Run hand_pose_node on a synthetic 30 Hz camera with known ground truth and write demo_out/.",
    )
    p.add_argument("--duration", type=float, default=20.0, help="seconds of streaming (default 20)")
    p.add_argument("--rate", type=float, default=30.0, help="camera frame rate in Hz (default 30)")
    p.add_argument("--width", type=int, default=640, help="camera image width (default 640)")
    p.add_argument("--height", type=int, default=480, help="camera image height (default 480)")
    p.add_argument("--seed", type=int, default=11, help="seed of the synthetic sequence (person, motion, scene)")
    p.add_argument("--hands", type=int, default=1, choices=(1, 2), help="hands in view (default 1)")
    p.add_argument(
        "--depth",
        action="store_true",
        help="the camera also publishes an aligned depth image (noise, holes) and the node uses it; summary.json "
        "compares the camera-frame error with depth and with the bone prior",
    )
    p.add_argument(
        "--static",
        type=int,
        nargs="?",
        const=240,
        default=None,
        metavar="FRAME",
        help="hold the hands still as in frame FRAME of the sequence (default 240: seed 11's hand is found there) and "
        "measure jitter: the first half of the run with smoothing, the second without",
    )
    p.add_argument("--model", default="default", help="'default' (the shipped model) or a model path")
    p.add_argument("--backend", default="onnxruntime", choices=BACKENDS)
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out/)")
    p.add_argument("--gif-fps", type=float, default=10.0, help="frames per second of demo.gif (default 10)")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random in 1..100)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (a line every 5 s instead)")
    return p


def run(args: argparse.Namespace) -> int:
    """The demo; see the module docstring."""
    problem = _check_ros()
    if problem:
        print(f"demo: {problem}", file=sys.stderr)
        return 1
    from ..inference.backends import resolve_model

    try:
        model = resolve_model(args.model, args.backend)
    except (FileNotFoundError, ValueError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1

    out: Path = args.out
    (out / "logs").mkdir(parents=True, exist_ok=True)
    (out / "frames").mkdir(exist_ok=True)
    for old in (out / "frames").glob("*.png"):
        old.unlink()
    domain = args.domain_id if args.domain_id is not None else random.randint(1, 100)
    shm = _config_file("fastdds_shm.xml")
    if shm is None:
        print(
            "demo: warning: config/fastdds_shm.xml not found (neither in the source tree nor the installed share): "
            "640x480 images go over UDP, which drops many of them",
            file=sys.stderr,
        )
    env = child_env(domain, out / "logs", shm, keep_user_profile=True)
    # this process joins the same domain with the same transport (read when its first participant is created)
    for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if k in env:
            os.environ[k] = env[k]

    params = _config_file("hand_pose.yaml")
    if params is None:
        print(
            "demo: warning: config/hand_pose.yaml not found: the node starts with its built-in defaults",
            file=sys.stderr,
        )
    node_cmd = [sys.executable, "-m", "hand_pose_25d.ros.node", "--ros-args"]
    if params is not None:
        node_cmd += ["--params-file", str(params)]
    node_cmd += [
        "-p",
        f"pipeline.model:={model}",
        "-p",
        f"pipeline.backend:={args.backend}",
        "-p",
        "output.diagnostics_period:=5.0",
        "-p",
        f"depth.enabled:={'true' if args.depth else 'false'}",
    ]
    cam_cmd = ros_command(
        "hand_pose_25d.ros.synthetic_camera",
        {
            "rate": args.rate,
            "seed": args.seed,
            "width": args.width,
            "height": args.height,
            "hands": args.hands,
            "publish_depth": bool(args.depth),
            "static_frame": -1 if args.static is None else args.static,
            # the node and this process: no frame of the measurement is lost to discovery
            "wait_for_subscribers": 2,
        },
    )

    print(
        f"demo: ROS_DOMAIN_ID={domain}, model {model}, backend {args.backend}, "
        f"{args.width}x{args.height} at {args.rate:g} Hz for {args.duration:g} s -> {out}/"
    )
    node = Proc("hand_pose_node", node_cmd, out / "logs" / "hand_pose_node.log", env)
    cam: Optional[Proc] = None
    observer: Optional[_Observer] = None
    t_start = time.monotonic()
    try:
        while not re.search(r"\bready: ", node.log()):
            if not node.alive() or time.monotonic() - t_start > START_TIMEOUT_S:
                print(f"demo: hand_pose_node did not start:\n{node.log()[-3000:]}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print(f"demo: hand_pose_node ready after {time.monotonic() - t_start:.1f} s")
        keep_every = max(1, int(round(args.rate / args.gif_fps)))
        observer = _Observer(keep_every, max_images=int(args.duration * args.gif_fps) + 5)
        # the node's answers reach this process before the first frame is published (the camera waits for its
        # own subscribers, wait_for_subscribers)
        t_match = time.monotonic()
        while observer.poses_sub.get_publisher_count() < 1 and time.monotonic() - t_match < 10.0:
            time.sleep(0.02)
        cam = Proc("synthetic_camera", cam_cmd, out / "logs" / "synthetic_camera.log", env)
        switched: List[float] = []

        def smoothing_off() -> None:  # --static: the second half of the run without smoothing
            if observer.set_node_params({"smoothing.enabled": False}):
                switched.append(time.time())
            else:
                print("demo: warning: could not switch smoothing off; no jitter comparison", file=sys.stderr)

        _stream(args, observer, node, cam, on_half=smoothing_off if args.static is not None else None)
    finally:
        if cam is not None:
            cam.stop()
        time.sleep(0.5)  # the last answers
        node.stop()
        records, images = observer.snapshot() if observer is not None else ([], {})
        tf = None
        if observer is not None:
            tf = {
                "messages": observer.tf_msgs,
                "transforms": observer.tf_frames,
                "child_frames": sorted(observer.tf_children),
                "parent_frames": sorted(observer.tf_parents),
                "marker_arrays": observer.marker_msgs,
                "marker_frames": sorted(observer.marker_frames),
            }
            observer.close()
    records = [r for r in records if r.truth_xyz is not None]
    if not records:
        print(
            "demo: no frame with ground truth arrived from synthetic_camera; see "
            f"{out / 'logs' / 'synthetic_camera.log'}",
            file=sys.stderr,
        )
        return 1
    summary = summarize(records, args.width, args.height)
    if args.depth:
        summary["depth"] = depth_comparison(records)
    if args.static is not None:
        cut = switched[0] if switched else float("inf")
        summary["jitter_static_hand"] = {
            "with_smoothing": jitter([r for r in records if r.stamp_ns / 1e9 < cut]),
            "without_smoothing": jitter([r for r in records if r.stamp_ns / 1e9 >= cut + 0.5]),
            "note": "std over time of each published keypoint of the still hand, mean over keypoints; first second "
            "of each half left out",
        }
    node_stats = parse_node_stats(node.log())
    summary["frames"]["node"] = node_stats
    if node_stats:
        summary["frames"]["dropped_by_node"] = node_stats.get("dropped", 0)
        summary["frames"]["not_received_by_node"] = max(0, len(records) - node_stats.get("received", 0))
    summary = {
        "what": "hand_pose_node on synthetic_camera (python -m hand_pose_25d.ros.demo)",
        "model": str(model),
        "backend": args.backend,
        "camera": {
            "rate_hz": args.rate,
            "width": args.width,
            "height": args.height,
            "seed": args.seed,
            "hands": args.hands,
            "static_frame": args.static,
            "depth": bool(args.depth),
        },
        "duration_s": round(float((records[-1].stamp_ns - records[0].stamp_ns) / 1e9), 2),
        **summary,
        "tf_and_markers": tf,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": list(os.getloadavg())},
        "versions": versions(),
        "notes": (
            "latency: image stamp (set by the camera once the frame is rendered) to the arrival of its "
            "HandPoseArray in this process; 'answered' = frames whose HandPoseArray arrived; frames not "
            "answered were superseded by a newer frame in the node (it processes only the newest) or lost "
            "by the best-effort image transport; errors are means over the 21 keypoints of the first hand."
        ),
    }
    written = _pictures(args, out, records, images)
    summary["outputs"] = [str(p) for p in written]
    write_json(out / "summary.json", summary, indent=2)
    _print_summary(summary, out)
    return 0 if summary["frames"]["answered"] > 0 else 1


def _stream(
    args: argparse.Namespace,
    observer: _Observer,
    node: Proc,
    cam: Proc,
    on_half: Optional[Callable[[], None]] = None,
) -> None:
    """Wait for the first frames, then stream for ``args.duration`` s with a progress display (``on_half`` is
    called once half way)."""
    t0 = time.monotonic()
    while not any(r.truth_xyz is not None for r in observer.snapshot()[0]):
        if not cam.alive() or time.monotonic() - t0 > START_TIMEOUT_S:
            raise RuntimeError(f"synthetic_camera published nothing:\n{cam.log()[-3000:]}")
        time.sleep(0.1)
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=int(round(args.duration)), desc="demo", unit="s", dynamic_ncols=True)
        except ImportError:
            pass
    t0, last_print, shown = time.monotonic(), 0.0, 0
    while (elapsed := time.monotonic() - t0) < args.duration:
        if not node.alive() or not cam.alive():
            raise RuntimeError(
                f"{'hand_pose_node' if not node.alive() else 'synthetic_camera'} exited early:\n"
                f"{(node if not node.alive() else cam).log()[-3000:]}"
            )
        time.sleep(0.25)
        if on_half is not None and elapsed >= args.duration / 2:
            on_half()
            on_half = None
        records = observer.snapshot()[0]
        truth = [r for r in records if r.truth_xyz is not None]
        answered = [r for r in truth if r.answer_arrival is not None]
        errs = [e["abs_mm"] for e in (frame_errors(r) for r in answered[-60:]) if e]
        info = {"frames": len(truth), "answered": len(answered), "err_mm": f"{np.median(errs):.0f}" if errs else "-"}
        if bar is not None:
            bar.update(int(elapsed) - shown)
            shown = int(elapsed)
            bar.set_postfix(info)
        elif elapsed - last_print >= 5.0:
            last_print = elapsed
            print(f"demo: {elapsed:4.0f} s  " + "  ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    if bar is not None:
        bar.update(int(round(args.duration)) - shown)
        bar.close()


def _pictures(
    args: argparse.Namespace, out: Path, records: List[FrameRecord], images: Dict[int, np.ndarray]
) -> List[Path]:
    from ..visualize import View3D, save_rgb

    by_stamp = {r.stamp_ns: r for r in records}
    written: List[Path] = []
    frames = []
    view = None
    try:
        view = View3D(args.height, args.height)
    except ImportError:
        pass
    stamps = [s for s in sorted(images) if s in by_stamp]
    for i, s in enumerate(stamps):
        frames.append(overlay_frame(images[s], by_stamp[s], view))
    if view is not None:
        view.close()
    for i in np.unique(np.linspace(0, len(frames) - 1, min(4, len(frames))).round().astype(int)) if frames else []:
        written.append(save_rgb(out / "frames" / f"frame_{i:03d}.png", frames[i]))
    if frames:
        import cv2

        small = [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA) for f in frames]
        gif = write_gif(small, out / "demo.gif", args.gif_fps)
        if gif:
            written.append(gif)
    for fn, name in ((plot_3d, "pose_3d.png"), (plot_timeline, "errors.png")):
        p = fn(records, out / name)
        if p:
            written.append(p)
    return written


def _print_summary(s: Dict[str, Any], out: Path) -> None:
    f, lat, acc = s["frames"], s["latency_ms"]["stamp_to_hand_pose"], s["accuracy"]

    def g(d: Dict[str, Any], k: str, unit: str) -> str:
        return "-" if d.get(k) is None else f"{d[k]:.1f} {unit}"

    print("\n=== hand_pose_25d demo ===")
    print(
        f"frames: {f['published_with_truth']} published, {f['answered']} answered "
        f"({100 * f['answered_fraction']:.0f} %), {f['with_hand']} with a hand; node: {f.get('node', {})}"
    )
    print(
        f"latency, image stamp -> HandPose: p50 {g(lat, 'p50', 'ms')}, p90 {g(lat, 'p90', 'ms')}, "
        f"p99 {g(lat, 'p99', 'ms')}"
    )
    print(
        f"3D error (mean over keypoints, median over frames): camera frame "
        f"{g(acc['epe3d_camera_frame_mm'], 'median', 'mm')}, root-relative "
        f"{g(acc['epe3d_root_relative_mm'], 'median', 'mm')}, root-relative with the true scale "
        f"{g(acc['epe3d_root_relative_gt_scale_mm'], 'median', 'mm')}; 2D {g(acc['epe2d_px'], 'median', 'px')}"
    )
    for h in s.get("hands", []):
        rate = "-" if h["detection_rate"] is None else f"{100 * h['detection_rate']:.1f} %"
        first = "-" if h["time_to_first_detection_s"] is None else f"{h['time_to_first_detection_s']:.2f} s"
        print(
            f"hand {h['true_track_id']}: valid pose in {h['frames_detected']} of {h['frames_in_view']} frames in view "
            f"({rate}), first after {first}, track ids {h['track_ids']}, id switches {h['id_switches']}, "
            f"swaps {h['id_swaps']}"
        )
    dep = s.get("depth")
    if dep:
        print(
            f"with depth (used in {dep['depth_used_fraction']} of {dep['frames']} frames): camera frame "
            f"{dep['epe3d_camera_frame_with_depth_median_mm']} mm, with the bone prior "
            f"{dep['epe3d_camera_frame_bone_prior_median_mm']} mm (median over frames)"
        )
    jit = s.get("jitter_static_hand")
    if jit:
        for k in ("with_smoothing", "without_smoothing"):
            j = jit.get(k)
            if j:
                print(f"jitter of the still hand {k.replace('_', ' ')}: depth {j['depth_mm']} mm, x/y {j['xy_mm']} mm")
    if s.get("tf_and_markers"):
        t = s["tf_and_markers"]
        print(
            f"TF: {t['transforms']} transforms in {t['messages']} messages, parents {t['parent_frames']}; "
            f"markers: {t['marker_arrays']} arrays in {t['marker_frames']}"
        )
    print(f"wrote {out}/: " + ", ".join(Path(p).name for p in s.get("outputs", [])) + ", summary.json, logs/")


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m hand_pose_25d.ros.demo``."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except RuntimeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
