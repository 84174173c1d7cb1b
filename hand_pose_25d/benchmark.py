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
  threads, plus MediaPipe's legacy ``solutions.hands`` graph (palm detection + landmarks, tracking) on the same
  frame. It runs in a subprocess of a separate Python environment (MediaPipe pulls opencv-contrib and an old
  protobuf that clash with the ROS wheels) and uses only the files the MediaPipe wheel ships -- the last wheel
  that ships the hand models is ``mediapipe==0.10.21``; nothing is downloaded.

Latencies are in milliseconds: p50/p90/p99, mean, std, min, max over ``iters`` timed calls after ``warmup``
untimed ones. Throughput is items per second over the timed calls (crops for the network, frames for the
pipeline). The result also records the machine (CPU model, cores, load average, GPU if any) and the versions.
"""

from __future__ import annotations

import datetime
import importlib.util
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import __version__
from .config import TTA_MODES

__all__ = [
    "PRESET_MODELS",
    "STAGES",
    "BenchSettings",
    "latency_stats",
    "time_calls",
    "machine_info",
    "versions",
    "prepare_model",
    "bench_network",
    "bench_pipeline",
    "find_mediapipe_python",
    "bench_mediapipe",
    "run_benchmark",
    "format_report",
]

#: ``--model`` values that mean an untrained network of that preset (timings only).
PRESET_MODELS: Tuple[str, ...] = ("paper", "fast", "compact")
#: Pipeline stages as named in :attr:`HandPoseEstimator.last_timings`.
STAGES: Tuple[str, ...] = ("preprocess", "inference", "decode", "reconstruct")
#: Default location of the MediaPipe environment (relative to the working directory).
MEDIAPIPE_VENV = ".venv-mediapipe"
_MP_MARKER = "HP25D_MEDIAPIPE_RESULT "


@dataclass
class BenchSettings:
    """What to measure.

    Attributes:
        backend: 'onnxruntime', 'torch' or 'tensorrt'.
        model: 'default' (the shipped model), a preset name ('paper', 'fast', 'compact': untrained, timings only)
            or a model file path.
        batch: crops per network call; hands per frame in the pipeline.
        threads: CPU threads of the runtime (0: its default).
        device: 'cpu', 'cuda' or 'cuda:N'.
        fp16: half precision (CUDA only).
        iters, warmup: timed and untimed calls per measurement.
        crop: pipeline crop: 'track' (from keypoints, one pass), 'roi' (a loose box, refined: two passes) or
            'full' (the whole frame, refined: two passes).
        tta: the pipeline's test-time augmentation ('none', 'mirror': 2 network passes per crop, 'dihedral': 8).
        width, height: pipeline frame size in pixels.
        seed: seed of the random crops and of the synthetic frame.
        network: measure the network alone; ``pipeline``: measure the pipeline.
        compare_mediapipe: also measure MediaPipe (see :func:`bench_mediapipe`).
        mediapipe_python: Python of the MediaPipe environment ('' = :func:`find_mediapipe_python`).
        mediapipe_threads: TFLite threads for MediaPipe's landmark model.
        mediapipe_model: path of a hand landmark .tflite ('' = the one the MediaPipe wheel ships).
    """

    backend: str = "onnxruntime"
    model: str = "default"
    batch: int = 1
    threads: int = 0
    device: str = "cpu"
    fp16: bool = False
    iters: int = 200
    warmup: int = 20
    crop: str = "track"
    tta: str = "none"
    width: int = 640
    height: int = 480
    seed: int = 0
    network: bool = True
    pipeline: bool = True
    compare_mediapipe: bool = False
    mediapipe_python: str = ""
    mediapipe_threads: int = 2
    mediapipe_model: str = ""

    def check(self) -> None:
        """``ValueError`` naming the first invalid setting."""
        if self.backend not in ("onnxruntime", "torch", "tensorrt"):
            raise ValueError(f"unknown backend {self.backend!r}; use onnxruntime, torch or tensorrt")
        if self.batch < 1 or self.batch > 256:
            raise ValueError(f"--batch must be in 1..256, got {self.batch}")
        if self.iters < 1:
            raise ValueError(f"--iters must be at least 1, got {self.iters}")
        if self.warmup < 0:
            raise ValueError(f"--warmup must be >= 0, got {self.warmup}")
        if self.threads < 0:
            raise ValueError(f"--threads must be >= 0, got {self.threads}")
        if self.crop not in ("track", "roi", "full"):
            raise ValueError(f"--crop must be track, roi or full, got {self.crop!r}")
        if self.tta not in TTA_MODES:
            raise ValueError(f"--tta must be one of {', '.join(TTA_MODES)}, got {self.tta!r}")
        if self.width < 64 or self.height < 64:
            raise ValueError(f"frame must be at least 64x64 pixels, got {self.width}x{self.height}")
        if self.mediapipe_threads < 1:
            raise ValueError(f"--mediapipe-threads must be at least 1, got {self.mediapipe_threads}")


# --------------------------------------------------------------------------------------------------------------
# measuring


def latency_stats(samples_ms: Sequence[float]) -> Dict[str, float]:
    """p50/p90/p99 (linear interpolation), mean, std, min, max and count of latencies in milliseconds."""
    a = np.asarray(samples_ms, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError("no latency samples")
    if not np.all(np.isfinite(a)):
        raise ValueError("latency samples contain NaN or infinite values")
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(a.mean()), "std": float(a.std()),
            "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}  # fmt: skip


def time_calls(fn: Callable[[], Any], iters: int, warmup: int) -> np.ndarray:
    """Call ``fn`` ``warmup`` times untimed, then ``iters`` times; returns the (iters,) latencies in ms."""
    for _ in range(warmup):
        fn()
    out = np.empty(iters, dtype=np.float64)
    for i in range(iters):
        t = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t) * 1000.0
    return out


# --------------------------------------------------------------------------------------------------------------
# machine and versions


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> List[str]:
    """Names of NVIDIA GPUs (nvidia-smi, else torch if it is already imported), empty if none."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=False)  # fmt: skip
        if out.returncode == 0:
            return [line.strip() for line in out.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def machine_info() -> Dict[str, Any]:
    """CPU model, logical CPUs (and those this process may use), memory, load average, GPUs, OS."""
    info: Dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "gpus": _gpus(),
    }
    try:
        info["loadavg"] = [float(x) for x in open("/proc/loadavg", encoding="utf-8").read().split()[:3]]
    except OSError:
        info["loadavg"] = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        info["memory_gb"] = round(kb / 1024**2, 1)
    except (OSError, StopIteration, ValueError):
        info["memory_gb"] = None
    return info


