"""An API aggregator's (jiekou.ai) Wan 2.1 14B text-to-video endpoint, for text-only jobs (the reference
capability with no reference images), with up to 3 LoRAs.

Request body (shared/reference/jiekou-wan-2.1-t2v.txt): prompt (1-2000 chars), negative_prompt (0-2000),
width/height pairs 832x480, 480x832, 1280x720, 720x1280, loras [{path, scale 0-4}] (at most 3; a Hugging Face id
or a download URL), seed -1..9999999999, steps 1-40, guidance_scale 0-10, flow_shift 1-10,
enable_safety_checker, fast_mode; the answer is {"task_id"}. It always makes a 5 s clip.

Not in the reference (which names only "the task result API"), from the aggregator's public pages and the
Novita-style API it mirrors: the endpoint is POST {base}/v3/async/wan-t2v and results come from
GET {base}/v3/async/task-result?task_id=..., answering {"task": {"status": TASK_STATUS_QUEUED | _PROCESSING |
_SUCCEED | _FAILED, "reason", "progress_percent"}, "videos": [{"video_url"}]}. No cancel endpoint is
documented: cancelling stops polling.
"""

from __future__ import annotations

import re

from ...core.errors import InputError, check_range
from ...core.requests import Capability, ReferenceRequest
from ..base import BackendCapabilities, BackendJob
from .base import RemoteBackend, TaskState, TaskStatus
from .http import MalformedResponse

SUBMIT_PATH = "/v3/async/wan-t2v"
RESULT_PATH = "/v3/async/task-result"
SIZES = {"832x480": (832, 480), "480x832": (480, 832), "1280x720": (1280, 720), "720x1280": (720, 1280)}
FRAMES = 81  # the endpoint makes 5 s clips
SEED_MAX = 9_999_999_999
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
STATES = {"TASK_STATUS_QUEUED": TaskState.QUEUED, "TASK_STATUS_PROCESSING": TaskState.RUNNING,
          "TASK_STATUS_SUCCEED": TaskState.SUCCEEDED, "TASK_STATUS_FAILED": TaskState.FAILED}


