"""The Edit tab as an editor: one frame view (the frame with its mask tinted on top; paint, erase or click on it),
a timeline strip under it (thumbnails, keyframe marks to jump to, tracked frames, Track's progress), a frame
slider, small icon buttons (keep, invert, clear, track), a text prompt with Find, or an uploaded mask image / mask
video. The per-session state is a `MaskEditor`; the handlers are plain functions of (components, values) wired
once in `edit_inputs`; the view is in edit_view.py (its HTML and script in frame_view.py), Track and Find in
edit_track.py."""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

import gradio as gr
import numpy as np

from ..core import constants as C
from ..core.errors import BackendUnavailable, InputError, MediaError
from ..core.requests import EditRequest, MaskKeyframe, MaskShape, MaskType, TrackerChoice
from ..media.video import probe_video
from ..services import Services
from . import frame_view as fv
from .capability_tab import TabInputs
from .edit_track import on_track
from .edit_view import EditView, read_frame, show
from .frame_view_assets import TIMELINE_CSS, TIMELINE_JS, VIEW_CSS, VIEW_JS
from .handlers import wire
from .mask_editor import MaskEditor
from .reference_slots import reference_slots

TRACKER_CHOICES = [("Flow (no weights)", TrackerChoice.FLOW.value), ("SAM 2.1", TrackerChoice.SAM2.value),
                   ("SAM 3 tracker", TrackerChoice.SAM3.value), ("EdgeTAM", TrackerChoice.EDGETAM.value),
                   ("Auto (best with weights, else flow)", TrackerChoice.AUTO.value)]
TOOLS = [("✎ Brush", "brush"), ("⌫ Eraser", "erase"), ("+ Click: add", "add"), ("− Click: remove", "remove")]
DEFAULT = EditRequest()


class ClickSegmenter:
    """segment-anything behind a lock, re-embedding only when the frame changes."""

    def __init__(self, services: Services):
        self.services, self._lock, self._key = services, threading.Lock(), None

    def segment(self, frame: np.ndarray, key: tuple, clicks: list[tuple[int, int, bool]]) -> np.ndarray:
        with self._lock:
            segmenter = self.services.sam.clicks()
            if self._key != key:
                segmenter.set_image(frame)
                self._key = key
            return segmenter.segment(clicks)


def _with_strokes(state: MaskEditor, index: int, strokes_json: str | None) -> np.ndarray | None:
    """The mask shown on `index` with the strokes painted there (None when that leaves nothing)."""
    _, strokes = fv.parse_strokes(strokes_json)
    base, _ = state.shown_mask(index)
    if index not in strokes:
        return base if base is not None and base.any() else None
    mask = fv.apply_strokes(base, strokes[index], state.keyframes.height, state.keyframes.width)
    return mask if mask.any() else None


def _target(index, strokes_json: str | None) -> int:
    """The frame an action is for: the one the view shows (the slider may already be somewhere else)."""
    shown, _ = fv.parse_strokes(strokes_json)
    return int(index) if shown is None else shown


def on_video(view: EditView, path: str | None, state: MaskEditor) -> dict:
    state.unload()
    if path:
        try:
            info = probe_video(path)
            state.load(path, info.frame_count, info.width, info.height)
        except MediaError as error:
            gr.Warning(str(error))
    count = max(1, state.frame_count)
    return {view.session: state, view.frame: gr.Slider(maximum=max(1, count - 1), value=0),
            view.keyframe_list: state.describe(), **show(view, state, 0)}


def on_frame(view: EditView, index, state: MaskEditor) -> dict:
    state.clicks = []
    return {view.session: state, **show(view, state, int(index))}


def on_jump(view: EditView, text: str | None, state: MaskEditor) -> dict:
    """A click on the timeline (a keyframe mark or anywhere on the strip): the slider moves there."""
    frame = fv.parse_jump(text)
    if frame is None or not state.loaded:
        return {}
    return {view.frame: max(0, min(frame, state.frame_count - 1))}


def on_click(view: EditView, clicker: ClickSegmenter, text: str | None, strokes_json, state: MaskEditor) -> dict:
    pointed = fv.parse_pointer(text)
    if not state.loaded or pointed is None:
        gr.Warning("Upload a video first, then click the object to mask.")
        return {}
    index, x, y, positive = pointed
    if state.click_frame != index:
        state.clicks, state.click_frame = [], index
    state.clicks.append((x, y, positive))
    image = read_frame(state.video, index, state.frames)
    try:
        mask = clicker.segment(image, (state.video, index), state.clicks)
    except (BackendUnavailable, InputError) as error:
        state.clicks.pop()
        gr.Warning(str(error))
        return {view.session: state}
    state.pending[index] = mask
    return {view.session: state, **show(view, state, index, note=f"{len(state.clicks)} click(s); Keep to keep")}


def on_keep(view: EditView, index, strokes_json, state: MaskEditor) -> dict:
    if not state.loaded:
        gr.Warning("Upload a video first, then paint or click the region to edit.")
        return {}
    index = _target(index, strokes_json)
    mask = _with_strokes(state, index, strokes_json)
    if mask is None:
        gr.Warning("Nothing is painted or clicked on this frame: paint the region (brush) or click it first.")
        return {}
    try:
        state.keep(index, mask)
    except InputError as error:
        gr.Warning(error.message)
        return {}
    state.clicks = []
    return {view.session: state, view.keyframe_list: state.describe(), **show(view, state, index, (index,))}


