"""The three inputs a VACE model consumes, as compiled from a capability request."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import constants as C


@dataclass
class ControlStream:
    """A further VACE context stream (the second control of a Repaint): its own control video and mask, the same
    size as the main ones, and its own conditioning scale. The model encodes it like the main video/mask and adds
    its hints to the main stream's, each with its scale (Wan2GP's `control_net_weight2`, ComfyUI's chained
    WanVaceToVideo strengths)."""

    video: np.ndarray
    mask: np.ndarray
    conditioning_scale: float = 1.0
    label: str = ""

    def __post_init__(self) -> None:
        if self.mask.dtype == bool:
            self.mask = np.where(self.mask, C.MASK_GENERATE, C.MASK_KEEP).astype(np.uint8)


@dataclass
class VaceInputs:
    """Exactly what the model sees.

    video: (N, H, W, 3) uint8; regions and frames to create are NEUTRAL_GRAY.
    mask: (N, H, W) uint8, MASK_GENERATE (255) = generate, MASK_KEEP (0) = keep; always binary. The compile hands
        in (N, H, W) bool (True = generate): this is the one place a mask becomes uint8.
    references: 0-3 (H, W, 3) uint8 images, each fitted on a white canvas of the output size.
    notes: what was done to the inputs (trim, resample, crop, pad), shown to the user.
    fps: the frame rate the output plays at.
    """

    video: np.ndarray
    mask: np.ndarray
    references: list[np.ndarray] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fps: int = C.OUTPUT_FPS
    conditioning_scale: float = 1.0  # scale of the VACE context: settings.conditioning_scale x repaint strength
    extra_controls: list[ControlStream] = field(default_factory=list)  # Repaint's second control, if any

    def __post_init__(self) -> None:
        if self.mask.dtype == bool:
            self.mask = np.where(self.mask, C.MASK_GENERATE, C.MASK_KEEP).astype(np.uint8)
        n, h, w, channels = self.video.shape
        if channels != 3 or self.video.dtype != np.uint8:
            raise ValueError(f"video must be (N, H, W, 3) uint8, got {self.video.shape} {self.video.dtype}")
        if self.mask.shape != (n, h, w) or self.mask.dtype != np.uint8:
            raise ValueError(f"mask must be {(n, h, w)} bool or uint8, got {self.mask.shape} {self.mask.dtype}")
        if not np.isin(self.mask, (C.MASK_GENERATE, C.MASK_KEEP)).all():
            raise ValueError("mask must be binary (0 or 255)")
        if n % C.TEMPORAL_STRIDE != 1:
            raise ValueError(f"frame count {n} is not 4n+1")
        if h % C.SPATIAL_MULTIPLE or w % C.SPATIAL_MULTIPLE:
            raise ValueError(f"size {w}x{h} is not a multiple of {C.SPATIAL_MULTIPLE}")
        for ref in self.references:
            if ref.shape != (h, w, 3) or ref.dtype != np.uint8:
                raise ValueError(f"reference must be ({h}, {w}, 3) uint8, got {ref.shape} {ref.dtype}")
        for stream in self.extra_controls:
            if stream.video.shape != self.video.shape or stream.mask.shape != self.mask.shape:
                raise ValueError(f"control stream {stream.video.shape} does not match the video {self.video.shape}")
        if len(self.references) > C.MAX_REFERENCES:
            raise ValueError(f"{len(self.references)} references; at most {C.MAX_REFERENCES}")

    @property
    def num_frames(self) -> int:
        return int(self.video.shape[0])

    @property
    def height(self) -> int:
        return int(self.video.shape[1])

    @property
    def width(self) -> int:
        return int(self.video.shape[2])
