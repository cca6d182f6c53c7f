"""Every capability each provider supports, driven through the app's named API endpoints to a fake provider on
127.0.0.1, ending in a playable MP4 recorded in the job store (History) with the provider's task id."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.comfyui_fake import FakeComfyUI
from fakes.dashscope_fake import FakeDashScope
from fakes.harness import KEY
from fakes.jiekou_fake import FakeJiekou
from fakes.replicate_fake import FakeReplicate
from fakes.wavespeed_fake import FakeWaveSpeed
from gradio_client import Client, handle_file

from vace_ui.media.video import probe_video, read_metadata

FAKES = {"dashscope": lambda: FakeDashScope(key=KEY), "wavespeed": lambda: FakeWaveSpeed(key=KEY),
         "replicate": lambda: FakeReplicate(key=KEY), "comfyui": lambda: FakeComfyUI(token=KEY),
         "jiekou": lambda: FakeJiekou(key=KEY)}
# Each provider's documented limits: DashScope 720P, WaveSpeed 5-10 s (81+ frames), ComfyUI 480P, Jiekou 81 frames.
PROVIDER_SETTINGS = {"dashscope": {"size": "1280x720", "num_frames": 17}, "wavespeed": {"num_frames": 81},
                     "replicate": {"num_frames": 17}, "comfyui": {"num_frames": 17}, "jiekou": {"num_frames": 81}}


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """6 s at 16 fps: enough for WaveSpeed's 81-frame minimum."""
    from conftest import moving_square_video

    from vace_ui.media.video import write_video

    clip = np.concatenate([moving_square_video(48), moving_square_video(48)[::-1]])
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", clip, 16)


def _calls(media, provider, long_video):
    control = "depth" if provider == "dashscope" else "canny"  # DashScope extracts depth itself; others get ours
    video, mask, ref = (handle_file(str(media / name)) for name in ("square.mp4", "mask.png", "ref.png"))
    if PROVIDER_SETTINGS[provider]["num_frames"] > 40:
        video = handle_file(str(long_video))
    return {
        "text": ("/reference", (None, None, None, "")),
        "reference": ("/reference", (ref, None, None, "subject")),
        "repaint": ("/repaint", (video, control, 1.0, None)),
        "edit": ("/edit", (video, mask, 0, None, "tracking", 0.05)),
        "extend": ("/extend", (video, None, None, None)),
        "outpaint": ("/outpaint", (video, 1.0, 1.0, 1.5, 1.5)),
    }


SUPPORTED = {
    "dashscope": ["reference", "repaint", "edit", "extend", "outpaint"],
    "wavespeed": ["text", "reference", "repaint", "edit", "extend", "outpaint"],
    "replicate": ["text", "reference", "repaint", "edit", "extend", "outpaint"],
    "comfyui": ["text", "reference", "repaint", "edit", "extend", "outpaint"],
    "jiekou": ["text"],
}


@pytest.fixture(scope="module")
def client(running_app):
    return Client(running_app.url, verbose=False)


@pytest.mark.parametrize("provider", list(SUPPORTED))
def test_each_capability_through_the_api(running_app, client, media_dir, long_video, provider):
    backend = running_app.services.backends[provider]
    with FAKES[provider]() as fake:
        backend.set_base_url(fake.base_url)
        backend.set_api_key(KEY)
        backend.poll_interval = 0.02
        try:
            for capability in SUPPORTED[provider]:
                endpoint, args = _calls(media_dir, provider, long_video)[capability]
                settings = {"prompt": "a dog runs", "seed": 5, "backend": provider, **PROVIDER_SETTINGS[provider]}
                path, job = client.predict(*args, settings, api_name=endpoint)
                assert probe_video(path).frame_count > 0, (provider, capability)
                assert read_metadata(path)["backend"] == provider
                stored = running_app.services.store.get(job["job_id"])
                assert stored.status.value == "succeeded" and stored.remote_task_id, (provider, capability)
        finally:
            backend.set_base_url(None)
            backend.set_api_key(None)
        assert fake.count("submit") == len(SUPPORTED[provider])


def test_unsupported_capability_is_explained_before_any_upload(running_app, client, media_dir, long_video):
    backend = running_app.services.backends["jiekou"]
    with FakeJiekou(key=KEY) as fake:
        backend.set_base_url(fake.base_url)
        backend.set_api_key(KEY)
        try:
            endpoint, args = _calls(media_dir, "jiekou", long_video)["outpaint"]
            with pytest.raises(Exception) as raised:
                client.predict(*args, {"prompt": "a", "backend": "jiekou", "num_frames": 81}, api_name=endpoint)
            assert "Jiekou Wan 2.1 T2V does not offer 'outpaint'" in str(raised.value)
            assert "Job " not in str(raised.value)  # refused before a job was even created
            assert fake.log == []  # nothing was sent
        finally:
            backend.set_base_url(None)
            backend.set_api_key(None)
