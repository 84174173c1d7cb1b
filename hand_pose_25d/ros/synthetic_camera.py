"""``synthetic_camera``: a ROS 2 camera node streaming rendered hands with their exact ground truth.

Publishes, for frame ``t`` of a :class:`hand_pose_25d.data.synthetic.MultiHandSequence` (one person's hand, or with
``hands:=2`` both, moving smoothly in front of a fixed background, seed ``seed``):

* ``image`` (``sensor_msgs/Image``, rgb8) and ``camera_info`` (``sensor_msgs/CameraInfo``: K, P = [K | 0],
  plumb_bob with zero distortion), both stamped with the time the frame was rendered, frame ``frame_id``;
* ``~/ground_truth`` (``hand_pose_25d_msgs/HandPoseArray``, same stamp and frame): each hand (track_id 1, 2) with the true 3D
  keypoints (metres), pixels, 2.5D relative depths (root 0, reference bone 0-9), root depth, scale (the true
  reference bone length, ``scale_source`` SCALE_HAND_SIZE), handedness and ``keypoint_scores`` = 1 for visible,
  0 for occluded keypoints;
* ``depth`` (``sensor_msgs/Image`` 16UC1 in millimetres, only with ``publish_depth``): the aligned depth image a
  sensor would give (noise growing with distance squared, dropped pixels, holes along depth edges, 0 = none);
* ``roi`` (``sensor_msgs/RegionOfInterest``, only with ``publish_roi``): the true box of the first hand's visible
  keypoints, as a perfect hand detector would.

Frame ``t`` is the frame of time ``t / rate`` since start, so the hand moves at its true speed. When rendering
is slower than ``rate`` (about 10 frames/s at 640x480 on one core), late ticks are skipped: the node publishes
what it can, on time, and logs the achieved rate.

Run: ``ros2 run hand_pose_25d synthetic_camera`` or ``python -m hand_pose_25d.ros.synthetic_camera
--ros-args -p rate:=10.0``.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np

from ..data.sample import HandSample
from ..depth import simulate_depth
from ..geometry import to_2p5d
from ..inference.tracking import clip_roi, keypoint_box
from ..settings import setting
from ..skeleton import DEFAULT_REF_BONE, DEFAULT_ROOT
from .messages import fill_hand_pose

__all__ = ["SyntheticCameraConfig", "camera_info_fields", "ground_truth_fields", "main"]

NODE_NAME = "synthetic_camera"


@dataclass
class SyntheticCameraConfig:
    """Parameters of the ``synthetic_camera`` node."""

    rate: float = setting(
        30.0, description="Frames per second to publish (ticks that rendering misses are skipped).", min=0.1, max=240.0
    )
    width: int = setting(640, description="Image width in pixels.", min=32, max=4096)
    height: int = setting(480, description="Image height in pixels.", min=32, max=4096)
    seed: int = setting(0, description="Seed of the sequence (hand, camera, background, motion).", min=0, max=2**31 - 1)
    hands: int = setting(
        1,
        description="Hands in view: 1, or 2 (a right hand on the image's right half, a left one on its left half, "
        "each moving on its own; ground truth track_id 1 and 2).",
        min=1,
        max=2,
    )
    static_frame: int = setting(
        -1,
        description="Hold the hands still as in this frame of the sequence (only the sensor noise changes); -1: they move.",
        min=-1,
        max=2**31 - 1,
    )
    frame_id: str = setting("camera_optical_frame", description="frame_id of the images (the camera's optical frame).")
    reliability: str = setting(
        "best_effort",
        description="QoS reliability of image and camera_info (best_effort: sensor-data QoS).",
        choices=("best_effort", "reliable"),
    )
    depth: int = setting(5, description="QoS history depth of image and camera_info.", min=1, max=100)
    publish_roi: bool = setting(False, description="Also publish the true hand box on roi (a perfect detector).")
    roi_padding: float = setting(
        0.0,
        description="Margin added on every side of the published roi, as a fraction of the box's larger side.",
        min=0.0,
        max=2.0,
    )
    publish_depth: bool = setting(
        False, description="Also publish an aligned depth image on 'depth' (16UC1, millimetres) as a sensor gives it."
    )
    depth_noise: float = setting(
        0.002, description="Depth noise std in metres at 1 m (it grows with the distance squared).", min=0.0, max=0.1
    )
    depth_dropout: float = setting(
        0.02,
        description="Fraction of depth pixels without a measurement (plus holes along depth edges).",
        min=0.0,
        max=1.0,
    )
    max_frames: int = setting(
        0, description="Stop after publishing this many frames (0: run until shut down).", min=0, max=2**31 - 1
    )
    wait_for_subscribers: int = setting(
        0,
        description="Start publishing once image has at least this many matched subscriptions and the ground truth "
        "one (at most 10 s, then anyway, with a warning), so that a measurement starting with the camera loses no "
        "frame to discovery; 0: at once, like a camera driver.",
        min=0,
        max=100,
    )


#: Longest wait for ``wait_for_subscribers``, seconds.
WAIT_FOR_SUBSCRIBERS_S = 10.0


def camera_info_fields(K: np.ndarray, width: int, height: int) -> dict:
    """Fields of the camera_info of an undistorted pinhole camera ``K`` (3, 3): k, p, d, distortion_model, size."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    P = np.concatenate([K, np.zeros((3, 1))], axis=1)
    return {
        "width": int(width),
        "height": int(height),
        "distortion_model": "plumb_bob",
        "d": [0.0] * 5,
        "k": [float(v) for v in K.ravel()],
        "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        "p": [float(v) for v in P.ravel()],
    }


