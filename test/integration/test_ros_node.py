"""``hand_pose_node`` over real topics between real processes (Fast DDS, random ROS_DOMAIN_ID, localhost only).

Processes: the node is started as ``python -m hand_pose_25d.ros.node --ros-args --params-file
config/hand_pose.yaml ...``; the synthetic camera as ``python -m hand_pose_25d.ros.synthetic_camera``; this test
process is a ROS node too (its own rclpy context, spun in a thread) that publishes images/camera_info/roi,
subscribes to the outputs, calls the parameter services and reads the node's log.

Two models are used:

* a *constant-hand* ONNX network built here with ``onnx.helper`` (inputs/outputs/metadata of a real export; it
  answers the same plausible 2.5D hand in crop coordinates for every crop). The untrained network never yields a
  valid hand (its keypoints collapse onto the crop centre: "degenerate_bone"), so this one is what lets the
  plumbing be checked exactly: TF frames, markers, stamps, live intrinsics and distortion (checked by
  re-projecting the published 3D keypoints with the published camera_info), the ROI crop, dynamic parameters.
* for the synthetic-camera stream: ``hand_pose_25d/models/default.onnx`` when it exists, else an untrained
  ``compact`` network exported into a temp dir; the accuracy assertion against the ground truth is skipped
  (with the reason) while the default model does not exist.

Bad input (each followed by a good frame that must still be answered): the node logs the problem, stays alive
and publishes *nothing* for that frame (documented behaviour: no HandPoseArray at all for refused frames; an
empty array is published only for frames that were processed and hold no valid hand).

Without rclpy in this interpreter the tests are skipped, unless HAND_POSE_REQUIRE_ROS=1 (CI): then they fail.
"""

from __future__ import annotations

import array
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pytest

from hand_pose_25d.crop import CropBox, crop_matrix, invert_affine, transform_points
from hand_pose_25d.geometry import project, to_2p5d
from hand_pose_25d.model.model_config import ModelConfig
from hand_pose_25d.ros.processes import child_env as base_env
from hand_pose_25d.ros.processes import ros_command
from hand_pose_25d.skeleton import FINGERS, KEYPOINT_NAMES

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO / "config" / "hand_pose.yaml"
DEFAULT_MODEL = REPO / "hand_pose_25d" / "models" / "default.onnx"
#: Stated accuracy of the shipped pipeline (default model, palm detector, smoothing) on the synthetic camera stream
#: of seed STREAM_SEED, 10 Hz, its first 4 s, over the shared-memory transport: the fraction of answers with a hand,
#: and the median over frames of the mean keypoint error (root-relative with the bone-prior scale; camera frame).
#: Measured (3 runs, 2026-12-03, 18:30 UTC): a hand in 40 of 40 answers, 22.6-34.0 mm root-relative, 45.9-68.7 mm
#: in the camera frame; the bounds leave margin for a loaded machine. Seed 9 is a sequence the shipped pipeline
#: follows offline (``tools/stream_offline.py --seeds 9``: 45 of its first 45 frames, with and without the tracking
#: and refinement changes of that day); other seeds are harder (seed 11, the demo's: 13 of 45): the demo reports
#: those rates, this test checks that the node over ROS gives what the pipeline gives.
STREAM_SEED = 9
MIN_FOUND, MAX_REL_ERROR_M, MAX_ABS_ERROR_M = 0.75, 0.050, 0.100
START_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 10.0

W, H = 640, 480
K_GOOD = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
GOOD_FRAME = "cam_good"
SCORE = 0.9  # keypoint score of the constant-hand network
P_RIGHT = 0.8


# --------------------------------------------------------------------------------------------------------------
# ROS availability, processes


@pytest.fixture(scope="module")
def ros_runtime() -> None:
    """Skip (or fail under HAND_POSE_REQUIRE_ROS=1) without a complete ROS 2 runtime."""
    try:
        import rclpy  # noqa: F401
        from tf2_msgs.msg import TFMessage  # noqa: F401

        from hand_pose_25d_msgs.msg import HandPoseArray  # noqa: F401
    except Exception as exc:  # ImportError, or a failing C extension / type support
        first_line = (str(exc).splitlines() or [""])[0]
        reason = (
            f"ROS 2 runtime not available in {sys.executable} ({type(exc).__name__}: {first_line}); "
            f"run tools/setup_ros.sh {sys.prefix}"
        )
        if os.environ.get("HAND_POSE_REQUIRE_ROS") == "1":
            pytest.fail(reason + " (HAND_POSE_REQUIRE_ROS=1)", pytrace=False)
        pytest.skip(reason)


def child_env(log_dir: Path, shm: bool = False) -> Dict[str, str]:
    """Environment of the child processes (:func:`hand_pose_25d.ros.processes.child_env`: this process's random
    domain, localhost only, unbuffered logs; with ``shm`` the shared-memory transport the README recommends for
    camera images), plus message field checks and one OpenMP thread."""
    profile = REPO / "config" / "fastdds_shm.xml" if shm else None
    env = base_env(int(os.environ.get("ROS_DOMAIN_ID", "42")), log_dir, profile)
    env.update(ROS_PYTHON_CHECK_FIELDS="1", OMP_NUM_THREADS="1")
    return env


