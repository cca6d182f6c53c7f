"""A strict fake of the aggregator's Wan 2.1 text-to-video endpoint (shared/reference/jiekou-wan-2.1-t2v.txt) and
its task-result API. Rejects a wrong key, unknown or mistyped fields, sizes outside the four pairs, more than 3
LoRAs, and values outside the documented ranges."""

from __future__ import annotations

import uuid

from .common import FakeServer, Reject, Reply, is_int, is_number, result_video

PAIRS = {(480, 832), (832, 480), (720, 1280), (1280, 720)}
STATUSES = ["TASK_STATUS_QUEUED", "TASK_STATUS_PROCESSING", "TASK_STATUS_SUCCEED"]


def bad(message: str) -> Reject:
    return Reject(400, {"code": 400, "reason": "INVALID_REQUEST_BODY", "message": message, "metadata": {}})


class FakeJiekou(FakeServer):
    routes = [
        ("POST", "/v3/async/wan-t2v", "create", "submit"),
        ("GET", "/v3/async/task-result", "result_status", "poll"),
        ("GET", r"/files/(?P<task_id>[^/]+)\.mp4", "result", "result"),
    ]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tasks: dict[str, dict] = {}
        self.created: list[dict] = []

    @property
    def base_url(self) -> str:
        return self.root

    def _auth(self, request) -> None:
        self.require_bearer(request, Reject(401, {"code": 401, "reason": "INVALID_API_KEY",
                                                  "message": "invalid api key", "metadata": {}}))

    def create(self, request) -> Reply:
        self._auth(request)
        body = request.json()
        types = {"prompt": str, "negative_prompt": str, "width": int, "height": int, "loras": list, "seed": int,
                 "steps": int, "guidance_scale": float, "flow_shift": float, "enable_safety_checker": bool,
                 "fast_mode": bool}
        if not isinstance(body, dict):
            raise bad("body must be an object")
        for name, value in body.items():
            kind = types.get(name)
            if kind is None:
                raise bad(f"unknown field {name}")
            ok = is_int(value) if kind is int else is_number(value) if kind is float else isinstance(value, kind)
            if not ok:
                raise bad(f"{name} must be {kind.__name__}")
        if not 1 <= len(body.get("prompt", "")) <= 2000 or len(body.get("negative_prompt", "")) > 2000:
            raise bad("prompt must be 1-2000 characters, negative_prompt at most 2000")
        if ("width" in body or "height" in body) and (body.get("width"), body.get("height")) not in PAIRS:
            raise bad(f"unsupported size {body.get('width')}x{body.get('height')}")
        for name, low, high in (("seed", -1, 9999999999), ("steps", 1, 40), ("guidance_scale", 0, 10),
                                ("flow_shift", 1, 10)):
            if name in body and not low <= body[name] <= high:
                raise bad(f"{name} out of range [{low}, {high}]")
        loras = body.get("loras", [])
        if len(loras) > 3:
            raise bad("at most 3 loras")
        for lora in loras:
            if not isinstance(lora, dict) or set(lora) != {"path", "scale"} or not isinstance(lora["path"], str) \
                    or not is_number(lora["scale"]) or not 0 <= lora["scale"] <= 4:
                raise bad("each lora needs path (string) and scale (0 to 4)")
        task_id = uuid.uuid4().hex
        self.tasks[task_id] = {"polls": 0, "fail": self.fail_with, "seed": body.get("seed", -1)}
        self.created.append(body)
        return Reply(200, {"task_id": task_id})

    def result_status(self, request) -> Reply:
        self._auth(request)
        task_id = request.query.get("task_id", "")
        task = self.tasks.get(task_id)
        if task is None:
            raise Reject(404, {"code": 404, "reason": "TASK_NOT_FOUND", "message": "task not found",
                               "metadata": {}})
        task["polls"] += 1
        stage = self.stage(task["polls"])
        status, reason, videos = STATUSES[stage], "", []
        if stage == 2 and task["fail"]:
            status, reason = "TASK_STATUS_FAILED", task["fail"]
        elif stage == 2:
            videos = [{"video_url": f"{self.root}/files/{task_id}.mp4", "video_url_ttl": "3600",
                       "video_type": "mp4"}]
        return Reply(200, {"extra": {"seed": str(task["seed"])},
                           "task": {"task_id": task_id, "task_type": "WAN_T2V", "status": status, "reason": reason,
                                    "eta": 0, "progress_percent": [0, 40, 100][stage]},
                           "images": [], "videos": videos, "audios": []})

    def result(self, request) -> Reply:
        if request.header("Authorization"):
            raise Reject(400, "the storage host takes no Authorization header")
        if self.expire_results:
            raise Reject(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        return Reply(200, result_video(), content_type="video/mp4")
