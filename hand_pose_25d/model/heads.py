"""Output heads: latent 2.5D heatmaps (the paper's method), direct 2.5D heatmaps and holistic regression.

Every head maps one stage's features to a dict of tensors with at least

* ``uv``: (B, K, 2) keypoints in network-input pixels (integer coordinates at pixel centres),
* ``z``: (B, K) scale-normalised root-relative depth ``(Z_k - Z_root) / L_ref`` (reference-bone units),
* ``confidence``: (B, K) per-keypoint confidence in [0, 1],
* ``handedness_logit``: (B,) logit of the probability that the hand is a RIGHT hand,

plus what the loss needs (see each class). Heatmap cell ``(i, j)`` of a map with output stride ``s`` has its
centre at input pixel ``(s*j + (s-1)/2, s*i + (s-1)/2)``, exactly as in the numpy reference ``test/reference_codec.py``, whose numpy
decoders are the reference these torch versions are tested against. Everything here exports to ONNX (opset 17).
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Type

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model_config import ModelConfig

__all__ = [
    "pixel_axes",
    "spatial_softmax",
    "soft_argmax",
    "disc_mass",
    "argmax_decode",
    "MapTail",
    "LatentHead",
    "DirectHead",
    "HolisticHead",
    "HEADS",
    "build_head",
]


# --------------------------------------------------------------------------------------------------------------
# functional decoders (torch twins of the numpy reference test/reference_codec.py)


def pixel_axes(h: int, w: int, stride: int, dtype: torch.dtype = torch.float32) -> Tuple[Tensor, Tensor]:
    """Input-pixel centres of the cells of an ``h x w`` heatmap.

    Returns ``u`` (w,) and ``v`` (h,) with ``u[j] = stride * j + (stride - 1) / 2`` (same for ``v``).
    """
    off = (stride - 1) / 2.0
    return (
        torch.arange(w, dtype=dtype) * stride + off,
        torch.arange(h, dtype=dtype) * stride + off,
    )


def spatial_softmax(logits: Tensor, beta: Tensor) -> Tensor:
    """Softmax over the pixels of each map of ``beta_k * logits_k`` (paper Eq. 13).

    Args:
        logits: (B, K, h, w) latent heatmaps.
        beta: (K,) positive inverse temperatures.

    Returns:
        (B, K, h, w) probability maps.
    """
    b, k, h, w = logits.shape
    scaled = logits * beta.view(1, -1, 1, 1)
    return torch.softmax(scaled.flatten(2), dim=-1).view(-1, k, h, w)


def soft_argmax(probs: Tensor, u_axis: Tensor, v_axis: Tensor) -> Tensor:
    """Expected position (B, K, 2) in input pixels of probability maps (B, K, h, w) (paper Eq. 14)."""
    u = (probs.sum(dim=2) * u_axis).sum(dim=-1)
    v = (probs.sum(dim=3) * v_axis).sum(dim=-1)
    return torch.stack([u, v], dim=-1)


def disc_mass(probs: Tensor, uv: Tensor, u_axis: Tensor, v_axis: Tensor, radius: float) -> Tensor:
    """Probability mass (B, K) of maps (B, K, h, w) in cells whose centre is within ``radius`` px of ``uv`` (B, K, 2).

    Same definition as ``keypoint_confidence`` of the numpy reference ``test/reference_codec.py``; clipped to [0, 1]. Not differentiable
    with respect to ``uv`` (it is a confidence, not a training signal).
    """
    du2 = (u_axis - uv[..., 0:1]) ** 2  # (B, K, w)
    dv2 = (v_axis - uv[..., 1:2]) ** 2  # (B, K, h)
    inside = (dv2.unsqueeze(-1) + du2.unsqueeze(-2)) <= radius * radius
    return (probs * inside.to(probs.dtype)).sum(dim=(2, 3)).clamp(0.0, 1.0)


def argmax_decode(maps: Tensor, u_flat: Tensor, v_flat: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Position of the maximum of each map (paper Eq. 11).

    Args:
        maps: (B, K, h, w).
        u_flat, v_flat: (h*w,) input-pixel centres of the cells in row-major order.

    Returns:
        uv: (B, K, 2) input pixels; maxvals: (B, K); index: (B, K) int64 flat cell index (first maximum).
    """
    flat = maps.flatten(2)
    maxvals, index = flat.max(dim=-1)
    uv = torch.stack([u_flat[index], v_flat[index]], dim=-1)
    return uv, maxvals, index