def _dist_version(name: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> Dict[str, Optional[str]]:
    """Versions of Python, this package and the runtimes (None where not installed); nothing is imported."""
    out: Dict[str, Optional[str]] = {"python": platform.python_version(), "hand_pose_25d": __version__}
    for key, dists in (
        ("numpy", ("numpy",)),
        ("opencv", ("opencv-python-headless", "opencv-python", "opencv-contrib-python")),
        ("onnx", ("onnx",)),
        ("onnxruntime", ("onnxruntime", "onnxruntime-gpu")),
        ("torch", ("torch",)),
        ("tensorrt", ("tensorrt", "tensorrt-cu12", "tensorrt_cu12")),
    ):
        out[key] = next((v for v in map(_dist_version, dists) if v), None)
    if out["tensorrt"] is None and "tensorrt" in sys.modules:  # JetPack's python3-libnvinfer has no dist metadata
        out["tensorrt"] = str(getattr(sys.modules["tensorrt"], "__version__", None))
    return out


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

        from .model.checkpoint import build_model, save_checkpoint
        from .model.presets import preset_config

        config = preset_config(model)
        torch.manual_seed(0)
        net = build_model(config).eval()
        params = int(sum(p.numel() for p in net.parameters()))
        workdir.mkdir(parents=True, exist_ok=True)
        if backend == "torch":
            path = save_checkpoint(workdir / f"{model}.pt", net, config)
        else:
            from .model.onnx_export import export_onnx

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
    from .data.synthetic import SyntheticHands

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


# --------------------------------------------------------------------------------------------------------------
# MediaPipe (runs in a separate Python environment)


def _mediapipe_worker(request_json: str) -> None:  # pragma: no cover - executed in the MediaPipe environment
    """Measure MediaPipe's hand landmark model; prints one line ``HP25D_MEDIAPIPE_RESULT <json>``.

    Runs in the MediaPipe environment from its source text (``inspect.getsource``), so it imports only the
    standard library, numpy, mediapipe and a TFLite interpreter.
    """
    import importlib.util as iu
    import json as js
    import os as _os
    import time as tm

    import numpy as _np

    req = js.loads(request_json)
    res = {"available": False}

    def stats(ms):
        a = _np.asarray(ms, dtype=_np.float64)
        p50, p90, p99 = _np.percentile(a, [50, 90, 99])
        return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(a.mean()),
                "std": float(a.std()), "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}  # fmt: skip

    def done():
        print("HP25D_MEDIAPIPE_RESULT " + js.dumps(res), flush=True)

    spec = iu.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        res["reason"] = "mediapipe is not installed in this Python environment"
        return done()
    from importlib import metadata as md

    res["mediapipe_version"] = md.version("mediapipe")
    mp_dir = _os.path.dirname(spec.origin)
    model = req.get("model") or _os.path.join(mp_dir, "modules", "hand_landmark", "hand_landmark_full.tflite")
    if not _os.path.isfile(model):
        res["reason"] = (
            f"mediapipe {res['mediapipe_version']} does not ship {model}; the hand landmark models are inside the "
            "wheels up to mediapipe==0.10.21 only (later wheels expect a downloaded .task bundle)"
        )
        return done()
    res["model"] = model
    Interpreter = None
    for mod, name in (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime")):
        try:
            Interpreter = __import__(mod, fromlist=["Interpreter"]).Interpreter
            res["interpreter"] = f"{name} {md.version(name)}"
            break
        except ImportError:
            continue
    if Interpreter is None:
        res["reason"] = "no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime) in this environment"
        return done()
    threads = int(req["threads"])
    interp = Interpreter(model_path=model, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()
    x = _np.random.default_rng(0).random(tuple(inp["shape"]), dtype=_np.float32)
    idx = inp["index"]

    def call():
        interp.set_tensor(idx, x)
        interp.invoke()
        return [interp.get_tensor(o["index"]) for o in outs]

    for _ in range(int(req["warmup"])):
        call()
    ms = []
    for _ in range(int(req["iters"])):
        t = tm.perf_counter()
        call()
        ms.append((tm.perf_counter() - t) * 1000.0)
    res["available"] = True
    res["landmark_model"] = {
        "file": _os.path.basename(model),
        "input": [int(v) for v in inp["shape"]],
        "threads": threads,
        "latency_ms": stats(ms),
        "throughput_crops_per_s": float(len(ms) / (sum(ms) / 1000.0)),
    }
    frame_path = req.get("frame")
    if frame_path:
        try:
            import mediapipe as mp

            hands_mod = mp.solutions.hands
        except Exception as exc:  # noqa: BLE001
            res["solution"] = {"error": f"mediapipe.solutions.hands unavailable: {exc}"}
            return done()
        frame = _np.load(frame_path)
        with hands_mod.Hands(static_image_mode=False, max_num_hands=1, model_complexity=1,
                             min_detection_confidence=0.5, min_tracking_confidence=0.5) as hands:  # fmt: skip
            found = 0
            for _ in range(int(req["warmup"])):
                hands.process(frame)
            ms = []
            for _ in range(int(req["iters"])):
                t = tm.perf_counter()
                r = hands.process(frame)
                ms.append((tm.perf_counter() - t) * 1000.0)
                found += int(bool(r.multi_hand_landmarks))
        res["solution"] = {
            "graph": "mediapipe.solutions.hands (palm detection + hand_landmark_full, tracking; model_complexity=1)",
            "frame": [int(frame.shape[1]), int(frame.shape[0])],
            "latency_ms": stats(ms),
            "frames_with_hand": found,
            "note": "palm detection runs only until a hand is tracked; frames_with_hand < n means it kept searching",
        }
    return done()


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
        return {"available": False, "reason": (
            f"no MediaPipe environment: create one with '{sys.executable} -m venv {MEDIAPIPE_VENV} && "
            f"{MEDIAPIPE_VENV}/bin/pip install mediapipe==0.10.21 ai-edge-litert', or pass --mediapipe-python"
        )}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="hp25d_mp_") as tmp:
        request: Dict[str, Any] = {"iters": int(iters), "warmup": int(warmup), "threads": int(threads), "model": model}
        if frame is not None:
            path = Path(tmp) / "frame.npy"
            np.save(path, np.ascontiguousarray(frame, dtype=np.uint8))
            request["frame"] = str(path)
        code = inspect.getsource(_mediapipe_worker) + "\nimport sys\n_mediapipe_worker(sys.argv[1])\n"
        env = dict(os.environ, GLOG_minloglevel="2", TF_CPP_MIN_LOG_LEVEL="2")
        try:
            proc = subprocess.run([python, "-c", code, json.dumps(request)], capture_output=True, text=True,
                                  timeout=timeout_s, env=env, check=False)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"available": False, "python": python, "reason": f"cannot run {python}: {exc}"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_MP_MARKER)]
    if not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"available": False, "python": python,
                "reason": f"the MediaPipe run failed (exit {proc.returncode}): {' | '.join(tail)}"}  # fmt: skip
    result = json.loads(lines[-1][len(_MP_MARKER):])
    result["python"] = python
    return result


