"""``launch/hand_pose.launch.py``, checked structurally.

The launch file cannot run here: there is no ``launch`` / ``launch_ros`` package outside a ROS 2 distro (not on
PyPI, not in Debian 12). So it is parsed (``ast``), not executed: it must declare the documented launch arguments
(input topics, params_file, backend, model, namespace, rviz ...), start executables that exist (the package's
console scripts, rviz2), point at config files that exist, remap the topics the node really subscribes to, and
generate its ``LaunchDescription`` from a ``generate_launch_description`` function.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "hand_pose.launch.py"
DOCUMENTED = (
    "image",
    "camera_info",
    "roi",
    "params_file",
    "backend",
    "model",
    "device",
    "namespace",
    "rviz",
    "rviz_config",
    "fixed_frame",
    "synthetic_camera",
    "use_sim_time",
)


@pytest.fixture(scope="module")
def tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def _assigned(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned at module level of {LAUNCH.name}")


def _calls(tree: ast.Module, func: str):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == func]


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def test_launch_file_compiles_and_has_the_entry_point(tree):
    compile(LAUNCH.read_text(), str(LAUNCH), "exec")
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in funcs
    returns = [n for n in ast.walk(funcs["generate_launch_description"]) if isinstance(n, ast.Return)]
    assert returns and isinstance(returns[0].value, ast.Call) and returns[0].value.func.id == "LaunchDescription"
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"LaunchDescription", "DeclareLaunchArgument", "LaunchConfiguration", "Node"} <= imported


def test_documented_launch_arguments_are_declared(tree):
    args = _assigned(tree, "ARGUMENTS")
    names = [a[0] for a in args]
    assert len(names) == len(set(names))
    assert set(DOCUMENTED) <= set(names), f"missing: {set(DOCUMENTED) - set(names)}"
    for name, default, description in args:
        assert isinstance(default, str) and description.endswith("."), name
    defaults = {a[0]: a[1] for a in args}
    assert (defaults["image"], defaults["camera_info"], defaults["rviz"]) == ("image", "camera_info", "false")
    # every argument becomes a DeclareLaunchArgument
    (declare,) = _calls(tree, "DeclareLaunchArgument")
    assert isinstance(_keyword(declare, "default_value"), ast.Name)
    # and the docs list every argument
    docs = (REPO / "docs" / "ros.md").read_text()
    for name in names:
        assert f"`{name}`" in docs, f"launch argument {name} is not documented in docs/ros.md"


def test_executables_and_config_files_exist(tree):
    nodes = _calls(tree, "Node")
    executables = {_keyword(n, "executable").value for n in nodes}
    packages = {ast.unparse(_keyword(n, "package")) for n in nodes}
    assert executables == {"hand_pose_node", "synthetic_camera", "rviz2"}
    assert packages == {"PACKAGE", "'rviz2'"} and _assigned(tree, "PACKAGE") == "hand_pose_25d"
    setup = (REPO / "setup.py").read_text()
    for exe, target in (
        ("hand_pose_node", "hand_pose_25d.ros.node:main"),
        ("synthetic_camera", "hand_pose_25d.ros.synthetic_camera:main"),
    ):
        assert f'"{exe} = {target}"' in setup
        module = REPO / (target.split(":")[0].replace(".", "/") + ".py")
        assert re.search(r"^def main\(", module.read_text(), re.M), module
    for name in ("PARAMS_FILE", "RVIZ_FILE"):
        assert (REPO / "config" / _assigned(tree, name)).is_file()
    # the package installs them where the launch file looks (share/<package>/config)
    assert 'glob("config/*.yaml") + glob("config/*.rviz")' in setup
    assert (REPO / "config" / "hand_pose.rviz").read_text().count("Fixed Frame: camera_optical_frame") == 1


def test_remapped_topics_are_the_ones_the_node_uses(tree):
    remapped = set(re.findall(r'\("(\w+)", arg\["\w+"\]\)', LAUNCH.read_text()))
    node_src = (REPO / "hand_pose_25d" / "ros" / "node.py").read_text()
    subscribed = set(re.findall(r'create_subscription\(\s*\w+,\s*"(\w+)"', node_src))
    assert remapped == subscribed == {"image", "camera_info", "roi", "depth"}
    camera_src = (REPO / "hand_pose_25d" / "ros" / "synthetic_camera.py").read_text()
    published = set(re.findall(r'create_publisher\(\w+, "(\w+)"', camera_src))
    assert {"image", "camera_info", "roi", "depth"} <= published  # the same remappings feed the node from the camera


def test_overrides_only_replace_the_parameter_file_when_given(tree):
    src = LAUNCH.read_text()
    assert (
        'overrides["pipeline.backend"] = arg["backend"]' in src
        and 'overrides["pipeline.model"] = arg["model"]' in src
        and 'overrides["pipeline.device"] = arg["device"]' in src
    )
    from hand_pose_25d.ros.node_config import NodeConfig
    from hand_pose_25d.settings import parameter_specs

    names = {s.name for s in parameter_specs(NodeConfig())}
    for key in re.findall(r'overrides\["([\w.]+)"\]', src):
        assert key in names, f"launch file sets unknown parameter {key}"
