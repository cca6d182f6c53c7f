"""The Edit tab's mask state, one per browser session: the clip being masked and its keyframe masks.

Masks stay (H, W) bool at the source video's size (`core.keyframes.Keyframes`); they become PNG files once, when a
job or a preview is submitted (`export`), and a mask that did not change is not written again.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.keyframes import Keyframes
from ..core.requests import MaskKeyframe
from ..media.frames import FrameSource
from ..media.images import read_mask_image, write_mask_png


@dataclass
class MaskEditor:
    """video: the clip's path (None before an upload). keyframes: bool masks by source frame. clicks: the
    segment-anything clicks (x, y, positive) on the frame shown now. frames: the session's frames on demand (the
    clip opened once, seeking, a small cache)."""

    video: str | None = None
    keyframes: Keyframes | None = None
    clicks: list[tuple[int, int, bool]] = field(default_factory=list)
    frames: FrameSource = field(default_factory=FrameSource)
    click_frame: int | None = None  # the frame `clicks` were made on
    pending: dict[int, np.ndarray] = field(default_factory=dict)  # clicked/inverted masks, not kept yet
    tracked: dict[int, np.ndarray] = field(default_factory=dict)  # Track's masks, bit-packed, by source frame
    tracked_by: tuple[tuple[int, str], ...] = ()  # (first frame, what made the masks from there): Track's sources
    thumbnails: tuple = ()  # the timeline's (frame, data URL) pairs, made once per clip
    _written: dict[tuple[int, str], str] = field(default_factory=dict, repr=False)
    _folder: str | None = field(default=None, repr=False)

    @property
    def loaded(self) -> bool:
        return self.video is not None and self.keyframes is not None

    @property
    def frame_count(self) -> int:
        return self.keyframes.n_frames if self.keyframes else 0

    def load(self, video: str, frame_count: int, width: int, height: int) -> None:
        """Start masking a new clip: keyframes and clicks of the previous one are forgotten."""
        self.video, self.keyframes, self.clicks = video, Keyframes(frame_count, height, width), []
        self.pending, self.tracked, self.thumbnails = {}, {}, ()

    def unload(self) -> None:
        self.video, self.keyframes, self.clicks = None, None, []
        self.pending, self.tracked, self.thumbnails = {}, {}, ()

    def tracked_mask(self, index: int) -> np.ndarray | None:
        packed = self.tracked.get(int(index))
        if packed is None:
            return None
        height, width = self.keyframes.height, self.keyframes.width
        return np.unpackbits(packed, count=height * width).reshape(height, width).astype(bool)

    def set_tracked(self, masks: np.ndarray, made_by: tuple[tuple[int, str], ...] = ()) -> None:
        """Track's result, (N, H, W) bool over the clip's frames; keyframes are not repeated here. `made_by`:
        (first frame, what made the masks from that frame on), in frame order."""
        kept = set(self.keyframes.indices)
        self.tracked = {index: np.packbits(mask) for index, mask in enumerate(masks) if index not in kept}
        self.tracked_by = tuple(made_by)

    def tracked_source(self, index: int) -> str:
        """What made the tracked mask of frame `index` ("flow tracker", "SAM 3 text 'the dog'")."""
        return next((by for first, by in reversed(self.tracked_by) if first <= int(index)), "tracker")

    def shown_mask(self, index: int) -> tuple[np.ndarray | None, str]:
        """What the view tints on frame `index`: a mask not kept yet, else the kept keyframe, else the tracked
        mask, with which of these it is ("pending", "kept", "tracked"; "" for none)."""
        if int(index) in self.pending:
            return self.pending[int(index)], "pending"
        kept = self.mask(index)
        if kept is not None:
            return kept, "kept"
        tracked = self.tracked_mask(index) if self.keyframes else None
        return (tracked, "tracked") if tracked is not None else (None, "")

    def mask(self, index: int) -> np.ndarray | None:
        """The kept mask on exactly this frame, or None."""
        return self.keyframes.get(index) if self.keyframes else None

    def keep(self, index: int, mask: np.ndarray) -> None:
        """A keyframe on `index`; masks tracked from the keyframes before are dropped (Track again)."""
        self.keyframes.set(index, mask)
        self.pending.pop(int(index), None)
        self.tracked = {}

    def remove(self, index: int) -> None:
        self.pending.pop(int(index), None)
        if self.keyframes:
            self.keyframes.remove(index)
            self.tracked = {}

    def remove_all(self) -> None:
        self.pending, self.tracked = {}, {}
        if self.keyframes:
            self.keyframes.masks.clear()

    def describe(self) -> str:
        if not self.keyframes or not self.keyframes.indices:
            return "No keyframes yet: paint or click, then keep the mask."
        return "Keyframes: " + ", ".join(f"frame {index}" for index in self.keyframes.indices)

    def restore(self, video: str, frame_count: int, width: int, height: int, saved: tuple[MaskKeyframe, ...]) -> None:
        """Load a stored job's clip and its keyframe mask files."""
        self.load(video, frame_count, width, height)
        for keyframe in saved:
            if 0 <= keyframe.frame < frame_count:
                self.keyframes.set(keyframe.frame, read_mask_image(keyframe.path, "mask"))

    def export(self, scratch: Path, extra: dict[int, np.ndarray] | None = None) -> tuple[MaskKeyframe, ...]:
        """Every keyframe (plus `extra` masks, e.g. the stroke on the canvas now) as a binary PNG in this editor's
        folder under `scratch`, written once per distinct mask."""
        if self._folder is None or not Path(self._folder).is_dir():
            self._folder = tempfile.mkdtemp(prefix="masks-", dir=scratch)
        folder = Path(self._folder)
        masks = self.keyframes.as_dict() if self.keyframes else {}
        masks.update(extra or {})
        exported = []
        for index, mask in sorted(masks.items()):
            key = (index, hashlib.sha1(np.packbits(mask).tobytes() + str(mask.shape).encode()).hexdigest())
            path = self._written.get(key)
            if path is None or not Path(path).is_file():
                path = str(write_mask_png(folder / f"keyframe_{index}_{key[1][:10]}.png", mask))
                self._written[key] = path
            exported.append(MaskKeyframe(path, index))
        return tuple(exported)
