"""Real-photo evaluation (``eval --data photos``): the normalised PCK metrics, the labels reader, both modes.

The end-to-end tests write a labels file and generated photos in a temporary folder: each labelled hand is drawn
as coloured dots that ``DotBackend`` (test_pipeline: a real keypoint finder on pixels) locates, so a hand drawn
where it is labelled is predicted exactly, one drawn 0.3 box sides off is predicted 0.3 box sides off, and one
not drawn is not found.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_pipeline import DotBackend, draw_dots

from hand_pose_25d import metrics as M
from hand_pose_25d.data.photos import PhotosDataset
from hand_pose_25d.data.registry import open_dataset
from hand_pose_25d.evaluation import evaluate_photos, plot_pck_photos, write_result_json
from hand_pose_25d.inference.pipeline import HandPoseEstimator
from hand_pose_25d.inference.pipeline_config import PipelineConfig

SIDE = 140.0  # labelled hand box side (pixels)


def grid_hand(cx: float, cy: float, side: float = SIDE) -> np.ndarray:
    """21 keypoints on a 3 x 7 grid: box width 0.3 side, height 1 side, centred on (cx, cy)."""
    xs = np.array([-0.15, 0.0, 0.15]) * side
    ys = np.linspace(-0.5, 0.5, 7) * side
    return np.array([[cx + x, cy + y] for y in ys for x in xs])


# ------------------------------------------------------------------------------------------------------ metrics


def test_box_side_is_the_longer_side_of_the_tight_box_of_the_evaluated_keypoints():
    uv = grid_hand(100, 80)
    assert np.isclose(M.keypoint_box_side(uv[None])[0], SIDE)
    assert np.isclose(M.keypoint_box_side(uv[None] * [5.0, 1.0])[0], 5 * 0.3 * SIDE)  # wider than tall
    mask = np.zeros(21, bool)
    mask[[0, 2]] = True  # one row of the grid: only the width
    assert np.isclose(M.keypoint_box_side(uv[None], mask[None])[0], 0.3 * SIDE)
    assert np.isnan(M.keypoint_box_side(np.full((1, 21, 2), np.nan))[0])


def test_pck_of_exact_offset_and_missing_predictions():
    gt = np.stack([grid_hand(100, 100), grid_hand(300, 200, side=70.0)])
    exact = M.evaluate_pck_normalized(gt.copy(), gt)
    assert exact["pck"] == 1.0 and exact["error_mean"] == 0.0 and exact["auc"] > 0.98
    assert exact["num_hands"] == 2 and exact["num_keypoints_evaluated"] == 42

    sides = np.array([SIDE, 70.0])
    off = gt + np.array([0.3, 0.0]) * sides[:, None, None]  # every keypoint 0.3 box sides off
    r = M.evaluate_pck_normalized(off, gt)
    assert r["pck"] == 0.0 and np.isclose(r["error_mean"], 0.3) and np.isclose(r["error_median"], 0.3)
    curve = np.array(r["curve"])
    t = np.array(r["thresholds"])
    assert np.all(curve[t < 0.3 - 1e-9] == 0) and np.all(curve[t > 0.3 + 1e-9] == 1)

    near = gt + np.array([0.0, 0.15]) * sides[:, None, None]  # within 0.2 box sides
    assert M.evaluate_pck_normalized(near, gt)["pck"] == 1.0
    assert M.evaluate_pck_normalized(near, gt, at=0.1)["pck"] == 0.0

    half = gt.copy()
    half[:, ::2] += np.array([0.3, 0.0]) * sides[:, None, None]  # keypoints 0, 2, 4 ... off
    r = M.evaluate_pck_normalized(half, gt)
    assert np.isclose(r["pck"], 20 / 42)
    assert r["pck_per_keypoint"][0] == 0.0 and r["pck_per_keypoint"][1] == 1.0
    assert np.isclose(r["error_mean_per_keypoint"][0], 0.3) and r["error_mean_per_keypoint"][1] == 0.0

    missed = gt.copy()
    missed[1] = np.nan  # the second hand not found: its keypoints are misses, not dropped
    r = M.evaluate_pck_normalized(missed, gt)
    assert r["pck"] == 0.5 and r["num_missed_keypoints"] == 21 and r["error_mean"] == 0.0
    assert r["num_keypoints_evaluated"] == 42


def test_pck_uses_the_ground_truth_side_not_the_prediction():
    gt = grid_hand(100, 100)[None]
    big = (gt - 100) * 3 + 100  # a prediction three times the size: its own box would excuse its errors
    r = M.evaluate_pck_normalized(big, gt)
    d = np.linalg.norm(big - gt, axis=-1)[0] / SIDE
    assert np.isclose(r["pck"], np.mean(d <= 0.2)) and r["pck"] < 0.5


def test_match_hands_nearest_first_one_to_one_within_the_gate():
    a, b = grid_hand(100, 100), grid_hand(400, 100)
    gt = np.stack([a, b])
    assert M.match_hands(gt, np.stack([b + 5, a - 5])).tolist() == [1, 0]
    assert M.match_hands(gt, (a + 10)[None]).tolist() == [0, -1]  # one prediction: only the nearest hand
    far = a + np.array([0.6 * SIDE, 0.0])  # its centre 0.6 box sides away: beyond the 0.5 gate
    assert M.match_hands(gt[:1], far[None]).tolist() == [-1]
    assert M.match_hands(gt[:1], far[None], max_distance=0.7).tolist() == [0]
    assert M.match_hands(gt, np.zeros((0, 21, 2))).tolist() == [-1, -1]


# ------------------------------------------------------------------------------------------------------ photos


def _write_photo(path: Path, hands_drawn, size=(480, 320)) -> None:
    w, h = size
    if hands_drawn:
        img = np.max([draw_dots(uv, w, h, sigma=2.0) for uv in hands_drawn], axis=0)
    else:
        img = np.zeros((h, w, 3), np.uint8)
    cv2.imwrite(str(path), np.ascontiguousarray(img[:, :, ::-1]))


@pytest.fixture
def photo_set(tmp_path: Path):
    """Four photos: exact, drawn 0.3 box sides off its label, two labels with one drawn, one dropped by review."""
    exact = grid_hand(240, 160)
    shifted = grid_hand(200, 160)
    c1, c2 = grid_hand(110, 160), grid_hand(380, 160)
    dropped = grid_hand(240, 160)
    photos = {
        "exact.png": ([exact], [exact]),
        "shifted.png": ([shifted + [0.3 * SIDE, 0.0]], [shifted]),
        "two.png": ([c1], [c1, c2]),
        "dropped.png": ([dropped], [dropped]),
    }
    images = {}
    for name, (drawn, labelled) in photos.items():
        p = tmp_path / name
        _write_photo(p, drawn)
        images[str(p)] = {
            "width": 480,
            "height": 320,
            "hands": [{"uv": uv.tolist(), "handedness": "left", "score": 0.9} for uv in labelled],
        }
    images[str(tmp_path / "empty.png")] = {"width": 480, "height": 320, "hands": []}
    _write_photo(tmp_path / "empty.png", [])
    labels = {
        "labeller": "test",
        "images": images,
        "review": {"dropped": [{"image": str(tmp_path / "dropped.png"), "hand": 0, "reason": "test"}]},
    }
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(labels))
    return path


def test_reader_keeps_reviewed_hands_and_refuses_training(photo_set: Path):
    ds = open_dataset("photos", photo_set, "test")
    assert isinstance(ds, PhotosDataset)
    assert len(ds) == 4 and ds.num_dropped == 1  # exact, shifted, two of two.png
    assert [p.path.name for p in ds.photos] == ["exact.png", "shifted.png", "two.png"]
    s = ds[2]
    assert s.xyz is None and s.image.shape == (320, 480, 3) and np.allclose(s.uv, grid_hand(110, 160))
    assert s.meta["file"].endswith("two.png") and s.meta["hand"] == 0
    for split in ("train", "training", "all"):
        with pytest.raises(ValueError, match="evaluation only"):
            open_dataset("photos", photo_set, split)
    with pytest.raises(ValueError, match="evaluation only"):
        open_dataset("photos", photo_set)  # the training default


def test_review_marks_photos_with_a_hand_the_labeller_missed(photo_set: Path):
    from hand_pose_25d.data.photos import load_photo_labels, unlabelled_hand_photos

    data = json.loads(photo_set.read_text())
    empty = str(photo_set.parent / "empty.png")
    data["review"]["unlabelled"] = [{"image": empty, "reason": "test"}]
    marked = photo_set.parent / "marked.json"
    marked.write_text(json.dumps(data))
    assert unlabelled_hand_photos(load_photo_labels(marked)) == {empty}
    data["review"]["unlabelled"] = [{"image": str(photo_set.parent / "exact.png"), "reason": "has labels"}]
    marked.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="unlabelled hand"):
        load_photo_labels(marked)


def test_training_config_refuses_the_photos():
    from hand_pose_25d.settings import from_dict
    from hand_pose_25d.training.train_config import DatasetSpec

    with pytest.raises(ValueError):
        from_dict(DatasetSpec, {"name": "photos", "root": "labels.json", "split": "test"})


def test_missing_or_changed_photos_fail_clearly(photo_set: Path):
    data = json.loads(photo_set.read_text())
    gone = str(photo_set.parent / "not_installed.jpg")
    data["images"][gone] = {"width": 10, "height": 10, "hands": [{"uv": grid_hand(5, 5).tolist()}]}
    bad = photo_set.parent / "missing.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(FileNotFoundError, match="apt-get install opencv-doc"):
        open_dataset("photos", bad, "test")
    with pytest.raises(FileNotFoundError):
        open_dataset("photos", photo_set.parent / "nope.json", "test")
    first = next(iter(data["images"]))
    data["images"].pop(gone)
    data["images"][first]["width"] = 640  # labelled at another size
    resized = photo_set.parent / "resized.json"
    resized.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="labelled at 640x320"):
        open_dataset("photos", resized, "test")[0]
    data["images"][first]["hands"][0]["uv"] = [[0, 0]] * 20
    broken = photo_set.parent / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="21 finite"):
        open_dataset("photos", broken, "test")


def _dot_estimator(refine: int, min_score: float, detector: str) -> HandPoseEstimator:
    cfg = PipelineConfig(refine_iterations=refine, min_hand_score=min_score)
    cfg.detector.model = detector
    return HandPoseEstimator(cfg, backend=DotBackend(np.zeros(21)))


def test_box_and_whole_image_figures_on_drawn_hands(photo_set: Path, tmp_path: Path):
    ds = open_dataset("photos", photo_set, "test")
    box = _dot_estimator(0, 0.0, "none")
    whole = _dot_estimator(1, 0.25, "none")  # no detector: the whole photo is searched, as predict does
    res = evaluate_photos(ds, box_estimator=box, whole_estimator=whole, progress=False)
    m = res.metrics
    assert m["num_photos"] == 3 and m["num_hands"] == 4 and m["num_dropped_by_review"] == 1

    gt = res.arrays["gt_uv"]
    assert np.allclose(res.arrays["gt_box_side"], SIDE)
    # box given: exact hand right, shifted hand 0.3 box sides off (all within its crop), undrawn hand not found
    d = np.linalg.norm(res.arrays["pred_box_uv"] - gt, axis=-1) / SIDE
    assert d[0].max() < 0.03 and np.allclose(d[1], 0.3, atol=0.03) and d[2].max() < 0.03
    assert np.isnan(res.arrays["pred_box_uv"][3]).any()
    b = m["box"]
    assert np.isclose(b["pck"], 0.5) and b["num_missed_keypoints"] > 0
    assert np.isclose(b["error_mean"], np.nanmean(np.where(np.isfinite(d), d, np.nan)))

    # whole image: the drawn hands are found and matched, the undrawn label of two.png is a miss
    w = m["whole"]
    assert res.arrays["pred_whole_matched"].tolist() == [True, True, True, False]
    assert w["detection_rate"] == 0.75 and w["num_detected"] == 3 and w["num_unmatched_predictions"] == 0
    assert np.isclose(w["pck"], 0.5) and w["num_missed_keypoints"] == 21
    assert np.isclose(w["matched_only"]["pck"], 2 / 3)
    assert w["detector"] == "none"

    out = tmp_path / "r.json"
    write_result_json(res, out)
    j = json.loads(out.read_text())
    assert j["info"]["hands"][3] == {"image": str(photo_set.parent / "two.png"), "hand": 1}
    assert len(j["predictions"]["pred_whole_uv"]) == 4 and j["metrics"]["box"]["threshold"] == 0.2
    plot = tmp_path / "pck.png"
    plot_pck_photos(res, plot)
    assert plot.stat().st_size > 1000


def test_eval_command_on_photos(photo_set: Path, tmp_path: Path):
    """The CLI end to end with the shipped model: the figures it writes are recomputed from its own rows."""
    pytest.importorskip("onnxruntime")
    from hand_pose_25d.cli import main

    out, plot = tmp_path / "photos.json", tmp_path / "photos.png"
    argv = ["eval", "--model", "default", "--data", "photos", "--root", str(photo_set), "--threads", "1"]
    argv += ["--detector", "none", "--json", str(out), "--plot", str(plot), "--no-progress"]
    assert main(argv) == 0
    j = json.loads(out.read_text())
    assert j["info"]["data"] == "photos" and j["info"]["modes"] == ["box", "whole"] and plot.is_file()
    gt = np.array(j["ground_truth"]["gt_uv"], float)
    for mode in ("box", "whole"):
        pred = np.array(j["predictions"][f"pred_{mode}_uv"], float)  # null (a miss) -> NaN
        d = np.linalg.norm(pred - gt, axis=-1) / np.array(j["ground_truth"]["gt_box_side"])[:, None]
        assert np.isclose(j["metrics"][mode]["pck"], np.mean(np.nan_to_num(d, nan=np.inf) <= 0.2))
    assert main(argv[:7] + ["--split", "train", "--json", str(out)]) == 2  # evaluation only
    assert main(argv[:5] + ["--json", str(out)]) == 2  # --root is required