def on_invert(view: EditView, index, strokes_json, state: MaskEditor) -> dict:
    if not state.loaded:
        gr.Warning("Upload a video first; Invert swaps the painted region and the rest of the frame.")
        return {}
    index = _target(index, strokes_json)
    mask = _with_strokes(state, index, strokes_json)
    state.pending[index] = np.ones((state.keyframes.height, state.keyframes.width), bool) if mask is None else ~mask
    gr.Info(f"Inverted the mask on frame {index}; press Keep to keep it.")
    return {view.session: state, **show(view, state, index, (index,))}


def on_clear(view: EditView, everything: bool, index, strokes_json, state: MaskEditor) -> dict:
    state.clicks = []
    index = _target(index, strokes_json)
    if everything:
        state.remove_all()
    else:
        state.remove(index)
    gr.Info("Cleared every keyframe, tracked mask and click." if everything
            else f"Cleared the mask, strokes and clicks of frame {index}.")
    if not state.loaded:
        return {view.session: state, view.keyframe_list: state.describe()}
    cleared = tuple(range(state.frame_count)) if everything else (index,)
    return {view.session: state, view.keyframe_list: state.describe(), **show(view, state, index, cleared)}


def build_request(view: EditView, scratch: Path, data: dict) -> EditRequest:
    """The request for what the tab shows now. What is painted on the canvas counts for its frame, kept or not;
    an uploaded mask image counts for the shown frame when nothing was painted or kept."""
    state: MaskEditor = data[view.session]
    current = _target(data[view.frame], data[view.strokes])
    extra = {}
    if state.loaded:  # strokes not kept yet count for their frames, and so does a clicked mask not kept yet
        _, strokes = fv.parse_strokes(data[view.strokes])
        for index in set(strokes) | set(state.pending):
            mask = _with_strokes(state, index, data[view.strokes]) if 0 <= index < state.frame_count else None
            if mask is not None:
                extra[index] = mask
    keyframes = state.export(scratch, extra or None)
    if not keyframes and data[view.mask_image]:
        keyframes = (MaskKeyframe(data[view.mask_image], current),)
    if keyframes and data[view.mask_video]:
        raise InputError("mask", "give either painted/clicked/uploaded mask images or a mask video, not both.")
    return EditRequest.from_dict({
        "video": data[view.video] or "",
        "keyframes": [keyframe.to_dict() for keyframe in keyframes],
        "mask_video": data[view.mask_video] or None, "mask_type": data[view.mask_type],
        "expand_ratio": data[view.expand_ratio], "mask_shape": data[view.shape],
        "references": [reference.to_dict() for reference in view.references.references(data)],
        "cut_occluders": data[view.cut_occluders], "tracker": data[view.tracker],
        "mask_text": data.get(view.mask_text) or "",
    })


def restore(view: EditView, saved: EditRequest) -> dict:
    """A stored Edit job back into the tab: its clip, keyframe masks and options."""
    state = MaskEditor()
    first = min((keyframe.frame for keyframe in saved.keyframes), default=0)
    if saved.video and Path(saved.video).is_file():
        try:
            info = probe_video(saved.video)
            state.restore(saved.video, info.frame_count, info.width, info.height, saved.keyframes)
        except (MediaError, InputError) as error:
            gr.Warning(f"The job's video or masks could not be read back: {error}")
            state.unload()
    count = max(2, state.frame_count)
    shown = show(view, state, first if state.loaded else 0, tuple(range(state.frame_count)))
    return {
        **shown,
        view.frame: gr.Slider(maximum=count - 1, value=first if state.loaded else 0),
        view.session: state, view.video: saved.video or None, view.mask_video: saved.mask_video,
        view.keyframe_list: state.describe(), view.mask_type: saved.mask_type.value,
        view.expand_ratio: saved.expand_ratio, view.shape: saved.mask_shape.value,
        **view.references.restore(saved.references),
        view.cut_occluders: saved.cut_occluders, view.tracker: saved.tracker.value, view.mask_text: saved.mask_text,
    }


