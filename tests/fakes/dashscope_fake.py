"""A strict fake of DashScope's video-synthesis task API (shared/reference/dashscope-wan-vace-plus.txt) plus the
temporary-file upload (getPolicy + OSS form POST) as DashScope's public docs describe it.

It rejects: a wrong or missing key, a missing `X-DashScope-Async: enable`, a model of another region, unknown or
mistyped fields (per `function`), out-of-range values, oss:// URLs without `X-DashScope-OssResourceResolve:
enable` or never uploaded (for this model), and any Authorization header sent to the storage host.
"""

from __future__ import annotations

import uuid

from .common import FakeServer, Reject, Reply, is_int, is_number, rendered_video, result_video

OUTPUT_FPS, OUTPUT_SECONDS = 30, 5

FUNCTIONS = {  # function -> (input fields, parameter fields)
    "image_reference": ({"function", "prompt", "ref_images_url"}, {"prompt_extend", "obj_or_bg", "size"}),
    "video_repainting": ({"function", "prompt", "video_url", "ref_images_url"},
                         {"prompt_extend", "control_condition", "strength"}),
    "video_edit": ({"function", "prompt", "video_url", "mask_image_url", "mask_video_url", "mask_frame_id",
                    "ref_images_url"}, {"prompt_extend", "mask_type", "expand_ratio", "size"}),
    "video_extension": ({"function", "prompt", "first_clip_url", "last_clip_url", "first_frame_url",
                         "last_frame_url"}, {"prompt_extend"}),
    "video_outpainting": ({"function", "prompt", "video_url"},
                          {"prompt_extend", "top_scale", "bottom_scale", "left_scale", "right_scale"}),
}
SIZES = {"1280*720", "720*1280", "960*960", "832*1088", "1088*832"}
CONTROLS = {"posebodyface", "posebody", "depth", "scribble"}
SEQUENCE = ["PENDING", "RUNNING", "SUCCEEDED"]


def invalid(message: str) -> Reject:
    return Reject(400, {"code": "InvalidParameter", "message": message, "request_id": uuid.uuid4().hex})


