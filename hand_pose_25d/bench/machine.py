"""The machine a measurement ran on and the versions of what it ran: the one probe of the package.

Standard library only, and no relative import: the MediaPipe worker loads this file by path in MediaPipe's own
Python environment. Nothing is imported to learn a version (package metadata is read).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["machine_info", "versions", "dist_version", "RUNTIME_DISTRIBUTIONS"]

#: Reported name -> the distributions that may provide it (the first one installed wins).
RUNTIME_DISTRIBUTIONS: Dict[str, Sequence[str]] = {
    "hand_pose_25d": ("hand_pose_25d",),
    "numpy": ("numpy",),
    "opencv": ("opencv-python-headless", "opencv-python", "opencv-contrib-python"),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "torch": ("torch",),
    "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt_cu12"),
    "rclpy": ("ros-rclpy", "rclpy"),
}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> List[str]:
    """Names of NVIDIA GPUs (nvidia-smi, else torch if it is already imported), empty if none."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if out.returncode == 0:
            return [line.strip() for line in out.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def machine_info() -> Dict[str, Any]:
    """CPU model, logical CPUs (and those this process may use), memory, load average, GPUs, OS."""
    info: Dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "gpus": _gpus(),
    }
    try:
        info["loadavg"] = [float(x) for x in open("/proc/loadavg", encoding="utf-8").read().split()[:3]]
    except OSError:
        info["loadavg"] = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        info["memory_gb"] = round(kb / 1024**2, 1)
    except (OSError, StopIteration, ValueError):
        info["memory_gb"] = None
    return info


def dist_version(name: str) -> Optional[str]:
    """Installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions(distributions: Mapping[str, Sequence[str]] = RUNTIME_DISTRIBUTIONS) -> Dict[str, Optional[str]]:
    """Versions of Python and of ``distributions`` (None where not installed); nothing is imported.

    Args:
        distributions: reported name -> candidate distribution names (default :data:`RUNTIME_DISTRIBUTIONS`).
    """
    out: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for key, dists in distributions.items():
        out[key] = next((v for v in map(dist_version, dists) if v), None)
    if out.get("tensorrt", "") is None and "tensorrt" in sys.modules:  # JetPack's python3-libnvinfer: no metadata
        out["tensorrt"] = str(getattr(sys.modules["tensorrt"], "__version__", None))
    return out
