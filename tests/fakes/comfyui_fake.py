"""A strict fake ComfyUI server (shared/reference/comfyui-wan-vace-1.3b-deployment.txt): /upload/image, /prompt,
/queue, /history/{id}, /view, /interrupt, with an optional bearer token.

/prompt validates the API-format graph the way ComfyUI does, and stricter: every class_type must be a known node,
every required input present, no unknown inputs, values of the right type and in the node's choices (model file
names among the installed ones, media among the uploaded files), links pointing at existing nodes' outputs of
the right type, and an output node. Errors come back in ComfyUI's shape ({"error", "node_errors"})."""

from __future__ import annotations

import uuid

from .common import FakeServer, Reject, Reply, is_int, is_number

INSTALLED = {"unet": ["wan21_vace_1_3_b.safetensors"], "clip": ["umt5_xxl_fp8_e4m3fn.safetensors"],
             "vae": ["wan21_vace_vae.safetensors"], "lora": ["detail_boost.safetensors", "style_a.safetensors"]}
SAMPLERS = ["euler", "euler_ancestral", "dpmpp_2m", "uni_pc", "uni_pc_bh2"]
SCHEDULERS = ["normal", "karras", "simple", "sgm_uniform", "beta"]
# class_type -> (required inputs, optional inputs, output types); an input type is "INT", "FLOAT", "STRING",
# "BOOLEAN", a link type in lower case ("model"), a list of choices, or "unet"/"upload" style named choices.
NODES = {
    "UNETLoader": ({"unet_name": "@unet", "weight_dtype": ["default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2"]},
                   {}, ["MODEL"]),
    "CLIPLoader": ({"clip_name": "@clip", "type": ["stable_diffusion", "sd3", "wan", "ltxv"]},
                   {"device": ["default", "cpu"]}, ["CLIP"]),
    "VAELoader": ({"vae_name": "@vae"}, {}, ["VAE"]),
    "LoraLoaderModelOnly": ({"model": "model", "lora_name": "@lora", "strength_model": "FLOAT"}, {}, ["MODEL"]),
    "CLIPTextEncode": ({"text": "STRING", "clip": "clip"}, {}, ["CONDITIONING"]),
    "WanVaceToVideo": ({"positive": "conditioning", "negative": "conditioning", "vae": "vae", "width": "INT",
                        "height": "INT", "length": "INT", "batch_size": "INT", "strength": "FLOAT"},
                       {"control_video": "image", "control_masks": "mask", "reference_image": "image"},
                       ["CONDITIONING", "CONDITIONING", "LATENT", "INT"]),
    "INTConstant": ({"value": "INT"}, {}, ["INT"]),
    "LoadImage": ({"image": "@upload"}, {"upload": ["image"]}, ["IMAGE", "MASK"]),
    "ImageResizeKJv2": ({"image": "image", "width": "INT", "height": "INT",
                         "upscale_method": ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"],
                         "keep_proportion": ["stretch", "resize", "pad", "pad_edge", "crop"], "pad_color": "STRING",
                         "crop_position": ["center", "top", "bottom", "left", "right"], "divisible_by": "INT"},
                        {"device": ["cpu", "gpu"], "mask": "mask"}, ["IMAGE", "INT", "INT"]),
    "KSampler": ({"model": "model", "seed": "INT", "steps": "INT", "cfg": "FLOAT", "sampler_name": SAMPLERS,
                  "scheduler": SCHEDULERS, "positive": "conditioning", "negative": "conditioning",
                  "latent_image": "latent", "denoise": "FLOAT"}, {}, ["LATENT"]),
    "ModelSamplingSD3": ({"model": "model", "shift": "FLOAT"}, {}, ["MODEL"]),
    "TrimVideoLatent": ({"samples": "latent", "trim_amount": "INT"}, {}, ["LATENT"]),
    "VAEDecode": ({"samples": "latent", "vae": "vae"}, {}, ["IMAGE"]),
    "VHS_LoadVideo": ({"video": "@upload", "force_rate": "FLOAT", "custom_width": "INT", "custom_height": "INT",
                       "frame_load_cap": "INT", "skip_first_frames": "INT", "select_every_nth": "INT"},
                      {"format": "STRING"}, ["IMAGE", "INT", "AUDIO", "VHS_VIDEOINFO"]),
    "ImageToMask": ({"image": "image", "channel": ["red", "green", "blue", "alpha"]}, {}, ["MASK"]),
    "VHS_VideoCombine": ({"images": "image", "frame_rate": "FLOAT", "loop_count": "INT", "filename_prefix": "STRING",
                          "format": ["image/gif", "image/webp", "video/h264-mp4", "video/h265-mp4"],
                          "pingpong": "BOOLEAN", "save_output": "BOOLEAN"},
                         {"pix_fmt": ["yuv420p", "yuv420p10le"], "crf": "INT", "save_metadata": "BOOLEAN",
                          "trim_to_audio": "BOOLEAN"}, ["VHS_FILENAMES"]),
}
OUTPUT_NODES = {"VHS_VideoCombine"}


