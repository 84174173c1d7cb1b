"""Latency benchmarks of the network and of the whole pipeline, with an optional MediaPipe comparison.

What is measured (``hand-pose-25d bench`` is a thin wrapper around :func:`run_benchmark`):

* **network**: ``backend.infer`` on a batch of random uint8 crops (B, S, S, 3) -- the exported graph with
  pre-processing and decoding inside, as every caller runs it;
* **pipeline**: :meth:`HandPoseEstimator.estimate` on a 640x480 synthetic frame with B hand crops (by default
  'track': a crop from keypoints, one network pass, the steady state of tracking), timed from the outside,
  with the time of each stage (preprocess, inference, decode, reconstruct) from ``last_timings``; the
  *non-network* part is the total minus the inference stage;
* **mediapipe** (optional): MediaPipe's hand landmark model (``hand_landmark_full.tflite``, 224x224 float
  input) run alone by a TFLite interpreter (``ai-edge-litert``, else ``tflite-runtime``) with the same number of
  threads, plus MediaPipe's legacy ``solutions.hands`` graph (palm detection + landmarks) on the same frame, in
  tracking mode and in static-image mode (detection on every frame: the counterpart of our acquisition). It runs as a script (:mod:`hand_pose_25d.bench.mediapipe_worker`) in a separate Python environment (MediaPipe pulls opencv-contrib and an old
  protobuf that clash with the ROS wheels) and uses only the files the MediaPipe wheel ships -- the last wheel
  that ships the hand models is ``mediapipe==0.10.21``; nothing is downloaded.

Latencies are in milliseconds: p50/p90/p99, mean, std, min, max over ``iters`` timed calls after ``warmup``
untimed ones. Throughput is items per second over the timed calls (crops for the network, frames for the
pipeline). The result also records the machine (CPU model, cores, load average, GPU if any) and the versions.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .bench_config import PRESET_MODELS, BenchSettings
from .machine import machine_info, versions
from .mediapipe_worker import RESULT_MARKER
from .stats import latency_stats, time_calls

__all__ = [
    "STAGES",
    "prepare_model",
    "bench_network",
    "bench_pipeline",
    "find_mediapipe_python",
    "bench_mediapipe",
    "run_benchmark",
    "format_report",
]

#: Pipeline stages as named in :attr:`HandPoseEstimator.last_timings`.
STAGES: Tuple[str, ...] = ("preprocess", "inference", "decode", "reconstruct")
#: Default location of the MediaPipe environment (relative to the working directory).
MEDIAPIPE_VENV = ".venv-mediapipe"
#: The worker script, run by path with MediaPipe's Python.
WORKER = Path(__file__).resolve().with_name("mediapipe_worker.py")


# --------------------------------------------------------------------------------------------------------------
# models


def prepare_model(model: str, backend: str, workdir: Path) -> Tuple[str, Dict[str, Any]]:
    """The model setting to give the pipeline for ``model`` on ``backend``, and facts about it.

    A preset name builds an untrained network of that preset and writes it into ``workdir`` (a checkpoint for
    torch, an ONNX export otherwise); 'default' and paths are passed through.

    Returns:
        (model path or 'default', {'source': 'preset'|'default'|'file', 'preset': ..., 'parameters': ...}).
    """
    if model in PRESET_MODELS:
        import torch

        from ..model.checkpoint import build_model, save_checkpoint
        from ..model.presets import preset_config

        config = preset_config(model)
        torch.manual_seed(0)
        net = build_model(config).eval()
        params = int(sum(p.numel() for p in net.parameters()))
        workdir.mkdir(parents=True, exist_ok=True)
        if backend == "torch":
            path = save_checkpoint(workdir / f"{model}.pt", net, config)
        else:
            from ..model.onnx_export import export_onnx

            path = export_onnx(net, config, workdir / f"{model}.onnx")
        return str(path), {"source": "preset (untrained, timings only)", "preset": model, "parameters": params}
    facts: Dict[str, Any] = {"source": "default" if model in ("", "default") else "file"}
    return model, facts


def _onnx_parameters(path: Path) -> Optional[int]:
    try:
        import onnx
    except ImportError:
        return None
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - a count is optional information
        return None
    return int(sum(int(np.prod(t.dims)) if t.dims else 1 for t in proto.graph.initializer))


# --------------------------------------------------------------------------------------------------------------
# network and pipeline


def bench_network(backend: Any, batch: int, iters: int, warmup: int, seed: int = 0) -> Dict[str, Any]:
    """Latency of ``backend.infer`` on ``batch`` random uint8 crops; throughput in crops per second."""
    S = backend.input_size
    crops = np.random.default_rng(seed).integers(0, 256, (batch, S, S, 3), dtype=np.uint8)
    ms = time_calls(lambda: backend.infer(crops), iters, warmup)
    return {
        "batch": int(batch),
        "input": [int(batch), S, S, 3],
        "latency_ms": latency_stats(ms),
        "throughput_crops_per_s": float(batch * iters / (ms.sum() / 1000.0)),
    }


def _pipeline_crops(estimator: Any, sample: Any, mode: str, batch: int) -> Optional[List[Any]]:
    if mode == "full":
        if batch != 1:
            raise ValueError("--crop full looks for one hand in the whole frame; use --batch 1")
        return None
    if mode == "track":
        req = estimator.crop_from_keypoints(sample.uv)
    else:
        lo, hi = sample.uv.min(axis=0) - 0.5, sample.uv.max(axis=0) + 0.5
        req = estimator.crop_from_roi(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))
    return [req] * batch


def _count_network_calls(estimator: Any, fn: Callable[[], Any]) -> Tuple[int, int]:
    """How many times ``fn`` calls ``estimator.backend.infer``, and on how many crops in all (one untimed call)."""
    backend = estimator.backend
    infer = backend.infer
    count = crops_seen = 0

    def counting(crops: np.ndarray) -> Any:
        nonlocal count, crops_seen
        count += 1
        crops_seen += len(crops)
        return infer(crops)

    backend.infer = counting  # an instance attribute shadows the method for this one call
    try:
        fn()
    finally:
        del backend.infer
    return count, crops_seen


def bench_pipeline(
    estimator: Any,
    batch: int,
    iters: int,
    warmup: int,
    *,
    crop: str = "track",
    width: int = 640,
    height: int = 480,
    seed: int = 0,
) -> Dict[str, Any]:
    """Latency of :meth:`HandPoseEstimator.estimate` on a synthetic ``width`` x ``height`` frame with ``batch`` crops.

    Returns:
        'latency_ms' (total, timed outside ``estimate``), 'stages_ms' (per stage from ``last_timings``),
        'non_network_ms' (total minus inference, per call), 'stage_sum_ms' (sum of the stages, per call),
        'throughput_frames_per_s', 'network_passes' (backend calls per frame, counted), 'network_crops' (crops
        those calls ran on: hands x refinement passes x test-time augmentation copies) and the frame facts.
    """
    from ..data.synthetic import SyntheticHands

    sample = SyntheticHands(seed=seed).frame(0, width, height)
    crops = _pipeline_crops(estimator, sample, crop, batch)
    image, K, dist = sample.image, sample.K, sample.dist_coeffs
    passes, net_crops = _count_network_calls(estimator, lambda: estimator.estimate(image, K, crops, dist_coeffs=dist))
    for _ in range(warmup):
        estimator.estimate(image, K, crops, dist_coeffs=dist)
    total = np.empty(iters)
    stages = {s: np.empty(iters) for s in STAGES}
    for i in range(iters):
        t = time.perf_counter()
        estimator.estimate(image, K, crops, dist_coeffs=dist)
        total[i] = (time.perf_counter() - t) * 1000.0
        for s in STAGES:
            stages[s][i] = estimator.last_timings[s]
    stage_sum = sum(stages[s] for s in STAGES)
    return {
        "frame": [int(width), int(height)],
        "hands": int(batch),
        "crop": crop,
        "network_passes": passes,
        "network_crops": net_crops,
        "test_time_augmentation": estimator.config.test_time_augmentation,
        "latency_ms": latency_stats(total),
        "stages_ms": {s: latency_stats(stages[s]) for s in STAGES},
        "stage_sum_ms": latency_stats(stage_sum),
        "non_network_ms": latency_stats(total - stages["inference"]),
        "throughput_frames_per_s": float(iters / (total.sum() / 1000.0)),
    }


def bench_acquisition(
    estimator: Any, iters: int, warmup: int, *, width: int = 640, height: int = 480, seed: int = 0
) -> Optional[Dict[str, Any]]:
    """The palm detector alone on a full frame, and a whole acquisition: detector + the pose of one detected hand.

    The crop of the acquisition is the detector's own when it finds the rendered hand, else a box around the hand
    taken as a detection (the work is the same): one network pass, two with ``pipeline.refine_detections``.

    Returns:
        None without a detector; else 'detector_ms' and 'acquisition_ms' latency stats and 'palms_found' (in the
        untimed first call).
    """
    if estimator.detector is None:
        return None
    from ..data.synthetic import SyntheticHands

    sample = SyntheticHands(seed=seed).frame(0, width, height)
    image, K, dist = sample.image, sample.K, sample.dist_coeffs
    from ..inference.pipeline import CropRequest

    found = estimator.detect_crops(image)
    box = found[0] if found else _pipeline_crops(estimator, sample, "roi", 1)[0].box
    crops = [CropRequest(box, from_keypoints=False, detected=True)]
    for _ in range(warmup):
        estimator.detect_crops(image)
    det = time_calls(lambda: estimator.detect_crops(image), iters, 0)

    def acquire() -> None:
        estimator.detect_crops(image)
        estimator.estimate(image, K, crops, dist_coeffs=dist)

    passes, _ = _count_network_calls(estimator, lambda: estimator.estimate(image, K, crops, dist_coeffs=dist))
    acq = time_calls(acquire, iters, warmup)
    return {
        "network_passes": passes,
        "detector": estimator.detector_status,
        "frame": [int(width), int(height)],
        "palms_found": len(found or []),
        "detector_ms": latency_stats(det),
        "acquisition_ms": latency_stats(acq),
    }


def bench_depth(
    estimator: Any, iters: int, warmup: int, *, width: int = 640, height: int = 480, seed: int = 0
) -> Dict[str, Any]:
    """What an aligned depth image adds to a tracked frame: decoding a 16UC1 message (``depth_from_buffer``) and the
    fit (root depth, scale, keypoint depths), against the same frame without depth.

    Returns:
        'decode_ms', 'with_depth_ms', 'without_depth_ms' latency stats and 'added_p50_ms' (decode + with - without).
    """
    from ..data.synthetic import SyntheticHands
    from ..depth import depth_from_buffer, simulate_depth

    sample = SyntheticHands(seed=seed).frame(0, width, height)
    image, K, dist = sample.image, sample.K, sample.dist_coeffs
    crops = _pipeline_crops(estimator, sample, "track", 1)
    sim = simulate_depth(sample.depth, np.random.default_rng(seed))
    raw = np.where(np.isfinite(sim), np.round(sim * 1000.0), 0).astype(np.uint16).tobytes()
    decode = time_calls(lambda: depth_from_buffer("16UC1", height, width, width * 2, False, raw), iters, warmup)
    depth = depth_from_buffer("16UC1", height, width, width * 2, False, raw)
    used = estimator.estimate(image, K, crops, dist_coeffs=dist, depth=depth)[0].scale_source == "depth"
    without = time_calls(lambda: estimator.estimate(image, K, crops, dist_coeffs=dist), iters, warmup)
    with_depth = time_calls(lambda: estimator.estimate(image, K, crops, dist_coeffs=dist, depth=depth), iters, warmup)
    d, w, wo = latency_stats(decode), latency_stats(with_depth), latency_stats(without)
    return {
        "frame": [int(width), int(height)],
        "depth_used": bool(used),
        "decode_ms": d,
        "with_depth_ms": w,
        "without_depth_ms": wo,
        "added_p50_ms": d["p50"] + w["p50"] - wo["p50"],
    }


# --------------------------------------------------------------------------------------------------------------
# MediaPipe (runs in a separate Python environment)


def find_mediapipe_python(explicit: str = "") -> Optional[str]:
    """The Python to run MediaPipe with: ``explicit``, ``$HAND_POSE_25D_MEDIAPIPE_PYTHON``,
    ``./.venv-mediapipe/bin/python``, or this interpreter if it can import mediapipe; None if none."""
    for cand in (explicit, os.environ.get("HAND_POSE_25D_MEDIAPIPE_PYTHON", "")):
        if cand:
            return cand
    venv = Path(MEDIAPIPE_VENV) / "bin" / "python"
    if venv.exists():
        return str(venv)
    if importlib.util.find_spec("mediapipe") is not None:
        return sys.executable
    return None


def bench_mediapipe(
    python: Optional[str],
    iters: int,
    warmup: int,
    threads: int = 2,
    *,
    model: str = "",
    frame: Optional[np.ndarray] = None,
    timeout_s: float = 600.0,
) -> Dict[str, Any]:
    """Measure MediaPipe's hand landmark model (and its solutions.hands graph on ``frame``) in a subprocess.

    Returns:
        {'available': True, 'landmark_model': {...latency_ms...}, 'solution': {...}, 'python': ...} or
        {'available': False, 'reason': ...} (MediaPipe, its model or an interpreter missing).
    """
    if not python:
        return {
            "available": False,
            "reason": (
                f"no MediaPipe environment: create one with '{sys.executable} -m venv {MEDIAPIPE_VENV} && "
                f"{MEDIAPIPE_VENV}/bin/pip install mediapipe==0.10.21 ai-edge-litert', or pass --mediapipe-python"
            ),
        }
    with tempfile.TemporaryDirectory(prefix="hp25d_mp_") as tmp:
        request: Dict[str, Any] = {"iters": int(iters), "warmup": int(warmup), "threads": int(threads), "model": model}
        if frame is not None:
            path = Path(tmp) / "frame.npy"
            np.save(path, np.ascontiguousarray(frame, dtype=np.uint8))
            request["frame"] = str(path)
        env = dict(os.environ, GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="2")
        try:
            proc = subprocess.run(
                [python, str(WORKER), json.dumps(request)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=env,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"available": False, "python": python, "reason": f"cannot run {python}: {exc}"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {
            "available": False,
            "python": python,
            "reason": f"the MediaPipe run failed (exit {proc.returncode}): {' | '.join(tail)}",
        }
    result = json.loads(lines[-1][len(RESULT_MARKER) :])
    result["python"] = python
    return result


# --------------------------------------------------------------------------------------------------------------
# the whole benchmark


def run_benchmark(settings: BenchSettings, progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Measure what ``settings`` asks for; returns the JSON-ready result (see the module docstring)."""
    from ..inference.pipeline import HandPoseEstimator
    from ..inference.pipeline_config import PipelineConfig

    settings.check()
    say = progress or (lambda msg: None)
    result: Dict[str, Any] = {
        "settings": asdict(settings),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
    }
    with tempfile.TemporaryDirectory(prefix="hp25d_bench_") as tmp:
        say(f"preparing model {settings.model!r} for {settings.backend}")
        model_path, facts = prepare_model(settings.model, settings.backend, Path(tmp))
        cfg = PipelineConfig(
            model=model_path,
            backend=settings.backend,
            device=settings.device,
            fp16=settings.fp16,
            num_threads=settings.threads,
            max_batch=max(8, settings.batch),
            test_time_augmentation=settings.tta,
        )
        est = HandPoseEstimator(cfg)
        backend = est.backend
        mc = est.model_config
        if "parameters" not in facts and str(getattr(backend, "path", "")).endswith(".onnx"):
            facts["parameters"] = _onnx_parameters(Path(backend.path))
        facts.update(
            {
                "path": str(getattr(backend, "path", getattr(backend, "engine_path", model_path))),
                "preset_of_config": mc.preset,
                "input_size": mc.input_size,
                "backend": backend.describe(),
            }
        )
        if facts["source"] not in ("file", "default"):
            facts["path"] = f"(temporary {Path(facts['path']).name})"
        result["model"] = facts
        result["threads"] = _actual_threads(backend, settings.threads)
        if settings.network:
            say(f"network: {settings.iters} calls of batch {settings.batch}")
            result["network"] = bench_network(backend, settings.batch, settings.iters, settings.warmup, settings.seed)
        if settings.pipeline:
            say(f"pipeline: {settings.iters} frames of {settings.width}x{settings.height}")
            result["pipeline"] = bench_pipeline(
                est,
                settings.batch,
                settings.iters,
                settings.warmup,
                crop=settings.crop,
                width=settings.width,
                height=settings.height,
                seed=settings.seed,
            )
            say(f"palm detector and acquisition: {settings.iters} frames")
            acq = bench_acquisition(
                est, settings.iters, settings.warmup, width=settings.width, height=settings.height, seed=settings.seed
            )
            result["acquisition"] = acq if acq is not None else {"detector": est.detector_status}
            say(f"aligned depth: {settings.iters} frames")
            result["depth"] = bench_depth(
                est, settings.iters, settings.warmup, width=settings.width, height=settings.height, seed=settings.seed
            )
        backend.close()
    result["ratios"] = _ratios(result)
    if settings.compare_mediapipe:
        say("MediaPipe hand landmark model")
        frame = None
        if settings.pipeline:
            from ..data.synthetic import SyntheticHands

            frame = SyntheticHands(seed=settings.seed).frame(0, settings.width, settings.height).image
        mp = bench_mediapipe(
            find_mediapipe_python(settings.mediapipe_python),
            settings.iters,
            settings.warmup,
            settings.mediapipe_threads,
            model=settings.mediapipe_model,
            frame=frame,
        )
        result["mediapipe"] = mp
        if mp.get("available") and "network" in result:
            ours = result["network"]["latency_ms"]["p50"]
            theirs = mp["landmark_model"]["latency_ms"]["p50"]
            result["ratios"]["network_p50_over_mediapipe_landmark_p50"] = ours / theirs
        sol = mp.get("solution") or {}
        acq = result.get("acquisition") or {}
        if "latency_ms" in sol and "acquisition_ms" in acq:
            result["ratios"]["acquisition_p50_over_mediapipe_solution_p50"] = (
                acq["acquisition_ms"]["p50"] / sol["latency_ms"]["p50"]
            )
        static = mp.get("solution_static") or {}
        if "latency_ms" in static and "acquisition_ms" in acq:
            result["ratios"]["acquisition_p50_over_mediapipe_static_p50"] = (
                acq["acquisition_ms"]["p50"] / static["latency_ms"]["p50"]
            )
    result["machine"]["loadavg_end"] = machine_info()["loadavg"]
    return result


