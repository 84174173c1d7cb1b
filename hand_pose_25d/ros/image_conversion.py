"""``sensor_msgs/Image`` <-> numpy, honouring ``step`` padding and ``is_bigendian`` (numpy only at module level).

The pure functions (:func:`image_to_numpy`, :func:`to_rgb8`, :func:`numpy_to_image_fields`) take and return
plain values, so they are tested without ROS. The message adapters (:func:`image_msg_to_rgb8`,
:func:`rgb8_to_image_msg`) import ``sensor_msgs`` lazily; :class:`ImageConverter` uses ``cv_bridge`` where it is
importable *and* passes a round-trip self-check (every ROS 2 distro ships it; the PyPI ``cv-bridge`` port is
broken), and this module's own conversion otherwise.

Every malformed message raises :class:`ImageFormatError` (a ``ValueError``) whose text names the problem:
unknown or unsupported encoding, zero size, ``step`` smaller than a row, ``data`` shorter than ``step * height``.
"""

from __future__ import annotations

import array
import sys
from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = [
    "ImageFormatError",
    "ENCODINGS",
    "INPUT_ENCODINGS",
    "image_to_numpy",
    "check_input_encoding",
    "to_rgb8",
    "numpy_to_image_fields",
    "image_msg_to_rgb8",
    "rgb8_to_image_msg",
    "ImageConverter",
]


class ImageFormatError(ValueError):
    """A ``sensor_msgs/Image`` that cannot be converted; the message names the problem."""


#: encoding -> (numpy dtype, channels), after sensor_msgs/image_encodings.hpp.
ENCODINGS: Dict[str, Tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "rgb16": ("u2", 3),
    "bgr16": ("u2", 3),
    "rgba16": ("u2", 4),
    "bgra16": ("u2", 4),
    "mono16": ("u2", 1),
    "8UC1": ("u1", 1),
    "8UC2": ("u1", 2),
    "8UC3": ("u1", 3),
    "8UC4": ("u1", 4),
    "8SC1": ("i1", 1),
    "8SC2": ("i1", 2),
    "8SC3": ("i1", 3),
    "8SC4": ("i1", 4),
    "16UC1": ("u2", 1),
    "16UC2": ("u2", 2),
    "16UC3": ("u2", 3),
    "16UC4": ("u2", 4),
    "16SC1": ("i2", 1),
    "16SC2": ("i2", 2),
    "16SC3": ("i2", 3),
    "16SC4": ("i2", 4),
    "32SC1": ("i4", 1),
    "32SC2": ("i4", 2),
    "32SC3": ("i4", 3),
    "32SC4": ("i4", 4),
    "32FC1": ("f4", 1),
    "32FC2": ("f4", 2),
    "32FC3": ("f4", 3),
    "32FC4": ("f4", 4),
    "64FC1": ("f8", 1),
    "64FC2": ("f8", 2),
    "64FC3": ("f8", 3),
    "64FC4": ("f8", 4),
    "bayer_rggb8": ("u1", 1),
    "bayer_bggr8": ("u1", 1),
    "bayer_gbrg8": ("u1", 1),
    "bayer_grbg8": ("u1", 1),
    "bayer_rggb16": ("u2", 1),
    "bayer_bggr16": ("u2", 1),
    "bayer_gbrg16": ("u2", 1),
    "bayer_grbg16": ("u2", 1),
}

#: Encodings the hand pose node accepts as input (colour or grey, 8 bits per channel).
INPUT_ENCODINGS: Tuple[str, ...] = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")


def _layout(encoding: str) -> Tuple[np.dtype, int]:
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unknown image encoding {encoding!r}")
    kind, channels = ENCODINGS[encoding]
    return np.dtype(kind), channels


