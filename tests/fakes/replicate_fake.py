"""A strict fake of Replicate's prediction API for prunaai/vace-14b (shared/reference/replicate-prunaai-vace-14b.txt)
served under /replicate/v1 like the proxy in the reference, plus the files API and data: URL inputs (public docs).

Rejects a wrong token, unknown or mistyped input fields (integers must be integers), values outside the model's
documented choices, and file inputs that are neither a valid data: URL, an uploaded file, nor an http(s) URL.
`replicate_urls=True` answers with Replicate's own https://api.replicate.com/v1/... links, as a proxy does.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from .common import FakeServer, Reject, Reply, is_int

SCHEMA = {"seed": "integer", "size": "string", "prompt": "string", "src_mask": "string", "frame_num": "integer",
          "src_video": "string", "speed_mode": "string", "sample_shift": "integer", "sample_steps": "integer",
          "sample_solver": "string", "src_ref_images": "array", "sample_guide_scale": "integer"}
SPEED_MODES = {"Lightly Juiced 🍊 (more consistent)", "Extra Juiced 🚀 (even more speed)"}
SOLVERS = {"unipc", "dpm++"}
SIZES = {"832*480", "480*832", "1280*720", "720*1280"}
STATUSES = ["starting", "processing", "succeeded"]
PREFIX = "/replicate/v1"


def invalid(field: str, description: str) -> Reject:
    return Reject(422, {"title": "Input validation failed", "status": 422,
                        "detail": f"- input.{field}: {description}",
                        "invalid_fields": [{"type": "invalid", "field": f"input.{field}",
                                            "description": description}]})


class FakeReplicate(FakeServer):
    routes = [
        ("POST", PREFIX + "/models/prunaai/vace-14b/predictions", "create", "submit"),
        ("GET", PREFIX + r"/predictions/(?P<pid>[^/]+)", "get", "poll"),
        ("POST", PREFIX + r"/predictions/(?P<pid>[^/]+)/cancel", "cancel", "cancel"),
        ("POST", PREFIX + "/files", "create_file", "upload"),
        ("GET", r"/delivery/(?P<pid>[^/]+)/output\.mp4", "delivery", "result"),
    ]

    def __init__(self, replicate_urls: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.replicate_urls = replicate_urls
        self.predictions: dict[str, dict] = {}
        self.created: list[dict] = []
        self.files: dict[str, bytes] = {}

    @property
    def base_url(self) -> str:
        return self.root + PREFIX

    def _auth(self, request) -> None:
        self.require_bearer(request, Reject(401, {"title": "Unauthenticated", "status": 401,
                                                  "detail": "You did not pass a valid authentication token"}))

    def _api(self, path: str) -> str:
        return ("https://api.replicate.com/v1" if self.replicate_urls else self.base_url) + path

    def create_file(self, request) -> Reply:
        self._auth(request)
        fields, files = request.form()
        if set(files) != {"content"} or set(fields) - {"filename", "type", "metadata"}:
            raise Reject(400, {"detail": "multipart field 'content' is required", "status": 400})
        file_id = uuid.uuid4().hex[:16]
        name, content, content_type = files["content"]
        self.files[file_id] = content
        return Reply(201, {"id": file_id, "name": name, "content_type": content_type, "size": len(content),
                           "etag": file_id, "checksums": {}, "metadata": {}, "created_at": "2025-01-01T00:00:00Z",
                           "expires_at": "2025-01-02T00:00:00Z", "urls": {"get": self._api(f"/files/{file_id}")}})

    def file_content(self, value: str) -> bytes | None:
        """What a file input refers to: decoded data: URL or uploaded file; None for other http(s) URLs."""
        if value.startswith("data:"):
            header, _, payload = value.partition(",")
            if not header.endswith(";base64") or "/" not in header:
                raise invalid("file", "data URL must be data:<mime>;base64,<content>")
            try:
                return base64.b64decode(payload, validate=True)
            except binascii.Error:
                raise invalid("file", "data URL is not valid base64") from None
        for prefix in (self.base_url + "/files/", "https://api.replicate.com/v1/files/"):
            if value.startswith(prefix):
                if value.removeprefix(prefix) not in self.files:
                    raise invalid("file", f"file {value} does not exist")
                return self.files[value.removeprefix(prefix)]
        if not value.startswith(("http://", "https://")):
            raise invalid("file", f"{value[:40]!r} is not a URL")
        return None

    def create(self, request) -> Reply:
        self._auth(request)
        body = request.json()
        if not isinstance(body, dict) or set(body) - {"input", "version"} or not isinstance(body.get("input"), dict):
            raise Reject(400, {"detail": "body must be {\"input\": {...}} with an optional version", "status": 400})
        if "version" in body and not isinstance(body["version"], str):
            raise Reject(400, {"detail": "version must be a string", "status": 400})
        values = body["input"]
        for name, value in values.items():
            kind = SCHEMA.get(name)
            if kind is None:
                raise invalid(name, "Additional property is not allowed")
            ok = {"integer": is_int(value), "string": isinstance(value, str),
                  "array": isinstance(value, list) and all(isinstance(v, str) for v in value)}[kind]
            if not ok:
                raise invalid(name, f"Invalid type. Expected: {kind}, given: {type(value).__name__}")
        if "prompt" not in values:
            raise invalid("prompt", "prompt is required")
        for name, allowed in (("speed_mode", SPEED_MODES), ("sample_solver", SOLVERS), ("size", SIZES)):
            if name in values and values[name] not in allowed:
                raise invalid(name, f"must be one of {sorted(allowed)}")
        for name in ("src_video", "src_mask"):
            if name in values:
                self.file_content(values[name])
        for value in values.get("src_ref_images", []):
            self.file_content(value)
        pid = uuid.uuid4().hex[:26]
        width, height = map(int, values.get("size", "832*480").split("*"))
        self.predictions[pid] = {"polls": 0, "fail": self.fail_with, "status": "starting", "input": values,
                                 "video": self.result_for(values.get("frame_num", 81), width, height)}
        self.created.append(body)
        return Reply(201, self._prediction(pid))

    def _prediction(self, pid: str) -> dict:
        record = self.predictions[pid]
        status = record["status"]
        return {"id": pid, "model": "prunaai/vace-14b", "version": "hidden", "input": record["input"], "logs": "",
                "output": f"{self.root}/delivery/{pid}/output.mp4" if status == "succeeded" else None,
                "data_removed": False, "error": record["fail"] if status == "failed" else None, "status": status,
                "created_at": "2025-01-01T00:00:00.000Z",
                "urls": {"cancel": self._api(f"/predictions/{pid}/cancel"), "get": self._api(f"/predictions/{pid}"),
                         "stream": "https://stream.replicate.com/v1/files/x", "web": f"https://replicate.com/p/{pid}"}}

    def get(self, request) -> Reply:
        self._auth(request)
        record = self.predictions.get(request.match["pid"])
        if record is None:
            raise Reject(404, {"detail": "Not found.", "status": 404})
        if record["status"] in ("starting", "processing"):
            record["polls"] += 1
            record["status"] = STATUSES[self.stage(record["polls"])]
            if record["status"] == "succeeded" and record["fail"]:
                record["status"] = "failed"
        return Reply(200, self._prediction(request.match["pid"]))

    def cancel(self, request) -> Reply:
        self._auth(request)
        record = self.predictions.get(request.match["pid"])
        if record is None:
            raise Reject(404, {"detail": "Not found.", "status": 404})
        if record["status"] in ("starting", "processing"):
            record["status"] = "canceled"
        return Reply(200, self._prediction(request.match["pid"]))

    def delivery(self, request) -> Reply:
        if request.header("Authorization"):
            raise Reject(400, "the delivery CDN takes no Authorization header")
        if self.expire_results or request.match["pid"] not in self.predictions:
            raise Reject(404, "Not found")
        return Reply(200, self.predictions[request.match["pid"]]["video"], content_type="video/mp4")
