"""Launch ``hand_pose_node`` (and optionally the synthetic camera and RViz).

Examples::

    # a real camera (e.g. a RealSense colour stream)
    ros2 launch hand_pose_25d hand_pose.launch.py \\
        image:=/camera/camera/color/image_raw camera_info:=/camera/camera/color/camera_info \\
        fixed_frame:=camera_color_optical_frame rviz:=true

    # no camera: rendered hands with ground truth, shown in RViz
    ros2 launch hand_pose_25d hand_pose.launch.py synthetic_camera:=true rviz:=true

    # another model / runtime than the parameter file says
    ros2 launch hand_pose_25d hand_pose.launch.py backend:=tensorrt model:=/models/hand.engine

Launch arguments (see ``docs/ros.md``): ``image``, ``camera_info``, ``roi`` (input topics), ``params_file``
(empty: the package's ``config/hand_pose.yaml``), ``backend`` and ``model`` (empty: as in the parameter file),
``device`` (empty: as in the parameter file), ``namespace``, ``rviz``, ``rviz_config`` (empty: the package's
``config/hand_pose.rviz``), ``fixed_frame`` (RViz's fixed frame: your camera's optical frame), ``synthetic_camera``,
``use_sim_time``.

Needs a ROS 2 installation (``launch``, ``launch_ros``); where there is none, run the node directly:
``python -m hand_pose_25d.ros.node --ros-args --params-file config/hand_pose.yaml -r image:=... -r camera_info:=...``.
"""

import os

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "hand_pose_25d"
PARAMS_FILE = "hand_pose.yaml"
RVIZ_FILE = "hand_pose.rviz"

# (name, default, description); every default is a plain string
ARGUMENTS = (
    ("image", "image", "Input image topic (sensor_msgs/Image: rgb8, bgr8, rgba8, bgra8 or mono8)."),
    ("camera_info", "camera_info", "Camera info topic of the images (sensor_msgs/CameraInfo)."),
    ("roi", "roi", "Optional hand region of interest topic (sensor_msgs/RegionOfInterest)."),
    (
        "depth",
        "depth",
        "Optional depth image aligned to the colour image (used with depth_enabled:=true), e.g. "
        "/camera/camera/aligned_depth_to_color/image_raw.",
    ),
    ("depth_enabled", "false", "Use the aligned depth image for the hand's distance (parameter depth.enabled)."),
    ("params_file", "", "ROS 2 parameter file of hand_pose_node; empty: the package's config/hand_pose.yaml."),
    ("backend", "", "Inference runtime: onnxruntime, torch or tensorrt; empty: as in params_file."),
    ("model", "", "'default' or a path to a .onnx / .pt / .engine model; empty: as in params_file."),
    ("device", "", "cpu, cuda or cuda:N; empty: as in params_file (whose 'auto' means cuda for tensorrt, else cpu)."),
    ("namespace", "", "Namespace of the nodes (their topics are relative)."),
    ("rviz", "false", "Start RViz with the hand display (true/false)."),
    ("rviz_config", "", "RViz configuration; empty: the package's config/hand_pose.rviz."),
    ("fixed_frame", "camera_optical_frame", "RViz fixed frame: the optical frame_id of your camera's images."),
    ("synthetic_camera", "false", "Start the synthetic camera (rendered hands with ground truth) as the input."),
    (
        "use_sim_time",
        "false",
        "Use the /clock topic as time in every node (true/false), e.g. for ros2 bag play --clock.",
    ),
)


def _share_file(name: str) -> str:
    from ament_index_python.packages import get_package_share_directory

    return os.path.join(get_package_share_directory(PACKAGE), "config", name)


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _nodes(context, *args, **kwargs):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    overrides = {}
    if arg["backend"]:
        overrides["pipeline.backend"] = arg["backend"]
    if arg["model"]:
        overrides["pipeline.model"] = arg["model"]
    if arg["device"]:
        overrides["pipeline.device"] = arg["device"]
    sim_time = {"use_sim_time": _truthy(arg["use_sim_time"])}
    overrides.update(sim_time)
    if _truthy(arg["depth_enabled"]):
        overrides["depth.enabled"] = True
    if _truthy(arg["synthetic_camera"]):
        # the palm detector (trained on real hands) often misses the rendered ones: search the full image then
        overrides["tracking.full_frame_fallback"] = True
    parameters = [arg["params_file"] or _share_file(PARAMS_FILE), overrides]
    remappings = [
        ("image", arg["image"]),
        ("camera_info", arg["camera_info"]),
        ("roi", arg["roi"]),
        ("depth", arg["depth"]),
    ]
    actions = [
        Node(
            package=PACKAGE,
            executable="hand_pose_node",
            name="hand_pose_node",
            namespace=arg["namespace"],
            parameters=parameters,
            remappings=remappings,
            output="screen",
            emulate_tty=True,
        )
    ]
    if _truthy(arg["synthetic_camera"]):
        actions.append(
            Node(
                package=PACKAGE,
                executable="synthetic_camera",
                name="synthetic_camera",
                namespace=arg["namespace"],
                parameters=[sim_time],
                remappings=remappings,
                output="screen",
            )
        )
    if _truthy(arg["rviz"]):
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                namespace=arg["namespace"],
                parameters=[sim_time],
                arguments=["-d", arg["rviz_config"] or _share_file(RVIZ_FILE), "-f", arg["fixed_frame"]],
                output="screen",
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    """Launch description: the arguments above, then the nodes they select."""
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=desc) for name, default, desc in ARGUMENTS
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