class JiekouBackend(RemoteBackend):
    """fast_mode: faster and cheaper, possibly lower quality. safety_checker: the provider's content filter."""

    name = "jiekou"
    label = "Jiekou Wan 2.1 T2V"
    key_env = "JIEKOU_API_KEY"
    base_url_env = "VACE_JIEKOU_BASE_URL"
    default_base_url = "https://api.jiekou.ai"
    default_poll_interval = 5.0

    def __init__(self, *, fast_mode: bool = False, safety_checker: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.fast_mode = fast_mode
        self.safety_checker = safety_checker

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            capabilities=frozenset({Capability.REFERENCE}),
            settings=frozenset({"prompt", "negative_prompt", "size", "steps", "guidance_scale", "flow_shift",
                                "seed", "loras"}),
            needs_compiled_inputs=False,
            notes=("Text only (no reference images); always 81 frames (5 s); up to 40 steps, guidance 0-10, "
                   "flow shift 1-10; up to 3 LoRAs by Hugging Face id or download URL."),
            sizes=tuple(SIZES),
        )

    def error_message(self, body: object) -> str | None:
        if isinstance(body, dict):
            message, reason = body.get("message"), body.get("reason")
            if message or reason:
                return " ".join(str(part) for part in (message, f"({reason})" if reason else None) if part)
        return super().error_message(body)

    def validate(self, job: BackendJob) -> None:
        super().validate(job)
        request, settings = job.request, job.settings
        if not isinstance(request, ReferenceRequest) or request.references:
            raise InputError("references", "the text-to-video endpoint takes no reference images; remove them or "
                             "choose a VACE backend.")
        if not 1 <= len(settings.prompt.strip()) <= 2000:
            raise InputError("prompt", "must be 1 to 2000 characters.")
        if len(settings.negative_prompt) > 2000:
            raise InputError("negative_prompt", "must be at most 2000 characters.")
        if settings.size not in SIZES:
            raise InputError("size", f"{settings.size} is not offered; choose one of {', '.join(SIZES)}.")
        if settings.num_frames != FRAMES:
            raise InputError("num_frames", f"{settings.num_frames} frames is not offered: this endpoint always "
                             f"makes 5 s clips ({FRAMES} frames).")
        if not 1 <= settings.steps <= 40:
            raise InputError("steps", f"{settings.steps} is out of range; this endpoint allows 1 to 40.")
        check_range("guidance_scale", settings.guidance_scale, 0.0, 10.0)
        check_range("flow_shift", settings.effective_flow_shift, 1.0, 10.0)
        if not -1 <= job.seed <= SEED_MAX:
            raise InputError("seed", f"{job.seed} is out of range; allowed -1 to {SEED_MAX}.")
        if len(settings.loras) > 3:
            raise InputError("loras", f"{len(settings.loras)} given; at most 3.")
        for index, lora in enumerate(settings.loras, start=1):
            check_range(f"lora {index} scale", lora.scale, 0.0, 4.0)
            if not (lora.path.startswith(("https://", "http://")) or HF_ID.match(lora.path)):
                raise InputError(f"lora {index}", f"'{lora.path}' is not a Hugging Face id (owner/name) or a "
                                 "download URL; the hosted endpoint cannot load local files.")

    def build_payload(self, job: BackendJob) -> dict:
        settings = job.settings
        width, height = SIZES[settings.size]
        body: dict = {
            "prompt": settings.prompt,
            "width": width,
            "height": height,
            "seed": int(job.seed),
            "steps": int(settings.steps),
            "guidance_scale": float(settings.guidance_scale),
            "flow_shift": float(settings.effective_flow_shift),
            "enable_safety_checker": bool(self.safety_checker),
            "fast_mode": bool(self.fast_mode),
        }
        if settings.negative_prompt:
            body["negative_prompt"] = settings.negative_prompt
        if settings.loras:
            body["loras"] = [{"path": lora.path, "scale": float(lora.scale)} for lora in settings.loras]
        return body

    def submit(self, job: BackendJob, refs: dict[str, str]) -> str:
        answer = self.http.call("POST", SUBMIT_PATH, json=self.build_payload(job), what="submitting the task")
        task_id = answer.get("task_id") if isinstance(answer, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise MalformedResponse("the text-to-video endpoint accepted the task but its answer has no task_id.")
        return task_id

    def poll(self, task_id: str) -> TaskStatus:
        answer = self.http.call("GET", RESULT_PATH, params={"task_id": task_id}, what="checking the task")
        task = answer.get("task") if isinstance(answer, dict) else None
        if not isinstance(task, dict) or task.get("status") not in STATES:
            raise MalformedResponse(f"the task result answer has an unknown status "
                                    f"{task.get('status') if isinstance(task, dict) else None!r}.")
        state = STATES[task["status"]]
        progress = task.get("progress_percent")
        videos = answer.get("videos") or []
        url = videos[0].get("video_url") if videos and isinstance(videos[0], dict) else None
        if state is TaskState.SUCCEEDED and not (isinstance(url, str) and url):
            raise MalformedResponse(f"task {task_id} succeeded but the answer lists no video_url.")
        info = {}
        extra = answer.get("extra")
        if isinstance(extra, dict) and extra.get("seed") is not None:
            info["provider_seed"] = str(extra["seed"])
        return TaskStatus(state, progress=progress / 100 if isinstance(progress, (int, float)) else None,
                          message=self.http.redact(str(task.get("reason") or "")), result_url=url, info=info)

    def describe(self, job: BackendJob) -> dict:
        return {"model": "wan-t2v (Wan 2.1 14B)", "fast_mode": self.fast_mode, "seed_sent": int(job.seed),
                "loras": [lora.path for lora in job.settings.loras]}