def ground_truth_fields(sample: HandSample, track_id: int = 1) -> dict:
    """Keyword arguments of :func:`hand_pose_25d.ros.messages.fill_hand_pose` for the true hand of ``sample``."""
    if sample.xyz is None:
        raise ValueError("the sample carries no 3D ground truth")
    h, w = sample.image.shape[:2]
    _, z_rel = to_2p5d(sample.xyz, sample.K, root=DEFAULT_ROOT, ref_bone=DEFAULT_REF_BONE)
    a, b = DEFAULT_REF_BONE
    x0, y0, x1, y1 = keypoint_box(sample.uv)
    roi = clip_roi(int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1 - x0)) + 1, int(np.ceil(y1 - y0)) + 1, w, h)
    rx0, ry0, rx1, ry1 = roi if roi is not None else (0, 0, 0, 0)
    return {
        "track_id": int(track_id),
        "xyz": sample.xyz,
        "uv": sample.uv,
        "keypoint_scores": sample.visible.astype(np.float32),
        "z_rel": z_rel,
        "score": 1.0,
        "handedness": sample.handedness,
        "handedness_score": 1.0,
        "root": DEFAULT_ROOT,
        "ref_bone": DEFAULT_REF_BONE,
        "root_depth": float(sample.xyz[DEFAULT_ROOT, 2]),
        "scale": float(np.linalg.norm(sample.xyz[b] - sample.xyz[a])),
        "scale_source": "hand_size",
        "crop_roi": (int(rx0), int(ry0), int(rx1 - rx0), int(ry1 - ry0)),
    }