def image_to_numpy(encoding: str, height: int, width: int, step: int, is_bigendian: bool, data: Any) -> np.ndarray:
    """Array view of the pixels of an image message's fields.

    Args:
        encoding: a ``sensor_msgs/image_encodings`` name (see :data:`ENCODINGS`).
        height, width: image size in pixels.
        step: bytes per row in ``data`` (at least ``width * channels * bytes per channel``; extra bytes are
            row padding and are skipped).
        is_bigendian: byte order of multi-byte channels in ``data``.
        data: the pixel bytes (``bytes``, ``array.array``, ``memoryview`` or a uint8 array).

    Returns:
        (height, width) for one channel, else (height, width, channels), in the encoding's dtype and the
        machine's byte order. A zero-copy view of ``data`` when no byte swap is needed (read-only if ``data`` is).

    Raises:
        ImageFormatError: unknown encoding, zero size, ``step`` shorter than a row, ``data`` shorter than
            ``step * height``.
    """
    dtype, channels = _layout(encoding)
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"image has no pixels ({width}x{height})")
    row = width * channels * dtype.itemsize
    if step < row:
        raise ImageFormatError(
            f"step {step} is smaller than one row of a {width} px wide {encoding} image (width*channels*bytes = {row})"
        )
    if isinstance(data, np.ndarray):
        buf = data.reshape(-1).view(np.uint8)
    else:
        try:
            buf = np.frombuffer(data, dtype=np.uint8)  # bytes, array.array('B'), memoryview: no copy
        except TypeError:  # a plain list of ints
            buf = np.asarray(data, dtype=np.uint8).reshape(-1)
    if buf.size < step * height:
        raise ImageFormatError(
            f"image data has {buf.size} bytes, fewer than step*height = {step}*{height} = {step * height}"
        )
    rows = buf[: step * height].reshape(height, step)[:, :row]
    order = ">" if is_bigendian else "<"
    typed = np.dtype(order + dtype.str[1:]) if dtype.itemsize > 1 else dtype
    if rows.flags.c_contiguous:
        arr = rows.reshape(-1).view(typed)
    else:  # padded rows: copy the pixel bytes once (a strided view cannot be re-typed)
        arr = np.ascontiguousarray(rows).reshape(-1).view(typed)
    arr = arr.reshape((height, width) if channels == 1 else (height, width, channels))
    if typed.byteorder not in ("=", "|"):  # numpy writes the machine's own order as "="
        arr = arr.astype(typed.newbyteorder("="))
    return arr


def check_input_encoding(encoding: str) -> None:
    """``ImageFormatError`` unless ``encoding`` is one of :data:`INPUT_ENCODINGS` (the message lists them)."""
    if encoding not in INPUT_ENCODINGS:
        raise ImageFormatError(
            f"unsupported image encoding {encoding!r}; hand_pose_node accepts {', '.join(INPUT_ENCODINGS)} "
            "(convert or debayer the image first)"
        )


def to_rgb8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of ``pixels`` decoded with :func:`image_to_numpy`.

    Accepts only :data:`INPUT_ENCODINGS` (rgb8, bgr8, rgba8, bgra8, mono8); the alpha channel is dropped.

    Raises:
        ImageFormatError: any other encoding (the message lists the accepted ones).
    """
    check_input_encoding(encoding)
    if encoding == "rgb8":
        return np.ascontiguousarray(pixels)
    if encoding == "rgba8":
        return np.ascontiguousarray(pixels[..., :3])
    if encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[..., 2::-1])
    return np.repeat(pixels[..., None], 3, axis=2)  # mono8


def numpy_to_image_fields(array: np.ndarray, encoding: str) -> Dict[str, Any]:
    """Fields of a ``sensor_msgs/Image`` holding ``array`` (no row padding, machine byte order).

    Args:
        array: (H, W) or (H, W, C) array matching ``encoding``'s dtype and channel count.
        encoding: one of :data:`ENCODINGS`.

    Returns:
        ``{"height", "width", "encoding", "is_bigendian", "step", "data"}`` with ``data`` as ``bytes``.

    Raises:
        ImageFormatError: shape or dtype do not match the encoding.
    """
    dtype, channels = _layout(encoding)
    array = np.asarray(array)
    shape_ok = array.ndim == 2 if channels == 1 else (array.ndim == 3 and array.shape[2] == channels)
    if channels == 1 and array.ndim == 3 and array.shape[2] == 1:
        array, shape_ok = array[..., 0], True
    if not shape_ok or array.dtype.kind != dtype.kind or array.dtype.itemsize != dtype.itemsize:
        raise ImageFormatError(
            f"a {encoding} image needs a {dtype.name} array of shape (H, W{'' if channels == 1 else f', {channels}'}), "
            f"got {array.dtype} {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageFormatError(f"image has no pixels ({array.shape[1]}x{array.shape[0]})")
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
    return {
        "height": int(array.shape[0]),
        "width": int(array.shape[1]),
        "encoding": encoding,
        "is_bigendian": int(sys.byteorder == "big" and dtype.itemsize > 1),
        "step": int(array.shape[1] * channels * dtype.itemsize),
        "data": array.tobytes(),
    }


# --------------------------------------------------------------------------------------------------------------
# message adapters (sensor_msgs imported lazily)


def image_msg_to_rgb8(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of a ``sensor_msgs/Image`` (own conversion); ``ImageFormatError`` if malformed."""
    check_input_encoding(msg.encoding)
    pixels = image_to_numpy(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data)
    return to_rgb8(pixels, msg.encoding)


