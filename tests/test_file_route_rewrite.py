"""The owner-checked file route sends one version of a file, whole, even when the file is replaced (atomically, as
every writer here does) between the response's headers and its body: the cause of h11's "Too much data for
declared Content-Length" seen during the browser walk (a thumbnail made again once the job's result existed)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from vace_ui.jobs.store import Job, JobStatus, JobStore
from vace_ui.media.video import write_video
from vace_ui.ui.identity import COOKIE, file_route, owner_of

A_COOKIE = "a" * 32


def _replace_on_start(app, path, new_bytes: bytes):
    """The ASGI app, with `path` atomically replaced by `new_bytes` the moment the response's headers go out."""

    async def wrapped(scope, receive, send):
        async def watching(message):
            if message["type"] == "http.response.start" and str(scope.get("path", "")).endswith(path.name):
                temp = path.with_name(".partial-" + path.name)
                temp.write_bytes(new_bytes)
                os.replace(temp, path)
            await send(message)

        await app(scope, receive, watching)

    return wrapped


@pytest.fixture
def served(tmp_path):
    store = JobStore(tmp_path / "outputs")
    job = Job(id="job-done", capability="edit", backend="local", status=JobStatus.SUCCEEDED,
              owner=owner_of(None, A_COOKIE, None), finished_at=1.0)
    frames = [np.full((64, 96, 3), 40 * i, dtype=np.uint8) for i in range(4)]
    job.output_path = str(write_video(store.job_dir(job.id) / "result.mp4", frames, fps=8))
    store.save(job)
    services = SimpleNamespace(config=SimpleNamespace(shared=True, admin_users=()), store=store)
    yield store, job, Starlette(routes=[file_route(services)])
    store.close()


@pytest.mark.parametrize("ranged", [False, True])
def test_result_replaced_while_sent_arrives_as_one_whole_version(served, ranged):
    store, job, app = served
    result = job.output_path
    original = open(result, "rb").read()
    bigger = original + b"\0" * 70_000  # the rewrite is larger than what the headers declared
    client = TestClient(_replace_on_start(app, type(store.output_dir)(result), bigger))
    headers = {"Range": "bytes=0-"} if ranged else {}
    answer = client.get(f"/vace/file/{job.id}/result.mp4", cookies={COOKIE: A_COOKIE}, headers=headers)
    assert answer.status_code == (206 if ranged else 200)
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.content == original  # the version whose length was declared, not a mix
    again = client.get(f"/vace/file/{job.id}/result.mp4", cookies={COOKIE: A_COOKIE})
    assert again.content[: len(original)] == original and len(again.content) == int(again.headers["content-length"])
