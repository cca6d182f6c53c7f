"""A ComfyUI server hosting Wan2.1-VACE-1.3B: raw VACE inputs (the app's own compile) through an API-format
workflow, so all five capabilities work.

Protocol (shared/reference/comfyui-wan-vace-1.3b-deployment.txt): POST /upload/image (multipart field `image`;
it stores any file, videos included, and answers its stored `name`), POST /prompt {"prompt": workflow,
"client_id"}, GET /queue (queue_running / queue_pending entries [number, prompt_id, ...]), GET /history/{id}
(present once finished; outputs[node]["gifs"] from VHS_VideoCombine), GET /view?filename=&subfolder=&type= for
the file. Optional bearer token (VACE_COMFYUI_TOKEN). Cancel: POST /interrupt {"prompt_id"} for a running prompt,
POST /queue {"delete": [id]} for a pending one (ComfyUI's own API; the reference names neither).

The workflow is the reference's graph (UNETLoader, CLIPLoader, VAELoader, CLIPTextEncode x2, WanVaceToVideo,
INTConstant, LoadImage + ImageResizeKJv2, KSampler, ModelSamplingSD3, TrimVideoLatent, VAEDecode,
VHS_VideoCombine) with the app's inputs wired into WanVaceToVideo: the source video through VHS_LoadVideo as
`control_video`, the mask (a lossless MP4, always a video: WanVaceToVideo pads a shorter mask batch with
"generate") through VHS_LoadVideo + ImageToMask as `control_masks`, and one reference image (WanVaceToVideo
uses only the first) as `reference_image`. LoRAs are LoraLoaderModelOnly nodes; each LoRA is named by its file
name in the server's models/loras folder.
"""

from __future__ import annotations

import mimetypes
import uuid
from pathlib import Path
from urllib.parse import urlencode

from ...core.errors import InputError
from ...core.requests import Capability
from ...core.settings import Solver
from ..base import BackendCapabilities, BackendJob
from .base import RemoteBackend, TaskState, TaskStatus, Upload
from .http import MalformedResponse, ProviderError
from .media import (
    is_blank_source,
    mask_generates_everything,
    require_inputs,
    write_mask,
    write_references,
    write_source_video,
)

SAMPLERS = {Solver.UNIPC: "uni_pc", Solver.EULER: "euler", Solver.DPMPP: "dpmpp_2m"}
SIZES = ("832x480", "480x832")  # the deployment serves 1.3B at 480P
MISSING_POLLS = 3  # polls in a row with the prompt in neither queue nor history before it counts as lost


