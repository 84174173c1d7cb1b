"""Training data: synthetic crops (on the fly or from an on-disk cache), public datasets, weighted mixing.

Every source yields the same training record (numpy, one hand)::

    image      (S, S, 3) uint8 RGB crop, S = ModelConfig.input_size
    uv         (K, 2) float32 keypoints in crop pixels
    z          (K,) float32 root-relative depth / reference bone length (0 where has_3d is False)
    labeled    (K,) bool, keypoints with a 2D label
    has_3d     () bool
    handedness () float32: 1 right, 0 left, -1 unknown

The synthetic cache holds crops rendered once by :mod:`hand_pose_25d.data.synthetic` (a memory-mapped
``images.npy`` plus ``labels.npz``) and reuses them with lossless augmentation: the 8 right-angle rotations and
mirrorings of the crop (exact labels: they are affine maps of the crop, so K and uv follow exactly; a mirror swaps
the handedness) and photometric changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from ..crop import crop_intrinsics, dihedral_image, dihedral_matrix, transform_points
from ..data.augment import AugmentConfig, photometric, training_crop
from ..data.sample import HandSample
from ..geometry import to_2p5d
from ..model.model_config import ModelConfig
from ..settings import to_dict
from .train_config import DatasetSpec

Record = Dict[str, np.ndarray]

CACHE_VERSION = 1


def sample_to_record(sample: HandSample, mc: ModelConfig) -> Record:
    """Training record of a crop-sized sample (its image must already be the network input size)."""
    S = mc.input_size
    if sample.image.shape != (S, S, 3):
        raise ValueError(f"sample image is {sample.image.shape}, expected a ({S}, {S}, 3) crop")
    if sample.xyz is not None:
        _, z = to_2p5d(sample.xyz, sample.K, root=mc.root, ref_bone=tuple(mc.ref_bone))
        has3d = bool(np.isfinite(z).all())
        z = np.where(np.isfinite(z), z, 0.0)
    else:
        z, has3d = np.zeros(mc.num_keypoints), False
    hand = {"right": 1.0, "left": 0.0}.get(sample.handedness or "", -1.0)
    labeled = sample.labeled & np.isfinite(sample.uv).all(axis=1)
    return {
        "image": np.ascontiguousarray(sample.image),
        "uv": np.where(labeled[:, None], sample.uv, 0.0).astype(np.float32),
        "z": z.astype(np.float32),
        "labeled": labeled,
        "has_3d": np.asarray(has3d),
        "handedness": np.asarray(hand, dtype=np.float32),
    }


# --------------------------------------------------------------------------------------------------------------
# the synthetic crop cache


def _synthetic_config(overrides: Dict[str, Any]):
    from ..data.synthetic import SyntheticConfig
    from ..settings import from_dict

    return from_dict(SyntheticConfig, overrides or {})


def cache_key(spec: DatasetSpec, mc: ModelConfig, synthetic: Dict[str, Any]) -> str:
    """Name of the cache folder: a hash of everything that changes the rendered crops."""
    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "num": spec.num,
            "seed": spec.seed,
            "size": mc.input_size,
            "pad": mc.crop_padding,
            "synthetic": to_dict(_synthetic_config(synthetic)),
        },
        sort_keys=True,
    )
    return f"synth-s{spec.seed}-n{spec.num}-{mc.input_size}px-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def _render_chunk(args) -> Dict[str, np.ndarray]:
    seed, start, stop, size, pad, synthetic, images_path, total = args
    from ..data.synthetic import SyntheticHands

    gen = SyntheticHands(_synthetic_config(synthetic), seed=seed)
    images = np.load(images_path, mmap_mode="r+")
    n = stop - start
    K = np.zeros((n, 3, 3))
    uv = np.zeros((n, 21, 2))
    xyz = np.zeros((n, 21, 3))
    vis = np.zeros((n, 21), bool)
    lab = np.zeros((n, 21), bool)
    hand = np.zeros(n, np.float32)
    for j, i in enumerate(range(start, stop)):
        s = gen.crop(i, out_size=size, crop_padding=pad)
        images[i] = s.image
        K[j], uv[j], xyz[j], vis[j], lab[j] = s.K, s.uv, s.xyz, s.visible, s.labeled
        hand[j] = 1.0 if s.handedness == "right" else 0.0
    images.flush()
    return {"start": start, "K": K, "uv": uv, "xyz": xyz, "visible": vis, "labeled": lab, "handedness": hand}


def build_synthetic_cache(
    folder: Path, spec: DatasetSpec, mc: ModelConfig, synthetic: Dict[str, Any], workers: int = 2, progress: bool = True
) -> Path:
    """Render ``spec.num`` crops into ``folder`` (skipped when a complete cache is already there)."""
    folder = Path(folder)
    done = folder / "labels.npz"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    S = mc.input_size
    images_path = folder / "images.npy"
    np.lib.format.open_memmap(images_path, mode="w+", dtype=np.uint8, shape=(spec.num, S, S, 3)).flush()
    chunk = 256
    jobs = [
        (spec.seed, a, min(a + chunk, spec.num), S, mc.crop_padding, synthetic, str(images_path), spec.num)
        for a in range(0, spec.num, chunk)
    ]
    parts: List[Dict[str, np.ndarray]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=spec.num, desc=f"rendering {folder.name}", unit="crop")
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for part in pool.imap_unordered(_render_chunk, jobs):
                parts.append(part)
                if bar:
                    bar.update(len(part["K"]))
    else:
        for job in jobs:
            parts.append(_render_chunk(job))
            if bar:
                bar.update(len(parts[-1]["K"]))
    if bar:
        bar.close()
    parts.sort(key=lambda p: p["start"])
    labels = {k: np.concatenate([p[k] for p in parts]) for k in ("K", "uv", "xyz", "visible", "labeled", "handedness")}
    np.savez(folder / "labels.tmp.npz", **labels)
    os.replace(folder / "labels.tmp.npz", done)
    return folder


class CachedSyntheticSource:
    """Draws records from a synthetic crop cache with dihedral and photometric augmentation."""

    def __init__(self, folder: Path, mc: ModelConfig, augment: AugmentConfig) -> None:
        self.images = np.load(Path(folder) / "images.npy", mmap_mode="r")
        lab = np.load(Path(folder) / "labels.npz")
        self.labels = {k: lab[k] for k in lab.files}
        self.mc = mc
        self.augment = augment
        if self.images.shape[1] != mc.input_size:
            raise ValueError(f"cache {folder} holds {self.images.shape[1]} px crops, the model takes {mc.input_size}")

    def __len__(self) -> int:
        return len(self.images)

    def draw(self, rng: np.random.Generator) -> Record:
        i = int(rng.integers(len(self)))
        S = self.mc.input_size
        code = int(rng.integers(8))
        A = dihedral_matrix(code, S)
        hand = float(self.labels["handedness"][i])
        if code & 4 and hand >= 0:
            hand = 1.0 - hand
        image = dihedral_image(np.asarray(self.images[i]), code)
        image = photometric(image, rng, self.augment)
        sample = HandSample(
            image=image,
            K=crop_intrinsics(self.labels["K"][i], A),
            uv=transform_points(self.labels["uv"][i], A),
            visible=self.labels["visible"][i],
            xyz=self.labels["xyz"][i],
            handedness={1.0: "right", 0.0: "left"}.get(hand),
            labeled=self.labels["labeled"][i],
        )
        return sample_to_record(sample, self.mc)


class OnTheFlySyntheticSource:
    """Renders a fresh synthetic crop for every draw (indices never repeat within a worker)."""

    def __init__(self, spec: DatasetSpec, mc: ModelConfig, synthetic: Dict[str, Any], stream: int) -> None:
        from ..data.synthetic import SyntheticHands

        self.gen = SyntheticHands(_synthetic_config(synthetic), seed=spec.seed)
        self.mc = mc
        self.next_index = stream * 1_000_000_000

    def draw(self, rng: np.random.Generator) -> Record:
        s = self.gen.crop(self.next_index, out_size=self.mc.input_size, crop_padding=self.mc.crop_padding)
        self.next_index += 1
        return sample_to_record(s, self.mc)


class DatasetSource:
    """Crops of full-image samples (public datasets, exported synthetic frames) with random jitter."""

    def __init__(self, samples: Sequence[HandSample], mc: ModelConfig, augment: AugmentConfig) -> None:
        if len(samples) == 0:
            raise ValueError("dataset has no samples")
        self.samples = samples
        self.mc = mc
        self.augment = augment

    def draw(self, rng: np.random.Generator) -> Record:
        for _ in range(10):
            s = self.samples[int(rng.integers(len(self.samples)))]
            if s.labeled.sum() >= 2:
                crop = training_crop(s, self.mc.input_size, self.mc.crop_padding, rng, self.augment)
                return sample_to_record(crop, self.mc)
        raise ValueError("dataset samples have too few labelled keypoints to crop")


def source_synthetic(spec: DatasetSpec, synthetic: Dict[str, Any]) -> Dict[str, Any]:
    """The SyntheticConfig overrides of one source: the run's, updated with the source's own."""
    return dict(synthetic or {}, **(spec.synthetic or {}))


def open_source(
    spec: DatasetSpec, mc: ModelConfig, synthetic: Dict[str, Any], augment: AugmentConfig, cache_dir: Path, stream: int
):
    """Build the record source of one :class:`DatasetSpec`."""
    synthetic = source_synthetic(spec, synthetic)
    if spec.name == "synthetic":
        if spec.num > 0:
            folder = Path(cache_dir) / cache_key(spec, mc, synthetic)
            if not (folder / "labels.npz").is_file():
                raise FileNotFoundError(f"synthetic cache {folder} is missing; build it with prepare_sources()")
            return CachedSyntheticSource(folder, mc, augment)
        return OnTheFlySyntheticSource(spec, mc, synthetic, stream)
    if spec.name == "exported":
        from ..data.synthetic import load_exported

        return DatasetSource(load_exported(spec.root), mc, augment)
    from ..data.registry import open_dataset

    return DatasetSource(open_dataset(spec.name, spec.root, spec.split), mc, augment)


def prepare_sources(
    specs: Sequence[DatasetSpec], mc: ModelConfig, synthetic: Dict[str, Any], cache_dir: Path, workers: int = 2
) -> None:
    """Render every synthetic cache the run needs (once; reused by later runs with the same settings)."""
    for spec in specs:
        if spec.name == "synthetic" and spec.num > 0:
            syn = source_synthetic(spec, synthetic)
            build_synthetic_cache(Path(cache_dir) / cache_key(spec, mc, syn), spec, mc, syn, workers=workers)


class MixtureStream:
    """An endless iterable of records mixed from several sources by weight (a torch ``IterableDataset``).

    Each DataLoader worker (and each torchrun rank) opens its own sources and random generator, seeded from
    (seed, rank, worker), so workers never repeat each other.
    """

    def __init__(
        self,
        specs: Sequence[DatasetSpec],
        mc: ModelConfig,
        synthetic: Dict[str, Any],
        augment: AugmentConfig,
        cache_dir: Path,
        seed: int,
        rank: int = 0,
    ) -> None:
        weights = np.array([s.weight for s in specs], dtype=np.float64)
        if len(specs) == 0 or weights.sum() <= 0:
            raise ValueError("training needs at least one dataset with a positive weight")
        self.specs, self.mc, self.synthetic, self.augment = list(specs), mc, synthetic, augment
        self.cache_dir, self.seed, self.rank = Path(cache_dir), seed, rank
        self.p = weights / weights.sum()

    def _iterate(self, worker: int):
        stream = self.rank * 64 + worker
        rng = np.random.default_rng([self.seed, stream, 17])
        sources = [open_source(s, self.mc, self.synthetic, self.augment, self.cache_dir, stream) for s in self.specs]
        while True:
            k = int(rng.choice(len(sources), p=self.p))
            yield sources[k].draw(rng)

    def iterator(self, worker: int = 0):
        """Records for worker ``worker`` (used by :class:`torch.utils.data.IterableDataset` wrappers)."""
        return self._iterate(worker)


def bone_prior_from_sources(
    specs: Sequence[DatasetSpec], synthetic: Dict[str, Any], num: int, seed: int
) -> Dict[tuple, float]:
    """Mean bone lengths (metres) of ``num`` training hands with 3D labels: the model's bone-length prior."""
    from ..skeleton import mean_bone_lengths

    hands: List[np.ndarray] = []
    per = max(1, math.ceil(num / max(1, len(specs))))
    rng = np.random.default_rng(seed)
    for spec in specs:
        if spec.name == "synthetic":
            from ..data.synthetic import SyntheticHands

            gen = SyntheticHands(_synthetic_config(source_synthetic(spec, synthetic)), seed=spec.seed)
            hands.extend(gen.hand_xyz(i) for i in range(per))
        else:
            if spec.name == "exported":
                from ..data.synthetic import load_exported

                ds: Sequence[HandSample] = load_exported(spec.root)
            else:
                from ..data.registry import open_dataset

                ds = open_dataset(spec.name, spec.root, spec.split)
            for i in rng.choice(len(ds), size=min(per, len(ds)), replace=False):
                xyz = ds.xyz(int(i)) if hasattr(ds, "xyz") else ds[int(i)].xyz
                if xyz is not None and np.isfinite(xyz).all():
                    hands.append(xyz)
    if not hands:
        raise ValueError("no training hand has 3D labels: cannot compute the bone-length prior")
    return mean_bone_lengths(np.stack(hands))


def make_loader(stream: MixtureStream, batch_size: int, num_workers: int) -> Any:
    """A torch DataLoader over :class:`MixtureStream` (torch imported here)."""
    import torch
    from torch.utils.data import DataLoader, IterableDataset, get_worker_info

    class _Iterable(IterableDataset):
        def __iter__(self):
            info = get_worker_info()
            return stream.iterator(0 if info is None else info.id)

    return DataLoader(
        _Iterable(),
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
        pin_memory=torch.cuda.is_available(),
    )


Collate = Callable[[List[Record]], Dict[str, Any]]
