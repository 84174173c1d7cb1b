#!/usr/bin/env bash
# Create .venv-mediapipe/: MediaPipe 0.10.21 (the last wheel that ships the hand landmark .tflite models) and a
# TFLite interpreter, for `hand-pose-25d bench` to time MediaPipe side by side with our network (docs/benchmarks.md).
# Separate from .venv because MediaPipe pins numpy < 2 and protobuf 4, which clash with the project and ROS wheels.
# Idempotent. usage: tools/setup_mediapipe.sh [VENV]   (default .venv-mediapipe)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-mediapipe}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mediapipe, ai_edge_litert" 2>/dev/null; then
  echo "[setup-mediapipe] $VENV is ready ($("$VENV/bin/python" -c 'import mediapipe; print("mediapipe", mediapipe.__version__)'))"
  exit 0
fi
echo "[setup-mediapipe] creating $VENV with $("$PY" --version 2>&1): mediapipe==0.10.21, ai-edge-litert (a few hundred MB)"
# a failed install leaves no half-made environment behind (bench and the tests look for $VENV/bin/python)
trap 'status=$?; if [ $status -ne 0 ]; then rm -rf "$VENV"; echo "[setup-mediapipe] failed (exit $status); removed $VENV" >&2; fi' EXIT
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "mediapipe==0.10.21" ai-edge-litert
"$VENV/bin/python" - <<'PY'
import importlib.resources as r
import mediapipe
p = r.files("mediapipe") / "modules" / "hand_landmark" / "hand_landmark_full.tflite"
assert p.is_file(), f"{p} missing: this mediapipe wheel does not ship the hand models"
print(f"[setup-mediapipe] mediapipe {mediapipe.__version__}: {p}")
PY
