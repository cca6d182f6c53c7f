"""Shared pieces of the fake provider servers: a threaded HTTP server on 127.0.0.1, request parsing (JSON and
multipart), fault injection, and the small MP4 every fake serves as its result.

A fake subclasses FakeServer, lists `routes` as (method, path regex, handler name, route name) and raises Reject
for anything its protocol forbids. Faults are injected per route name and consumed in order:
  fake.inject("poll", "status", status=429, headers={"Retry-After": "7"})
  fake.inject("poll", "slow", delay=1.0)      # answers normally, but late (client timeouts)
  fake.inject("submit", "malformed")          # 200 with an HTML body
  fake.inject("result", "truncate")           # the connection drops before the announced length
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

RESULT_SIZE = (48, 32)  # width, height of the served result
RESULT_FRAMES = 12
RESULT_FPS = 16


@lru_cache(maxsize=1)
def result_video() -> bytes:
    """A small H.264 MP4 (48x32, 12 frames, a bar moving right) generated with PyAV."""
    import av

    width, height = RESULT_SIZE
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=RESULT_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(RESULT_FRAMES):
            frame = np.full((height, width, 3), 40, np.uint8)
            frame[:, index * 4:index * 4 + 8] = (230, 200, 60)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def rendered_video(frames: int, width: int, height: int, number: int, fps: float = RESULT_FPS) -> bytes:
    """What a model would return for a task: `frames` frames at width x height, a pattern of the task's own
    (`number`) so that tests can tell whose frames they see."""
    import av

    y, x = np.mgrid[0:height, 0:width]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "ultrafast"}
        for index in range(frames):
            red = (x // 4 + index * 3 + number * 70) % 256
            green = np.full_like(x, (40 + number * 60) % 256)
            blue = (y // 4 + index * 2) % 256
            frame = np.stack([red, green, blue], axis=-1).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


class Reject(Exception):
    """Answer the request with `status` and `body` (dict -> JSON, str -> text)."""

    def __init__(self, status: int, body: object, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass
class Reply:
    status: int = 200
    body: object = b""
    headers: dict = field(default_factory=dict)
    content_type: str | None = None
    truncate: bool = False  # announce more bytes than sent, then close (a connection dropped mid-download)


@dataclass
class Fault:
    kind: str  # "slow", "status", "malformed", "truncate"
    status: int = 500
    headers: dict = field(default_factory=dict)
    body: object = None
    delay: float = 1.0


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: object  # email.message.Message: case-insensitive .get()
    body: bytes
    match: dict = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> object:
        if "application/json" not in (self.header("Content-Type") or ""):
            raise Reject(400, {"message": "Content-Type must be application/json"})
        try:
            return json.loads(self.body)
        except ValueError:
            raise Reject(400, {"message": "request body is not valid JSON"}) from None

    def form(self) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
        """Multipart form: (text fields, files as (filename, content, content type))."""
        content_type = self.header("Content-Type") or ""
        if not content_type.startswith("multipart/form-data"):
            raise Reject(400, {"message": "expected multipart/form-data"})
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + self.body)
        fields, files = {}, {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            content = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[name] = (part.get_filename(), content, part.get_content_type())
            else:
                fields[name] = content.decode()
        return fields, files


class FakeServer:
    """Base of the fakes. `key` is the only accepted credential; `polls_to_finish` is how many status queries a
    task takes to finish (the first `queued_polls` of them see it queued); `fail_with` makes new tasks fail with
    that message; `expire_results` makes result downloads answer as an expired link; `render` makes each task's
    result the frame count and size it asked for (`rendered_video`) instead of the fixed small clip."""

    routes: list[tuple[str, str, str, str]] = []

    def __init__(self, key: str | None = "test-key-0123456789", polls_to_finish: int = 3):
        self.key = key
        self.polls_to_finish = polls_to_finish
        self.queued_polls = 1  # status queries a task stays queued before it runs
        self.fail_with: str | None = None
        self.expire_results = False
        self.render = False
        self.results: list[bytes] = []  # with `render`: each task's result, in the order the tasks were made
        self.log: list[tuple[str, str, str]] = []  # (route name, method, path)
        self.seen_auth: list[str] = []
        self.faults: dict[str, list[Fault]] = {}
        self.lock = threading.RLock()
        self._compiled = [(m, re.compile(p + r"$"), h, n) for m, p, h, n in self.routes]
        handler = type("Handler", (_Handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def root(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def inject(self, route: str, kind: str, times: int = 1, **options) -> None:
        with self.lock:
            self.faults.setdefault(route, []).extend(Fault(kind, **options) for _ in range(times))

    def count(self, route: str) -> int:
        with self.lock:
            return sum(1 for name, _, _ in self.log if name == route)

    def result_for(self, frames: int, width: int, height: int) -> bytes:
        """The video a new task will return (call once per task, when it is created)."""
        if not self.render:
            return result_video()
        self.results.append(rendered_video(frames, width, height, len(self.results)))
        return self.results[-1]

    def stage(self, polls: int) -> int:
        """0 = queued, 1 = running, 2 = finished, for a task's `polls`-th status query."""
        if polls >= self.polls_to_finish:
            return 2
        return 0 if polls <= self.queued_polls else 1

    def require_bearer(self, request: Request, reject: Reject) -> None:
        value = request.header("Authorization") or ""
        self.seen_auth.append(value)
        if self.key is not None and value != f"Bearer {self.key}":
            raise reject

    def dispatch(self, request: Request) -> tuple[Reply, float]:
        for method, pattern, handler, name in self._compiled:
            found = pattern.match(request.path)
            if method == request.method and found:
                break
        else:
            return Reply(404, {"message": f"no route {request.method} {request.path}"}), 0.0
        request.match = found.groupdict()
        with self.lock:
            self.log.append((name, request.method, request.path))
            queue = self.faults.get(name) or []
            fault = queue.pop(0) if queue else None
        delay = 0.0
        if fault is not None and fault.kind == "status":
            return Reply(fault.status, fault.body if fault.body is not None else {"message": "injected fault"},
                         fault.headers), 0.0
        if fault is not None and fault.kind == "malformed":
            return Reply(200, "<html><body>502 Bad Gateway</body></html>", content_type="text/html"), 0.0
        if fault is not None and fault.kind == "slow":
            delay = fault.delay
        try:
            with self.lock:
                reply = getattr(self, handler)(request)
        except Reject as rejected:
            reply = Reply(rejected.status, rejected.body, rejected.headers)
        reply.truncate = fault is not None and fault.kind == "truncate"
        return reply, delay


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms delayed-ACK stalls

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        reply, delay = self.fake.dispatch(Request(self.command, url.path, query, self.headers, body))
        if delay:
            time.sleep(delay)
        content_type = reply.content_type
        if isinstance(reply.body, (dict, list)):
            data, content_type = json.dumps(reply.body).encode(), content_type or "application/json"
        elif isinstance(reply.body, str):
            data, content_type = reply.body.encode(), content_type or "text/plain"
        else:
            data, content_type = reply.body, content_type or "application/octet-stream"
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data) + (4096 if reply.truncate else 0)))
            self.end_headers()
            self.wfile.write(data)
            if reply.truncate:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, *args) -> None:  # keep test output clean
        pass


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_mp4(content: bytes) -> bool:
    return content[4:8] == b"ftyp"


def is_png(content: bytes) -> bool:
    return content.startswith(b"\x89PNG\r\n\x1a\n")
