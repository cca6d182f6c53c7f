"""Files the app hands to one owner through Gradio's own file route, refused to everyone else.

Gradio serves `/gradio_api/file=<path>` for a file in its cache to anyone who has the URL. What the app hands to
an owner (inputs restored from History, the API's result file, a preview, an input bundle) is written instead to
`<Gradio cache>/vace-owned/<owner digest>/<random>/<name>`: Gradio serves a file already inside its cache as it
is (no content-hashed copy), and `OwnedFilesMiddleware` answers 404 for such a path unless the request comes from
that owner or an admin. gradio_client downloads a result by that path with its cookies, so an API client still
gets its own result. To give an API client an owner it can show when it downloads, the middleware hands a
`vace_owner` cookie to a non-browser client that fetches /config without one (gradio_client keeps the cookies of
that first answer for every later request).

A caller known only by its Gradio session cannot show who it is when it fetches a file: an MCP client (Gradio's
MCP server calls the app through one internal gradio_client for everyone) or a client that keeps no cookies.
Its files are plain Gradio cache files, reachable by their unguessable URL alone.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..jobs.policy import owner_digest
from .identity import COOKIE, export_dir, http_viewer

OWNED = "vace-owned"
COOKIE_AGE = 31536000


def owned_root() -> Path:
    """The folder inside Gradio's cache that holds every owner's handed-out files."""
    from gradio import utils as gradio_utils

    return Path(gradio_utils.get_upload_folder()).resolve() / OWNED


def checkable(owner: str) -> bool:
    """Whether a request can show this owner when it fetches a file: a login or a browser id, not a bare session."""
    return not owner.startswith("session:")


def owner_folder(owner: str) -> Path:
    """A fresh folder for one file handed to `owner` (a Gradio-session owner gets a plain scratch folder)."""
    parent = owned_root() / owner_digest(owner) if checkable(owner) else export_dir()
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent))


def hand_over(data, output_dir: Path, owner: str):
    """`data` (a job's request, or a path) with every file inside the output folder replaced by a copy in a folder
    of `owner`'s, for handing to a Gradio component: the output folder itself is never exposed to Gradio's file
    server, and the copy is served to `owner` only."""
    if isinstance(data, dict):
        return {key: hand_over(value, output_dir, owner) for key, value in data.items()}
    if isinstance(data, list):
        return [hand_over(item, output_dir, owner) for item in data]
    if isinstance(data, str) and data:
        path = Path(data)
        if path.is_absolute() and path.is_file() and path.resolve().is_relative_to(Path(output_dir).resolve()):
            target = owner_folder(owner) / path.name
            shutil.copyfile(path, target)
            return str(target)
    return data


def owned_by(path_text: str) -> str | None:
    """The owner digest of a path under the owned folder; None for any other path."""
    try:
        path = Path(os.path.abspath(path_text)).resolve()
    except (OSError, ValueError):
        return None
    root = owned_root()
    if not path.is_relative_to(root) or path == root:
        return None
    return path.relative_to(root).parts[0]


def _api_client(request) -> bool:
    """A gradio_client of a person (not a browser, whose page keeps its own id; not Gradio's MCP server, whose
    one internal client calls for every MCP caller)."""
    return "mozilla" not in request.headers.get("user-agent", "").lower() and \
        request.headers.get("x-gradio-user") != "mcp"


@dataclass
class OwnedFilesMiddleware:
    """ASGI middleware (see the module docstring): owner-checks Gradio's file route for owned files, and gives a
    cookie-less API client its owner cookie. `config` is the AppConfig (admins, login modes)."""

    app: object
    config: object

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        from starlette.requests import Request
        from starlette.responses import Response

        path = scope.get("path", "")
        request = Request(scope)
        if "/file=" in path:
            digest = owned_by(path.split("/file=", 1)[1])
            if digest is not None:
                viewer = http_viewer(self.config, request)
                if viewer is None or not (viewer.admin or owner_digest(viewer.owner) == digest):
                    response = Response("Not found.", status_code=404, headers={"Cache-Control": "no-store"})
                    return await response(scope, receive, send)
        elif path.rstrip("/").endswith("/config") and COOKIE not in request.cookies and _api_client(request):
            cookie = f"{COOKIE}={secrets.token_hex(16)}; Path=/; Max-Age={COOKIE_AGE}; SameSite=Strict".encode()

            async def with_cookie(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
                await send(message)

            return await self.app(scope, receive, with_cookie)
        return await self.app(scope, receive, send)