def rgb8_to_image_msg(image: np.ndarray, header: Any = None, encoding: str = "rgb8") -> Any:
    """``sensor_msgs/Image`` holding ``image`` ((H, W, 3) uint8 for rgb8/bgr8, see :func:`numpy_to_image_fields`)."""
    from sensor_msgs.msg import Image

    fields = numpy_to_image_fields(image, encoding)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding = fields["height"], fields["width"], fields["encoding"]
    msg.is_bigendian, msg.step = fields["is_bigendian"], fields["step"]
    msg.data = array.array("B", fields["data"])  # one copy; rclpy's field check accepts an array('B') as is
    return msg


class ImageConverter:
    """Image message -> RGB conversion, through ``cv_bridge`` where available, else :func:`image_msg_to_rgb8`.

    The message's fields are always checked by this module first (so errors read the same with or without
    ``cv_bridge``). ``cv_bridge`` is used only if it imports and converts a small padded test image exactly.

    Args:
        prefer_cv_bridge: try ``cv_bridge`` (False: always the own conversion).
    """

    def __init__(self, prefer_cv_bridge: bool = True) -> None:
        self.bridge: Optional[Any] = None
        self.backend = "numpy"
        if prefer_cv_bridge:
            self.bridge = _working_cv_bridge()
            if self.bridge is not None:
                self.backend = "cv_bridge"

    def to_rgb8(self, msg: Any) -> np.ndarray:
        """(H, W, 3) uint8 RGB of ``msg``; ``ImageFormatError`` naming the problem for a malformed one."""
        check_input_encoding(msg.encoding)
        pixels = image_to_numpy(msg.encoding, msg.height, msg.width, msg.step, bool(msg.is_bigendian), msg.data)
        if self.bridge is not None:
            try:
                return np.ascontiguousarray(self.bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"), dtype=np.uint8)
            except Exception:  # a cv_bridge quirk: fall back to the checked own conversion below
                pass
        return to_rgb8(pixels, msg.encoding)


def _working_cv_bridge() -> Optional[Any]:
    """A ``cv_bridge.CvBridge`` that decodes a padded bgr8 test image correctly, else None."""
    try:
        from cv_bridge import CvBridge  # type: ignore[import-not-found]
        from sensor_msgs.msg import Image

        bridge = CvBridge()
        rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
        msg = Image(height=2, width=3, encoding="bgr8", is_bigendian=0, step=12)
        padded = np.zeros((2, 12), np.uint8)
        padded[:, :9] = rgb[..., ::-1].reshape(2, 9)
        msg.data = padded.tobytes()
        out = np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
        return bridge if out.shape == rgb.shape and np.array_equal(out, rgb) else None
    except Exception:  # not installed, or a broken build (e.g. the PyPI port with numpy 2)
        return None
