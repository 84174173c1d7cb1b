"""Import rules of the architecture: the pure core pulls in no heavy runtime, and only ros/ imports ros/."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hand_pose_25d"

CORE = [
    "hand_pose_25d",
    "hand_pose_25d.skeleton",
    "hand_pose_25d.geometry",
    "hand_pose_25d.metrics",
    "hand_pose_25d.crop",
    "hand_pose_25d.settings",
    "hand_pose_25d.fileio",
    "hand_pose_25d.camera",
    "hand_pose_25d.visualize",
    "hand_pose_25d.evaluation",
    "hand_pose_25d.data.sample",
    "hand_pose_25d.data.synthetic",
    "hand_pose_25d.model",
    "hand_pose_25d.model.model_config",
    "hand_pose_25d.model.presets",
    "hand_pose_25d.inference.contract",
    "hand_pose_25d.inference.pipeline_config",
    "hand_pose_25d.inference.pipeline",
    "hand_pose_25d.inference.backends",
    "hand_pose_25d.inference.tracking",
    "hand_pose_25d.bench",
    "hand_pose_25d.bench.bench_config",
    "hand_pose_25d.bench.measure",
    "hand_pose_25d.bench.stats",
    "hand_pose_25d.bench.machine",
    "hand_pose_25d.ros",
    "hand_pose_25d.ros.node_config",
    "hand_pose_25d.ros.image_conversion",
    "hand_pose_25d.ros.camera_info",
    "hand_pose_25d.ros.params",
]

#: Modules outside ros/ allowed to import ros/, each with its reason.
ROS_IMPORT_ALLOWED = {
    # `hand-pose-25d config node` prints the node's parameters (ros.params imports no rclpy); lazily, inside run()
    "hand_pose_25d.commands.show_config": "prints the node parameters",
}


def test_core_imports_no_heavy_runtime():
    code = (
        "import importlib, sys\n"
        f"mods = {CORE!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "heavy = [h for h in ('torch', 'rclpy', 'tensorrt', 'onnxruntime', 'tflite', 'ai_edge_litert') if h in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"core imports loaded: {out.stdout.strip()}"


def _module_name(path: Path, root: Path = PACKAGE) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported_modules(path: Path, root: Path = PACKAGE):
    """Absolute names of every module ``path`` imports (relative imports resolved), at any depth of the file."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod
            for alias in node.names:  # `from . import ros` imports a module too
                yield f"{mod}.{alias.name}"


def test_only_the_ros_layer_imports_the_ros_layer():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        if name == "hand_pose_25d.ros" or name.startswith("hand_pose_25d.ros.") or name in ROS_IMPORT_ALLOWED:
            continue
        for mod in _imported_modules(path):
            if mod == "hand_pose_25d.ros" or mod.startswith("hand_pose_25d.ros.") or mod.split(".")[0] in ("rclpy",):
                offenders.append(f"{name} imports {mod}")
    assert not offenders, "only hand_pose_25d.ros may import ROS code:\n" + "\n".join(offenders)


def test_the_rule_checker_sees_relative_and_nested_imports(tmp_path):
    """The checker itself: a relative import inside a function is found (so the rule above can fail)."""
    fake = PACKAGE / "visualize.py"
    found = set(_imported_modules(fake))
    assert "hand_pose_25d.skeleton" in found and "hand_pose_25d.crop.CropBox" in found
    src = tmp_path / "hand_pose_25d" / "core.py"
    src.parent.mkdir()
    src.write_text("def f():\n    from .ros.markers import marker_array\n")
    assert "hand_pose_25d.ros.markers" in set(_imported_modules(src, tmp_path / "hand_pose_25d"))
