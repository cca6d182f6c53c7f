"""Exact mask operations on (H, W) bool arrays (True = generate). Pure numpy: results are pixel-exact.

Inside the app a mask is always bool ((H, W) or (N, H, W)); it becomes uint8 once, in `VaceInputs`, and PNG only
at file boundaries (the media layer).
"""

from __future__ import annotations

import numpy as np

from . import constants as C


def to_bool(mask: np.ndarray) -> np.ndarray:
    """Binarise a uint8/float/bool mask (or an RGB(A) image of one) at half intensity: white = True.
    An RGBA image with any transparency counts its alpha only (transparent = not painted, whatever the colour:
    a brush layer, or a cut-out); a fully opaque one counts its colour."""
    array = np.asarray(mask)
    if array.ndim == 3:
        opaque = 1.0 if array.dtype.kind == "f" and array.max() <= 1.0 else 255
        if array.shape[2] == 4 and (array[..., 3] < opaque).any():
            array = array[..., 3]
        else:
            array = array[..., :3].max(axis=2)
    if array.dtype == bool:
        return array.copy()
    threshold = 0.5 if array.dtype.kind == "f" and array.max() <= 1.0 else 127.5
    return array > threshold


def to_uint8(mask: np.ndarray) -> np.ndarray:
    """bool mask -> uint8 MASK_GENERATE / MASK_KEEP."""
    return np.where(mask, C.MASK_GENERATE, C.MASK_KEEP).astype(np.uint8)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive end, of the True pixels; None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _dilate_axis(mask: np.ndarray, radius: int, axis: int) -> np.ndarray:
    if radius <= 0:
        return mask
    out = mask.copy()
    length = mask.shape[axis]
    for shift in range(1, min(radius, length - 1) + 1):
        forward = [slice(None)] * 2
        backward = [slice(None)] * 2
        forward[axis], backward[axis] = slice(shift, None), slice(None, -shift)
        out[tuple(forward)] |= mask[tuple(backward)]
        out[tuple(backward)] |= mask[tuple(forward)]
    return out


def expand(mask: np.ndarray, ratio: float) -> np.ndarray:
    """Grow the mask outward by `ratio` of its bounding box: each side moves out by round(ratio * box / 2) pixels
    on that axis (rectangular structuring element), clipped to the frame. ratio 0 returns the mask unchanged."""
    box = bounding_box(mask)
    if box is None or ratio <= 0:
        return mask.copy()
    x0, y0, x1, y1 = box
    radius_x, radius_y = round(ratio * (x1 - x0) / 2), round(ratio * (y1 - y0) / 2)
    return _dilate_axis(_dilate_axis(mask, radius_y, 0), radius_x, 1)


def box(mask: np.ndarray) -> np.ndarray:
    """The mask's bounding box, filled."""
    out = np.zeros_like(mask, dtype=bool)
    found = bounding_box(mask)
    if found is not None:
        x0, y0, x1, y1 = found
        out[y0:y1, x0:x1] = True
    return out


def hull(mask: np.ndarray) -> np.ndarray:
    """The convex hull of the mask's pixels, filled (OpenCV)."""
    import cv2

    points = cv2.findNonZero(mask.astype(np.uint8))
    out = np.zeros(mask.shape, dtype=np.uint8)
    if points is not None:
        cv2.fillConvexPoly(out, cv2.convexHull(points), 1)
    return (out > 0) | mask


def invert(mask: np.ndarray) -> np.ndarray:
    return ~mask.astype(bool)


def union(*masks: np.ndarray) -> np.ndarray:
    """Pixels True in any of the masks (all the same shape). Used to add a stroke or a click result to a keyframe."""
    if not masks:
        raise ValueError("union needs at least one mask")
    out = np.zeros(np.shape(masks[0]), dtype=bool)
    for mask in masks:
        out |= np.asarray(mask, dtype=bool)
    return out


def subtract(mask: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Pixels of `mask` that are not in `removed` (an eraser stroke or a negative click result)."""
    return np.asarray(mask, dtype=bool) & ~np.asarray(removed, dtype=bool)


def clear(mask: np.ndarray) -> np.ndarray:
    """An all-False mask of the same shape: a keyframe that says 'nothing here from this frame on'."""
    return np.zeros(np.shape(mask)[:2], dtype=bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks; 1.0 when both are empty (they agree exactly)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    total = np.count_nonzero(a | b)
    return 1.0 if total == 0 else np.count_nonzero(a & b) / total


def overlay(frame: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 0, 80),
            alpha: float = 0.45) -> np.ndarray:
    """Tint the masked pixels: out = round((1 - alpha) * frame + alpha * color) where mask is True, the frame
    unchanged elsewhere. Works on one frame ((H, W, 3) with an (H, W) mask) or a whole clip ((N, H, W, 3) with
    (N, H, W)). Rounding is half-up on the exact float64 value, so results are reproducible pixel for pixel."""
    frame = np.asarray(frame)
    mask = np.asarray(mask, dtype=bool)
    if frame.shape[:-1] != mask.shape or frame.shape[-1] != 3:
        raise ValueError(f"overlay: frame {frame.shape} and mask {mask.shape} do not match")
    tint = np.asarray(color, dtype=np.float64)
    blended = np.floor(frame.astype(np.float64) * (1.0 - alpha) + tint * alpha + 0.5)
    blended = np.clip(blended, 0, 255).astype(np.uint8)
    return np.where(mask[..., None], blended, frame).astype(np.uint8)


def cut_out(frame: np.ndarray, mask: np.ndarray, crop: bool = False) -> np.ndarray:
    """The frame as RGBA uint8 whose alpha is 255 on the mask and 0 elsewhere (RGB kept everywhere, so a
    compositor decides the background; references go onto white elsewhere). crop=True trims to the mask's
    bounding box so the subject fills the reference canvas; an empty mask keeps the full frame."""
    frame = np.asarray(frame)
    mask = np.asarray(mask, dtype=bool)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.shape[:2] != mask.shape:
        raise ValueError(f"cut_out: frame {frame.shape} and mask {mask.shape} do not match")
    rgba = np.empty(mask.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = frame[..., :3]
    rgba[..., 3] = np.where(mask, 255, 0)
    found = bounding_box(mask) if crop else None
    if found is not None:
        x0, y0, x1, y1 = found
        rgba = rgba[y0:y1, x0:x1].copy()
    return rgba


def hold_keyframes(num_frames: int, keyframes: dict[int, np.ndarray]) -> np.ndarray:
    """mask_type fixed: each keyframe's mask holds from its frame until the next keyframe; the first one also
    holds back to frame 0. Returns (num_frames, H, W) bool."""
    order = sorted(keyframes)
    masks = np.empty((num_frames,) + np.shape(keyframes[order[0]]), dtype=bool)
    for position, frame in enumerate(order):
        start = 0 if position == 0 else frame
        end = order[position + 1] if position + 1 < len(order) else num_frames
        masks[start:end] = keyframes[frame]
    return masks


def shape_and_expand(mask: np.ndarray, shape: str, ratio: float) -> np.ndarray:
    """The mask made into its `shape` ("exact", "box" or "hull"), then grown by `ratio` of its box."""
    if shape == "box":
        mask = box(mask)
    elif shape == "hull":
        mask = hull(mask)
    return expand(mask, ratio)
