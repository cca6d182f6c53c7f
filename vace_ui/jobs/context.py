"""The compile context made of the real layers: files through the media layer, controls through the annotator
registry, tracking through the mask tracker."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.clip import CompileContext
from ..core.errors import InputError
from ..media import images, video
from .control_cache import ControlCache


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


def file_context(progress: Callable[[str, int, int], None] | None = None,
                 cache: ControlCache | None = None,
                 refiner: Callable[[], object | None] | None = None,
                 trackers: Callable[[str], tuple[str, object | None]] | None = None,
                 segmenter: Callable[[], object] | None = None) -> CompileContext:
    """A CompileContext over real files. `progress(label, done, total)` hears about annotation progress; `cache`
    serves control videos computed before for the same clip and fills it with new ones; `refiner()` gives the
    per-frame segment-anything refiner for tracking (None: flow tracking alone), asked only when tracking runs;
    `trackers(choice)` turns a tracker choice into (tracker name, learned tracker or None for flow), raising when
    the chosen one's weights are missing (services.Services.video_tracker). Without it only `flow` is offered.
    `segmenter()` gives the SAM 3 text segmenter for a mask text (masks/text_masks.py), asked only when one is
    given; it raises, naming files and folder, when SAM 3's weights are missing."""
    from .. import annotators

    def annotate(kind, frames, total, source=None):
        key = cache.key(source[0], kind, (source[1], tuple(source[2]))) if cache is not None and source else None
        cached = cache.get(key) if key is not None else None
        if cached is not None:
            yield from cached
            return
        report = (lambda done, count: progress(f"control {kind}", done, count)) if progress else None
        # The shared annotator holds only loaded weights; process() keeps this clip's per-frame state (flow,
        # layout) in a stream of its own, apart from any other job or preview running at the same time.
        computed = list(annotators.get(kind).process(frames, total, report))
        if key is not None:
            cache.put(key, np.stack(computed))
        yield from computed

    def track(frames, keyframes, cut_occluders: bool = True, tracker: str = "flow", on_mask=None):
        from ..masks.tracker import TrackerConfig, track_masks

        name, learned = trackers(tracker) if trackers is not None else (tracker, None)
        if name not in ("flow", "auto") and learned is None:
            raise InputError("tracker", f"the {name} tracker is not available here; choose 'flow'.")
        report = (lambda done, count: progress(f"tracking mask ({name})", done, count)) if progress else None
        if learned is not None:
            return learned.track(frames, keyframes, progress=report), name
        masks = track_masks(frames, keyframes, refiner=refiner() if refiner else None, progress=report,
                            config=TrackerConfig(occlusion=cut_occluders),
                            **({"on_mask": on_mask} if on_mask is not None else {}))
        return masks, "flow"

    def segment(frames, text: str):
        report = (lambda done, count: progress(f"finding {text!r} (SAM 3)", done, count)) if progress else None
        return segmenter().segment(frames, text, progress=report)

    return CompileContext(media=FileMedia(), annotate=annotate, track=track,
                          segment=segment if segmenter is not None else None)
