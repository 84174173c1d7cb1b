"""Fine-tuning the palm detector on rendered frames (hand_pose_25d.training.palm_finetune).

The anchor codec is checked by a round trip through the run-time decoder (targets made here decode to the palm box
and keypoints they were made from); the fine-tuned part of the network against the whole converted network; the
weights file by its refusals; the set-up's detector by its metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hand_pose_25d.detection.palm import PALM_INPUT_SIZE, decode_boxes  # noqa: E402
from hand_pose_25d.detection.palm_detector import default_detector_path, default_models_dir  # noqa: E402
from hand_pose_25d.detection.palm_model import PalmTail  # noqa: E402
from hand_pose_25d.training import palm_finetune as pf  # noqa: E402

S = PALM_INPUT_SIZE
CONVERTED = default_models_dir() / "mediapipe" / "palm_detection_full.pt"


def _frames(palms: np.ndarray, size_factor: float = 1.344, shift: float = -0.149):
    """Frames holding ``palms`` and their palm boxes."""
    frames = pf.DetectorFrames(np.zeros((palms.shape[0], S, S, 3), np.uint8), palms.astype(np.float32))
    return frames, pf.palm_boxes(frames.palms, size_factor, shift)


def _palm(cx: float, cy: float, scale: float) -> np.ndarray:
    """7 palm keypoints of an upright palm around (cx, cy), input pixels."""
    unit = np.array([[0, 0.5], [-0.3, -0.45], [-0.05, -0.5], [0.2, -0.45], [0.4, -0.35], [-0.45, 0.25], [-0.6, 0]])
    return np.array([cx, cy]) + scale * unit


def test_anchor_targets_decode_back_to_the_palm_box_and_keypoints():
    palms = np.full((2, 2, 7, 2), np.nan)
    palms[0, 0] = _palm(60.0, 80.0, 20.0)  # a small palm: stride-8 anchors
    palms[0, 1] = _palm(140.0, 120.0, 60.0)  # a large one: stride-16 anchors
    frames, palm_boxes = _frames(palms)
    labels, targets = pf.anchor_targets(frames, palm_boxes)
    assert (labels[1] != 1).all() and (labels[1] == 0).all()  # no hand: every anchor negative
    boxes, kps = decode_boxes(targets[0])
    for h in range(2):
        box = palm_boxes[0, h]
        want = np.array([box[0] - box[2] / 2, box[1] - box[3] / 2, box[0] + box[2] / 2, box[1] + box[3] / 2]) / S
        # positives of this palm: anchor centres inside its box
        pos = np.flatnonzero(labels[0] == 1)
        mine = [j for j in pos if np.allclose(boxes[j], want, atol=1e-5)]
        assert mine, f"no positive anchor decodes to palm {h}"
        for j in mine:
            np.testing.assert_allclose(kps[j] * S, frames.palms[0, h], atol=1e-3)
    small = [j for j in np.flatnonzero(labels[0] == 1) if j < 24 * 24 * 2]
    large = [j for j in np.flatnonzero(labels[0] == 1) if j >= 24 * 24 * 2]
    assert small and large  # each size matched at its own feature map
    assert (labels[0] == -1).any()  # the ring between positives and negatives is ignored


def test_palm_box_convention_is_centred_and_scaled_from_the_keypoints():
    p = _palm(100.0, 100.0, 40.0)
    box = pf.palm_box_from_keypoints(p, 2.0, 0.0)
    np.testing.assert_allclose(box[:2], p.mean(axis=0))
    assert box[2] == box[3] == pytest.approx(2.0 * np.linalg.norm(p - p.mean(axis=0), axis=1).max())
    moved = pf.palm_box_from_keypoints(p, 2.0, 0.5)
    np.testing.assert_allclose(moved[:2] - box[:2], 0.5 * (p[2] - p[0]))


def test_a_weights_file_that_is_missing_corrupt_or_foreign_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        pf.load_tuned(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00not a torch file")
    with pytest.raises(ValueError, match="not a readable"):
        pf.load_tuned(bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "something else", "state_dict": {}}, other)
    with pytest.raises(ValueError, match="not a fine-tuned palm detector file"):
        pf.load_tuned(other)


@pytest.mark.skipif(not CONVERTED.is_file(), reason="no converted palm detector (hand-pose-25d setup-models)")
def test_the_tail_reproduces_the_whole_network_and_its_weights_round_trip(tmp_path):
    from hand_pose_25d.pretrained.tflite_torch import load_module

    net = load_module(CONVERTED).eval()
    tail = PalmTail(net)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, S, S, 3), dtype=np.uint8)
    with torch.no_grad():
        x = torch.from_numpy(images).float() / 255.0
        feats = net.features(x, [tail.feature_name], layout="NCHW")[tail.feature_name]
        reg, logits = tail(feats)
        whole = net(x)
    whole_reg, whole_logits = (whole[0], whole[1]) if whole[0].shape[-1] == 18 else (whole[1], whole[0])
    torch.testing.assert_close(reg, whole_reg, atol=1e-4, rtol=0)
    torch.testing.assert_close(logits, whole_logits.reshape(2, -1), atol=1e-4, rtol=0)
    # change the tail, save, load into a fresh conversion: the outputs follow the saved weights
    with torch.no_grad():
        for p in tail.tail_parameters()[-4:]:  # the stride-8 score and regression convolutions
            p.add_(0.5)
        changed = tail(feats)[1]
    path = pf.save_tuned(tail, tmp_path / "tuned.pt", trained_on="test")
    fresh = load_module(CONVERTED).eval()
    assert pf.apply_tuned(fresh, pf.load_tuned(path)) == len(tail.tail_state())
    with torch.no_grad():
        again = PalmTail(fresh)(feats)[1]
    torch.testing.assert_close(again, changed, atol=5e-2, rtol=0)  # float16 storage
    assert not torch.allclose(again, logits, atol=1e-2)
    payload = pf.load_tuned(path)
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = payload["state_dict"][key][..., :1]
    with pytest.raises(ValueError, match="fine-tuned palm weights"):
        pf.apply_tuned(load_module(CONVERTED).eval(), payload)


@pytest.mark.skipif(not default_detector_path().is_file(), reason="no converted detector (hand-pose-25d setup-models)")
def test_the_set_up_detector_carries_the_shipped_fine_tuned_weights():
    from hand_pose_25d.detection.palm_detector import PalmDetector
    from hand_pose_25d.detection.palm_model import TUNED_WEIGHTS, tuned_weights_sha256

    assert TUNED_WEIGHTS.is_file() and TUNED_WEIGHTS.stat().st_size < 4_000_000
    det = PalmDetector(default_detector_path())
    info = det.info
    assert det.heads == 2 and info["heads"] == 2  # MediaPipe's tail and the fine-tuned one
    assert info["fine_tuned"]["sha256"] == tuned_weights_sha256(TUNED_WEIGHTS)
    assert Path(info["fine_tuned"]["file"]).name == TUNED_WEIGHTS.name