# --------------------------------------------------------------------------------------------------------------
# building blocks


def _conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class MapTail(nn.Module):
    """The last three layers of a heatmap head: ``in_channels -> out_channels`` maps at the same resolution.

    The paper's full model uses three 7x7 convolutions; its "fast" model (``ModelConfig.fast_head``) replaces
    them by 1x1, 3x3 and 1x1 convolutions. The first two layers are conv-BN-ReLU, the last one is a plain
    convolution with bias whose weights start small, so that fresh heatmaps are nearly flat.
    """

    def __init__(self, in_channels: int, out_channels: int, fast: bool) -> None:
        super().__init__()
        k1, k2, k3 = (1, 3, 1) if fast else (7, 7, 7)
        self.layers = nn.Sequential(
            _conv_bn_relu(in_channels, in_channels, k1), _conv_bn_relu(in_channels, in_channels, k2)
        )
        self.out = nn.Conv2d(in_channels, out_channels, k3, padding=k3 // 2)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, h, w) -> (B, out_channels, h, w)."""
        return self.out(self.layers(x))


class _HeadBase(nn.Module):
    """Shared parts: the configuration, the heatmap grid buffers and the handedness classifier."""

    #: True if the head produces maps (``raw_maps``, (B, 2K, h, w)) that a following stage can take as input.
    produces_maps: bool = True

    def __init__(self, config: ModelConfig, in_channels: int, deep_channels: int) -> None:
        super().__init__()
        self.num_keypoints = config.num_keypoints
        self.input_size = config.input_size
        self.stride = config.output_stride
        self.map_size = config.input_size // config.output_stride
        u, v = pixel_axes(self.map_size, self.map_size, self.stride)
        self.register_buffer("u_axis", u, persistent=False)
        self.register_buffer("v_axis", v, persistent=False)
        self.handedness = nn.Linear(deep_channels, 1)

    def handedness_logit(self, deepest: Tensor) -> Tensor:
        """(B,) right-hand logit from the globally average-pooled deepest features (B, C_deep, h', w')."""
        return self.handedness(deepest.mean(dim=(2, 3))).squeeze(-1)


# --------------------------------------------------------------------------------------------------------------
# the heads


class LatentHead(_HeadBase):
    """Latent 2.5D heatmap regression (paper Sec. 4.2).

    2K output channels: latent 2D heatmaps ``H*2D`` and latent depth maps ``H*z``. A spatial softmax with a
    learnable per-keypoint inverse temperature ``beta_k = softplus(beta_raw_k)`` (always positive, initialised
    to ``config.beta_init``) turns ``H*2D`` into probability maps; soft-argmax gives ``uv`` and
    ``z = sum(H2D * H*z)``. ``confidence`` is the probability mass within ``config.confidence_radius *
    input_size`` pixels of ``uv``: near 1 for a sharp single peak, low for a diffuse or multi-modal map.

    Extra outputs: ``logits_2d``, ``logits_z``, ``probs`` (B, K, h, w), ``beta`` (K,), ``raw_maps`` (B, 2K, h, w).
    """

    def __init__(self, config: ModelConfig, in_channels: int, deep_channels: int) -> None:
        super().__init__(config, in_channels, deep_channels)
        self.tail = MapTail(in_channels, 2 * config.num_keypoints, config.fast_head)
        inv_softplus = config.beta_init + math.log(-math.expm1(-config.beta_init))
        self.beta_raw = nn.Parameter(torch.full((config.num_keypoints,), inv_softplus))
        self.radius = float(config.confidence_radius * config.input_size)

    @property
    def beta(self) -> Tensor:
        """(K,) positive inverse temperatures."""
        return F.softplus(self.beta_raw)

    def forward(self, features: Optional[Tensor], deepest: Tensor) -> Dict[str, Tensor]:
        """features (B, C, h, w) at heatmap resolution, deepest (B, C_deep, h', w') -> output dict."""
        if features is None:
            raise ValueError("the latent head needs decoder features (B, C, h, w), got None")
        raw = self.tail(features)
        k = self.num_keypoints
        logits_2d, logits_z = raw[:, :k], raw[:, k:]
        beta = self.beta
        probs = spatial_softmax(logits_2d, beta)
        uv = soft_argmax(probs, self.u_axis, self.v_axis)
        z = (probs * logits_z).sum(dim=(2, 3))
        confidence = disc_mass(probs.detach(), uv.detach(), self.u_axis, self.v_axis, self.radius)
        return {
            "uv": uv,
            "z": z,
            "confidence": confidence,
            "handedness_logit": self.handedness_logit(deepest),
            "logits_2d": logits_2d,
            "logits_z": logits_z,
            "probs": probs,
            "beta": beta,
            "raw_maps": raw,
        }


class DirectHead(_HeadBase):
    """Direct 2.5D heatmap regression (paper Sec. 4.1, the baseline).

    2K output channels: K heatmaps trained against Gaussian targets and K depth maps trained against
    ``z * H_gt`` (Eq. 10). Decoding: ``uv`` at the argmax cell centre (Eq. 11), ``z`` read from the depth map at
    that cell (Eq. 12), ``confidence`` = the peak value clipped to [0, 1].

    Extra outputs: ``heatmaps``, ``depthmaps`` (B, K, h, w), ``raw_maps`` (B, 2K, h, w).
    """

    def __init__(self, config: ModelConfig, in_channels: int, deep_channels: int) -> None:
        super().__init__(config, in_channels, deep_channels)
        self.tail = MapTail(in_channels, 2 * config.num_keypoints, config.fast_head)
        self.register_buffer("u_flat", self.u_axis.repeat(self.map_size), persistent=False)
        self.register_buffer("v_flat", self.v_axis.repeat_interleave(self.map_size), persistent=False)

    def forward(self, features: Optional[Tensor], deepest: Tensor) -> Dict[str, Tensor]:
        """features (B, C, h, w) at heatmap resolution, deepest (B, C_deep, h', w') -> output dict."""
        if features is None:
            raise ValueError("the direct head needs decoder features (B, C, h, w), got None")
        raw = self.tail(features)
        k = self.num_keypoints
        heatmaps, depthmaps = raw[:, :k], raw[:, k:]
        uv, maxvals, index = argmax_decode(heatmaps.detach(), self.u_flat, self.v_flat)
        z = torch.gather(depthmaps.detach().flatten(2), 2, index.unsqueeze(-1)).squeeze(-1)
        return {
            "uv": uv,
            "z": z,
            "confidence": maxvals.clamp(0.0, 1.0),
            "handedness_logit": self.handedness_logit(deepest),
            "heatmaps": heatmaps,
            "depthmaps": depthmaps,
            "raw_maps": raw,
        }


class HolisticHead(_HeadBase):
    """Holistic 2.5D regression (the paper's Table 1 baseline): global pooling + fully connected layers.

    The deepest features are average-pooled and mapped by a two-layer MLP to ``(u, v, z)`` per keypoint, with
    ``u = (0.5 + o_u) * S - 0.5`` (so an output of 0 is the crop centre and +-0.5 the crop's outer edges).
    This head has no spatial distribution to measure uncertainty on: ``confidence`` is 1 for every keypoint.
    """

    produces_maps = False

    def __init__(self, config: ModelConfig, in_channels: int, deep_channels: int) -> None:
        super().__init__(config, in_channels, deep_channels)
        hidden = max(128, deep_channels)
        self.mlp = nn.Sequential(
            nn.Linear(deep_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 3 * config.num_keypoints)
        )
        nn.init.normal_(self.mlp[2].weight, std=1e-3)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, features: Optional[Tensor], deepest: Tensor) -> Dict[str, Tensor]:
        """deepest (B, C_deep, h', w') -> output dict (``features`` is not used)."""
        out = self.mlp(deepest.mean(dim=(2, 3))).view(-1, self.num_keypoints, 3)
        uv = (0.5 + out[..., :2]) * self.input_size - 0.5
        z = out[..., 2]
        return {
            "uv": uv,
            "z": z,
            "confidence": torch.ones_like(z),
            "handedness_logit": self.handedness_logit(deepest),
        }


HEADS: Dict[str, Type[_HeadBase]] = {"latent": LatentHead, "direct": DirectHead, "holistic": HolisticHead}


def build_head(config: ModelConfig, in_channels: int, deep_channels: int) -> nn.Module:
    """The head selected by ``config.head`` for features of ``in_channels`` and deepest features of ``deep_channels``."""
    try:
        cls = HEADS[config.head]
    except KeyError:
        raise ValueError(f"unknown head {config.head!r}; expected one of {', '.join(HEADS)}") from None
    return cls(config, in_channels, deep_channels)
