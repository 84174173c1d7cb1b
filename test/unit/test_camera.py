"""ROS camera_calibration YAML reading (hand_pose_25d.camera)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from hand_pose_25d.camera import (
    CameraCalibration,
    camera_yaml_text,
    parse_camera_yaml,
    read_camera_yaml,
    write_camera_yaml,
)
from hand_pose_25d.geometry import project

# A file as written by ROS camera_calibration (cameracalibrator), values of a real-looking 640x480 webcam.
ROS_YAML = textwrap.dedent(
    """\
    image_width: 640
    image_height: 480
    camera_name: narrow_stereo
    camera_matrix:
      rows: 3
      cols: 3
      data: [612.5, 0, 318.25, 0, 611.75, 243.5, 0, 0, 1]
    distortion_model: plumb_bob
    distortion_coefficients:
      rows: 1
      cols: 5
      data: [0.11, -0.22, 0.001, -0.002, 0.05]
    rectification_matrix:
      rows: 3
      cols: 3
      data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
    projection_matrix:
      rows: 3
      cols: 4
      data: [600.0, 0, 320.5, 0, 0, 601.0, 240.25, 0, 0, 0, 1, 0]
    """
)


def write(tmp_path, text: str, name: str = "cam.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_a_ros_calibration_file(tmp_path):
    cal = read_camera_yaml(write(tmp_path, ROS_YAML))
    assert (cal.width, cal.height, cal.camera_name, cal.distortion_model) == (640, 480, "narrow_stereo", "plumb_bob")
    # data is row-major: fx, 0, cx / 0, fy, cy / 0, 0, 1
    np.testing.assert_array_equal(cal.K, [[612.5, 0, 318.25], [0, 611.75, 243.5], [0, 0, 1]])
    np.testing.assert_array_equal(cal.dist_coeffs, [0.11, -0.22, 0.001, -0.002, 0.05])
    np.testing.assert_array_equal(cal.R, np.eye(3))
    assert cal.P.shape == (3, 4) and cal.P[0, 2] == 320.5 and cal.P[1, 2] == 240.25
    K, D = cal.intrinsics()
    np.testing.assert_array_equal(K, cal.K)
    np.testing.assert_array_equal(D, cal.dist_coeffs)
    K_rect, D_rect = cal.intrinsics(rectified=True)
    np.testing.assert_array_equal(K_rect, [[600.0, 0, 320.5], [0, 601.0, 240.25], [0, 0, 1]])
    assert D_rect is None
    cal.check_image_size(640, 480)


def test_zero_or_missing_distortion_is_a_pinhole_and_optional_matrices(tmp_path):
    text = ROS_YAML.replace("[0.11, -0.22, 0.001, -0.002, 0.05]", "[0, 0, 0, 0, 0]")
    assert read_camera_yaml(write(tmp_path, text)).dist_coeffs is None
    minimal = "image_width: 320\nimage_height: 240\ncamera_matrix: {rows: 3, cols: 3, data: [300, 0, 160, 0, 300, 120, 0, 0, 1]}\n"
    cal = read_camera_yaml(write(tmp_path, minimal, "min.yaml"))
    assert cal.dist_coeffs is None and cal.R is None and cal.P is None and cal.distortion_model == ""
    with pytest.raises(ValueError, match="projection_matrix"):
        cal.intrinsics(rectified=True)


def test_rational_polynomial(tmp_path):
    text = ROS_YAML.replace("plumb_bob", "rational_polynomial").replace(
        "cols: 5\n  data: [0.11, -0.22, 0.001, -0.002, 0.05]",
        "cols: 8\n  data: [0.1, 0.01, 0, 0, 0.001, 0.2, 0.02, 0.002]",
    )
    cal = read_camera_yaml(write(tmp_path, text))
    assert cal.dist_coeffs.shape == (8,) and cal.dist_coeffs[5] == 0.2


def test_write_read_round_trip(tmp_path):
    K = np.array([[500.25, 0.0, 330.5], [0.0, 499.5, 250.75], [0.0, 0.0, 1.0]])
    D = [0.05, -0.01, 0.0005, 0.0002, 0.003]
    path = write_camera_yaml(tmp_path / "sub" / "c.yaml", K, 800, 600, dist_coeffs=D, camera_name="cam1")
    cal = read_camera_yaml(path)
    np.testing.assert_array_equal(cal.K, K)
    np.testing.assert_array_equal(cal.dist_coeffs, D)
    assert (cal.width, cal.height, cal.camera_name) == (800, 600, "cam1")
    np.testing.assert_array_equal(cal.P[:, :3], K)
    assert read_camera_yaml(write_camera_yaml(tmp_path / "p.yaml", K, 8, 6)).dist_coeffs is None


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace("image_width: 640\n", ""), "image_width"),
        (lambda t: t.replace("image_height: 480", "image_height: -480"), "image_height"),
        (lambda t: t.replace("image_width: 640", "image_width: 640.5"), "image_width"),
        (lambda t: t.split("camera_matrix:")[0] + "distortion_model: plumb_bob\n", "camera_matrix"),
        (
            lambda t: t.replace("rows: 3\n  cols: 3\n  data: [612.5", "rows: 2\n  cols: 3\n  data: [612.5"),
            "camera_matrix",
        ),
        (lambda t: t.replace("243.5, 0, 0, 1]", "243.5, 0, 0]"), "camera_matrix"),
        (lambda t: t.replace("[612.5,", "[fx,"), "camera_matrix.data"),
        (lambda t: t.replace("[612.5, 0, 318.25, 0, 611.75", "[0, 0, 0, 0, 0"), "camera_matrix"),  # uncalibrated: K = 0
        (lambda t: t.replace("243.5, 0, 0, 1]", "243.5, 0, 0, .nan]"), "NaN"),
        (lambda t: t.replace("plumb_bob", "equidistant"), "equidistant"),
        (
            lambda t: t.replace(
                "cols: 5\n  data: [0.11, -0.22, 0.001, -0.002, 0.05]", "cols: 3\n  data: [0.11, -0.22, 0.001]"
            ),
            "plumb_bob distortion needs 4 or 5",
        ),
        (lambda t: t.replace("cols: 5\n  data: [0.11", "cols: 4\n  data: [0.11"), "distortion_coefficients"),
        (lambda t: t.replace("rows: 3\n  cols: 4", "rows: 4\n  cols: 3"), "projection_matrix"),
        (lambda t: "- just\n- a list\n", "mapping"),
        (lambda t: "image_width: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, edit, message):
    path = write(tmp_path, edit(ROS_YAML))
    with pytest.raises(ValueError, match=message) as info:
        read_camera_yaml(path)
    assert str(path) in str(info.value)


def test_opencv_filestorage_and_missing_file(tmp_path):
    path = write(
        tmp_path, "%YAML:1.0\n---\ncamera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n   data: [1]\n"
    )
    with pytest.raises(ValueError, match="OpenCV FileStorage"):
        read_camera_yaml(path)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        read_camera_yaml(tmp_path / "nope.yaml")


def test_image_size_check_and_rescaling():
    K = np.array([[600.0, 0.0, 319.5], [0.0, 600.0, 239.5], [0.0, 0.0, 1.0]])
    cal = parse_camera_yaml(__import__("yaml").safe_load(camera_yaml_text(K, 640, 480)), "cam.yaml")
    with pytest.raises(ValueError, match=r"320x240.*640x480"):
        cal.check_image_size(320, 240)
    half = cal.scaled_to(320, 240)
    assert isinstance(half, CameraCalibration) and (half.width, half.height) == (320, 240)
    # a point seen at full-resolution pixel u lands on (u + 0.5) / 2 - 0.5 in the half-size image
    pts = np.array([[0.05, -0.03, 0.6], [-0.1, 0.08, 0.45], [0.0, 0.0, 1.0]])
    full_px = project(pts, K)
    np.testing.assert_allclose(project(pts, half.K), (full_px + 0.5) / 2 - 0.5, atol=1e-9)
    np.testing.assert_allclose(half.P[:, :3], half.K, atol=1e-12)
    with pytest.raises(ValueError, match="aspect ratio"):
        cal.scaled_to(640, 360)
