"""``python -m hand_pose_25d.ros.stress``: a repeatable stress run of ``hand_pose_node`` as a real process.

Starts ``hand_pose_node`` (``python -m hand_pose_25d.ros.node --ros-args --params-file config/hand_pose.yaml -p
pipeline.model:=default -p pipeline.detector.model:=none ...``) on a private random ``ROS_DOMAIN_ID``, loopback
only (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, the shared-memory profile ``config/fastdds_shm.xml``), and
drives it from this process's own rclpy node (its own Context): it publishes images, camera_info and ROIs,
calls the parameter services and subscribes to ``hand_poses``, ``/tf`` and ``markers``. Cases:

1. ``image``: unsupported / unknown encodings, bad ``step`` / ``data`` sizes, zero / tiny / huge / 4K / 8K sizes,
   ``is_bigendian``, a frame_id without camera_info, odd stamps (zero, +1 h, going backwards);
2. ``camera_info``: K zero / NaN / inf / negative focal length, 0 / 4 / 8 / 14 distortion coefficients, an
   unknown distortion model, another size, none at all, only every 10th frame, stamped 0.2 s off;
3. ``roi`` and ``params``: ROIs outside the image or of zero / overflowing size; run-time parameters of the
   wrong type, out of range, of unknown choices, read-only (refused with a reason, old value kept);
4. ``startup``: missing / corrupt model or palm detector, unknown backend, invalid params file: ``[FATAL] ...
   cannot start``, exit status 1, no traceback;
5. ``overload``: 640x480 rgb8 at 30, 100 and 300 Hz: node CPU and RSS, frames sent / answered and the node's
   own received / processed / dropped counters, latency p50/p99 (stamp to ``HandPoseArray`` arrival); the p99
   at 100 and 300 Hz must stay within 2x the 30 Hz figure (only the newest frame is processed, no backlog);
6. ``faults``: a ``synthetic_camera`` killed with SIGKILL and restarted (the node answers again), SIGINT and
   SIGTERM of the node (exit 0, no traceback), a reliable publisher against the best-effort subscription;
7. ``soak``: 30 Hz for ``--duration`` s, RSS sampled, growth after warm-up < 5 %;
8. ``depth`` (node D: ``depth.enabled``): depth images of unsupported encodings (rgb8, mono8, 32FC3, nonsense),
   big-endian, bad ``step`` / ``data`` sizes, width / height 0, another size than the colour image's, all zeros /
   NaN / inf, a constant wall, another frame_id, stamps that never match, with every 10th frame only, at 300 Hz;
   where the depth image is missing or unusable the hand must be published with the bone prior's distance
   (``HandPose.scale_source`` SCALE_BONE_PRIOR, root depth = prior root depth) and a warning naming the problem;
   good ones (16UC1 / 32FC1, either byte order, padded rows) must place it (SCALE_DEPTH, near its true depth);
9. ``detector``: the node with ``pipeline.detector.model`` 'default' and no model file (starts, warns once), and
   (node C, when ``hand-pose-25d setup-models`` made the detector) frames without a hand at 300 Hz (30 Hz too in
   the full run): the palm detector runs on every processed frame, empty answers, newest frame only, no backlog,
   latency p50/p99. Run-time parameters of the detector / depth / tracking / smoothing groups are in ``params``.

``--only inputs,depth,startup,streams,detector`` runs some phases only.

Every refused input must get no ``HandPoseArray`` at all and a warning naming the problem; no process may crash,
print a traceback or hang. Every process started here is stopped (SIGINT, then SIGKILL after a timeout).
``--json PATH`` writes per-case results and the overload / soak figures; the console gets a table. Exit status
0 when every case passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import array
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..bench.stats import latency_stats
from ..detection.palm_detector import default_detector_path
from .demo import parse_node_stats
from .processes import STOP_TIMEOUT_S, Proc, child_env, config_dirs, config_file, ros_command

#: ``config/hand_pose.yaml`` and ``config/fastdds_shm.xml`` of the source tree or the installed share (None: not
#: found; the run then stops at once saying where it looked).
PARAMS_FILE = config_file("hand_pose.yaml")
SHM_PROFILE = config_file("fastdds_shm.xml")
START_TIMEOUT_S = 120.0
#: Namespaces of the nodes under test: B (root: streams), A (inputs), C (the palm detector), D (depth).
NAMESPACES = ("", "/a", "/c", "/d")
#: The phases of the run (``--only``): node A's input cases, node D's depth cases, start-up failures and signals,
#: node B's faults / overload / soak, node C's overload with the palm detector.
PHASES = ("inputs", "depth", "startup", "streams", "detector")
#: HandPose.scale_source codes.
SCALE_BONE_PRIOR, SCALE_DEPTH = 0, 2
ANSWER_TIMEOUT_S = 10.0
W, H = 640, 480


# --------------------------------------------------------------------------------------------------------------
# results


@dataclass
class CaseResult:
    """One case: what was sent, what was expected, what the node did, and the verdict."""

    group: str
    name: str
    sent: str
    expected: str
    passed: bool = False
    answered: Optional[bool] = None
    hands: Optional[int] = None
    log_matched: Optional[bool] = None
    detail: str = ""
    figures: Dict[str, Any] = field(default_factory=dict)
    skipped: bool = False  # not run (what it needs is missing): passed unless the run requires it


def _now_ns() -> int:
    return time.time_ns()


def _stamp(ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# --------------------------------------------------------------------------------------------------------------
# processes


def proc_cpu_s(pid: int) -> Optional[float]:
    """User + system CPU seconds of ``pid`` (``/proc/<pid>/stat``), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> Optional[float]:
    """Resident set size of ``pid`` in MiB (``VmRSS`` of ``/proc/<pid>/status``), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def node_command(
    *params: str, ns: Optional[str] = None, params_file: Optional[Path] = PARAMS_FILE, detector: str = "none"
) -> List[str]:
    """``python -m hand_pose_25d.ros.node --ros-args --params-file ... -p ...`` (default model; no detector unless
    ``detector`` names one: 'default' or a path)."""
    raw = ("pipeline.model:=default", f"pipeline.detector.model:={detector}") + tuple(params)
    return ros_command("hand_pose_25d.ros.node", ns=ns, params_file=params_file, raw=raw)


# --------------------------------------------------------------------------------------------------------------
# the stress process's own ROS node


class Prober:
    """This process's ROS node (own Context): publishes inputs, records outputs, calls parameter services."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rclpy.signals import SignalHandlerOptions
        from tf2_msgs.msg import TFMessage
        from visualization_msgs.msg import MarkerArray

        from hand_pose_25d_msgs.msg import HandPoseArray

        def qos(depth: int, reliable: bool = True) -> QoSProfile:
            return QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=depth,
                durability=DurabilityPolicy.VOLATILE,
                reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            )

        self.qos = qos
        self.ctx = Context()
        rclpy.init(context=self.ctx, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(f"hand_pose_stress_{os.getpid()}", context=self.ctx)
        self.lock = threading.Lock()
        # (topic, frame_id, stamp_ns) -> [(arrival time.time(), hands)]
        self.answers: Dict[Tuple[str, str, int], List[Tuple[float, int]]] = defaultdict(list)
        # (topic, frame_id, stamp_ns) -> the first answer's hands: what each one says of its distance and scale
        self.hand_fields: Dict[Tuple[str, str, int], List[Dict[str, float]]] = {}
        self.tf_msgs: Dict[str, int] = defaultdict(int)
        self.marker_msgs: Dict[str, int] = defaultdict(int)
        self._pubs: Dict[Tuple[str, str, bool], Any] = {}
        for ns in NAMESPACES:
            self.node.create_subscription(HandPoseArray, f"{ns}/hand_poses", self._on_poses(ns), qos(500))
            self.node.create_subscription(MarkerArray, f"{ns}/markers", self._on_markers(ns), qos(100))
        self.node.create_subscription(TFMessage, "/tf", self._on_tf, qos(200))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # the context was shut down
            pass

    def _on_poses(self, ns: str) -> Callable[[Any], None]:
        def cb(msg: Any) -> None:
            now = time.time()
            key = (ns, msg.header.frame_id, _ns(msg.header.stamp))
            with self.lock:
                self.answers[key].append((now, len(msg.hands)))
                if key not in self.hand_fields:
                    self.hand_fields[key] = [
                        {
                            "scale_source": int(h.scale_source),
                            "root_depth": float(h.root_depth),
                            "prior_root_depth": float(h.prior_root_depth),
                            "scale": float(h.scale),
                            "prior_scale": float(h.prior_scale),
                            "score": float(h.score),
                            "wrist_z": float(h.keypoints[0].z),
                        }
                        for h in msg.hands
                    ]

        return cb

    def _on_markers(self, ns: str) -> Callable[[Any], None]:
        def cb(msg: Any) -> None:
            with self.lock:
                self.marker_msgs[ns] += 1

        return cb

    def _on_tf(self, msg: Any) -> None:
        with self.lock:
            for t in msg.transforms:
                self.tf_msgs[t.header.frame_id] += 1

    def pub(self, ns: str, topic: str, kind: Any, reliable: bool = True) -> Any:
        """The (cached) publisher of ``kind`` on ``<ns>/<topic>``."""
        key = (ns, topic, reliable)
        if key not in self._pubs:
            self._pubs[key] = self.node.create_publisher(kind, f"{ns}/{topic}", self.qos(10, reliable))
        return self._pubs[key]

    def get(self, ns: str, frame: str, stamp_ns: int) -> List[Tuple[float, int]]:
        with self.lock:
            return list(self.answers.get((ns, frame, stamp_ns), []))

    def hands_of(self, ns: str, frame: str, stamp_ns: int) -> List[Dict[str, float]]:
        """The hands of the first answer for (frame, stamp): scale_source, root_depth, prior_root_depth, ..."""
        with self.lock:
            return list(self.hand_fields.get((ns, frame, stamp_ns), []))

    def frame_answers(self, ns: str, frame: str) -> Dict[int, Tuple[float, int]]:
        """stamp -> (first arrival, hands) of every answer for ``frame``."""
        with self.lock:
            return {k[2]: v[0] for k, v in self.answers.items() if k[0] == ns and k[1] == frame and v}

    def wait_answer(self, ns: str, frame: str, stamp_ns: int, timeout: float = ANSWER_TIMEOUT_S) -> Optional[int]:
        """Hands in the answer for (frame, stamp) within ``timeout`` s; None without an answer."""
        got = wait_for(lambda: self.get(ns, frame, stamp_ns), timeout)
        return got[0][1] if got else None

    def send(self, ns: str, image: Any, info: Any = None, reliable: bool = True, gap: float = 0.02) -> None:
        """camera_info (if any), then the image (``gap`` s later: see test_ros_node's Probe.send)."""
        from sensor_msgs.msg import CameraInfo, Image

        if info is not None:
            self.pub(ns, "camera_info", CameraInfo, reliable).publish(info)
            if gap:
                time.sleep(gap)
        self.pub(ns, "image", Image, reliable).publish(image)

    def wait_subscribers(self, ns: str, best_effort: bool = True, timeout: float = START_TIMEOUT_S) -> bool:
        """Until the node of namespace ``ns`` matched this process's image and camera_info publishers."""
        from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest

        pubs = [
            self.pub(ns, "image", Image, True),
            self.pub(ns, "camera_info", CameraInfo, True),
            self.pub(ns, "roi", RegionOfInterest, True),
        ]
        if best_effort:
            pubs += [self.pub(ns, "image", Image, False), self.pub(ns, "camera_info", CameraInfo, False)]
        return bool(
            wait_for(
                lambda: (
                    all(p.get_subscription_count() > 0 for p in pubs)
                    and self.node.count_publishers(f"{ns}/hand_poses") > 0
                ),
                timeout,
            )
        )

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 10.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise RuntimeError(f"service {name} not available")
            future = client.call_async(request)
            if not wait_for(future.done, timeout):
                raise RuntimeError(f"service {name} did not answer within {timeout} s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_param(self, node: str, name: str, value: Any) -> Any:
        """SetParameters of one parameter (value as a raw ``ParameterValue`` so wrong types can be sent)."""
        from rcl_interfaces.msg import Parameter as ParamMsg
        from rcl_interfaces.srv import SetParameters

        req = SetParameters.Request(parameters=[ParamMsg(name=name, value=_param_value(value))])
        return self.call(SetParameters, f"{node}/set_parameters", req).results[0]

    def get_param(self, node: str, name: str) -> Any:
        from rcl_interfaces.srv import GetParameters

        values = self.call(GetParameters, f"{node}/get_parameters", GetParameters.Request(names=[name])).values
        return _from_param_value(values[0]) if values else None

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)
        self._thread.join(timeout=5)


def _param_value(value: Any) -> Any:
    from rcl_interfaces.msg import ParameterType, ParameterValue

    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(value))


