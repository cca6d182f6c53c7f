"""Long videos as sliding windows: which output frames each window covers, which it keeps from the previous one,
and how a window's inputs carry the previous window's last frames (mask keep, exactly as extension compiles).

A window is at most `window` frames (4n+1); each later window starts `overlap` frames before the previous one
ends and keeps those frames. A short last window starts earlier (keeping up to 3 frames more) so that it is 4n+1 too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import constants as C
from .errors import InputError
from .inputs import VaceInputs

DEFAULT_WINDOW = C.DEFAULT_FRAMES
DEFAULT_OVERLAP = 16


@dataclass(frozen=True)
class Window:
    index: int
    start: int  # first output frame (global)
    end: int  # one past the last output frame
    keep: int  # frames at the start kept from the previous window (0 for the first)

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WindowPlan:
    total: int
    window: int
    overlap: int
    windows: tuple[Window, ...]

    @property
    def count(self) -> int:
        return len(self.windows)

    def describe(self) -> str:
        spans = ", ".join(f"{w.start}-{w.end - 1}" for w in self.windows)
        if self.count == 1:
            return f"1 window: {spans}"
        return f"{self.count} windows: {spans} ({self.window} frames each, {self.overlap} overlapping)"

    def tail(self, index: int) -> int:
        """Frames at the end of window `index` the next window keeps (0 for the last)."""
        return self.windows[index + 1].keep if index + 1 < self.count else 0


def _round_up_valid(frames: int) -> int:
    return max(C.MIN_FRAMES, -(-(frames - 1) // C.TEMPORAL_STRIDE) * C.TEMPORAL_STRIDE + 1)


def check_window_settings(window: int, overlap: int) -> None:
    if not isinstance(window, int) or window % C.TEMPORAL_STRIDE != 1 or not C.MIN_FRAMES <= window <= C.MAX_FRAMES:
        raise InputError("window_frames",
                         f"{window} is not a 4n+1 count from {C.MIN_FRAMES} to {C.MAX_FRAMES} (e.g. 81).")
    if not isinstance(overlap, int) or overlap < 0:
        raise InputError("window_overlap", f"{overlap} must be a whole number of frames, 0 or more.")
    if overlap >= window - C.TEMPORAL_STRIDE:
        raise InputError("window_overlap", f"{overlap} frames leaves nothing to generate in a {window}-frame window; "
                                           f"use at most {window - C.TEMPORAL_STRIDE - 1}.")


def plan_windows(total: int, window: int = DEFAULT_WINDOW, overlap: int = DEFAULT_OVERLAP) -> WindowPlan:
    """Cover `total` output frames. A total that fits one window is one window (of `total` frames)."""
    check_window_settings(window, overlap)
    if total < C.MIN_FRAMES:
        raise InputError("num_frames", f"{total} frames; at least {C.MIN_FRAMES} needed.")
    if total <= window:
        return WindowPlan(total, window, overlap, (Window(0, 0, total, 0),))
    windows = [Window(0, 0, window, 0)]
    while windows[-1].end < total:
        previous = windows[-1]
        start = previous.end - overlap
        if start + window >= total:  # the last window: 4n+1, ending exactly at `total`
            length = _round_up_valid(total - start)
            start = total - length
            windows.append(Window(len(windows), start, total, previous.end - start))
        else:
            windows.append(Window(len(windows), start, start + window, overlap))
    return WindowPlan(total, window, overlap, tuple(windows))


def keep_previous(inputs: VaceInputs, kept: np.ndarray) -> VaceInputs:
    """The window's inputs with its first len(kept) frames replaced by the previous window's output, mask black
    (keep) on them: the extension capability's rule for a kept clip."""
    count = len(kept)
    if count == 0:
        return inputs
    if kept.shape[1:] != inputs.video.shape[1:]:
        raise ValueError(f"kept frames {kept.shape[1:]} do not match the window's {inputs.video.shape[1:]}")
    video, mask = inputs.video.copy(), inputs.mask.copy()
    video[:count], mask[:count] = kept, C.MASK_KEEP
    notes = inputs.notes + [f"first {count} frames kept from the previous window"]
    return replace(inputs, video=video, mask=mask, notes=notes)


def window_prompts(prompt: str, count: int) -> list[str]:
    """One prompt per window. With several windows, a prompt of several non-empty lines gives one line per window
    (the last line carries on to the windows after it); one line is every window's prompt."""
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    if count <= 1 or len(lines) <= 1:
        return [prompt] * count
    if len(lines) > count:
        raise InputError("prompt", f"has {len(lines)} lines (one per window) but the video has {count} windows; "
                                   "remove lines, raise the duration, or write the prompt on one line.")
    return lines + [lines[-1]] * (count - len(lines))


def window_keyframes(keyframes: dict[int, np.ndarray], start: int, length: int) -> dict[int, np.ndarray]:
    """Keyframes (global output frames) held as `masks.hold_keyframes` holds them, seen from one window: the
    latest keyframe before the window holds at its first frame; with none before or inside, the first one."""
    inside = {frame - start: mask for frame, mask in keyframes.items() if start <= frame < start + length}
    before = [frame for frame in keyframes if frame < start]
    if before and 0 not in inside:
        inside[0] = keyframes[max(before)]
    if not inside:
        inside[0] = keyframes[min(keyframes)]
    return inside
