"""The compile context made of the real layers: files through the media layer, controls through the annotator
registry, tracking through the mask tracker."""

from __future__ import annotations

import copy
from collections.abc import Callable

from ..core.compile import CompileContext
from ..media import images, video


class FileMedia:
    """MediaSource over files on disk (streamed video decoding)."""

    def probe(self, path, field):
        return video.probe_video(path, field)

    def frames(self, path, indices, field):
        return video.iter_frames(path, indices, field)

    def image(self, path, field):
        return images.read_image(path, field)

    def mask_image(self, path, field):
        return images.read_mask_image(path, field)


def file_context(progress: Callable[[str, int, int], None] | None = None) -> CompileContext:
    """A CompileContext over real files. `progress(label, done, total)` hears about annotation progress."""
    from .. import annotators

    def annotate(kind, frames, total):
        report = (lambda done, count: progress(f"control {kind}", done, count)) if progress else None
        # A shallow copy shares the loaded weights but keeps this clip's per-frame state (flow, layout) apart
        # from any other job or preview running at the same time; process() resets that state on the copy.
        return copy.copy(annotators.get(kind)).process(frames, total, report)

    try:
        from ..masks.tracker import track_masks
    except ImportError:  # tracking arrives with the masks layer
        track_masks = None
    return CompileContext(media=FileMedia(), annotate=annotate, track=track_masks)
