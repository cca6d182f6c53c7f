"""The Edit tab's inputs: a video, a frame picker, a brush canvas on that frame, or an uploaded mask."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from ..core import constants as C
from ..core.errors import InputError, MediaError
from ..core.requests import EditRequest, MaskKeyframe, MaskShape, MaskType, ReferenceImage
from ..media.images import write_png
from ..media.video import iter_frames, probe_video
from .capability_tab import TabInputs

BRUSH = gr.Brush(colors=["#ffffff"], default_color="#ffffff", color_mode="fixed", default_size=24)


def painted_mask(editor_value: dict | None) -> np.ndarray | None:
    """(H, W) bool of everything painted on any layer (alpha > half); None when nothing is painted."""
    if not editor_value:
        return None
    layers = [layer for layer in editor_value.get("layers") or [] if layer is not None]
    painted = None
    for layer in layers:
        layer = np.asarray(layer)
        alpha = layer[..., 3] if layer.ndim == 3 and layer.shape[2] == 4 else layer.max(axis=-1) if layer.ndim == 3 else layer
        painted = alpha > 127 if painted is None else painted | (alpha > 127)
    return painted if painted is not None and painted.any() else None


def frame_for_editor(video_path: str | None, frame_index: int) -> dict:
    """The editor value showing frame `frame_index` of the video as its background, with no strokes."""
    if not video_path:
        return {"background": None, "layers": [], "composite": None}
    frame = next(iter_frames(video_path, [int(frame_index)]))
    return {"background": frame, "layers": [], "composite": frame}


def edit_inputs(scratch: Path) -> TabInputs:
    video = gr.Video(label="Source video", sources=["upload"], elem_id="edit-video")
    frame = gr.Slider(0, 1, value=0, step=1, label="Frame to paint on", elem_id="edit-frame")
    editor = gr.ImageEditor(label="Paint the region to change (white brush)", type="numpy", image_mode="RGBA",
                            brush=BRUSH, eraser=gr.Eraser(default_size=24), layers=False, transforms=(),
                            sources=(), elem_id="edit-canvas", height=420)
    with gr.Accordion("Or upload a mask", open=False):
        with gr.Row():
            mask_image = gr.Image(label="Mask image (white = edit), on the chosen frame", type="filepath",
                                  image_mode="L", height=160)
            mask_video = gr.Video(label="Mask video (white = edit), frame for frame", sources=["upload"])
    with gr.Row():
        mask_type = gr.Radio([("Fixed", MaskType.FIXED.value), ("Tracking", MaskType.TRACKING.value)],
                             value=MaskType.FIXED.value, label="Mask follows",
                             info="Fixed stays in place; tracking follows the object")
        expand_ratio = gr.Slider(*C.EXPAND_RATIO_RANGE, value=0.05, step=0.01, label="Expand ratio",
                                 info="Grow the mask by this fraction of its box")
        shape = gr.Dropdown([s.value for s in MaskShape], value=MaskShape.EXACT.value, label="Mask shape")
    reference = gr.Image(label="Reference (optional)", type="filepath", image_mode="RGBA", height=140)

    def on_video(path: str | None):
        if not path:
            return {frame: gr.Slider(maximum=1, value=0), editor: frame_for_editor(None, 0)}
        try:
            count = probe_video(path).frame_count
        except MediaError as error:
            gr.Warning(str(error))
            return {frame: gr.Slider(maximum=1, value=0), editor: frame_for_editor(None, 0)}
        return {frame: gr.Slider(maximum=max(1, count - 1), value=0), editor: frame_for_editor(path, 0)}

    video.change(on_video, video, {frame, editor}, queue=False, api_visibility="private")
    frame.release(frame_for_editor, [video, frame], editor, queue=False, api_visibility="private")

    def request(data: dict) -> EditRequest:
        keyframes: tuple[MaskKeyframe, ...] = ()
        painted = painted_mask(data[editor])
        if painted is not None:
            path = Path(tempfile.mkdtemp(dir=scratch)) / "painted_mask.png"
            write_png(path, np.where(painted, C.MASK_GENERATE, C.MASK_KEEP).astype(np.uint8))
            keyframes = (MaskKeyframe(str(path), int(data[frame])),)
        elif data[mask_image]:
            keyframes = (MaskKeyframe(data[mask_image], int(data[frame])),)
        if keyframes and data[mask_video]:
            raise InputError("mask", "give either a painted/uploaded mask image or a mask video, not both.")
        refs = (ReferenceImage(data[reference]),) if data[reference] else ()
        return EditRequest(data[video] or "", keyframes, data[mask_video] or None, MaskType(data[mask_type]),
                           float(data[expand_ratio]), MaskShape(data[shape]), refs)

    def restore(saved: dict) -> dict:
        keyframes = saved.get("keyframes") or []
        refs = saved.get("references") or []
        return {
            video: saved.get("video"), mask_video: saved.get("mask_video"),
            mask_image: keyframes[0]["path"] if keyframes else None,
            frame: keyframes[0]["frame"] if keyframes else 0,
            mask_type: saved.get("mask_type", MaskType.FIXED.value), expand_ratio: saved.get("expand_ratio", 0.05),
            shape: saved.get("mask_shape", MaskShape.EXACT.value), reference: refs[0]["path"] if refs else None,
        }

    components = {video, frame, editor, mask_image, mask_video, mask_type, expand_ratio, shape, reference}
    return TabInputs(components, request, restore)
