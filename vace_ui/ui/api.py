"""Named API endpoints, one per capability: /reference, /repaint, /edit, /extend, /outpaint.

Each takes the capability's media (files) and plain values plus `settings`, a JSON object with any
GenerationSettings fields (prompt required; everything else defaults), and returns the result MP4 and the job
record. `settings` may also name the `backend` (local, dashscope, wavespeed, replicate, comfyui, jiekou). Errors
come back as messages (gradio_client raises AppError with the text), never tracebacks. Defaults are the request
dataclasses' own (core/requests.py). /edit takes mask_shape, cut_occluders and tracker (flow, sam2, sam3, edgetam,
auto) after `settings`. `/job` returns one of the caller's own jobs by id (another owner's id is "not found"). File
inputs must be uploads: a server path is refused without being read.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Union

import gradio as gr
from gradio import utils as gradio_utils
from gradio.data_classes import FileData, GradioRootModel

from ..core.errors import InputError, MediaError
from ..core.requests import EditRequest, ExtendRequest, OutpaintRequest, ReferenceRequest, RepaintRequest
from ..core.settings import GenerationSettings
from ..jobs.store import JobStatus
from ..services import Services
from .identity import export_copies, request_viewer


def _settings(data) -> GenerationSettings:
    if not isinstance(data, dict):
        raise InputError("settings", "must be a JSON object, e.g. {\"prompt\": \"a dog running\"}.")
    return GenerationSettings.from_dict(data)


def _summary(job) -> dict:
    return {"job_id": job.id, "status": job.status.value, "settings": job.settings, "notes": job.notes,
            "timings": job.timings, "error": job.error}


def _run(services: Services, build: Callable[[], object], settings, request: gr.Request | None) -> tuple[str, dict]:
    owner = request_viewer(services.config, request).owner
    try:
        backend = settings.get("backend", services.config.backend) if isinstance(settings, dict) else None
        job = services.runner.create(build(), _settings(settings), backend, owner)
    except (InputError, MediaError) as error:
        raise gr.Error(str(error), print_exception=False) from None
    job = services.runner.run(job.id)
    if job.status is not JobStatus.SUCCEEDED:
        raise gr.Error(f"Job {job.id} {job.status.value}: {job.error}", print_exception=False)
    return export_copies(job.output_path, services.config.output_dir), _summary(job)


class _FileOrText(GradioRootModel):
    """What an API file input accepts before our own check: an uploaded file, or text (refused clearly below)."""

    root: Union[FileData, str, None] = None


def _file(label: str) -> gr.File:
    """An API file input that answers a server path (or any text) with a clear message, never reading it."""
    component = gr.File(label=label, type="filepath")
    preprocess = component.preprocess
    uploads = Path(gradio_utils.get_upload_folder()).resolve()

    def checked(payload):
        value = getattr(payload, "root", payload)
        if value is None:
            return None
        path = value if isinstance(value, str) else value.path
        if isinstance(value, str) or not Path(os.path.abspath(path)).is_relative_to(uploads):
            raise gr.Error(f"{label}: expects an uploaded file; a path on the server is not accepted. Send the file "
                           "itself (gradio_client: handle_file(path)).", print_exception=False)
        return preprocess(value)

    component.data_model = _FileOrText
    component.preprocess = checked
    return component


def render_api(services: Services) -> None:
    """Hidden components carrying the API endpoints (the UI tabs use their own private events)."""
    gpu = {"concurrency_id": "gpu", "concurrency_limit": 1}
    with gr.Column(visible=False):
        result, record = gr.File(label="result"), gr.JSON(label="job")
        settings = gr.JSON(label="settings")

        refs = [_file(f"reference_{index}") for index in (1, 2, 3)]
        roles = gr.Textbox(label="roles", value="subject,subject,subject")

        def reference(ref1, ref2, ref3, role_text, settings_data, request: gr.Request):
            role_list = [part.strip() or "subject" for part in (role_text or "").split(",")] + ["subject"] * 3
            paths = [path for path in (ref1, ref2, ref3) if path]
            return _run(services, lambda: ReferenceRequest.from_dict({
                "references": [{"path": path, "role": role} for path, role in zip(paths, role_list)]}), settings_data,
                request)

        gr.Button(visible=False).click(reference, [*refs, roles, settings], [result, record], api_name="reference", **gpu)

        repaint_default, edit_default = RepaintRequest(), EditRequest()
        video, control, strength, ref = _file("video"), gr.Textbox(label="control", value=repaint_default.control), \
            gr.Number(label="strength", value=repaint_default.strength), _file("reference")

        def repaint(video_path, control_kind, strength_value, ref_path, settings_data, request: gr.Request):
            return _run(services, lambda: RepaintRequest.from_dict({
                "video": video_path or "", "control": control_kind or "", "strength": strength_value,
                "reference": {"path": ref_path} if ref_path else None}), settings_data, request)

        gr.Button(visible=False).click(repaint, [video, control, strength, ref, settings], [result, record],
                                       api_name="repaint", **gpu)

        mask_image, mask_frame, mask_video = _file("mask_image"), gr.Number(label="mask_frame", value=0, precision=0), \
            _file("mask_video")
        mask_type = gr.Textbox(label="mask_type", value=edit_default.mask_type.value)
        expand_ratio = gr.Number(label="expand_ratio", value=edit_default.expand_ratio)
        mask_shape = gr.Textbox(label="mask_shape", value=edit_default.mask_shape.value)
        cut_occluders = gr.Checkbox(label="cut_occluders", value=edit_default.cut_occluders)
        tracker = gr.Textbox(label="tracker", value=edit_default.tracker.value)

        def edit(video_path, mask_path, frame, mask_video_path, mask_kind, ratio, settings_data, shape, cut,
                 tracker_name=None, request: gr.Request = None):
            def build():
                keyframes = [{"path": mask_path, "frame": frame or 0}] if mask_path else []
                return EditRequest.from_dict({
                    "video": video_path or "", "keyframes": keyframes, "mask_video": mask_video_path or None,
                    "mask_type": mask_kind or edit_default.mask_type.value, "expand_ratio": ratio,
                    "mask_shape": shape or edit_default.mask_shape.value, "cut_occluders": cut,
                    "tracker": tracker_name or edit_default.tracker.value})
            return _run(services, build, settings_data, request)

        # mask_shape, cut_occluders and tracker come last so that callers of earlier signatures keep working.
        edit_inputs = [video, mask_image, mask_frame, mask_video, mask_type, expand_ratio, settings, mask_shape,
                       cut_occluders, tracker]
        gr.Button(visible=False).click(edit, edit_inputs, [result, record], api_name="edit", **gpu)

        clips = [_file(name) for name in ("first_clip", "last_clip", "first_frame", "last_frame")]

        def extend(first_clip, last_clip, first_frame, last_frame, settings_data, request: gr.Request):
            return _run(services, lambda: ExtendRequest(first_clip or None, last_clip or None, first_frame or None,
                                                        last_frame or None), settings_data, request)

        gr.Button(visible=False).click(extend, [*clips, settings], [result, record], api_name="extend", **gpu)

        scales = [gr.Number(label=side, value=1.0) for side in ("top", "bottom", "left", "right")]

        def outpaint(video_path, top, bottom, left, right, settings_data, request: gr.Request):
            return _run(services, lambda: OutpaintRequest.from_dict({
                "video": video_path or "", "top": top, "bottom": bottom, "left": left, "right": right}), settings_data,
                request)

        gr.Button(visible=False).click(outpaint, [video, *scales, settings], [result, record], api_name="outpaint", **gpu)

        job_id = gr.Textbox(label="job_id")

        def job(job_text, request: gr.Request):
            """One of your own jobs by id: its result file (when it succeeded) and its record."""
            try:
                found = request_viewer(services.config, request).job(services.store, (job_text or "").strip())
            except KeyError:
                raise gr.Error(f"No job {job_text}.", print_exception=False) from None
            return export_copies(found.output_path, services.config.output_dir), _summary(found)

        gr.Button(visible=False).click(job, job_id, [result, record], api_name="job", queue=False)
