"""The masks a user draws or clicks on chosen frames of one clip, and how they become a per-frame mask clip.

A keyframe holds the whole mask from its frame on (until the next keyframe): with mask_type `fixed` it is held
still, with `tracking` it is carried along by the tracker (masks/) and overrides the propagation from its frame. An
empty keyframe (`clear`) is meaningful: "nothing to generate from here on". `remove` forgets a keyframe instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import masks as ops
from .errors import InputError


@dataclass
class Keyframes:
    """Keyframe masks ((height, width) bool, True = generate) by frame index, for a clip of `n_frames`."""

    n_frames: int
    height: int
    width: int
    masks: dict[int, np.ndarray] = field(default_factory=dict)

    def _check(self, index: int, mask: np.ndarray | None = None) -> np.ndarray | None:
        if not 0 <= int(index) < self.n_frames:
            raise InputError("keyframes", f"Frame {index} is outside the clip (0 to {self.n_frames - 1}).")
        if mask is None:
            return None
        converted = ops.to_bool(mask)
        if converted.shape != (self.height, self.width):
            raise InputError("keyframes", f"The mask is {converted.shape[1]}x{converted.shape[0]}; frames are "
                                          f"{self.width}x{self.height}.")
        return converted

    def get(self, index: int) -> np.ndarray | None:
        """The keyframe mask on exactly this frame, or None."""
        mask = self.masks.get(int(index))
        return None if mask is None else mask.copy()

    def set(self, index: int, mask: np.ndarray) -> None:
        """Make frame `index` a keyframe with exactly `mask` (bool, uint8 or an RGBA brush layer)."""
        self.masks[int(index)] = self._check(index, mask)

    def add(self, index: int, mask: np.ndarray) -> None:
        """Union `mask` into the keyframe (a new stroke or a positive click result); creates it if needed."""
        converted = self._check(index, mask)
        current = self.masks.get(int(index))
        self.masks[int(index)] = converted if current is None else ops.union(current, converted)

    def subtract(self, index: int, mask: np.ndarray) -> None:
        """Remove `mask` from the keyframe (an eraser stroke); creates an empty keyframe if there was none."""
        converted = self._check(index, mask)
        current = self.masks.get(int(index), np.zeros_like(converted))
        self.masks[int(index)] = ops.subtract(current, converted)

    def clear(self, index: int) -> None:
        """Make frame `index` an empty keyframe: nothing is generated from here until the next keyframe."""
        self._check(index)
        self.masks[int(index)] = np.zeros((self.height, self.width), dtype=bool)

    def remove(self, index: int) -> None:
        """Forget the keyframe on frame `index` (no error when there is none)."""
        self.masks.pop(int(index), None)

    @property
    def indices(self) -> list[int]:
        return sorted(self.masks)

    def governing(self, index: int) -> int | None:
        """The keyframe whose mask applies at frame `index`: the last one at or before it, else the first one."""
        before = [k for k in self.masks if k <= index]
        if before:
            return max(before)
        return min(self.masks) if self.masks else None

    def as_dict(self) -> dict[int, np.ndarray]:
        return {index: mask.copy() for index, mask in sorted(self.masks.items())}

    def fixed(self) -> np.ndarray:
        """(n_frames, H, W) bool for mask_type `fixed` (tracking: `masks.tracker.track_masks(frames, as_dict())`)."""
        if not self.masks:
            raise InputError("keyframes", "Draw or click a mask on at least one frame.")
        return ops.hold_keyframes(self.n_frames, self.masks)
