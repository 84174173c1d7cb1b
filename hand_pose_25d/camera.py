"""The camera model of the package: intrinsics, distortion and image size (:class:`CameraCalibration`), the one
table of supported distortion models (:data:`SUPPORTED_DISTORTION_MODELS`, checked by :func:`check_distortion`),
and ROS ``camera_calibration`` YAML files read and written (numpy + PyYAML). The ROS node builds the same
:class:`CameraCalibration` from each ``sensor_msgs/CameraInfo`` (:mod:`hand_pose_25d.ros.camera_info`).

The format is the one written by ``ros2 run camera_calibration cameracalibrator`` and read by
``camera_info_manager``::

    image_width: 640
    image_height: 480
    camera_name: my_camera
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [...]}     # optional here
    projection_matrix: {rows: 3, cols: 4, data: [...]}         # optional here

``image_width``, ``image_height`` and ``camera_matrix`` are required. ``distortion_coefficients`` may be
absent or all zero (a pinhole camera). Non-zero coefficients need a model the reconstruction undoes:
``plumb_bob`` (4 or 5 coefficients) or ``rational_polynomial`` (8). For other models (e.g. ``equidistant``)
rectify the images and use the projection matrix (:meth:`CameraCalibration.intrinsics` with
``rectified=True``). Pixel convention: integer coordinates are pixel centres (as in ROS and OpenCV).

Malformed files raise ``ValueError`` naming the file and the offending key; a missing file
``FileNotFoundError``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .geometry import validate_intrinsics

__all__ = [
    "SUPPORTED_DISTORTION_MODELS",
    "check_distortion",
    "CameraCalibration",
    "read_camera_yaml",
    "parse_camera_yaml",
    "camera_yaml_text",
    "write_camera_yaml",
]

#: Distortion models whose coefficients :mod:`hand_pose_25d.geometry` undoes, with the allowed coefficient counts.
SUPPORTED_DISTORTION_MODELS = {"plumb_bob": (4, 5), "rational_polynomial": (8,)}

PathLike = Union[str, Path]


def check_distortion(coeffs: Sequence[float], model: str, hint: str = "") -> Optional[np.ndarray]:
    """Validate distortion coefficients against :data:`SUPPORTED_DISTORTION_MODELS`.

    Args:
        coeffs: the coefficients (finite numbers; the caller reports NaN in its own words).
        model: the ROS distortion model name.
        hint: what the user can do instead of an unsupported model (appended to the message).

    Returns:
        The (N,) float64 coefficients, or None when there are none or all are zero (a pinhole camera).

    Raises:
        ValueError: non-zero coefficients of an unsupported model, or a wrong number of coefficients.
    """
    D = np.asarray(coeffs, dtype=np.float64).ravel()
    if D.size == 0 or not np.any(D != 0):
        return None
    if model not in SUPPORTED_DISTORTION_MODELS:
        raise ValueError(
            f"distortion model {model!r} is not supported for non-zero coefficients (use "
            f"{' or '.join(SUPPORTED_DISTORTION_MODELS)}){'; ' + hint if hint else ''}"
        )
    counts = SUPPORTED_DISTORTION_MODELS[model]
    if D.size not in counts:
        raise ValueError(f"{model} distortion needs {' or '.join(map(str, counts))} coefficients, got {D.size}")
    return D


@dataclass(frozen=True)
class CameraCalibration:
    """A camera calibration as stored in a ROS camera_calibration YAML.

    Attributes:
        width, height: calibrated image size in pixels (0 where a camera_info does not state it).
        K: (3, 3) float64 intrinsics (camera_matrix) for images of ``width`` x ``height``.
        dist_coeffs: (4,), (5,) or (8,) float64 plumb_bob / rational_polynomial coefficients, or None for a
            pinhole (undistorted) camera (no coefficients, or all zero).
        distortion_model: the model name as written in the file ('' if absent).
        camera_name: ``camera_name`` ('' if absent).
        R: (3, 3) rectification matrix, or None if absent.
        P: (3, 4) projection matrix, or None if absent.
        source: where it came from, for messages (the YAML file, or "the camera_info of frame 'x'").
    """

    width: int
    height: int
    K: np.ndarray
    dist_coeffs: Optional[np.ndarray] = None
    distortion_model: str = ""
    camera_name: str = ""
    R: Optional[np.ndarray] = None
    P: Optional[np.ndarray] = None
    source: str = ""

    def intrinsics(self, rectified: bool = False) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """(K (3, 3), distortion or None) for the images to process.

        Args:
            rectified: the images are rectified (``image_rect``): the intrinsics are the left 3x3 of P and there
                is no distortion. ``ValueError`` if the file has no projection matrix.
        """
        if not rectified:
            return self.K.copy(), None if self.dist_coeffs is None else self.dist_coeffs.copy()
        if self.P is None:
            raise ValueError(
                f"{self.source or 'camera calibration'}: rectified images need a projection_matrix, which is missing"
            )
        K = self.P[:, :3].copy()
        try:
            validate_intrinsics(K)
        except ValueError as exc:
            raise ValueError(f"{self.source or 'camera calibration'}: projection_matrix is not usable: {exc}") from None
        return K, None

    def check_image_size(self, width: int, height: int, hint: str = "") -> None:
        """``ValueError`` if an image of ``width`` x ``height`` does not have the calibrated size (a size of 0 is
        unknown and accepts any image); ``hint`` (what to do) is appended to the message."""
        if self.width and self.height and (int(width), int(height)) != (self.width, self.height):
            raise ValueError(
                f"the image is {width}x{height} pixels but {self.source or 'the camera calibration'} describes "
                f"{self.width}x{self.height} images: its intrinsics belong to another resolution{hint}"
            )

    def scaled_to(self, width: int, height: int, max_aspect_change: float = 0.01) -> "CameraCalibration":
        """The calibration of the same camera with images resized (not cropped) to ``width`` x ``height``.

        With pixel centres at integer coordinates, resizing by ``s`` maps ``u`` to ``(u + 0.5) * s - 0.5``; K and P
        are transformed accordingly, the distortion (in normalised coordinates) is unchanged.

        Raises:
            ValueError: non-positive size, or an aspect ratio that differs by more than ``max_aspect_change``
                (relative) from the calibrated one (the images were cropped, rescaling cannot be right).
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        sx, sy = width / self.width, height / self.height
        if abs(sx / sy - 1.0) > max_aspect_change:
            raise ValueError(
                f"cannot rescale a {self.width}x{self.height} calibration to {width}x{height} images: the aspect ratio "
                "differs (cropped images need their own calibration)"
            )
        A = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        return replace(
            self,
            width=int(width),
            height=int(height),
            K=A @ self.K,
            P=None if self.P is None else A @ self.P,
        )


