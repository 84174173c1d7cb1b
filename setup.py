"""ament_python package ``hand_pose_25d``; also an ordinary pip-installable Python package."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "hand_pose_25d"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Metric 3D hand pose from one RGB camera (latent 2.5D heatmap regression) as a ROS 2 node",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["models/*.pt", "models/*.onnx", "models/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.launch.py")),
        ("share/" + PACKAGE + "/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        ("share/" + PACKAGE + "/config/train", glob("config/train/*.yaml")),
    ],
    install_requires=["numpy>=1.24", "pyyaml>=6", "opencv-python-headless>=4.8", "tqdm>=4.60"],
    extras_require={
        # torch itself is not listed: install torch==2.13.0 (or your platform's build) first, see README.
        "train": ["tensorboard>=2.14", "matplotlib>=3.7", "scipy>=1.10"],
        "onnx": ["onnx>=1.16", "onnxruntime>=1.18"],
        "tensorrt": ["onnx>=1.16", "tensorrt>=10.0"],
        "plot": ["matplotlib>=3.7"],
        # reading MediaPipe's .tflite files at set-up (hand-pose-25d setup-models) and checking the conversion
        "pretrained": ["tflite>=2.18", "flatbuffers>=23", "ai-edge-litert>=1.2"],
        "test": ["pytest>=7", "pytest-timeout>=2", "ruff==0.17.6"],
    },
    zip_safe=True,
    maintainer="hand_pose_25d developers",
    maintainer_email="hand-pose-25d@example.com",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "hand-pose-25d = hand_pose_25d.cli:main",
            "hand_pose_node = hand_pose_25d.ros.node:main",
            "synthetic_camera = hand_pose_25d.ros.synthetic_camera:main",
        ],
    },
)
