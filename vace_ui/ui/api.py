"""Named API endpoints, one per capability: /reference, /repaint, /edit, /extend, /outpaint.

Each takes the capability's media (files) and plain values plus `settings`, a JSON object with any
GenerationSettings fields (prompt required, a string or, for a long video, a list with one prompt per window;
everything else defaults; num_frames above window_frames runs sliding windows), and returns the result MP4 and the job
record. `settings` may also name the `backend` (local, dashscope, wavespeed, replicate, comfyui, jiekou). Errors
come back as messages (gradio_client raises AppError with the text), never tracebacks. Defaults are the request
dataclasses' own (core/requests.py). /edit takes mask_shape, cut_occluders, tracker (flow, sam2, sam3, edgetam,
auto) and mask_text (a SAM 3 text prompt) after `settings`.

The same five functions are the MCP tools of `python app.py --mcp` (Gradio's mcp_server=True): their docstrings
are the tool and parameter descriptions an MCP client lists (Gradio parses the Args/Returns sections), so keep
them accurate. Over MCP a file is passed as an http(s) URL or a data: URL.
`/job` returns one of the caller's own jobs by id (another owner's id is "not found"). File
inputs must be uploads: a server path is refused without being read. A result file is served to its owner only
(ui/owned_files.py): gradio_client downloads it with the cookies it keeps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Union

import gradio as gr
from gradio import utils as gradio_utils
from gradio.data_classes import FileData, GradioRootModel

from .. import annotators
from ..backends.model_catalog import load_catalog
from ..core.errors import InputError, MediaError
from ..core.requests import EditRequest, ExtendRequest, OutpaintRequest, ReferenceRequest, RepaintRequest
from ..core.settings import GenerationSettings
from ..jobs.store import JobStatus
from ..services import Services
from .api_schema import SettingsJSON, settings_schema
from .identity import request_viewer
from .owned_files import hand_over

SETTINGS_DOC = (
    "settings: JSON object of generation settings; `prompt` is required, every other field defaults: "
    "negative_prompt, size ('auto', '832x480', '480x832', '1280x720', '720x1280' or WxH in multiples of 16), "
    "num_frames (4n+1, e.g. 81 = 5 s at 16 fps), steps (1-100), guidance_scale (0-20), flow_shift, "
    "conditioning_scale (0-2), seed (-1 = random), solver (unipc, euler, dpm++), fit (keep_aspect, crop, pad), "
    "timing (resample, every_frame, squeeze), speed_mode (off, balanced, fast), memory_mode (auto, gpu, "
    "model_offload, group_offload, fp8_storage), vae_tiling, loras ([{path, scale}]), and `backend` (local, "
    "dashscope, wavespeed, replicate, comfyui, jiekou), `model` (local only: a catalog id such as "
    "linoyts/Wan2.2-VACE-Fun-14B-diffusers, a folder or tiny-random, for this job; switching frees the previous "
    "model), and for "
    "two-expert models guidance_scale_2 and boundary_ratio."
)
# Default of `settings` in the endpoint signatures: optional file parameters default to None (so MCP clients may
# leave them out) and Python needs a default after them; a non-None default keeps `settings` required for Gradio.
REQUIRED: dict = {}
RETURNS_DOC = "the generated MP4 (16 fps) and the job record (job_id, status, settings, notes, timings)."


def _documented(fn: Callable) -> Callable:
    """Fill the shared settings and returns text into a docstring's {settings} and {returns} slots."""
    fn.__doc__ = (fn.__doc__ or "").replace("{settings}", SETTINGS_DOC).replace("{returns}", RETURNS_DOC)
    return fn


def _settings(data) -> GenerationSettings:
    if not isinstance(data, dict):
        raise InputError("settings", "must be a JSON object, e.g. {\"prompt\": \"a dog running\"}.")
    if isinstance(data.get("prompt"), list):  # one prompt per window of a long video
        data = {**data, "prompt": "\n".join(str(line).replace("\n", " ") for line in data["prompt"])}
    return GenerationSettings.from_dict(data)


def _summary(job) -> dict:
    return {"job_id": job.id, "status": job.status.value, "settings": job.settings, "notes": job.notes,
            "timings": job.timings, "error": job.error}


def _run(services: Services, build: Callable[[], object], settings, request: gr.Request | None) -> tuple[str, dict]:
    owner = request_viewer(services.config, request).owner
    try:
        backend = settings.get("backend", services.config.backend) if isinstance(settings, dict) else None
        # `model` is a setting of this job: the local backend switches to it when the job runs (freeing the old
        # pipeline) and a job without one runs on VACE_MODEL.
        job = services.runner.create(build(), _settings(settings), backend, owner)
    except (InputError, MediaError) as error:
        raise gr.Error(str(error), print_exception=False) from None
    job = services.runner.run(job.id)
    if job.status is not JobStatus.SUCCEEDED:
        raise gr.Error(f"Job {job.id} {job.status.value}: {job.error}", print_exception=False)
    return hand_over(job.output_path, services.config.output_dir, owner), _summary(job)


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

    file_info = component.api_info()  # clients (gradio_client, MCP) still see a file input
    component.data_model = _FileOrText
    component.api_info = lambda: file_info
    component.preprocess = checked
    return component


