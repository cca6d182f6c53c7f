"""An in-memory MediaSource for pixel-exact core tests: videos and images are numpy arrays keyed by name."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vace_ui.core.errors import MediaError


@dataclass
class Probe:
    width: int
    height: int
    fps: float
    frame_count: int


@dataclass
class MemoryMedia:
    videos: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    decoded: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    probed: list[str] = field(default_factory=list)

    def probe(self, path, field):
        self.probed.append(path)
        if path not in self.videos:
            raise MediaError(field, f"no video {path}")
        frames, fps = self.videos[path]
        return Probe(frames.shape[2], frames.shape[1], fps, frames.shape[0])

    def frames(self, path, indices, field):
        self.decoded.append((path, tuple(indices)))
        frames, _ = self.videos[path]
        for index in indices:
            yield frames[index]

    def image(self, path, field):
        return self.images[path]

    def mask_image(self, path, field):
        image = self.images[path]
        return (image if image.ndim == 2 else image.max(axis=2)) > 127


def numbered_video(count: int, width: int, height: int) -> np.ndarray:
    """Frame i is filled with value i (so tests can read which source frame landed where)."""
    return np.stack([np.full((height, width, 3), index % 256, dtype=np.uint8) for index in range(count)])
