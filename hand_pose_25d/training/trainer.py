"""``hand-pose-25d train``: the training loop (torch).

AdamW with linear warm-up and cosine decay, loss at every stage, mixed precision on CUDA, a tqdm progress bar,
CSV and TensorBoard logs, periodic held-out evaluation on synthetic crops (2D EPE in crop pixels, root-relative
3D EPE and AUC 20-50 mm with the ground-truth bone scale), checkpoints that store the model config, the training
config, the optimiser and scheduler state and can resume, and multi-GPU data parallelism under ``torchrun``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..geometry import reconstruct_3d
from ..model.model_config import ModelConfig
from ..settings import from_dict, to_dict
from .data import MixtureStream, bone_prior_from_sources, make_loader, prepare_sources, sample_to_record
from .train_config import TrainConfig


def _setup_distributed():
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and not dist.is_initialized():
        from datetime import timedelta

        if torch.cuda.is_available():
            torch.cuda.set_device(local)  # one GPU per rank (else every rank would use cuda:0)
        # rank 0 renders the synthetic crop cache (minutes) while the others wait at the first collective
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=3))
    rank = dist.get_rank() if world > 1 else 0
    return world, rank, local


def _device(name: str, local_rank: int):
    import torch

    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but torch sees no CUDA GPU")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    return torch.device(name)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``min_ratio`` at ``total`` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _param_groups(model, weight_decay: float, lr: float, encoder_lr_scale: float = 1.0):
    """AdamW groups: decayed weights / no decay (norms, biases, beta), each split into the pretrained encoder's
    parameters (``encoder.*``, learning rate ``lr * encoder_lr_scale``; frozen at 0) and the rest (``lr``).

    Frozen parameters (``requires_grad`` False) stay in their group without gradients, which AdamW skips, so that
    a run resumed with other frozen layers loads the same optimiser state."""
    groups = {}
    for name, p in model.named_parameters():  # frozen ones too: the groups stay the same when a resume unfreezes
        pretrained = name.startswith("encoder.")
        if pretrained and encoder_lr_scale == 0.0:
            p.requires_grad_(False)
        key = (pretrained, p.ndim <= 1 or "beta" in name)
        groups.setdefault(key, []).append(p)
    return [
        {
            "params": params,
            "weight_decay": 0.0 if no_decay else weight_decay,
            "lr": lr * (encoder_lr_scale if pretrained else 1.0),
        }
        for (pretrained, no_decay), params in sorted(groups.items())
    ]


class HeldOut:
    """A fixed set of held-out synthetic crops and the quick metrics computed on it during training."""

    def __init__(self, mc: ModelConfig, synthetic: Dict[str, Any], seed: int, num: int) -> None:
        from ..data.synthetic import SyntheticConfig, SyntheticHands
        from ..settings import from_dict as fd

        gen = SyntheticHands(fd(SyntheticConfig, synthetic or {}), seed=seed)
        samples = [gen.crop(i, out_size=mc.input_size, crop_padding=mc.crop_padding) for i in range(num)]
        recs = [sample_to_record(s, mc) for s in samples]
        self.images = np.stack([r["image"] for r in recs])
        self.uv = np.stack([s.uv for s in samples])
        self.xyz = np.stack([s.xyz for s in samples])
        self.K = np.stack([s.K for s in samples])
        self.mc = mc

    def evaluate(self, model, device, batch: int = 64) -> Dict[str, float]:
        """2D EPE (crop px), root-relative 3D EPE (mm, GT bone scale), AUC 20-50 mm, invalid fraction."""
        import torch

        from .. import metrics as M
        from ..model.network import ImageNormalizer

        normalize = ImageNormalizer(self.mc).to(device)
        model.eval()
        uv, z = [], []
        with torch.inference_mode():
            for i in range(0, len(self.images), batch):
                x = normalize(torch.from_numpy(self.images[i : i + batch]).to(device))
                out = model(x)[-1]
                uv.append(out["uv"].float().cpu().numpy())
                z.append(out["z"].float().cpu().numpy())
        model.train()
        uv_p, z_p = np.concatenate(uv).astype(np.float64), np.concatenate(z).astype(np.float64)
        root, ref = self.mc.root, tuple(self.mc.ref_bone)
        rec = reconstruct_3d(uv_p, z_p, self.K, root=root, ref_bone=ref, bone_prior=self.mc.bone_prior())
        L = np.linalg.norm(self.xyz[:, ref[1]] - self.xyz[:, ref[0]], axis=-1)
        pred = (rec - rec[:, root : root + 1]) * L[:, None, None]
        # failed reconstructions are counted by val_invalid; the error figures are over the valid hands
        r3 = M.evaluate_3d(pred, self.xyz, protocol="root_relative", root=root, nonfinite_pred="ignore")
        r2 = M.evaluate_2d(uv_p, self.uv, nonfinite_pred="ignore")
        return {
            "val_epe2d_px": float(r2["epe_mean"]),
            "val_epe3d_mm": float(r3["epe_mean"]),
            "val_epe3d_median_mm": float(r3["epe_median"]),
            "val_auc3d_20_50": float(r3["auc_20_50"]),
            "val_invalid": float(np.mean(~np.isfinite(rec).all(axis=(1, 2)))),
        }


def train(cfg: TrainConfig, *, resume: Optional[Path] = None, progress: bool = True) -> Path:
    """Run training; returns the path of the final checkpoint (``<out_dir>/last.pt``)."""
    import torch

    from ..model.checkpoint import build_model, load_checkpoint, save_checkpoint
    from ..model.losses import LossConfig, compute_loss
    from ..model.network import ImageNormalizer
    from ..model.presets import preset_config

    world, rank, local = _setup_distributed()
    device = _device(cfg.device, local)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + rank)
    out = Path(cfg.out_dir)
    cache_dir = Path(cfg.cache_dir)
    main = rank == 0
    if world > 1 and main:
        import torch.distributed as dist

        print(
            f"distributed: {world} processes, backend {dist.get_backend()}, device {device}, "
            f"{cfg.batch_size} crops per process and step"
        )

    state: Optional[Dict[str, Any]] = None
    if resume is not None:
        loaded = load_checkpoint(resume, map_location="cpu")
        mc = loaded.config
        state = loaded.extra
        model = loaded.model
        if main:
            print(f"resuming from {resume} at step {state.get('step', 0)}")
            wanted = to_dict(preset_config(cfg.model_preset, **cfg.model_overrides))
            differ = [k for k, v in wanted.items() if k != "bone_lengths" and to_dict(mc).get(k) != v]
            if differ:
                print(
                    f"warning: the checkpoint's model differs from model_preset/model_overrides of the config in "
                    f"{', '.join(differ)}: training goes on with the checkpoint's model"
                )
    else:
        mc = preset_config(cfg.model_preset, **cfg.model_overrides)
        if main:
            prior = bone_prior_from_sources(cfg.datasets, cfg.synthetic, cfg.bone_prior_samples, cfg.seed)
            mc = from_dict(
                ModelConfig, dict(to_dict(mc), bone_lengths=[[a, b, v] for (a, b), v in sorted(prior.items())])
            )
        model = build_model(mc)
    if world > 1:
        import torch.distributed as dist

        blob = [mc.to_json()]
        dist.broadcast_object_list(blob, src=0)
        mc = ModelConfig.from_json(blob[0])
    loss_cfg = from_dict(LossConfig, cfg.loss)
    model = model.to(device)
    normalize = ImageNormalizer(mc).to(device)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        prepare_sources(cfg.datasets, mc, cfg.synthetic, cache_dir, workers=max(1, min(2, os.cpu_count() or 1)))
        (out / "train_config.json").write_text(json.dumps(to_dict(cfg), indent=2))
        (out / "model_config.json").write_text(json.dumps(to_dict(mc), indent=2))
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if device.type == "cuda" else None)
    net = model.module if world > 1 else model

    if cfg.optim.encoder_freeze_stride and hasattr(net, "freeze_encoder"):
        frozen = net.freeze_encoder(cfg.optim.encoder_freeze_stride)
        if main:
            print(f"encoder frozen up to stride {cfg.optim.encoder_freeze_stride}: {frozen} parameters")
    opt = torch.optim.AdamW(
        _param_groups(net, cfg.optim.weight_decay, cfg.optim.lr, cfg.optim.encoder_lr_scale),
        lr=cfg.optim.lr,
        betas=(0.9, 0.999),
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, cfg.optim.warmup_steps, cfg.steps, cfg.optim.min_lr_ratio)
    )
    step = 0
    best = -1.0
    if state is not None:
        if "optimizer" in state:
            opt.load_state_dict(state["optimizer"])
        if "scheduler" in state:
            sched.load_state_dict(state["scheduler"])
        step = int(state.get("step", 0))
        best = float(state.get("best_auc", -1.0))
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    if state is not None and state.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(state["scaler"])

    stream = MixtureStream(
        cfg.datasets, mc, cfg.synthetic, cfg.augment, cache_dir, seed=cfg.seed + 1000 * step, rank=rank
    )
    loader = iter(make_loader(stream, cfg.batch_size, cfg.num_workers))
    held = HeldOut(mc, cfg.synthetic, cfg.eval_seed, cfg.eval_num) if main else None

    writer = None
    csv_file = None
    if main:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        except ImportError:
            print("tensorboard not installed: logging to CSV only (pip install tensorboard)")
        new = not (out / "log.csv").exists()
        csv_file = open(out / "log.csv", "a", newline="")
        csv_writer = csv.writer(csv_file)
        if new:
            csv_writer.writerow(["step", "time_s", "lr", "loss", "components", "samples_per_s"])

    def save(name: str, metrics: Optional[Dict[str, float]] = None) -> Path:
        extra = {
            "step": step,
            "train_config": to_dict(cfg),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else {},
            "best_auc": best,
            "metrics": metrics or {},
        }
        path = out / name
        save_checkpoint(path, net, mc, extra=extra)
        return path

    bar = None
    if main and progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="train", unit="step", dynamic_ncols=True)
    model.train()
    t0 = time.perf_counter()
    t_last, n_last = t0, 0
    last_metrics: Dict[str, float] = {}
    try:
        while step < cfg.steps:
            batch = next(loader)
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            x = normalize(batch["image"])
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                outs = model(x)
            aux = loss_cfg.aux_heatmap_weight * max(0.0, 1.0 - step / max(1.0, loss_cfg.aux_heatmap_until * cfg.steps))
            total, comps = compute_loss(outs, batch, mc, loss_cfg, aux_weight=aux)
            loss_value = float(total.detach())
            opt.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            if cfg.optim.grad_clip > 0:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            step += 1
            n_last += x.shape[0] * world
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"loss became {loss_value} at step {step}")
            if main and (step % cfg.log_every == 0 or step == cfg.steps):
                now = time.perf_counter()
                sps = n_last / max(1e-9, now - t_last)
                t_last, n_last = now, 0
                lr = sched.get_last_lr()[0]
                csv_writer.writerow(
                    [step, round(now - t0, 1), f"{lr:.3e}", f"{loss_value:.5f}", json.dumps(comps), f"{sps:.1f}"]
                )
                csv_file.flush()
                if writer:
                    writer.add_scalar("loss/total", loss_value, step)
                    for k, v in comps.items():
                        writer.add_scalar(f"loss/{k}", v, step)
                    writer.add_scalar("lr", lr, step)
                    writer.add_scalar("samples_per_s", sps, step)
                if bar:
                    bar.set_postfix(
                        loss=f"{loss_value:.4f}",
                        lr=f"{lr:.1e}",
                        sps=f"{sps:.0f}",
                        **{k: f"{v:.3f}" for k, v in last_metrics.items() if k in ("val_epe3d_mm", "val_auc3d_20_50")},
                    )
            if bar:
                bar.update(1)
            if main and ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps):
                last_metrics = held.evaluate(net, device)
                if writer:
                    for k, v in last_metrics.items():
                        writer.add_scalar(f"val/{k}", v, step)
                with open(out / "eval.jsonl", "a") as fh:
                    fh.write(json.dumps(dict(step=step, **last_metrics)) + "\n")
                if last_metrics["val_auc3d_20_50"] > best:
                    best = last_metrics["val_auc3d_20_50"]
                    save("best.pt", last_metrics)
                if bar:
                    bar.write(f"step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in last_metrics.items()))
            if main and step % cfg.ckpt_every == 0:
                save("last.pt", last_metrics)
    finally:
        if bar:
            bar.close()
        if writer:
            writer.close()
        if csv_file:
            csv_file.close()
    path = out / "last.pt"
    if main:
        path = save("last.pt", last_metrics)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return path
