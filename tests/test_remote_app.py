"""Remote backends inside the app: through the API to a fake provider, keys kept out of everything, and a job that
survives the app being killed and restarted mid-job."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.harness import KEY
from fakes.replicate_fake import FakeReplicate
from gradio_client import Client, handle_file

from vace_ui.media.video import probe_video, read_metadata

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {"prompt": "a dog runs", "size": "832x480", "num_frames": 17, "steps": 4, "seed": 3, "backend": "replicate"}


@pytest.fixture
def replicate_in_app(running_app):
    backend = running_app.services.backends["replicate"]
    with FakeReplicate(key=KEY, polls_to_finish=2) as fake:
        backend.set_base_url(fake.base_url)
        backend.set_api_key(KEY)
        backend.poll_interval = 0.05
        yield fake
        backend.set_base_url(None)
        backend.set_api_key(None)


def test_edit_through_the_api_on_a_fake_provider(running_app, replicate_in_app, media_dir):
    client = Client(running_app.url, verbose=False)
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")),
                               0, None, "fixed", 0.05, SETTINGS, api_name="/edit")
    info = probe_video(path)
    assert info.frame_count == 12  # the fake's result, downloaded and re-muxed with our metadata
    assert read_metadata(path)["backend"] == "replicate"
    stored = running_app.services.store.get(job["job_id"])
    assert stored.backend == "replicate" and stored.remote_task_id
    assert replicate_in_app.created[0]["input"]["prompt"] == "a dog runs"
    everything = Path(running_app.services.config.output_dir)
    for file in everything.rglob("*"):
        if file.is_file():
            assert KEY.encode() not in file.read_bytes(), f"key leaked into {file}"


def test_a_text_only_edit_sends_sam3s_masks_to_the_provider(running_app, replicate_in_app, media_dir, tmp_path):
    """mask_text alone on a hosted backend: SAM 3 runs here (tiny random build), and the provider receives that
    mask as its src_mask video, one mask per frame (white = regenerate), with nothing painted."""
    from vace_ui.core.compile import compile_request
    from vace_ui.core.requests import request_from_dict
    from vace_ui.core.settings import GenerationSettings
    from vace_ui.jobs.sizing import for_backend
    from vace_ui.media.video import read_frames

    client = Client(running_app.url, verbose=False)
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), None, 0, None, "fixed", 0.0, SETTINGS,
                               "exact", True, "flow", "the square", api_name="/edit")
    stored = running_app.services.store.get(job["job_id"])
    assert stored.backend == "replicate" and stored.status.value == "succeeded"
    assert stored.request["mask_text"] == "the square" and not stored.request.get("keyframes")
    sent = replicate_in_app.file_content(replicate_in_app.created[-1]["input"]["src_mask"])
    (tmp_path / "mask.mp4").write_bytes(sent)
    received = read_frames(tmp_path / "mask.mp4")[..., 0] >= 128
    services = running_app.services
    request = request_from_dict("edit", stored.request)
    backend = services.backends["replicate"]
    context = for_backend(services.runner.context_factory(), backend.capabilities(), backend.label)
    expected = compile_request(request, GenerationSettings.from_dict(stored.settings), context).mask > 0
    assert received.shape == expected.shape[:3]
    assert all(frame.any() for frame in expected) and (~expected).any()
    agree = [(r & e).sum() / max(1, (r | e).sum()) for r, e in zip(received, expected)]
    assert min(agree) >= 0.95, agree  # the same masks, through the video codec
    assert probe_video(path).frame_count == 12


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_app(env: dict, log: Path, args: list[str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), *(args or [])], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _job_row(db: Path):
    if not db.exists():
        return None
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT id, status, remote_task_id, output_path FROM jobs").fetchone()


def test_kill_and_restart_mid_job_completes_the_remote_job(tmp_path, tiny_models_dir, media_dir):
    port, output = _free_port(), tmp_path / "outputs"
    log = tmp_path / "app.log"
    with FakeReplicate(key=KEY, polls_to_finish=10**6) as fake:
        env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "VACE_MODEL": "tiny-random",
               "VACE_MODELS_DIR": str(tiny_models_dir), "VACE_OUTPUT_DIR": str(output),
               "VACE_REPLICATE_BASE_URL": fake.base_url, "REPLICATE_API_TOKEN": KEY,
               "VACE_REMOTE_POLL_SECONDS": "0.1", "VACE_LOG_LEVEL": "DEBUG"}
        app = _start_app(env, log)
        try:
            client = _wait_for(lambda: _try_client(port), 90, "the app to start")
            client.submit(
                handle_file(str(media_dir / "ref.png")), None, None, "subject", SETTINGS, api_name="/reference"
            )
            job_id, _, task_id, _ = _wait_for(lambda: (row := _job_row(output / "jobs.sqlite")) and row[2] and row,
                                              90, "the remote task id to be stored")
            app.kill()
            app.wait(30)
            assert _job_row(output / "jobs.sqlite")[1] == "running"
            fake.polls_to_finish = 0  # the provider finishes while the app is down
            app = _start_app(env, log)
            _, status, _, path = _wait_for(
                lambda: (row := _job_row(output / "jobs.sqlite")) and row[1] == "succeeded" and row, 90,
                "the resumed job to finish")
            assert probe_video(path).frame_count == 12
            assert fake.count("submit") == 1  # resumed, not submitted again
        finally:
            app.kill()
            app.wait(30)
    assert KEY not in log.read_text(errors="replace")


def _try_client(port: int):
    try:
        return Client(f"http://127.0.0.1:{port}/", verbose=False)
    except Exception:
        return None