def edit_inputs(clicker: ClickSegmenter, scratch: Path, services: Services | None = None) -> TabInputs:
    session = gr.State(MaskEditor())
    video = gr.Video(label="Source video", sources=["upload"], elem_id="edit-video", height=200)
    with gr.Row(equal_height=True):
        gr.Radio(TOOLS, value="brush", label="Tool", elem_id="edit-tool", scale=3, interactive=True)
        gr.Slider(2, 200, value=24, step=1, label="Brush size (video pixels)", elem_id="edit-brush", scale=2,
                  interactive=True)
    view_html = gr.HTML(fv.view_html(None), elem_id="edit-view", js_on_load=VIEW_JS, css_template=VIEW_CSS,
                        apply_default_css=False)
    timeline = gr.HTML(fv.timeline_html(None), elem_id="edit-timeline", js_on_load=TIMELINE_JS,
                       css_template=TIMELINE_CSS, apply_default_css=False)
    frame = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="edit-frame")
    with gr.Row(elem_id="edit-mask-tools"):
        keep = gr.Button("✔ Keep", size="sm", variant="primary", elem_id="edit-keep", min_width=70)
        invert = gr.Button("◐ Invert", size="sm", elem_id="edit-invert", min_width=70)
        clear = gr.Button("✕ Clear", size="sm", elem_id="edit-clear", min_width=70)
        clear_all = gr.Button("⟲ All", size="sm", elem_id="edit-clear-all", min_width=70)
        track = gr.Button("▶ Track", size="sm", elem_id="edit-track", min_width=70)
    keyframe_list = gr.Markdown(MaskEditor().describe(), elem_id="edit-keyframes")
    strokes = gr.Textbox(visible="hidden", elem_id="edit-strokes")
    pointer = gr.Textbox(visible="hidden", elem_id="edit-pointer")
    jump = gr.Textbox(visible="hidden", elem_id="edit-jump")
    with gr.Accordion("Or name it (SAM 3 text prompt)", open=False):
        with gr.Row(equal_height=True):
            mask_text = gr.Textbox(label="What to mask on every frame; kept frames correct it from there on",
                                   placeholder="the dog, all people", elem_id="edit-mask-text", max_length=200,
                                   scale=4)
            find = gr.Button("▶ Find", size="sm", elem_id="edit-find", min_width=70, scale=1)
    with gr.Accordion("Or upload a mask", open=False):
        with gr.Row():
            mask_image = gr.Image(label="Mask image (white = edit), on the chosen frame", type="filepath",
                                  image_mode="L", height=160)
            mask_video = gr.Video(label="Mask video (white = edit), frame for frame", sources=["upload"])
    with gr.Row():
        mask_type = gr.Radio([("Fixed", MaskType.FIXED.value), ("Tracking", MaskType.TRACKING.value)],
                             value=DEFAULT.mask_type.value, label="Mask follows", elem_id="edit-mask-type",
                             info="Fixed holds each keyframe until the next; tracking follows the object")
        expand_ratio = gr.Slider(*C.EXPAND_RATIO_RANGE, value=DEFAULT.expand_ratio, step=0.01, label="Expand ratio",
                                 info="Grow the mask by this fraction of its box")
        shape = gr.Dropdown([s.value for s in MaskShape], value=DEFAULT.mask_shape.value, label="Mask shape")
        cut_occluders = gr.Checkbox(DEFAULT.cut_occluders, label="Tracking: cut out what passes in front",
                                    info="Turn off if a bending subject (a flag, a dancer) loses its edges")
        tracker = gr.Dropdown(TRACKER_CHOICES, value=DEFAULT.tracker.value, label="Tracker", elem_id="edit-tracker",
                              info="Learned trackers need their weights in models/trackers (see the README)")
    references = reference_slots("edit-reference", height=140)
    view = EditView(session, video, frame, view_html, timeline, strokes, keyframe_list, mask_image, mask_video,
                    mask_type, expand_ratio, shape, cut_occluders, references, tracker, mask_text)

    listed = {session, keyframe_list}
    wire(video.upload, partial(on_video, view), [video, session], listed | {frame} | view.shown)
    wire(video.clear, partial(on_video, view, None), session, listed | {frame} | view.shown)
    # A frame change is a decode and two small images (no progress overlay, its own queue lane, only the last
    # position when the slider moves fast); strokes stay in the browser per frame, so none is lost meanwhile.
    wire(frame.change, partial(on_frame, view), [frame, session], {session} | view.shown,
         trigger_mode="always_last", show_progress="hidden", concurrency_limit=4, concurrency_id="edit-frame")
    wire(jump.change, partial(on_jump, view), [jump, session], {frame}, quick=True)
    wire(pointer.change, partial(on_click, view, clicker), [pointer, strokes, session], {session} | view.shown,
         concurrency_id="edit-click", show_progress="hidden", trigger_mode="always_last")
    mask_inputs = [frame, strokes, session]
    wire(keep.click, partial(on_keep, view), mask_inputs, listed | view.shown, show_progress="hidden")
    wire(invert.click, partial(on_invert, view), mask_inputs, {session} | view.shown, show_progress="hidden")
    wire(clear.click, partial(on_clear, view, False), mask_inputs, listed | view.shown, show_progress="hidden")
    wire(clear_all.click, partial(on_clear, view, True), mask_inputs, listed | view.shown, show_progress="hidden")
    if services is not None:
        track_inputs = [frame, cut_occluders, tracker, mask_text, session]
        for button in (track, find):
            wire(button.click, partial(on_track, view, services), track_inputs, listed | view.shown,
                 concurrency_id="edit-track", show_progress="hidden")

    components = {session, video, frame, strokes, mask_image, mask_video, mask_type, expand_ratio, shape,
                  cut_occluders, tracker, mask_text} | references.components
    return TabInputs(components, partial(build_request, view, scratch), partial(restore, view),
                     extra_outputs={keyframe_list, view_html, timeline})
