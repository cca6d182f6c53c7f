"""Shared fixtures: generated media files, the tiny model, a job runner over a temporary output folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def moving_square_video(frames: int = 40, width: int = 160, height: int = 128) -> np.ndarray:
    """A textured background with a bright square moving right, RGB uint8."""
    y, x = np.mgrid[0:height, 0:width]
    background = np.stack([(x * 255 // width), (y * 255 // height), np.full_like(x, 90)], axis=-1).astype(np.uint8)
    clip = np.repeat(background[None], frames, axis=0)
    for index in range(frames):
        left = 10 + index * 2
        clip[index, 40:80, left : left + 40] = (250, 240, 20)
    return clip


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    from vace_ui.media.images import write_png
    from vace_ui.media.video import write_video

    folder = tmp_path_factory.mktemp("media")
    write_video(folder / "square.mp4", moving_square_video(), 16)
    write_video(folder / "square30.mp4", moving_square_video(90), 30)
    mask = np.zeros((128, 160), dtype=np.uint8)
    mask[40:80, 10:50] = 255
    write_png(folder / "mask.png", mask)
    write_png(folder / "ref.png", np.full((100, 60, 3), (200, 30, 30), dtype=np.uint8))
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not really a video" * 20)
    (folder / "notes.txt").write_text("not media")
    return folder


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    from vace_ui.backends.tiny_model import ensure_tiny_model

    folder = tmp_path_factory.mktemp("models")
    ensure_tiny_model(folder / "tiny-random")
    return folder


@pytest.fixture(scope="session")
def tiny_backend(tiny_models_dir):
    from vace_ui.backends.local import LocalBackend

    return LocalBackend("tiny-random", tiny_models_dir, device="cpu")


@pytest.fixture
def runner(tmp_path, tiny_backend):
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStore

    store = JobStore(tmp_path / "outputs")
    yield JobRunner(store, {"local": tiny_backend})
    store.close()


class RunningApp:
    def __init__(self, demo, url, services):
        self.demo, self.url, self.services = demo, url, services


@pytest.fixture(scope="session")
def running_app(tmp_path_factory, tiny_models_dir):
    """The real app (Gradio server on 127.0.0.1, a free port) with the tiny model and a temporary output folder."""
    from vace_ui.config import AppConfig
    from vace_ui.services import create_services
    from vace_ui.ui.app import build_app, launch_options

    config = AppConfig(model="tiny-random", models_dir=tiny_models_dir, sam_model="tiny-random",
                       tracker_model="tiny-random", output_dir=tmp_path_factory.mktemp("outputs"), device="cpu")
    services = create_services(config)
    demo = build_app(services)
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                **launch_options(services))
    yield RunningApp(demo, demo.local_url, services)
    demo.close()
