"""A control video computed for a preview is reused by Generate (the job works on its own copy of the file)."""

from __future__ import annotations

import numpy as np

from vace_ui.config import AppConfig
from vace_ui.core.requests import RepaintRequest
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.context import file_context
from vace_ui.jobs.preview import compile_preview
from vace_ui.jobs.store import JobStatus
from vace_ui.media.video import probe_video
from vace_ui.services import create_services
from vace_ui.ui.tabs import quick_control_preview


def test_preview_then_generate_reuses_the_control(tmp_path, tiny_models_dir, media_dir):
    services = create_services(AppConfig(model="tiny-random", models_dir=tiny_models_dir, output_dir=tmp_path,
                                         device="cpu"))
    request = RepaintRequest(str(media_dir / "square.mp4"), "flow")
    settings = GenerationSettings(prompt="a dog", size="128x128", num_frames=9, steps=1, seed=1)
    preview = compile_preview(request, settings, file_context(cache=services.control_cache))
    assert services.control_cache.misses == 1 and services.control_cache.hits == 0
    job = services.runner.run(services.runner.create(request, settings).id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert services.control_cache.hits == 1
    again = compile_preview(request, settings, file_context(cache=services.control_cache))
    assert np.array_equal(again.video, preview.video)


def test_a_different_clip_or_kind_is_not_served_from_the_cache(tmp_path, media_dir):
    from vace_ui.jobs.control_cache import ControlCache

    cache = ControlCache()
    settings = GenerationSettings(prompt="a", size="128x128", num_frames=9)
    gray = compile_preview(RepaintRequest(str(media_dir / "square.mp4"), "gray"), settings, file_context(cache=cache))
    canny = compile_preview(
        RepaintRequest(str(media_dir / "square.mp4"), "canny"), settings, file_context(cache=cache)
    )
    other = compile_preview(
        RepaintRequest(str(media_dir / "square30.mp4"), "gray"), settings, file_context(cache=cache)
    )
    assert cache.hits == 0 and cache.misses == 3
    assert not np.array_equal(gray.video, canny.video) and not np.array_equal(gray.video, other.video)


def test_quick_control_preview_is_source_beside_control(tmp_path, media_dir):
    path = quick_control_preview(RepaintRequest(str(media_dir / "square.mp4"), "canny"), tmp_path)
    info = probe_video(path)
    assert (info.frame_count, info.width, info.height) == (17, 2 * 704, 560)  # 160x128 at the 832x480 area