class Proc:
    """A child process whose stdout+stderr go to a log file."""

    def __init__(self, args: List[str], log_path: Path, env: Dict[str, str]) -> None:
        self.args, self.log_path = args, log_path
        self._fh = open(log_path, "w")
        self.p = subprocess.Popen(args, cwd=REPO, env=env, stdout=self._fh, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.p.poll() is None

    def wait_log(self, pattern: str, timeout: float, start: int = 0) -> Optional[re.Match]:
        """First match of regex ``pattern`` in the log after character ``start``, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log()[start:])
            if m or time.monotonic() > deadline or not self.alive():
                return m or re.search(pattern, self.log()[start:])
            time.sleep(0.05)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        self._fh.close()


#: These tests check how the node crops, reconstructs and publishes with models whose answers are known: no palm
#: detector (its crops depend on what it sees) and no temporal smoothing, unless a test sets them.
MECHANICS = ("pipeline.detector.model:=none", "smoothing.enabled:=false")


def node_command(
    *params: str, ns: Optional[str] = None, extra: Sequence[str] = (), mechanics: Sequence[str] = MECHANICS
) -> List[str]:
    """``python -m hand_pose_25d.ros.node --ros-args --params-file config/hand_pose.yaml -p ...``."""
    raw = tuple(mechanics) + tuple(params)
    return ros_command("hand_pose_25d.ros.node", ns=ns, params_file=PARAMS_FILE, raw=raw) + list(extra)


# --------------------------------------------------------------------------------------------------------------
# models


def constant_hand_template(size: int = 128, padding: float = 1.3):
    """A plausible hand's 2.5D pose (uv in crop pixels, z_rel) whose keypoint box, padded, is exactly the crop.

    Because the padded keypoint box equals the crop, re-cropping around the answer gives the same crop: every
    crop of the node (full frame, refined, tracked, ROI) is a fixed point, so the published pixels are known.
    """
    from handgen import random_hand

    local = random_hand(np.random.default_rng(7), prop_sigma=0.0)  # fingers along +y, flexion towards +z
    xyz = local @ np.diag([1.0, -1.0, -1.0]).T + np.array([0.0, 0.05, 0.5])  # palm facing the camera, fingers up
    uv, z_rel = to_2p5d(xyz, np.array([[500.0, 0, 0], [0, 500.0, 0], [0, 0, 1]]))
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    uv = (uv - (lo + hi) / 2) * (size / padding) / (hi - lo).max() + (size - 1) / 2
    return uv.astype(np.float32).astype(np.float64), z_rel.astype(np.float32).astype(np.float64)


def build_constant_hand_onnx(path: Path):
    """ONNX model with the exported network's I/O and metadata that answers :func:`constant_hand_template`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from hand_pose_25d.inference.contract import CONFIG_KEY, FORMAT_VERSION, FORMAT_VERSION_KEY

    cfg = ModelConfig()
    uv, z_rel = constant_hand_template(cfg.input_size, cfg.crop_padding)

    def const(name, arr, dtype=np.float32):
        return numpy_helper.from_array(np.asarray(arr, dtype), name)

    # zero of shape (B,) from the input, so that every output has the input's batch size
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["f", "axes123"], ["s"], keepdims=0),
        helper.make_node("Mul", ["s", "zero"], ["b"]),
        helper.make_node("Unsqueeze", ["b", "ax1"], ["b2"]),
        helper.make_node("Unsqueeze", ["b2", "ax2"], ["b3"]),
        helper.make_node("Add", ["b3", "uv_c"], ["uv"]),
        helper.make_node("Add", ["b2", "z_c"], ["z_rel"]),
        helper.make_node("Add", ["b2", "s_c"], ["keypoint_scores"]),
        helper.make_node("Add", ["b", "h_c"], ["handedness"]),
    ]
    inits = [
        const("axes123", [1, 2, 3], np.int64),
        const("zero", 0.0),
        const("ax1", [1], np.int64),
        const("ax2", [2], np.int64),
        const("uv_c", uv),
        const("z_c", z_rel),
        const("s_c", np.full(21, SCORE)),
        const("h_c", P_RIGHT),
    ]
    S = cfg.input_size

    def out(name, *dims):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", *dims])

    graph = helper.make_graph(
        nodes,
        "constant_hand",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", S, S, 3])],
        [out("uv", 21, 2), out("z_rel", 21), out("keypoint_scores", 21), out("handedness")],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in ((CONFIG_KEY, cfg.to_json()), (FORMAT_VERSION_KEY, FORMAT_VERSION)):
        meta = model.metadata_props.add()
        meta.key, meta.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return uv, z_rel


def expected_uv(template_uv: np.ndarray, box: CropBox, size: int = 128) -> np.ndarray:
    """Full-image pixels of the template answered in crop ``box``."""
    return transform_points(template_uv, invert_affine(crop_matrix(box, size)))


# --------------------------------------------------------------------------------------------------------------
# the test's own ROS node


def wait_for(predicate: Callable[[], Any], timeout: float = ANSWER_TIMEOUT_S) -> Any:
    """Poll ``predicate`` every 20 ms until it returns something true or ``timeout`` s pass; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


def _now_ns() -> int:
    return time.time_ns()


class Probe:
    """This process's ROS node: publishes inputs, records outputs, calls parameter services."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
        from tf2_msgs.msg import TFMessage
        from visualization_msgs.msg import MarkerArray

        from hand_pose_25d_msgs.msg import HandPoseArray

        self.ctx = Context()
        rclpy.init(context=self.ctx, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f"test_probe_{uuid.uuid4().hex[:8]}", context=self.ctx)
        self.lock = threading.Lock()
        self.msgs: Dict[str, List[Any]] = defaultdict(list)

        def qos(depth: int, reliable: bool = True) -> QoSProfile:
            return QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=depth,
                durability=DurabilityPolicy.VOLATILE,
                reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            )

        self.qos = qos
        self.image_pub = self.node.create_publisher(Image, "/image", qos(10))
        self.info_pub = self.node.create_publisher(CameraInfo, "/camera_info", qos(10))
        self.roi_pub = self.node.create_publisher(RegionOfInterest, "/roi", qos(5))
        for topic, kind, depth in (
            ("/hand_poses", HandPoseArray, 100),
            ("/tf", TFMessage, 100),
            ("/markers", MarkerArray, 100),
            ("/b/hand_poses", HandPoseArray, 100),
            ("/b/synthetic_camera/ground_truth", HandPoseArray, 100),
        ):
            self.node.create_subscription(kind, topic, self._keep(topic), qos(depth))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # context shut down
            pass

    def _keep(self, topic: str) -> Callable[[Any], None]:
        def cb(msg: Any) -> None:
            with self.lock:
                self.msgs[topic].append(msg)

        return cb

    def subscribe(self, topic: str, kind: Any, depth: int = 10) -> Any:
        return self.node.create_subscription(kind, topic, self._keep(topic), self.qos(depth))

    def received(self, topic: str) -> List[Any]:
        with self.lock:
            return list(self.msgs[topic])

    def wait(self, predicate: Callable[[], Any], timeout: float = ANSWER_TIMEOUT_S) -> Any:
        return wait_for(predicate, timeout)

    def answers(self, stamp_ns: int, topic: str = "/hand_poses") -> List[Any]:
        return [m for m in self.received(topic) if _stamp_ns(m.header.stamp) == stamp_ns]

    def wait_answer(self, stamp_ns: int, topic: str = "/hand_poses", timeout: float = ANSWER_TIMEOUT_S) -> Any:
        got = self.wait(lambda: self.answers(stamp_ns, topic), timeout)
        assert got, f"no {topic} answer for stamp {stamp_ns} within {timeout} s"
        return got[0]

    # ---- inputs
    def send(self, image: Any, info: Any = None) -> None:
        """Publish camera_info, then the image. The 20 ms between them matter: with
        ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST Fast DDS sends both over loopback UDP, and a camera_info sent in
        the same instant as a 0.9 MB image is often lost and repaired up to seconds later (measured, see
        docs/ros.md); the node would wait for it (input.camera_info_wait) but the test would be slow."""
        if info is not None:
            self.info_pub.publish(info)
            time.sleep(0.02)
        self.image_pub.publish(image)

    def send_good(self, frame: str = GOOD_FRAME, K: np.ndarray = K_GOOD, D=(0.0,) * 5) -> int:
        stamp = _now_ns()
        self.send(good_image(stamp, frame), camera_info_msg(stamp, frame, K, D))
        return stamp

    # ---- parameters of a node
    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 10.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
            future = client.call_async(request)
            assert self.wait(future.done, timeout), f"service {name} did not answer"
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_params(self, node: str, **values: Any) -> List[Any]:
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        req = SetParameters.Request(
            parameters=[Parameter(k.replace("__", "."), value=v).to_parameter_msg() for k, v in values.items()]
        )
        return list(self.call(SetParameters, f"{node}/set_parameters", req).results)

    def close(self) -> None:
        self.ctx.try_shutdown()
        self._thread.join(timeout=5)


