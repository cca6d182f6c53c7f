"""What the flow tracker works on: its tuning (`TrackerConfig`) and the clip downscaled to work resolution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError


@dataclass(frozen=True)
class TrackerConfig:
    """Tuning of the flow tracker. Pixel thresholds are in work-resolution pixels."""

    work_width: int = 416  # frames are downscaled to at most this width for flow and point tracking
    flow: str = "dis"  # dense flow for occlusion: "dis" (fast) or "farneback"
    # Motion model: "similarity" (shift, scale, rotation), "affine" (adds shear and unequal scaling), or "auto"
    # (candidates of both; each frame takes whichever explains the object's appearance best).
    motion: str = "auto"
    max_points: int = 300  # corner points followed inside the mask
    min_points: int = 6  # fewest RANSAC inliers that make a motion candidate
    ransac_px: float = 1.5
    motion_prior: float = 0.05  # colour-error units per pixel a motion departs from constant velocity
    shear_prior: float = 0.5  # colour-error units per pixel an affine motion departs from its nearest similarity
    occlusion: bool = True  # cut occluders out of the mask (appearance test, see the module docstring)
    deform_px: int = 0  # the appearance test tolerates local deformation of this many pixels
    bending_px: int = 1  # ... and this many while the object bends (its map's median gradient > bending_gradient)
    bending_gradient: float = 0.2  # pixels per pixel
    bending_reach: int = 2  # ... and then only admits pixels this close to ones that pass the strict test
    island_share: float = 0.05  # visible patches inside covered parts smaller than this share of the shape are cut
    photometric_limit: float = 15.0  # mean colour error (0-255) over 5x5 below which a pixel is still the object
    residual: bool = True  # per-pixel residual flow on top of the global motion (non-rigid subjects)
    residual_margin: int = 12  # room around the globally moved shape for the residual flow (work pixels)
    residual_inset: int = 4  # residual flow is trusted this far inside the outline, extended outwards from there
    residual_smooth: float = 2.0  # Gaussian sigma (work pixels) of the filled-in residual field's smoothing
    template_rate: float = 0.1  # how fast the appearance template follows the visible object (0 = keyframe only)


class WorkFrames:
    """The clip's frames downscaled to work resolution (RGB and gray), computed once per clip."""

    def __init__(self, frames: Sequence[np.ndarray], config: TrackerConfig):
        import cv2

        first = np.asarray(frames[0])
        self.full_h, self.full_w = first.shape[:2]
        width = min(self.full_w, config.work_width)
        height = max(8, round(self.full_h * width / self.full_w))
        self.size = (width, height)
        self.scale_x, self.scale_y = self.full_w / width, self.full_h / height
        self.gray, self.color = [], []
        for frame in frames:
            frame = np.asarray(frame)
            if frame.shape[:2] != (self.full_h, self.full_w) or frame.ndim != 3:
                raise InputError("video", f"Frames differ in size: {frame.shape} vs {first.shape}.")
            small = cv2.resize(frame[..., :3], self.size, interpolation=cv2.INTER_AREA)
            self.color.append(small)
            self.gray.append(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))

    def to_full(self, affine: np.ndarray) -> np.ndarray:
        """A 2x3 transform between work-resolution frames, expressed between full-resolution frames."""
        scale = np.diag([self.scale_x, self.scale_y, 1.0])
        return (scale @ np.vstack([affine, [0, 0, 1]]) @ np.linalg.inv(scale))[:2]
