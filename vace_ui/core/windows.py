"""Long videos as sliding windows: which output frames each window covers, which it keeps from the previous one,
and how a window's inputs carry the previous window's last frames (mask keep, exactly as extension compiles).

A window is at most `window` frames (4n+1); each later window starts `overlap` frames before the previous one
ends and keeps those frames. A short last window starts earlier (keeping up to 3 frames more) so that it is 4n+1 too,
or, for a backend that makes only some frame counts (`lengths`), so that it is the shortest of those that fits.
A reversed plan (an extension before a clip) runs from the end backwards: each window keeps its last frames from
the window after it.
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
    reverse: bool = False  # windows run from the end backwards; `keep` frames are at each window's end

    @property
    def count(self) -> int:
        return len(self.windows)

    def describe(self) -> str:
        spans = ", ".join(f"{w.start}-{w.end - 1}" for w in self.windows)
        if self.count == 1:
            return f"1 window: {spans}"
        order = ", generated from the end backwards" if self.reverse else ""
        return f"{self.count} windows: {spans} ({self.window} frames each, {self.overlap} overlapping{order})"

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


def _last_length(needed: int, lengths: tuple[int, ...]) -> int:
    if not lengths:
        return _round_up_valid(needed)
    return min((length for length in lengths if length >= needed), default=max(lengths))


def plan_windows(total: int, window: int = DEFAULT_WINDOW, overlap: int = DEFAULT_OVERLAP,
                 lengths: tuple[int, ...] = (), reverse: bool = False, backend: str = "") -> WindowPlan:
    """Cover `total` output frames. A total that fits one window is one window (of `total` frames). `lengths`:
    the only frame counts a window may have (a hosted backend's; empty: any 4n+1), named after `backend`."""
    check_window_settings(window, overlap)
    if total < C.MIN_FRAMES:
        raise InputError("num_frames", f"{total} frames; at least {C.MIN_FRAMES} needed.")
    if total <= window:
        return WindowPlan(total, window, overlap, (Window(0, 0, total, 0),), reverse)
    if lengths and window not in lengths:
        raise InputError("window_frames", f"{window} frames per window is not offered by {backend or 'the backend'}"
                                          f", which makes {', '.join(map(str, lengths))} frames per task.")
    windows = [Window(0, 0, window, 0)]
    while windows[-1].end < total:
        previous = windows[-1]
        start = previous.end - overlap
        if start + window >= total:  # the last window: 4n+1 (or an offered count), ending exactly at `total`
            length = _last_length(total - start, lengths)
            start = total - length
            windows.append(Window(len(windows), start, total, previous.end - start))
        else:
            windows.append(Window(len(windows), start, start + window, overlap))
    if reverse:
        windows = [Window(w.index, total - w.end, total - w.start, w.keep) for w in windows]
    return WindowPlan(total, window, overlap, tuple(windows), reverse)


def keep_previous(inputs: VaceInputs, kept: np.ndarray, at_end: bool = False) -> VaceInputs:
    """The window's inputs with its first (`at_end`: last) len(kept) frames replaced by the previous window's
    output, mask black (keep) on them: the extension capability's rule for a kept clip."""
    count = len(kept)
    if count == 0:
        return inputs
    if kept.shape[1:] != inputs.video.shape[1:]:
        raise ValueError(f"kept frames {kept.shape[1:]} do not match the window's {inputs.video.shape[1:]}")
    video, mask = inputs.video.copy(), inputs.mask.copy()
    span = slice(len(video) - count, None) if at_end else slice(None, count)
    video[span], mask[span] = kept, C.MASK_KEEP
    where = f"last {count} frames kept from the window after" if at_end else \
        f"first {count} frames kept from the previous window"
    notes = inputs.notes + [where]
    extra = [replace(stream, video=stream.video.copy(), mask=stream.mask.copy()) for stream in inputs.extra_controls]
    for stream in extra:  # a second control stream keeps the same frames
        stream.video[span], stream.mask[span] = kept, C.MASK_KEEP
    return replace(inputs, video=video, mask=mask, notes=notes, extra_controls=extra)


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
