"""Colour correction between windows: a new window's colours matched to the previous window's output on the frames
they share, then a linear cross-fade over those frames instead of a hard cut.

The match is per-channel mean and standard deviation in CIE LAB (OpenCV's conversion), measured on the overlap
only and applied to the whole new window; `strength` blends between the window as generated (0) and fully matched (1).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def _lab(frames: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> float32 LAB (L 0-100, a and b about -127..127)."""
    return np.stack([cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB) for frame in frames])


def _rgb(lab_frame: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab_frame.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ColorMatch:
    """LAB' = (LAB - source_mean) * scale + target_mean, per channel."""

    source_mean: np.ndarray
    target_mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, generated: np.ndarray, reference: np.ndarray) -> "ColorMatch":
        """The match taking `generated`'s LAB statistics to `reference`'s (both (N, H, W, 3) uint8)."""
        source, target = _lab(generated).reshape(-1, 3), _lab(reference).reshape(-1, 3)
        source_std, target_std = source.std(axis=0), target.std(axis=0)
        scale = np.where(source_std > 1e-3, target_std / np.maximum(source_std, 1e-3), 1.0)
        return cls(source.mean(axis=0), target.mean(axis=0), scale.astype(np.float32))

    def apply(self, frames: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """`frames` (N, H, W, 3) uint8 moved `strength` of the way to the match, one frame at a time."""
        if strength <= 0:
            return frames
        out = np.empty_like(frames)
        for index, frame in enumerate(frames):
            lab = _lab(frame[None])[0]
            matched = (lab - self.source_mean) * self.scale + self.target_mean
            out[index] = _rgb(lab + strength * (matched - lab))
        return out


def correct_window(generated: np.ndarray, previous_tail: np.ndarray, strength: float) -> np.ndarray:
    """The window's frames with colours matched to the previous window on the `len(previous_tail)` frames they
    share (the window's first frames). No overlap or strength 0: unchanged."""
    count = len(previous_tail)
    if count == 0 or strength <= 0:
        return generated
    return ColorMatch.fit(generated[:count], previous_tail).apply(generated, strength)


def cross_fade(previous_tail: np.ndarray, current_head: np.ndarray) -> np.ndarray:
    """Linear cross-fade in pixel space from the previous window's last frames to the current window's first
    frames (same count): weight of the current window (i + 1) / (count + 1) on overlap frame i."""
    count = len(previous_tail)
    if count != len(current_head):
        raise ValueError(f"{count} previous frames but {len(current_head)} current ones")
    weights = (np.arange(1, count + 1, dtype=np.float32) / (count + 1))[:, None, None, None]
    mixed = previous_tail.astype(np.float32) * (1 - weights) + current_head.astype(np.float32) * weights
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
