"""Who is asking: the owner of the jobs a request may see, and the route that serves result files to their owner.

- With a login, the owner is the user name: `--auth`'s (`user:NAME`), or on a Space with `hf_oauth: true` the
  Hugging Face account signed in with the page's gr.LoginButton (`hf:NAME`, gr.OAuthProfile.username).
- Without one, a random id the page keeps in the browser (localStorage, mirrored into the `vace_owner` cookie by
  `HEAD_SCRIPT`): it survives reloads and app restarts. A gradio_client is handed such a cookie with its first
  answer (ui/owned_files.py); a caller with no cookie at all (Gradio's MCP server) owns its Gradio session.
Owners are stored hashed, so the store never holds a usable browser id. Results are never exposed through
Gradio's file server (the output folder is not in `allowed_paths`): the page plays them from `/vace/file/...`,
which answers 404 unless the requester owns the job (or is an admin). Copies handed to one owner through Gradio's
own file route are owner-checked too (ui/owned_files.py).
"""

from __future__ import annotations

import functools
import hashlib
import html
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..jobs.store import ANYONE, Job, JobStore
from ..jobs.thumbnails import THUMBNAIL_NAME, input_video, job_thumbnail

SOURCE_NAME = "source"

COOKIE = "vace_owner"
FILE_ROUTE = "/vace/file"
_VALID_ID = re.compile(r"^[0-9a-f]{32}$")

HEAD_SCRIPT = f"""<script>
(function () {{
  var name = "{COOKIE}", id = null;
  try {{ id = localStorage.getItem(name); }} catch (e) {{}}
  if (!id || !/^[0-9a-f]{{32}}$/.test(id)) {{
    var bytes = new Uint8Array(16); crypto.getRandomValues(bytes);
    id = Array.from(bytes, function (b) {{ return b.toString(16).padStart(2, "0"); }}).join("");
    try {{ localStorage.setItem(name, id); }} catch (e) {{}}
  }}
  document.cookie = name + "=" + id + "; path=/; max-age=31536000; SameSite=Strict";
}})();
</script>"""


