"""Track and Find on the Edit tab: masks for the whole clip, shown on the view before any job runs. Track
carries the kept keyframes through the clip with the chosen tracker; with a text prompt ("the dog"), SAM 3 finds
the subject on every frame and the kept keyframes correct it from the first of them on, exactly what the Edit
job compiles (core.compile_edit.text_masks). The timeline's progress moves while either runs."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import replace

import gradio as gr

from ..core.compile_edit import text_masks
from ..services import Services
from . import frame_view as fv
from .edit_view import ClipFrames, EditView, show, strip
from .mask_editor import MaskEditor


def on_track(view: EditView, services: Services, index, cut_occluders, tracker, text, state: MaskEditor):
    """Masks for every frame: SAM 3's for `text` (corrected by the kept keyframes) when given, else the kept
    keyframes tracked through the clip."""
    text = " ".join(str(text or "").split())
    if not state.loaded:
        gr.Warning("Upload a video first, then keep a mask on a frame or name what to mask.")
        yield {}
        return
    if not text and not state.keyframes.indices:
        gr.Warning("Keep a mask on at least one frame first (Track carries it through the clip), or name what to "
                   "mask under \"Or name it\" and press Find.")
        yield {}
        return
    from ..jobs.context import file_context

    updates: queue.Queue = queue.Queue()
    context = file_context(progress=lambda _label, done, total: updates.put(("step", (done, total))),
                           trackers=services.video_tracker, refiner=services.sam.refiner,
                           segmenter=services.trackers.text)
    result: dict = {}

    def work():
        try:  # the flow tracker says each frame it has tracked (learned trackers report steps only)
            if text:
                result["masks"] = text_masks(context, ClipFrames(state), text, state.keyframes.as_dict(),
                                             bool(cut_occluders), tracker)
            else:
                masks, by = context.track(ClipFrames(state), state.keyframes.as_dict(),
                                          cut_occluders=bool(cut_occluders), tracker=tracker,
                                          on_mask=lambda frame: updates.put(("frame", frame)))
                result["masks"] = masks, [(0, f"{by} tracker")]
        except Exception as error:  # noqa: BLE001 - raised again below, in the handler (the one rule applies)
            result["error"] = error
        updates.put(None)

    threading.Thread(target=work, daemon=True, name="edit-track").start()
    current, frames, last = (0, 1), set(), 0.0
    while (update := updates.get()) is not None:
        kind, value = update
        if kind == "frame":
            frames.add(value)
            continue
        current = value
        if time.monotonic() - last >= 0.25 or current[0] == current[1]:  # a few updates a second, not one a step
            last = time.monotonic()
            shown = strip(state, int(index), current)
            yield {view.timeline: fv.timeline_html(replace(shown, tracked=tuple(sorted(frames))))}
    if "error" in result:
        raise result["error"]
    masks, made_by = result["masks"]
    state.set_tracked(masks, tuple(made_by))
    found = sum(1 for mask in masks if mask.any())
    if text and not found:
        gr.Warning(f"SAM 3 found nothing for {text!r} on any frame; try other words, or paint the mask.")
    else:
        sources = " then ".join(f"the {by} from frame {first}" for first, by in made_by)
        gr.Info(f"Masks on {found} of {len(masks)} frame(s), by {sources}: scrub to see each frame's mask.")
    yield {view.session: state, view.keyframe_list: state.describe(), **show(view, state, int(index))}