def render_api(services: Services) -> None:
    """Hidden components carrying the API endpoints (the UI tabs use their own private events)."""
    gpu = {"concurrency_id": "gpu", "concurrency_limit": services.gpu_slots}  # one per Ray worker
    with gr.Column(visible=False):
        result, record = gr.File(label="result"), gr.JSON(label="job")
        models = list(load_catalog())
        settings = SettingsJSON(label="settings", schema=settings_schema(list(services.backends), models))

        refs = [_file(f"reference_{index}") for index in (1, 2, 3)]
        roles = gr.Textbox(label="roles", value="subject,subject,subject")

        @_documented
        def reference(reference_1: str | None = None, reference_2: str | None = None,
                      reference_3: str | None = None, roles: str = "subject,subject,subject",
                      settings: dict = REQUIRED, request: gr.Request = None) -> tuple[str, dict]:
            """Generate a video from 0 to 3 reference images and the prompt (no images: text to video).

            Args:
                reference_1: first reference image (subject cut out on white or transparent works best), optional.
                reference_2: second reference image, optional.
                reference_3: third reference image, optional.
                roles: comma-separated role of each given image in order, 'subject' or 'background'.
                {settings}
            Returns:
                {returns}
            """
            role_list = [part.strip() or "subject" for part in (roles or "").split(",")] + ["subject"] * 3
            paths = [path for path in (reference_1, reference_2, reference_3) if path]
            return _run(services, lambda: ReferenceRequest.from_dict({
                "references": [{"path": path, "role": role} for path, role in zip(paths, role_list)]}), settings,
                request)

        gr.Button(visible=False).click(reference, [*refs, roles, settings], [result, record], api_name="reference",
                                       **gpu)

        repaint_default, edit_default = RepaintRequest(), EditRequest()
        video, control, strength, ref = _file("video"), gr.Textbox(label="control", value=repaint_default.control), \
            gr.Number(label="strength", value=repaint_default.strength), _file("reference")
        control_2 = gr.Textbox(label="control_2", value="")
        strength_2, control_mask = gr.Number(label="strength_2", value=repaint_default.strength_2), \
            _file("control_mask")

        @_documented
        def repaint(
            video: str,
            control: str = repaint_default.control,
            strength: float = repaint_default.strength,
            reference: str | None = None,
            settings: dict = REQUIRED,
            control_2: str | None = None,
            strength_2: float = repaint_default.strength_2,
            control_mask: str | None = None,
            request: gr.Request = None,
        ) -> tuple[str, dict]:
            """Restyle a video with the prompt while keeping its motion and structure through a control video.

            Args:
                video: the source video (MP4 or any format ffmpeg reads).
                control: what is kept from the source: gray, canny, scribble, depth, pose_body, flow, layout...
                strength: 0 to 1, how closely the control is followed (multiplies the conditioning scale).
                reference: optional reference image of the subject to put in the video.
                {settings}
                control_2: optional second control (e.g. depth with pose_body), local backend only: its own VACE
                    context stream, its hints added to the first control's.
                strength_2: 0 to 1, how closely the second control is followed.
                control_mask: optional mask image (white = apply the control there; the rest of the video is kept).
            Returns:
                {returns}
            """
            def build() -> RepaintRequest:
                if control_2 and control_2 not in annotators.available():
                    raise InputError("control_2", f"'{control_2}' is not a control; available: "
                                                  f"{', '.join(annotators.available())}.")
                return RepaintRequest.from_dict({
                    "video": video or "", "control": control or "", "strength": strength,
                    "reference": {"path": reference} if reference else None, "control_2": control_2 or None,
                    "strength_2": repaint_default.strength_2 if strength_2 is None else strength_2,
                    "control_mask": control_mask or None})

            return _run(services, build, settings, request)

        gr.Button(visible=False).click(repaint, [video, control, strength, ref, settings, control_2, strength_2,
                                                 control_mask], [result, record], api_name="repaint", **gpu)

        mask_image, mask_video = _file("mask_image"), _file("mask_video")
        mask_frame = gr.Number(label="mask_frame", value=0, precision=0)
        mask_type = gr.Textbox(label="mask_type", value=edit_default.mask_type.value)
        expand_ratio = gr.Number(label="expand_ratio", value=edit_default.expand_ratio)
        mask_shape = gr.Textbox(label="mask_shape", value=edit_default.mask_shape.value)
        cut_occluders = gr.Checkbox(label="cut_occluders", value=edit_default.cut_occluders)
        tracker = gr.Textbox(label="tracker", value=edit_default.tracker.value)
        mask_text = gr.Textbox(label="mask_text", value=edit_default.mask_text)

        @_documented
        def edit(video: str, mask_image: str | None = None, mask_frame: int = 0, mask_video: str | None = None,
                 mask_type: str = edit_default.mask_type.value, expand_ratio: float = edit_default.expand_ratio,
                 settings: dict = REQUIRED, mask_shape: str = edit_default.mask_shape.value,
                 cut_occluders: bool = edit_default.cut_occluders,
                 tracker: str = edit_default.tracker.value, mask_text: str = edit_default.mask_text,
                 request: gr.Request = None) -> tuple[str, dict]:
            """Regenerate a masked region of a video from the prompt (local edit / inpaint); the rest is kept.

            Args:
                video: the source video.
                mask_image: mask image, white = regenerate, black = keep; give this or mask_video.
                mask_frame: the source frame the mask image was drawn on (0 = first).
                mask_video: a mask video with one mask per frame (white = regenerate), instead of mask_image.
                mask_type: 'fixed' (the mask stays in place) or 'tracking' (it follows the object through the clip).
                expand_ratio: grow the mask by this fraction of its size (0 to 1) to cover edges.
                {settings}
                mask_shape: 'exact', 'box' (bounding box per frame) or 'hull' (convex hull per frame).
                cut_occluders: when tracking, cut things passing in front out of the mask.
                tracker: how a tracking mask follows the object: flow, sam2, sam3, edgetam or auto.
                mask_text: name what to regenerate ('the dog', 'all people'): SAM 3 masks it on every frame (needs
                    its weights); a mask_image then corrects it from mask_frame on.
            Returns:
                {returns}
            """
            def build():
                keyframes = [{"path": mask_image, "frame": mask_frame or 0}] if mask_image else []
                return EditRequest.from_dict({
                    "video": video or "", "keyframes": keyframes, "mask_video": mask_video or None,
                    "mask_type": mask_type or edit_default.mask_type.value, "expand_ratio": expand_ratio,
                    "mask_shape": mask_shape or edit_default.mask_shape.value, "cut_occluders": cut_occluders,
                    "tracker": tracker or edit_default.tracker.value, "mask_text": mask_text or ""})
            return _run(services, build, settings, request)

        # mask_shape, cut_occluders, tracker and mask_text come last so that callers of earlier signatures keep
        # working.
        edit_inputs = [video, mask_image, mask_frame, mask_video, mask_type, expand_ratio, settings, mask_shape,
                       cut_occluders, tracker, mask_text]
        gr.Button(visible=False).click(edit, edit_inputs, [result, record], api_name="edit", **gpu)

        clips = [_file(name) for name in ("first_clip", "last_clip", "first_frame", "last_frame")]

        @_documented
        def extend(
            first_clip: str | None = None,
            last_clip: str | None = None,
            first_frame: str | None = None,
            last_frame: str | None = None,
            settings: dict = REQUIRED,
            request: gr.Request = None,
        ) -> tuple[str, dict]:
            """Generate new frames around kept footage (video extension); give at least one of the four inputs.

            Args:
                first_clip: a clip kept at the start (up to 3 s); not with first_frame.
                last_clip: a clip kept at the end (up to 3 s); not with last_frame.
                first_frame: an image kept as the first frame.
                last_frame: an image kept as the last frame.
                {settings}
            Returns:
                {returns}
            """
            return _run(services, lambda: ExtendRequest(first_clip or None, last_clip or None, first_frame or None,
                                                        last_frame or None), settings, request)

        gr.Button(visible=False).click(extend, [*clips, settings], [result, record], api_name="extend", **gpu)

        scales = [gr.Number(label=side, value=1.0) for side in ("top", "bottom", "left", "right")]

        @_documented
        def outpaint(video: str, top: float = 1.0, bottom: float = 1.0, left: float = 1.0, right: float = 1.0,
                     settings: dict = REQUIRED, request: gr.Request = None) -> tuple[str, dict]:
            """Expand the frame of a video (outpaint): the added borders are generated from the prompt.

            Args:
                video: the source video.
                top: new extent upwards as a multiple of the original height (1.0 = unchanged, up to 2.0).
                bottom: new extent downwards (1.0 to 2.0).
                left: new extent to the left as a multiple of the original width (1.0 to 2.0).
                right: new extent to the right (1.0 to 2.0).
                {settings}
            Returns:
                {returns}
            """
            return _run(services, lambda: OutpaintRequest.from_dict({
                "video": video or "", "top": top, "bottom": bottom, "left": left, "right": right}), settings, request)

        gr.Button(visible=False).click(outpaint, [video, *scales, settings], [result, record], api_name="outpaint",
                                       **gpu)

        job_id = gr.Textbox(label="job_id")

        def job(job_text, request: gr.Request):
            """One of your own jobs by id: its result file (when it succeeded) and its record."""
            try:
                viewer = request_viewer(services.config, request)
                found = viewer.job(services.store, (job_text or "").strip())
            except KeyError:
                raise gr.Error(f"No job {job_text}.", print_exception=False) from None
            return hand_over(found.output_path, services.config.output_dir, viewer.owner), _summary(found)

        gr.Button(visible=False).click(job, job_id, [result, record], api_name="job", queue=False)
