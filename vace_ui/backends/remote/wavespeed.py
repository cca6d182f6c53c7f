"""WaveSpeedAI `wavespeed-ai/wan-2.1-14b-vace`: raw VACE inputs (the app's own compile), so all five capabilities
work, with WaveSpeed's sampling knobs.

Protocol (shared/reference/wavespeed-wan-2.1-14b-vace.txt): POST {base}/api/v3/wavespeed-ai/wan-2.1-14b-vace,
then GET {base}/api/v3/predictions/{id}/result until `completed` / `failed`. Answers are wrapped as
{"code", "message", "data": {...}}.

Not in the reference, from WaveSpeed's public "Media Upload API" docs: local files are sent with
POST {base}/api/v3/media/upload/binary (multipart field `file`), which answers data.download_url. The docs
describe no cancel endpoint: cancelling a job only stops polling.

How the compile is sent: `video` is the compiled source video (control video, gray-filled frames...), with
task "none" so WaveSpeed does not extract its own control from it; the mask goes as `mask_image` (PNG) when one
image holds for every frame, else as `mask_video` (lossless MP4), with task "inpainting". Reference-only jobs
send neither (WaveSpeed's defaults are all gray / all generate). Extensions from single frames use the
documented `first_image` / `last_image` instead of a mostly gray video.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from ...core.errors import InputError, check_range
from ...core.requests import Capability, ExtendRequest
from ..base import BackendCapabilities, BackendJob
from .base import RemoteBackend, TaskState, TaskStatus, Upload
from .http import MalformedResponse, ProviderError
from .media import (
    is_blank_source,
    mask_generates_everything,
    require_inputs,
    write_frame,
    write_mask,
    write_references,
    write_source_video,
)

MODEL_PATH = "/api/v3/wavespeed-ai/wan-2.1-14b-vace"
UPLOAD_PATH = "/api/v3/media/upload/binary"
SIZES = {"832x480": "832*480", "480x832": "480*832", "1280x720": "1280*720", "720x1280": "720*1280"}
DURATIONS = range(5, 11)  # seconds, at 16 fps: 81, 97, ..., 161 frames
MAX_STEPS = 40
SEED_MAX = 2147483647
STATES = {"created": TaskState.QUEUED, "processing": TaskState.RUNNING, "completed": TaskState.SUCCEEDED,
          "failed": TaskState.FAILED}


def sent_frames(job: BackendJob) -> int:
    """The frames of the video WaveSpeed makes: the prepared inputs' count (an extension's kept frames included)."""
    return job.inputs.num_frames if job.inputs is not None else job.settings.num_frames


class WaveSpeedBackend(RemoteBackend):
    name = "wavespeed"
    label = "WaveSpeed"
    key_env = "WAVESPEED_API_KEY"
    base_url_env = "VACE_WAVESPEED_BASE_URL"
    default_base_url = "https://api.wavespeed.ai"
    default_poll_interval = 3.0

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            capabilities=frozenset(Capability),
            settings=frozenset({"prompt", "negative_prompt", "size", "num_frames", "steps", "guidance_scale",
                                "flow_shift", "conditioning_scale", "seed"}),
            needs_compiled_inputs=True,
            notes=("Durations of 5 to 10 whole seconds (81, 97, 113, 129, 145 or 161 frames); up to 40 steps; "
                   "seeds up to 2147483647 (larger seeds are folded into that range). Solver and LoRAs are not "
                   "offered."),
            sizes=tuple(SIZES),
            frame_counts=tuple(16 * seconds + 1 for seconds in DURATIONS),
        )

    def error_message(self, body: object) -> str | None:
        if isinstance(body, dict):
            data = body.get("data")
            if isinstance(data, dict) and data.get("error"):
                return str(data["error"])
        return super().error_message(body)

    def validate(self, job: BackendJob) -> None:
        super().validate(job)
        inputs = require_inputs(job.inputs, self.label)
        settings = job.settings
        if not settings.prompt.strip():
            raise InputError("prompt", "is empty; WaveSpeed requires a prompt.")
        if settings.size not in SIZES:
            raise InputError("size", f"{settings.size} is not offered by WaveSpeed; choose one of {', '.join(SIZES)}.")
        extend = job.capability is Capability.EXTEND  # Frames is the new footage; the kept frames come on top
        frames = inputs.num_frames if extend else settings.num_frames
        seconds, extra = divmod(frames - 1, 16)
        if extra or seconds not in DURATIONS:
            allowed = ", ".join(str(16 * d + 1) for d in DURATIONS)
            what = f"the kept footage and {settings.num_frames} new frames make {frames} frames" if extend \
                else f"{frames} frames"
            raise InputError("num_frames", f"{what}, which is not offered: WaveSpeed generates 5 to 10 whole "
                             f"seconds at 16 fps ({allowed} frames in all).")
        if inputs.num_frames != frames:
            raise InputError("num_frames", f"the prepared inputs have {inputs.num_frames} frames but the settings "
                             f"ask for {frames}; prepare the job again.")
        if not 1 <= settings.steps <= MAX_STEPS:
            raise InputError("steps", f"{settings.steps} is out of range; WaveSpeed allows 1 to {MAX_STEPS}.")
        check_range("guidance_scale", settings.guidance_scale, 0.0, 20.0)
        check_range("flow_shift", settings.effective_flow_shift, 0.0, 30.0)
        check_range("conditioning_scale", settings.conditioning_scale, 0.0, 2.0)

    def _frame_images(self, job: BackendJob) -> dict[str, int] | None:
        """For an extension from single frames: {"first_image": 0, "last_image": -1} (which apply), when the
        compile keeps exactly those frames; None otherwise."""
        request = job.request
        if job.capability is not Capability.EXTEND or not isinstance(request, ExtendRequest):
            return None
        if request.first_clip or request.last_clip:
            return None
        mask = job.inputs.mask
        chosen = {}
        if request.first_frame:
            chosen["first_image"] = 0
        if request.last_frame:
            chosen["last_image"] = mask.shape[0] - 1
        if not chosen or any(mask[index].any() for index in chosen.values()):
            return None
        if int((~mask.reshape(len(mask), -1).any(axis=1)).sum()) != len(chosen):
            return None  # more frames kept than the single images (a later window of a long extension)
        return chosen

    def uploads(self, job: BackendJob, folder: Path) -> list[Upload]:
        inputs = job.inputs
        items: list[Upload] = []
        frames = self._frame_images(job)
        if frames is not None:
            for key, index in frames.items():
                items.append(Upload(key, str(write_frame(inputs.video[index], folder, f"{key}.png")), "image"))
        elif not is_blank_source(inputs):
            items.append(Upload("video", str(write_source_video(inputs, folder))))
            if not mask_generates_everything(inputs.mask):
                mask = write_mask(inputs, folder, allow_image=True)
                items.append(Upload("mask_image" if mask.suffix == ".png" else "mask_video", str(mask),
                                    "image" if mask.suffix == ".png" else "video"))
        items += [Upload(f"ref_{i}", str(path), "image") for i, path in enumerate(write_references(inputs, folder))]
        return items

    def upload(self, path: Path, kind: str) -> str:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        answer = self.http.call("POST", UPLOAD_PATH, files={"file": (path.name, path.read_bytes(), mime)},
                                idempotent=True, what=f"uploading {path.name}")
        data = self._data(answer, f"uploading {path.name}")
        url = data.get("download_url")
        if not isinstance(url, str) or not url:
            raise MalformedResponse("WaveSpeed's upload answer has no data.download_url.")
        return url

    @staticmethod
    def seed(job: BackendJob) -> int:
        """The app draws seeds below 2**32; WaveSpeed takes up to 2**31 - 1, so larger ones are folded (the sent
        seed is recorded in the result's info)."""
        return job.seed % (SEED_MAX + 1)

    def build_payload(self, job: BackendJob, refs: dict[str, str]) -> dict:
        settings = job.settings
        body: dict = {
            "prompt": settings.prompt,
            "task": "inpainting" if ("mask_image" in refs or "mask_video" in refs) else "none",
            "duration": (sent_frames(job) - 1) // 16,
            "size": SIZES[settings.size],
            "num_inference_steps": int(settings.steps),
            "guidance_scale": float(settings.guidance_scale),
            "flow_shift": float(settings.effective_flow_shift),
            "context_scale": float(settings.conditioning_scale),
            "seed": self.seed(job),
        }
        if settings.negative_prompt.strip():
            body["negative_prompt"] = settings.negative_prompt
        for key in ("video", "mask_image", "mask_video", "first_image", "last_image"):
            if key in refs:
                body[key] = refs[key]
        images = [refs[key] for key in sorted(k for k in refs if k.startswith("ref_"))]
        if images:
            body["images"] = images
        return body

    def submit(self, job: BackendJob, refs: dict[str, str]) -> str:
        answer = self.http.call("POST", MODEL_PATH, json=self.build_payload(job, refs), what="submitting the task")
        task_id = self._data(answer, "submitting the task").get("id")
        if not isinstance(task_id, str) or not task_id:
            raise MalformedResponse("WaveSpeed accepted the task but its answer has no data.id.")
        return task_id

    def poll(self, task_id: str) -> TaskStatus:
        data = self._data(self.http.call("GET", f"/api/v3/predictions/{task_id}/result", what="checking the task"),
                          "checking the task")
        raw = data.get("status")
        if raw not in STATES:
            raise MalformedResponse(f"WaveSpeed reported an unknown task status {raw!r}.")
        state = STATES[raw]
        outputs = data.get("outputs") or []
        url = outputs[0] if outputs and isinstance(outputs[0], str) else None
        if state is TaskState.SUCCEEDED and not url:
            raise MalformedResponse(f"WaveSpeed reported task {task_id} as completed without outputs.")
        info = {}
        timings = data.get("timings")
        if isinstance(timings, dict) and isinstance(timings.get("inference"), (int, float)):
            info["inference_ms"] = timings["inference"]
        if data.get("has_nsfw_contents"):
            info["has_nsfw_contents"] = data["has_nsfw_contents"]
        return TaskStatus(state, message=self.http.redact(str(data.get("error") or "")), result_url=url, info=info)

    def _data(self, answer: object, what: str) -> dict:
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
            raise MalformedResponse(f"WaveSpeed's answer while {what} has no data object.")
        if answer.get("code") not in (None, 200):
            raise ProviderError(f"WaveSpeed answered code {answer.get('code')} while {what}: "
                                f"{self.http.redact(str(answer.get('message', '')))}.")
        return answer["data"]

    def describe(self, job: BackendJob) -> dict:
        return {"model": "wavespeed-ai/wan-2.1-14b-vace", "seed_sent": self.seed(job),
                "duration": (sent_frames(job) - 1) // 16}