def camera_info_msg(
    stamp_ns: int,
    frame: str,
    K: np.ndarray = K_GOOD,
    D=(0.0,) * 5,
    model: str = "plumb_bob",
    width: int = W,
    height: int = H,
) -> Any:
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo(width=width, height=height, distortion_model=model)
    info.header.stamp = _stamp(stamp_ns)
    info.header.frame_id = frame
    info.k = [float(v) for v in np.asarray(K, dtype=np.float64).ravel()]
    info.d = [float(v) for v in D]
    info.p = [float(v) for v in np.concatenate([np.asarray(K, float), np.zeros((3, 1))], axis=1).ravel()]
    return info


def _stamp(ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


_PATTERN = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def raw_image(stamp_ns: int, frame: str, *, width: int, height: int, encoding: str, step: int, data: bytes) -> Any:
    from sensor_msgs.msg import Image

    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0, step=step)
    msg.header.stamp = _stamp(stamp_ns)
    msg.header.frame_id = frame
    msg.data = array.array("B", data)  # fast: rclpy's field check accepts an array('B') without a per-byte check
    return msg


def good_image(stamp_ns: int, frame: str = GOOD_FRAME) -> Any:
    """The 640x480 rgb8 test image with this stamp and frame."""
    return raw_image(stamp_ns, frame, width=W, height=H, encoding="rgb8", step=W * 3, data=_PATTERN.tobytes())


# --------------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ros_node")


@pytest.fixture(scope="module")
def const_model(workdir: Path):
    path = workdir / "constant_hand.onnx"
    uv, z_rel = build_constant_hand_onnx(path)
    return path, uv, z_rel


@pytest.fixture(scope="module")
def probe(ros_runtime):
    p = Probe()
    yield p
    p.close()


@pytest.fixture(scope="module")
def node_a(probe: Probe, const_model, workdir: Path):
    """The node on the constant-hand model, reliable image QoS (so 36 MB frames arrive), 1 s statistics."""
    path = const_model[0]
    proc = Proc(
        node_command(
            f"pipeline.model:={path}",
            "input.reliability:=reliable",
            "output.diagnostics_period:=1.0",
            "output.warn_period:=60.0",
            "output.marker_lifetime:=0.5",
            "pipeline.num_threads:=1",
            "input.camera_info_wait:=3.0",
            "tracking.roi_timeout:=1.0",
            "tracking.timeout:=3.0",
        ),
        workdir / "node_a.log",
        child_env(workdir),
    )
    try:
        assert proc.wait_log(r"\bready: ", START_TIMEOUT_S), f"node did not start:\n{proc.log()[-3000:]}"
        publishers = (probe.image_pub, probe.info_pub, probe.roi_pub)
        discovered = probe.wait(
            lambda: (
                all(p.get_subscription_count() > 0 for p in publishers)
                and probe.node.count_publishers("/hand_poses") > 0
            ),
            START_TIMEOUT_S,
        )
        assert discovered, "the node and the test did not discover each other"
        yield proc
    finally:
        proc.stop()
    assert "Traceback" not in proc.log(), proc.log()[-3000:]


# --------------------------------------------------------------------------------------------------------------
# node A: plumbing with the constant-hand network


FULL_BOX = CropBox((W - 1) / 2.0, (H - 1) / 2.0, float(max(W, H)))


def _check_hand(hand: Any, K: np.ndarray, D, uv_expected: np.ndarray) -> np.ndarray:
    """Assert the message semantics of one published hand; returns its 3D keypoints (21, 3)."""
    from hand_pose_25d_msgs.msg import HandPose

    xyz = np.array([[p.x, p.y, p.z] for p in hand.keypoints])
    uv = np.array([[p.x, p.y] for p in hand.keypoints_2d])
    assert xyz.shape == (21, 3) and np.all(np.isfinite(xyz)) and np.all(xyz[:, 2] > 0)
    np.testing.assert_allclose(uv, uv_expected, atol=0.01)  # the constant hand, mapped out of the known crop
    # the 3D keypoints re-project onto the 2D ones with the live K and D of camera_info
    np.testing.assert_allclose(project(xyz, K, None if not np.any(D) else D), uv, atol=0.01)
    # 2.5D semantics: relative depths = (Z - Z_root) / scale, scale = length of the reference bone
    root, (a, b) = hand.root_index, tuple(hand.reference_bone)
    assert (root, a, b) == (0, 0, 9)
    assert hand.scale == pytest.approx(np.linalg.norm(xyz[b] - xyz[a]), rel=1e-6)
    np.testing.assert_allclose((xyz[:, 2] - xyz[root, 2]) / hand.scale, hand.relative_depths, atol=1e-5)
    assert hand.root_depth == pytest.approx(xyz[root, 2], rel=1e-9)
    np.testing.assert_allclose(hand.keypoint_scores, SCORE, atol=1e-6)
    assert hand.score == pytest.approx(SCORE, abs=1e-6)
    assert (hand.handedness, hand.handedness_score) == (HandPose.HANDEDNESS_RIGHT, pytest.approx(P_RIGHT, abs=1e-6))
    assert hand.track_id >= 1
    return xyz


