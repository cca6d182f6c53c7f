"""Pose control: OpenPose-style skeletons on black, from DWPose (onnxruntime) or controlnet-aux OpenPose."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import register
from .weighted import WeightedAnnotator, fit_picture
from .weights import WeightFile, import_quietly

DWPOSE = 0  # weight option indexes
OPENPOSE = 1
_DWPOSE_FILES = (
    WeightFile("yzd-v/DWPose", "yolox_l.onnx", "DWPose"),
    WeightFile("yzd-v/DWPose", "dw-ll_ucoco_384.onnx", "DWPose"),
)
_BODY_FILE = WeightFile("lllyasviel/Annotators", "body_pose_model.pth", "Annotators")
_FACE_FILE = WeightFile("lllyasviel/Annotators", "facenet.pth", "Annotators")


def draw_dwpose(points: np.ndarray, scores: np.ndarray, height: int, width: int, face: bool) -> np.ndarray:
    """OpenPose-order keypoints (N, 134, 2) in pixels with scores -> the skeleton picture (coloured limbs on
    black, white face dots), as VACE's pose annotators draw DWPose results. Points scoring <= 0.3 are hidden."""
    util = import_quietly("controlnet_aux.dwpose.util")
    people = points.shape[0]
    normalised = points.astype(np.float64) / np.array([float(width), float(height)])
    body = normalised[:, :18].reshape(people * 18, 2).copy()
    subset = np.where(scores[:, :18] > 0.3, np.arange(people * 18).reshape(people, 18), -1).astype(np.float64)
    normalised[scores < 0.3] = -1
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas = util.draw_bodypose(canvas, body, subset)
    if face:
        canvas = util.draw_facepose(canvas, normalised[:, 24:92])
    return canvas


class _PoseAnnotator(WeightedAnnotator):
    """Skeletons at a detect resolution of 512 (short side), resized back to the frame. DWPose is used when its
    two ONNX files are installed and onnxruntime is importable; OpenPose (controlnet-aux) otherwise."""

    include_face = False
    detect_resolution = 512

    def option_usable(self, option: int) -> bool:
        return option != DWPOSE or importlib.util.find_spec("onnxruntime") is not None

    def option_note(self, option: int) -> str:
        return " (used only with the onnxruntime package installed)" if not self.option_usable(option) else ""

    def build(self, option: int, paths: Sequence[Path], device: str) -> object:
        if option == DWPOSE:
            from .dwpose import DWPoseOnnx

            return DWPoseOnnx.from_files(str(paths[0]), str(paths[1]), device)
        open_pose = import_quietly("controlnet_aux.open_pose")
        face = open_pose.Face(str(paths[1])) if self.include_face else None
        return _to_device(open_pose.OpenposeDetector(open_pose.Body(str(paths[0])), None, face), device)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        if hasattr(self.model, "body_estimation"):  # controlnet-aux OpenposeDetector
            picture = self.model(
                frame,
                detect_resolution=self.detect_resolution,
                image_resolution=self.detect_resolution,
                include_body=True,
                include_hand=False,
                include_face=self.include_face,
                output_type="np",
            )
            return fit_picture(picture, frame)
        scale = self.detect_resolution / min(frame.shape[:2])
        work = cv2.resize(
            frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LANCZOS4 if scale > 1 else cv2.INTER_AREA
        )
        points, scores = self.model(np.ascontiguousarray(work[:, :, ::-1]))  # DWPose takes BGR
        return fit_picture(draw_dwpose(points, scores, work.shape[0], work.shape[1], self.include_face), frame)


def _to_device(detector, device: str):
    """OpenposeDetector.to() also moves the hand model, which is not loaded here."""
    detector.body_estimation.to(device)
    if detector.face_estimation is not None:
        detector.face_estimation.to(device)
    return detector


@register
class PoseBodyAnnotator(_PoseAnnotator):
    """Body skeleton (18 OpenPose points) on black.

    Weights, either set:
      DWPose (preferred, needs onnxruntime): models/DWPose/yolox_l.onnx and models/DWPose/dw-ll_ucoco_384.onnx
        from https://huggingface.co/yzd-v/DWPose;
      OpenPose: models/Annotators/body_pose_model.pth from https://huggingface.co/lllyasviel/Annotators.
    """

    name = "pose_body"
    label = "Pose (body)"
    weight_options = (_DWPOSE_FILES, (_BODY_FILE,))


@register
class PoseBodyFaceAnnotator(_PoseAnnotator):
    """Body skeleton plus 68 face landmarks on black.

    Weights, either set:
      DWPose (preferred, needs onnxruntime): models/DWPose/yolox_l.onnx and models/DWPose/dw-ll_ucoco_384.onnx
        from https://huggingface.co/yzd-v/DWPose;
      OpenPose: models/Annotators/body_pose_model.pth and models/Annotators/facenet.pth
        from https://huggingface.co/lllyasviel/Annotators.
    """

    name = "pose_body_face"
    label = "Pose (body and face)"
    include_face = True
    weight_options = (_DWPOSE_FILES, (_BODY_FILE, _FACE_FILE))
