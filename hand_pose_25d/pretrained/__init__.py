"""Pretrained networks imported from other projects, starting with MediaPipe 0.10.21's palm and hand models.

The subpackage turns TFLite flatbuffers into ordinary PyTorch modules:

* :mod:`.mediapipe_wheel` (numpy / stdlib only): finds or downloads the ``mediapipe==0.10.21`` wheel (Apache-2.0)
  and extracts its ``palm_detection_*.tflite`` / ``hand_landmark_*.tflite`` files together with the license notice.
* :mod:`.tflite_reader` (needs the ``tflite`` package): parses a ``.tflite`` file into a plain
  :class:`~.tflite_reader.ModelDescription` (tensors, constant buffers, operators with their options).
* :mod:`.tflite_torch` (needs torch): :class:`~.tflite_torch.TFLiteModule`, a generic ``torch.nn.Module`` built from
  such a description, exportable to ONNX, with access to intermediate feature maps by tensor name.
* :mod:`.convert`: ``python -m hand_pose_25d.pretrained convert --model NAME --out DIR``, which does all of the
  above and checks the result against the ai-edge-litert reference interpreter and against ONNX Runtime.

Importing this package (or :mod:`.mediapipe_wheel`) pulls in neither torch nor tflite.
"""
