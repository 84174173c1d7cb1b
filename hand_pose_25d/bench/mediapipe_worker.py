"""MediaPipe's side of ``hand-pose-25d bench``: a script run by path in MediaPipe's own Python environment.

``python hand_pose_25d/bench/mediapipe_worker.py '<request json>'`` measures MediaPipe's hand landmark model
(``hand_landmark_full.tflite`` from the mediapipe wheel, run by a TFLite interpreter) and, given a frame, the
``mediapipe.solutions.hands`` graph, and prints one line ``HP25D_MEDIAPIPE_RESULT <json>``. The request has
``iters``, ``warmup``, ``threads``, ``model`` ('' for the wheel's) and optionally ``frame`` (a .npy RGB image).

It runs where hand_pose_25d is not installed (MediaPipe pins numpy < 2 and protobuf 4): it imports only the
standard library, numpy, mediapipe and the interpreter, and loads its two sibling modules
(:mod:`hand_pose_25d.bench.stats`, :mod:`hand_pose_25d.bench.machine`) by path, so that the statistics are the
package's own.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional

import numpy as np

RESULT_MARKER = "HP25D_MEDIAPIPE_RESULT "


def _sibling(name: str) -> ModuleType:
    """Load ``<this folder>/<name>.py`` as a module without importing the hand_pose_25d package."""
    path = Path(__file__).resolve().with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_hp25d_bench_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


latency_stats = _sibling("stats").latency_stats
dist_version = _sibling("machine").dist_version


def measure(request_json: str) -> Dict[str, Any]:
    """Run the request (see the module docstring); returns the result dict (``available`` False with a reason)."""
    req = json.loads(request_json)
    res: Dict[str, Any] = {"available": False}

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        res["reason"] = "mediapipe is not installed in this Python environment"
        return res
    res["mediapipe_version"] = dist_version("mediapipe")
    mp_dir = os.path.dirname(spec.origin)
    model = req.get("model") or os.path.join(mp_dir, "modules", "hand_landmark", "hand_landmark_full.tflite")
    if not os.path.isfile(model):
        res["reason"] = (
            f"mediapipe {res['mediapipe_version']} does not ship {model}; the hand landmark models are inside the "
            "wheels up to mediapipe==0.10.21 only (later wheels expect a downloaded .task bundle)"
        )
        return res
    res["model"] = model
    Interpreter = None
    for mod, name in (
        ("ai_edge_litert.interpreter", "ai-edge-litert"),
        ("tflite_runtime.interpreter", "tflite-runtime"),
    ):
        try:
            Interpreter = __import__(mod, fromlist=["Interpreter"]).Interpreter
            res["interpreter"] = f"{name} {dist_version(name)}"
            break
        except ImportError:
            continue
    if Interpreter is None:
        res["reason"] = "no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime) in this environment"
        return res
    threads = int(req["threads"])
    interp = Interpreter(model_path=model, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()
    x = np.random.default_rng(0).random(tuple(inp["shape"]), dtype=np.float32)
    idx = inp["index"]

    def call():
        interp.set_tensor(idx, x)
        interp.invoke()
        return [interp.get_tensor(o["index"]) for o in outs]

    for _ in range(int(req["warmup"])):
        call()
    ms = []
    for _ in range(int(req["iters"])):
        t = time.perf_counter()
        call()
        ms.append((time.perf_counter() - t) * 1000.0)
    res["available"] = True
    res["landmark_model"] = {
        "file": os.path.basename(model),
        "input": [int(v) for v in inp["shape"]],
        "threads": threads,
        "latency_ms": latency_stats(ms),
        "throughput_crops_per_s": float(len(ms) / (sum(ms) / 1000.0)),
    }
    frame_path = req.get("frame")
    if frame_path:
        try:
            import mediapipe as mp

            hands_mod = mp.solutions.hands
        except Exception as exc:  # noqa: BLE001
            res["solution"] = {"error": f"mediapipe.solutions.hands unavailable: {exc}"}
            return res
        frame = np.load(frame_path)

        def run(static: bool) -> Dict[str, Any]:
            with hands_mod.Hands(
                static_image_mode=static,
                max_num_hands=1,
                model_complexity=1,
                min_detection_confidence=0.5,
                min_tracking_confidence=0.5,
            ) as hands:
                found = 0
                for _ in range(int(req["warmup"])):
                    hands.process(frame)
                ms = []
                for _ in range(int(req["iters"])):
                    t = time.perf_counter()
                    r = hands.process(frame)
                    ms.append((time.perf_counter() - t) * 1000.0)
                    found += int(bool(r.multi_hand_landmarks))
            return {"latency_ms": latency_stats(ms), "frames_with_hand": found}

        res["solution"] = {
            "graph": "mediapipe.solutions.hands (palm detection + hand_landmark_full, tracking; model_complexity=1)",
            "frame": [int(frame.shape[1]), int(frame.shape[0])],
            **run(False),
            "note": "palm detection runs only until a hand is tracked; frames_with_hand < n means it kept searching",
        }
        # static_image_mode: palm detection and landmarks on every frame, what an acquisition costs MediaPipe
        res["solution_static"] = {
            "graph": "mediapipe.solutions.hands, static_image_mode=True (palm detection + landmarks every frame)",
            "frame": [int(frame.shape[1]), int(frame.shape[0])],
            **run(True),
        }
    return res


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: the request JSON is the only argument."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: mediapipe_worker.py '<request json>'", file=sys.stderr)
        return 2
    print(RESULT_MARKER + json.dumps(measure(argv[0])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
