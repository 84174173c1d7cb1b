"""Training losses: ``L = sum over stages of L_xy + alpha * L_z + w_h * BCE(handedness)`` (paper Eq. 8 plus handedness).

Targets (a mapping of tensors, batch size B, K keypoints):

* ``uv`` (B, K, 2): keypoints in network-input pixels (required). Unlabelled entries may hold anything, NaN included.
* ``labeled`` (B, K) bool: where ``uv`` is a real label (default: where ``uv`` is finite). Masks ``L_xy``.
* ``z`` (B, K): scale-normalised root-relative depth in reference-bone units (optional; NaN allowed where unknown).
* ``has_3d`` (B,) or (B, K) bool: where ``z`` is a label (default: where ``z`` is finite; all False without ``z``).
  A sample without 3D labels contributes exactly zero gradient through the depth branch.
* ``handedness`` (B,) float: 1 = right hand, 0 = left hand, anything else (NaN, -1) = unknown (optional).

Per head:

* ``latent`` and ``holistic``: ``L_xy`` = mean over labelled keypoints of ``(|du| + |dv|) / S`` (L1 on ``uv``
  normalised by the input size S); ``L_z`` = mean over 3D-labelled keypoints of ``|z - z_gt|``.
* ``direct``: ``L_xy`` = mean over labelled keypoints of ``sum_cells (H - H_gt)^2 / (pi sigma^2)`` against Gaussian
  targets (:func:`gaussian_heatmaps`, the torch twin of ``encode_gaussian`` of the numpy reference ``test/reference_codec.py``);
  ``L_z`` the same on the depth maps against ``z_gt * H_gt`` (Eq. 10). Dividing by ``pi sigma^2`` (the sum of
  ``H_gt^2``) makes an all-zero prediction cost about 1 whatever sigma and the heatmap size.
* handedness: binary cross-entropy on ``handedness_logit`` over samples with known handedness.

Each term is 0 (with zero gradient) when its mask is empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..settings import setting
from .model_config import ModelConfig

__all__ = ["LossConfig", "gaussian_heatmaps", "heatmap_cross_entropy", "compute_loss"]


@dataclass
class LossConfig:
    """Weights and settings of the training loss."""

    z_weight: float = setting(
        1.0,
        description="alpha: weight of the depth loss L_z relative to the 2D loss L_xy (paper Eq. 8).",
        min=0.0,
        max=1000.0,
    )
    handedness_weight: float = setting(
        0.1, description="Weight of the handedness binary cross-entropy.", min=0.0, max=1000.0
    )
    heatmap_sigma: float = setting(
        2.0,
        description="Standard deviation of the direct head's Gaussian target heatmaps, in heatmap cells.",
        min=0.1,
        max=32.0,
    )
    aux_heatmap_weight: float = setting(
        0.0,
        description="latent head only: weight of an auxiliary cross-entropy between the latent 2D probability maps "
        "and Gaussian targets at the labelled keypoints (a training aid against the slow start of soft-argmax "
        "training from scratch; the trainer anneals it to 0 by aux_heatmap_until, so the final model is trained "
        "with the paper's loss alone). 0 disables it.",
        min=0.0,
        max=100.0,
    )
    aux_heatmap_sigma: float = setting(
        1.0, description="Standard deviation of the auxiliary targets, in heatmap cells.", min=0.1, max=32.0
    )
    aux_heatmap_until: float = setting(
        0.5,
        description="Fraction of the training steps over which the auxiliary weight decays linearly to 0.",
        min=0.0,
        max=1.0,
    )


def gaussian_heatmaps(uv: Tensor, size: int, stride: int, sigma: float, valid: Optional[Tensor] = None) -> Tensor:
    """Gaussian target heatmaps (B, K, h, w), h = w = size / stride, for keypoints ``uv`` (B, K, 2) in input pixels.

    Same definition as ``encode_gaussian`` of the numpy reference ``test/reference_codec.py`` (sigma in heatmap cells, value 1 at the
    keypoint); keypoints that are not ``valid`` (B, K) or not finite get all-zero maps. No gradient flows to ``uv``.
    """
    if uv.dim() != 3 or uv.shape[-1] != 2:
        raise ValueError(f"uv must have shape (B, K, 2), got {tuple(uv.shape)}")
    if size % stride:
        raise ValueError(f"input size {size} is not a multiple of stride {stride}")
    uv = uv.detach()
    ok = torch.isfinite(uv).all(dim=-1)
    if valid is not None:
        ok = ok & valid.bool()
    cells = (torch.where(ok.unsqueeze(-1), uv, torch.zeros_like(uv)) - (stride - 1) / 2.0) / stride
    n = size // stride
    idx = torch.arange(n, dtype=uv.dtype, device=uv.device)
    gx = torch.exp(-((idx - cells[..., 0:1]) ** 2) / (2.0 * sigma**2))  # (B, K, w)
    gy = torch.exp(-((idx - cells[..., 1:2]) ** 2) / (2.0 * sigma**2))  # (B, K, h)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2) * ok.to(uv.dtype)[..., None, None]


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` (same shape) is True; 0 (with zero gradient) for an empty mask."""
    values = torch.where(mask, values, torch.zeros_like(values))
    return values.sum() / mask.sum().clamp(min=1).to(values.dtype)