class FakeDashScope(FakeServer):
    routes = [
        ("POST", "/api/v1/services/aigc/video-generation/video-synthesis", "create", "submit"),
        ("GET", r"/api/v1/tasks/(?P<task_id>[^/]+)", "get_task", "poll"),
        ("GET", "/api/v1/uploads", "get_policy", "policy"),
        ("POST", "/oss", "oss_upload", "upload"),
        ("GET", r"/results/(?P<name>[^/]+)", "result", "result"),
    ]

    def __init__(self, model: str = "wan2.1-vace-plus", echo_key_in_errors: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.echo_key_in_errors = echo_key_in_errors
        self.tasks: dict[str, dict] = {}
        self.created: list[dict] = []  # accepted task bodies, in order
        self.create_headers: list[dict] = []
        self.policies: dict[str, dict] = {}
        self.oss: dict[str, tuple[bytes, str]] = {}  # key -> (content, model)

    @property
    def base_url(self) -> str:
        return f"{self.root}/api/v1"

    def _auth(self, request) -> None:
        message = "Invalid API-key provided."
        if self.echo_key_in_errors:
            message += f" Got: {(request.header('Authorization') or '').removeprefix('Bearer ')}"
        self.require_bearer(request, Reject(401, {"code": "InvalidApiKey", "message": message,
                                                  "request_id": uuid.uuid4().hex}))

    # -- uploads ------------------------------------------------------------------------------------------------
    def get_policy(self, request) -> Reply:
        self._auth(request)
        if request.query.get("action") != "getPolicy":
            raise invalid("action must be getPolicy")
        if request.query.get("model") != self.model:
            raise invalid(f"Model not exist: {request.query.get('model')}")
        policy = {"policy": uuid.uuid4().hex, "signature": uuid.uuid4().hex,
                  "upload_dir": f"dashscope-instant/{uuid.uuid4().hex[:8]}", "upload_host": f"{self.root}/oss",
                  "expire_in_seconds": 300, "max_file_size_mb": 100, "capacity_limit_mb": 999999999,
                  "oss_access_key_id": "LTAI-fake-access-id", "x_oss_object_acl": "private",
                  "x_oss_forbid_overwrite": "true"}
        self.policies[policy["policy"]] = {**policy, "model": self.model}
        return Reply(200, {"request_id": uuid.uuid4().hex, "data": policy})

    def oss_upload(self, request) -> Reply:
        def oss_error(status: int, code: str, message: str) -> Reject:
            return Reject(status, f"<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>{message}</Message>"
                                  "</Error>")

        if request.header("Authorization"):
            raise oss_error(400, "InvalidArgument", "an Authorization header must not be sent with a POST form")
        fields, files = request.form()
        required = {"OSSAccessKeyId", "Signature", "policy", "key", "x-oss-object-acl", "x-oss-forbid-overwrite",
                    "success_action_status"}
        if set(fields) != required or set(files) != {"file"}:
            raise oss_error(400, "InvalidArgument", f"form fields {sorted(fields)} files {sorted(files)}")
        policy = self.policies.get(fields["policy"])
        if policy is None or fields["Signature"] != policy["signature"] or \
                fields["OSSAccessKeyId"] != policy["oss_access_key_id"]:
            raise oss_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match")
        if not fields["key"].startswith(policy["upload_dir"] + "/") or fields["success_action_status"] != "200":
            raise oss_error(403, "AccessDenied", "Invalid according to Policy: Policy Condition failed")
        if fields["key"] in self.oss and fields["x-oss-forbid-overwrite"] == "true":
            raise oss_error(409, "FileAlreadyExists", "The object you specified already exists")
        self.oss[fields["key"]] = (files["file"][1], policy["model"])
        return Reply(200, b"")

    # -- tasks --------------------------------------------------------------------------------------------------
    def create(self, request) -> Reply:
        self._auth(request)
        if request.header("X-DashScope-Async") != "enable":
            raise Reject(403, {"code": "AccessDenied", "message": "current user api does not support synchronous "
                                                                  "calls", "request_id": uuid.uuid4().hex})
        body = request.json()
        if not isinstance(body, dict) or set(body) - {"model", "input", "parameters"}:
            raise invalid("unknown top-level field")
        if body.get("model") != self.model:
            raise invalid(f"Model not exist: {body.get('model')}")
        inputs, parameters = body.get("input"), body.get("parameters", {})
        if not isinstance(inputs, dict) or not isinstance(parameters, dict):
            raise invalid("input and parameters must be objects")
        function = inputs.get("function")
        if function not in FUNCTIONS:
            raise invalid(f"input.function {function!r} is not supported")
        allowed_input, allowed_params = FUNCTIONS[function]
        for name in set(inputs) - allowed_input:
            raise invalid(f"input.{name} is not a parameter of {function}")
        for name in set(parameters) - allowed_params:
            raise invalid(f"parameters.{name} is not a parameter of {function}")
        if not isinstance(inputs.get("prompt"), str) or not inputs["prompt"].strip():
            raise invalid("input.prompt is required")
        self._check_urls(request, inputs)
        getattr(self, f"_check_{function}")(inputs, parameters)
        if "prompt_extend" in parameters and not isinstance(parameters["prompt_extend"], bool):
            raise invalid("parameters.prompt_extend must be a boolean")
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = {"polls": 0, "fail": self.fail_with, "prompt": inputs["prompt"]}
        if self.render and function == "video_extension":
            self.tasks[task_id]["video"] = self._extension(inputs)
        self.created.append(body)
        self.create_headers.append({k: v for k, v in request.headers.items() if k.lower() != "authorization"})
        return Reply(200, {"output": {"task_status": "PENDING", "task_id": task_id},
                           "request_id": uuid.uuid4().hex})

    def _check_urls(self, request, inputs: dict) -> None:
        urls = [v for k, v in inputs.items() if k.endswith("_url") and k != "ref_images_url"]
        refs = inputs.get("ref_images_url", [])
        if not isinstance(refs, list) or not all(isinstance(u, str) for u in refs):
            raise invalid("input.ref_images_url must be an array of URLs")
        for url in urls + refs:
            if not isinstance(url, str):
                raise invalid("URL fields must be strings")
            if url.startswith("oss://"):
                if request.header("X-DashScope-OssResourceResolve") != "enable":
                    raise invalid("url error, please check url! (oss:// needs X-DashScope-OssResourceResolve)")
                stored = self.oss.get(url.removeprefix("oss://"))
                if stored is None or stored[1] != self.model:
                    raise invalid(f"url error, please check url! {url} was not uploaded for {self.model}")
            elif not url.startswith(("http://", "https://")):
                raise invalid(f"url error, please check url! {url}")

    @staticmethod
    def _range(parameters: dict, name: str, low: float, high: float) -> None:
        if name in parameters and (not is_number(parameters[name]) or not low <= parameters[name] <= high):
            raise invalid(f"parameters.{name} must be a number from {low} to {high}")

    def _size(self, parameters: dict) -> None:
        if "size" in parameters and parameters["size"] not in SIZES:
            raise invalid(f"parameters.size {parameters['size']!r} is not supported")

    def _check_image_reference(self, inputs: dict, parameters: dict) -> None:
        refs = inputs.get("ref_images_url")
        if not refs or not 1 <= len(refs) <= 3:
            raise invalid("input.ref_images_url needs 1 to 3 images")
        roles = parameters.get("obj_or_bg", ["obj"] * len(refs))
        if not isinstance(roles, list) or len(roles) != len(refs) or set(roles) - {"obj", "bg"}:
            raise invalid("parameters.obj_or_bg must list obj or bg for each reference image")
        self._size(parameters)

    def _check_video_repainting(self, inputs: dict, parameters: dict) -> None:
        if "video_url" not in inputs:
            raise invalid("input.video_url is required")
        if parameters.get("control_condition") not in CONTROLS:
            raise invalid("parameters.control_condition must be posebodyface, posebody, depth or scribble")
        self._range(parameters, "strength", 0.0, 1.0)
        if len(inputs.get("ref_images_url", [])) > 1:
            raise invalid("input.ref_images_url takes one image for video_repainting")

    def _check_video_edit(self, inputs: dict, parameters: dict) -> None:
        if "video_url" not in inputs:
            raise invalid("input.video_url is required")
        if ("mask_image_url" in inputs) == ("mask_video_url" in inputs):
            raise invalid("give exactly one of input.mask_image_url and input.mask_video_url")
        if "mask_frame_id" in inputs and (not is_int(inputs["mask_frame_id"]) or inputs["mask_frame_id"] < 1
                                          or "mask_image_url" not in inputs):
            raise invalid("input.mask_frame_id must be a frame number (from 1) used with mask_image_url")
        if parameters.get("mask_type", "tracking") not in ("tracking", "fixed"):
            raise invalid("parameters.mask_type must be tracking or fixed")
        self._range(parameters, "expand_ratio", 0.0, 1.0)
        self._size(parameters)

    def _check_video_extension(self, inputs: dict, parameters: dict) -> None:
        if not {"first_clip_url", "last_clip_url", "first_frame_url", "last_frame_url"} & set(inputs):
            raise invalid("give at least one of first_clip_url, last_clip_url, first_frame_url, last_frame_url")

    def _check_video_outpainting(self, inputs: dict, parameters: dict) -> None:
        if "video_url" not in inputs:
            raise invalid("input.video_url is required")
        for side in ("top", "bottom", "left", "right"):
            self._range(parameters, f"{side}_scale", 1.0, 2.0)

    def get_task(self, request) -> Reply:
        self._auth(request)
        task_id = request.match["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            return Reply(200, {"request_id": uuid.uuid4().hex, "output": {"task_id": task_id,
                                                                          "task_status": "UNKNOWN"}})
        task["polls"] += 1
        status = SEQUENCE[self.stage(task["polls"])]
        output = {"task_id": task_id, "task_status": status, "submit_time": "2025-01-01 00:00:00.000"}
        if status == "SUCCEEDED" and task["fail"]:
            output.update(task_status="FAILED", code="InternalError.Algo", message=task["fail"])
        elif status == "SUCCEEDED":
            output.update(video_url=f"{self.root}/results/{task_id}.mp4?Expires=1&OSSAccessKeyId=x&Signature=y",
                          orig_prompt=task["prompt"], end_time="2025-01-01 00:01:00.000")
            return Reply(200, {"request_id": uuid.uuid4().hex, "output": output,
                               "usage": {"video_duration": 5, "video_ratio": "standard", "video_count": 1}})
        return Reply(200, {"request_id": uuid.uuid4().hex, "output": output})

    def result(self, request) -> Reply:
        if request.header("Authorization"):
            raise Reject(400, "<Error><Code>InvalidArgument</Code><Message>Unsupported Authorization Type"
                              "</Message></Error>")
        if self.expire_results:
            raise Reject(403, "<Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>")
        task = self.tasks.get(request.match["name"].removesuffix(".mp4"), {})
        return Reply(200, task.get("video") or result_video(), content_type="video/mp4")

    # -- rendering (render=True) --------------------------------------------------------------------------------
    def content(self, url: str) -> bytes:
        """The bytes behind an oss:// URL this fake stored."""
        return self.oss[url.removeprefix("oss://")][0]

    def _extension(self, inputs: dict) -> bytes:
        """5 s at 30 fps at the kept media's size: the first clip (or frame), brought to 30 fps, then new frames
        of this task's own pattern; or new frames, then the last clip (or frame)."""
        import io

        import av
        import numpy as np
        from PIL import Image

        name = next(k for k in ("first_clip_url", "last_clip_url", "first_frame_url", "last_frame_url") if k in inputs)
        data = self.content(inputs[name])
        if name.endswith("clip_url"):
            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.video[0]
                rate = float(stream.average_rate)
                source = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
            count = round(len(source) / rate * OUTPUT_FPS)
            kept = source[[min(len(source) - 1, int(i * rate / OUTPUT_FPS)) for i in range(count)]]
        else:
            kept = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[None]
        height, width = kept.shape[1:3]
        total = OUTPUT_FPS * OUTPUT_SECONDS
        self.results.append(rendered_video(total - len(kept), width, height, len(self.results), OUTPUT_FPS))
        with av.open(io.BytesIO(self.results[-1])) as container:
            new = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        frames = np.concatenate([kept, new] if name.startswith("first") else [new, kept])
        buffer = io.BytesIO()
        with av.open(buffer, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=OUTPUT_FPS)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "12", "preset": "ultrafast"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        self.results[-1] = buffer.getvalue()
        return self.results[-1]
