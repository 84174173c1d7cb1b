"""Fine-tune the palm detector's later layers on rendered full frames (torch).

MediaPipe's BlazePalm (:mod:`hand_pose_25d.detection.palm_model`) finds about half of the synthetic camera's
rendered hands. Its trunk up to the stride-8 features is kept as it is; the layers after it (:class:`~hand_pose_25d.
detection.palm_model.PalmTail`: the stride-16 and -32 blocks, the feature pyramid and the output convolutions,
1.0 M of its 1.1 M weights) are trained here on the trunk's cached features of rendered frames. The shipped
detector runs this tail beside MediaPipe's own (:class:`~hand_pose_25d.detection.palm_model.PalmDetectorGraph`),
so that the real hands MediaPipe's finds are kept.

Steps (``tools/train_palm_detector.py`` runs them):

1. :func:`render_detector_frames`: full frames from :class:`~hand_pose_25d.data.synthetic.SyntheticHands` and
   :class:`~hand_pose_25d.data.synthetic.MultiHandSequence` (one or two hands) plus frames of the sequences'
   backgrounds without a hand, letterboxed to the detector's 192 x 192 input, with each hand's 7 palm keypoints
   (input pixels); :func:`palm_boxes` makes their palm boxes.
2. :func:`extract_features`: the trunk's stride-8 features of every frame (cached, float16).
3. :func:`anchor_targets`: SSD matching of the palm boxes to the anchors (IoU with the anchors' own scales).
4. :func:`train_tail`: BCE on the scores with hard-negative mining, smooth L1 on the positives' regressions, a
   small pull of the ignored anchors' logits towards the unchanged detector's.

The trained tail is a state dict (:func:`save_tuned`, float16) applied to the converted model at set-up
(:func:`apply_tuned`, ``hand-pose-25d setup-models``), never the converted weights themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..detection.palm import PALM_INPUT_SIZE, PALM_NUM_COORDS, PALM_SPEC, letterbox_image, ssd_anchors
from ..detection.palm_model import PalmTail

__all__ = [
    "PALM_FROM_HAND",
    "TUNED_FORMAT",
    "DetectorFrames",
    "palm_box_from_keypoints",
    "palm_boxes",
    "render_detector_frames",
    "extract_features",
    "anchor_targets",
    "run_tail",
    "train_tail",
    "save_tuned",
    "load_tuned",
    "apply_tuned",
]

#: The 21-keypoint indices of BlazePalm's 7 palm keypoints (wrist, index / middle / ring / pinky MCP, thumb CMC,
#: thumb MCP), in :data:`hand_pose_25d.detection.palm.PALM_KEYPOINT_NAMES` order.
PALM_FROM_HAND: Tuple[int, ...] = (0, 5, 9, 13, 17, 1, 2)
#: ``format`` of a fine-tuned weights file (:func:`save_tuned`).
TUNED_FORMAT = "hand_pose_25d.palm_tuned"


def palm_box_from_keypoints(palm_uv: np.ndarray, size_factor: float, center_shift: float) -> np.ndarray:
    """The square palm box BlazePalm regresses, from the 7 palm keypoints.

    The box is centred at the keypoints' centroid moved ``center_shift`` x the wrist -> middle-MCP length along that
    direction, with side ``size_factor`` x the largest distance of a keypoint from the centroid (both fitted to
    the unchanged detector's own boxes on rendered hands it finds; see ``tools/train_palm_detector.py``).

    Args:
        palm_uv: (7, 2) pixels.

    Returns:
        (4,) ``[cx, cy, w, h]`` in the same pixels.
    """
    p = np.asarray(palm_uv, dtype=np.float64)
    c = p.mean(axis=0)
    axis = p[2] - p[0]
    c = c + center_shift * axis
    side = size_factor * float(np.linalg.norm(p - p.mean(axis=0), axis=1).max())
    return np.array([c[0], c[1], side, side])


def palm_boxes(palms: np.ndarray, size_factor: float, center_shift: float) -> np.ndarray:
    """:func:`palm_box_from_keypoints` of every hand: palms (N, H, 7, 2) (NaN where absent) -> (N, H, 4) float32
    ``[cx, cy, w, h]`` (NaN where absent)."""
    boxes = np.full(palms.shape[:2] + (4,), np.nan, np.float32)
    for i, h in zip(*np.nonzero(np.isfinite(palms).all(axis=(2, 3)))):
        boxes[i, h] = palm_box_from_keypoints(palms[i, h], size_factor, center_shift)
    return boxes


@dataclass
class DetectorFrames:
    """Letterboxed frames with their hands' palm keypoints.

    Attributes:
        images: (N, 192, 192, 3) uint8 RGB detector inputs.
        palms: (N, H, 7, 2) float32 palm keypoints in input pixels (H = most hands in a frame; NaN where absent).
    """

    images: np.ndarray
    palms: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _palm_in_view(uv: np.ndarray, labeled: np.ndarray, width: int, height: int) -> bool:
    p = uv[list(PALM_FROM_HAND)]
    inside = (p[:, 0] >= 0) & (p[:, 0] < width) & (p[:, 1] >= 0) & (p[:, 1] < height)
    return bool(labeled[list(PALM_FROM_HAND)].all() and inside.sum() >= 5)


def render_detector_frames(
    count: int,
    *,
    seed: int = 0,
    width: int = 640,
    height: int = 480,
    empty_fraction: float = 0.1,
    progress: bool = True,
) -> DetectorFrames:
    """Render ``count`` full frames for the detector (see the module docstring).

    A third of the frames come from :class:`SyntheticHands` (independent placements), the rest from
    :class:`MultiHandSequence` (the synthetic camera's motion; one hand, or two for every other sequence) at
    random times, ``empty_fraction`` of them are a sequence's background with no hand. Seeds are derived from
    ``seed``; use seeds far from the demo's (11, 3) and the tests' so that the check stays held out.
    """
    from ..data.synthetic import MultiHandSequence, SyntheticHands

    rng = np.random.default_rng([seed, 77])
    images = np.zeros((count, PALM_INPUT_SIZE, PALM_INPUT_SIZE, 3), np.uint8)
    palms = np.full((count, 2, 7, 2), np.nan, np.float32)
    gen = SyntheticHands(seed=seed + 1)
    seqs: Dict[int, Any] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count, desc="rendering detector frames", unit="frame")
    for i in range(count):
        u = rng.random()
        if u < empty_fraction:
            s = MultiHandSequence(seed=seed + 100000 + i, width=width, height=height, hands=1).sequences[0]
            image = s.background_frame(np.random.default_rng([seed, i, 5]))
            samples: List[Any] = []
        elif u < empty_fraction + (1.0 - empty_fraction) / 3.0:
            samples = [gen.frame(i, width=width, height=height)]
            image = samples[0].image
        else:
            k = int(rng.integers(0, 64))
            if k not in seqs:
                seqs[k] = MultiHandSequence(seed=seed + 1000 + k, width=width, height=height, hands=1 + (k % 2))
            samples = seqs[k].frame(int(rng.integers(0, 600)))
            image = samples[0].image
        inp, A, _ = letterbox_image(image, PALM_INPUT_SIZE, mediapipe_sampling=True)
        images[i] = inp
        for h, smp in enumerate(samples[:2]):
            if _palm_in_view(smp.uv, smp.labeled, width, height):
                p = smp.uv[list(PALM_FROM_HAND)]
                palms[i, h] = p @ A[:, :2].T + A[:, 2]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return DetectorFrames(images, palms)


@torch.no_grad()
def extract_features(net: nn.Module, images: np.ndarray, name: str, batch: int = 32, progress: bool = True) -> Tensor:
    """The cut features of every image (:class:`PalmTail`), float16 NCHW (N, 128, 24, 24)."""
    outs: List[Tensor] = []
    it = range(0, len(images), batch)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="backbone features", unit="batch")
    for s in it:
        x = torch.from_numpy(np.ascontiguousarray(images[s : s + batch])).float() / 255.0
        outs.append(net.features(x, [name], layout="NCHW")[name].contiguous().half())
    return torch.cat(outs)


def _scaled_anchors() -> np.ndarray:
    """(2016, 4) anchors ``[cx, cy, w, h]`` in input pixels with the SSD scales (not the fixed unit size)."""
    s = PALM_SPEC
    a = ssd_anchors(
        input_width=s.input_width,
        input_height=s.input_height,
        strides=s.strides,
        min_scale=s.min_scale,
        max_scale=s.max_scale,
        aspect_ratios=s.aspect_ratios,
        interpolated_scale_aspect_ratio=s.interpolated_scale_aspect_ratio,
        fixed_anchor_size=False,
    )
    return a * np.array([s.input_width, s.input_height, s.input_width, s.input_height])


def _iou_cxcywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes a (N, 4) with one box b (4,), all ``[cx, cy, w, h]``."""
    ax0, ay0, ax1, ay1 = a[:, 0] - a[:, 2] / 2, a[:, 1] - a[:, 3] / 2, a[:, 0] + a[:, 2] / 2, a[:, 1] + a[:, 3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    return inter / (a[:, 2] * a[:, 3] + b[2] * b[3] - inter + 1e-9)


def anchor_targets(
    frames: DetectorFrames, boxes: np.ndarray, pos_iou: float = 0.5, neg_iou: float = 0.3
) -> Tuple[np.ndarray, np.ndarray]:
    """SSD matching of every frame's palm boxes (``boxes`` (N, H, 4), :func:`palm_boxes`) to the anchors.

    Anchors overlapping a palm box by ``pos_iou`` or more (and each box's best anchor) are positives, those below
    ``neg_iou`` with every box negatives, the rest ignored.

    Returns:
        ``labels`` (N, 2016) int8 (1 positive, 0 negative, -1 ignored) and ``targets`` (N, 2016, 18) float32, the
        regressor values a positive should output (offsets from the anchor centre and sizes, input pixels).
    """
    anchors = _scaled_anchors()
    centers = anchors[:, :2]
    n, a = len(frames), anchors.shape[0]
    labels = np.zeros((n, a), np.int8)
    targets = np.zeros((n, a, PALM_NUM_COORDS), np.float32)
    for i in range(n):
        best = np.zeros(a)
        for h in range(boxes.shape[1]):
            box = boxes[i, h]
            if not np.isfinite(box).all():
                continue
            iou = _iou_cxcywh(anchors, box.astype(np.float64))
            pos = iou >= pos_iou
            pos[int(np.argmax(iou))] = True
            take = pos & (iou > best)
            kp = frames.palms[i, h].astype(np.float64)
            for j in np.flatnonzero(take):
                c = centers[j]
                targets[i, j, :2] = box[:2] - c
                targets[i, j, 2:4] = box[2:]
                targets[i, j, 4:] = (kp - c).ravel()
            best = np.maximum(best, np.where(pos, np.maximum(iou, 1.0), iou))
        labels[i] = np.where(best >= 1.0, 1, np.where(best < neg_iou, 0, -1)).astype(np.int8)
    return labels, targets


def _loss(
    reg: Tensor,
    logits: Tensor,
    labels: Tensor,
    targets: Tensor,
    ref_logits: Tensor,
    neg_per_pos: int,
    min_neg: int,
    reg_weight: float,
    keep_weight: float,
) -> Tuple[Tensor, Dict[str, float]]:
    """Scores: BCE on the positives and the hardest negatives (``neg_per_pos`` per positive, at least ``min_neg``
    per frame); regression: smooth L1 relative to the palm size on the positives; ``keep_weight`` x the squared
    change of the ignored anchors' logits from the unchanged detector's (``ref_logits``)."""
    pos = labels == 1
    neg = labels == 0
    bce = F.binary_cross_entropy_with_logits(logits, pos.float(), reduction="none")
    neg_loss = torch.where(neg, bce, torch.zeros_like(bce))
    k = torch.clamp(pos.sum(1) * neg_per_pos, min=min_neg)
    order = neg_loss.sort(1, descending=True).values
    keep = torch.arange(order.shape[1], device=order.device)[None] < k[:, None]
    n_pos = pos.sum().clamp(min=1).float()
    cls = ((bce * pos).sum() + (order * keep).sum()) / n_pos
    scale = targets[..., 2:3].clamp(min=4.0)
    diff = F.smooth_l1_loss(reg / scale, targets / scale, reduction="none", beta=0.05).sum(-1)
    rl = (diff * pos).sum() / n_pos
    ignored = labels == -1
    kl = ((logits - ref_logits).clamp(-20, 20) ** 2 * ignored).sum() / ignored.sum().clamp(min=1)
    total = cls + reg_weight * rl + keep_weight * kl
    return total, {"cls": float(cls.detach()), "reg": float(rl.detach()), "keep": float(kl.detach())}


@torch.no_grad()
def run_tail(tail: PalmTail, feats: Tensor, batch: int = 128) -> Tuple[np.ndarray, np.ndarray]:
    """The tail's outputs for cached features: ``regressors`` (N, 2016, 18), ``logits`` (N, 2016) numpy."""
    was = tail.training
    tail.eval()
    regs, logs = [], []
    for s in range(0, feats.shape[0], batch):
        r, lg = tail(feats[s : s + batch].float())
        regs.append(r.numpy())
        logs.append(lg.numpy())
    tail.train(was)
    return np.concatenate(regs), np.concatenate(logs)


def train_tail(
    tail: PalmTail,
    feats: Tensor,
    labels: np.ndarray,
    targets: np.ndarray,
    *,
    epochs: int = 8,
    batch: int = 32,
    lr: float = 2e-4,
    weight_decay: float = 1e-4,
    neg_per_pos: int = 3,
    min_neg: int = 8,
    reg_weight: float = 1.0,
    keep_weight: float = 0.05,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> List[Dict[str, float]]:
    """AdamW (one-cycle schedule) on the cached cut features; returns each epoch's mean losses."""
    torch.manual_seed(seed)
    ref = torch.from_numpy(run_tail(tail, feats)[1])
    lab = torch.from_numpy(labels.astype(np.int64))
    tgt = torch.from_numpy(targets)
    params = tail.tail_parameters()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    n = feats.shape[0]
    steps = epochs * math.ceil(n / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    history = []
    g = torch.Generator().manual_seed(seed)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="fine-tuning the palm detector", unit="step")
    for ep in range(epochs):
        perm = torch.randperm(n, generator=g)
        tot: Dict[str, float] = {"loss": 0.0, "cls": 0.0, "reg": 0.0, "keep": 0.0}
        nb = 0
        tail.train()
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            reg, logits = tail(feats[idx].float())
            loss, parts = _loss(
                reg, logits, lab[idx], tgt[idx], ref[idx], neg_per_pos, min_neg, reg_weight, keep_weight
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot["loss"] += float(loss.detach())
            for k2, v in parts.items():
                tot[k2] += v
            nb += 1
            if bar is not None:
                bar.update(1)
        row = {k2: v / nb for k2, v in tot.items()}
        history.append(row)
        log(
            f"epoch {ep + 1}/{epochs}: loss {row['loss']:.4f} (scores {row['cls']:.4f}, regression "
            f"{row['reg']:.4f}, change of ignored logits {row['keep']:.4f})"
        )
    if bar is not None:
        bar.close()
    tail.eval()
    return history


def save_tuned(tail: PalmTail, path: Path, **info: Any) -> Path:
    """Write the tail's weights (float16, the converted model's own state-dict keys) and ``info``.

    The file holds ``{format, cut (tensor name), state_dict, info}``; :func:`apply_tuned` loads it into a freshly
    converted model at set-up.
    """
    state = {k: v.half() if v.is_floating_point() else v for k, v in tail.tail_state().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": TUNED_FORMAT, "cut": tail.feature_name, "state_dict": state, "info": info}, path)
    return path


def load_tuned(path: Path) -> Dict[str, Any]:
    """Read a file written by :func:`save_tuned`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not such a file (corrupt, truncated, or another format).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fine-tuned palm detector weights not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable fine-tuned palm detector file ({exc})") from None
    fmt = payload.get("format") if isinstance(payload, dict) else None
    if fmt != TUNED_FORMAT or not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"{path}: not a fine-tuned palm detector file (format {fmt!r}, want {TUNED_FORMAT!r})")
    return payload


def apply_tuned(net: nn.Module, payload: Dict[str, Any]) -> int:
    """Load the weights of ``payload`` (:func:`load_tuned`) into a converted BlazePalm ``net`` in place; returns the
    number of tensors replaced.

    Raises:
        ValueError: the weights do not fit ``net`` (another cut, missing or extra keys, other shapes).
    """
    tail = PalmTail(net)
    if payload.get("cut") != tail.feature_name:
        raise ValueError(
            f"fine-tuned palm weights start at {payload.get('cut')!r}, this model at {tail.feature_name!r}"
        )
    own = tail.tail_state()
    got = payload["state_dict"]
    if set(own) != set(got):
        raise ValueError(
            f"fine-tuned palm weights do not fit the model: {len(set(got) - set(own))} unknown and "
            f"{len(set(own) - set(got))} missing tensors"
        )
    for k, v in got.items():
        if tuple(own[k].shape) != tuple(v.shape):
            raise ValueError(f"fine-tuned palm weights: {k} is {tuple(v.shape)}, the model's {tuple(own[k].shape)}")
    net.load_state_dict({k: v.float() for k, v in got.items()}, strict=False)
    return len(got)
