"""The Edit tab's inputs: a video, a frame picker, masks painted or clicked (segment-anything) on any number of
keyframes, or an uploaded mask image / mask video."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np

from ..core import constants as C
from ..core.errors import BackendUnavailable, InputError, MediaError
from ..core.requests import EditRequest, MaskKeyframe, MaskShape, MaskType, ReferenceImage
from ..masks.ops import overlay
from ..media.frames import FrameSource
from ..media.images import read_mask_image, write_png
from ..media.video import probe_video
from ..services import Services
from .capability_tab import TabInputs

BRUSH = gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed", default_size=24)
CLICK_MODES = [("Add (positive click)", "add"), ("Remove (negative click)", "remove")]


@dataclass
class MaskSession:
    """Per-browser-session mask state: saved keyframe masks (frame -> PNG path), the clicks on this frame, and the
    session's frames on demand (the clip opened once, seeking, a small cache)."""

    keyframes: dict[int, str] = field(default_factory=dict)
    clicks: list[tuple[int, int, bool]] = field(default_factory=list)
    frames: FrameSource = field(default_factory=FrameSource)


def painted_mask(editor_value: dict | None) -> np.ndarray | None:
    """(H, W) bool of everything painted on any layer (alpha > half); None when nothing is painted."""
    layers = [np.asarray(layer) for layer in (editor_value or {}).get("layers") or [] if layer is not None]
    painted = None
    for layer in layers:
        alpha = layer[..., 3] if layer.ndim == 3 and layer.shape[2] == 4 else layer.reshape(layer.shape[:2] + (-1,)).max(-1)
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
            segmenter = self.services.segmenter()
            if self._key != key:
                segmenter.set_image(frame)
                self._key = key
            return segmenter.segment(clicks)


