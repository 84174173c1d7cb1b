"""hand_pose_25d.fileio.atomic_output: all or nothing, with the mode of a new file."""

import os
import stat

import pytest

from hand_pose_25d.fileio import atomic_output


def test_replaces_the_file_with_the_umask_mode(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    umask = os.umask(0o022)
    try:
        with atomic_output(path) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and not path.samefile(tmp)
            with open(tmp, "wb") as fh:
                fh.write(b"new")
    finally:
        os.umask(umask)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="half written"):
        with atomic_output(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"partial")
            raise RuntimeError("half written")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_json_safe_and_write_json_give_strict_json(tmp_path):
    import json

    import numpy as np

    from hand_pose_25d.fileio import json_safe, write_json

    obj = {"a": np.float32(1.5), "b": np.array([1.0, np.nan, np.inf]), 3: (np.int64(2), np.bool_(True)), "c": None}
    assert json_safe(obj) == {"a": 1.5, "b": [1.0, None, None], "3": [2, True], "c": None}
    path = write_json(tmp_path / "x.json", {"v": float("nan"), "w": [np.float64(-np.inf)]}, indent=None)
    text = path.read_text()
    assert text == '{"v": null, "w": [null]}\n' and json.loads(text) == {"v": None, "w": [None]}
    assert not list(tmp_path.glob(".*tmp"))