class ComfyUIBackend(RemoteBackend):
    """unet / clip / vae: model file names on the server (VACE_COMFYUI_UNET / _CLIP / _VAE, defaults from the
    reference). The token is optional: a server without auth needs none."""

    name = "comfyui"
    label = "ComfyUI"
    key_env = "VACE_COMFYUI_TOKEN"
    base_url_env = "VACE_COMFYUI_URL"
    default_base_url = "http://127.0.0.1:8188"
    key_required = False
    result_auth = None  # /view is under the server URL and needs the token when one is set
    default_poll_interval = 2.0
    check_path = "/queue"  # answered by every ComfyUI server (and cheap)

    def __init__(self, *, unet: str | None = None, clip: str | None = None, vae: str | None = None,
                 weight_dtype: str = "fp8_e4m3fn_fast", **kwargs):
        super().__init__(**kwargs)
        self.unet = unet or self.provider.option("unet") or "wan21_vace_1_3_b.safetensors"
        self.clip = clip or self.provider.option("clip") or "umt5_xxl_fp8_e4m3fn.safetensors"
        self.vae = vae or self.provider.option("vae") or "wan21_vace_vae.safetensors"
        self.weight_dtype = weight_dtype
        self.client_id = str(uuid.uuid4())
        self._missing: dict[str, int] = {}
        self._history: dict[str, dict] = {}

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(
            capabilities=frozenset(Capability),
            settings=frozenset({"prompt", "negative_prompt", "size", "num_frames", "steps", "guidance_scale",
                                "flow_shift", "conditioning_scale", "seed", "solver", "loras"}),
            needs_compiled_inputs=True,
            notes="480P only (832x480, 480x832); one reference image; LoRAs by file name on the server.",
            sizes=SIZES,
        )

    def error_message(self, body: object) -> str | None:
        if not isinstance(body, dict):
            return None
        parts = []
        error = body.get("error")
        if isinstance(error, dict):
            parts.append(": ".join(str(error[k]) for k in ("message", "details") if error.get(k)))
        elif isinstance(error, str):
            parts.append(error)
        for node_id, node in (body.get("node_errors") or {}).items():
            for item in node.get("errors", []) if isinstance(node, dict) else []:
                parts.append(f"node {node_id} ({node.get('class_type', '?')}): {item.get('message', '')} "
                             f"{item.get('details', '')}".strip())
        return "; ".join(p for p in parts if p) or None

    def validate(self, job: BackendJob) -> None:
        super().validate(job)
        inputs = require_inputs(job.inputs, self.label)
        if job.settings.size not in SIZES:
            raise InputError("size", f"{job.settings.size} is not served: this ComfyUI deployment runs "
                             "Wan2.1-VACE-1.3B at 480P; choose 832x480 or 480x832.")
        if len(inputs.references) > 1:
            raise InputError("references", f"{len(inputs.references)} given; ComfyUI's WanVaceToVideo uses one "
                             "reference image. Keep one.")
        if job.seed < 0:
            raise InputError("seed", "must be drawn (0 or more) before a ComfyUI job is submitted.")

    def uploads(self, job: BackendJob, folder: Path) -> list[Upload]:
        inputs = job.inputs
        items: list[Upload] = []
        if not is_blank_source(inputs):
            items.append(Upload("video", str(write_source_video(inputs, folder))))
            if not mask_generates_everything(inputs.mask):
                items.append(Upload("mask", str(write_mask(inputs, folder, allow_image=False))))
        items += [Upload(f"ref_{i}", str(path), "image") for i, path in enumerate(write_references(inputs, folder))]
        return items

    def upload(self, path: Path, kind: str) -> str:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        name = f"vace_{uuid.uuid4().hex[:10]}_{path.name}"
        answer = self.http.call("POST", "/upload/image", files={"image": (name, path.read_bytes(), mime)},
                                data={"overwrite": "false", "type": "input"}, idempotent=True,
                                what=f"uploading {path.name}")
        stored = answer.get("name") if isinstance(answer, dict) else None
        if not isinstance(stored, str) or not stored:
            raise MalformedResponse("ComfyUI's upload answer has no name.")
        subfolder = answer.get("subfolder") or ""
        return f"{subfolder}/{stored}" if subfolder else stored

    def workflow(self, job: BackendJob, refs: dict[str, str]) -> dict:
        """The API-format graph (node id -> {"class_type", "inputs"}); links are [node_id, output_index]."""
        settings, inputs = job.settings, job.inputs
        frames, width, height = inputs.num_frames, inputs.width, inputs.height
        model: list = ["11", 0]
        graph: dict = {
            "11": {"class_type": "UNETLoader", "inputs": {"unet_name": self.unet, "weight_dtype": self.weight_dtype}},
            "13": {"class_type": "CLIPLoader", "inputs": {"clip_name": self.clip, "type": "wan", "device": "default"}},
            "14": {"class_type": "VAELoader", "inputs": {"vae_name": self.vae}},
            "15": {"class_type": "CLIPTextEncode", "inputs": {"text": settings.prompt, "clip": ["13", 0]}},
            "16": {"class_type": "CLIPTextEncode", "inputs": {"text": settings.negative_prompt, "clip": ["13", 0]}},
            "21": {"class_type": "INTConstant", "inputs": {"value": frames}},
        }
        for index, lora in enumerate(settings.loras):
            node = str(50 + index)
            graph[node] = {"class_type": "LoraLoaderModelOnly", "inputs": {
                "lora_name": Path(lora.path).name, "strength_model": float(lora.scale), "model": model}}
            model = [node, 0]
        vace: dict = {"width": width, "height": height, "length": ["21", 0], "batch_size": 1,
                      "strength": float(settings.conditioning_scale), "positive": ["15", 0],
                      "negative": ["16", 0], "vae": ["14", 0]}
        if "video" in refs:
            graph["40"] = self._load_video(refs["video"], frames)
            vace["control_video"] = ["40", 0]
        if "mask" in refs:
            graph["41"] = self._load_video(refs["mask"], frames)
            graph["42"] = {"class_type": "ImageToMask", "inputs": {"image": ["41", 0], "channel": "red"}}
            vace["control_masks"] = ["42", 0]
        if "ref_0" in refs:
            graph["18"] = {"class_type": "LoadImage", "inputs": {"image": refs["ref_0"], "upload": "image"}}
            graph["22"] = {"class_type": "ImageResizeKJv2", "inputs": {
                "width": width, "height": height, "upscale_method": "nearest-exact", "keep_proportion": "pad",
                "pad_color": "255, 255, 255", "crop_position": "center", "divisible_by": 16, "device": "cpu",
                "image": ["18", 0]}}
            vace["reference_image"] = ["22", 0]
        graph.update({
            "17": {"class_type": "WanVaceToVideo", "inputs": vace},
            "27": {"class_type": "ModelSamplingSD3", "inputs": {"shift": float(settings.effective_flow_shift),
                                                                "model": model}},
            "24": {"class_type": "KSampler", "inputs": {
                "seed": int(job.seed), "steps": int(settings.steps), "cfg": float(settings.guidance_scale),
                "sampler_name": SAMPLERS[settings.solver], "scheduler": "simple", "denoise": 1.0,
                "model": ["27", 0], "positive": ["17", 0], "negative": ["17", 1], "latent_image": ["17", 2]}},
            "30": {"class_type": "TrimVideoLatent", "inputs": {"trim_amount": ["17", 3], "samples": ["24", 0]}},
            "31": {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["14", 0]}},
            "32": {"class_type": "VHS_VideoCombine", "inputs": {
                "frame_rate": inputs.fps, "loop_count": 0, "filename_prefix": f"VACE_{job.job_id}",
                "format": "video/h264-mp4", "pix_fmt": "yuv420p", "crf": 19, "save_metadata": True,
                "trim_to_audio": False, "pingpong": False, "save_output": True, "images": ["31", 0]}},
        })
        return graph

    @staticmethod
    def _load_video(name: str, frames: int) -> dict:
        return {"class_type": "VHS_LoadVideo", "inputs": {
            "video": name, "force_rate": 0, "custom_width": 0, "custom_height": 0, "frame_load_cap": frames,
            "skip_first_frames": 0, "select_every_nth": 1}}

    def submit(self, job: BackendJob, refs: dict[str, str]) -> str:
        answer = self.http.call("POST", "/prompt", json={"prompt": self.workflow(job, refs),
                                                         "client_id": self.client_id}, what="queueing the workflow")
        if isinstance(answer, dict) and answer.get("error"):
            raise ProviderError(f"ComfyUI rejected the workflow: {self.http.redact(str(self.error_message(answer)))}.")
        prompt_id = answer.get("prompt_id") if isinstance(answer, dict) else None
        if not isinstance(prompt_id, str) or not prompt_id:
            raise MalformedResponse("ComfyUI queued the workflow but its answer has no prompt_id.")
        return prompt_id

    def _queue_state(self, prompt_id: str) -> TaskState | None:
        queue = self.http.call("GET", "/queue", what="checking the queue")
        if not isinstance(queue, dict):
            raise MalformedResponse("ComfyUI's /queue answer is not an object.")
        for key, state in (("queue_running", TaskState.RUNNING), ("queue_pending", TaskState.QUEUED)):
            for item in queue.get(key) or []:
                if isinstance(item, list) and len(item) > 1 and item[1] == prompt_id:
                    return state
        return None

    def poll(self, task_id: str) -> TaskStatus:
        state = self._queue_state(task_id)
        if state is not None:
            self._missing.pop(task_id, None)
            return TaskStatus(state)
        history = self.http.call("GET", f"/history/{task_id}", what="reading the history")
        entry = history.get(task_id) if isinstance(history, dict) else None
        if not isinstance(entry, dict):
            self._missing[task_id] = self._missing.get(task_id, 0) + 1
            if self._missing[task_id] >= MISSING_POLLS:
                return TaskStatus(TaskState.FAILED, message=f"ComfyUI knows no prompt {task_id} (the server "
                                  "restarted or its history was cleared)")
            return TaskStatus(TaskState.RUNNING)
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            errors = [m[1] for m in status.get("messages", []) if isinstance(m, list) and len(m) > 1
                      and m[0] == "execution_error" and isinstance(m[1], dict)]
            reason = "; ".join(f"{e.get('node_type', '?')}: {e.get('exception_message', '').strip()}" for e in errors)
            return TaskStatus(TaskState.FAILED, message=self.http.redact(reason or "execution error"))
        if status.get("status_str") == "success" or status.get("completed"):
            self._history[task_id] = entry
            return TaskStatus(TaskState.SUCCEEDED, result_url=self._result_url(task_id, entry))
        return TaskStatus(TaskState.RUNNING)

    def _result_url(self, task_id: str, entry: dict) -> str:
        for output in (entry.get("outputs") or {}).values():
            for key in ("gifs", "videos"):
                for item in output.get(key, []) if isinstance(output, dict) else []:
                    if isinstance(item, dict) and str(item.get("filename", "")).lower().endswith(".mp4"):
                        query = urlencode({"filename": item["filename"], "subfolder": item.get("subfolder", ""),
                                           "type": item.get("type", "output")})
                        return f"{self.base_url}/view?{query}"
        raise MalformedResponse(f"ComfyUI finished prompt {task_id} but its history lists no MP4 output.")

    def cancel(self, task_id: str) -> bool:
        state = self._queue_state(task_id)
        if state is TaskState.RUNNING:
            self.http.call("POST", "/interrupt", json={"prompt_id": task_id}, parse=False, idempotent=True,
                           what="interrupting the prompt")
        elif state is TaskState.QUEUED:
            self.http.call("POST", "/queue", json={"delete": [task_id]}, parse=False, idempotent=True,
                           what="removing the prompt from the queue")
        return True

    def describe(self, job: BackendJob) -> dict:
        return {"models": {"unet": self.unet, "clip": self.clip, "vae": self.vae},
                "sampler": SAMPLERS[job.settings.solver], "seed_sent": int(job.seed)}