def edit_inputs(clicker: ClickSegmenter, scratch: Path) -> TabInputs:
    session = gr.State(MaskSession())
    video = gr.Video(label="Source video", sources=["upload"], elem_id="edit-video")
    frame = gr.Slider(0, 1, value=0, step=1, label="Frame to mask", elem_id="edit-frame")
    with gr.Tabs():
        with gr.Tab("Paint", id="paint"):
            editor = gr.ImageEditor(label="Paint the region to change (white brush)", type="numpy", image_mode="RGBA",
                                    brush=BRUSH, eraser=gr.Eraser(default_size=24), layers=False, transforms=(),
                                    sources=(), elem_id="edit-canvas", height=420)
        with gr.Tab("Click (segment-anything)", id="click"):
            click_mode = gr.Radio(CLICK_MODES, value="add", label="Clicks", elem_id="edit-click-mode")
            click_image = gr.Image(label="Click the object", type="numpy", interactive=False, elem_id="edit-click-image",
                                   height=420)
    with gr.Row():
        keep = gr.Button("Keep mask for this frame", size="sm", elem_id="edit-keep")
        invert = gr.Button("Invert", size="sm", elem_id="edit-invert")
        clear = gr.Button("Clear this frame", size="sm", elem_id="edit-clear")
        clear_all = gr.Button("Clear all keyframes", size="sm", elem_id="edit-clear-all")
    keyframe_list = gr.Markdown("No keyframes yet: paint or click, then keep the mask.", elem_id="edit-keyframes")
    with gr.Accordion("Or upload a mask", open=False):
        with gr.Row():
            mask_image = gr.Image(label="Mask image (white = edit), on the chosen frame", type="filepath",
                                  image_mode="L", height=160)
            mask_video = gr.Video(label="Mask video (white = edit), frame for frame", sources=["upload"])
    with gr.Row():
        mask_type = gr.Radio([("Fixed", MaskType.FIXED.value), ("Tracking", MaskType.TRACKING.value)],
                             value=MaskType.FIXED.value, label="Mask follows", elem_id="edit-mask-type",
                             info="Fixed holds each keyframe until the next; tracking follows the object")
        expand_ratio = gr.Slider(*C.EXPAND_RATIO_RANGE, value=0.05, step=0.01, label="Expand ratio",
                                 info="Grow the mask by this fraction of its box")
        shape = gr.Dropdown([s.value for s in MaskShape], value=MaskShape.EXACT.value, label="Mask shape")
        cut_occluders = gr.Checkbox(True, label="Tracking: cut out what passes in front",
                                    info="Turn off for bending or waving subjects (people, flags, animals)")
    reference = gr.Image(label="Reference (optional)", type="filepath", image_mode="RGBA", height=140)

    def describe(state: MaskSession) -> str:
        if not state.keyframes:
            return "No keyframes yet: paint or click, then keep the mask."
        return "Keyframes: " + ", ".join(f"frame {index}" for index in sorted(state.keyframes))

    def show(path: str | None, index: int, state: MaskSession, mask: np.ndarray | None = None) -> dict:
        if not path:
            return {editor: {"background": None, "layers": [], "composite": None}, click_image: None}
        image = read_frame(path, index, state.frames)
        if mask is None and index in state.keyframes:
            mask = read_mask_image(state.keyframes[index]) > 0
        shown = overlay(image, mask) if mask is not None else image
        return {editor: {"background": image, "layers": mask_layer(mask), "composite": image}, click_image: shown}

    def on_video(path: str | None):
        state = MaskSession()
        count = 1
        if path:
            try:
                count = probe_video(path).frame_count
            except MediaError as error:
                gr.Warning(str(error))
                path = None
        return {session: state, frame: gr.Slider(maximum=max(1, count - 1), value=0), keyframe_list: describe(state),
                **show(path, 0, state)}

    def on_frame(path, index, state: MaskSession):
        state.clicks = []
        return {session: state, **show(path, int(index), state)}

    def on_click(path, index, mode, state: MaskSession, event: gr.SelectData):
        if not path:
            gr.Warning("Upload a video first.")
            return {}
        x, y = (int(round(v)) for v in event.index[:2])
        state.clicks.append((x, y, mode == "add"))
        image = read_frame(path, int(index), state.frames)
        try:
            mask = clicker.segment(image, (path, int(index)), state.clicks)
        except (BackendUnavailable, InputError) as error:
            state.clicks.pop()
            gr.Warning(str(error))
            return {session: state}
        return {session: state, **show(path, int(index), state, mask)}

    def save_mask(state: MaskSession, index: int, mask: np.ndarray) -> None:
        path = Path(tempfile.mkdtemp(dir=scratch)) / f"keyframe_{index}.png"
        write_png(path, np.where(mask, C.MASK_GENERATE, C.MASK_KEEP).astype(np.uint8))
        state.keyframes[index] = str(path)

    def on_keep(path, index, editor_value, state: MaskSession):
        mask = painted_mask(editor_value)
        if mask is None:
            gr.Warning("Nothing is painted or clicked on this frame.")
            return {}
        save_mask(state, int(index), mask)
        return {session: state, keyframe_list: describe(state)}

    def on_invert(path, index, editor_value, state: MaskSession):
        if not path:
            return {}
        mask = painted_mask(editor_value)
        image = read_frame(path, int(index), state.frames)
        inverted = np.ones(image.shape[:2], dtype=bool) if mask is None else ~mask
        return show(path, int(index), state, inverted)

    def on_clear(path, index, state: MaskSession, everything: bool):
        state.clicks = []
        if everything:
            state.keyframes.clear()
        else:
            state.keyframes.pop(int(index), None)
        return {session: state, keyframe_list: describe(state), **show(path, int(index), state)}

    hidden = {"api_visibility": "private"}
    shown = {editor, click_image}
    video.upload(on_video, video, {session, frame, keyframe_list} | shown, **hidden)
    video.clear(lambda: on_video(None), None, {session, frame, keyframe_list} | shown, **hidden)
    frame.change(on_frame, [video, frame, session], {session} | shown, **hidden)
    click_image.select(on_click, [video, frame, click_mode, session], {session} | shown, concurrency_id="preview",
                       **hidden)
    keep.click(on_keep, [video, frame, editor, session], {session, keyframe_list}, **hidden)
    invert.click(on_invert, [video, frame, editor, session], shown, **hidden)
    clear.click(lambda p, i, s: on_clear(p, i, s, False), [video, frame, session], {session, keyframe_list} | shown,
                **hidden)
    clear_all.click(lambda p, i, s: on_clear(p, i, s, True), [video, frame, session], {session, keyframe_list} | shown,
                    **hidden)

    def request(data: dict) -> EditRequest:
        state: MaskSession = data[session]
        current = int(data[frame])
        keyframes = dict(state.keyframes)
        painted = painted_mask(data[editor])
        if painted is not None:  # what is on the canvas now counts for its frame, kept or not
            save_mask(state, current, painted)
            keyframes[current] = state.keyframes[current]
        elif data[mask_image] and not keyframes:
            keyframes[current] = data[mask_image]
        if keyframes and data[mask_video]:
            raise InputError("mask", "give either painted/clicked/uploaded mask images or a mask video, not both.")
        refs = (ReferenceImage(data[reference]),) if data[reference] else ()
        return EditRequest(data[video] or "", tuple(MaskKeyframe(path, index) for index, path in sorted(keyframes.items())),
                           data[mask_video] or None, MaskType(data[mask_type]), float(data[expand_ratio]),
                           MaskShape(data[shape]), refs, bool(data[cut_occluders]))

    def restore(saved: dict) -> dict:
        keyframes = saved.get("keyframes") or []
        refs = saved.get("references") or []
        state = MaskSession(keyframes={int(k["frame"]): k["path"] for k in keyframes})
        path, first = saved.get("video"), min(state.keyframes, default=0)
        count = probe_video(path).frame_count if path and Path(path).is_file() else 2
        return {
            **show(path if path and Path(path).is_file() else None, first, state),
            frame: gr.Slider(maximum=max(1, count - 1), value=first),
            session: state, video: path, mask_video: saved.get("mask_video"),
            keyframe_list: describe(state), mask_type: saved.get("mask_type", MaskType.FIXED.value),
            expand_ratio: saved.get("expand_ratio", 0.05), shape: saved.get("mask_shape", MaskShape.EXACT.value),
            reference: refs[0]["path"] if refs else None, cut_occluders: saved.get("cut_occluders", True),
        }

    components = {session, video, frame, editor, mask_image, mask_video, mask_type, expand_ratio, shape, reference,
                  cut_occluders}
    return TabInputs(components, request, restore, extra_outputs={keyframe_list, click_image})