def _matrix(
    data: Mapping[str, Any], key: str, shape: Tuple[int, int], where: str, required: bool
) -> Optional[np.ndarray]:
    """The ``{rows, cols, data}`` entry ``key`` as a float64 array of ``shape`` (None if absent and optional)."""
    entry = data.get(key)
    if entry is None:
        if required:
            raise ValueError(f"{where}: missing {key!r} (a mapping with rows, cols and data)")
        return None
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: {key!r} must be a mapping with rows, cols and data, got {type(entry).__name__}")
    for field in ("rows", "cols", "data"):
        if field not in entry:
            raise ValueError(f"{where}: {key!r} has no {field!r}")
    rows, cols, values = entry["rows"], entry["cols"], entry["data"]
    if isinstance(rows, bool) or isinstance(cols, bool) or not isinstance(rows, int) or not isinstance(cols, int):
        raise ValueError(f"{where}: {key!r} rows and cols must be integers, got {rows!r} and {cols!r}")
    if (rows, cols) != shape:
        raise ValueError(f"{where}: {key!r} must be {shape[0]}x{shape[1]}, got rows={rows}, cols={cols}")
    arr = _numbers(values, f"{key}.data", where)
    if arr.size != rows * cols:
        raise ValueError(f"{where}: {key!r} has {arr.size} values in data for rows={rows}, cols={cols}")
    return arr.reshape(shape)


def _numbers(values: Any, name: str, where: str) -> np.ndarray:
    if not isinstance(values, (list, tuple)) or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) for v in values
    ):
        raise ValueError(f"{where}: {name} must be a list of numbers, got {values!r}")
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{where}: {name} contains NaN or infinite values")
    return arr


def _size(data: Mapping[str, Any], key: str, where: str) -> int:
    if key not in data:
        raise ValueError(f"{where}: missing {key!r}")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: {key!r} must be a positive integer, got {value!r}")
    return value