# --------------------------------------------------------------------------------------------------------------
# the whole benchmark


def run_benchmark(settings: BenchSettings, progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Measure what ``settings`` asks for; returns the JSON-ready result (see the module docstring)."""
    from .config import PipelineConfig
    from .inference.pipeline import HandPoseEstimator

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
        cfg = PipelineConfig(model=model_path, backend=settings.backend, device=settings.device, fp16=settings.fp16,
                             num_threads=settings.threads, max_batch=max(8, settings.batch),
                             test_time_augmentation=settings.tta)  # fmt: skip
        est = HandPoseEstimator(cfg)
        backend = est.backend
        mc = est.model_config
        if "parameters" not in facts and str(getattr(backend, "path", "")).endswith(".onnx"):
            facts["parameters"] = _onnx_parameters(Path(backend.path))
        facts.update({"path": str(getattr(backend, "path", getattr(backend, "engine_path", model_path))),
                      "preset_of_config": mc.preset, "input_size": mc.input_size, "backend": backend.describe()})  # fmt: skip
        if facts["source"] not in ("file", "default"):
            facts["path"] = f"(temporary {Path(facts['path']).name})"
        result["model"] = facts
        result["threads"] = _actual_threads(backend, settings.threads)
        if settings.network:
            say(f"network: {settings.iters} calls of batch {settings.batch}")
            result["network"] = bench_network(backend, settings.batch, settings.iters, settings.warmup, settings.seed)
        if settings.pipeline:
            say(f"pipeline: {settings.iters} frames of {settings.width}x{settings.height}")
            result["pipeline"] = bench_pipeline(est, settings.batch, settings.iters, settings.warmup, crop=settings.crop,
                                                width=settings.width, height=settings.height, seed=settings.seed)  # fmt: skip
        backend.close()
    result["ratios"] = _ratios(result)
    if settings.compare_mediapipe:
        say("MediaPipe hand landmark model")
        frame = None
        if settings.pipeline:
            from .data.synthetic import SyntheticHands

            frame = SyntheticHands(seed=settings.seed).frame(0, settings.width, settings.height).image
        mp = bench_mediapipe(find_mediapipe_python(settings.mediapipe_python), settings.iters, settings.warmup,
                             settings.mediapipe_threads, model=settings.mediapipe_model, frame=frame)  # fmt: skip
        result["mediapipe"] = mp
        if mp.get("available") and "network" in result:
            ours = result["network"]["latency_ms"]["p50"]
            theirs = mp["landmark_model"]["latency_ms"]["p50"]
            result["ratios"]["network_p50_over_mediapipe_landmark_p50"] = ours / theirs
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
    mp = result.get("mediapipe")
    if mp is not None:
        if mp.get("available"):
            lm = mp["landmark_model"]
            row(f"MediaPipe {lm['file']}", lm["latency_ms"],
                f"{lm['input'][1]}x{lm['input'][2]}, {lm['threads']} threads, {mp.get('interpreter')}, "
                f"mediapipe {mp.get('mediapipe_version')}")  # fmt: skip
            sol = mp.get("solution")
            if sol and "latency_ms" in sol:
                row("MediaPipe solutions.hands", sol["latency_ms"],
                    f"hand found in {sol['frames_with_hand']}/{sol['latency_ms']['n']} frames")  # fmt: skip
        else:
            lines.append(f"MediaPipe: not measured: {mp.get('reason')}")
    r = result.get("ratios", {})
    if "inference_share_of_pipeline_p50" in r:
        lines.append(
            f"inference stage = {100 * r['inference_share_of_pipeline_p50']:.0f}% of the pipeline p50; everything "
            f"else {r['non_network_p50_ms']:.2f} ms p50"
        )
    if "network_p50_over_mediapipe_landmark_p50" in r:
        lines.append(f"network p50 / MediaPipe landmark model p50 = {r['network_p50_over_mediapipe_landmark_p50']:.2f}")
    return "\n".join(lines)
