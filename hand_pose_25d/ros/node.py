"""``hand_pose_node``: metric 3D hand pose from an RGB camera as a ROS 2 node.

Run it as ``ros2 run hand_pose_25d hand_pose_node`` or, where no ROS distro is installed,
``python -m hand_pose_25d.ros.node --ros-args --params-file config/hand_pose.yaml``. Topics, parameters and TF
frames are tabulated in ``docs/ros.md``.

Data flow: the ``image`` callback only checks the message's header fields and queues the image
(:class:`~hand_pose_25d.ros.runtime.PendingFrames`); a worker thread takes the newest image whose ``camera_info``
has arrived (or that is malformed and can be refused at once), drops every older one, chooses the crops
(ROI / tracking / full image), runs :class:`~hand_pose_25d.inference.pipeline.HandPoseEstimator` and publishes
``hand_poses``, TF, ``markers`` and ``debug_image``. Images that arrive while the worker is busy supersede the
waiting ones (counted as dropped), so a camera faster than the network never builds a backlog; an image whose
camera_info has not arrived after ``input.camera_info_wait`` seconds is refused.

What is published for which frame:

* a processed frame -> one ``HandPoseArray`` with the image's stamp and frame_id; ``hands`` holds the valid,
  finite hands only and is empty when there are none;
* a refused frame (bad encoding or size, no usable camera_info, ...) or a frame with nothing to look at
  ('roi' mode without an ROI) -> nothing at all (an empty array would claim that the image holds no hand)
  and a throttled warning naming the problem.

A missing or unloadable model at start-up is a fatal error: the node logs why and exits with status 1.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np
import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from visualization_msgs.msg import MarkerArray

from hand_pose_25d_msgs.msg import HandPoseArray

from ..depth import depth_from_buffer
from ..inference.pipeline import MIN_IMAGE_SIDE, HandPoseEstimator
from ..inference.smoothing import TrackSmoother
from ..inference.tracking import HandTracker, clip_roi
from ..visualize import draw_overlay
from .camera_info import CameraInfoBuffer, CameraInfoEntry, CameraInfoError, camera_model_from_msg, check_image_size
from .image_conversion import ImageConverter, ImageFormatError, check_input_encoding, image_to_numpy, rgb8_to_image_msg
from .markers import marker_array
from .messages import hand_pose_array_msg, hand_pose_msg, publish_problem, stamp_to_ns
from .node_config import NodeConfig
from .params import (
    NODE_NAME,
    config_from_values,
    declare_node_parameters,
    node_parameter_specs,
    updates_from_parameters,
)
from .runtime import FrameStats, KeyedThrottle, PendingFrames
from .tf import TransformBroadcaster, keypoint_frame_names, keypoint_transforms

__all__ = ["HandPoseNode", "main", "EXIT_STARTUP_FAILURE"]

#: Exit status when the node cannot start (bad parameters, missing or corrupt model, unavailable backend).
EXIT_STARTUP_FAILURE = 1


@dataclass
class _Frame:
    msg: Image
    arrival: float  # time.monotonic() at receipt
    stamp_ns: int
    problem: Optional[Tuple[str, str]]  # (throttle key, message) when the image itself is unusable


def _qos(depth: int, reliable: bool) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(depth),
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


class HandPoseNode(Node):
    """The hand pose node (see the module docstring).

    Args:
        node_name: ROS node name (``--ros-args -r __node:=...`` overrides it too).
        **kwargs: passed to ``rclpy.node.Node`` (e.g. ``parameter_overrides``, ``context``).

    Raises:
        ValueError: a parameter of the wrong type, out of range or not one of its choices; a corrupt model.
        FileNotFoundError: the model file does not exist.
        BackendUnavailable: the chosen runtime or device is not available.
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._specs = {s.name: s for s in node_parameter_specs()}
        self.config: NodeConfig = declare_node_parameters(self)
        self.estimator = HandPoseEstimator(self.config.pipeline)
        self.converter = ImageConverter()
        self.tracker = HandTracker()
        self.smoother = TrackSmoother()
        self.stats = FrameStats()
        self._throttle = KeyedThrottle()
        self._pending: PendingFrames[_Frame] = PendingFrames(capacity=8)
        self._infos = CameraInfoBuffer()
        self._infos_lock = threading.Lock()
        self._roi: Optional[tuple] = None  # (x_offset, y_offset, width, height, arrival monotonic)
        self._scale_sources: Dict[int, str] = {}  # track id -> scale_source of its last valid hand
        self._started = time.monotonic()
        self._last_report = self._started

        cfg = self.config
        reliable_input = cfg.input.reliability == "reliable"
        self.image_sub = self.create_subscription(Image, "image", self._on_image, _qos(cfg.input.depth, reliable_input))
        # camera_info with the image's reliability (as image_transport's CameraSubscriber); a deeper history so
        # that it can be paired with an image received a little later
        self.info_sub = self.create_subscription(
            CameraInfo, "camera_info", self._on_camera_info, _qos(max(10, cfg.input.depth), reliable_input)
        )
        # roi: best effort matches reliable and best-effort publishers alike
        self.roi_sub = self.create_subscription(RegionOfInterest, "roi", self._on_roi, _qos(5, False))
        # depth (optional): aligned to the colour image, paired by frame and stamp; the last few are kept
        self._depths: Deque[Tuple[str, int, Image]] = deque(maxlen=8)
        self._depths_lock = threading.Lock()
        self.depth_sub = None
        if cfg.depth.enabled:
            self.depth_sub = self.create_subscription(
                Image, "depth", self._on_depth, _qos(max(5, cfg.input.depth), reliable_input)
            )
        self.poses_pub = self.create_publisher(HandPoseArray, "hand_poses", _qos(10, True))
        self.markers_pub = self.create_publisher(MarkerArray, "markers", _qos(10, True))
        self.debug_pub = self.create_publisher(Image, "debug_image", _qos(1, True))
        self.tf = TransformBroadcaster(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._timer = self.create_timer(0.5, self._on_timer)
        self._worker = threading.Thread(target=self._work, name="hand_pose_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"ready: {self.estimator.backend.describe()}, input {self.estimator.model_config.input_size} px "
            f"({self.estimator.model_config.preset}); image {self.image_sub.topic_name} "
            f"({cfg.input.reliability}, depth {cfg.input.depth}), camera_info {self.info_sub.topic_name} "
            f"({cfg.input.camera_info_sync}), roi {self.roi_sub.topic_name}; publishing {self.poses_pub.topic_name}, "
            f"{self.markers_pub.topic_name}, {self.debug_pub.topic_name}, TF via {self.tf.backend} "
            f"({cfg.output.frame_prefix}_wrist ...); image conversion: {self.converter.backend}; "
            f"{self.estimator.detector_status}"
        )
        if self.estimator.detector is None and cfg.pipeline.detector.model == "default":
            self.get_logger().warning(self.estimator.detector_status)

    # ------------------------------------------------------------------------------------------ callbacks

    def _on_image(self, msg: Image) -> None:
        self.stats.count("received")
        frame = _Frame(msg, time.monotonic(), stamp_to_ns(msg.header.stamp), self._check_image(msg))
        evicted = self._pending.put(frame)
        if evicted:
            self.stats.count("dropped", len(evicted))

    def _check_image(self, msg: Image) -> Optional[Tuple[str, str]]:
        """Cheap checks of an image message (no pixel copy): (throttle key, message) of its problem, or None."""
        what = (
            f"image {msg.width}x{msg.height} {msg.encoding!r} ({msg.header.frame_id!r}) on {self.image_sub.topic_name}"
        )
        if min(msg.width, msg.height) < MIN_IMAGE_SIDE:
            return "image_small", f"{what} refused: too small, the network needs at least {MIN_IMAGE_SIDE} px per side"
        limit = self.config.input.max_image_side
        if max(msg.width, msg.height) > limit:
            return "image_large", (
                f"{what} refused: larger than input.max_image_side = {limit} px "
                "(downscale it, or raise the parameter up to 16384)"
            )
        try:
            check_input_encoding(msg.encoding)
            image_to_numpy(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data)
        except ImageFormatError as exc:
            return f"image_format:{exc}", f"{what} refused: {exc}"
        return None

    def _on_camera_info(self, msg: CameraInfo) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        try:
            entry = CameraInfoEntry(
                msg.header.frame_id, stamp, camera_model_from_msg(msg, self.config.input.rectified), None
            )
        except (CameraInfoError, ValueError) as exc:
            entry = CameraInfoEntry(msg.header.frame_id, stamp, None, str(exc))
        with self._infos_lock:
            self._infos.add(entry)
        self._pending.notify()

    def _on_depth(self, msg: Image) -> None:
        with self._depths_lock:
            self._depths.append((msg.header.frame_id, stamp_to_ns(msg.header.stamp), msg))

    def _depth_for(self, header: Any, stamp_ns: int, width: int, height: int) -> Optional[np.ndarray]:
        """The aligned depth image (metres) paired with an image, or None with a throttled warning saying why."""
        cfg = self.config.depth
        tol = int(round(cfg.sync_tolerance * 1e9))
        deadline = time.monotonic() + cfg.wait
        streaming = self.depth_sub is not None and self.count_publishers(self.depth_sub.topic_name) > 0
        while True:
            with self._depths_lock:
                same = [(abs(t - stamp_ns), t, m) for f, t, m in self._depths if f == header.frame_id]
            best = min(same, key=lambda x: x[0]) if same else None
            # wait for the depth image stamped like this one while a depth stream runs and none newer has come
            waiting = streaming and (best is None or (best[0] > tol and max(t for _, t, _ in same) < stamp_ns))
            if not waiting or time.monotonic() >= deadline or self._pending.closed:
                break
            time.sleep(0.002)
        same = [(d, m) for d, _, m in same]
        topic = self.depth_sub.topic_name if self.depth_sub is not None else "depth"
        if not same:
            self._warn("depth_missing", f"no depth image for frame {header.frame_id!r} on {topic}: bone prior used")
            return None
        dt, msg = min(same, key=lambda x: x[0])
        if dt > tol:
            self._warn(
                "depth_stamp",
                f"no depth image on {topic} within depth.sync_tolerance = {cfg.sync_tolerance:g} s of the image "
                f"(nearest {dt / 1e9:.3f} s away): bone prior used",
            )
            return None
        if (msg.width, msg.height) != (width, height):
            self._warn(
                "depth_size",
                f"depth image on {topic} is {msg.width}x{msg.height}, the colour image {width}x{height}: it must be "
                "aligned to the colour image (e.g. RealSense aligned_depth_to_color): bone prior used",
            )
            return None
        try:
            return depth_from_buffer(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data)
        except ValueError as exc:
            # throttled per problem (two different faults of one encoding both get their warning)
            self._warn(f"depth_format:{exc}", f"depth image on {topic} refused: {exc}; bone prior used")
            return None

    def _on_roi(self, msg: RegionOfInterest) -> None:
        self._roi = (msg.x_offset, msg.y_offset, msg.width, msg.height, time.monotonic())
        self.get_logger().debug(f"roi {self._roi[:4]}")

    def _on_set_parameters(self, params: Sequence[Any]) -> SetParametersResult:
        try:
            # parameters that are not settings of this node (use_sim_time, QoS overrides ...) are rclpy's own
            updates = {k: v for k, v in updates_from_parameters(params).items() if k in self._specs}
            if not updates:
                return SetParametersResult(successful=True)
            for name in updates:
                spec = self._specs[name]
                if not spec.dynamic:
                    raise ValueError(f"{name} is read-only: it can only be set at start-up")
            new = config_from_values(updates, self.config)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if new.input.rectified != self.config.input.rectified:
            with self._infos_lock:
                self._infos.clear()  # parsed with the other intrinsics source
        self.config = new
        self.get_logger().info("parameters changed: " + ", ".join(f"{k}={v!r}" for k, v in updates.items()))
        return SetParametersResult(successful=True)

    def _on_timer(self) -> None:
        cfg = self.config.output
        now = time.monotonic()
        if cfg.diagnostics_period > 0 and now - self._last_report >= cfg.diagnostics_period:
            self._last_report = now
            self.get_logger().info(self.stats.report(now))
        if self.stats.totals["received"] == 0 and now - self._started > 5.0:
            self._warn(
                "no_image",
                f"no image received on {self.image_sub.topic_name} for {now - self._started:.0f} s "
                f"({self.count_publishers(self.image_sub.topic_name)} publisher(s); reliability "
                f"{self.config.input.reliability}: a reliable subscription does not receive from best-effort "
                "publishers)",
            )

    # ------------------------------------------------------------------------------------------ worker

    def _warn(self, key: str, message: str) -> None:
        held = self._throttle.check(key, self.config.output.warn_period)
        if held is None:
            return
        suffix = f" ({held} more like this since the last warning)" if held else ""
        self.get_logger().warning(message + suffix)

    def _refuse(self, key: str, message: str) -> None:
        self.stats.count("refused")
        self._warn(key, message)

    def _match(self, frame: _Frame) -> Optional[CameraInfoEntry]:
        cfg = self.config.input
        tol = int(round(cfg.camera_info_tolerance * 1e9))
        with self._infos_lock:
            return self._infos.match(frame.msg.header.frame_id, frame.stamp_ns, cfg.camera_info_sync, tol)

    def _fallback(self, frame: _Frame) -> Optional[CameraInfoEntry]:
        """'exact' pairing found nothing within input.camera_info_wait: the newest camera_info of the frame."""
        if self.config.input.camera_info_sync != "exact" or not self._expired(frame):
            return None
        with self._infos_lock:
            return self._infos.match(frame.msg.header.frame_id, frame.stamp_ns, "latest", 0)

    def _ready(self, frame: _Frame) -> bool:
        return frame.problem is not None or self._match(frame) is not None or self._fallback(frame) is not None

    def _expired(self, frame: _Frame) -> bool:
        return time.monotonic() - frame.arrival > self.config.input.camera_info_wait

    def _refuse_without_camera_info(self, frame: _Frame) -> None:
        cfg = self.config.input
        header = frame.msg.header
        with self._infos_lock:
            why = self._infos.explain_missing(
                header.frame_id, frame.stamp_ns, int(round(cfg.camera_info_tolerance * 1e9)), self.info_sub.topic_name
            )
        self._refuse(
            f"camera_info:{header.frame_id}",
            f"image {frame.stamp_ns / 1e9:.6f} ({header.frame_id!r}) refused after waiting "
            f"{cfg.camera_info_wait:g} s (input.camera_info_wait): {why}",
        )

    def _work(self) -> None:
        while not self._pending.closed:
            try:
                chosen, superseded, expired, version = self._pending.select(self._ready, self._expired)
                if superseded:
                    self.stats.count("dropped", len(superseded))
                for frame in expired:
                    self._refuse_without_camera_info(frame)
                if chosen is None:
                    self._pending.wait(version, 0.05)  # a new image or camera_info, or time to expire one
                    continue
                self._process(chosen)
            except Exception as exc:  # keep the node alive; report the unexpected error
                if self._pending.closed or not rclpy.ok(context=self.context):
                    return
                self.stats.count("refused")
                self._warn(
                    "internal",
                    f"frame dropped after an unexpected error: {type(exc).__name__}: {exc}\n"
                    f"{traceback.format_exc(limit=6)}",
                )

    def stop(self) -> None:
        """Stop the worker thread (waits up to 5 s for the frame in progress)."""
        self._pending.close()
        if self._worker.is_alive() and threading.current_thread() is not self._worker:
            self._worker.join(timeout=5.0)

    def _process(self, frame: _Frame) -> None:
        cfg = self.config
        msg = frame.msg
        header = msg.header
        stamp_ns = frame.stamp_ns
        what = f"image {msg.width}x{msg.height} {msg.encoding!r} ({header.frame_id!r}) on {self.image_sub.topic_name}"

        # the image
        if frame.problem is not None:
            self._refuse(*frame.problem)
            return
        try:
            image = self.converter.to_rgb8(msg)
        except ImageFormatError as exc:
            self._refuse(f"image_format:{exc}", f"{what} refused: {exc}")
            return
        if not header.frame_id:
            self._warn("frame_id", f"{what} has an empty frame_id: TF frames and markers will have no parent")

        # its intrinsics
        entry = self._match(frame)
        if entry is None:
            entry = self._fallback(frame)
            if entry is None:  # the buffer was cleared meanwhile (input.rectified changed)
                self._refuse_without_camera_info(frame)
                return
            self._warn(
                f"camera_info_fallback:{header.frame_id}",
                f"no camera_info on {self.info_sub.topic_name} with the stamp of image {stamp_ns / 1e9:.6f} "
                f"({header.frame_id!r}) within input.camera_info_tolerance = {cfg.input.camera_info_tolerance:g} s "
                f"after waiting {cfg.input.camera_info_wait:g} s: using the newest camera_info of that frame (stamp "
                f"differs by {abs(entry.stamp_ns - stamp_ns) / 1e9:.6g} s). If the driver stamps camera_info "
                "differently from its images, set input.camera_info_sync to 'latest' (no wait)",
            )
        if entry.model is None:
            self._refuse(
                f"camera_info_invalid:{entry.error}", f"{what} refused: its camera_info is unusable: {entry.error}"
            )
            return
        try:
            check_image_size(entry.model, msg.width, msg.height)
        except CameraInfoError as exc:
            self._refuse(f"camera_info_size:{exc}", f"{what} refused: {exc}")
            return

        # where to look
        h, w = image.shape[:2]
        roi = None
        if self._roi is not None and time.monotonic() - self._roi[4] <= cfg.tracking.roi_timeout:
            roi = clip_roi(*self._roi[:4], w, h)
            # width or height 0: sensor_msgs/RegionOfInterest's "no ROI" (the full image), not a problem
            if roi is None and self._roi[2] > 0 and self._roi[3] > 0:
                self._warn("roi", f"roi {self._roi[:4]} lies outside the {w}x{h} image: ignored")
        t0 = time.perf_counter()
        self.estimator.config = cfg.pipeline  # dynamic thresholds (only this thread uses the estimator)
        planned, detections = self.tracker.plan_frame(cfg.tracking, self.estimator, image, stamp_ns, roi)
        if detections is not None:
            self.stats.count("detector_runs")
        if not planned and detections is None:
            self.stats.count("skipped")  # nothing to look at ('roi' mode without an ROI)
            return
        if not planned:  # the detector looked and found no hand (and tracking.full_frame_fallback is off)
            self.tracker.update(cfg.tracking, [], [], stamp_ns)
            self.smoother.retain([])
            self.poses_pub.publish(hand_pose_array_msg(header, []))
            self.stats.count("processed")
            self.stats.latency((time.monotonic() - frame.arrival) * 1000.0, (time.perf_counter() - t0) * 1000.0)
            return

        # the network and the 3D reconstruction
        depth = self._depth_for(header, stamp_ns, w, h) if cfg.depth.enabled else None
        try:
            results = self.estimator.estimate(
                image,
                entry.model.K,
                [p.request for p in planned],
                dist_coeffs=entry.model.dist_coeffs,
                depth=depth,
                depth_config=cfg.depth,
            )
        except ValueError as exc:
            self._refuse(f"pipeline:{exc}", f"{what} refused by the pipeline: {exc}")
            return
        infer_ms = (time.perf_counter() - t0) * 1000.0
        tracked = self.tracker.update(cfg.tracking, planned, results, stamp_ns)
        # a lost hand's filter is reset, and so is that of a hand whose distance changed source (the depth image <->
        # the bone prior): smoothing across the switch would publish a blend of the two under one scale_source
        ids = [th.track.track_id for th in tracked]
        last = self._scale_sources
        now = {th.track.track_id: th.result.scale_source for th in tracked if th.result.valid}
        self.smoother.retain(t for t in ids if t not in now or last.get(t, now[t]) == now[t])
        self._scale_sources = {t: now.get(t, last.get(t)) for t in ids if t in now or t in last}
        if cfg.smoothing.enabled:
            t_s = stamp_ns / 1e9
            for th in tracked:
                if th.result.valid:
                    xyz = self.smoother.smooth(th.track.track_id, th.result.xyz, t_s, cfg.smoothing)
                    th.result = dataclasses.replace(th.result, xyz=xyz, root_depth=float(xyz[th.result.root, 2]))

        for th in tracked:
            status = th.result.depth_status
            if status == "disagrees":
                r = th.result
                self._warn(
                    "depth_disagrees",
                    f"hand {th.track.track_id}: the depth image puts it at {r.depth_root_depth:.3f} m, the bone prior at "
                    f"{r.prior_root_depth:.3f} m (more than depth.max_disagreement = {cfg.depth.max_disagreement:g} "
                    "apart): a depth image of something else, or a hand far from the prior's size; bone prior used",
                )
            elif status not in ("", "ok"):
                self._warn(f"depth_unusable:{status}", f"depth unusable for a hand ({status}): bone prior used")

        # publish: only finite, valid hands
        hands, shown = [], []
        for th in tracked:
            problem = publish_problem(th.result)
            if problem is not None:
                self._warn("invalid_result", f"hand not published: {problem}")
                continue
            hands.append(hand_pose_msg(th.result, header, th.track.track_id, w, h))
            shown.append(th)
        self.poses_pub.publish(hand_pose_array_msg(header, hands))
        self.stats.count("processed")
        if hands:
            self.stats.count("with_hands")
        out = cfg.output
        if shown and out.publish_tf:
            transforms = []
            for th in shown:
                names = keypoint_frame_names(out.frame_prefix, th.track.slot)
                transforms += keypoint_transforms(th.result.xyz, header, names)
            self.tf.sendTransform(transforms)
        if shown and out.publish_markers:
            self.markers_pub.publish(
                marker_array(
                    [(th.track.slot, th.result.xyz) for th in shown], header, out.marker_lifetime, out.frame_prefix
                )
            )
        if out.debug_image and self.debug_pub.get_subscription_count() > 0:
            overlay = draw_overlay(
                image, [th.result.uv for th in shown], [(r.crop, p.source) for p, r in zip(planned, results)]
            )
            self.debug_pub.publish(rgb8_to_image_msg(overlay, header))
            self.stats.count("debug_images")
        self.stats.latency((time.monotonic() - frame.arrival) * 1000.0, infer_ms)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``hand_pose_node`` / ``python -m hand_pose_25d.ros.node``; returns the exit status."""
    try:
        rclpy.init(args=sys.argv if argv is None else argv)
    except Exception as exc:  # RCLError: an unreadable or invalid --params-file, malformed --ros-args
        # rcl's logging is not initialised yet: write the line in its format ourselves
        reason = " ".join(str(exc).split())
        print(f"[FATAL] [{NODE_NAME}]: cannot start: {type(exc).__name__}: {reason}", file=sys.stderr, flush=True)
        return EXIT_STARTUP_FAILURE
    try:
        node = HandPoseNode()
    except Exception as exc:  # FileNotFoundError, ValueError, BackendUnavailable, a runtime's own errors
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {type(exc).__name__}: {exc}")
        rclpy.try_shutdown()
        return EXIT_STARTUP_FAILURE
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop()
        summary = "stopped: " + node.stats.report()
        if node.context.ok():
            node.get_logger().info(summary)
        else:  # the signal handler already shut the context down: rosout is gone
            print(f"[INFO] [{node.get_name()}]: {summary}", file=sys.stderr, flush=True)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