class FakeComfyUI(FakeServer):
    routes = [
        ("POST", "/upload/image", "upload", "upload"),
        ("POST", "/prompt", "prompt", "submit"),
        ("GET", "/queue", "queue", "poll"),
        ("POST", "/queue", "queue_delete", "cancel"),
        ("GET", r"/history/(?P<pid>[^/]+)", "history", "history"),
        ("GET", "/view", "view", "result"),
        ("POST", "/interrupt", "interrupt", "cancel"),
    ]

    def __init__(self, token: str | None = None, **kwargs):
        super().__init__(key=token, **kwargs)
        self.uploads: dict[str, bytes] = {}
        self.prompts: dict[str, dict] = {}  # prompt id -> {"graph", "polls", "state", "fail"}
        self.order: list[str] = []
        self.outputs: dict[str, bytes] = {}
        self.interrupted: list[str] = []

    @property
    def base_url(self) -> str:
        return self.root

    def _auth(self, request) -> None:
        if self.key is not None:
            self.require_bearer(request, Reject(401, "401: Unauthorized"))

    def upload(self, request) -> Reply:
        self._auth(request)
        fields, files = request.form()
        if "image" not in files or set(fields) - {"overwrite", "type", "subfolder"}:
            raise Reject(400, "expected a multipart 'image' file")
        name, content, _ = files["image"]
        base, dot, ext = name.rpartition(".")
        stored, counter = name, 1
        while stored in self.uploads and fields.get("overwrite") != "true":
            stored, counter = f"{base} ({counter}).{ext}" if dot else f"{name} ({counter})", counter + 1
        self.uploads[stored] = content
        return Reply(200, {"name": stored, "subfolder": fields.get("subfolder", ""), "type": "input"})

    # -- validation ---------------------------------------------------------------------------------------------
    def _check_value(self, graph: dict, name: str, spec, value) -> str | None:
        if isinstance(value, list):
            if not (len(value) == 2 and isinstance(value[0], str) and is_int(value[1])):
                return f"{name}: a link must be [node_id, output_index]"
            source = graph.get(value[0])
            if source is None:
                return f"{name}: linked node {value[0]} does not exist"
            outputs = NODES.get(source.get("class_type"), ({}, {}, []))[2]
            if value[1] >= len(outputs):
                return f"{name}: node {value[0]} has no output {value[1]}"
            wanted = spec.upper() if isinstance(spec, str) and not spec.startswith("@") else None
            if wanted is None or outputs[value[1]] != wanted:
                return f"{name}: Return type mismatch between linked nodes: {wanted} != {outputs[value[1]]}"
            return None
        if isinstance(spec, list):
            return None if value in spec else f"Value not in list: {name}: {value!r} not in {spec}"
        if spec.startswith("@"):
            choices = list(self.uploads) if spec == "@upload" else INSTALLED[spec[1:]]
            return None if value in choices else f"Value not in list: {name}: {value!r} not in {choices}"
        checks = {"INT": is_int, "FLOAT": is_number, "STRING": lambda v: isinstance(v, str),
                  "BOOLEAN": lambda v: isinstance(v, bool)}
        if spec in checks:
            return None if checks[spec](value) else f"{name}: expected {spec}, got {type(value).__name__}"
        return f"{name}: required input is missing a link (a {spec.upper()} is expected)"

    def _validate(self, graph: object) -> dict:
        if not isinstance(graph, dict) or not graph:
            raise Reject(400, {"error": {"type": "invalid_prompt", "message": "Cannot execute because the prompt "
                                         "is not a graph", "details": "", "extra_info": {}}, "node_errors": {}})
        node_errors = {}
        for node_id, node in graph.items():
            errors = []
            class_type = node.get("class_type") if isinstance(node, dict) else None
            if class_type not in NODES:
                raise Reject(400, {"error": {"type": "invalid_prompt", "message": f"Cannot execute because node "
                                             f"{class_type} does not exist.", "details": f"Node ID '#{node_id}'",
                                             "extra_info": {}}, "node_errors": {}})
            required, optional, _ = NODES[class_type]
            inputs = node.get("inputs", {})
            for name in required:
                if name not in inputs:
                    errors.append(f"Required input is missing: {name}")
            for name, value in inputs.items():
                spec = required.get(name, optional.get(name))
                problem = f"unknown input: {name}" if spec is None else self._check_value(graph, name, spec, value)
                if problem:
                    errors.append(problem)
            if errors:
                node_errors[node_id] = {"errors": [{"type": "value_error", "message": "Failed to validate",
                                                    "details": e, "extra_info": {}} for e in errors],
                                        "dependent_outputs": [], "class_type": class_type}
        if not any(node["class_type"] in OUTPUT_NODES for node in graph.values()):
            raise Reject(400, {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs",
                                         "details": "", "extra_info": {}}, "node_errors": {}})
        return node_errors

    def prompt(self, request) -> Reply:
        self._auth(request)
        body = request.json()
        if not isinstance(body, dict) or set(body) - {"prompt", "client_id", "extra_data", "prompt_id"}:
            raise Reject(400, {"error": {"type": "invalid_prompt", "message": "unknown field", "details": "",
                                         "extra_info": {}}, "node_errors": {}})
        node_errors = self._validate(body.get("prompt"))
        if node_errors:
            raise Reject(400, {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs "
                                         "failed validation", "details": "", "extra_info": {}},
                               "node_errors": node_errors})
        pid = str(uuid.uuid4())
        vace = next(node["inputs"] for node in body["prompt"].values() if node["class_type"] == "WanVaceToVideo")
        length = vace["length"]
        if isinstance(length, list):  # linked to an INTConstant
            length = body["prompt"][length[0]]["inputs"]["value"]
        self.prompts[pid] = {"graph": body["prompt"], "polls": 0, "state": "pending", "fail": self.fail_with,
                             "video": self.result_for(length, vace["width"], vace["height"])}
        self.order.append(pid)
        return Reply(200, {"prompt_id": pid, "number": len(self.order), "node_errors": {}})

    # -- execution ----------------------------------------------------------------------------------------------
    def _advance(self) -> None:
        for pid in self.order:
            record = self.prompts[pid]
            if record["state"] in ("pending", "running"):
                record["polls"] += 1
                stage = self.stage(record["polls"])
                record["state"] = ("pending", "running", "done")[stage]
                if record["state"] == "done" and not record["fail"]:
                    combine = next(n for n in record["graph"].values() if n["class_type"] == "VHS_VideoCombine")
                    prefix = combine["inputs"]["filename_prefix"]  # ComfyUI counts up per prefix
                    counter = 1 + sum(1 for name in self.outputs if name.startswith(f"{prefix}_"))
                    record["filename"] = f"{prefix}_{counter:05d}.mp4"
                    self.outputs[record["filename"]] = record["video"]

    def queue(self, request) -> Reply:
        self._auth(request)
        self._advance()

        def entries(state):
            return [[i, pid, self.prompts[pid]["graph"], {"client_id": "x"}, ["32"]]
                    for i, pid in enumerate(self.order) if self.prompts[pid]["state"] == state]

        return Reply(200, {"queue_running": entries("running"), "queue_pending": entries("pending")})

    def history(self, request) -> Reply:
        self._auth(request)
        pid = request.match["pid"]
        record = self.prompts.get(pid)
        if record is None or record["state"] not in ("done", "interrupted"):
            return Reply(200, {})
        if record["state"] == "interrupted" or record["fail"]:
            message = "Interrupted" if record["state"] == "interrupted" else record["fail"]
            status = {"status_str": "error", "completed": False, "messages": [
                ["execution_start", {"prompt_id": pid}],
                ["execution_error", {"prompt_id": pid, "node_id": "24", "node_type": "KSampler",
                                     "exception_message": message, "exception_type": "RuntimeError"}]]}
            return Reply(200, {pid: {"prompt": [], "outputs": {}, "status": status}})
        gifs = [{"filename": record["filename"], "subfolder": "", "type": "output", "format": "video/h264-mp4",
                 "frame_rate": 16.0, "workflow": "x.png", "fullpath": f"/output/{record['filename']}"}]
        return Reply(200, {pid: {"prompt": [], "outputs": {"32": {"gifs": gifs}},
                                 "status": {"status_str": "success", "completed": True, "messages": []}}})

    def view(self, request) -> Reply:
        self._auth(request)
        if request.query.get("type") != "output" or request.query.get("subfolder", None) is None:
            raise Reject(400, "type=output and subfolder are expected")
        content = self.outputs.get(request.query.get("filename", ""))
        if content is None or self.expire_results:
            raise Reject(404, "404: Not Found")
        return Reply(200, content, content_type="video/mp4")

    def interrupt(self, request) -> Reply:
        self._auth(request)
        body = request.json() if request.body else {}
        for pid in self.order:
            record = self.prompts[pid]
            if record["state"] == "running" and body.get("prompt_id", pid) == pid:
                record["state"] = "interrupted"
                self.interrupted.append(pid)
        return Reply(200, b"")

    def queue_delete(self, request) -> Reply:
        self._auth(request)
        body = request.json()
        for pid in body.get("delete", []):
            if pid in self.prompts and self.prompts[pid]["state"] == "pending":
                self.prompts[pid]["state"] = "deleted"
        return Reply(200, b"")