def test_good_frame_gives_hand_pose_array_tf_and_markers(probe: Probe, node_a: Proc, const_model):
    from visualization_msgs.msg import Marker

    from hand_pose_25d_msgs.msg import HandPose

    _, t_uv, t_z = const_model
    stamp = probe.send_good()
    msg = probe.wait_answer(stamp)
    assert msg.header.frame_id == GOOD_FRAME and _stamp_ns(msg.header.stamp) == stamp
    assert len(msg.hands) == 1
    hand = msg.hands[0]
    assert hand.header == msg.header
    xyz = _check_hand(hand, K_GOOD, None, expected_uv(t_uv, FULL_BOX))
    assert hand.scale_source == HandPose.SCALE_BONE_PRIOR
    # metric scale from the bone-length prior: least squares of the bones against the model's prior
    prior = ModelConfig().bone_prior()
    d = np.array([np.linalg.norm(xyz[c] - xyz[p]) for p, c in prior])
    mu = np.array(list(prior.values()))
    assert float(np.sum(mu * d) / np.sum(d * d)) == pytest.approx(1.0, abs=1e-6)

    # TF: one frame per keypoint, parent = the image's frame, translation = the keypoint
    tf = probe.wait(
        lambda: [m for m in probe.received("/tf") if m.transforms and _stamp_ns(m.transforms[0].header.stamp) == stamp]
    )
    assert tf, "no /tf for the frame"
    transforms = {t.child_frame_id: t for m in tf for t in m.transforms}
    assert sorted(transforms) == sorted(f"hand_{n}" for n in KEYPOINT_NAMES)
    assert "hand_wrist" in transforms and "hand_index_tip" in transforms
    for k, name in enumerate(KEYPOINT_NAMES):
        t = transforms[f"hand_{name}"]
        assert t.header.frame_id == GOOD_FRAME
        tr = t.transform.translation
        assert (tr.x, tr.y, tr.z) == pytest.approx(tuple(xyz[k]), abs=1e-9)
        assert t.transform.rotation.w == 1.0

    # markers: joints and bones in the camera frame, with the configured lifetime
    markers = probe.wait(
        lambda: [m for m in probe.received("/markers") if m.markers and _stamp_ns(m.markers[0].header.stamp) == stamp]
    )
    assert markers, "no markers for the frame"
    ms = {mk.type: mk for mk in markers[0].markers}
    assert set(ms) == {Marker.SPHERE_LIST, Marker.LINE_LIST}
    for mk in ms.values():
        assert mk.header.frame_id == GOOD_FRAME
        assert (mk.lifetime.sec, mk.lifetime.nanosec) == (0, 500_000_000)
    joints = np.array([[p.x, p.y, p.z] for p in ms[Marker.SPHERE_LIST].points])
    np.testing.assert_allclose(joints, xyz, atol=1e-9)
    assert len(ms[Marker.LINE_LIST].points) == 40

    # the next frame continues the same track
    stamp2 = probe.send_good()
    msg2 = probe.wait_answer(stamp2)
    assert [h.track_id for h in msg2.hands] == [hand.track_id]


def test_live_intrinsics_and_distortion_are_used(probe: Probe, node_a: Proc, const_model):
    _, t_uv, _ = const_model
    uv = expected_uv(t_uv, FULL_BOX)
    K2 = np.array([[1100.0, 0.0, 300.0], [0.0, 1050.0, 250.0], [0.0, 0.0, 1.0]])
    D = (-0.25, 0.08, 0.001, -0.002, 0.0)
    depths = {}
    for name, K, dist in (("K", K_GOOD, None), ("K2", K2, None), ("K2+D", K2, D)):
        stamp = probe.send_good(K=K, D=dist if dist is not None else (0.0,) * 5)
        hand = probe.wait_answer(stamp).hands[0]
        xyz = _check_hand(hand, K, dist, uv)  # re-projection with exactly this camera_info
        depths[name] = xyz
    assert depths["K2"][0, 2] > 1.4 * depths["K"][0, 2]  # longer focal length, same pixels: farther away
    # distortion undone: the distorted-camera 3D differs from the pinhole one by clearly more than noise
    assert np.abs(depths["K2+D"] - depths["K2"]).max() > 0.002


def test_roi_sets_the_crop(probe: Probe, node_a: Proc, const_model):
    from sensor_msgs.msg import RegionOfInterest

    _, t_uv, _ = const_model
    x, y, w, h = 300, 150, 120, 160
    for _ in range(5):  # as a detector would, repeatedly (the node's roi subscription is best effort)
        probe.roi_pub.publish(RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h))
        time.sleep(0.04)
    stamp = probe.send_good()
    hand = probe.wait_answer(stamp).hands[0]
    box = CropBox.from_xywh(x, y, w, h, padding=ModelConfig().crop_padding)
    _check_hand(hand, K_GOOD, None, expected_uv(t_uv, box))
    assert (hand.crop.x_offset, hand.crop.y_offset, hand.crop.width, hand.crop.height) == box.clipped_roi(W, H)
    # frames every 0.2 s (within tracking.timeout, 3 s here) until the roi is older than tracking.roi_timeout
    # (1 s here): the hand is then tracked from its keypoints, and the tracked crop is the same box (fixed point)
    t_roi = time.monotonic()
    try:
        while time.monotonic() - t_roi < 1.6:
            time.sleep(0.2)
            hand2 = probe.wait_answer(probe.send_good()).hands[0]
            _check_hand(hand2, K_GOOD, None, expected_uv(t_uv, box))
            assert hand2.track_id == hand.track_id
    finally:  # one full-image frame: the track is the full-image hand again, as the other tests expect
        assert probe.set_params("/hand_pose_node", tracking__crop_mode="full")[0].successful
        probe.wait_answer(probe.send_good())
        assert probe.set_params("/hand_pose_node", tracking__crop_mode="auto")[0].successful
    hand3 = probe.wait_answer(probe.send_good()).hands[0]
    _check_hand(hand3, K_GOOD, None, expected_uv(t_uv, FULL_BOX))


