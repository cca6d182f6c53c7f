"""The Edit tab: a video, a frame picker, masks painted or clicked (segment-anything) on any number of keyframes,
or an uploaded mask image / mask video. The per-session state is a `MaskEditor`; the handlers below are plain
functions of (components, values) wired once in `edit_inputs`."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr
import numpy as np

from ..core import constants as C
from ..core.errors import BackendUnavailable, InputError, MediaError
from ..core.masks import overlay
from ..core.requests import EditRequest, MaskKeyframe, MaskShape, MaskType, TrackerChoice
from ..media.frames import FrameSource
from ..media.video import probe_video
from ..services import Services
from .capability_tab import TabInputs
from .handlers import wire
from .mask_editor import MaskEditor
from .reference_slots import ReferenceSlots, reference_slots

BRUSH = gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed", default_size=24)
TRACKER_CHOICES = [("Flow (no weights)", TrackerChoice.FLOW.value), ("SAM 2.1", TrackerChoice.SAM2.value),
                   ("SAM 3 tracker", TrackerChoice.SAM3.value), ("EdgeTAM", TrackerChoice.EDGETAM.value),
                   ("Auto (best with weights, else flow)", TrackerChoice.AUTO.value)]
CLICK_MODES = [("Add (positive click)", "add"), ("Remove (negative click)", "remove")]
DEFAULT = EditRequest()


def painted_mask(editor_value: dict | None) -> np.ndarray | None:
    """(H, W) bool of everything painted on any layer (alpha > half); None when nothing is painted."""
    layers = [np.asarray(layer) for layer in (editor_value or {}).get("layers") or [] if layer is not None]
    painted = None
    for layer in layers:
        alpha = (
            layer[..., 3]
            if layer.ndim == 3 and layer.shape[2] == 4
            else layer.reshape(layer.shape[:2] + (-1,)).max(-1)
        )
        painted = alpha > 127 if painted is None else painted | (alpha > 127)
    return painted if painted is not None and painted.any() else None


def mask_layer(mask: np.ndarray | None) -> list[np.ndarray]:
    """An editor layer holding `mask` as white paint (empty list for no mask)."""
    if mask is None or not mask.any():
        return []
    layer = np.zeros(mask.shape + (4,), dtype=np.uint8)
    layer[mask] = (255, 255, 255, 255)
    return [layer]


def read_frame(video_path: str, frame_index: int, frames: FrameSource) -> np.ndarray:
    """Frame `frame_index` as the compile decodes it (read-only), through the session's `FrameSource`."""
    return frames.frame(video_path, int(frame_index))


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


@dataclass
class EditView:
    """The Edit tab's components (handlers return {component: update} dicts keyed by these)."""

    session: gr.State
    video: gr.Video
    frame: gr.Slider
    editor: gr.ImageEditor
    click_mode: gr.Radio
    click_image: gr.Image
    keyframe_list: gr.Markdown
    mask_image: gr.Image
    mask_video: gr.Video
    mask_type: gr.Radio
    expand_ratio: gr.Slider
    shape: gr.Dropdown
    cut_occluders: gr.Checkbox
    references: ReferenceSlots
    tracker: gr.Dropdown

    @property
    def shown(self) -> set:
        return {self.editor, self.click_image}


def show(view: EditView, state: MaskEditor, index: int, mask: np.ndarray | None = None) -> dict:
    """The frame `index` on the canvas and the click view, with `mask` (default: the kept one) painted on."""
    if not state.loaded:
        return {view.editor: {"background": None, "layers": [], "composite": None}, view.click_image: None}
    image = read_frame(state.video, index, state.frames)
    mask = state.mask(index) if mask is None else mask
    shown = overlay(image, mask) if mask is not None else image
    return {view.editor: {"background": image, "layers": mask_layer(mask), "composite": image},
            view.click_image: shown}


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


def on_click(view: EditView, clicker: ClickSegmenter, index, mode, state: MaskEditor, event: gr.SelectData) -> dict:
    if not state.loaded:
        gr.Warning("Upload a video first, then click the object to mask.")
        return {view.session: state}
    x, y = (int(round(v)) for v in event.index[:2])
    state.clicks.append((x, y, mode == "add"))
    image = read_frame(state.video, int(index), state.frames)
    try:
        mask = clicker.segment(image, (state.video, int(index)), state.clicks)
    except (BackendUnavailable, InputError) as error:
        state.clicks.pop()
        gr.Warning(str(error))
        return {view.session: state}
    return {view.session: state, **show(view, state, int(index), mask)}


def on_keep(view: EditView, index, editor_value, state: MaskEditor) -> dict:
    if not state.loaded:
        gr.Warning("Upload a video first, then paint or click the region to edit.")
        return {view.session: state}
    mask = painted_mask(editor_value)
    if mask is None:
        gr.Warning("Nothing is painted or clicked on this frame: paint the region (white brush) or click it first.")
        return {view.session: state}
    try:
        state.keep(int(index), mask)
    except InputError as error:
        gr.Warning(error.message)
        return {view.session: state}
    return {view.session: state, view.keyframe_list: state.describe()}


