"""The ROS 2 runtime of the venv (tools/setup_ros.sh) works end to end.

Each test starts a publisher process and a subscriber process (the venv's python,
``sys.executable``) that talk over Fast DDS on a random ROS_DOMAIN_ID restricted to
localhost, and checks that every field survives the round trip.

Without rclpy in this interpreter the tests are skipped, unless HAND_POSE_REQUIRE_ROS=1
(CI), in which case they fail.
"""

import json
import os
import random
import subprocess
import sys
import textwrap
import uuid

import pytest

pytestmark = pytest.mark.ros

TFMESSAGE_TYPE_HASH = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"  # Jazzy/Kilted
WAIT_S = 20.0  # how long a subscriber waits for its messages
PROC_TIMEOUT_S = 30.0

# Shared by the child scripts: message <-> plain JSON data.
_COMMON = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy

    def to_data(value):
        if hasattr(value, "get_fields_and_field_types"):
            return {name: to_data(getattr(value, name)) for name in value.get_fields_and_field_types()}
        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, (list, tuple)) or type(value).__name__ == "array":
            return [to_data(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    def qos(depth, latched=False):
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
    """
)

# Publisher of a HandPoseArray with two hands. Float32 fields hold values exactly
# representable in float32 so that the comparison can be exact.
_HAND_PUB = _COMMON + textwrap.dedent(
    """
    from geometry_msgs.msg import Point, Point32
    from hand_pose_25d_msgs.msg import HandPose, HandPoseArray

    frame, sent_path = sys.argv[1], sys.argv[2]
    rclpy.init()
    node = rclpy.create_node("test_hand_pose_pub")
    pub = node.create_publisher(HandPoseArray, "hand_poses", qos(10))

    msg = HandPoseArray()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1700000000, 123456789
    msg.header.frame_id = frame
    for h in range(2):
        hand = HandPose()
        hand.header = msg.header
        hand.track_id = 7 + h
        hand.handedness = HandPose.HANDEDNESS_LEFT if h == 0 else HandPose.HANDEDNESS_RIGHT
        hand.handedness_score = 0.875 - 0.25 * h
        hand.score = 0.9375 - 0.5 * h
        hand.keypoints = [Point(x=0.01 * k - 0.1 * h, y=-0.002 * k, z=0.45 + 0.003 * k + h)
                          for k in range(HandPose.NUM_KEYPOINTS)]
        hand.keypoints_2d = [Point32(x=300.5 + k + 100 * h, y=200.25 + 2 * k, z=0.0)
                             for k in range(HandPose.NUM_KEYPOINTS)]
        hand.keypoint_scores = [k / 32.0 for k in range(HandPose.NUM_KEYPOINTS)]
        hand.relative_depths = [(k - 10) / 8.0 for k in range(HandPose.NUM_KEYPOINTS)]
        hand.root_index = HandPose.MIDDLE_MCP
        hand.reference_bone = [HandPose.MIDDLE_MCP, HandPose.MIDDLE_PIP]
        hand.root_depth = 0.4862 + h
        hand.scale = 0.0393 + 0.001 * h
        hand.scale_source = HandPose.SCALE_BONE_PRIOR if h == 0 else HandPose.SCALE_HAND_SIZE
        hand.crop.x_offset, hand.crop.y_offset = 250 + 100 * h, 150
        hand.crop.width, hand.crop.height = 128, 130
        hand.crop.do_rectify = h == 1
        msg.hands.append(hand)
    with open(sent_path, "w") as f:
        json.dump(to_data(msg), f)
    while rclpy.ok():  # until the test stops this process
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.1)
    """
)

_HAND_SUB = _COMMON + textwrap.dedent(
    """
    from hand_pose_25d_msgs.msg import HandPose, HandPoseArray

    frame, wait_s = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("test_hand_pose_sub")
    got = []
    node.create_subscription(
        HandPoseArray, "hand_poses",
        lambda m: got.append(m) if m.header.frame_id == frame else None, qos(10))
    deadline = time.monotonic() + wait_s
    while not got and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    if not got:
        sys.exit("no HandPoseArray received within %.0f s" % wait_s)
    # message constants are properties of the metaclass
    constants = {name: getattr(HandPose, name) for name in dir(type(HandPose))
                 if name.isupper() and not name.startswith("_")
                 and isinstance(getattr(HandPose, name), int)}
    types = dict(node.get_topic_names_and_types())
    print(json.dumps({"msg": to_data(got[0]), "constants": constants,
                      "type": types.get("/hand_poses"), "python_types": {
                          "keypoints": type(got[0].hands[0].keypoints).__name__,
                          "keypoint_scores": str(got[0].hands[0].keypoint_scores.dtype),
                          "reference_bone": str(got[0].hands[0].reference_bone.dtype)}}))
    """
)

_TF_PUB = _COMMON + textwrap.dedent(
    """
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    frame, sent_path = sys.argv[1], sys.argv[2]
    rclpy.init()
    node = rclpy.create_node("test_tf_pub")
    pub = node.create_publisher(TFMessage, "/tf", qos(100))
    pub_static = node.create_publisher(TFMessage, "/tf_static", qos(1, latched=True))

    def transform(child, x):
        t = TransformStamped()
        t.header.stamp.sec, t.header.stamp.nanosec = 1700000001, 5
        t.header.frame_id = frame
        t.child_frame_id = child
        t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = x, -0.25, 0.5
        t.transform.rotation.x, t.transform.rotation.w = 0.6, 0.8
        return t

    msg = TFMessage(transforms=[transform("hand_0_wrist", 0.125), transform("hand_1_wrist", 0.375)])
    static = TFMessage(transforms=[transform("camera_mount", 1.5)])
    with open(sent_path, "w") as f:
        json.dump({"tf": to_data(msg), "tf_static": to_data(static)}, f)
    pub_static.publish(static)  # once: late subscribers get it from the transient-local history
    while rclpy.ok():
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.1)
    """
)

_TF_SUB = _COMMON + textwrap.dedent(
    """
    from tf2_msgs.msg import TFMessage

    frame, wait_s = sys.argv[1], float(sys.argv[2])
    rclpy.init()
    node = rclpy.create_node("test_tf_sub")
    got = {}
    def keep(topic):
        def cb(m):
            if m.transforms and m.transforms[0].header.frame_id == frame:
                got.setdefault(topic, m)
        return cb
    node.create_subscription(TFMessage, "/tf", keep("tf"), qos(100))
    node.create_subscription(TFMessage, "/tf_static", keep("tf_static"), qos(1, latched=True))
    deadline = time.monotonic() + wait_s
    while len(got) < 2 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    if len(got) < 2:
        sys.exit("received only %s within %.0f s" % (sorted(got), wait_s))
    infos = node.get_publishers_info_by_topic("/tf")
    print(json.dumps({"tf": to_data(got["tf"]), "tf_static": to_data(got["tf_static"]),
                      "types": sorted({i.topic_type for i in infos}),
                      "hashes": sorted({str(i.topic_type_hash) for i in infos})}))
    """
)


@pytest.fixture(scope="module")
def ros_runtime():
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


@pytest.fixture
def ros_env():
    """Environment for the child processes: own random domain, localhost only."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    # _ROS_WHEELS_BOOTSTRAP_COMPLETE: let the child's .pth bootstrapper set LD_LIBRARY_PATH itself
    for var in ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS", "ROS_NAMESPACE", "_ROS_WHEELS_BOOTSTRAP_COMPLETE"):
        env.pop(var, None)
    env["PYTHONUNBUFFERED"] = "1"
    # type/size checks in the message setters (off by default; a wrong-sized fixed array
    # is otherwise not caught in Python and can crash the process when it is published)
    env["ROS_PYTHON_CHECK_FIELDS"] = "1"
    return env


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _round_trip(tmp_path, env, pub_src, sub_src, name):
    """Run publisher and subscriber; return (data sent, JSON printed by the subscriber)."""
    frame = f"camera_optical_{uuid.uuid4().hex[:12]}"  # ignore anything from other test runs
    pub_py, sub_py = tmp_path / f"{name}_pub.py", tmp_path / f"{name}_sub.py"
    pub_py.write_text(pub_src)
    sub_py.write_text(sub_src)
    sent_path, pub_log = tmp_path / f"{name}_sent.json", tmp_path / f"{name}_pub.log"
    procs = []
    try:
        with open(pub_log, "w") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(pub_py), frame, str(sent_path)],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        sub = subprocess.Popen(
            [sys.executable, str(sub_py), frame, str(WAIT_S)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(sub)
        try:
            out, err = sub.communicate(timeout=PROC_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"subscriber did not finish within {PROC_TIMEOUT_S} s")
        pub_status = procs[0].poll()
        assert sub.returncode == 0, (
            f"subscriber failed (rc={sub.returncode}, ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}):\n{err[-3000:]}\n"
            f"publisher {'exited with ' + str(pub_status) if pub_status is not None else 'running'}:\n"
            f"{pub_log.read_text()[-3000:]}"
        )
        received = json.loads(out.strip().splitlines()[-1])
        sent = json.loads(sent_path.read_text())
        return frame, sent, received
    finally:
        for proc in procs:
            _stop(proc)


def test_hand_pose_array_round_trip(ros_runtime, ros_env, tmp_path):
    frame, sent, rx = _round_trip(tmp_path, ros_env, _HAND_PUB, _HAND_SUB, "hand")
    msg = rx["msg"]
    assert msg == sent  # every field of both hands, bit-exact
    assert rx["type"] == ["hand_pose_25d_msgs/msg/HandPoseArray"]

    # spot checks against literal values (guards against a silently empty round trip)
    assert msg["header"] == {"stamp": {"sec": 1700000000, "nanosec": 123456789}, "frame_id": frame}
    assert len(msg["hands"]) == 2
    h0, h1 = msg["hands"]
    assert h0["header"] == msg["header"]
    assert (h0["track_id"], h1["track_id"]) == (7, 8)
    assert (h0["handedness"], h1["handedness"]) == (1, 2)
    assert (h0["handedness_score"], h1["handedness_score"]) == (0.875, 0.625)
    assert (h0["score"], h1["score"]) == (0.9375, 0.4375)
    for field in ("keypoints", "keypoints_2d", "keypoint_scores", "relative_depths"):
        assert len(h0[field]) == 21 and len(h1[field]) == 21, field
    assert h0["keypoints"][20] == pytest.approx({"x": 0.2, "y": -0.04, "z": 0.51})
    assert h1["keypoints"][0] == pytest.approx({"x": -0.1, "y": 0.0, "z": 1.45})
    assert h1["keypoints_2d"][3] == {"x": 403.5, "y": 206.25, "z": 0.0}
    assert h0["keypoint_scores"][16] == 0.5
    assert h0["relative_depths"][0] == -1.25 and h0["relative_depths"][10] == 0.0
    assert h0["root_index"] == 9 and h0["reference_bone"] == [9, 10]
    assert h0["root_depth"] == 0.4862 and h1["root_depth"] == 1.4862  # float64: exact
    assert h0["scale"] == 0.0393 and h1["scale"] == pytest.approx(0.0403, abs=1e-15)
    assert (h0["scale_source"], h1["scale_source"]) == (0, 1)
    assert h0["crop"] == {"x_offset": 250, "y_offset": 150, "height": 130, "width": 128, "do_rectify": False}
    assert h1["crop"]["x_offset"] == 350 and h1["crop"]["do_rectify"] is True
    assert rx["python_types"] == {"keypoints": "list", "keypoint_scores": "float32", "reference_bone": "uint8"}

    names = ["WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP"] + [
        f"{finger}_{joint}"
        for finger in ("INDEX", "MIDDLE", "RING", "LITTLE")
        for joint in ("MCP", "PIP", "DIP", "TIP")
    ]
    assert rx["constants"] == {
        **{name: i for i, name in enumerate(names)},
        "NUM_KEYPOINTS": 21,
        "HANDEDNESS_UNKNOWN": 0,
        "HANDEDNESS_LEFT": 1,
        "HANDEDNESS_RIGHT": 2,
        "SCALE_BONE_PRIOR": 0,
        "SCALE_HAND_SIZE": 1,
        "SCALE_DEPTH": 2,
    }


def test_tf_message_round_trip(ros_runtime, ros_env, tmp_path):
    frame, sent, rx = _round_trip(tmp_path, ros_env, _TF_PUB, _TF_SUB, "tf")
    assert rx["tf"] == sent["tf"]
    assert rx["tf_static"] == sent["tf_static"]  # transient-local: received although published once
    assert rx["types"] == ["tf2_msgs/msg/TFMessage"]
    # same type hash as the real tf2_msgs, so real tf2 nodes accept our /tf
    assert rx["hashes"] == [TFMESSAGE_TYPE_HASH]
    t = rx["tf"]["transforms"]
    assert [x["child_frame_id"] for x in t] == ["hand_0_wrist", "hand_1_wrist"]
    assert t[1]["header"] == {"stamp": {"sec": 1700000001, "nanosec": 5}, "frame_id": frame}
    assert t[1]["transform"] == {
        "translation": {"x": 0.375, "y": -0.25, "z": 0.5},
        "rotation": {"x": 0.6, "y": 0.0, "z": 0.0, "w": 0.8},
    }