def _bad_cases() -> Dict[str, Callable[[int], tuple]]:
    """name -> (stamp -> (image, camera_info or None, expected log regex))."""

    def rgb(stamp, frame, **kw):
        args = dict(width=W, height=H, encoding="rgb8", step=W * 3, data=_PATTERN.tobytes())
        args.update(kw)
        return raw_image(stamp, frame, **args)

    info = camera_info_msg

    nan = float("nan")
    return {
        "unsupported_encoding": lambda s: (
            rgb(s, "bad_enc", encoding="yuv422", step=W * 2, data=bytes(W * H * 2)),
            info(s, "bad_enc"),
            r"unsupported image encoding 'yuv422'",
        ),
        "depth_encoding": lambda s: (
            rgb(s, "bad_16u", encoding="16UC1", step=W * 2, data=bytes(W * H * 2)),
            info(s, "bad_16u"),
            r"unsupported image encoding '16UC1'",
        ),
        "data_shorter_than_step_x_height": lambda s: (
            rgb(s, "bad_short", data=_PATTERN.tobytes()[: W * 3 * (H - 1)]),
            info(s, "bad_short"),
            r"fewer than step\*height",
        ),
        "step_smaller_than_row": lambda s: (
            rgb(s, "bad_step", step=W * 3 - 3, data=bytes((W * 3 - 3) * H)),
            info(s, "bad_step"),
            r"step 1917 is smaller than one row",
        ),
        "K_all_zero": lambda s: (rgb(s, "bad_k0"), info(s, "bad_k0", K=np.zeros((3, 3))), r"K is all zeros"),
        "K_nan": lambda s: (rgb(s, "bad_knan"), info(s, "bad_knan", K=np.full((3, 3), nan)), r"K contains NaN"),
        "D_nan": lambda s: (rgb(s, "bad_dnan"), info(s, "bad_dnan", D=(0.1, nan, 0.0, 0.0, 0.0)), r"D contains NaN"),
        "camera_info_never_arrives": lambda s: (
            rgb(s, "cam_without_info"),
            None,
            r"no camera_info (for frame 'cam_without_info'|received)",
        ),
        "image_1x1": lambda s: (
            rgb(s, "bad_1x1", width=1, height=1, step=3, data=bytes(3)),
            info(s, "bad_1x1", width=1, height=1),
            r"1x1 .*too small",
        ),
        "image_4000x3000": lambda s: (
            rgb(s, "bad_big", width=4000, height=3000, step=12000, data=bytes(12000 * 3000)),
            info(s, "bad_big", width=4000, height=3000),
            r"4000x3000 .*larger than input\.max_image_side",
        ),
        "camera_info_of_another_resolution": lambda s: (
            rgb(s, "bad_res"),
            info(s, "bad_res", width=1280, height=960),
            r"describes 1280x960 images",
        ),
    }


@pytest.mark.parametrize("case", sorted(_bad_cases()))
def test_bad_input_is_refused_logged_and_the_node_stays_up(probe: Probe, node_a: Proc, case: str):
    stamp = _now_ns()
    image, info, pattern = _bad_cases()[case](stamp)
    start = len(node_a.log())
    probe.send(image, info)
    assert node_a.wait_log(pattern, ANSWER_TIMEOUT_S, start), (
        f"no log line matching {pattern!r}; log since the frame:\n{node_a.log()[start:][-3000:]}"
    )
    assert node_a.alive()
    # still answers a good frame afterwards, and published nothing for the bad one
    good = probe.send_good()
    assert probe.wait_answer(good).hands, "the good frame after the bad one has no hand"
    assert probe.answers(stamp) == [], "a HandPoseArray was published for a refused frame"
    assert node_a.alive()


def test_camera_info_with_another_stamp_is_used_after_the_wait_with_a_warning(probe: Probe, node_a: Proc):
    """'exact' pairing, a driver that stamps camera_info 1 s off its images: after input.camera_info_wait (3 s
    here) the image is paired with the newest camera_info of its frame, and the node says so."""
    frame = "cam_info_other_stamp"
    start = len(node_a.log())
    stamp = _now_ns()
    probe.send(good_image(stamp, frame), camera_info_msg(stamp - 1_000_000_000, frame))
    answer = probe.wait_answer(stamp, timeout=ANSWER_TIMEOUT_S)
    assert answer.header.frame_id == frame and answer.hands
    log = node_a.log()[start:]
    assert re.search(r"using the newest camera_info of that frame \(stamp differs by 1 s\)", log), log[-2000:]
    assert "camera_info_sync to 'latest'" in log


def test_repeated_bad_input_is_throttled(probe: Probe, node_a: Proc):
    start = len(node_a.log())
    for _ in range(4):
        stamp = _now_ns()
        probe.send(
            raw_image(stamp, "bad_rgb16", width=W, height=H, encoding="rgb16", step=W * 6, data=bytes(W * H * 6)),
            camera_info_msg(stamp, "bad_rgb16"),
        )
        time.sleep(0.1)
    good = probe.send_good()
    probe.wait_answer(good)
    assert node_a.wait_log(r"frames: received", 3.0, start)  # a statistics line after the frames
    assert len(re.findall(r"unsupported image encoding 'rgb16'", node_a.log()[start:])) == 1  # warn_period 60 s


def _stats(proc: Proc, fresh: bool = False) -> Dict[str, int]:
    """Totals of the node's last statistics line (``fresh``: of the next line it writes)."""

    def lines() -> List[str]:
        return re.findall(r"frames: (received \d+(?:, \w+ \d+)*)", proc.log())

    n = len(lines())
    if fresh:
        assert wait_for(lambda: len(lines()) > n, 5.0), "no new statistics line"
    found = lines()
    assert found, "no statistics line in the node's log"
    return {k: int(v) for k, v in (item.split() for item in found[-1].split(", "))}


def test_only_the_newest_frame_is_processed_no_backlog(probe: Probe, node_a: Proc):
    """Six images arrive before any of their camera_infos (which then arrive newest first): the node processes
    only the newest, drops the five others and never works through a queue. Also shows that a camera_info
    arriving after its image still pairs with it."""
    n = 6
    before = _stats(node_a, fresh=True)
    stamps = [_now_ns() + i for i in range(n)]
    for s in stamps:
        probe.image_pub.publish(good_image(s))
        time.sleep(0.05)  # reliable KEEP_LAST: a faster burst would overwrite unacknowledged samples
    assert probe.wait(lambda: _stats(node_a)["received"] >= before["received"] + n, 5.0), _stats(node_a)
    for s in reversed(stamps):
        probe.info_pub.publish(camera_info_msg(s, GOOD_FRAME))
        time.sleep(0.02)
    assert probe.wait_answer(stamps[-1]).hands
    time.sleep(0.5)
    assert [s for s in stamps if probe.answers(s)] == [stamps[-1]]
    assert probe.wait(lambda: _stats(node_a)["dropped"] >= before["dropped"] + n - 1, 3.0), _stats(node_a)
    after = _stats(node_a)
    assert after["refused"] == before["refused"] and after["processed"] == before["processed"] + 1