def _targets(outputs0: Mapping[str, Tensor], targets: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Validated, sanitised targets: NaN-free ``uv``/``z`` (zeros where unlabelled) and boolean masks."""
    uv_pred = outputs0["uv"]
    b, k = uv_pred.shape[:2]
    if "uv" not in targets:
        raise ValueError("targets must contain 'uv' (B, K, 2) keypoints in input pixels")
    uv = torch.as_tensor(targets["uv"], dtype=uv_pred.dtype, device=uv_pred.device)
    if uv.shape != (b, k, 2):
        raise ValueError(f"targets['uv'] must have shape ({b}, {k}, 2), got {tuple(uv.shape)}")
    labeled = torch.isfinite(uv).all(dim=-1)
    if targets.get("labeled") is not None:
        lab = torch.as_tensor(targets["labeled"], device=uv.device)
        if lab.shape != (b, k):
            raise ValueError(f"targets['labeled'] must have shape ({b}, {k}), got {tuple(lab.shape)}")
        labeled = labeled & lab.bool()
    uv = torch.where(labeled.unsqueeze(-1), uv, torch.zeros_like(uv))

    z = torch.zeros((b, k), dtype=uv.dtype, device=uv.device)
    has_3d = torch.zeros((b, k), dtype=torch.bool, device=uv.device)
    if targets.get("z") is not None:
        z = torch.as_tensor(targets["z"], dtype=uv.dtype, device=uv.device)
        if z.shape != (b, k):
            raise ValueError(f"targets['z'] must have shape ({b}, {k}), got {tuple(z.shape)}")
        has_3d = torch.isfinite(z)
        if targets.get("has_3d") is not None:
            h3 = torch.as_tensor(targets["has_3d"], device=uv.device).bool()
            if h3.shape == (b,):
                h3 = h3.unsqueeze(-1).expand(b, k)
            if h3.shape != (b, k):
                raise ValueError(f"targets['has_3d'] must have shape ({b},) or ({b}, {k}), got {tuple(h3.shape)}")
            has_3d = has_3d & h3
        z = torch.where(has_3d, z, torch.zeros_like(z))

    hand = torch.zeros((b,), dtype=uv.dtype, device=uv.device)
    has_hand = torch.zeros((b,), dtype=torch.bool, device=uv.device)
    if targets.get("handedness") is not None:
        hand = torch.as_tensor(targets["handedness"], dtype=uv.dtype, device=uv.device)
        if hand.shape != (b,):
            raise ValueError(f"targets['handedness'] must have shape ({b},), got {tuple(hand.shape)}")
        has_hand = (hand == 0) | (hand == 1)
        hand = torch.where(has_hand, hand, torch.zeros_like(hand))
    return {"uv": uv, "labeled": labeled, "z": z, "has_3d": has_3d, "handedness": hand, "has_handedness": has_hand}


def heatmap_cross_entropy(probs: Tensor, uv: Tensor, labeled: Tensor, size: int, stride: int, sigma: float) -> Tensor:
    """Mean over labelled keypoints of ``-sum_cells T log(probs)``, T = normalised Gaussian at ``uv`` (B, K, 2).

    ``probs``: (B, K, h, w) spatial softmax maps (each sums to 1). 0 (zero gradient) without labelled keypoints.
    """
    target = gaussian_heatmaps(uv, size, stride, sigma, labeled)
    target = target / target.sum(dim=(2, 3), keepdim=True).clamp(min=1e-12)
    ce = -(target * torch.log(probs.clamp(min=1e-12))).sum(dim=(2, 3))
    return _masked_mean(ce, labeled & (target.flatten(2).sum(-1) > 0))


def _stage_terms(
    out: Mapping[str, Tensor], t: Mapping[str, Tensor], model_config: ModelConfig, loss_config: LossConfig
) -> Tuple[Tensor, Tensor, Tensor]:
    labeled, has_3d = t["labeled"], t["has_3d"]
    if model_config.head == "direct":
        sigma = loss_config.heatmap_sigma
        target = gaussian_heatmaps(t["uv"], model_config.input_size, model_config.output_stride, sigma, labeled)
        norm = math.pi * sigma**2
        err_xy = ((out["heatmaps"] - target) ** 2).sum(dim=(2, 3)) / norm
        mask_z = has_3d & labeled
        err_z = ((out["depthmaps"] - t["z"][..., None, None] * target) ** 2).sum(dim=(2, 3)) / norm
        l_z = _masked_mean(err_z, mask_z)
    else:
        err_xy = (out["uv"] - t["uv"]).abs().sum(dim=-1) / float(model_config.input_size)
        l_z = _masked_mean((out["z"] - t["z"]).abs(), has_3d)
    l_xy = _masked_mean(err_xy, labeled)
    bce = F.binary_cross_entropy_with_logits(out["handedness_logit"], t["handedness"], reduction="none")
    l_h = _masked_mean(bce, t["has_handedness"])
    return l_xy, l_z, l_h


def compute_loss(
    outputs: List[Mapping[str, Tensor]],
    targets: Mapping[str, Tensor],
    model_config: ModelConfig,
    loss_config: Optional[LossConfig] = None,
    aux_weight: Optional[float] = None,
) -> Tuple[Tensor, Dict[str, float]]:
    """Total training loss over all stages and its components.

    Args:
        outputs: the model's output, one head dict per stage (:class:`~hand_pose_25d.model.network.HandPoseNet`).
        targets: see the module docstring.
        model_config: the model's configuration (head type, input size, output stride).
        loss_config: weights; defaults to :class:`LossConfig()`.
        aux_weight: the auxiliary heatmap weight to use now (the trainer's annealed value); default
            ``loss_config.aux_heatmap_weight``.

    Returns:
        total: scalar tensor ``sum_stages L_xy + z_weight * L_z + handedness_weight * L_h``.
        components: floats for logging: ``loss``, ``xy``, ``z``, ``handedness`` (summed over stages) and
            ``stage{i}/xy``, ``stage{i}/z``, ``stage{i}/handedness`` per stage.
    """
    if not outputs:
        raise ValueError("outputs is empty: expected one head output dict per stage")
    cfg = loss_config or LossConfig()
    t = _targets(outputs[0], targets)
    total = outputs[0]["uv"].new_zeros(())
    comps: Dict[str, float] = {"xy": 0.0, "z": 0.0, "handedness": 0.0}
    aux = aux_weight if aux_weight is not None else cfg.aux_heatmap_weight
    use_aux = aux > 0 and model_config.head == "latent"
    if use_aux:
        comps["aux_heatmap"] = 0.0
    for i, out in enumerate(outputs):
        l_xy, l_z, l_h = _stage_terms(out, t, model_config, cfg)
        total = total + l_xy + cfg.z_weight * l_z + cfg.handedness_weight * l_h
        terms = [("xy", l_xy), ("z", l_z), ("handedness", l_h)]
        if use_aux:
            l_aux = heatmap_cross_entropy(
                out["probs"],
                t["uv"],
                t["labeled"],
                model_config.input_size,
                model_config.output_stride,
                cfg.aux_heatmap_sigma,
            )
            total = total + aux * l_aux
            terms.append(("aux_heatmap", l_aux))
        for name, value in terms:
            v = float(value.detach())
            comps[name] += v
            comps[f"stage{i}/{name}"] = v
    comps["loss"] = float(total.detach())
    return total, comps
