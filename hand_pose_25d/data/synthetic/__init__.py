"""Synthetic hand renderer: exact 2D/3D labels, pure numpy + OpenCV ray casting of analytic primitives.

Used to train the shipped default model, to test the pipeline end to end and as the demo's synthetic camera.
See ``docs/synthetic-data.md``. Typical use::

    from hand_pose_25d.data.synthetic import SyntheticHands, SyntheticSequence

    gen = SyntheticHands(seed=0)
    crop = gen.crop(i, out_size=128, crop_padding=1.3)   # HandSample: K = crop intrinsics, uv in crop pixels
    frame = gen.frame(i, width=640, height=480)           # HandSample: full camera image
    seq = SyntheticSequence(seed=3, width=640, height=480, fps=30)
    sample = seq.frame(t)                                 # smooth motion, fixed background

Modules: :mod:`.synthetic_config` (``SyntheticConfig``), :mod:`.hand_model` (kinematics, joint limits, pose sampling),
:mod:`.raycast` (primitives and z-buffer), :mod:`.appearance` (skin, backgrounds, degradations),
:mod:`.scene` (camera, placement, objects, shading, visibility), :mod:`.core` (public API),
:mod:`.dataset_export` (disk export / loading).
"""

from .core import MultiHandSequence, Rendered, SyntheticHands, SyntheticSequence
from .dataset_export import ExportedDataset, export_dataset, load_exported
from .hand_model import DOF_NAMES, GESTURES, JOINT_LIMITS_DEG, HandPose, HandShape
from .synthetic_config import SyntheticConfig

__all__ = [
    "SyntheticConfig",
    "SyntheticHands",
    "SyntheticSequence",
    "MultiHandSequence",
    "Rendered",
    "export_dataset",
    "load_exported",
    "ExportedDataset",
    "DOF_NAMES",
    "GESTURES",
    "JOINT_LIMITS_DEG",
    "HandPose",
    "HandShape",
]
