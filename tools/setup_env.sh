#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv/ (idempotent; fast when nothing changed).
#   1. .venv with Python 3.11 (3.10+ accepted), pip up to date
#   2. torch==2.13.0 first, so that pip never resolves a multi-GB CUDA build of torch
#   3. the project itself, editable, with the train, onnx and test extras
#   4. the palm detector (hand-pose-25d setup-models), unless HAND_POSE_NO_DETECTOR=1
#   5. the ROS 2 runtime from PyPI plus our interface packages (tools/setup_ros.sh), unless HAND_POSE_NO_ROS=1
#   6. background photos for the synthetic renderer (Debian wallpaper packages), best effort, unless
#      HAND_POSE_NO_BACKGROUNDS=1
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
TORCH_VERSION="${HAND_POSE_TORCH_VERSION:-2.13.0}"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

pick_python() {
  for cand in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 10) else 1)'; then
      echo "$cand"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY=$(pick_python) || { echo "error: Python 3.10+ (3.11 recommended) not found; install python3.11 and python3.11-venv" >&2; exit 1; }
  say "creating $VENV with $($PY --version 2>&1)"
  "$PY" -m venv "$VENV" || { echo "error: 'python -m venv' failed; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2; exit 1; }
  "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)

if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
  # HAND_POSE_TORCH_INDEX: an index for torch alone, e.g. https://download.pytorch.org/whl/cpu where plain PyPI
  # would give the multi-GB CUDA build (the build machines of this project take a CPU build from local disk)
  if [ -n "${HAND_POSE_TORCH_INDEX:-}" ]; then
    say "installing torch==$TORCH_VERSION from $HAND_POSE_TORCH_INDEX"
    "${PIP[@]}" --index-url "$HAND_POSE_TORCH_INDEX" "torch==$TORCH_VERSION"
  else
    say "installing torch==$TORCH_VERSION (CPU build where one is available)"
    "${PIP[@]}" "torch==$TORCH_VERSION"
  fi
fi

stamp="$VENV/.hand_pose_25d.stamp"
want=$(cat setup.py setup.cfg | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! "$VENV/bin/python" -c "import hand_pose_25d" 2>/dev/null; then
  say "installing hand_pose_25d (editable) with extras train, onnx, test, pretrained"
  "${PIP[@]}" -e ".[train,onnx,test,pretrained]"
  echo "$want" > "$stamp"
fi

# 4. the palm detector, converted from the mediapipe 0.10.21 wheel (fetched from PyPI once); best effort: without it
#    the node searches the full image and says so. HAND_POSE_NO_DETECTOR=1 skips this step.
if [ "${HAND_POSE_NO_DETECTOR:-0}" != "1" ]; then
  "$VENV/bin/hand-pose-25d" setup-models || say "warning: the palm detector could not be made (see above); the node will search the full image"
fi

if [ "${HAND_POSE_NO_ROS:-0}" != "1" ] && [ -x tools/setup_ros.sh ]; then
  tools/setup_ros.sh "$VENV"
fi
# 6. photographic backgrounds for the synthetic renderer: Debian's wallpaper packages (found at run time in
#    /usr/share/wallpapers and /usr/share/backgrounds; without them the renderer uses procedural backgrounds and says
#    so). Best effort: skipped without apt-get, or when neither root nor a password-less sudo is at hand; never fails
#    the set-up. HAND_POSE_NO_BACKGROUNDS=1 skips it.
BACKGROUND_PACKAGES="plasma-workspace-wallpapers mate-backgrounds gnome-backgrounds"
if [ "${HAND_POSE_NO_BACKGROUNDS:-0}" != "1" ]; then
  have_backgrounds() { [ -d /usr/share/wallpapers ] && [ -d /usr/share/backgrounds/mate ] && [ -d /usr/share/backgrounds/gnome ]; }
  if have_backgrounds; then
    :
  elif ! command -v apt-get >/dev/null 2>&1; then
    say "note: no apt-get: background photos not installed (the renderer uses procedural backgrounds)"
  else
    AS=()
    if [ "$(id -u)" != "0" ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then AS=(sudo -n); else AS=(none); fi
    fi
    if [ "${AS[*]:-}" = "none" ]; then
      say "note: not root and no password-less sudo: background photos not installed; as root: apt-get install $BACKGROUND_PACKAGES"
    else
      say "installing background photos ($BACKGROUND_PACKAGES)"
      export DEBIAN_FRONTEND=noninteractive
      { "${AS[@]}" apt-get install -y -q --no-install-recommends $BACKGROUND_PACKAGES >/dev/null 2>&1 \
        || { "${AS[@]}" apt-get update -q >/dev/null 2>&1 \
             && "${AS[@]}" apt-get install -y -q --no-install-recommends $BACKGROUND_PACKAGES >/dev/null 2>&1; }; } \
        || say "warning: the background photos could not be installed; the renderer uses procedural backgrounds"
    fi
  fi
  if have_backgrounds; then
    # decode each photo once into the renderer's cache of downscaled copies (~/.cache/hand_pose_25d/backgrounds)
    "$VENV/bin/python" -c "from hand_pose_25d.data.synthetic.appearance import photo_library as p; from hand_pose_25d.data.synthetic import SyntheticConfig as C; print(p(C()).warm())" >/dev/null 2>&1 \
      || say "warning: the background photo cache could not be filled (it fills on first use)"
  fi
fi
say "environment ready: $VENV"