def _actual_threads(backend: Any, requested: int) -> Dict[str, Any]:
    out: Dict[str, Any] = {"requested": int(requested)}
    torch = getattr(backend, "torch", None)
    if torch is not None and backend.name == "torch":
        out["torch_intra_op"] = int(torch.get_num_threads())
    sess = getattr(backend, "session", None)
    if sess is not None:
        opts = sess.get_session_options()
        out["onnxruntime_intra_op"] = int(opts.intra_op_num_threads)  # 0: ONNX Runtime's default (physical cores)
    return out


def _ratios(result: Dict[str, Any]) -> Dict[str, float]:
    r: Dict[str, float] = {}
    pipe = result.get("pipeline")
    if pipe:
        total = pipe["latency_ms"]["p50"]
        r["inference_share_of_pipeline_p50"] = pipe["stages_ms"]["inference"]["p50"] / total
        r["non_network_p50_ms"] = pipe["non_network_ms"]["p50"]
        r["stage_sum_over_total_mean"] = pipe["stage_sum_ms"]["mean"] / pipe["latency_ms"]["mean"]
        if result.get("network"):
            r["network_p50_over_pipeline_p50"] = result["network"]["latency_ms"]["p50"] / total
    return r


def format_report(result: Dict[str, Any]) -> str:
    """A short human-readable table of a :func:`run_benchmark` result."""
    s = result["settings"]
    m = result["model"]
    mach = result["machine"]
    lines = [
        f"model {s['model']} ({m.get('source')}, input {m.get('input_size')}, "
        f"{m.get('parameters') or '?'} parameters) on {m.get('backend')}",
        f"machine: {mach['cpu']}, {mach['usable_cpus']} usable CPUs, GPU: {', '.join(mach['gpus']) or 'none'}, "
        f"load average {mach.get('loadavg')} -> {mach.get('loadavg_end')}; threads {result.get('threads')}",
        f"{'':36s}{'p50':>9s}{'p90':>9s}{'p99':>9s}{'mean':>9s}  ms",
    ]

    def row(name: str, st: Dict[str, float], extra: str = "") -> None:
        lines.append(f"{name:36s}{st['p50']:9.2f}{st['p90']:9.2f}{st['p99']:9.2f}{st['mean']:9.2f}  {extra}".rstrip())

    net = result.get("network")
    if net:
        row(f"network (batch {net['batch']})", net["latency_ms"], f"{net['throughput_crops_per_s']:.3g} crops/s")
    pipe = result.get("pipeline")
    if pipe:
        w, h = pipe["frame"]
        extra = f"{pipe['throughput_frames_per_s']:.3g} frames/s, {pipe['network_passes']} network pass(es)"
        tta = pipe.get("test_time_augmentation", "none")
        if tta != "none":
            extra += f" on {pipe['network_crops']} crops ({tta} test-time augmentation)"
        row(f"pipeline {w}x{h} ({pipe['hands']} {pipe['crop']})", pipe["latency_ms"], extra)
        for st in STAGES:
            row(f"  {st}", pipe["stages_ms"][st])
        row("  everything but inference", pipe["non_network_ms"])
    dep = result.get("depth")
    if dep:
        row("depth image: decode 16UC1", dep["decode_ms"])
        row("tracked frame with depth (fit)", dep["with_depth_ms"], f"added p50 {dep['added_p50_ms']:.2f} ms")
    acq = result.get("acquisition")
    if acq and "detector_ms" in acq:
        row("palm detector (full frame)", acq["detector_ms"], f"{acq['palms_found']} palm(s) in the frame")
        row(
            "acquisition: detector + pose",
            acq["acquisition_ms"],
            f"one hand, {acq.get('network_passes', '?')} network pass(es)",
        )
    elif acq:
        lines.append(f"palm detector: not measured: {acq['detector']}")
    mp = result.get("mediapipe")
    if mp is not None:
        if mp.get("available"):
            lm = mp["landmark_model"]
            row(
                f"MediaPipe {lm['file']}",
                lm["latency_ms"],
                f"{lm['input'][1]}x{lm['input'][2]}, {lm['threads']} threads, {mp.get('interpreter')}, "
                f"mediapipe {mp.get('mediapipe_version')}",
            )
            sol = mp.get("solution")
            if sol and "latency_ms" in sol:
                row(
                    "MediaPipe solutions.hands",
                    sol["latency_ms"],
                    f"tracking; hand found in {sol['frames_with_hand']}/{sol['latency_ms']['n']} frames",
                )
            static = mp.get("solution_static")
            if static and "latency_ms" in static:
                row(
                    "MediaPipe solutions.hands, static",
                    static["latency_ms"],
                    f"detection every frame; hand in {static['frames_with_hand']}/{static['latency_ms']['n']}",
                )
        else:
            lines.append(f"MediaPipe: not measured: {mp.get('reason')}")
    r = result.get("ratios", {})
    if "inference_share_of_pipeline_p50" in r:
        lines.append(
            f"inference stage = {100 * r['inference_share_of_pipeline_p50']:.0f}% of the pipeline p50; everything "
            f"else {r['non_network_p50_ms']:.2f} ms p50"
        )
    if "acquisition_p50_over_mediapipe_solution_p50" in r:
        lines.append(
            f"acquisition p50 / MediaPipe solutions.hands p50 = {r['acquisition_p50_over_mediapipe_solution_p50']:.2f}"
        )
    if "acquisition_p50_over_mediapipe_static_p50" in r:
        lines.append(
            "acquisition p50 / MediaPipe solutions.hands static-image p50 (both detect on every frame) = "
            f"{r['acquisition_p50_over_mediapipe_static_p50']:.2f}"
        )
    if "network_p50_over_mediapipe_landmark_p50" in r:
        lines.append(f"network p50 / MediaPipe landmark model p50 = {r['network_p50_over_mediapipe_landmark_p50']:.2f}")
    return "\n".join(lines)
