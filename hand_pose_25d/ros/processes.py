"""Child processes of the demo and the stress run: a process whose output goes to a log file, always stopped.

Pure Python (no rclpy): :class:`Proc` starts a command in the repository (so that ``config/`` is found), logs its
stdout and stderr, and :meth:`Proc.stop` sends SIGINT, then SIGKILL after a timeout, so nothing is left running.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["Proc", "REPO", "STOP_TIMEOUT_S"]

#: The source tree (the working directory of the children).
REPO = Path(__file__).resolve().parents[2]
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