def _run_node(argv: Optional[List[str]]) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest

    from hand_pose_25d_msgs.msg import HandPose, HandPoseArray

    from ..data.synthetic import MultiHandSequence
    from .image_conversion import rgb8_to_image_msg
    from .params import declare_settings
    from .runtime import KeyedThrottle

    class SyntheticCameraNode(Node):
        """Renders and publishes frames on time from a thread (see the module docstring)."""

        def __init__(self) -> None:
            super().__init__(NODE_NAME)
            self.cfg: SyntheticCameraConfig = declare_settings(self, SyntheticCameraConfig())
            c = self.cfg
            # the renderer's defaults (a stream applies no training augmentation, see SyntheticSequence)
            self.seq = MultiHandSequence(seed=c.seed, width=c.width, height=c.height, fps=c.rate, hands=c.hands)
            reliability = ReliabilityPolicy.RELIABLE if c.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=c.depth,
                durability=DurabilityPolicy.VOLATILE,
                reliability=reliability,
            )
            reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
            self.image_pub = self.create_publisher(Image, "image", qos)
            self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos)
            self.gt_pub = self.create_publisher(HandPoseArray, "~/ground_truth", reliable)
            self.roi_pub = self.create_publisher(RegionOfInterest, "roi", qos) if c.publish_roi else None
            self.depth_pub = self.create_publisher(Image, "depth", qos) if c.publish_depth else None
            self._depth_rng = np.random.default_rng([c.seed, 77])
            self.published = 0
            self.skipped = 0
            self._throttle = KeyedThrottle()
            self._stop = threading.Event()
            self.done = threading.Event()
            self._thread = threading.Thread(target=self._loop, name="synthetic_camera", daemon=True)
            self._thread.start()
            self.get_logger().info(
                f"publishing {c.width}x{c.height} rgb8 at {c.rate:g} Hz on {self.image_pub.topic_name} "
                f"({c.reliability}), {self.info_pub.topic_name}, ground truth on {self.gt_pub.topic_name}; "
                f"seed {c.seed}, {self.seq.handedness} hand, frame {c.frame_id!r}"
            )

        def stop(self) -> None:
            self._stop.set()
            self._thread.join(timeout=5.0)

        def _wait_for_subscribers(self) -> None:
            n = self.cfg.wait_for_subscribers
            if n <= 0:
                return
            t = time.monotonic()
            while not self._stop.is_set() and time.monotonic() - t < WAIT_FOR_SUBSCRIBERS_S:
                if self.image_pub.get_subscription_count() >= n and self.gt_pub.get_subscription_count() >= 1:
                    self.get_logger().info(
                        f"{self.image_pub.get_subscription_count()} subscriptions to {self.image_pub.topic_name} "
                        f"after {time.monotonic() - t:.2f} s: publishing"
                    )
                    return
                self._stop.wait(0.02)
            self.get_logger().warning(
                f"{self.image_pub.get_subscription_count()} of {n} subscriptions to {self.image_pub.topic_name} "
                f"(ground truth: {self.gt_pub.get_subscription_count()}) after {WAIT_FOR_SUBSCRIBERS_S:g} s: "
                "publishing anyway"
            )

        def _loop(self) -> None:
            c = self.cfg
            period = 1.0 / c.rate
            self._wait_for_subscribers()
            t0 = time.monotonic()
            rendered_ms: List[float] = []
            tick = 0
            while not self._stop.is_set() and (c.max_frames == 0 or self.published < c.max_frames):
                now = time.monotonic()
                due = int((now - t0) / period)
                if due > tick:  # rendering fell behind: skip to the current tick
                    self.skipped += due - tick
                    tick = due
                t_render = time.perf_counter()
                samples = self.seq.frame(tick, c.static_frame if c.static_frame >= 0 else None)
                # stamped once the frame exists, as a camera driver stamps a frame once it is exposed: the
                # latency from the stamp to a HandPose is then transport + the node, not the rendering
                stamp = self.get_clock().now().to_msg()
                try:
                    self._publish(samples, stamp)
                except Exception as exc:  # context shut down while publishing
                    if not self.context.ok():
                        return
                    raise exc
                self.published += 1
                rendered_ms.append((time.perf_counter() - t_render) * 1000.0)
                if self.skipped and self._throttle.check("late", 5.0) is not None:
                    achieved = self.published / max(time.monotonic() - t0, 1e-9)
                    self.get_logger().warning(
                        f"rendering takes {np.mean(rendered_ms[-50:]):.0f} ms per frame, longer than the "
                        f"{period * 1000:.0f} ms period: publishing {achieved:.1f} Hz instead of {c.rate:g} Hz "
                        f"({self.skipped} ticks skipped so far)"
                    )
                tick += 1
                self._stop.wait(max(0.0, t0 + tick * period - time.monotonic()))
            self.done.set()

        def _publish(self, samples: List[HandSample], stamp: Any) -> None:
            c = self.cfg
            sample = samples[0]
            image = rgb8_to_image_msg(sample.image)
            image.header.stamp, image.header.frame_id = stamp, c.frame_id
            info = CameraInfo(**camera_info_fields(sample.K, c.width, c.height))
            info.header = image.header
            gt = HandPoseArray(header=image.header)
            all_fields = [ground_truth_fields(s, i + 1) for i, s in enumerate(samples)]
            fields = all_fields[0]
            gt.hands = [fill_hand_pose(HandPose(), header=image.header, **f) for f in all_fields]
            if self.depth_pub is not None and sample.depth is not None:
                sim = simulate_depth(sample.depth, self._depth_rng, noise_at_1m=c.depth_noise, dropout=c.depth_dropout)
                mm = np.where(np.isfinite(sim), np.clip(np.round(sim * 1000.0), 0, 65535), 0).astype(np.uint16)
                dmsg = Image(height=c.height, width=c.width, encoding="16UC1", is_bigendian=0, step=c.width * 2)
                dmsg.header = image.header
                dmsg.data = mm.tobytes()
                self.depth_pub.publish(dmsg)
            self.info_pub.publish(info)
            self.image_pub.publish(image)
            self.gt_pub.publish(gt)
            if self.roi_pub is not None:
                x, y, w, h = fields["crop_roi"]
                pad = int(round(c.roi_padding * max(w, h)))
                box = clip_roi(x - pad, y - pad, w + 2 * pad, h + 2 * pad, c.width, c.height)
                if box is not None:
                    x0, y0, x1, y1 = (int(v) for v in box)
                    self.roi_pub.publish(RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0))

    rclpy.init(args=sys.argv if argv is None else argv)
    try:
        node = SyntheticCameraNode()
    except Exception as exc:  # bad parameters
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {type(exc).__name__}: {exc}")
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while rclpy.ok() and not node.done.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.stop()
        if node.context.ok():
            node.get_logger().info(f"stopped after {node.published} frames ({node.skipped} ticks skipped)")
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``synthetic_camera`` / ``python -m hand_pose_25d.ros.synthetic_camera``."""
    return _run_node(argv)


if __name__ == "__main__":
    sys.exit(main())
