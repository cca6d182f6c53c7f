"""`python app.py --mcp` with the tiny model, driven by an MCP client (the `mcp` package) over streamable HTTP:
the five capability tools are listed with typed, documented parameters, and /edit returns a real video."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from vace_ui.media.video import probe_video

ROOT = Path(__file__).resolve().parent.parent
TOOLS = {"reference", "repaint", "edit", "extend", "outpaint"}
SETTINGS = {"prompt": "a dog runs", "size": "128x128", "num_frames": 9, "steps": 2, "seed": 3}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory, tiny_models_dir):
    port = _free_port()
    env = {**os.environ, "VACE_MODEL": "tiny-random", "VACE_MODELS_DIR": str(tiny_models_dir), "VACE_DEVICE": "cpu",
           "VACE_SAM_MODEL": "tiny-random", "VACE_OUTPUT_DIR": str(tmp_path_factory.mktemp("mcp-outputs")),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    log = tmp_path_factory.mktemp("mcp-log") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "app.py", "--mcp", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise AssertionError(f"app.py --mcp exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + "/gradio_api/mcp/schema", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"app.py --mcp did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _session(url: str, action):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(url + "/gradio_api/mcp/") as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await action(session)


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def test_lists_the_five_capability_tools_typed_and_documented(mcp_server):
    async def list_tools(session):
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in asyncio.run(_session(mcp_server, list_tools))}
    assert TOOLS <= set(tools), sorted(tools)
    edit = tools["edit"]
    assert "masked region" in edit.description
    properties = edit.inputSchema["properties"]
    assert list(properties)[:3] == ["video", "mask_image", "mask_frame"]
    assert properties["mask_frame"]["type"] in ("number", "integer")
    assert properties["cut_occluders"]["type"] == "boolean"
    assert "white = regenerate" in properties["mask_image"]["description"]
    assert "prompt" in properties["settings"]["description"]
    assert properties["video"]["format"].startswith("Gradio File Input")
    for name in TOOLS:
        described = tools[name].inputSchema["properties"]
        assert all(described[key].get("description") for key in described), (name, described)


def test_edit_on_the_tiny_model_returns_the_video(mcp_server, media_dir, tmp_path):
    arguments = {"video": _data_url(media_dir / "square.mp4", "video/mp4"),
                 "mask_image": _data_url(media_dir / "mask.png", "image/png"), "mask_frame": 0,
                 "mask_type": "fixed", "expand_ratio": 0.1, "settings": SETTINGS, "mask_shape": "exact",
                 "cut_occluders": True}

    async def call(session):
        return await session.call_tool("edit", arguments)

    result = asyncio.run(_session(mcp_server, call))
    assert not result.isError, result.content
    texts = [item.text for item in result.content if item.type == "text"]
    # Gradio's queued MCP path returns a two-output endpoint as one text item (the list of both outputs).
    video_url = re.search(r"(http://[^'\" ]+/gradio_api/file=[^'\" ]+\.mp4)", " ".join(texts)).group(1)
    assert video_url.startswith(mcp_server)
    path = tmp_path / "result.mp4"
    path.write_bytes(httpx.get(video_url, timeout=30).content)
    info = probe_video(str(path))
    assert (info.width, info.height, info.frame_count) == (144, 112, 9)  # 160x128 input kept at 128x128's area
    assert "'status': 'succeeded'" in " ".join(texts)