def _from_param_value(v: Any) -> Any:
    return {1: v.bool_value, 2: v.integer_value, 3: v.double_value, 4: v.string_value}.get(v.type)


def wait_for(predicate: Callable[[], Any], timeout: float) -> Any:
    """Poll ``predicate`` every 20 ms until it returns something true or ``timeout`` s pass; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


# --------------------------------------------------------------------------------------------------------------
# messages


def _good_frame() -> Any:
    """A rendered 640x480 frame (seed 11) in which the shipped model, searching the whole image without a detector as
    node A and D do, finds a valid hand: the first of a few candidate frames that passes (checked offline here).

    Raises ``RuntimeError`` when none does (the depth and input cases need a hand to compare with).
    """
    from ..data.synthetic.core import MultiHandSequence
    from ..data.synthetic.synthetic_config import SyntheticConfig, legacy_config
    from ..inference.pipeline import HandPoseEstimator
    from ..inference.pipeline_config import PipelineConfig
    from ..settings import from_dict

    est = HandPoseEstimator(from_dict(PipelineConfig, {"model": "default", "detector": {"model": "none"}}))
    tried = []
    for config in (legacy_config(), SyntheticConfig()):
        seq = MultiHandSequence(config, seed=11, width=W, height=H, fps=30.0, hands=1)
        for index in (240, 120, 180, 300, 360, 60, 420, 480, 540, 0):
            sample = seq.frame(index)[0]
            if any(r.valid for r in est.estimate(np.ascontiguousarray(sample.image, np.uint8), sample.K)):
                return sample
            tried.append(index)
    raise RuntimeError(
        f"the shipped model finds no hand in frames {tried} of seed 11: no good frame for the stress run"
    )


class Inputs:
    """The good 640x480 frame (a rendered hand the default model finds) and message builders."""

    def __init__(self) -> None:
        sample = _good_frame()
        self.image = np.ascontiguousarray(sample.image, dtype=np.uint8)
        self.K = np.asarray(sample.K, dtype=np.float64)
        self.data = self.image.tobytes()
        #: the frame's exact aligned depth (metres) and its true wrist depth
        self.depth_m = np.asarray(sample.depth, dtype=np.float32)
        self.true_wrist_z = float(sample.xyz[0, 2])
        # a frame without a hand (a smooth grey gradient): the palm detector finds nothing in it
        ramp = np.linspace(90, 170, W, dtype=np.float32)[None, :, None] + np.linspace(-20, 20, H)[:, None, None]
        self.no_hand_data = np.ascontiguousarray(np.broadcast_to(ramp, (H, W, 3)).astype(np.uint8)).tobytes()

    def depth_msg(
        self,
        stamp_ns: int,
        frame: str,
        *,
        depth_m: Optional[np.ndarray] = None,
        encoding: str = "16UC1",
        bigendian: int = 0,
        width: Optional[int] = None,
        height: Optional[int] = None,
        step: Optional[int] = None,
        data: Optional[bytes] = None,
    ) -> Any:
        """A depth image: ``depth_m`` (default: the frame's own) as 16UC1 millimetres or 32FC1 metres in the
        given byte order, or the raw ``data`` / ``step`` / size given."""
        from sensor_msgs.msg import Image

        d = self.depth_m if depth_m is None else np.asarray(depth_m, dtype=np.float32)
        order = ">" if bigendian else "<"
        if encoding == "32FC1":
            values = d.astype(order + "f4")
        else:
            with np.errstate(invalid="ignore"):
                mm = np.where(np.isfinite(d), np.clip(np.round(d * 1000.0), 0, 65535), 0)
            values = mm.astype(order + "u2")
        he, wi = d.shape
        msg = Image(height=he if height is None else height, width=wi if width is None else width, encoding=encoding)
        msg.is_bigendian = bigendian
        msg.step = wi * values.itemsize if step is None else step
        msg.header.stamp = _stamp(stamp_ns)
        msg.header.frame_id = frame
        msg.data = array.array("B", values.tobytes() if data is None else data)
        return msg

    def image_msg(
        self,
        stamp_ns: int,
        frame: str,
        *,
        width: int = W,
        height: int = H,
        encoding: str = "rgb8",
        step: Optional[int] = None,
        data: Optional[bytes] = None,
        bigendian: int = 0,
    ) -> Any:
        from sensor_msgs.msg import Image

        msg = Image(height=height, width=width, encoding=encoding, is_bigendian=bigendian)
        msg.step = width * 3 if step is None else step
        msg.header.stamp = _stamp(stamp_ns)
        msg.header.frame_id = frame
        msg.data = array.array("B", self.data if data is None else data)
        return msg

    def info_msg(
        self,
        stamp_ns: int,
        frame: str,
        *,
        K: Optional[np.ndarray] = None,
        D: Sequence[float] = (0.0,) * 5,
        model: str = "plumb_bob",
        width: int = W,
        height: int = H,
    ) -> Any:
        from sensor_msgs.msg import CameraInfo

        K = self.K if K is None else np.asarray(K, dtype=np.float64)
        info = CameraInfo(width=width, height=height, distortion_model=model)
        info.header.stamp = _stamp(stamp_ns)
        info.header.frame_id = frame
        info.k = [float(v) for v in K.ravel()]
        info.d = [float(v) for v in D]
        info.p = [float(v) for v in np.concatenate([K, np.zeros((3, 1))], axis=1).ravel()]
        return info


# --------------------------------------------------------------------------------------------------------------
# the stress run


class Stress:
    """The run: processes, the prober, the cases; :meth:`run` returns the JSON-able report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.short = bool(args.short)
        self.results: List[CaseResult] = []
        self.procs: List[Proc] = []
        self.work = Path(tempfile.mkdtemp(prefix="hand_pose_stress_"))
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.domain = args.domain_id if args.domain_id is not None else random.randint(1, 100)
        self.env = child_env(self.domain, self.logs, SHM_PROFILE)
        self.figures: Dict[str, Any] = {}
        self.prober: Optional[Prober] = None
        self.inputs: Optional[Inputs] = None
        self._phase_t = time.monotonic()

    # ---- helpers
    def start(self, name: str, args: List[str], env: Optional[Dict[str, str]] = None) -> Proc:
        proc = Proc(name, args, self.logs / f"{name}.log", self.env if env is None else env)
        self.procs.append(proc)
        return proc

    def phase_done(self, name: str) -> None:
        """Record the seconds since the previous phase ended (``figures.phase_s``)."""
        now = time.monotonic()
        self.figures.setdefault("phase_s", {})[name] = round(now - self._phase_t, 1)
        self._phase_t = now

    def add(self, result: CaseResult) -> CaseResult:
        self.results.append(result)
        mark = "ok  " if result.passed else "FAIL"
        print(f"  {mark} {result.group:<11} {result.name:<32} {result.detail[:90]}", flush=True)
        return result

    def wait_ready(self, proc: Proc) -> bool:
        return proc.wait_log(r"\bready: ", START_TIMEOUT_S) is not None

    # ---- 1-3: inputs against node A (namespace /a, reliable input so that 4K frames arrive whole)
    def input_case(
        self,
        group: str,
        name: str,
        node: Proc,
        image: Any,
        info: Any,
        accept: bool,
        pattern: Optional[str],
        sent: str,
        roi: Any = None,
        absent: Optional[str] = None,
    ) -> CaseResult:
        ns = "/a"
        p, inp = self.prober, self.inputs
        frame, stamp = image.header.frame_id, _ns(image.header.stamp)
        start = len(node.log())
        if roi is not None:
            from sensor_msgs.msg import RegionOfInterest

            p.pub(ns, "roi", RegionOfInterest).publish(roi)
            time.sleep(0.05)
        p.send(ns, image, info)
        res = CaseResult(group, name, sent, "accepted: answered" if accept else "refused: no answer, warning")
        wait_s = ANSWER_TIMEOUT_S + 1.0  # camera_info_wait is 0.5 s
        if accept:
            hands = p.wait_answer(ns, frame, stamp, wait_s)
            res.answered, res.hands = hands is not None, hands
            res.log_matched = None if pattern is None else node.wait_log(pattern, 3.0, start) is not None
            res.passed = bool(res.answered) and res.log_matched is not False
        else:
            res.log_matched = node.wait_log(pattern, wait_s, start) is not None
            # a good frame afterwards: the node still answers, and then nothing came for the refused one
            good = _now_ns()
            p.send(ns, inp.image_msg(good, "stress_good"), inp.info_msg(good, "stress_good"))
            good_ok = p.wait_answer(ns, "stress_good", good) is not None
            time.sleep(0.1)
            res.answered = bool(p.get(ns, frame, stamp))
            res.passed = res.log_matched and good_ok and not res.answered
            if not good_ok:
                res.detail = "the good frame afterwards was not answered; "
        if absent is not None and re.search(absent, node.log()[start:]):
            res.passed = False
            res.detail += f"unexpected log line matching {absent!r}; "
        res.passed = bool(res.passed and node.alive())
        m = re.search(pattern, node.log()[start:]) if pattern else None
        line = ""
        if m:
            s = node.log()[start:]
            line = s[s.rfind("\n", 0, m.start()) + 1 : s.find("\n", m.end())].strip()
            line = re.sub(r"^\[\w+\] \[[\d.]+\] \[[\w/]+\]: ", "", line)
        res.detail += f"answered={res.answered} hands={res.hands} " + (f"log: {line[:300]}" if line else "")
        if not node.alive():
            res.detail += " NODE DIED"
        return self.add(res)

    def image_cases(self, node: Proc) -> None:
        inp = self.inputs
        n = _now_ns
        pix = inp.data

        def img(frame: str, **kw: Any) -> Tuple[Any, Any]:
            s = n()
            wi, he = kw.get("width", W), kw.get("height", H)
            return inp.image_msg(s, frame, **kw), inp.info_msg(s, frame, width=wi, height=he)

        unsupported = r"unsupported image encoding '{}'"
        for enc, bpp in (("yuv422", 2), ("bayer_rggb8", 1), ("16UC1", 2), ("32FC1", 4), ("mono16", 2)):
            f = f"stress_enc_{enc}"
            im, info = img(f, encoding=enc, step=W * bpp, data=bytes(W * H * bpp))
            self.input_case(
                "image", f"encoding {enc}", node, im, info, False, unsupported.format(enc), f"{enc} 640x480"
            )
        im, info = img("stress_enc_nonsense", encoding="nonsense", step=W * 3)
        self.input_case("image", "encoding nonsense", node, im, info, False, unsupported.format("nonsense"), "")
        im, info = img("stress_step_small", step=W * 3 - 3, data=pix[: (W * 3 - 3) * H])
        self.input_case("image", "step too small", node, im, info, False, r"step 1917 is smaller than one row", "")
        step = W * 3 + 64
        padded = np.zeros((H, step), np.uint8)
        padded[:, : W * 3] = inp.image.reshape(H, W * 3)
        im, info = img("stress_step_large", step=step, data=padded.tobytes())
        self.input_case("image", "step > width*3 (padded rows)", node, im, info, True, None, f"step {step}")
        im, info = img("stress_data_short", data=pix[: W * 3 * (H - 1)])
        self.input_case("image", "data shorter than step*height", node, im, info, False, r"fewer than step\*height", "")
        im, info = img("stress_data_long", data=pix + bytes(4096))
        self.input_case(
            "image", "data longer than step*height", node, im, info, True, None, "4096 extra bytes (ignored)"
        )
        for wi, he in ((0, H), (W, 0), (1, 1)):
            f = f"stress_size_{wi}x{he}"
            im, info = img(f, width=wi, height=he, step=wi * 3, data=bytes(wi * he * 3))
            self.input_case("image", f"size {wi}x{he}", node, im, info, False, rf"{wi}x{he} .*too small", "")
        im, info = img("stress_huge_header", width=100000, height=100000, step=300000, data=bytes(1024))
        self.input_case(
            "image",
            "100000x100000 header, 1 KiB data",
            node,
            im,
            info,
            False,
            r"100000x100000 .*larger than input\.max_image_side",
            "",
        )
        import cv2

        big = cv2.resize(inp.image, (3840, 2160), interpolation=cv2.INTER_LINEAR)
        s = n()
        K4 = np.array([[3000.0, 0, 1919.5], [0, 3000.0, 1079.5], [0, 0, 1]])
        self.input_case(
            "image",
            "4K 3840x2160 rgb8",
            node,
            inp.image_msg(s, "stress_4k", width=3840, height=2160, data=big.tobytes()),
            inp.info_msg(s, "stress_4k", K=K4, width=3840, height=2160),
            True,
            None,
            "24.9 MB",
        )
        del big
        s = n()
        self.input_case(
            "image",
            "8K 7680x4320 rgb8",
            node,
            inp.image_msg(s, "stress_8k", width=7680, height=4320, data=bytes(7680 * 4320 * 3)),
            inp.info_msg(s, "stress_8k", width=7680, height=4320),
            False,
            r"7680x4320 .*larger than input\.max_image_side = 3840",
            "99.5 MB",
        )
        im, info = img("stress_bigendian", bigendian=1)
        self.input_case("image", "rgb8 with is_bigendian=1", node, im, info, True, None, "8-bit: no byte order")
        s = n()
        self.input_case(
            "image",
            "frame_id unlike camera_info's",
            node,
            inp.image_msg(s, "stress_fid_image"),
            inp.info_msg(s, "stress_fid_info"),
            False,
            r"\('stress_fid_image'\) refused after waiting .*no camera_info for frame 'stress_fid_image'",
            "image 'stress_fid_image', camera_info 'stress_fid_info'",
        )
        self.input_case(
            "image",
            "stamp zero",
            node,
            inp.image_msg(0, "stress_stamp0"),
            inp.info_msg(0, "stress_stamp0"),
            True,
            None,
            "stamp 0",
        )
        s = n() + 3600 * 10**9
        self.input_case(
            "image",
            "stamp +1 h",
            node,
            inp.image_msg(s, "stress_future"),
            inp.info_msg(s, "stress_future"),
            True,
            None,
            "stamp now + 3600 s",
        )
        t0 = n()
        for i in range(4):
            s = t0 - i * 500_000_000
            self.input_case(
                "image",
                f"stamps backwards #{i}",
                node,
                inp.image_msg(s, "stress_backwards"),
                inp.info_msg(s, "stress_backwards"),
                True,
                None,
                f"stamp now - {i * 0.5:g} s",
            )

    def camera_info_cases(self, node: Proc) -> None:
        inp, n = self.inputs, _now_ns
        nan, inf = float("nan"), float("inf")
        K = inp.K
        k_neg = K.copy()
        k_neg[0, 0] = -k_neg[0, 0]
        cases = [
            ("K all zero", dict(K=np.zeros((3, 3))), False, r"K is all zeros"),
            ("K with NaN", dict(K=np.where(np.eye(3) > 0, nan, K)), False, r"K contains NaN or infinite"),
            ("K with inf", dict(K=np.where(np.eye(3) > 0, inf, K)), False, r"K contains NaN or infinite"),
            ("negative focal length", dict(K=k_neg), False, r"focal lengths? .*positive"),
            ("D with 0 coefficients", dict(D=()), True, None),
            ("D with 4 coefficients", dict(D=(0.01, -0.005, 0.0005, 0.0002)), True, None),
            (
                "D with 8 (rational)",
                dict(D=(0.01, -0.005, 0.0005, 0.0002, 0.001, 0.0, 0.0, 0.0), model="rational_polynomial"),
                True,
                None,
            ),
            ("D with 14 (plumb_bob)", dict(D=(0.001,) * 14), False, r"plumb_bob distortion needs 4 or 5 coefficients"),
            (
                "D with 14 (rational)",
                dict(D=(0.001,) * 14, model="rational_polynomial"),
                False,
                r"rational_polynomial distortion needs 8 coefficients, got 14",
            ),
            (
                "unknown distortion model",
                dict(D=(0.1, 0.0, 0.0, 0.0), model="kannala_brandt_x"),
                False,
                r"distortion model 'kannala_brandt_x' is not supported",
            ),
            ("size unlike the image's", dict(width=1280, height=960), False, r"describes 1280x960 images"),
        ]
        for name, kw, accept, pattern in cases:
            f = "stress_ci_" + re.sub(r"\W+", "_", name)
            s = n()
            self.input_case(
                "camera_info",
                name,
                node,
                inp.image_msg(s, f),
                inp.info_msg(s, f, **kw),
                accept,
                pattern,
                ", ".join(f"{k}={np.asarray(v).ravel()[:4].tolist() if k in ('K', 'D') else v}" for k, v in kw.items()),
            )
        s = n()
        self.input_case(
            "camera_info",
            "none at all",
            node,
            inp.image_msg(s, "stress_ci_none"),
            None,
            False,
            r"\('stress_ci_none'\) refused after waiting .*no camera_info for frame 'stress_ci_none'",
            "image only",
        )
        s = n()
        self.input_case(
            "camera_info",
            "stamped 0.2 s off",
            node,
            inp.image_msg(s, "stress_ci_offset"),
            inp.info_msg(s - 200_000_000, "stress_ci_offset"),
            True,
            r"using the newest camera_info of that frame \(stamp differs by 0\.2 s\)",
            "camera_info stamp = image stamp - 0.2 s",
        )
        # only every 10th frame has a camera_info: 30 frames at 10 Hz
        p, f = self.prober, "stress_ci_every10"
        start = len(node.log())
        stamps = []
        for i in range(30):
            s = n()
            stamps.append(s)
            p.send("/a", inp.image_msg(s, f), inp.info_msg(s, f) if i % 10 == 0 else None)
            time.sleep(0.1)
        time.sleep(1.5)
        got = p.frame_answers("/a", f)
        with_info = [s for i, s in enumerate(stamps) if i % 10 == 0]
        fallback = re.search(r"using the newest camera_info of that frame", node.log()[start:]) is not None
        ok = all(s in got for s in with_info) and node.alive()
        self.add(
            CaseResult(
                "camera_info",
                "only every 10th frame",
                "30 frames at 10 Hz, camera_info with frames 0, 10, 20",
                "frames with camera_info answered; the others after the wait with the newest one, or dropped",
                passed=ok,
                answered=bool(got),
                hands=sum(h for _, h in got.values()),
                log_matched=fallback,
                detail=f"answered {len(got)}/30 (all 3 with camera_info: {all(s in got for s in with_info)}), "
                f"fallback warning: {fallback}",
            )
        )

    def roi_cases(self, node: Proc) -> None:
        from sensor_msgs.msg import RegionOfInterest

        inp, n = self.inputs, _now_ns
        cases = [
            ("outside the image", (5000, 5000, 100, 100), r"roi \(5000, 5000, 100, 100\) lies outside"),
            ("zero size (= no ROI)", (100, 100, 0, 0), None),
            ("x + width overflows the image", (600, 0, 2**32 - 1, 480), None),
            ("y + height overflows uint32", (0, 2**32 - 10, 100, 100), r"lies outside"),
        ]
        for name, (x, y, w, h), pattern in cases:
            absent = r"roi \(100, 100, 0, 0\)" if w == 0 else None
            f = "stress_roi_" + re.sub(r"\W+", "_", name)
            s = n()
            self.input_case(
                "roi",
                name,
                node,
                inp.image_msg(s, f),
                inp.info_msg(s, f),
                True,
                pattern,
                f"roi x={x} y={y} w={w} h={h}",
                roi=RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h),
                absent=absent,
            )
        time.sleep(1.0)  # let the last roi expire (tracking.roi_timeout 0.5 s)

    def param_cases(self, node: Proc) -> None:
        p = self.prober
        name_ = "/a/hand_pose_node"
        cases = [
            ("pipeline.min_hand_score", "high", "wrong type (string for float)"),
            ("pipeline.min_hand_score", 1, "wrong type (int for float)"),
            ("pipeline.min_hand_score", 1.5, "out of range"),
            ("pipeline.min_hand_score", float("nan"), "NaN"),
            ("input.max_image_side", 8, "below the minimum"),
            ("input.max_image_side", 100000, "above the maximum"),
            ("input.camera_info_wait", -1.0, "negative"),
            ("tracking.max_hands", 2.5, "wrong type (float for int)"),
            ("output.publish_tf", "yes", "wrong type (string for bool)"),
            ("tracking.crop_mode", "bogus", "unknown choice"),
            ("input.camera_info_sync", "sometimes", "unknown choice"),
            ("pipeline.backend", "torch", "read-only"),
            ("output.frame_prefix", "bad prefix!", "read-only / invalid name"),
            # the detector, depth, tracking and smoothing groups
            ("pipeline.detector.min_score", "high", "wrong type (string for float)"),
            ("pipeline.detector.min_score", 1.5, "out of range"),
            ("pipeline.detector.nms_iou", float("nan"), "NaN"),
            ("pipeline.detector.roi_scale", 0.5, "below the minimum"),
            ("pipeline.detector.model", "/tmp/other_detector.onnx", "read-only"),
            ("depth.enabled", True, "read-only"),
            ("depth.sync_tolerance", -0.1, "negative"),
            ("depth.wait", "long", "wrong type (string for float)"),
            ("depth.window", 2.5, "wrong type (float for int)"),
            ("depth.window", 100, "above the maximum"),
            ("depth.min_inliers", 0, "below the minimum"),
            ("depth.max_disagreement", float("inf"), "infinite"),
            ("depth.inlier_m", float("nan"), "NaN"),
            ("tracking.max_hands", 0, "below the minimum"),
            ("tracking.redetect_interval", -1, "negative"),
            ("tracking.full_frame_fallback", "yes", "wrong type (string for bool)"),
            ("tracking.timeout", float("nan"), "NaN"),
            ("tracking.min_iou", float("-inf"), "minus infinity"),
            ("smoothing.enabled", 1, "wrong type (int for bool)"),
            ("smoothing.min_cutoff", 0.0, "below the minimum"),
            ("smoothing.beta", "fast", "wrong type (string for float)"),
            ("smoothing.d_cutoff", float("inf"), "infinite"),
            ("tracking.no_such_parameter", 1, "undeclared name"),
        ]
        for pname, value, what in cases:
            res = CaseResult("params", f"{pname} {what}", f"{pname} := {value!r}", "refused with a reason, old kept")
            try:
                before = p.get_param(name_, pname)
                r = p.set_param(name_, pname, value)
                after = p.get_param(name_, pname)
                same = before == after or (isinstance(before, float) and math.isnan(before) and math.isnan(after))
                res.passed = (not r.successful) and bool(r.reason) and same and node.alive()
                res.detail = f"successful={r.successful} kept={same} ({before!r} -> {after!r}) reason: {r.reason[:200]}"
            except Exception as exc:  # a service that does not answer
                res.detail = f"{type(exc).__name__}: {exc}"
            self.add(res)
        # still answers afterwards
        inp, s = self.inputs, _now_ns()
        p.send("/a", inp.image_msg(s, "stress_good"), inp.info_msg(s, "stress_good"))
        ok = p.wait_answer("/a", "stress_good", s) is not None
        self.add(CaseResult("params", "answers after the refusals", "a good frame", "answered", ok, ok, detail=""))

    def throttle_case(self, node: Proc) -> None:
        """The same bad input 6 times in 1.2 s with output.warn_period 5 s: one warning line."""
        p, inp = self.prober, self.inputs
        r = p.set_param("/a/hand_pose_node", "output.warn_period", 5.0)
        start = len(node.log())
        stamps = []
        for _ in range(6):
            s = _now_ns()
            stamps.append(s)
            im = inp.image_msg(s, "stress_throttle", encoding="yuv422", step=W * 2, data=bytes(W * H * 2))
            p.send("/a", im, inp.info_msg(s, "stress_throttle"))
            time.sleep(0.2)
        time.sleep(1.0)
        lines = re.findall(r"'stress_throttle'.*unsupported image encoding 'yuv422'", node.log()[start:])
        answered = any(p.get("/a", "stress_throttle", s) for s in stamps)
        self.add(
            CaseResult(
                "image",
                "repeated bad input is throttled",
                "6x yuv422 in 1.2 s, output.warn_period 5 s",
                "one warning line, no answer",
                passed=r.successful and len(lines) == 1 and not answered and node.alive(),
                answered=answered,
                log_matched=len(lines) == 1,
                detail=f"warning lines: {len(lines)}",
            )
        )

    # ---- 8: the aligned depth input against node D (namespace /d, depth.enabled, reliable input)
    def depth_case(
        self,
        node: Proc,
        name: str,
        depth: Optional[Callable[[int, str], Any]],
        expect: str,
        pattern: Optional[str],
        sent: str,
    ) -> CaseResult:
        """One colour frame (and camera_info) with the depth image ``depth(stamp, frame)`` sent just before it.

        ``expect`` 'depth': the hand's distance comes from the depth image (scale_source SCALE_DEPTH, the wrist
        within 10 % of its true depth); 'prior': the depth image is missing or unusable, so the bone prior is used
        (scale_source SCALE_BONE_PRIOR, root depth within 10 % of the no-depth answer: nothing from the bad depth is
        published) and a warning matching ``pattern`` names the problem.
        """
        from sensor_msgs.msg import Image

        ns = "/d"
        p, inp = self.prober, self.inputs
        frame = "stress_depth_" + re.sub(r"\W+", "_", name).strip("_")
        s = _now_ns()
        start = len(node.log())
        if depth is not None:
            p.pub(ns, "depth", Image).publish(depth(s, frame))
            time.sleep(0.03)
        p.send(ns, inp.image_msg(s, frame), inp.info_msg(s, frame))
        res = CaseResult(
            "depth",
            name,
            sent,
            "hand placed by the depth image (scale_source depth)"
            if expect == "depth"
            else "bone prior used (scale_source bone_prior, prior's distance), warning naming the problem",
        )
        n_hands = p.wait_answer(ns, frame, s, ANSWER_TIMEOUT_S)
        hands = p.hands_of(ns, frame, s)
        res.answered, res.hands = n_hands is not None, n_hands
        res.log_matched = None if pattern is None else node.wait_log(pattern, 3.0, start) is not None
        base = self.figures.get("depth_baseline_root_depth")
        why = ""
        if not hands:
            why = "no hand published"
        elif expect == "depth":
            bad = [h for h in hands if h["scale_source"] != SCALE_DEPTH]
            off = [h for h in hands if abs(h["wrist_z"] / inp.true_wrist_z - 1.0) > 0.10]
            why = "scale_source is not depth; " * bool(bad) + "wrist off its true depth by > 10 %; " * bool(off)
        else:
            bad = [h for h in hands if h["scale_source"] != SCALE_BONE_PRIOR]
            moved = [
                h
                for h in hands
                if not (
                    math.isfinite(h["root_depth"])
                    and abs(h["root_depth"] / h["prior_root_depth"] - 1.0) <= 0.05
                    and (base is None or abs(h["root_depth"] / base - 1.0) <= 0.10)
                )
            ]
            why = "scale_source is not bone_prior; " * bool(bad) + "root depth not the prior's; " * bool(moved)
        res.passed = bool(res.answered) and not why and res.log_matched is not False and node.alive()
        m = re.search(pattern, node.log()[start:]) if pattern else None
        line = ""
        if m:
            text = node.log()[start:]
            line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.end())].strip()
            line = re.sub(r"^\[\w+\] \[[\d.]+\] \[[\w/]+\]: ", "", line)
        h0 = hands[0] if hands else {}
        res.detail = (
            why
            + f"hands={n_hands} scale_source={h0.get('scale_source')} root {h0.get('root_depth', float('nan')):.3f} m "
            f"(prior {h0.get('prior_root_depth', float('nan')):.3f}, wrist {h0.get('wrist_z', float('nan')):.3f}, true "
            f"{inp.true_wrist_z:.3f}) "
            + (f"log: {line[:240]}" if line else "")
            + ("" if pattern is None or res.log_matched else f"no log line matching {pattern!r}")
        )
        if not node.alive():
            res.detail += " NODE DIED"
        res.figures = {"hands": hands}
        return self.add(res)

    def depth_stream(
        self,
        node: Proc,
        rate: float,
        duration: float,
        frame: str,
        depth_every: int = 1,
        depth_rate_x: int = 1,
        depth_offset_s: float = 0.0,
    ) -> Dict[str, Any]:
        """Colour frames at ``rate`` Hz for ``duration`` s with a depth image with every ``depth_every``-th one (or
        ``depth_rate_x`` depth images per colour frame, the colour frame's stamp among them), stamped
        ``depth_offset_s`` from its colour frame. Returns stamps sent, which had depth, and the answers' hands."""
        from sensor_msgs.msg import Image

        p, inp = self.prober, self.inputs
        depth_pub = p.pub("/d", "depth", Image)
        dmsg = inp.depth_msg(0, frame)
        image, info = inp.image_msg(0, frame), inp.info_msg(0, frame)
        stamps, with_depth = [], []
        sub = 1.0 / (rate * depth_rate_x)
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < duration:
            target = t0 + i * sub
            now = time.monotonic()
            if target > now:
                time.sleep(target - now)
            s = _now_ns()
            colour = i % depth_rate_x == 0
            k = i // depth_rate_x
            if (colour and k % depth_every == 0) or not colour:
                dmsg.header.stamp = _stamp(s + int(depth_offset_s * 1e9))
                depth_pub.publish(dmsg)
            if colour:
                image.header.stamp = info.header.stamp = _stamp(s)
                p.send("/d", image, info, gap=0.0)
                stamps.append(s)
                if k % depth_every == 0:
                    with_depth.append(s)
            i += 1
        time.sleep(1.5)
        return {"stamps": stamps, "with_depth": set(with_depth), "answers": p.frame_answers("/d", frame)}

    def depth_cases(self, node: Proc) -> None:
        inp, p = self.inputs, self.prober
        # the baseline: no depth image yet, the bone prior's distance (kept for the fallback checks)
        s = _now_ns()
        p.send("/d", inp.image_msg(s, "stress_depth_baseline"), inp.info_msg(s, "stress_depth_baseline"))
        p.wait_answer("/d", "stress_depth_baseline", s)
        base = p.hands_of("/d", "stress_depth_baseline", s)
        if base:
            self.figures["depth_baseline_root_depth"] = base[0]["root_depth"]
        self.add(
            CaseResult(
                "depth",
                "no depth image at all",
                "a colour frame, no depth image ever published",
                "bone prior used, hand published",
                passed=bool(base) and base[0]["scale_source"] == SCALE_BONE_PRIOR and node.alive(),
                answered=bool(base),
                hands=len(base),
                detail=f"root depth {base[0]['root_depth']:.3f} m (bone prior), true wrist {inp.true_wrist_z:.3f} m"
                if base
                else "no hand",
            )
        )
        d_m = inp.depth_m
        he, wi = d_m.shape
        mm = inp.depth_msg(0, "x").data.tobytes()
        nan, inf = float("nan"), float("inf")
        D = inp.depth_msg
        unsupported = r"depth image on /d/depth refused: depth encoding '{}' is not supported"
        prior_used = r"bone prior used"
        cases: List[Tuple[str, Callable[[int, str], Any], str, Optional[str], str]] = [
            ("16UC1 mm (control)", lambda s, f: D(s, f), "depth", None, "the frame's true depth in mm"),
            ("32FC1 m (control)", lambda s, f: D(s, f, encoding="32FC1"), "depth", None, "true depth in metres"),
            ("16UC1 big-endian", lambda s, f: D(s, f, bigendian=1), "depth", None, "is_bigendian=1, bytes swapped"),
            ("32FC1 big-endian", lambda s, f: D(s, f, encoding="32FC1", bigendian=1), "depth", None, "is_bigendian=1"),
        ]
        for enc, bpp in (("rgb8", 3), ("mono8", 1), ("32FC3", 12), ("nonsense", 2)):
            cases.append(
                (
                    f"encoding {enc}",
                    lambda s, f, enc=enc, bpp=bpp: D(s, f, encoding=enc, step=wi * bpp, data=bytes(wi * he * bpp)),
                    "prior",
                    unsupported.format(enc),
                    f"{enc} {wi}x{he}",
                )
            )
        padded = np.zeros((he, wi * 2 + 64), np.uint8)
        padded[:, : wi * 2] = np.frombuffer(mm, np.uint8).reshape(he, wi * 2)
        cases += [
            (
                "step too small",
                lambda s, f: D(s, f, step=wi * 2 - 2, data=mm[: (wi * 2 - 2) * he]),
                "prior",
                r"depth image step 1278 is smaller than width x 2 bytes",
                "step 1278",
            ),
            (
                "step too large (padded rows)",
                lambda s, f: D(s, f, step=wi * 2 + 64, data=padded.tobytes()),
                "depth",
                None,
                "step 1344, 64 padding bytes per row",
            ),
            (
                "step odd (padded by 1 byte)",
                lambda s, f: D(
                    s,
                    f,
                    step=wi * 2 + 1,
                    data=np.pad(np.frombuffer(mm, np.uint8).reshape(he, wi * 2), ((0, 0), (0, 1))).tobytes(),
                ),
                "depth",
                None,
                "step 1281",
            ),
            (
                "data shorter than height x step",
                lambda s, f: D(s, f, data=mm[: wi * 2 * (he - 1)]),
                "prior",
                r"depth image data has \d+ bytes, height x step needs",
                "one row missing",
            ),
            (
                "data longer than height x step",
                lambda s, f: D(s, f, data=mm + bytes(4096)),
                "depth",
                None,
                "4096 extra bytes (ignored)",
            ),
            (
                "width 0",
                lambda s, f: D(s, f, width=0, step=0, data=b""),
                "prior",
                r"depth image on /d/depth is 0x480",
                "",
            ),
            ("height 0", lambda s, f: D(s, f, height=0, data=b""), "prior", r"depth image on /d/depth is 640x0", ""),
            (
                "size unlike the colour image's",
                lambda s, f: D(s, f, depth_m=d_m[::2, ::2]),
                "prior",
                r"depth image on /d/depth is 320x240, the colour image 640x480",
                "320x240 depth for a 640x480 image",
            ),
            (
                "all zeros (16UC1)",
                lambda s, f: D(s, f, depth_m=np.zeros_like(d_m)),
                "prior",
                r"depth unusable for a hand \(too_few_valid\)",
                "0 mm everywhere: no measurement",
            ),
            (
                "all NaN (32FC1)",
                lambda s, f: D(s, f, encoding="32FC1", depth_m=np.full_like(d_m, nan)),
                "prior",
                r"depth unusable for a hand \(too_few_valid\)",
                "NaN everywhere",
            ),
            (
                "all inf (32FC1)",
                lambda s, f: D(s, f, encoding="32FC1", depth_m=np.full_like(d_m, inf)),
                "prior",
                r"depth unusable for a hand \(too_few_valid\)",
                "+inf everywhere",
            ),
            (
                "a constant wall at 3 m",
                lambda s, f: D(s, f, depth_m=np.full_like(d_m, 3.0)),
                "prior",
                r"the depth image puts it at|depth unusable for a hand",
                "3000 mm everywhere (the hand is at ~0.45 m)",
            ),
            (
                "a constant wall at 0.15 m",
                lambda s, f: D(s, f, depth_m=np.full_like(d_m, 0.15)),
                "prior",
                r"the depth image puts it at|depth unusable for a hand",
                "150 mm everywhere",
            ),
            (
                "depth frame_id unlike the image's",
                lambda s, f: D(s, f + "_depth_optical"),
                "prior",
                r"no depth image for frame 'stress_depth_depth_frame_id_unlike_the_image_s'.*bone prior used",
                "depth in '<frame>_depth_optical'",
            ),
        ]
        for name, build, expect, pattern, sent in cases:
            self.depth_case(node, name, build, expect, pattern or (None if expect == "depth" else prior_used), sent)
        time.sleep(0.6)  # the next frames start a fresh track (tracking.timeout 0.5 s)
        self.depth_stream_cases(node)

    def depth_stream_cases(self, node: Proc) -> None:
        short = self.short

        def sources(r: Dict[str, Any], stamps: Sequence[int]) -> List[int]:
            return [h["scale_source"] for st in stamps for h in self.prober.hands_of("/d", r["frame"], st)[:1]]

        # depth stamped 0.3 s before its colour frame: it never pairs
        start = len(node.log())
        r = self.depth_stream(node, 10.0, 1.0, "stress_depth_never", depth_offset_s=-0.3)
        r["frame"] = "stress_depth_never"
        src = sources(r, r["stamps"])
        warned = re.search(r"no depth image on /d/depth within depth\.sync_tolerance", node.log()[start:]) is not None
        ok = len(src) >= 0.8 * len(r["stamps"]) and all(v == SCALE_BONE_PRIOR for v in src) and warned
        self.add(
            CaseResult(
                "depth",
                "depth stamps never match",
                f"{len(r['stamps'])} frames at 10 Hz, each depth image stamped 0.3 s earlier",
                "every frame answered with the bone prior, a sync_tolerance warning",
                passed=ok and node.alive(),
                answered=bool(src),
                hands=len(src),
                log_matched=warned,
                detail=f"answered {len(r['answers'])}/{len(r['stamps'])}, scale_source {sorted(set(src))}, "
                f"warning: {warned}",
            )
        )
        # a depth image with every 10th colour frame only
        start = len(node.log())
        r = self.depth_stream(node, 10.0, 2.0 if short else 6.0, "stress_depth_every10", depth_every=10)
        r["frame"] = "stress_depth_every10"
        with_d = [st for st in r["stamps"] if st in r["with_depth"]]
        without = [st for st in r["stamps"] if st not in r["with_depth"]]
        src_with, src_without = sources(r, with_d), sources(r, without)
        ok = (
            len(src_with) == len(with_d)
            and all(v == SCALE_DEPTH for v in src_with)
            and len(src_without) >= 0.8 * len(without)
            and all(v == SCALE_BONE_PRIOR for v in src_without)
        )
        self.add(
            CaseResult(
                "depth",
                "depth with every 10th frame only",
                f"{len(r['stamps'])} frames at 10 Hz, depth with {len(with_d)} of them",
                "frames with depth placed by it, the others by the bone prior (never a stale depth image)",
                passed=ok and node.alive(),
                answered=bool(r["answers"]),
                hands=len(src_with) + len(src_without),
                detail=f"with depth: {len(src_with)}/{len(with_d)} answered, sources {sorted(set(src_with))}; "
                f"without: {len(src_without)}/{len(without)} answered, sources {sorted(set(src_without))}",
            )
        )
        # depth at 300 Hz, colour at 30 Hz (its stamp among the depth images')
        stats0 = self._fresh_stats(node)
        dur = 2.0 if short else float(self.args.overload_duration)
        r = self.depth_stream(node, 30.0, dur, "stress_depth_300hz", depth_rate_x=10)
        r["frame"] = "stress_depth_300hz"
        stats1 = self._fresh_stats(node)
        src = sources(r, r["stamps"])
        n_depth = sum(1 for v in src if v == SCALE_DEPTH)
        delta = {k: stats1.get(k, 0) - stats0.get(k, 0) for k in stats1}
        ok = len(src) >= 0.5 * len(r["stamps"]) and n_depth >= 0.9 * len(src) and node.alive()
        self.figures["depth_300hz"] = {"colour_frames": len(r["stamps"]), "answered": len(src), "by_depth": n_depth}
        self.add(
            CaseResult(
                "depth",
                "depth at 300 Hz, colour at 30 Hz",
                f"{len(r['stamps'])} colour frames and {10 * len(r['stamps'])} depth images in {dur:g} s",
                "colour frames answered, placed by their own depth image (paired by stamp), no backlog",
                passed=ok,
                answered=bool(src),
                hands=len(src),
                detail=f"answered {len(src)}/{len(r['stamps'])}, by depth {n_depth}, node {delta.get('received')}/"
                f"{delta.get('processed')}/{delta.get('dropped')} recv/proc/drop",
            )
        )

    def depth_throttle_case(self, node: Proc) -> None:
        """Two different faults of 16UC1 depth images, 3 times each in 1.2 s with output.warn_period 5 s: one
        warning line for each fault (throttled per problem, not per encoding)."""
        from sensor_msgs.msg import Image

        p, inp = self.prober, self.inputs
        r = p.set_param("/d/hand_pose_node", "output.warn_period", 5.0)
        start = len(node.log())
        mm = inp.depth_msg(0, "x").data.tobytes()
        stamps = []
        for i in range(6):
            s = _now_ns()
            stamps.append(s)
            if i % 2 == 0:
                d = inp.depth_msg(s, "stress_depth_throttle", step=W * 2 - 2, data=mm[: (W * 2 - 2) * H])
            else:
                d = inp.depth_msg(s, "stress_depth_throttle", data=mm[: W * 2 * (H - 1)])
            p.pub("/d", "depth", Image).publish(d)
            time.sleep(0.03)
            p.send("/d", inp.image_msg(s, "stress_depth_throttle"), inp.info_msg(s, "stress_depth_throttle"))
            time.sleep(0.2)
        time.sleep(1.0)
        log = node.log()[start:]
        n_step = len(re.findall(r"refused: depth image step 1278 is smaller", log))
        n_data = len(re.findall(r"refused: depth image data has \d+ bytes", log))
        answered = sum(1 for s in stamps if p.get("/d", "stress_depth_throttle", s))
        self.add(
            CaseResult(
                "depth",
                "repeated bad depth is throttled",
                "3x a too-small step and 3x too little data (16UC1) in 1.2 s, output.warn_period 5 s",
                "one warning line per problem, frames answered with the bone prior",
                passed=r.successful and n_step == 1 and n_data == 1 and answered == 6 and node.alive(),
                answered=answered > 0,
                log_matched=n_step == 1 and n_data == 1,
                detail=f"warning lines: step {n_step}, data {n_data}; answered {answered}/6",
            )
        )

    def no_detector_case(self, node: Proc) -> None:
        """Node D runs with pipeline.detector.model 'default' and an empty models folder: it warned once."""
        lines = re.findall(r"\[WARN\].*no palm detector at .*setup-models", node.log())
        ready = re.search(r"ready: .*no palm detector at", node.log()) is not None
        self.add(
            CaseResult(
                "detector",
                "no detector model available",
                "pipeline.detector.model default, HAND_POSE_25D_MODELS an empty folder",
                "starts, says so in the ready line, one warning (not one per frame), answers",
                passed=len(lines) == 1 and ready and node.alive(),
                log_matched=len(lines) == 1,
                detail=f"warning lines: {len(lines)}, ready line names it: {ready}; "
                + (lines[0].split("]: ", 1)[-1][:200] if lines else ""),
            )
        )

    # ---- 4 and 6b: processes that must fail at start-up / stop cleanly
    def startup_and_signal_cases(self) -> None:
        bad_yaml = self.work / "invalid.yaml"
        bad_yaml.write_text("/**:\n  ros__parameters:\n    pipeline: {model: [unclosed\n  - : :\n")
        corrupt = self.work / "corrupt.onnx"
        corrupt.write_bytes(b"this is not an ONNX protobuf" * 100)
        missing = self.work / "missing.onnx"
        corrupt_det = self.work / "corrupt_palm_detector.onnx"
        corrupt_det.write_bytes(b"\x08\x07not a palm detector" * 200)
        cases = [
            (
                "detector model missing",
                node_command(detector=str(self.work / "no_such_palm_detector.onnx")),
                r"palm detector model not found",
            ),
            ("detector model corrupt", node_command(detector=str(corrupt_det)), r"corrupt_palm_detector\.onnx"),
            ("missing model", node_command(f"pipeline.model:={missing}"), r"model file not found"),
            ("corrupt .onnx", node_command(f"pipeline.model:={corrupt}"), r"not a valid ONNX model"),
            ("unknown backend", node_command("pipeline.backend:=bogus"), r"backend"),
            (
                "invalid params file",
                node_command(params_file=bad_yaml),
                r"param|yaml|YAML",
            ),
            (
                "params file missing",
                node_command(params_file=self.work / "no_such_params.yaml"),
                r"param|yaml|YAML|file",
            ),
        ]
        procs = []
        for i, (name, cmd, pattern) in enumerate(cases):
            procs.append((name, cmd, pattern, self.start(f"startup_{i}", cmd)))
        sig_procs = [(sig, self.start(f"signal_{sig.name}", node_command())) for sig in (signal.SIGINT, signal.SIGTERM)]
        for name, cmd, pattern, proc in procs:
            try:
                rc = proc.p.wait(timeout=START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                rc = None
            proc.stop()
            log = proc.log()
            fatal = re.search(r"\[FATAL\].*cannot start: .*(" + pattern + ")", log)
            tb = "Traceback" in log
            line = next((ln for ln in log.splitlines() if "FATAL" in ln), log.strip().splitlines()[-1:] or [""])
            line = line if isinstance(line, str) else line[0]
            self.add(
                CaseResult(
                    "startup",
                    name,
                    " ".join(cmd[cmd.index("--ros-args") + 1 :])[-160:],
                    "[FATAL] ... cannot start: <reason>, exit 1, no traceback",
                    passed=rc == 1 and fatal is not None and not tb,
                    log_matched=fatal is not None,
                    detail=f"rc={rc} traceback={tb} log: {line.strip()[:300]}",
                )
            )
        for sig, proc in sig_procs:
            ready = self.wait_ready(proc)
            if ready:
                time.sleep(1.0)
            rc = proc.signal_and_wait(sig, STOP_TIMEOUT_S)
            proc.stop()
            log = proc.log()
            tb = "Traceback" in log
            self.add(
                CaseResult(
                    "faults",
                    f"node {sig.name}",
                    f"{sig.name} to a running node",
                    "exit 0 within 15 s, no traceback",
                    passed=ready and rc == 0 and not tb,
                    detail=f"ready={ready} rc={rc} hung={proc.killed} traceback={tb} "
                    f"stopped line: {'stopped: ' in log}",
                )
            )

    # ---- 5 and 7: streams against node B (root namespace, default best-effort input)
    def stream(
        self,
        node: Proc,
        rate: float,
        duration: float,
        frame: str,
        rss_every: float = 0.0,
        ns: str = "",
        data: Optional[bytes] = None,
    ) -> Dict[str, Any]:
        """Publish 640x480 rgb8 (``data``, default the hand frame) + camera_info at ``rate`` Hz for ``duration`` s
        (best effort) to the node of namespace ``ns``; the figures."""
        from sensor_msgs.msg import CameraInfo, Image

        p, inp = self.prober, self.inputs
        img_pub = p.pub(ns, "image", Image, False)
        info_pub = p.pub(ns, "camera_info", CameraInfo, False)
        image = inp.image_msg(0, frame, data=data)
        info = inp.info_msg(0, frame)
        stats_before = self._fresh_stats(node)
        cpu0, rss0, t_wall0 = proc_cpu_s(node.pid), proc_rss_mb(node.pid), time.monotonic()
        rss_samples: List[Tuple[float, float]] = [(0.0, rss0 or float("nan"))]
        sent: List[int] = []
        period = 1.0 / rate
        t0 = time.monotonic()
        next_rss = rss_every
        i = 0
        while True:
            now = time.monotonic()
            if now - t0 >= duration:
                break
            target = t0 + i * period
            if target > now:
                time.sleep(target - now)
            stamp = _now_ns()
            image.header.stamp = info.header.stamp = _stamp(stamp)
            info_pub.publish(info)
            img_pub.publish(image)
            sent.append(stamp)
            i += 1
            if rss_every and time.monotonic() - t0 >= next_rss:
                rss_samples.append((round(time.monotonic() - t0, 1), proc_rss_mb(node.pid) or float("nan")))
                next_rss += rss_every
        wall = time.monotonic() - t_wall0
        cpu1, rss1 = proc_cpu_s(node.pid), proc_rss_mb(node.pid)
        time.sleep(1.0)  # the last answers
        stats_after = self._fresh_stats(node)
        got = p.frame_answers(ns, frame)
        lat = [(got[s][0] - s / 1e9) * 1000.0 for s in sent if s in got]
        delta = {k: stats_after.get(k, 0) - stats_before.get(k, 0) for k in stats_after}
        backlog = delta.get("received", 0) - delta.get("processed", 0) - delta.get("dropped", 0)
        backlog -= delta.get("refused", 0) + delta.get("skipped", 0)
        return {
            "rate_hz": rate,
            "duration_s": round(wall, 1),
            "sent": len(sent),
            "achieved_send_rate_hz": round(len(sent) / max(wall, 1e-9), 1),
            "answered": len(lat),
            "answered_with_hands": sum(1 for s in sent if s in got and got[s][1] > 0),
            "node": delta,
            "not_received_by_node": max(0, len(sent) - delta.get("received", 0)),
            "unaccounted_in_node": backlog,
            "latency_ms": {
                k: (round(v, 1) if isinstance(v, float) else v) for k, v in latency_stats(lat, finite_only=True).items()
            },
            "node_cpu_percent": round((cpu1 - cpu0) / wall * 100.0, 1)
            if cpu0 is not None and cpu1 is not None
            else None,
            "node_rss_mb_start": round(rss0, 1) if rss0 else None,
            "node_rss_mb_end": round(rss1, 1) if rss1 else None,
            "rss_samples_mb": [(t, round(v, 1)) for t, v in rss_samples],
        }

    def _fresh_stats(self, node: Proc) -> Dict[str, int]:
        """The totals of the next statistics line the node writes (diagnostics_period 1 s)."""
        n = len(re.findall(r"frames: received", node.log()))
        wait_for(lambda: len(re.findall(r"frames: received", node.log())) > n, 3.0)
        return parse_node_stats(node.log())

    def overload_cases(self, node: Proc) -> None:
        dur = 3.0 if self.short else float(self.args.overload_duration)
        figures = {}
        for rate in (30.0, 100.0, 300.0):
            figures[f"{rate:g}hz"] = self.stream(node, rate, dur, f"stress_overload_{rate:g}")
            time.sleep(0.5)
        self.figures["overload"] = figures
        base = figures["30hz"]["latency_ms"]["p99"]
        for key in ("30hz", "100hz", "300hz"):
            f = figures[key]
            p99 = f["latency_ms"]["p99"]
            # the latency bound is judged in the full run only: --short runs inside the test suite, where a
            # timing must not decide pass or fail (a busy machine is not a defect); it is reported either way
            bounded = self.short or (p99 is not None and base is not None and (key == "30hz" or p99 <= 2.0 * base))
            no_backlog = f["unaccounted_in_node"] <= 8  # PendingFrames capacity
            newest_only = key == "30hz" or f["node"].get("dropped", 0) > 0 or f["answered"] >= 0.9 * f["sent"]
            ok = f["answered"] > 0 and bounded and no_backlog and newest_only and node.alive()
            self.add(
                CaseResult(
                    "overload",
                    f"640x480 rgb8 at {key}",
                    f"{f['sent']} frames in {f['duration_s']} s ({f['achieved_send_rate_hz']} Hz achieved)",
                    "answers; no backlog; older frames dropped; p99 <= 2x the 30 Hz p99 (judged in the full run)",
                    passed=ok,
                    answered=f["answered"] > 0,
                    hands=f["answered_with_hands"],
                    detail=f"answered {f['answered']}, node {f['node'].get('received')}/{f['node'].get('processed')}/"
                    f"{f['node'].get('dropped')} recv/proc/drop, p50 {f['latency_ms']['p50']} p99 {p99} ms "
                    f"(30 Hz p99 {base}), cpu {f['node_cpu_percent']} %, rss {f['node_rss_mb_start']}->"
                    f"{f['node_rss_mb_end']} MB",
                    figures=f,
                )
            )

    def detector_overload_cases(self, node: Proc) -> None:
        """Node C (namespace /c) with the palm detector, fed frames without a hand: the detector runs on every
        processed frame (the full-frame acquisition path, the most expensive one) and finds nothing."""
        dur = 3.0 if self.short else float(self.args.overload_duration)
        rates = (300.0,) if self.short else (30.0, 300.0)
        figures = {}
        for rate in rates:
            f = self.stream(node, rate, dur, f"stress_detector_{rate:g}", ns="/c", data=self.inputs.no_hand_data)
            figures[f"{rate:g}hz"] = f
            time.sleep(0.5)
            runs = f["node"].get("detector_runs", 0)
            proc = f["node"].get("processed", 0)
            no_backlog = f["unaccounted_in_node"] <= 8
            newest_only = rate < 100 or f["node"].get("dropped", 0) > 0 or f["answered"] >= 0.9 * f["sent"]
            every_frame = proc > 0 and runs >= proc
            lat = f["latency_ms"]
            ok = (
                f["answered"] > 0
                and f["answered_with_hands"] == 0
                and no_backlog
                and newest_only
                and every_frame
                and node.alive()
            )
            self.add(
                CaseResult(
                    "detector",
                    f"no-hand frames at {rate:g} Hz, detector on",
                    f"{f['sent']} 640x480 frames without a hand in {f['duration_s']} s "
                    f"({f['achieved_send_rate_hz']} Hz achieved)",
                    "detector on every processed frame, empty answers, newest frame only, no backlog",
                    passed=ok,
                    answered=f["answered"] > 0,
                    hands=f["answered_with_hands"],
                    detail=f"answered {f['answered']} (with hands {f['answered_with_hands']}), node "
                    f"{f['node'].get('received')}/{proc}/{f['node'].get('dropped')} recv/proc/drop, detector runs "
                    f"{runs}, p50 {lat['p50']} p99 {lat['p99']} ms, cpu {f['node_cpu_percent']} %",
                    figures=f,
                )
            )
        self.figures["overload_detector"] = figures

    def soak_case(self, node: Proc) -> None:
        dur = 12.0 if self.short else float(self.args.duration)
        every = 1.5 if self.short else 10.0
        f = self.stream(node, 30.0, dur, "stress_soak", rss_every=every)
        samples = [(t, v) for t, v in f["rss_samples_mb"] if math.isfinite(v)]
        warm_t = max(every, 0.3 * dur)
        after = [v for t, v in samples if t >= warm_t]
        growth = None
        if len(after) >= 2:
            growth = round((after[-1] - after[0]) / after[0] * 100.0, 2)
        f["warmup_s"] = warm_t
        f["rss_growth_after_warmup_percent"] = growth
        self.figures["soak"] = f
        ok = growth is not None and growth < 5.0 and f["answered"] > 0 and node.alive()
        self.add(
            CaseResult(
                "soak",
                f"30 Hz for {dur:g} s",
                f"{f['sent']} frames",
                "RSS growth after warm-up < 5 %, answers throughout",
                passed=ok,
                answered=f["answered"] > 0,
                hands=f["answered_with_hands"],
                detail=f"rss {after[0] if after else None}->{after[-1] if after else None} MB after {warm_t:g} s "
                f"(growth {growth} %), answered {f['answered']}/{f['sent']}, p99 {f['latency_ms']['p99']} ms",
                figures={"rss_growth_after_warmup_percent": growth},
            )
        )

    def fault_cases(self, node: Proc) -> None:
        p, inp = self.prober, self.inputs
        # reliable publisher -> best-effort subscription
        # up to 5 tries, 2 s apart: a best-effort reader gets nothing a writer sent before the reader matched it
        # (discovery is not symmetric), so the first frame right after start-up may be lost in transport
        tries, ok = 0, False
        while not ok and tries < 5:
            tries += 1
            s = _now_ns()
            p.send("", inp.image_msg(s, "stress_reliable_pub"), inp.info_msg(s, "stress_reliable_pub"), reliable=True)
            ok = p.wait_answer("", "stress_reliable_pub", s, 2.0) is not None
        self.add(
            CaseResult(
                "faults",
                "reliable publisher, best-effort sub",
                "frames from a reliable publisher (one per try)",
                "answered",
                passed=ok,
                answered=ok,
                detail=f"answered at try {tries}" if ok else f"no answer in {tries} tries",
            )
        )
        # the camera is SIGKILLed and restarted
        cam_cmd = ros_command(
            "hand_pose_25d.ros.synthetic_camera", {"rate": 10.0, "seed": 11, "frame_id": "stress_cam"}
        )
        cam = self.start("synthetic_camera_1", cam_cmd)
        n_first = len(
            wait_for(lambda: len(p.frame_answers("", "stress_cam")) >= 5 and p.frame_answers("", "stress_cam"), 90.0)
            or {}
        )
        cam.p.kill()
        cam.p.wait(timeout=5)
        cam.stop()
        time.sleep(1.0)
        t_restart = time.time()
        cam2 = self.start("synthetic_camera_2", cam_cmd)

        def after_restart() -> int:
            return sum(1 for st in p.frame_answers("", "stress_cam") if st / 1e9 > t_restart)

        n_second = wait_for(lambda: after_restart() >= 5 and after_restart(), 90.0) or 0
        cam2.stop()
        self.add(
            CaseResult(
                "faults",
                "camera SIGKILL + restart",
                "synthetic_camera at 10 Hz, SIGKILL, restart after 1 s",
                "answers before and after the restart, node alive",
                passed=n_first >= 5 and n_second >= 5 and node.alive(),
                answered=n_second >= 5,
                detail=f"answers before the kill {n_first}, after the restart {n_second}",
            )
        )

    # ---- the whole run
    def run(self) -> Dict[str, Any]:
        os.environ.update(
            {
                k: self.env[k]
                for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE")
            }
        )
        for var in ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS"):
            os.environ.pop(var, None)
        t_start = self._phase_t = time.monotonic()
        print(f"stress: ROS_DOMAIN_ID={self.domain}, logs in {self.logs}", flush=True)
        common = ("output.diagnostics_period:=1.0", "input.camera_info_wait:=0.5")
        inputs_params = ("input.reliability:=reliable", "output.warn_period:=0.0") + common
        detector = default_detector_path()
        only = set(self.args.only.split(",")) if self.args.only else set(PHASES)
        try:
            self.inputs = Inputs()
            self.prober = Prober()
            node_a = node_d = node_b = node_c = None
            if "inputs" in only:
                node_a = self.start("node_a", node_command(*inputs_params, ns="/a"))
            if "depth" in only:
                # node D: the depth input, and the detector 'default' without a model (an empty models folder)
                empty_models = self.work / "no_models"
                empty_models.mkdir()
                node_d = self.start(
                    "node_d",
                    node_command(*inputs_params, "depth.enabled:=true", ns="/d", detector="default"),
                    env=dict(self.env, HAND_POSE_25D_MODELS=str(empty_models)),
                )
            if node_a is not None:
                if not self.wait_ready(node_a) or not self.prober.wait_subscribers("/a", best_effort=False):
                    self.add(CaseResult("setup", "node A starts", "", "ready", detail=node_a.log()[-2000:]))
                    return self.report(t_start)
                self.image_cases(node_a)
                self.camera_info_cases(node_a)
                self.roi_cases(node_a)
                self.param_cases(node_a)
                self.throttle_case(node_a)
                self._clean_stop("node A (inputs)", node_a)
                self.phase_done("inputs")
            if node_d is not None:
                if not self.wait_ready(node_d) or not self.prober.wait_subscribers("/d", best_effort=False):
                    self.add(CaseResult("setup", "node D starts", "", "ready", detail=node_d.log()[-2000:]))
                    return self.report(t_start)
                self.depth_cases(node_d)
                self.depth_throttle_case(node_d)
                self.no_detector_case(node_d)
                self._clean_stop("node D (depth, no detector)", node_d)
                self.phase_done("depth")
            # nodes B and C start while the start-up cases run (their start-up overlaps; no timing is judged there)
            if "streams" in only:
                node_b = self.start("node_b", node_command(*common))
            if "detector" in only and detector.is_file():
                node_c = self.start("node_c", node_command(*common, ns="/c", detector=str(detector)))
            if "startup" in only:
                self.startup_and_signal_cases()
                self.phase_done("startup")
            if node_b is not None:
                if not self.wait_ready(node_b) or not self.prober.wait_subscribers(""):
                    self.add(CaseResult("setup", "node B starts", "", "ready", detail=node_b.log()[-2000:]))
                    return self.report(t_start)
                self.fault_cases(node_b)
                self.overload_cases(node_b)
                self.soak_case(node_b)
                self._clean_stop("node B (streams)", node_b)
                self.phase_done("streams")
            if "detector" not in only:
                pass
            elif node_c is None:
                self.add(
                    CaseResult(
                        "detector",
                        "overload with the palm detector",
                        "",
                        "a palm detector model to run",
                        passed=not self.args.require_detector,
                        skipped=True,
                        detail=f"SKIPPED: no palm detector at {detector} (make it with 'hand-pose-25d setup-models')",
                    )
                )
            elif not self.wait_ready(node_c) or not self.prober.wait_subscribers("/c"):
                self.add(CaseResult("setup", "node C starts", "", "ready", detail=node_c.log()[-2000:]))
            else:
                self.detector_overload_cases(node_c)
                self._clean_stop("node C (palm detector)", node_c)
                self.phase_done("detector")
        finally:
            for proc in self.procs:
                proc.stop()
            if self.prober is not None:
                self.prober.close()
        # startup cases check their own logs; the camera's first run was SIGKILLed on purpose
        checked = [q for q in self.procs if not q.name.startswith("startup_")]
        bad = [q.name for q in checked if "Traceback" in q.log()]
        hung = [q.name for q in checked if q.killed]
        self.add(
            CaseResult(
                "global",
                "no traceback or hang in any process",
                f"{len(checked)} processes",
                "no Traceback in any log, every process exited within 15 s of SIGINT",
                passed=not bad and not hung,
                detail=f"tracebacks: {bad or 'none'}, hung: {hung or 'none'}",
            )
        )
        return self.report(t_start)

    def _clean_stop(self, what: str, node: Proc) -> None:
        alive = node.alive()
        rc = node.stop()
        log = node.log()
        tb = "Traceback" in log
        crit = re.findall(r"^.*(?:\[ERROR\]|\[FATAL\]|unexpected error).*$", log, flags=re.M)
        self.add(
            CaseResult(
                "global",
                f"{what}: no crash, traceback, hang",
                "SIGINT at the end",
                "alive until stopped, exit 0, no traceback or error line",
                passed=alive and rc == 0 and not tb and not crit,
                detail=f"alive={alive} rc={rc} hung={node.killed} traceback={tb} errors={crit[:2]}",
            )
        )

    def report(self, t_start: float) -> Dict[str, Any]:
        tf = dict(self.prober.tf_msgs) if self.prober else {}
        markers = dict(self.prober.marker_msgs) if self.prober else {}
        return {
            "what": "hand_pose_node stress run (python -m hand_pose_25d.ros.stress)",
            "short": self.short,
            "domain_id": self.domain,
            "logs": str(self.logs),
            "elapsed_s": round(time.monotonic() - t_start, 1),
            "passed": bool(self.results) and all(r.passed for r in self.results),
            "cases": [asdict(r) for r in self.results],
            "figures": self.figures,
            "tf_transforms_by_parent_frame": tf,
            "marker_arrays_by_namespace": markers,
        }


def print_table(report: Dict[str, Any]) -> None:
    """The per-case table and the verdict."""
    rows = report["cases"]
    print()
    print(f"{'group':<11} {'case':<36} {'result':<6} detail")
    print("-" * 120)
    for r in rows:
        verdict = "skip" if r.get("skipped") else ("pass" if r["passed"] else "FAIL")
        print(f"{r['group']:<11} {r['name'][:36]:<36} {verdict:<6} {r['detail'][:140]}")
    n_pass = sum(1 for r in rows if r["passed"])
    print("-" * 120)
    print(f"{n_pass}/{len(rows)} cases passed in {report['elapsed_s']} s; logs: {report['logs']}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hand_pose_25d.ros.stress", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=1800.0, help="soak seconds at 30 Hz (default 1800)")
    p.add_argument("--overload-duration", type=float, default=60.0, help="seconds per overload rate (default 60)")
    p.add_argument(
        "--short",
        action="store_true",
        help="a quick run (make test): overload 3 s per rate, soak 12 s, short depth and detector streams",
    )
    p.add_argument("--json", type=Path, default=None, help="write the report here")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: random in 1..100)")
    p.add_argument(
        "--only",
        default="",
        help=f"comma-separated phases to run (default: all): {', '.join(PHASES)}",
    )
    p.add_argument(
        "--require-detector",
        action="store_true",
        help="fail (instead of skipping) the detector overload when no palm detector model exists",
    )
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns 0 when every case passed."""
    args = build_parser().parse_args(argv)
    missing = [n for n, f in (("hand_pose.yaml", PARAMS_FILE), ("fastdds_shm.xml", SHM_PROFILE)) if f is None]
    if missing:
        print(
            f"stress: cannot run: config/{' and config/'.join(missing)} not found in "
            + ", ".join(str(d) for d in config_dirs())
            + " (run it from the source tree, or install the package with its share/ files)",
            file=sys.stderr,
        )
        return 2
    report = Stress(args).run()
    print_table(report)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"report: {args.json}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
