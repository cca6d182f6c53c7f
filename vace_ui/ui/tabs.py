"""The capability-specific inputs of each tab, and how they become a request (and back, for restore)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np

from .. import annotators
from ..core import constants as C
from ..core.clip import load_clip
from ..core.compile import compile_request
from ..core.errors import InputError
from ..core.geometry import fit_on_canvas
from ..core.masks import cut_out
from ..core.requests import (
    ExtendRequest,
    OutpaintRequest,
    ReferenceImage,
    ReferenceRequest,
    RefRole,
    RepaintRequest,
)
from ..core.settings import GenerationSettings
from ..jobs.context import file_context
from ..media.images import write_png
from ..media.video import write_video
from .capability_tab import TabInputs
from .edit_tab import ClickSegmenter
from .handlers import wire
from .reference_slots import reference_slots

ROLE_CHOICES = [("Subject", RefRole.SUBJECT.value), ("Background", RefRole.BACKGROUND.value)]


def reference_image_slot(label: str, elem_id: str) -> tuple[gr.Image, gr.Radio]:
    image = gr.Image(label=label, type="filepath", image_mode="RGBA", sources=["upload", "clipboard"],
                     elem_id=elem_id, height=180)
    role = gr.Radio(ROLE_CHOICES, value=RefRole.SUBJECT.value, label="Role", container=False)
    return image, role


def reference_inputs(clicker: ClickSegmenter, scratch: Path) -> TabInputs:
    gr.Markdown("Up to 3 reference images (subjects work best cut out on white or transparent). "
                "With none, the video is generated from the prompt alone.")
    slots = []
    with gr.Row():
        for index in range(C.MAX_REFERENCES):
            with gr.Column(min_width=120):
                slots.append(reference_image_slot(f"Reference {index + 1}", f"reference-image-{index}"))
    with gr.Accordion("Cut a subject out of a photo (segment-anything)", open=False):
        with gr.Row():
            photo = gr.Image(label="Photo: click the subject", type="numpy", image_mode="RGB",
                             elem_id="reference-cut-photo", height=300)
            cut = gr.Image(
                label="Cut out on white",
                type="filepath",
                interactive=False,
                elem_id="reference-cut-result",
                height=300,
            )
        with gr.Row():
            target = gr.Dropdown([(f"Reference {i + 1}", i) for i in range(C.MAX_REFERENCES)], value=0,
                                 label="Use as", scale=1)
            use = gr.Button("Use the cut-out", size="sm", elem_id="reference-cut-use", scale=1)
        with gr.Row():
            name = gr.Textbox(label="Or name the subject (SAM 3 text prompt)", placeholder="the dog",
                              elem_id="reference-cut-text", max_length=200, scale=3)
            by_name = gr.Button("Cut out by name", size="sm", elem_id="reference-cut-by-name", scale=1)
    clicks = gr.State([])

    def on_cut_by_name(image, text):
        if image is None:
            raise InputError("Photo", "upload a photo first, then name the subject in it.")
        mask = clicker.services.trackers.text().segment([image], text)[0]
        if not mask.any():
            raise InputError("mask_text", f"SAM 3 found nothing for {' '.join(str(text).split())!r} in the photo; "
                                          "try other words or click the subject.")
        path = Path(tempfile.mkdtemp(dir=scratch)) / "subject.png"
        write_png(path, fit_on_canvas(cut_out(image, mask, crop=True), *image.shape[1::-1]))
        return {cut: str(path)}

    def on_photo_click(image, points, event: gr.SelectData):
        if image is None:
            raise InputError("Photo", "upload a photo first, then click the subject in it.")
        points = list(points) + [(int(event.index[0]), int(event.index[1]), True)]
        mask = clicker.segment(image, ("photo", hashlib.sha1(image.tobytes()).hexdigest()), points)
        path = Path(tempfile.mkdtemp(dir=scratch)) / "subject.png"
        write_png(path, fit_on_canvas(cut_out(image, mask, crop=True), *image.shape[1::-1]))
        return {clicks: points, cut: str(path)}

    def on_use(path, index):
        if not path:
            raise InputError("Cut out on white", "click the subject in the photo first; the cut-out appears beside "
                                                 "it, then press Use the cut-out.")
        gr.Info(f"The cut-out is now Reference {int(index) + 1}.")
        return {slots[int(index)][0]: path}

    wire(photo.select, on_photo_click, [photo, clicks], {clicks, cut}, concurrency_id="preview")
    wire(photo.upload, lambda: [], None, clicks, quick=True)
    wire(use.click, on_use, [cut, target], {image for image, _ in slots}, quick=True)
    wire(by_name.click, on_cut_by_name, [photo, name], {cut}, concurrency_id="preview")

    def request(data: dict) -> ReferenceRequest:
        return ReferenceRequest(tuple(ReferenceImage(data[image], RefRole(data[role])) for image, role in slots
                                      if data[image]))

    def restore(saved: ReferenceRequest) -> dict:
        refs = saved.references
        updates = {}
        for index, (image, role) in enumerate(slots):
            updates[image] = refs[index].path if index < len(refs) else None
            updates[role] = refs[index].role.value if index < len(refs) else RefRole.SUBJECT.value
        return updates

    return TabInputs({component for slot in slots for component in slot}, request, restore)


QUICK_PREVIEW_FRAMES = 17


def quick_control_preview(request: RepaintRequest, folder: Path) -> Path:
    """Source | control (| second control) side by side for the first 17 frames at 832x480-area, to judge a control
    kind quickly."""
    settings = GenerationSettings(num_frames=QUICK_PREVIEW_FRAMES)
    context = file_context()
    compiled = compile_request(replace(request, control_mask=None), settings, context)
    clip = load_clip(context, request.video, "video", compiled.num_frames, settings.timing, settings.preset_size,
                     settings.fit)
    return write_video(
        folder / "control_preview.mp4",
        np.concatenate([clip.frames, compiled.video] + [s.video for s in compiled.extra_controls], axis=2),
        C.OUTPUT_FPS
    )


def repaint_inputs(scratch: Path) -> TabInputs:
    video = gr.Video(label="Source video", sources=["upload"], elem_id="repaint-video")
    kinds = annotators.available()
    default = RepaintRequest()
    with gr.Row():
        control = gr.Dropdown([(label, name) for name, label in kinds.items()],
                              value=default.control if default.control in kinds else None,
                              label="Control", info="What is kept from the source video")
        strength = gr.Slider(0, 1, value=default.strength, step=0.05, label="Strength",
                             info="How closely the control is followed (scales the conditioning)")
    with gr.Row():  # a second control (pose + depth, depth + flow...): its own VACE stream and strength
        control_2 = gr.Dropdown([("None", "")] + [(label, name) for name, label in kinds.items()], value="",
                                label="Together with (optional)", elem_id="repaint-control-2",
                                info="A second kind at once, e.g. depth with pose (local GPU)")
        strength_2 = gr.Slider(0, 1, value=default.strength_2, step=0.05, label="Its strength",
                               elem_id="repaint-strength-2", info="How closely the second one is followed")
    references = reference_slots("repaint-reference", "Reference subject")
    with gr.Row():
        control_mask = gr.Image(label="Apply control only inside this mask (optional, white = inside)",
                                type="filepath", image_mode="L", height=160, elem_id="repaint-control-mask")

    with gr.Row():
        quick = gr.Button("Quick control preview (first 17 frames)", size="sm", elem_id="repaint-quick-preview")
    quick_video = gr.Video(label="Source | control", interactive=False, elem_id="repaint-control-preview")

    def request(data: dict) -> RepaintRequest:
        return RepaintRequest(data[video] or "", data[control] or "", float(data[strength]),
                              references.references(data), data[control_mask], data[control_2] or None,
                              default.strength_2 if data[strength_2] is None else float(data[strength_2]))

    def on_quick(data: dict):
        path = quick_control_preview(request(data), Path(tempfile.mkdtemp(dir=scratch)))
        second = f" then its {data[control_2]} control" if data[control_2] else ""
        gr.Info(f"Quick control preview: the source on the left, its {data[control]} control on the right{second}.")
        return str(path)

    own = {video, control, strength, control_mask, control_2, strength_2}
    wire(quick.click, on_quick, own | references.components, quick_video, concurrency_id="preview")

    def restore(saved: RepaintRequest) -> dict:
        return {video: saved.video or None, control: saved.control, strength: saved.strength,
                control_mask: saved.control_mask, control_2: saved.control_2 or "",
                strength_2: saved.strength_2} | references.restore(saved.references)

    return TabInputs(own | references.components, request, restore, receive=lambda path: {video: path})


def extend_inputs() -> TabInputs:
    gr.Markdown(f"Give kept footage at either end: a clip (up to {C.MAX_EXTENSION_CLIP_SECONDS:g} s is kept; a first "
                "clip always up to its last frame) or a single frame image. **Frames** is the new footage "
                "generated; the kept frames come on top of it. More frames than one window (Long video) chain "
                "windows, each continuing from the previous one's last frames: after a first clip, or backwards "
                "before a last one.")
    with gr.Row():
        first_clip = gr.Video(label="First clip", sources=["upload"], elem_id="extend-first-clip")
        last_clip = gr.Video(label="Last clip", sources=["upload"], elem_id="extend-last-clip")
    with gr.Row():
        first_frame = gr.Image(label="First frame", type="filepath", height=160)
        last_frame = gr.Image(label="Last frame", type="filepath", height=160)
    fields = {"first_clip": first_clip, "last_clip": last_clip, "first_frame": first_frame, "last_frame": last_frame}

    def request(data: dict) -> ExtendRequest:
        return ExtendRequest(**{name: data[component] or None for name, component in fields.items()})

    def restore(saved: ExtendRequest) -> dict:
        return {component: getattr(saved, name) for name, component in fields.items()}

    return TabInputs(set(fields.values()), request, restore, receive=lambda path: {first_clip: path})


def outpaint_inputs() -> TabInputs:
    video = gr.Video(label="Source video", sources=["upload"], elem_id="outpaint-video")
    gr.Markdown("Each side's scale is its new extent as a multiple of the original: left 1.5 adds a border half "
                "the video's width on the left.")
    low, high = C.OUTPAINT_SCALE_RANGE
    start = OutpaintRequest(left=1.25, right=1.25)  # the tab opens on a wider frame: a valid request at once
    with gr.Row():
        sides = {name: gr.Slider(low, high, value=getattr(start, name), step=0.05, label=name.capitalize())
                 for name in ("top", "bottom", "left", "right")}

    def request(data: dict) -> OutpaintRequest:
        return OutpaintRequest(data[video] or "", **{name: float(data[slider]) for name, slider in sides.items()})

    def restore(saved: OutpaintRequest) -> dict:
        return {video: saved.video or None, **{slider: getattr(saved, name) for name, slider in sides.items()}}

    return TabInputs({video, *sides.values()}, request, restore, receive=lambda path: {video: path})
