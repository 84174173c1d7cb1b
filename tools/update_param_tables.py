#!/usr/bin/env python3
"""Replace the node's parameter table in README.md and docs/ros.md with the one generated from the settings.

The table is ``hand-pose-25d config node --markdown``; test/unit/test_ros_pure.py fails while a document holds a
stale one. usage: tools/update_param_tables.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hand_pose_25d.ros.params import node_params_markdown  # noqa: E402

DOCS = ("README.md", "docs/ros.md")


def replace_table(text: str, table: str) -> str:
    """``text`` with its block of table lines that mentions ``pipeline.model`` replaced by ``table``."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and "pipeline.model" in line)
    while start > 0 and lines[start - 1].startswith("|"):
        start -= 1
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[:start] + table.rstrip("\n").split("\n") + lines[end:])


def main() -> int:
    table = node_params_markdown()
    for doc in DOCS:
        path = ROOT / doc
        new = replace_table(path.read_text(encoding="utf-8"), table)
        path.write_text(new, encoding="utf-8")
        print(f"updated the parameter table of {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
