"""Alibaba Cloud Model Studio (DashScope): `wan2.1-vace-plus` (international, Singapore) and `wanx2.1-vace-plus`
(Chinese Mainland, Beijing). A semantic API: each app capability maps to one of its five `function` values and
the user's own files are sent, not the app's compiled inputs.

Protocol (shared/reference/dashscope-wan-vace-plus.txt): POST {base}/services/aigc/video-generation/
video-synthesis with `X-DashScope-Async: enable`, then GET {base}/tasks/{task_id} until SUCCEEDED/FAILED; the
result `video_url` expires after 24 h. The reference documents no cancel endpoint, so cancelling a job only stops
polling here (the task may still run and be billed).

Not in the reference, implemented as DashScope's public docs describe ("upload local files to get temporary
URLs"): local files go through GET {base}/uploads?action=getPolicy&model=..., a multipart form POST to the
policy's `upload_host` (OSSAccessKeyId, Signature, policy, key, x-oss-object-acl, x-oss-forbid-overwrite,
success_action_status=200, file), giving an `oss://{key}` URL; task requests that use one carry
`X-DashScope-OssResourceResolve: enable`. Public http(s) URLs pass through unchanged.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from pathlib import Path

from ...core.errors import BackendUnavailable, InputError
from ...core.requests import (
    Capability,
    EditRequest,
    ExtendRequest,
    MaskShape,
    MaskType,
    OutpaintRequest,
    ReferenceRequest,
    RefRole,
    RepaintRequest,
)
from ..base import BackendCapabilities, BackendJob, BackendResult, JobReporter
from .base import RemoteBackend, TaskState, TaskStatus, Upload
from .dashscope_chain import refusal, run_chain
from .http import MalformedResponse, ProviderError
from .media import check_local_image, check_local_video, is_public_url

REGIONS = {  # region -> (base URL, model)
    "intl": ("https://dashscope-intl.aliyuncs.com/api/v1", "wan2.1-vace-plus"),
    "beijing": ("https://dashscope.aliyuncs.com/api/v1", "wanx2.1-vace-plus"),
}
SYNTHESIS_PATH = "/services/aigc/video-generation/video-synthesis"
FUNCTIONS = {
    Capability.REFERENCE: "image_reference",
    Capability.REPAINT: "video_repainting",
    Capability.EDIT: "video_edit",
    Capability.EXTEND: "video_extension",
    Capability.OUTPAINT: "video_outpainting",
}
# app control kind -> DashScope control_condition
CONTROL_CONDITIONS = {"depth": "depth", "pose_body": "posebody", "pose_body_face": "posebodyface",
                      "scribble": "scribble"}
SIZES = {"1280x720": "1280*720", "720x1280": "720*1280"}  # 720P only; the app's 480P presets are not offered
MAX_VIDEO_MB = 50
MAX_VIDEO_SECONDS = 5.0
MAX_CLIP_SECONDS = 3.0
STATES = {"PENDING": TaskState.QUEUED, "RUNNING": TaskState.RUNNING, "SUCCEEDED": TaskState.SUCCEEDED,
          "FAILED": TaskState.FAILED, "CANCELED": TaskState.CANCELLED, "CANCELLED": TaskState.CANCELLED}


class DashScopeBackend(RemoteBackend):
    """region: "intl" (default) or "beijing" (also VACE_DASHSCOPE_REGION); the key must belong to the same region.
    prompt_extend: let DashScope rewrite the prompt (off by default so the prompt is used as written; a job can
    override it with job.extra["prompt_extend"])."""

    name = "dashscope"
    label = "DashScope"
    key_env = "DASHSCOPE_API_KEY"
    base_url_env = "VACE_DASHSCOPE_BASE_URL"
    default_poll_interval = 10.0

    def __init__(self, *, region: str | None = None, model: str | None = None, prompt_extend: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.region = (region or self.provider.option("region") or "intl").lower()
        if self.region not in REGIONS:
            raise ValueError(f"DashScope region must be one of {', '.join(REGIONS)}, not {self.region!r}")
        self.model = model or REGIONS[self.region][1]
        self.prompt_extend = prompt_extend

    @property
    def default_base_url(self) -> str:  # type: ignore[override]
        return REGIONS[self.region][0]

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            capabilities=frozenset(FUNCTIONS),
            settings=frozenset({"prompt", "size"}),
            needs_compiled_inputs=False,
            notes=("Output is 720P, up to 5 s, 30 fps. size (1280x720 or 720x1280) applies to reference and edit; "
                   "repaint, extend and outpaint keep the input's size (scaled down to 720P). Input videos: MP4, "
                   "at most 50 MB and 5 s (extension clips 3 s). Controls: depth, pose_body, pose_body_face, "
                   "scribble. No negative prompt, seed, steps or frame count."),
            sizes=tuple(SIZES),
            sized=frozenset({Capability.REFERENCE, Capability.EDIT}),
        )

    def error_message(self, body: object) -> str | None:
        if isinstance(body, dict) and body.get("message"):
            code = body.get("code")
            return f"{body['message']}" + (f" ({code})" if code else "")
        if isinstance(body, str):  # OSS answers in XML
            found = re.search(r"<Message>(.*?)</Message>", body, re.S)
            return found.group(1).strip() if found else None
        return None

    # -- long videos: extension chains ---------------------------------------------------------------------------
    def check_long(self, request, settings) -> None:
        why = refusal(self.label, request, settings.window_frames)
        if why:
            raise InputError("num_frames", f"{settings.num_frames} frames is more than one window: {why}")

    def generate(self, job: BackendJob, reporter: JobReporter) -> BackendResult:
        """One task; an extension with Frames above one window is a chain of them (dashscope_chain)."""
        if job.settings.num_frames > job.settings.window_frames:
            self.check_long(job.request, job.settings)
            return run_chain(self, job, reporter, super().generate)
        return super().generate(job, reporter)

    def resume(self, job: BackendJob, remote_task_id: str, reporter: JobReporter) -> BackendResult:
        if job.settings.num_frames > job.settings.window_frames:
            raise BackendUnavailable(f"A chained {self.label} extension cannot be followed after a restart (its "
                                     "earlier tasks' outputs are not kept); restore it from History to run again.")
        return super().resume(job, remote_task_id, reporter)

    # -- validation ---------------------------------------------------------------------------------------------
    def validate(self, job: BackendJob) -> None:
        super().validate(job)
        if not job.settings.prompt.strip():
            raise InputError("prompt", "is empty; DashScope needs a prompt for every function.")
        request = job.request
        if isinstance(request, ReferenceRequest):
            if not 1 <= len(request.references) <= 3:
                raise InputError("references", f"{len(request.references)} given; DashScope's multi-image reference "
                                 "needs 1 to 3 images. For text only, choose a text-to-video backend.")
            for ref in request.references:
                check_local_image(ref.path, "references")
            self._size(job)
        elif isinstance(request, RepaintRequest):
            self._control(request.control)
            if request.control_mask:
                raise InputError("control_mask", "DashScope repaints the whole video; a control mask is not "
                                 "supported. Remove it, or use a backend that takes raw VACE inputs.")
            self._video(request.video, "video")
            for ref in request.references:
                check_local_image(ref.path, "references")
        elif isinstance(request, EditRequest):
            info = self._video(request.video, "video")
            if len(request.keyframes) > 1:
                raise InputError("mask", f"{len(request.keyframes)} mask images given; DashScope takes one mask "
                                 "image (on one frame) or a mask video. Keep one, or use a mask video.")
            if request.keyframes:
                keyframe = request.keyframes[0]
                check_local_image(keyframe.path, "mask")
                if info is not None and keyframe.frame >= info.frame_count:
                    raise InputError("mask_frame", f"frame {keyframe.frame} is past the video's last frame "
                                     f"({info.frame_count - 1}).")
            else:
                if request.mask_shape is not MaskShape.EXACT:
                    raise InputError("mask_shape", "box and hull shapes apply to mask images here; with a mask "
                                     "video choose 'exact' (shape the mask video itself).")
                self._video(request.mask_video, "mask_video")
            if len(request.references) > 1:
                raise InputError("references", f"{len(request.references)} given; DashScope's local edit takes at "
                                 "most one reference image.")
            for ref in request.references:
                check_local_image(ref.path, "references")
            self._size(job)
        elif isinstance(request, ExtendRequest):
            for name in ("first_clip", "last_clip"):
                if getattr(request, name):
                    self._video(getattr(request, name), name, max_seconds=MAX_CLIP_SECONDS)
            for name in ("first_frame", "last_frame"):
                if getattr(request, name):
                    check_local_image(getattr(request, name), name)
        elif isinstance(request, OutpaintRequest):
            self._video(request.video, "video")

    def _size(self, job: BackendJob) -> str:
        if job.settings.size not in SIZES:
            raise InputError("size", f"{job.settings.size} is not offered by DashScope, which outputs 720P only: "
                             "choose 1280x720 or 720x1280.")
        return SIZES[job.settings.size]

    @staticmethod
    def _control(kind: str) -> str:
        if kind not in CONTROL_CONDITIONS:
            raise InputError("control", f"'{kind}' is not supported by DashScope; it extracts only "
                             f"{', '.join(CONTROL_CONDITIONS)}. Choose one of those, or a raw-input backend.")
        return CONTROL_CONDITIONS[kind]

    def _video(self, source: str | None, field: str, max_seconds: float = MAX_VIDEO_SECONDS):
        return check_local_video(source or "", field, "DashScope", max_mb=MAX_VIDEO_MB, max_seconds=max_seconds,
                                 mp4_only=True)

    # -- files --------------------------------------------------------------------------------------------------
    def uploads(self, job: BackendJob, folder: Path) -> list[Upload]:
        request = job.request
        items: list[Upload] = []
        if isinstance(request, ReferenceRequest):
            items += [Upload(f"ref_{i}", ref.path, "image") for i, ref in enumerate(request.references)]
        elif isinstance(request, RepaintRequest):
            items.append(Upload("video", request.video))
            items += [Upload(f"ref_{i}", ref.path, "image") for i, ref in enumerate(request.references)]
        elif isinstance(request, EditRequest):
            items.append(Upload("video", request.video))
            if request.keyframes:
                items.append(Upload("mask_image", self._clean_mask(request, folder), "image"))
            else:
                items.append(Upload("mask_video", request.mask_video or ""))
            items += [Upload(f"ref_{i}", ref.path, "image") for i, ref in enumerate(request.references)]
        elif isinstance(request, ExtendRequest):
            for name in ("first_clip", "last_clip"):
                if getattr(request, name):
                    items.append(Upload(name, getattr(request, name)))
            for name in ("first_frame", "last_frame"):
                if getattr(request, name):
                    items.append(Upload(name, getattr(request, name), "image"))
        elif isinstance(request, OutpaintRequest):
            items.append(Upload("video", request.video))
        return items

    @staticmethod
    def _clean_mask(request: EditRequest, folder: Path) -> str:
        """The mask image as a strictly binary PNG (white = edit), shaped as asked; URLs pass through."""
        source = request.keyframes[0].path
        if is_public_url(source):
            return source
        from ...core import masks as ops
        from ...media.images import read_mask_image, write_mask_png

        mask = read_mask_image(source, "mask")
        if request.mask_shape is MaskShape.BOX:
            mask = ops.box(mask)
        elif request.mask_shape is MaskShape.HULL:
            mask = ops.hull(mask)
        return str(write_mask_png(Path(folder) / "mask.png", mask))

    def upload(self, path: Path, kind: str) -> str:
        answer = self.http.call("GET", "/uploads", params={"action": "getPolicy", "model": self.model},
                                what=f"asking for an upload slot for {path.name}")
        policy = answer.get("data") if isinstance(answer, dict) else None
        needed = ("policy", "signature", "upload_dir", "upload_host", "oss_access_key_id")
        if not isinstance(policy, dict) or any(not policy.get(name) for name in needed):
            raise MalformedResponse("DashScope's upload policy answer lacks " + ", ".join(
                name for name in needed if not isinstance(policy, dict) or not policy.get(name)) + ".")
        limit = policy.get("max_file_size_mb")
        if isinstance(limit, (int, float)) and path.stat().st_size > limit * 1024 * 1024:
            raise ProviderError(f"{path.name} is larger than the {limit} MB DashScope accepts for upload.")
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)
        key = f"{policy['upload_dir'].rstrip('/')}/{uuid.uuid4().hex[:12]}_{safe}"
        fields = {
            "OSSAccessKeyId": policy["oss_access_key_id"],
            "Signature": policy["signature"],
            "policy": policy["policy"],
            "key": key,
            "x-oss-object-acl": str(policy.get("x_oss_object_acl", "private")),
            "x-oss-forbid-overwrite": str(policy.get("x_oss_forbid_overwrite", "true")),
            "success_action_status": "200",
        }
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        # the key is unique, so a 409 (exists, overwrite forbidden) can only be our own earlier, retried attempt
        self.http.call("POST", policy["upload_host"], data=fields, files={"file": (safe, path.read_bytes(), mime)},
                       auth=False, idempotent=True, parse=False, ok=frozenset({409}), what=f"uploading {path.name}")
        return f"oss://{key}"

    # -- protocol -----------------------------------------------------------------------------------------------
    def build_payload(self, job: BackendJob, refs: dict[str, str]) -> dict:
        """The task request body for `job`, with `refs` mapping upload keys to URLs (http(s) or oss://)."""
        request = job.request
        function = FUNCTIONS[job.capability]
        inputs: dict = {"function": function, "prompt": job.settings.prompt}
        parameters: dict = {"prompt_extend": bool(job.extra.get("prompt_extend", self.prompt_extend))}
        ref_urls = [refs[key] for key in sorted(k for k in refs if k.startswith("ref_"))]
        if isinstance(request, ReferenceRequest):
            inputs["ref_images_url"] = ref_urls
            parameters["obj_or_bg"] = ["bg" if ref.role is RefRole.BACKGROUND else "obj"
                                       for ref in request.references]
            parameters["size"] = self._size(job)
        elif isinstance(request, RepaintRequest):
            inputs["video_url"] = refs["video"]
            if ref_urls:
                inputs["ref_images_url"] = ref_urls
            parameters["control_condition"] = self._control(request.control)
            parameters["strength"] = float(request.strength)
        elif isinstance(request, EditRequest):
            inputs["video_url"] = refs["video"]
            if "mask_image" in refs:
                inputs["mask_image_url"] = refs["mask_image"]
                # mask_frame_id counts from 1 (the reference's example uses 1 for the default, first frame)
                inputs["mask_frame_id"] = request.keyframes[0].frame + 1
            else:
                inputs["mask_video_url"] = refs["mask_video"]
            if ref_urls:
                inputs["ref_images_url"] = ref_urls
            parameters["mask_type"] = request.mask_type.value
            if request.mask_type is MaskType.TRACKING:  # only effective when tracking
                parameters["expand_ratio"] = float(request.expand_ratio)
            parameters["size"] = self._size(job)
        elif isinstance(request, ExtendRequest):
            for name in ("first_clip", "last_clip", "first_frame", "last_frame"):
                if name in refs:
                    inputs[f"{name}_url"] = refs[name]
        elif isinstance(request, OutpaintRequest):
            inputs["video_url"] = refs["video"]
            for side in ("top", "bottom", "left", "right"):
                parameters[f"{side}_scale"] = float(getattr(request, side))
        return {"model": self.model, "input": inputs, "parameters": parameters}

    def submit(self, job: BackendJob, refs: dict[str, str]) -> str:
        headers = {"X-DashScope-Async": "enable"}
        if any(url.startswith("oss://") for url in refs.values()):
            headers["X-DashScope-OssResourceResolve"] = "enable"
        answer = self.http.call("POST", SYNTHESIS_PATH, json=self.build_payload(job, refs), headers=headers,
                                what="submitting the task")
        task_id = (answer.get("output") or {}).get("task_id") if isinstance(answer, dict) else None
        if (not isinstance(task_id, str) or not task_id) and self.error_message(answer):
            raise ProviderError(f"DashScope did not create the task: {self.http.redact(self.error_message(answer))}.")
        if not isinstance(task_id, str) or not task_id:
            raise MalformedResponse("DashScope accepted the task but its answer has no output.task_id.")
        return task_id

    def poll(self, task_id: str) -> TaskStatus:
        answer = self.http.call("GET", f"/tasks/{task_id}", what="checking the task")
        output = answer.get("output") if isinstance(answer, dict) else None
        if not isinstance(output, dict) or not isinstance(output.get("task_status"), str):
            raise MalformedResponse("DashScope's task answer has no output.task_status.")
        raw = output["task_status"]
        if raw == "UNKNOWN":
            return TaskStatus(TaskState.FAILED, message=f"DashScope no longer knows task {task_id} (task records "
                              "are kept 24 h) or the id belongs to another region or account")
        if raw not in STATES:
            raise MalformedResponse(f"DashScope reported an unknown task status {raw!r}.")
        state = STATES[raw]
        message = self.http.redact(" ".join(str(output.get(k, "")) for k in ("message", "code")).strip())
        info = {k: output[k] for k in ("orig_prompt", "actual_prompt") if isinstance(output.get(k), str)}
        usage = answer.get("usage")
        if isinstance(usage, dict) and "video_duration" in usage:
            info["video_duration"] = usage["video_duration"]
        url = output.get("video_url")
        if state is TaskState.SUCCEEDED and not (isinstance(url, str) and url):
            raise MalformedResponse(f"DashScope reported task {task_id} as SUCCEEDED without a video_url.")
        return TaskStatus(state, message=message, result_url=url if isinstance(url, str) else None, info=info)

    def describe(self, job: BackendJob) -> dict:
        return {"model": self.model, "region": self.region, "function": FUNCTIONS[job.capability],
                "prompt_extend": bool(job.extra.get("prompt_extend", self.prompt_extend))}
