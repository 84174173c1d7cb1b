"""Shared pytest configuration: make ``test/`` importable (handgen helpers) and give each run its own ROS domain."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Every test run gets its own DDS domain on localhost only, so parallel runs never see each other.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