def test_parameters_are_described_validated_and_dynamic(probe: Probe, node_a: Proc):
    from rcl_interfaces.srv import DescribeParameters

    from hand_pose_25d_msgs.msg import HandPose

    node = "/hand_pose_node"
    desc = probe.call(
        DescribeParameters,
        f"{node}/describe_parameters",
        DescribeParameters.Request(
            names=["pipeline.min_hand_score", "pipeline.backend", "input.depth", "tracking.crop_mode"]
        ),
    ).descriptors
    score, backend, depth, mode = desc
    assert "overall score" in score.description and not score.read_only
    assert (score.floating_point_range[0].from_value, score.floating_point_range[0].to_value) == (0.0, 1.0)
    assert backend.read_only and "onnxruntime" in backend.additional_constraints
    assert depth.read_only and (depth.integer_range[0].from_value, depth.integer_range[0].to_value) == (1, 100)
    assert not mode.read_only and "track" in mode.additional_constraints

    # refused: read-only, out of range, not one of the choices
    assert not probe.set_params(node, pipeline__backend="torch")[0].successful
    assert not probe.set_params(node, pipeline__min_hand_score=1.5)[0].successful
    bad = probe.set_params(node, tracking__crop_mode="bogus")[0]
    assert not bad.successful and "crop_mode" in bad.reason
    # rclpy's own parameters are not the node's business: use_sim_time can be switched (and back)
    assert probe.set_params(node, use_sim_time=True)[0].successful
    assert probe.set_params(node, use_sim_time=False)[0].successful

    stamp = probe.send_good()
    before = probe.wait_answer(stamp).hands[0]
    try:
        # a known hand length sets the metric scale: the same 2.5D pose scaled by hand_length / prior hand length
        assert probe.set_params(node, pipeline__hand_length=0.2)[0].successful
        stamp = probe.send_good()
        after = probe.wait_answer(stamp).hands[0]
        prior = ModelConfig().bone_prior()
        chain = (0,) + FINGERS["middle"]
        nominal = sum(prior[(a, b)] for a, b in zip(chain, chain[1:]))
        assert after.scale_source == HandPose.SCALE_HAND_SIZE
        assert after.scale == pytest.approx(before.scale * 0.2 / nominal, rel=1e-6)
        assert after.root_depth == pytest.approx(before.root_depth * 0.2 / nominal, rel=1e-6)
        # test-time augmentation switches at run time: the constant-hand model answers the same for the crop and
        # its mirror image, so the averaged handedness is exactly undecided and the 2D keypoints move
        bad = probe.set_params(node, pipeline__test_time_augmentation="flip")[0]
        assert not bad.successful and "test_time_augmentation" in bad.reason
        assert probe.set_params(node, pipeline__test_time_augmentation="mirror")[0].successful
        mirrored = probe.wait_answer(probe.send_good()).hands[0]
        assert mirrored.handedness_score == pytest.approx(0.5, abs=1e-6)
        moved = [abs(a.x - b.x) for a, b in zip(mirrored.keypoints_2d, after.keypoints_2d)]
        assert max(moved) > 1.0, moved
        assert probe.set_params(node, pipeline__test_time_augmentation="none")[0].successful
        # thresholds change at run time: no valid hand -> an empty array (never an invalid hand); a followed hand
        # needs only tracking.min_score (hysteresis), so both are raised
        assert all(
            r.successful for r in probe.set_params(node, pipeline__min_hand_score=0.95, tracking__min_score=0.95)
        )
        stamp = probe.send_good()
        empty = probe.wait_answer(stamp)
        assert empty.hands == [] and empty.header.frame_id == GOOD_FRAME
    finally:
        assert all(
            r.successful
            for r in probe.set_params(
                node,
                pipeline__hand_length=0.0,
                pipeline__min_hand_score=0.25,
                pipeline__test_time_augmentation="none",
                tracking__min_score=0.15,
            )
        )
    assert probe.wait_answer(probe.send_good()).hands


def test_debug_image_only_while_subscribed(probe: Probe, node_a: Proc):
    from sensor_msgs.msg import Image

    probe.wait_answer(probe.send_good())
    stats = _stats(node_a, fresh=True)
    assert stats["processed"] > 0 and stats["debug_images"] == 0, "debug images were rendered while nobody subscribed"
    sub = probe.subscribe("/debug_image", Image, 2)
    try:
        img = None
        for _ in range(10):  # until the node has discovered the subscription
            stamp = probe.send_good()
            probe.wait_answer(stamp)
            got = probe.wait(lambda s=stamp: probe.answers(s, "/debug_image"), 1.0)
            if got:
                img = got[0]
                break
        assert img is not None, "no debug image while subscribed"
        assert (img.width, img.height, img.encoding, img.header.frame_id) == (W, H, "rgb8", GOOD_FRAME)
        pixels = np.frombuffer(bytes(img.data), np.uint8).reshape(H, W, 3)
        changed = np.any(pixels != _PATTERN, axis=2)
        assert 500 < changed.sum() < 0.5 * W * H  # the skeleton and crop box are drawn, the rest is the image
    finally:
        probe.node.destroy_subscription(sub)


# --------------------------------------------------------------------------------------------------------------
# node B: the synthetic camera stream with default QoS


@pytest.fixture(scope="module")
def stream_model(workdir: Path):
    """(path, is_default): the trained default model when it exists, else an untrained export."""
    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL, True
    pytest.importorskip("torch")
    from hand_pose_25d.model.checkpoint import build_model
    from hand_pose_25d.model.onnx_export import export_onnx
    from hand_pose_25d.model.presets import preset_config

    cfg = preset_config("compact")
    return export_onnx(build_model(cfg), cfg, workdir / "untrained_compact.onnx"), False


