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


def _lab_statistics(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel LAB mean and standard deviation over all pixels of `frames`, one frame at a time: a window's
    overlap in float LAB would be hundreds of MB at 832x480."""
    total, squares, count = np.zeros(3), np.zeros(3), 0
    for frame in frames:
        lab = _lab(frame[None])[0].reshape(-1, 3).astype(np.float64)
        total += lab.sum(axis=0)
        squares += np.square(lab).sum(axis=0)
        count += len(lab)
    mean = total / max(count, 1)
    return mean.astype(np.float32), np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 0.0)).astype(np.float32)


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
        source_mean, source_std = _lab_statistics(generated)
        target_mean, target_std = _lab_statistics(reference)
        scale = np.where(source_std > 1e-3, target_std / np.maximum(source_std, 1e-3), 1.0)
        return cls(source_mean, target_mean, scale.astype(np.float32))

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
    mixed = np.empty_like(current_head)
    for index in range(count):  # a frame at a time: the whole overlap in float32 would be ~80 MB at 832x480
        weight = np.float32((index + 1) / (count + 1))
        blend = previous_tail[index].astype(np.float32) * (1 - weight) + current_head[index] * weight
        mixed[index] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    return mixed
