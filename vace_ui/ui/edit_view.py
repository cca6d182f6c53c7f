"""The Edit tab's view: its components (`EditView`), the frame shown with its mask tinted and the timeline under
it (`show`), and the clip's frames as a sequence for trackers (`ClipFrames`)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np

from ..media.frames import FrameSource
from . import frame_view as fv
from .mask_editor import MaskEditor
from .reference_slots import ReferenceSlots

TINTS = {"kept": fv.Tint.KEPT, "tracked": fv.Tint.TRACKED, "pending": fv.Tint.PENDING}
THUMBNAILS = 12


def read_frame(video_path: str, frame_index: int, frames: FrameSource) -> np.ndarray:
    """Frame `frame_index` as the compile decodes it (read-only), through the session's `FrameSource`."""
    return frames.frame(video_path, int(frame_index))


class ClipFrames:
    """The clip's source frames from `start` on as a random-access sequence (decoded on demand), for trackers
    and the text segmenter; slicing `[k:]` gives another such view, nothing decoded."""

    def __init__(self, state: MaskEditor, start: int = 0):
        self.state, self.start = state, start

    def __len__(self) -> int:
        return max(0, self.state.frame_count - self.start)

    def __getitem__(self, index):
        if isinstance(index, slice):
            begin, end, step = index.indices(len(self))
            if step != 1 or end != len(self):
                raise ValueError("only [k:] slices of the clip are supported")
            return ClipFrames(self.state, self.start + begin)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return read_frame(self.state.video, self.start + index, self.state.frames)

    def __iter__(self):
        return (self[index] for index in range(len(self)))


@dataclass
class EditView:
    """The Edit tab's components (handlers return {component: update} dicts keyed by these)."""

    session: gr.State
    video: gr.Video
    frame: gr.Slider
    view: gr.HTML
    timeline: gr.HTML
    strokes: gr.Textbox
    keyframe_list: gr.Markdown
    mask_image: gr.Image
    mask_video: gr.Video
    mask_type: gr.Radio
    expand_ratio: gr.Slider
    shape: gr.Dropdown
    cut_occluders: gr.Checkbox
    references: ReferenceSlots
    tracker: gr.Dropdown
    mask_text: gr.Textbox | None = None

    @property
    def shown(self) -> set:
        return {self.view, self.timeline}


def strip(state: MaskEditor, index: int, progress: tuple[int, int] | None = None) -> fv.Strip:
    if not state.thumbnails:
        reader = state.frames.reader(state.video)
        state.thumbnails = fv.thumbnail_urls(reader.thumbnails(min(THUMBNAILS, state.frame_count), height=48))
    return fv.Strip(state.frame_count, state.thumbnails, tuple(state.keyframes.indices), tuple(sorted(state.tracked)),
                    int(index), progress)


def show(view: EditView, state: MaskEditor, index: int, clear: tuple[int, ...] = (), note: str = "") -> dict:
    """Frame `index` on the view with its mask tinted (pending, kept or tracked), and the timeline."""
    if not state.loaded:
        return {view.view: fv.view_html(None), view.timeline: fv.timeline_html(None)}
    index = max(0, min(int(index), state.frame_count - 1))
    mask, kind = state.shown_mask(index)
    if kind == "tracked" and not note:
        note = f"by the {state.tracked_source(index)}"
    html = fv.view_html(read_frame(state.video, index, state.frames), index, mask, TINTS.get(kind, fv.Tint.KEPT),
                        clear, note)
    return {view.view: html, view.timeline: fv.timeline_html(strip(state, index))}