@pytest.mark.slow
def test_synthetic_camera_stream_end_to_end(probe: Probe, node_a: Proc, stream_model, workdir: Path):
    from hand_pose_25d_msgs.msg import HandPose

    model, is_default = stream_model
    # the transport the README recommends for camera images (Fast DDS's default one drops most 640x480 frames sent
    # best effort: the node received 4 of 10 per second here)
    env = child_env(workdir, shm=True)
    # the node first, then the camera: the answers are to the stream's first frames, the same every run
    node = Proc(  # as shipped: the default palm detector (when set up) and temporal smoothing
        node_command(f"pipeline.model:={model}", "output.diagnostics_period:=2.0", ns="/b", mechanics=()),
        workdir / "node_b.log",
        env,
    )
    cam: Optional[Proc] = None
    try:
        assert node.wait_log(r"\bready: ", START_TIMEOUT_S), node.log()[-3000:]
        cam = Proc(
            ros_command(  # publishing starts once the node's image and this process's truth subscriptions match
                "hand_pose_25d.ros.synthetic_camera",
                {"rate": 10.0, "seed": STREAM_SEED, "wait_for_subscribers": 1},
                ns="/b",
            ),
            workdir / "camera.log",
            env,
        )

        def answered_frames() -> int:  # answers to frames whose ground truth this process has received
            truth = {_stamp_ns(m.header.stamp) for m in probe.received("/b/synthetic_camera/ground_truth")}
            return sum(_stamp_ns(m.header.stamp) in truth for m in probe.received("/b/hand_poses"))

        # a few seconds of stream: the first answers may come before the hand is acquired from the full frame
        ok = probe.wait(lambda: answered_frames() >= 40, 60.0)
        assert ok, f"too few HandPoseArrays from the stream\nnode:\n{node.log()[-2000:]}\ncamera:\n{cam.log()[-2000:]}"
        assert cam.alive() and node.alive()
        assert re.search(r"subscriptions to /b/image after [0-9.]+ s: publishing", cam.log()), cam.log()[-2000:]
    finally:
        node.stop()
        if cam is not None:
            cam.stop()
    truth = {_stamp_ns(m.header.stamp): m for m in probe.received("/b/synthetic_camera/ground_truth")}
    assert truth, "no ground truth received"
    # every answer to a frame published after this process received its first ground truth (reliable) has the
    # stamp of one of the camera's frames
    out = [m for m in probe.received("/b/hand_poses") if _stamp_ns(m.header.stamp) >= min(truth)]
    assert len(out) >= 5
    missing = [_stamp_ns(m.header.stamp) for m in out if _stamp_ns(m.header.stamp) not in truth]
    assert not missing, f"HandPoseArray stamps that are no frame of the camera: {missing}"
    matched = [(m, truth[_stamp_ns(m.header.stamp)]) for m in out]
    for m, gt in matched:
        assert m.header.frame_id == gt.header.frame_id == "camera_optical_frame"
        for h in m.hands:
            xyz = np.array([[p.x, p.y, p.z] for p in h.keypoints])
            assert np.all(np.isfinite(xyz)) and np.all(xyz[:, 2] > 0)
    gt0 = matched[0][1].hands[0]
    assert gt0.scale_source == HandPose.SCALE_HAND_SIZE and len(gt0.keypoints) == 21
    if not is_default:
        pytest.skip(
            f"accuracy not checked: {DEFAULT_MODEL.relative_to(REPO)} does not exist yet (the stream ran on "
            "an untrained network)"
        )
    if not re.search(r"\bready: .*palm detector \S+\.onnx", node.log()):
        pytest.skip(
            "accuracy not checked: no palm detector set up (hand-pose-25d setup-models); the stated figures "
            "are those of the shipped pipeline, detector included"
        )
    errors, rel_errors, found = [], [], 0
    for m, gt in matched:
        if not m.hands:
            continue
        found += 1
        p = np.array([[q.x, q.y, q.z] for q in m.hands[0].keypoints])
        g = np.array([[q.x, q.y, q.z] for q in gt.hands[0].keypoints])
        errors.append(np.linalg.norm(p - g, axis=1).mean())
        rel_errors.append(np.linalg.norm((p - p[0]) - (g - g[0]), axis=1).mean())
    print(
        f"stream: hand in {found}/{len(matched)} answers ({''.join('#' if m.hands else '.' for m, _ in matched)}); "
        f"median over frames of the mean keypoint error: root-relative {np.median(rel_errors) * 1000:.1f} mm, "
        f"camera frame {np.median(errors) * 1000:.1f} mm"
    )
    assert found >= MIN_FOUND * len(matched), f"a hand was found in only {found} of {len(matched)} frames"
    assert float(np.median(rel_errors)) < MAX_REL_ERROR_M, f"root-relative errors (m): {np.round(rel_errors, 4)}"
    assert float(np.median(errors)) < MAX_ABS_ERROR_M, f"absolute errors (m): {np.round(errors, 4)}"


# --------------------------------------------------------------------------------------------------------------
# start-up failures


@pytest.mark.parametrize("problem", ["missing", "corrupt", "bad_parameter", "missing_detector", "corrupt_detector"])
def test_start_up_failures_exit_non_zero_with_a_clear_error(ros_runtime, workdir: Path, problem: str):
    """A missing or corrupt model or detector file, or an invalid parameter: [FATAL] log line naming it, exit 1."""
    path = workdir / f"{problem}_model.onnx"
    params = [f"pipeline.model:={path}"]
    expected = {
        "missing": "model file not found",
        "corrupt": "not a valid ONNX model",
        "bad_parameter": "tracking.crop_mode: 'bogus' is not one of",
        "missing_detector": "palm detector model not found",
        "corrupt_detector": "not a valid ONNX model",
    }[problem]
    if problem.endswith("detector"):  # a good pose model, the detector asked for by path is broken
        params = [f"pipeline.model:={ros_runtime_model(workdir)}", f"pipeline.detector.model:={path}"]
    if problem.startswith("corrupt"):
        path.write_bytes(b"this is not an ONNX protobuf" * 100)
    if problem == "bad_parameter":
        params.append("tracking.crop_mode:=bogus")
    proc = Proc(node_command(*params), workdir / f"node_{problem}.log", child_env(workdir))
    try:
        rc = proc.p.wait(timeout=START_TIMEOUT_S)
    finally:
        proc.stop()
    log = proc.log()
    assert rc == 1, log
    assert re.search(r"\[FATAL\].*cannot start: .*" + re.escape(expected), log), log
    assert "Traceback" not in log
    if problem != "bad_parameter":
        assert str(path) in log


def ros_runtime_model(workdir: Path) -> Path:
    """The constant-hand ONNX model of these tests, written once into ``workdir``."""
    path = workdir / "constant_hand.onnx"
    if not path.is_file():
        build_constant_hand_onnx(path)
    return path


