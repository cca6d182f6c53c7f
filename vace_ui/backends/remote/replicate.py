"""Replicate `prunaai/vace-14b`, directly or through an API proxy: raw VACE inputs (the app's own compile) as the
official VACE fields, so all five capabilities work.

Protocol (shared/reference/replicate-prunaai-vace-14b.txt): POST {base}/models/prunaai/vace-14b/predictions with
{"input": {...}} (and an optional "version"), answered by a prediction object whose `urls.get` is polled and
`urls.cancel` cancels. {base} is the API root ending in /v1: https://api.replicate.com/v1 directly, or the
proxy's, e.g. https://proxy.example/replicate/v1 (VACE_REPLICATE_BASE_URL). A proxy answers with Replicate's own
urls (https://api.replicate.com/v1/...): those are followed under {base} instead, so the proxy key never goes to
another host. `sample_guide_scale` and `sample_shift` are integers in the schema.

Not in the reference, from Replicate's public docs: files up to `data_url_max_bytes` go inline as data: URLs
(no upload); larger ones through the files API (POST {base}/files, multipart field `content`, answering
urls.get). A prediction's status is starting / processing / succeeded / failed / canceled; `output` is the
video URL (or a list of them).
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from urllib.parse import urlsplit

from ...core.errors import InputError
from ...core.requests import Capability
from ...core.settings import Solver
from ..base import BackendCapabilities, BackendJob
from .base import RemoteBackend, TaskState, TaskStatus, Upload
from .http import MalformedResponse
from .media import (
    is_blank_source,
    mask_generates_everything,
    require_inputs,
    write_mask,
    write_references,
    write_source_video,
)

MODEL = "prunaai/vace-14b"
SPEED_MODES = ("Lightly Juiced 🍊 (more consistent)", "Extra Juiced 🚀 (even more speed)")
SOLVERS = {Solver.UNIPC: "unipc", Solver.DPMPP: "dpm++"}
# The schema documents `size` with the default "832*480" only; these are the sizes Wan2.1-VACE-14B is run at
# (the official SUPPORTED_SIZES), its default first. Inputs are compiled to exactly the size asked for.
SIZES = ("832x480", "480x832", "1280x720", "720x1280")
STATES = {"starting": TaskState.QUEUED, "processing": TaskState.RUNNING, "succeeded": TaskState.SUCCEEDED,
          "failed": TaskState.FAILED, "canceled": TaskState.CANCELLED}


class ReplicateBackend(RemoteBackend):
    """speed_mode: one of SPEED_MODES (the schema's default first). version: a model version id, omitted when
    None (the model's latest). data_url_max_bytes: files up to this size are sent inline (0: always upload)."""

    name = "replicate"
    label = "Replicate"
    key_env = "REPLICATE_API_TOKEN"
    base_url_env = "VACE_REPLICATE_BASE_URL"
    default_base_url = "https://api.replicate.com/v1"
    result_auth = None  # outputs on the API host (files API) need the token; CDN links (other hosts) get none
    default_poll_interval = 3.0

    def __init__(self, *, speed_mode: str = SPEED_MODES[0], version: str | None = None,
                 data_url_max_bytes: int = 256 * 1024, **kwargs):
        super().__init__(**kwargs)
        self.speed_mode = speed_mode
        self.version = version
        self.data_url_max_bytes = data_url_max_bytes
        self._urls: dict[str, dict] = {}

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            capabilities=frozenset(Capability),
            settings=frozenset({"prompt", "size", "num_frames", "steps", "guidance_scale", "flow_shift", "seed",
                                "solver"}),
            needs_compiled_inputs=True,
            notes=("Guidance and flow shift must be whole numbers (the schema's integers); solvers unipc and "
                   "dpm++. No negative prompt, conditioning scale or LoRAs. Sizes 832x480, 480x832, 1280x720, "
                   "720x1280."),
            sizes=SIZES,
        )

    def error_message(self, body: object) -> str | None:
        if isinstance(body, dict):
            detail = body.get("detail") or body.get("error") or body.get("title")
            if isinstance(detail, str) and detail:
                return detail.strip()
        return super().error_message(body)

    def validate(self, job: BackendJob) -> None:
        super().validate(job)
        require_inputs(job.inputs, self.label)
        settings = job.settings
        if not settings.prompt.strip():
            raise InputError("prompt", "is empty; Replicate prunaai/vace-14b requires a prompt.")
        if settings.size not in SIZES:
            raise InputError("size", f"{settings.size} is not offered by prunaai/vace-14b; choose one of "
                             f"{', '.join(SIZES)}.")
        whole = (("guidance_scale", settings.guidance_scale), ("flow_shift", settings.effective_flow_shift))
        for field, value in whole:
            if float(value) != int(value):
                raise InputError(field, f"{value:g} is not a whole number; prunaai/vace-14b takes an integer here.")
        if settings.solver not in SOLVERS:
            raise InputError("solver", f"'{settings.solver.value}' is not offered by prunaai/vace-14b; choose "
                             f"{' or '.join(s.value for s in SOLVERS)}.")
        if self.speed_mode not in SPEED_MODES:
            raise InputError("speed_mode", f"{self.speed_mode!r} is not one of: {'; '.join(SPEED_MODES)}.")

    def uploads(self, job: BackendJob, folder: Path) -> list[Upload]:
        inputs = job.inputs
        items: list[Upload] = []
        if not is_blank_source(inputs):
            items.append(Upload("src_video", str(write_source_video(inputs, folder))))
            if not mask_generates_everything(inputs.mask):  # an absent mask means "generate everywhere"
                mask = write_mask(inputs, folder, allow_image=True)
                items.append(Upload("src_mask", str(mask), "image" if mask.suffix == ".png" else "video"))
        items += [Upload(f"ref_{i}", str(path), "image") for i, path in enumerate(write_references(inputs, folder))]
        return items

    def upload(self, path: Path, kind: str) -> str:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        content = path.read_bytes()
        if len(content) <= self.data_url_max_bytes:
            return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"
        answer = self.http.call("POST", "/files", files={"content": (path.name, content, mime)}, idempotent=True,
                                what=f"uploading {path.name}")
        url = (answer.get("urls") or {}).get("get") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url:
            raise MalformedResponse("Replicate's files API answer has no urls.get.")
        return url

    def build_payload(self, job: BackendJob, refs: dict[str, str]) -> dict:
        settings, inputs = job.settings, job.inputs
        width, height = settings.preset_size
        values: dict = {
            "prompt": settings.prompt,
            "size": f"{width}*{height}",
            "frame_num": inputs.num_frames,
            "sample_steps": int(settings.steps),
            "sample_guide_scale": int(settings.guidance_scale),
            "sample_shift": int(settings.effective_flow_shift),
            "sample_solver": SOLVERS[settings.solver],
            "seed": int(job.seed),
            "speed_mode": self.speed_mode,
        }
        for key in ("src_video", "src_mask"):
            if key in refs:
                values[key] = refs[key]
        images = [refs[key] for key in sorted(k for k in refs if k.startswith("ref_"))]
        if images:
            values["src_ref_images"] = images
        body: dict = {"input": values}
        if self.version:
            body["version"] = self.version
        return body

    def submit(self, job: BackendJob, refs: dict[str, str]) -> str:
        answer = self.http.call("POST", f"/models/{MODEL}/predictions", json=self.build_payload(job, refs),
                                what="creating the prediction")
        prediction_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(prediction_id, str) or not prediction_id:
            raise MalformedResponse("Replicate accepted the prediction but its answer has no id.")
        self._remember(prediction_id, answer)
        return prediction_id

    def _remember(self, prediction_id: str, prediction: dict) -> None:
        urls = prediction.get("urls")
        if isinstance(urls, dict):
            self._urls[prediction_id] = {k: v for k, v in urls.items() if isinstance(v, str)}

    def rebase(self, url: str) -> str:
        """A Replicate API URL followed under the configured base (for proxies); foreign URLs whose path has no
        /v1/ segment cannot be mapped and are rejected (MalformedResponse) rather than sent the key."""
        if self.http.under_base(url):
            return url
        path = urlsplit(url).path
        marker = path.find("/v1/")
        if marker < 0:
            raise MalformedResponse(f"Replicate answered with a link outside its API ({urlsplit(url).netloc}).")
        return f"{self.base_url}/{path[marker + 4:]}"

    def poll(self, task_id: str) -> TaskStatus:
        url = self._urls.get(task_id, {}).get("get") or f"{self.base_url}/predictions/{task_id}"
        answer = self.http.call("GET", self.rebase(url), what="checking the prediction")
        if not isinstance(answer, dict) or answer.get("status") not in STATES:
            raise MalformedResponse(f"Replicate reported an unknown prediction status "
                                    f"{answer.get('status') if isinstance(answer, dict) else None!r}.")
        self._remember(task_id, answer)
        state = STATES[answer["status"]]
        output = answer.get("output")
        if isinstance(output, list):
            output = next((item for item in output if isinstance(item, str)), None)
        if state is TaskState.SUCCEEDED and not (isinstance(output, str) and output):
            raise MalformedResponse(f"Replicate reported prediction {task_id} as succeeded without an output.")
        error = answer.get("error")
        info = {}
        metrics = answer.get("metrics")
        if isinstance(metrics, dict) and isinstance(metrics.get("predict_time"), (int, float)):
            info["predict_time"] = metrics["predict_time"]
        return TaskStatus(state, message=self.http.redact(str(error)) if error else "",
                          result_url=output if isinstance(output, str) else None, info=info)

    def cancel(self, task_id: str) -> bool:
        url = self._urls.get(task_id, {}).get("cancel") or f"{self.base_url}/predictions/{task_id}/cancel"
        self.http.call("POST", self.rebase(url), what="cancelling the prediction", idempotent=True)
        return True

    def describe(self, job: BackendJob) -> dict:
        return {"model": MODEL, "version": self.version or "latest", "speed_mode": self.speed_mode,
                "seed_sent": int(job.seed)}
