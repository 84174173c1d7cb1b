"""The encoder-decoder network of the paper (Sec. 5.2): stacked U-Net / hourglass stages with skip connections.

Layout for a :class:`~hand_pose_25d.model.model_config.ModelConfig` with input ``S``, output stride ``s``, depth ``D``,
``n = blocks_per_level`` and level channels ``c_0 .. c_D`` (``c_i = channels * channel_growth**i``)::

    stem      3x3 conv (stride 2 if s > 1) -> log2(s) - 1 stride-2 blocks -> 1 block       (c_0, S/s)
    stage t   encoder: D levels, each a stride-2 block then n - 1 blocks                 (c_i, S/s/2^i)
              bottleneck: n blocks at the deepest level (the "deepest features")         (c_D, S/s/2^D)
              decoder: per level, a block c_{i+1} -> c_i at the coarse resolution, nearest 2x up-sampling,
              + the encoder's features of that level (skip connection), then n - 1 blocks
    head t    on the decoder output (c_0, S/s) and the deepest features; see :mod:`.heads`
    stage t+1 input = stem features + 1x1 conv(stage t features) + 1x1 conv(stage t raw head maps)
              (stacked hourglass; no weight sharing; every stage's output is supervised)

A block is ``conv`` (3x3 conv-BN-ReLU), ``residual`` (two 3x3 convs with an identity/projection shortcut) or
``separable`` (depthwise 3x3 + pointwise 1x1, each with BN-ReLU). With ``channels=256, blocks_per_level=2,
depth=4, output_stride=1`` and 7x7 tail layers this is about 17.6 M parameters per stage, close to the 17 M the
paper reports for one stage.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .heads import build_head
from .model_config import ModelConfig

__all__ = [
    "ARCHITECTURE_FIELDS",
    "level_channels",
    "make_block",
    "ConvBlock",
    "ResidualBlock",
    "SeparableBlock",
    "EncoderDecoder",
    "HandPoseNet",
    "count_parameters",
    "check_config_matches",
]

#: ModelConfig fields that change the network's weights or outputs; a model and the config stored with it must
#: agree on all of them (the other fields are conventions: keypoint names, root, bone prior, normalisation ...).
ARCHITECTURE_FIELDS: Tuple[str, ...] = (
    "encoder",
    "head",
    "input_size",
    "channels",
    "depth",
    "output_stride",
    "num_stages",
    "block",
    "fast_head",
    "num_keypoints",
    "blocks_per_level",
    "channel_growth",
    "confidence_radius",
)


class ImageNormalizer(nn.Module):
    """The network's input convention, written once for training and export: uint8 RGB crops -> normalised floats.

    ``forward(images)`` takes (B, S, S, 3) RGB (uint8, or floats on the 0-255 scale) and returns float (B, 3, S, S)
    equal to ``(images / 255 - image_mean) / image_std`` of the model's :class:`ModelConfig`, computed as one
    multiply-add (``images * scale + offset``) so that the exported graph stays small.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        mean = torch.tensor(config.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(config.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self.register_buffer("scale", 1.0 / (255.0 * std), persistent=False)
        self.register_buffer("offset", -mean / std, persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        """(B, S, S, 3) RGB on the 0-255 scale -> (B, 3, S, S) float, normalised."""
        return images.permute(0, 3, 1, 2).to(self.scale.dtype) * self.scale + self.offset


def level_channels(config: ModelConfig) -> List[int]:
    """Channels ``c_0 .. c_depth`` of the encoder levels: ``channels * channel_growth**i`` rounded to a multiple of 8."""
    c = config.channels
    if config.channel_growth == 1.0:
        return [c] * (config.depth + 1)
    return [max(c, int(round(c * config.channel_growth**i / 8.0)) * 8) for i in range(config.depth + 1)]


class ConvBlock(nn.Sequential):
    """3x3 convolution (optionally strided) + BatchNorm + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Basic residual block: two 3x3 conv-BN (ReLU between), identity or 1x1 projection shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        """(B, cin, H, W) -> (B, cout, H / stride, W / stride)."""
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x), inplace=True)


class SeparableBlock(nn.Sequential):
    """Depthwise-separable convolution: depthwise 3x3 (optionally strided)-BN-ReLU, pointwise 1x1-BN-ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


_BLOCKS = {"conv": ConvBlock, "residual": ResidualBlock, "separable": SeparableBlock}


def make_block(kind: str, cin: int, cout: int, stride: int = 1) -> nn.Module:
    """A block of type ``kind`` (``conv``, ``residual``, ``separable``).

    It maps (B, cin, H, W) -> (B, cout, H / stride, W / stride).
    """
    try:
        return _BLOCKS[kind](cin, cout, stride)
    except KeyError:
        raise ValueError(f"unknown block type {kind!r}; expected one of {', '.join(_BLOCKS)}") from None


class EncoderDecoder(nn.Module):
    """One stage: encoder with ``len(channels) - 1`` stride-2 levels, bottleneck, decoder with additive skips.

    Args:
        channels: per-level channels ``c_0 .. c_D``.
        block: block type.
        blocks_per_level: ``n`` (see the module docstring).
        with_decoder: False builds the encoder and bottleneck only (the holistic head's last stage needs no
            decoder); ``forward`` then returns ``None`` features.
    """

    def __init__(self, channels: Sequence[int], block: str, blocks_per_level: int, with_decoder: bool = True) -> None:
        super().__init__()
        depth = len(channels) - 1
        n = blocks_per_level
        self.down = nn.ModuleList(
            nn.Sequential(
                make_block(block, channels[i - 1], channels[i], 2),
                *[make_block(block, channels[i], channels[i]) for _ in range(n - 1)],
            )
            for i in range(1, depth + 1)
        )
        self.bottleneck = nn.Sequential(*[make_block(block, channels[depth], channels[depth]) for _ in range(n)])
        self.with_decoder = with_decoder
        if with_decoder:
            self.lateral = nn.ModuleList(make_block(block, channels[i + 1], channels[i]) for i in range(depth))
            self.post = nn.ModuleList(
                nn.Sequential(*[make_block(block, channels[i], channels[i]) for _ in range(n - 1)])
                for i in range(depth)
            )

    def forward(self, x: Tensor) -> Tuple[Optional[Tensor], Tensor]:
        """(B, c_0, h, w) -> (features (B, c_0, h, w) or None, deepest (B, c_D, h / 2^D, w / 2^D))."""
        skips = [x]
        for down in self.down:
            x = down(x)
            skips.append(x)
        x = self.bottleneck(x)
        deepest = x
        if not self.with_decoder:
            return None, deepest
        for i in range(len(self.lateral) - 1, -1, -1):
            x = F.interpolate(self.lateral[i](x), scale_factor=2.0, mode="nearest") + skips[i]
            x = self.post[i](x)
        return x, deepest


def _build_stem(config: ModelConfig, c0: int) -> nn.Sequential:
    halvings = int(math.log2(config.output_stride))
    layers: List[nn.Module] = [
        nn.Conv2d(3, c0, 3, 2 if halvings else 1, 1, bias=False),
        nn.BatchNorm2d(c0),
        nn.ReLU(inplace=True),
    ]
    layers += [make_block(config.block, c0, c0, 2) for _ in range(max(halvings - 1, 0))]
    layers.append(make_block(config.block, c0, c0))
    return nn.Sequential(*layers)


class HandPoseNet(nn.Module):
    """The full network for one :class:`~hand_pose_25d.model.model_config.ModelConfig` (see the module docstring).

    ``forward(x)`` takes a float tensor (B, 3, S, S), RGB in [0, 1] already normalised with the config's
    ``image_mean`` / ``image_std``, and returns a list with one output dict per stage (the last one is the
    prediction; all of them are supervised). Keys: see :mod:`hand_pose_25d.model.heads`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        ch = level_channels(config)
        self.level_channels = ch
        stages = config.num_stages
        probe = build_head(config, ch[0], ch[-1])
        maps = probe.produces_maps
        self.stem = _build_stem(config, ch[0])
        self.stages = nn.ModuleList(
            EncoderDecoder(ch, config.block, config.blocks_per_level, with_decoder=maps or t < stages - 1)
            for t in range(stages)
        )
        self.heads = nn.ModuleList([probe] + [build_head(config, ch[0], ch[-1]) for _ in range(stages - 1)])
        self.feature_remaps = nn.ModuleList(nn.Conv2d(ch[0], ch[0], 1) for _ in range(stages - 1))
        self.output_remaps = nn.ModuleList(
            nn.Conv2d(2 * config.num_keypoints, ch[0], 1) for _ in range(stages - 1 if maps else 0)
        )

    def check_input(self, x: Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is a floating tensor (B, 3, S, S) with S = ``config.input_size``."""
        s = self.config.input_size
        if not isinstance(x, Tensor):
            raise ValueError(f"expected a float tensor (B, 3, {s}, {s}), got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != s or x.shape[3] != s:
            raise ValueError(f"expected input of shape (B, 3, {s}, {s}), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"expected a floating-point input normalised with image_mean/std, got {x.dtype}")

    def forward(self, x: Tensor) -> List[Dict[str, Tensor]]:
        """(B, 3, S, S) normalised images -> one head output dict per stage (see :mod:`.heads`)."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            self.check_input(x)
        stem = self.stem(x)
        inp = stem
        outputs: List[Dict[str, Tensor]] = []
        last = len(self.stages) - 1
        for t, (stage, head) in enumerate(zip(self.stages, self.heads)):
            features, deepest = stage(inp)
            out = head(features, deepest)
            outputs.append(out)
            if t < last:
                assert features is not None
                inp = stem + self.feature_remaps[t](features)
                if len(self.output_remaps):
                    inp = inp + self.output_remaps[t](out["raw_maps"])
        return outputs


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def check_config_matches(model: nn.Module, config: ModelConfig) -> None:
    """Raise ``ValueError`` if ``model`` was built from a config whose :data:`ARCHITECTURE_FIELDS` differ from ``config``.

    Models without a ``config`` attribute (wrapped or foreign modules) are not checked here; loading their
    weights into a model built from ``config`` checks them instead.
    """
    own = getattr(model, "config", None)
    if not isinstance(own, ModelConfig):
        return
    diff = [f for f in ARCHITECTURE_FIELDS if getattr(own, f) != getattr(config, f)]
    if diff:
        detail = ", ".join(f"{f}: model {getattr(own, f)!r} vs config {getattr(config, f)!r}" for f in diff)
        raise ValueError(f"the model was built from a different architecture than the given config ({detail})")
