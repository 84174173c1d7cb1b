"""Child processes of the demo and the stress run: a process whose output goes to a log file, always stopped.

Pure Python (no rclpy): :class:`Proc` starts a command in the repository (so that ``config/`` is found), logs its
stdout and stderr, and :meth:`Proc.stop` sends SIGINT, then SIGKILL after a timeout, so nothing is left running.
:func:`child_env` is the one environment of those children (private domain, loopback only, the shared-memory
profile), and :func:`config_file` finds ``config/<name>`` in the source tree or in an installed package's share.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["Proc", "REPO", "STOP_TIMEOUT_S", "child_env", "config_dirs", "config_file", "ros_command"]

#: The source tree (the working directory of the children).
REPO = Path(__file__).resolve().parents[2]
PACKAGE = "hand_pose_25d"
#: Variables of the parent that would take the children off the private loopback domain.
_DROPPED_VARS = ("ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS", "ROS_NAMESPACE", "_ROS_WHEELS_BOOTSTRAP_COMPLETE")


def config_dirs() -> List[Path]:
    """Where ``config/`` may be, in order: the source tree, then the installed package's share (ament index,
    ``<prefix>/share/hand_pose_25d/config`` of this module's install prefix and of ``sys.prefix``)."""
    here = Path(__file__).resolve()
    dirs = [REPO / "config"]
    try:  # a colcon / ament install
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory(PACKAGE)) / "config")
    except Exception:  # not installed through ament, or no ament_index_python
        pass
    # <prefix>/lib/pythonX.Y/site-packages/hand_pose_25d/ros/processes.py -> <prefix>/share/hand_pose_25d/config
    if len(here.parents) > 5:
        dirs.append(here.parents[5] / "share" / PACKAGE / "config")
    dirs.append(Path(sys.prefix) / "share" / PACKAGE / "config")
    out: List[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def config_file(name: str) -> Optional[Path]:
    """``config/<name>`` of the source tree, or of the installed package share (:func:`config_dirs`); None if
    neither has it."""
    for d in config_dirs():
        if (d / name).is_file():
            return d / name
    return None


def ros_command(
    module: str,
    params: Optional[Mapping[str, Any]] = None,
    *,
    ns: Optional[str] = None,
    params_file: Optional[Path] = None,
    raw: Sequence[str] = (),
) -> List[str]:
    """``python -m <module> --ros-args [--params-file F] -p name:=value ... [-r __ns:=ns]``.

    Args:
        params: parameters by name (bools as ``true`` / ``false``).
        params_file: a ROS parameter YAML read first (the ``-p`` values override it).
        raw: more ``name:=value`` strings, passed as they are after ``params``.
    """
    cmd = [sys.executable, "-m", module, "--ros-args"]
    if params_file is not None:
        cmd += ["--params-file", str(params_file)]
    for name, value in (params or {}).items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        cmd += ["-p", f"{name}:={text}"]
    for item in raw:
        cmd += ["-p", item]
    return cmd + (["-r", f"__ns:={ns}"] if ns else [])


def child_env(
    domain: int, log_dir: Path, shm_profile: Optional[Path], *, keep_user_profile: bool = False
) -> Dict[str, str]:
    """The environment of every child process (and of the parent's own participant): ``ROS_DOMAIN_ID`` ``domain``,
    loopback discovery only, unbuffered uncoloured logs in ``log_dir``, and the Fast DDS profile ``shm_profile``
    (shared-memory transport: 640x480 images over UDP are mostly dropped) unless it is None or, with
    ``keep_user_profile``, the user set ``FASTDDS_DEFAULT_PROFILES_FILE`` already."""
    env = dict(os.environ)
    for var in _DROPPED_VARS:
        env.pop(var, None)
    env.update(
        ROS_DOMAIN_ID=str(domain),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONUNBUFFERED="1",
        RCUTILS_COLORIZED_OUTPUT="0",
        RCUTILS_LOGGING_BUFFERED_STREAM="1",
        ROS_LOG_DIR=str(Path(log_dir).resolve()),
    )
    if shm_profile is not None and not (keep_user_profile and os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(shm_profile)
    return env


#: Seconds a child gets to exit after SIGINT before it is killed.
STOP_TIMEOUT_S = 15.0


class Proc:
    """A child process whose stdout and stderr go to a log file; :meth:`stop` never leaves it running."""

    def __init__(self, name: str, args: List[str], log_path: Path, env: Dict[str, str]) -> None:
        self.name, self.args, self.log_path = name, args, log_path
        self._fh = open(log_path, "w")
        self.p = subprocess.Popen(args, cwd=str(REPO), env=env, stdout=self._fh, stderr=subprocess.STDOUT)
        self.killed = False  # needed SIGKILL after the stop timeout (a hang)
        self.stopped_rc: Optional[int] = None

    @property
    def pid(self) -> int:
        return self.p.pid

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

    def signal_and_wait(self, sig: int, timeout: float = STOP_TIMEOUT_S) -> Optional[int]:
        """Send ``sig``; the exit status, or None (then SIGKILLed) when it did not exit within ``timeout`` s."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
                self.killed = True
                return None
        return self.p.returncode

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> Optional[int]:
        """SIGINT, then SIGKILL after ``timeout`` s; returns the exit status (None: it hung and was killed)."""
        if self.stopped_rc is None:
            rc = self.signal_and_wait(signal.SIGINT, timeout)
            self.stopped_rc = rc if rc is not None else -9
        if not self._fh.closed:
            self._fh.close()
        return None if self.killed else self.p.returncode
