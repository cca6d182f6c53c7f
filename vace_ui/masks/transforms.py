"""2x3 affine transforms between work-resolution frames, and warps of a box of a frame through them."""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in work-resolution pixels


def to3(affine: np.ndarray) -> np.ndarray:
    """The 3x3 homogeneous form of a 2x3 transform."""
    return np.vstack([affine, [0.0, 0.0, 1.0]])


def nearest_similarity(affine: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The similarity nearest `affine` (rotation-scale parts averaged) that moves `centre` where `affine` does."""
    a, b = (affine[0, 0] + affine[1, 1]) / 2, (affine[1, 0] - affine[0, 1]) / 2
    similar = affine.copy()
    similar[:, :2] = [[a, -b], [b, a]]
    similar[:, 2] += (affine[:, :2] - similar[:, :2]) @ centre
    return similar


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) float32 points moved by a 2x3 transform (N may be 0)."""
    return (points.astype(np.float64) @ affine[:, :2].T + affine[:, 2]).astype(np.float32)


def bounding_box(mask: np.ndarray, margin: int) -> Box | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    height, width = mask.shape
    x0, y0 = max(0, cols[0] - margin), max(0, rows[0] - margin)
    return x0, y0, min(width, cols[-1] + 1 + margin), min(height, rows[-1] + 1 + margin)


def warp_into(cv2, image: np.ndarray, affine: np.ndarray, box: Box, nearest: bool = False) -> np.ndarray:
    """`image` moved by `affine` (source -> destination), only the destination's `box` computed."""
    x0, y0, x1, y1 = box
    matrix = affine.copy()
    matrix[:, 2] -= (x0, y0)
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (x1 - x0, y1 - y0), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def warp_back(cv2, image: np.ndarray, affine: np.ndarray, box: Box, nearest: bool = False) -> np.ndarray:
    """The part `box` of the source frame of `affine`, sampled from `image` in its destination frame."""
    x0, y0, x1, y1 = box
    matrix = affine.copy()
    matrix[:, 2] += affine[:, :2] @ np.array([x0, y0], np.float64)
    flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    return cv2.warpAffine(image, matrix, (x1 - x0, y1 - y0), flags=flags, borderMode=cv2.BORDER_REPLICATE)
