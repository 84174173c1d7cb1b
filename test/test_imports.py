"""The pure core must not pull in torch, rclpy or tensorrt (checked in a fresh interpreter)."""

import subprocess
import sys

CORE = [
    "hand_pose_25d",
    "hand_pose_25d.skeleton",
    "hand_pose_25d.geometry",
    "hand_pose_25d.metrics",
    "hand_pose_25d.decoding",
    "hand_pose_25d.crop",
    "hand_pose_25d.config",
    "hand_pose_25d.data.sample",
    "hand_pose_25d.model.presets",
    "hand_pose_25d.camera_yaml",
    "hand_pose_25d.visualize",
    "hand_pose_25d.benchmark",
    "hand_pose_25d.evaluation",
    "hand_pose_25d.inference.pipeline",
    "hand_pose_25d.inference.backends",
    "hand_pose_25d.ros",
    "hand_pose_25d.ros.image_conversion",
    "hand_pose_25d.ros.camera_info",
    "hand_pose_25d.ros.tracking",
    "hand_pose_25d.data.synthetic",
]


def test_core_imports_no_heavy_runtime():
    code = (
        "import importlib, sys\n"
        f"mods = {CORE!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "heavy = [h for h in ('torch', 'rclpy', 'tensorrt', 'onnxruntime') if h in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"core imports loaded: {out.stdout.strip()}"
