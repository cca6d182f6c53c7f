"""History thumbnails and delete: a job's thumbnail is the first frame of its result (or of its input video for a
failed job), served by the owner-checked route to its owner only; delete refuses another owner's or a running job."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient

from vace_ui.jobs.store import Job, JobStatus, JobStore
from vace_ui.jobs.thumbnails import job_thumbnail
from vace_ui.media.video import write_video
from vace_ui.ui.identity import COOKIE, file_route, owner_of, thumbnail_url

A_COOKIE, B_COOKIE = "a" * 32, "b" * 32


def _clip(path, colour):
    frames = [np.full((64, 96, 3), colour, dtype=np.uint8)] + [np.zeros((64, 96, 3), np.uint8)] * 3
    return str(write_video(path, frames, fps=8))


@pytest.fixture
def setup(tmp_path):
    store = JobStore(tmp_path / "outputs")
    done = Job(id="job-done", capability="edit", backend="local", status=JobStatus.SUCCEEDED,
               owner=owner_of(None, A_COOKIE, None), finished_at=1.0)
    done.output_path = _clip(store.job_dir(done.id) / "result.mp4", (200, 30, 30))
    failed = Job(id="job-failed", capability="extend", backend="local", status=JobStatus.FAILED,
                 owner=owner_of(None, A_COOKIE, None))
    failed.request = {"clips": [_clip(store.job_dir(failed.id) / "input.mp4", (30, 30, 200))]}
    running = Job(id="job-running", capability="edit", backend="local", status=JobStatus.RUNNING,
                  owner=owner_of(None, A_COOKIE, None))
    for job in (done, failed, running):
        store.save(job)
    services = SimpleNamespace(config=SimpleNamespace(shared=True, admin_users=()), store=store)
    return store, TestClient(Starlette(routes=[file_route(services)]))


def _colour(content: bytes, tmp_path) -> tuple:
    (tmp_path / "t.png").write_bytes(content)
    image = np.asarray(Image.open(tmp_path / "t.png").convert("RGB"))
    assert image.shape[0] == 160
    return tuple(int(c) for c in image[80, image.shape[1] // 2])


def test_owner_gets_thumbnails_of_result_and_failed_input(setup, tmp_path):
    store, client = setup
    for job_id, (red, blue) in (("job-done", (200, 30)), ("job-failed", (30, 200))):
        answer = client.get("/" + thumbnail_url(store.get(job_id)), cookies={COOKIE: A_COOKIE})
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        colour = _colour(answer.content, tmp_path)
        assert abs(colour[0] - red) < 25 and abs(colour[2] - blue) < 25


def test_another_visitor_gets_404_for_thumbnail_and_result(setup):
    store, client = setup
    for name in ("thumbnail.png", "result.mp4"):
        assert client.get(f"/vace/file/job-done/{name}", cookies={COOKIE: B_COOKIE}).status_code == 404
        assert client.get(f"/vace/file/job-done/{name}").status_code == 404
    assert client.get("/vace/file/job-running/thumbnail.png", cookies={COOKIE: A_COOKIE}).status_code == 404
    assert job_thumbnail(store, store.get("job-running")) is None


def test_delete_refuses_other_owner_and_running_job_then_removes_files(setup):
    store, _ = setup
    owner_a, owner_b = owner_of(None, A_COOKIE, None), owner_of(None, B_COOKIE, None)
    with pytest.raises(KeyError, match="no job"):
        store.delete("job-done", owner_b)
    with pytest.raises(ValueError, match="still running: cancel it first"):
        store.delete("job-running", owner_a)
    folder = store.output_dir / "jobs" / "job-done"
    assert folder.is_dir()
    store.delete("job-done", owner_a)
    assert not folder.exists()
    assert {job.id for job in store.list(owner=owner_a)} == {"job-running", "job-failed"}
    with pytest.raises(KeyError):
        store.get("job-done")
