"""The demo (``python -m hand_pose_25d.ros.demo``): its pure helpers, and a short real run over ROS topics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hand_pose_25d.ros import demo
from hand_pose_25d.ros.demo import FrameRecord, frame_errors, jitter, match_hands, parse_node_stats, per_hand, summarize

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "hand_pose_25d" / "models" / "default.onnx"


def _hand(rng: np.random.Generator) -> np.ndarray:
    from handgen import random_hand

    return random_hand(rng) + np.array([0.0, 0.0, 0.5])


def test_parse_node_stats_takes_the_last_line():
    log = (
        "[INFO] [1.0] [hand_pose_node]: frames: received 3, processed 2, dropped 1, refused 0, skipped 0, "
        "with_hands 2, debug_images 0 | last 5.0 s: received 0.6/s\n"
        "[INFO] [2.0] [hand_pose_node]: stopped: frames: received 30, processed 25, dropped 4, refused 1, "
        "skipped 0, with_hands 20, debug_images 0 | last 1.0 s: received 3.0/s, processed 2.0/s\n"
    )
    assert parse_node_stats(log) == {
        "received": 30,
        "processed": 25,
        "dropped": 4,
        "refused": 1,
        "skipped": 0,
        "with_hands": 20,
        "debug_images": 0,
    }
    assert parse_node_stats("nothing here") == {}


def test_frame_errors_and_summary_against_hand_computed_values():
    rng = np.random.default_rng(0)
    g = _hand(rng)
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    uv = (g @ K.T)[:, :2] / g[:, 2:]
    scale = float(np.linalg.norm(g[9] - g[0]))
    # prediction: the true hand shifted by 1 cm along x and 2x too big about its root
    p = (g - g[0]) * 2.0 + g[0] + np.array([0.01, 0.0, 0.0])
    rec = FrameRecord(
        stamp_ns=1_000_000_000,
        truth_xyz=g,
        truth_uv=uv,
        truth_visible=np.ones(21, bool),
        truth_scale=scale,
        image_arrival=1.002,
        answer_arrival=1.010,
        hands=[{"xyz": p.tolist(), "uv": (uv + 3.0).tolist(), "score": 0.9, "handedness": "right"}],
    )
    e = frame_errors(rec)
    assert e["px"] == pytest.approx(3.0 * np.sqrt(2.0))
    assert e["root_depth_mm"] == pytest.approx(0.0, abs=1e-9)
    assert e["rel_mm"] == pytest.approx(np.linalg.norm(g - g[0], axis=1).mean() * 1000.0)
    assert e["rel_gt_scale_mm"] == pytest.approx(0.0, abs=1e-6)  # rescaling to the true bone removes the 2x
    assert e["abs_mm"] == pytest.approx(np.linalg.norm(p - g, axis=1).mean() * 1000.0)
    lost = FrameRecord(stamp_ns=2_000_000_000, truth_xyz=g, truth_uv=uv, truth_scale=scale)
    empty = FrameRecord(stamp_ns=3_000_000_000, truth_xyz=g, truth_uv=uv, truth_scale=scale, answer_arrival=3.02)
    assert frame_errors(lost) is None and frame_errors(empty) is None
    s = summarize([rec, lost, empty])
    assert s["frames"] == {
        "published_with_truth": 3,
        "answered": 2,
        "with_hand": 1,
        "unanswered": 1,
        "answered_fraction": pytest.approx(2 / 3, abs=1e-4),
    }
    assert s["latency_ms"]["stamp_to_hand_pose"]["n"] == 2
    assert s["latency_ms"]["stamp_to_hand_pose"]["max"] == pytest.approx(20.0, abs=0.01)
    assert s["latency_ms"]["image_arrival_to_hand_pose"]["p50"] == pytest.approx(8.0, abs=0.01)
    assert s["accuracy"]["answered_with_hand_fraction"] == 0.5
    assert s["accuracy"]["detection_rate"] == {}  # these records carry no per-hand truths
    assert s["accuracy"]["auc3d_root_relative_gt_scale_20_50mm"] == pytest.approx(1.0)


def _truth(tid: int, uv: np.ndarray, xyz: np.ndarray) -> dict:
    return {"track_id": tid, "uv": uv, "xyz": xyz, "visible": np.ones(21, bool), "scale": 0.09}


def test_per_hand_rates_first_detection_and_id_swaps():
    """Two true hands; the node publishes hand A in frames 1-3 (id 7) and hand B in frames 2-3 (id 8, then in
    frame 3 under A's id 7: a swap); hand B is out of view in frame 0."""
    rng = np.random.default_rng(2)
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    ga, gb = _hand(rng) + [-0.15, 0, 0], _hand(rng) + [0.15, 0, 0]
    ua, ub = ((g @ K.T)[:, :2] / g[:, 2:] for g in (ga, gb))
    off = ub + [2000.0, 0.0]  # out of the image

    def pub(uv, xyz, tid):
        return {"uv": (uv + 1.0).tolist(), "xyz": xyz.tolist(), "track_id": tid, "score": 0.9, "handedness": "right"}

    recs = []
    for i, (a_id, b_id) in enumerate([(None, None), (7, None), (7, 8), (8, 7)]):
        hands = ([pub(ua, ga, a_id)] if a_id else []) + ([pub(ub, gb, b_id)] if b_id else [])
        truths = [_truth(1, ua, ga), _truth(2, off if i == 0 else ub, gb)]
        rec = FrameRecord(stamp_ns=(i + 1) * 100_000_000, truth_xyz=ga, truth_uv=ua, truth_scale=0.09)
        rec.truths, rec.hands, rec.answer_arrival = truths, hands, 1.0
        recs.append(rec)
    assert set(match_hands(recs[2])) == {1, 2} and match_hands(recs[2])[2]["track_id"] == 8
    a, b = per_hand(recs, 640, 480)
    assert (a["frames_in_view"], a["frames_detected"], a["detection_rate"]) == (4, 3, 0.75)
    assert a["time_to_first_detection_s"] == pytest.approx(0.1) and a["track_ids"] == [7, 8]
    assert a["id_switches"] == 1 and a["id_swaps"] == 1  # id 8 was hand B's
    assert (b["frames_in_view"], b["frames_detected"]) == (3, 2) and b["time_to_first_detection_s"] == pytest.approx(
        0.1
    )
    assert b["id_swaps"] == 1  # id 7 was hand A's
    s = summarize(recs)
    assert s["accuracy"]["detection_rate"] == {"hand_1": 0.75, "hand_2": pytest.approx(2 / 3, abs=1e-4)}


def test_jitter_of_a_static_hand():
    rng = np.random.default_rng(3)
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    g = _hand(rng)
    uv = (g @ K.T)[:, :2] / g[:, 2:]
    recs = []
    for i in range(60):
        noisy = g + rng.normal(0, [0.001, 0.001, 0.004], (21, 3))  # 1 mm across, 4 mm in depth
        rec = FrameRecord(stamp_ns=i * 33_000_000, truth_xyz=g, truth_uv=uv, truth_scale=0.09)
        rec.truths = [_truth(1, uv, g)]
        rec.hands = [{"uv": uv.tolist(), "xyz": noisy.tolist(), "track_id": 1}]
        recs.append(rec)
    j = jitter(recs, warmup_s=0.5)
    assert j["frames"] == 60 - 16
    assert j["depth_mm"] == pytest.approx(4.0, rel=0.2) and j["xy_mm"] == pytest.approx(np.sqrt(2.0), rel=0.2)
    assert jitter(recs[:5]) is None


def test_pictures_are_written(tmp_path: Path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    rng = np.random.default_rng(1)
    K = np.array([[500.0, 0, 160], [0, 500.0, 120], [0, 0, 1]])
    records, images = [], {}
    for i in range(6):
        g = _hand(rng)
        uv = (g @ K.T)[:, :2] / g[:, 2:]
        rec = FrameRecord(
            stamp_ns=(i + 1) * 100_000_000,
            truth_xyz=g,
            truth_uv=uv,
            truth_scale=0.09,
            answer_arrival=(i + 1) * 0.1 + 0.01,
            hands=[{"xyz": (g + 0.005).tolist(), "uv": uv.tolist(), "score": 0.8, "handedness": "left"}],
        )
        records.append(rec)
        images[rec.stamp_ns] = np.full((240, 320, 3), 40 * i, np.uint8)
    args = demo.build_parser().parse_args(["--width", "320", "--height", "240"])
    written = {p.name for p in demo._pictures(args, tmp_path, records, images)}
    assert {"demo.gif", "pose_3d.png", "errors.png"} <= written
    assert len(list((tmp_path / "frames").glob("*.png"))) == 4
    from PIL import Image

    with Image.open(tmp_path / "demo.gif") as gif:
        assert gif.n_frames == 6 and gif.size == (320 // 2 + 240 // 2, 240 // 2)


# --------------------------------------------------------------------------------------------------------------
# a short real run: two processes, this test's process reads the demo's output


def _ros_available() -> bool:
    return demo._check_ros() is None


@pytest.mark.ros
@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path):
    if not _ros_available():
        if os.environ.get("HAND_POSE_REQUIRE_ROS") == "1":
            pytest.fail(demo._check_ros())
        pytest.skip(demo._check_ros())
    model = DEFAULT_MODEL
    if not model.is_file():
        pytest.importorskip("torch")
        from hand_pose_25d.model.checkpoint import build_model
        from hand_pose_25d.model.onnx_export import export_onnx
        from hand_pose_25d.model.presets import preset_config

        cfg = preset_config("compact")
        model = export_onnx(build_model(cfg), cfg, tmp_path / "untrained.onnx")
    out = tmp_path / "demo_out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hand_pose_25d.ros.demo",
            "--duration",
            "5",
            "--rate",
            "15",
            "--model",
            str(model),
            "--out",
            str(out),
            "--no-progress",
            "--domain-id",
            str(int(os.environ.get("ROS_DOMAIN_ID", "42"))),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "=== hand_pose_25d demo ===" in proc.stdout
    s = json.loads((out / "summary.json").read_text())
    f = s["frames"]
    assert f["published_with_truth"] >= 20 and f["answered"] >= 10
    assert f["node"]["processed"] >= f["answered"] - 1  # every answer was processed by the node
    lat = s["latency_ms"]["stamp_to_hand_pose"]
    assert lat["n"] == f["answered"] and 0.0 < lat["p50"] <= lat["p99"] < 5000.0
    for name in ("demo.gif", "errors.png"):
        assert (out / name).is_file(), name
    assert (out / "logs" / "hand_pose_node.log").is_file()
    if model == DEFAULT_MODEL:
        acc = s["accuracy"]
        # `make demo` (20 s at 30 Hz) measured: a hand in 53 % of the answers, 30.6 mm root-relative (true scale)
        assert f["with_hand"] >= 0.25 * f["answered"]
        assert acc["epe3d_root_relative_gt_scale_mm"]["median"] < 65.0
        assert (out / "pose_3d.png").is_file()
        assert s["tf_and_markers"]["parent_frames"] == ["camera_optical_frame"]
        assert s["tf_and_markers"]["marker_frames"] == ["camera_optical_frame"]


@pytest.mark.ros
@pytest.mark.slow
def test_demo_with_two_hands_and_depth(tmp_path: Path):
    """--hands 2 --depth: per-hand figures for both true hands and the depth comparison, from a real run."""
    if not _ros_available():
        if os.environ.get("HAND_POSE_REQUIRE_ROS") == "1":
            pytest.fail(demo._check_ros())
        pytest.skip(demo._check_ros())
    if not DEFAULT_MODEL.is_file():
        pytest.skip("the shipped model is missing")
    out = tmp_path / "demo_out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    args = ["--duration", "12", "--rate", "10", "--hands", "2", "--depth", "--out", str(out), "--no-progress"]
    args += ["--domain-id", str(int(os.environ.get("ROS_DOMAIN_ID", "42")))]
    proc = subprocess.run(
        [sys.executable, "-m", "hand_pose_25d.ros.demo", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["camera"]["hands"] == 2 and s["camera"]["depth"] is True
    hands = {h["true_track_id"]: h for h in s["hands"]}
    assert set(hands) == {1, 2} and all(h["frames_in_view"] > 0 for h in hands.values())
    assert set(s["accuracy"]["detection_rate"]) == {"hand_1", "hand_2"}
    d = s["depth"]
    assert d["frames"] > 0 and d["depth_used_fraction"] is not None
    if d["depth_used_fraction"] > 0:  # the depth image was paired and used: it places the hand better
        assert d["epe3d_camera_frame_with_depth_median_mm"] < d["epe3d_camera_frame_bone_prior_median_mm"]
    log = (out / "logs" / "hand_pose_node.log").read_text()
    assert "Traceback" not in log
