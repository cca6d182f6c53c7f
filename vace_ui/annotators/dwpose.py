"""DWPose whole-body keypoints with onnxruntime: YOLOX-L person boxes, then RTMPose (SimCC) per box.

The same pre- and post-processing as the DWPose ONNX release (IDEA-Research/DWPose, used by ControlNet 1.1
and VACE): input is BGR uint8; keypoints come back in OpenPose order (18 body points incl. the neck, 6 feet,
68 face, 2 x 21 hands) in input pixels, with scores.
"""

from __future__ import annotations

import numpy as np

DET_SIZE = (640, 640)  # (h, w) the YOLOX-L export expects
_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
_MMPOSE_TO_OPENPOSE = (
    [17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3],
    [1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17],
)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        overlap = w * h / (areas[i] + areas[order[1:]] - w * h)
        order = order[np.where(overlap <= threshold)[0] + 1]
    return keep


def detect_people(session, image: np.ndarray, score_threshold: float = 0.3) -> np.ndarray:
    """(N, 4) xyxy person boxes in `image` pixels from a YOLOX ONNX session (80 COCO classes, person = 0)."""
    import cv2

    ratio = min(DET_SIZE[0] / image.shape[0], DET_SIZE[1] / image.shape[1])
    height, width = int(image.shape[0] * ratio), int(image.shape[1] * ratio)
    padded = np.full(DET_SIZE + (3,), 114, dtype=np.uint8)
    padded[:height, :width] = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
    predictions = session.run(None, {session.get_inputs()[0].name: blob})[0][0].astype(np.float32)

    grids, strides = [], []
    for stride in (8, 16, 32):
        xs, ys = np.meshgrid(np.arange(DET_SIZE[1] // stride), np.arange(DET_SIZE[0] // stride))
        grids.append(np.stack((xs, ys), 2).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), stride))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    if predictions.shape[0] != grid.shape[0]:
        raise ValueError(
            f"detector gave {predictions.shape[0]} anchors; a {DET_SIZE[1]}x{DET_SIZE[0]} YOLOX has {grid.shape[0]}"
        )
    centres = (predictions[:, :2] + grid) * stride
    sizes = np.exp(predictions[:, 2:4]) * stride
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1) / ratio
    person = predictions[:, 4] * predictions[:, 5]  # objectness x class-0 probability
    candidates = person > 0.1
    boxes, person = boxes[candidates], person[candidates]
    if boxes.shape[0] == 0:
        return np.zeros((0, 4), dtype=np.float32)
    keep = _nms(boxes, person, 0.45)
    boxes, person = boxes[keep], person[keep]
    return boxes[person > score_threshold]


def _warp_matrix(center: np.ndarray, scale: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Affine map from the box (centre, size) to the model input of `size` = (w, h), no rotation."""
    import cv2

    out_w, out_h = size
    src = np.array([center, center + [0.0, -scale[0] * 0.5], center + [-scale[0] * 0.5, 0.0]], dtype=np.float32)
    dst = np.array(
        [[out_w * 0.5, out_h * 0.5], [out_w * 0.5, out_h * 0.5 - out_w * 0.5], [0.0, out_h * 0.5]], dtype=np.float32
    )
    return cv2.getAffineTransform(src, dst)


def estimate_keypoints(session, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RTMPose SimCC on each box (the whole image when there is none): (N, K, 2) keypoints, (N, K) scores."""
    import cv2

    in_h, in_w = session.get_inputs()[0].shape[2:]
    if len(boxes) == 0:
        boxes = np.array([[0, 0, image.shape[1], image.shape[0]]], dtype=np.float32)
    all_points, all_scores = [], []
    for x0, y0, x1, y1 in boxes:
        center = np.array([(x0 + x1) * 0.5, (y0 + y1) * 0.5], dtype=np.float32)
        scale = np.array([(x1 - x0) * 1.25, (y1 - y0) * 1.25], dtype=np.float32)
        aspect = in_w / in_h  # widen or heighten the box to the model's aspect
        scale = (
            np.array([scale[0], scale[0] / aspect])
            if scale[0] > scale[1] * aspect
            else np.array([scale[1] * aspect, scale[1]])
        )
        crop = cv2.warpAffine(
            image, _warp_matrix(center, scale, (in_w, in_h)), (int(in_w), int(in_h)), flags=cv2.INTER_LINEAR
        )
        blob = ((crop.astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)[None]
        simcc_x, simcc_y = session.run(
            None, {session.get_inputs()[0].name: np.ascontiguousarray(blob, dtype=np.float32)}
        )[:2]
        x_locs, y_locs = simcc_x[0].argmax(axis=1), simcc_y[0].argmax(axis=1)
        points = np.stack([x_locs, y_locs], axis=-1).astype(np.float32) / 2.0  # SimCC split ratio 2
        scores = np.minimum(simcc_x[0].max(axis=1), simcc_y[0].max(axis=1))
        points[scores <= 0] = -1
        all_points.append(points / np.array([in_w, in_h]) * scale + center - scale / 2)
        all_scores.append(scores)
    return np.array(all_points, dtype=np.float32), np.array(all_scores, dtype=np.float32)


def to_openpose_order(points: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-WholeBody (133 points) -> OpenPose order (134: a neck is added between the shoulders)."""
    info = np.concatenate([points, scores[..., None]], axis=-1)
    neck = info[:, [5, 6]].mean(axis=1)
    neck[:, 2] = np.logical_and(info[:, 5, 2] > 0.3, info[:, 6, 2] > 0.3).astype(np.float32)
    info = np.insert(info, 17, neck, axis=1)
    mmpose, openpose = _MMPOSE_TO_OPENPOSE
    info[:, openpose] = info[:, mmpose]
    return info[..., :2], info[..., 2]


class DWPoseOnnx:
    """YOLOX-L + DWPose-L (384x288) ONNX sessions. Call with a BGR uint8 image."""

    def __init__(self, detector_session, pose_session) -> None:
        self.detector = detector_session
        self.pose = pose_session

    @classmethod
    def from_files(cls, detector_path: str, pose_path: str, device: str = "cpu") -> DWPoseOnnx:
        import onnxruntime

        providers = (
            ["CUDAExecutionProvider", "CPUExecutionProvider"]
            if device.startswith("cuda")
            else ["CPUExecutionProvider"]
        )
        available = set(onnxruntime.get_available_providers())
        providers = [p for p in providers if p in available] or ["CPUExecutionProvider"]
        return cls(
            onnxruntime.InferenceSession(detector_path, providers=providers),
            onnxruntime.InferenceSession(pose_path, providers=providers),
        )

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = detect_people(self.detector, image_bgr)
        points, scores = estimate_keypoints(self.pose, image_bgr, boxes)
        return to_openpose_order(points, scores)
