"""Through the app's API, a job that gives no size: a backend with fixed sizes takes its own default (DashScope:
its first declared size, 1280x720) instead of failing on the app's 832x480, and the job's notes say which."""

from __future__ import annotations

import pytest
from fakes.dashscope_fake import FakeDashScope
from fakes.harness import KEY
from fakes.replicate_fake import FakeReplicate
from gradio_client import Client, handle_file


@pytest.fixture(scope="module")
def client(running_app):
    return Client(running_app.url, verbose=False)


def test_dashscope_without_size_takes_its_default_and_says_so(running_app, client, media_dir):
    backend = running_app.services.backends["dashscope"]
    default = backend.capabilities().sizes[0]
    with FakeDashScope(key=KEY) as fake:
        backend.set_base_url(fake.base_url)
        backend.set_api_key(KEY)
        backend.poll_interval = 0.02
        try:
            _, job = client.predict(handle_file(str(media_dir / "ref.png")), None, None, "subject",
                                    {"prompt": "a dog runs", "backend": "dashscope", "num_frames": 17},
                                    api_name="/reference")
        finally:
            backend.set_base_url(None)
            backend.set_api_key(None)
    assert fake.created[-1]["parameters"]["size"] == default.replace("x", "*")
    assert job["settings"]["size"] == default
    assert any(f"DashScope's default {default}" in note for note in job["notes"])


def test_a_raw_vace_provider_without_size_gets_its_nearest_size_through_the_api(running_app, client, media_dir):
    """square.mp4 is 160x128 (5:4), outpainted to 1.875:1. Of Replicate's sizes 1280x720 (1.78:1) is nearest in
    aspect and 832x480 (1.73:1) within 3% of it; the one nearer the default 832x480 area wins: 832x480."""
    backend = running_app.services.backends["replicate"]
    with FakeReplicate(key=KEY) as fake:
        backend.set_base_url(fake.base_url)
        backend.set_api_key(KEY)
        backend.poll_interval = 0.02
        try:
            _, job = client.predict(handle_file(str(media_dir / "square.mp4")), 1.0, 1.0, 1.0, 1.5,
                                    {"prompt": "a dog runs", "backend": "replicate", "num_frames": 17},
                                    api_name="/outpaint")
        finally:
            backend.set_base_url(None)
            backend.set_api_key(None)
    assert fake.created[-1]["input"]["size"] == "832*480" and job["settings"]["size"] == "832x480"
    assert any("832x480, the Replicate size nearest in aspect" in note for note in job["notes"])
