"""A strict fake of WaveSpeedAI's wan-2.1-14b-vace endpoint (shared/reference/wavespeed-wan-2.1-14b-vace.txt)
and its media upload (public docs). Rejects a wrong key, unknown or mistyped fields, out-of-range values, and
media URLs that were never uploaded or hold the wrong kind of file (video fields need MP4, image fields PNG)."""

from __future__ import annotations

import uuid

from .common import FakeServer, Reject, Reply, is_int, is_mp4, is_number, is_png, result_video

MODEL = "wavespeed-ai/wan-2.1-14b-vace"
SIZES = {"832*480", "480*832", "1280*720", "720*1280"}
TASKS = {"depth", "pose", "face", "inpainting", "none"}
STATUSES = ["created", "processing", "completed"]
VIDEO_FIELDS = {"video", "mask_video"}
IMAGE_FIELDS = {"mask_image", "first_image", "last_image"}


def bad(message: str) -> Reject:
    return Reject(400, {"code": 400, "message": message, "data": None})


class FakeWaveSpeed(FakeServer):
    routes = [
        ("POST", "/api/v3/wavespeed-ai/wan-2.1-14b-vace", "create", "submit"),
        ("GET", r"/api/v3/predictions/(?P<task_id>[^/]+)/result", "result_status", "poll"),
        ("POST", "/api/v3/media/upload/binary", "upload", "upload"),
        ("GET", r"/media/uploads/(?P<name>[^/]+)", "media", "media"),
        ("GET", r"/media/results/(?P<name>[^/]+)", "result", "result"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tasks: dict[str, dict] = {}
        self.created: list[dict] = []
        self.uploads: dict[str, bytes] = {}

    @property
    def base_url(self) -> str:
        return self.root

    def _auth(self, request) -> None:
        self.require_bearer(request, Reject(401, {"code": 401, "message": "Unauthorized: invalid API key",
                                                  "data": None}))

    def upload(self, request) -> Reply:
        self._auth(request)
        fields, files = request.form()
        if set(files) != {"file"} or fields:
            raise bad("multipart form must hold exactly one field: file")
        filename, content, _ = files["file"]
        name = f"{uuid.uuid4().hex[:8]}_{filename}"
        self.uploads[name] = content
        kind = "video" if is_mp4(content) else "image" if is_png(content) else "other"
        return Reply(200, {"code": 200, "message": "success", "data": {
            "type": kind, "download_url": f"{self.root}/media/uploads/{name}", "filename": filename,
            "size": len(content)}})

    def uploaded(self, url: str) -> bytes:
        """The content behind a download_url this fake issued."""
        return self.uploads[url.rsplit("/", 1)[1]]

    def media(self, request) -> Reply:
        content = self.uploads.get(request.match["name"])
        if content is None:
            raise Reject(404, {"message": "not found"})
        return Reply(200, content)

    def _media_field(self, body: dict, name: str) -> None:
        url = body[name]
        if not isinstance(url, str):
            raise bad(f"{name} must be a URL string")
        if url.startswith(f"{self.root}/media/uploads/"):
            content = self.uploads.get(url.rsplit("/", 1)[1])
            if content is None:
                raise bad(f"{name}: the file at {url} does not exist")
            if name in VIDEO_FIELDS and not is_mp4(content) or name in IMAGE_FIELDS and not is_png(content):
                raise bad(f"{name}: unsupported file type")
        elif not url.startswith(("http://", "https://")):
            raise bad(f"{name} must be an http(s) URL")

    def create(self, request) -> Reply:
        self._auth(request)
        body = request.json()
        if not isinstance(body, dict):
            raise bad("body must be an object")
        schema = {"prompt": str, "images": list, "video": str, "task": str, "negative_prompt": str,
                  "mask_video": str, "mask_image": str, "first_image": str, "last_image": str, "duration": int,
                  "size": str, "num_inference_steps": int, "guidance_scale": float, "flow_shift": float,
                  "context_scale": float, "seed": int}
        for name, value in body.items():
            if name not in schema:
                raise bad(f"unknown parameter: {name}")
            kind = schema[name]
            ok = is_int(value) if kind is int else is_number(value) if kind is float else isinstance(value, kind)
            if not ok:
                raise bad(f"{name} must be of type {kind.__name__}")
        if not body.get("prompt", "").strip():
            raise bad("prompt is required")
        for name, low, high in (("duration", 5, 10), ("num_inference_steps", 1, 40), ("guidance_scale", 0, 20),
                                ("flow_shift", 0, 30), ("context_scale", 0, 2), ("seed", -1, 2147483647)):
            if name in body and not low <= body[name] <= high:
                raise bad(f"{name} must be between {low} and {high}")
        if body.get("size", "832*480") not in SIZES:
            raise bad(f"size must be one of {sorted(SIZES)}")
        if body.get("task", "depth") not in TASKS:
            raise bad(f"task must be one of {sorted(TASKS)}")
        if "mask_video" in body and "mask_image" in body:
            raise bad("give mask_video or mask_image, not both")
        for name in VIDEO_FIELDS | IMAGE_FIELDS:
            if name in body:
                self._media_field(body, name)
        for url in body.get("images", []):
            self._media_field({"images": url}, "images")
        task_id = uuid.uuid4().hex
        width, height = map(int, body.get("size", "832*480").split("*"))
        self.tasks[task_id] = {"polls": 0, "fail": self.fail_with,
                               "video": self.result_for(16 * body.get("duration", 5) + 1, width, height)}
        self.created.append(body)
        return Reply(200, {"code": 200, "message": "success", "data": self._data(task_id, "created")})

    def _data(self, task_id: str, status: str, outputs=None, error: str = "") -> dict:
        return {"id": task_id, "model": MODEL, "outputs": outputs or [],
                "urls": {"get": f"{self.root}/api/v3/predictions/{task_id}/result"},
                "has_nsfw_contents": [False] if outputs else [], "status": status,
                "created_at": "2025-01-01T00:00:00.000Z", "error": error, "timings": {"inference": 1234}}

    def result_status(self, request) -> Reply:
        self._auth(request)
        task = self.tasks.get(request.match["task_id"])
        if task is None:
            raise Reject(404, {"code": 404, "message": "prediction not found", "data": None})
        task["polls"] += 1
        status = STATUSES[self.stage(task["polls"])]
        task_id = request.match["task_id"]
        if status == "completed" and task["fail"]:
            return Reply(200, {"code": 200, "message": "success",
                               "data": self._data(task_id, "failed", error=task["fail"])})
        outputs = [f"{self.root}/media/results/{task_id}.mp4"] if status == "completed" else None
        return Reply(200, {"code": 200, "message": "success", "data": self._data(task_id, status, outputs)})

    def result(self, request) -> Reply:
        if request.header("Authorization"):
            raise Reject(400, {"message": "the CDN takes no Authorization header"})
        if self.expire_results:
            raise Reject(404, "NoSuchKey: the file has expired")
        task = self.tasks.get(request.match["name"].removesuffix(".mp4"))
        return Reply(200, task["video"] if task else result_video(), content_type="video/mp4")
