"""``python -m hand_pose_25d.pretrained {convert,list}``: see :mod:`hand_pose_25d.pretrained.convert`."""

from __future__ import annotations

import sys

from .convert import main

if __name__ == "__main__":
    sys.exit(main())
