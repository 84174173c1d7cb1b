"""Shared pytest configuration: make ``test/`` importable (handgen helpers), give each run its own ROS domain, and the
fixtures several test files share."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Every test run gets its own DDS domain on localhost only, so parallel runs never see each other.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(scope="session")
def randomised_model():
    """Factory ``randomised_model(config) -> torch.nn.Module``: a network of ``config`` in eval mode with seeded,
    non-trivial BatchNorm statistics and output layers, so that its outputs differ between crops (an untrained
    network answers almost the same everywhere). Skips the test where torch is missing."""
    torch = pytest.importorskip("torch")
    from hand_pose_25d.model.checkpoint import build_model

    def make(config):
        torch.manual_seed(0)
        model = build_model(config)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
            for head in model.heads:
                if hasattr(head, "tail"):
                    head.tail.out.weight.normal_(0, 2.0)
                if hasattr(head, "mlp"):
                    head.mlp[2].weight.normal_(0, 0.2)
        return model.eval()

    return make
