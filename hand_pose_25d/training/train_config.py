"""Training settings (``config/train/*.yaml`` are instances of :class:`TrainConfig`). Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

from ..data.augment import AugmentConfig
from ..model.presets import PRESETS
from ..settings import setting

DATASET_KINDS = ("synthetic", "rhd", "stb", "freihand", "exported")


@dataclass
class DatasetSpec:
    """One training source and its share of each batch."""

    name: str = setting("synthetic", description="Source kind.", choices=DATASET_KINDS)
    root: str = setting("", description="Dataset folder (rhd, stb, freihand, exported synthetic sets).")
    split: str = setting("train", description="Dataset split (reader-specific names, e.g. 'training').")
    weight: float = setting(1.0, description="Relative share of this source in each batch.", min=0.0)
    num: int = setting(
        0,
        description="synthetic: crops pre-rendered into the on-disk cache and reused with lossless augmentation "
        "(0 renders every sample on the fly).",
        min=0,
    )
    seed: int = setting(0, description="synthetic: renderer seed (the held-out evaluation seed must differ).", min=0)
    synthetic: Dict[str, Any] = setting(
        default_factory=dict,
        description="synthetic: SyntheticConfig overrides for this source only, on top of TrainConfig.synthetic.",
    )


@dataclass
class OptimConfig:
    """AdamW with linear warm-up and cosine decay."""

    lr: float = setting(2e-3, description="Peak learning rate.", min=0.0, max=1.0)
    weight_decay: float = setting(1e-4, description="AdamW weight decay (not applied to norms, biases, beta).", min=0.0)
    warmup_steps: int = setting(500, description="Linear warm-up steps.", min=0)
    min_lr_ratio: float = setting(0.02, description="Final learning rate as a fraction of the peak.", min=0.0, max=1.0)
    grad_clip: float = setting(5.0, description="Gradient norm clip (0 disables).", min=0.0)
    encoder_lr_scale: float = setting(
        1.0,
        description="Learning rate of a pretrained encoder's weights as a fraction of lr (ModelConfig.encoder; "
        "0 freezes them).",
        min=0.0,
        max=1.0,
    )
    encoder_freeze_stride: int = setting(
        0,
        description="Freeze a pretrained encoder's layers up to this stride (0: none; 4, 8, 16 ...: the maps at "
        "that stride and finer; the cut stride: the whole encoder).",
        min=0,
        max=32,
    )


@dataclass
class TrainConfig:
    """Everything a training run needs; stored in every checkpoint it writes."""

    model_preset: str = setting("compact", description="Architecture preset.", choices=tuple(PRESETS))
    model_overrides: Dict[str, Any] = setting(
        default_factory=dict, description="ModelConfig fields overriding the preset (e.g. head: direct)."
    )
    datasets: List[DatasetSpec] = setting(
        default_factory=lambda: [DatasetSpec()], description="Training sources mixed by weight."
    )
    synthetic: Dict[str, Any] = setting(
        default_factory=dict, description="SyntheticConfig overrides for the synthetic sources and evaluation."
    )
    augment: AugmentConfig = setting(default_factory=AugmentConfig, description="Crop jitter and photometric changes.")
    loss: Dict[str, Any] = setting(default_factory=dict, description="LossConfig overrides (alpha etc.).")
    optim: OptimConfig = setting(default_factory=OptimConfig, description="Optimiser and schedule.")
    batch_size: int = setting(32, description="Samples per step (per process with torchrun).", min=1)
    steps: int = setting(20000, description="Optimiser steps.", min=1)
    eval_every: int = setting(1000, description="Steps between held-out evaluations (0: only at the end).", min=0)
    eval_num: int = setting(300, description="Held-out synthetic crops per evaluation.", min=1)
    eval_seed: int = setting(987654, description="Renderer seed of the held-out evaluation set.", min=0)
    ckpt_every: int = setting(1000, description="Steps between checkpoints.", min=1)
    log_every: int = setting(50, description="Steps between log lines (CSV, TensorBoard).", min=1)
    out_dir: str = setting("runs/train", description="Run folder: checkpoints, CSV and TensorBoard logs.")
    cache_dir: str = setting("data/cache", description="Folder of pre-rendered synthetic crop caches.")
    device: str = setting("auto", description="'auto' (CUDA if available), 'cpu', 'cuda' or 'cuda:N'.")
    amp: bool = setting(True, description="Mixed precision on CUDA (ignored on the CPU).")
    seed: int = setting(0, description="Seed of initialisation, sampling and augmentation.", min=0)
    num_workers: int = setting(1, description="DataLoader worker processes.", min=0, max=64)
    threads: int = setting(0, description="torch CPU threads (0: torch's default).", min=0, max=256)
    bone_prior_samples: int = setting(
        2000, description="Training hands averaged into the bone-length prior stored with the model.", min=10
    )