def on_invert(view: EditView, index, editor_value, state: MaskEditor) -> dict:
    if not state.loaded:
        gr.Warning("Upload a video first; Invert swaps the painted region and the rest of the frame.")
        return {view.session: state}
    mask = painted_mask(editor_value)
    if mask is None:
        mask = state.mask(int(index))
    height, width = state.keyframes.height, state.keyframes.width
    inverted = np.ones((height, width), dtype=bool) if mask is None else ~mask
    gr.Info(f"Inverted the mask on frame {int(index)}; press Keep mask for this frame to keep it.")
    return {view.session: state, **show(view, state, int(index), inverted)}


def on_clear(view: EditView, everything: bool, index, state: MaskEditor) -> dict:
    state.clicks = []
    if everything:
        state.remove_all()
    else:
        state.remove(int(index))
    gr.Info("Cleared every keyframe and click." if everything
            else f"Cleared the mask and clicks of frame {int(index)}.")
    return {view.session: state, view.keyframe_list: state.describe(), **show(view, state, int(index))}


def build_request(view: EditView, scratch: Path, data: dict) -> EditRequest:
    """The request for what the tab shows now. What is painted on the canvas counts for its frame, kept or not;
    an uploaded mask image counts for the shown frame when nothing was painted or kept."""
    state: MaskEditor = data[view.session]
    current = int(data[view.frame])
    painted = painted_mask(data[view.editor]) if state.loaded else None
    keyframes = state.export(scratch, {current: painted} if painted is not None else None)
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
    return {
        **show(view, state, first if state.loaded else 0),
        view.frame: gr.Slider(maximum=count - 1, value=first if state.loaded else 0),
        view.session: state, view.video: saved.video or None, view.mask_video: saved.mask_video,
        view.keyframe_list: state.describe(), view.mask_type: saved.mask_type.value,
        view.expand_ratio: saved.expand_ratio, view.shape: saved.mask_shape.value,
        **view.references.restore(saved.references),
        view.cut_occluders: saved.cut_occluders, view.tracker: saved.tracker.value,
    }


def edit_inputs(clicker: ClickSegmenter, scratch: Path) -> TabInputs:
    session = gr.State(MaskEditor())
    video = gr.Video(label="Source video", sources=["upload"], elem_id="edit-video")
    frame = gr.Slider(0, 1, value=0, step=1, label="Frame to mask", elem_id="edit-frame")
    with gr.Tabs():
        with gr.Tab("Paint", id="paint"):
            editor = gr.ImageEditor(label="Paint the region to change (white brush)", type="numpy", image_mode="RGBA",
                                    brush=BRUSH, eraser=gr.Eraser(default_size=24), layers=False, transforms=(),
                                    sources=(), elem_id="edit-canvas", height=420)
        with gr.Tab("Click (segment-anything)", id="click"):
            click_mode = gr.Radio(CLICK_MODES, value="add", label="Clicks", elem_id="edit-click-mode")
            click_image = gr.Image(
                label="Click the object", type="numpy", interactive=False, elem_id="edit-click-image", height=420
            )
    with gr.Row():
        keep = gr.Button("Keep mask for this frame", size="sm", elem_id="edit-keep")
        invert = gr.Button("Invert", size="sm", elem_id="edit-invert")
        clear = gr.Button("Clear this frame", size="sm", elem_id="edit-clear")
        clear_all = gr.Button("Clear all keyframes", size="sm", elem_id="edit-clear-all")
    keyframe_list = gr.Markdown(MaskEditor().describe(), elem_id="edit-keyframes")
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
                                    info="Turn off for bending or waving subjects (people, flags, animals)")
        tracker = gr.Dropdown(TRACKER_CHOICES, value=DEFAULT.tracker.value, label="Tracker", elem_id="edit-tracker",
                              info="Learned trackers need their weights in models/trackers (see the README)")
    references = reference_slots("edit-reference", height=140)
    view = EditView(session, video, frame, editor, click_mode, click_image, keyframe_list, mask_image, mask_video,
                    mask_type, expand_ratio, shape, cut_occluders, references, tracker)

    listed = {session, keyframe_list}
    wire(video.upload, partial(on_video, view), [video, session], listed | {frame} | view.shown)
    wire(video.clear, partial(on_video, view, None), session, listed | {frame} | view.shown)
    # Rapid slider moves must not pile up frame reads: only the last position is shown, and the canvas is not
    # blanked by a progress overlay while a stroke may be painted on it.
    wire(frame.change, partial(on_frame, view), [frame, session], {session} | view.shown,
         trigger_mode="always_last", show_progress="hidden", concurrency_limit=2, concurrency_id="edit-frame")

    def clicked(index, mode, state: MaskEditor, event: gr.SelectData) -> dict:  # Gradio reads the event type here
        return on_click(view, clicker, index, mode, state, event)

    wire(click_image.select, clicked, [frame, click_mode, session], {session} | view.shown, concurrency_id="preview")
    wire(keep.click, partial(on_keep, view), [frame, editor, session], listed)
    wire(invert.click, partial(on_invert, view), [frame, editor, session], {session} | view.shown)
    wire(clear.click, partial(on_clear, view, False), [frame, session], listed | view.shown)
    wire(clear_all.click, partial(on_clear, view, True), [frame, session], listed | view.shown)

    components = {session, video, frame, editor, mask_image, mask_video, mask_type, expand_ratio, shape,
                  cut_occluders, tracker} | references.components
    return TabInputs(components, partial(build_request, view, scratch), partial(restore, view),
                     extra_outputs={keyframe_list, click_image})