def _hashed(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class Viewer:
    """owner: the jobs this request creates and sees. admin: sees every job. legacy: also sees jobs recorded
    before owners existed (a single-user app on localhost)."""

    owner: str
    admin: bool = False
    legacy: bool = False

    @property
    def owners(self):
        if self.admin:
            return ANYONE
        return (self.owner, "") if self.legacy else self.owner

    def job(self, store: JobStore, job_id: str | None) -> Job:
        """The job if this viewer may see it; KeyError ("no job ...") otherwise, the same as a missing job."""
        if not job_id:
            raise KeyError("no job")
        return store.get(str(job_id), self.owners)


def owner_of(username: str | None, cookie: str | None, session_hash: str | None,
             hf_username: str | None = None) -> str:
    if username:
        return f"user:{username}"
    if hf_username:
        return f"hf:{hf_username}"
    if cookie and _VALID_ID.match(cookie):
        return _hashed("browser", cookie)
    return _hashed("session", session_hash or "none")


def viewer_of(config, username: str | None, cookie: str | None, session_hash: str | None,
              hf_username: str | None = None) -> Viewer:
    login = username or hf_username
    return Viewer(owner_of(username, cookie, session_hash, hf_username),
                  admin=bool(login) and login in config.admin_users, legacy=not config.shared)


def oauth_username(source) -> str | None:
    """The Hugging Face user signed in on a Space (gr.LoginButton), from the OAuth session Gradio keeps in its
    signed `session` cookie; None when nobody is signed in, the login expired, or the app has no OAuth.
    `source`: a gr.Request or a Starlette request."""
    from gradio import OAuthProfile

    underlying = getattr(source, "request", None) or source
    scope = getattr(underlying, "scope", None)
    session = scope.get("session") if isinstance(scope, dict) else None
    info = session.get("oauth_info") if isinstance(session, Mapping) else None
    if not isinstance(info, Mapping) or not isinstance(info.get("userinfo"), Mapping):
        return None
    if info.get("expires_at") is not None and info["expires_at"] < time.time():
        return None
    try:
        return OAuthProfile(dict(info["userinfo"])).username or None
    except KeyError:
        return None


def request_viewer(config, request) -> Viewer:
    """The viewer of a Gradio event (gr.Request)."""
    if request is None:
        return viewer_of(config, None, None, None)
    cookies = getattr(request, "cookies", None) or {}
    return viewer_of(config, getattr(request, "username", None), cookies.get(COOKIE),
                     getattr(request, "session_hash", None), oauth_username(request))


def http_viewer(config, request) -> Viewer | None:
    """The viewer of a plain HTTP request (a Starlette request) to the app; None when `--auth` wants a login
    and the request has none."""
    app = request.scope.get("app")
    cookie_id = getattr(app, "cookie_id", "")
    cookies = request.cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    username = getattr(app, "tokens", {}).get(token) if token else None
    if getattr(app, "auth", None) and not username:
        return None
    return viewer_of(config, username, request.cookies.get(COOKIE), None, oauth_username(request))


def result_url(job: Job) -> str:
    """Relative to the page, so it works behind a share link or a Space's proxy."""
    return f"{FILE_ROUTE.lstrip('/')}/{job.id}/result.mp4?v={int(job.finished_at or 0)}"


def thumbnail_url(job: Job) -> str:
    """The owner-checked thumbnail of a job, relative to the page."""
    return f"{FILE_ROUTE.lstrip('/')}/{job.id}/{THUMBNAIL_NAME}?v={int(job.finished_at or 0)}"


def source_url(job: Job) -> str:
    """The owner-checked input video of a job (its "before"), relative to the page; "" when it has none."""
    if input_video(job) is None:
        return ""
    return f"{FILE_ROUTE.lstrip('/')}/{job.id}/{SOURCE_NAME}?v={int(job.created_at or 0)}"


def result_html(job: Job | None) -> str:
    """The result player (and a download link) for the page; empty when there is no result."""
    if job is None or not job.output_path:
        return ""
    url = html.escape(result_url(job), quote=True)
    return (f'<video src="{url}" controls playsinline preload="metadata" style="width:100%;max-height:480px">'
            f'</video><div><a href="{url}" download="{html.escape(job.id)}.mp4">Download the MP4</a></div>')


@functools.cache
def export_dir() -> Path:
    """Scratch folder for copies handed to a caller known only by its Gradio session (see ui/owned_files.py)."""
    return Path(tempfile.mkdtemp(prefix="vace-export-"))


def pinned_file_response(path: str | Path, **options):
    """A Starlette FileResponse whose Content-Length and bytes come from one open file.

    Starlette's own FileResponse stats the path, sends the headers, then opens the path again to read it: a file
    replaced in between (an atomic rewrite, e.g. a thumbnail made again once the job's result exists) is sent with
    the old length and the new bytes, and h11 cuts the connection ("Too much data for declared Content-Length").
    Here the file is opened first and its length taken from that open handle; a rewrite then changes nothing for a
    response already under way."""
    from contextlib import asynccontextmanager

    import anyio
    from starlette.responses import FileResponse

    class _Pinned(FileResponse):
        def __init__(self, handle, **kwargs):
            self._handle = handle
            super().__init__(path, stat_result=os.fstat(handle.fileno()), **kwargs)

        @asynccontextmanager
        async def _open_file(self):
            self._handle.seek(0)
            yield anyio.wrap_file(self._handle)

        async def __call__(self, scope, receive, send):
            extensions = {k: v for k, v in (scope.get("extensions") or {}).items() if k != "http.response.pathsend"}
            try:  # pathsend would make the server open the path again
                await super().__call__({**scope, "extensions": extensions}, receive, send)
            finally:
                self._handle.close()

        def __del__(self):
            self._handle.close()

    return _Pinned(open(path, "rb"), **options)  # noqa: SIM115 - closed when the response is sent (or collected)


def file_route(services):
    """The Starlette route serving a job's result (and its thumbnail) to its owner only (404 for everyone else)."""
    import anyio
    from starlette.responses import Response
    from starlette.routing import Route

    config, store = services.config, services.store

    async def serve(request):
        viewer = http_viewer(config, request)
        if viewer is None:
            return Response("Not logged in.", status_code=401)
        try:
            job = viewer.job(store, request.path_params["job_id"])
        except KeyError:
            return Response("Not found.", status_code=404)
        private = {"Cache-Control": "private, no-store"}
        if request.path_params["name"] == THUMBNAIL_NAME:
            # decoding a frame off the event loop: the server keeps answering other requests meanwhile
            thumbnail = await anyio.to_thread.run_sync(job_thumbnail, store, job)
            if thumbnail is None:
                return Response("Not found.", status_code=404)
            return pinned_file_response(thumbnail, media_type="image/png", headers=private)
        if request.path_params["name"] == SOURCE_NAME:
            source = input_video(job)
            if source is None:
                return Response("Not found.", status_code=404)
            try:
                return pinned_file_response(source, headers=private)
            except FileNotFoundError:  # deleted since the check above
                return Response("Not found.", status_code=404)
        if request.path_params["name"] != "result.mp4" or not job.output_path or not Path(job.output_path).is_file():
            return Response("Not found.", status_code=404)
        try:
            return pinned_file_response(job.output_path, media_type="video/mp4", filename=f"{job.id}.mp4",
                                        content_disposition_type="inline", headers=private)
        except FileNotFoundError:  # deleted since the check above
            return Response("Not found.", status_code=404)

    return Route(FILE_ROUTE + "/{job_id}/{name}", serve, methods=["GET", "HEAD"])