def parse_camera_yaml(data: Any, source: str = "camera calibration") -> CameraCalibration:
    """Validate the loaded YAML mapping of a camera_calibration file; see :func:`read_camera_yaml`."""
    where = source
    if not isinstance(data, Mapping):
        raise ValueError(
            f"{where}: expected a YAML mapping with image_width, image_height, camera_matrix ..., "
            f"got {type(data).__name__}"
        )
    width = _size(data, "image_width", where)
    height = _size(data, "image_height", where)
    K = _matrix(data, "camera_matrix", (3, 3), where, required=True)
    try:
        K = validate_intrinsics(K)
    except ValueError as exc:
        raise ValueError(f"{where}: camera_matrix is not a usable camera matrix: {exc}") from None
    model = data.get("distortion_model") or ""
    if not isinstance(model, str):
        raise ValueError(f"{where}: distortion_model must be a string, got {model!r}")
    dist: Optional[np.ndarray] = None
    entry = data.get("distortion_coefficients")
    if entry is not None:
        if not isinstance(entry, Mapping) or "data" not in entry:
            raise ValueError(f"{where}: 'distortion_coefficients' must be a mapping with rows, cols and data")
        D = _numbers(entry["data"], "distortion_coefficients.data", where)
        rows, cols = entry.get("rows", 1), entry.get("cols", D.size)
        if not isinstance(rows, int) or not isinstance(cols, int) or rows * cols != D.size:
            raise ValueError(
                f"{where}: 'distortion_coefficients' has {D.size} values in data for rows={rows!r}, cols={cols!r}"
            )
        try:
            dist = check_distortion(D, model, "or rectify the images and use the projection matrix (--rectified)")
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    R = _matrix(data, "rectification_matrix", (3, 3), where, required=False)
    P = _matrix(data, "projection_matrix", (3, 4), where, required=False)
    name = data.get("camera_name") or ""
    return CameraCalibration(
        width=width,
        height=height,
        K=K,
        dist_coeffs=dist,
        distortion_model=model,
        camera_name=str(name),
        R=R,
        P=P,
        source=source,
    )


def read_camera_yaml(path: PathLike) -> CameraCalibration:
    """Read a ROS camera_calibration YAML file.

    Returns:
        The :class:`CameraCalibration` (K (3, 3), distortion or None, image size, optional R and P).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not YAML, or a missing / malformed key (named in the message).
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera calibration file not found: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("%YAML:1.0") or "!!opencv-matrix" in text:
        raise ValueError(
            f"{path} is an OpenCV FileStorage file, not a ROS camera_calibration YAML (image_width, image_height, "
            "camera_matrix {rows, cols, data}, distortion_model, distortion_coefficients)"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    return parse_camera_yaml(data, str(path))


def camera_yaml_text(
    K: np.ndarray,
    width: int,
    height: int,
    dist_coeffs: Optional[Sequence[float]] = None,
    distortion_model: str = "plumb_bob",
    camera_name: str = "camera",
) -> str:
    """The camera_calibration YAML text of a calibration (identity R, P = [K | 0]).

    Args:
        K: (3, 3) intrinsics; ``dist_coeffs``: None (written as five zeros) or 4, 5 or 8 coefficients.
    """
    import yaml

    K = validate_intrinsics(K)
    if K.shape != (3, 3):
        raise ValueError(f"K must be (3, 3), got {K.shape}")
    D = np.zeros(5) if dist_coeffs is None else np.asarray(dist_coeffs, dtype=np.float64).ravel()
    P = np.concatenate([K, np.zeros((3, 1))], axis=1)

    def mat(a: np.ndarray) -> dict:
        a = np.atleast_2d(a)
        return {"rows": int(a.shape[0]), "cols": int(a.shape[1]), "data": [float(v) for v in a.ravel()]}

    data = {
        "image_width": int(width),
        "image_height": int(height),
        "camera_name": str(camera_name),
        "camera_matrix": mat(K),
        "distortion_model": distortion_model,
        "distortion_coefficients": mat(D[None]),
        "rectification_matrix": mat(np.eye(3)),
        "projection_matrix": mat(P),
    }
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    parse_camera_yaml(yaml.safe_load(text), "generated calibration")  # never write what we cannot read back
    return text


def write_camera_yaml(path: PathLike, K: np.ndarray, width: int, height: int, **kwargs: Any) -> Path:
    """Write :func:`camera_yaml_text` to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(camera_yaml_text(K, width, height, **kwargs), encoding="utf-8")
    return path