def test_without_its_default_detector_the_node_starts_and_says_so(ros_runtime, workdir: Path, tmp_path: Path):
    env = dict(child_env(workdir), HAND_POSE_25D_MODELS=str(tmp_path / "no_models"))
    cmd = node_command(f"pipeline.model:={ros_runtime_model(workdir)}", mechanics=("smoothing.enabled:=false",))
    proc = Proc(cmd, workdir / "node_no_detector.log", env)
    warning = r"\[WARN\].*no palm detector at .*no_models.*hand-pose-25d setup-models"
    try:
        ready = proc.wait_log(r"\bready: ", START_TIMEOUT_S)
        warned = proc.wait_log(warning, 5.0)  # logged just after the ready line
        log = proc.log()
    finally:
        proc.stop()
    assert ready, log
    assert warned, log


def test_an_aligned_depth_image_places_the_hand_and_a_bad_one_falls_back(probe: Probe, const_model, workdir: Path):
    """depth.enabled: a depth image that puts the (constant) hand 20 % nearer than the bone prior does moves it there
    (scale_source SCALE_DEPTH, prior_root_depth kept); a depth image of a wrong encoding, or none, leaves the bone
    prior's hand with a warning naming the problem. With smoothing on, every switch between the two sources gives
    that source's own position (no blend of the two published under one scale_source)."""
    from sensor_msgs.msg import CameraInfo, Image

    from hand_pose_25d_msgs.msg import HandPose, HandPoseArray

    # its own topics: node A listens on /image too
    ns = "/depth_test"
    depth_pub = probe.node.create_publisher(Image, f"{ns}/depth", probe.qos(10))
    image_pub = probe.node.create_publisher(Image, f"{ns}/image", probe.qos(10))
    info_pub = probe.node.create_publisher(CameraInfo, f"{ns}/camera_info", probe.qos(10))
    answers: List[Any] = []
    sub = probe.node.create_subscription(HandPoseArray, f"{ns}/hand_poses", answers.append, probe.qos(10))
    proc = Proc(
        node_command(
            f"pipeline.model:={const_model[0]}",
            "input.reliability:=reliable",
            "depth.enabled:=true",
            "depth.wait:=0.5",
            "output.warn_period:=0.0",
            "pipeline.num_threads:=1",
            "input.camera_info_wait:=3.0",
            ns=ns,
            # smoothing on (the default): each change of the hand's distance source must restart its filter
            mechanics=("pipeline.detector.model:=none",),
        ),
        workdir / "node_depth.log",
        child_env(workdir),
    )
    try:
        assert proc.wait_log(r"\bready: ", START_TIMEOUT_S), proc.log()[-3000:]
        assert probe.wait(lambda: depth_pub.get_subscription_count() > 0 and image_pub.get_subscription_count() > 0)
        time.sleep(0.5)

        def send(stamp: int, depth: Any = None) -> Any:
            if depth is not None:
                depth_pub.publish(depth)
                time.sleep(0.02)
            info_pub.publish(camera_info_msg(stamp, GOOD_FRAME))
            time.sleep(0.02)
            image_pub.publish(good_image(stamp))
            got = probe.wait(lambda: [m for m in list(answers) if _stamp_ns(m.header.stamp) == stamp])
            assert got, f"no answer for stamp {stamp}:\n{proc.log()[-2000:]}"
            return got[0].hands[0]

        plain = send(_now_ns())  # no depth image yet: the prior
        assert plain.scale_source == HandPose.SCALE_BONE_PRIOR
        assert probe.wait(lambda: "no depth image for frame" in proc.log())
        prior_xyz = np.array([[p.x, p.y, p.z] for p in plain.keypoints])
        uv = np.array([[p.x, p.y] for p in plain.keypoints_2d])
        # a depth image: 0.8 x the prior's depth of the nearest keypoint at every pixel, minus the joint offset
        # (the camera sees the skin); a wall at 3 m elsewhere
        mm = np.full((H, W), 3000, np.uint16)
        ys, xs = np.mgrid[0:H, 0:W]
        nearest = np.argmin((xs[..., None] - uv[:, 0]) ** 2 + (ys[..., None] - uv[:, 1]) ** 2, axis=-1)
        near = np.min((xs[..., None] - uv[:, 0]) ** 2 + (ys[..., None] - uv[:, 1]) ** 2, axis=-1) < 15**2
        mm[near] = np.round((0.8 * prior_xyz[nearest[near], 2] - 0.01) * 1000).astype(np.uint16)

        def send_with_depth(encoding: str = "16UC1") -> Any:
            stamp = _now_ns()
            d = raw_image(stamp, GOOD_FRAME, width=W, height=H, encoding=encoding, step=W * 2, data=mm.tobytes())
            return send(stamp, d)

        hand = send_with_depth()
        assert hand.scale_source == HandPose.SCALE_DEPTH, proc.log()[-2000:]
        assert hand.root_depth == pytest.approx(0.8 * plain.root_depth, rel=0.03)
        assert hand.prior_root_depth == pytest.approx(plain.root_depth) and hand.prior_scale == pytest.approx(
            plain.scale
        )
        bad = send_with_depth("bgr8")
        assert bad.scale_source == HandPose.SCALE_BONE_PRIOR and bad.root_depth == pytest.approx(plain.root_depth)
        assert probe.wait(
            lambda: f"depth image on {ns}/depth refused: depth encoding 'bgr8' is not supported" in proc.log()
        )
        # a depth image only 5 % nearer, then a bad one: the smoothing filter starts afresh when the hand's distance
        # changes source, so the fallback hand is the prior's own, not a blend labelled bone_prior (a defect the
        # stress run found: the fallback frame after a depth frame was published 5 % off the prior)
        mm[near] = np.round((0.95 * prior_xyz[nearest[near], 2] - 0.01) * 1000).astype(np.uint16)
        near_hand = send_with_depth()
        assert near_hand.scale_source == HandPose.SCALE_DEPTH
        assert near_hand.root_depth == pytest.approx(0.95 * plain.root_depth, rel=0.02)
        after = send_with_depth("bgr8")
        assert after.scale_source == HandPose.SCALE_BONE_PRIOR
        assert after.root_depth == pytest.approx(after.prior_root_depth, rel=1e-6)
        assert after.root_depth == pytest.approx(plain.root_depth, rel=1e-4)
    finally:
        proc.stop()
        for pub in (depth_pub, image_pub, info_pub):
            probe.node.destroy_publisher(pub)
        probe.node.destroy_subscription(sub)
    assert "Traceback" not in proc.log()
