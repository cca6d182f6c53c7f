"""Each capability end to end through the job path with the tiny model (real diffusers pipeline, real files)."""

from __future__ import annotations

import numpy as np
import pytest

from vace_ui.core.errors import InputError
from vace_ui.core.requests import (
    EditRequest,
    ExtendRequest,
    MaskKeyframe,
    OutpaintRequest,
    ReferenceImage,
    ReferenceRequest,
    RepaintRequest,
)
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.store import JobStatus
from vace_ui.media.video import probe_video, read_frames, read_metadata


def small(**changes) -> GenerationSettings:
    return GenerationSettings(**{"prompt": "a dog runs", "size": "128x128", "num_frames": 9, "steps": 2,
                                 "seed": 7, **changes})


def capability_requests(media):
    return {
        "reference": ReferenceRequest((ReferenceImage(str(media / "ref.png")),)),
        "repaint": RepaintRequest(str(media / "square.mp4"), "canny"),
        "edit": EditRequest(str(media / "square.mp4"), (MaskKeyframe(str(media / "mask.png"), 0),)),
        "extend": ExtendRequest(first_clip=str(media / "square30.mp4")),
        "outpaint": OutpaintRequest(str(media / "square.mp4"), left=1.25, right=1.25),
    }


@pytest.mark.parametrize("capability", ["reference", "repaint", "edit", "extend", "outpaint"])
def test_capability_produces_mp4_of_expected_size_and_frames(runner, media_dir, capability):
    request = capability_requests(media_dir)[capability]
    job = runner.run(runner.create(request, small()).id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    info = probe_video(job.output_path)
    # the official patch-count rule at 128x128 (64 patches): 160x128 (5:4) -> oh = round(sqrt(64 * 4 / 5)) = 7,
    # ow = int(64 / 7) = 9 -> 144x112; outpainted to 15:8 -> oh = round(sqrt(64 * 8 / 15)) = 6, ow = 10 -> 160x96
    expected = {"reference": (128, 128), "repaint": (144, 112), "edit": (144, 112), "extend": (144, 112),
                "outpaint": (160, 96)}[capability]
    assert (info.width, info.height) == expected
    kept = 48 if capability == "extend" else 0  # Extend: 3 s of the first clip come on top of the 9 new frames
    assert info.frame_count == 9 + kept and info.fps == 16
    metadata = read_metadata(job.output_path)
    assert metadata["capability"] == capability and metadata["settings"]["seed"] == 7
    assert metadata["settings"]["prompt"] == "a dog runs"
    sidecar = job.output_path.replace(".mp4", ".json")
    assert '"job_id"' in open(sidecar).read()


def test_same_seed_same_video_different_seed_differs(runner, media_dir):
    request = capability_requests(media_dir)["edit"]
    first = read_frames(runner.run(runner.create(request, small()).id).output_path)
    second = read_frames(runner.run(runner.create(request, small()).id).output_path)
    third = read_frames(runner.run(runner.create(request, small(seed=8)).id).output_path)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, third)


def test_random_seed_is_drawn_and_recorded(runner, media_dir):
    job = runner.run(runner.create(capability_requests(media_dir)["reference"], small(seed=-1)).id)
    assert job.settings["seed"] >= 0 and job.info["requested_seed"] == -1


def test_progress_reports_phases_and_every_step(runner, media_dir):
    seen = []
    job = runner.create(capability_requests(media_dir)["reference"], small(steps=3))
    runner.run(job.id, seen.append)
    phases = [progress.phase.value for progress in seen]
    assert phases[0] == "prepare" and "encode" in phases and phases[-1] == "write"
    assert [p.step for p in seen if p.phase.value == "denoise"] == [1, 2]
    assert "decode" in phases and phases.index("decode") > phases.index("denoise")


def test_cancel_stops_at_next_step_and_writes_nothing(runner, media_dir):
    job = runner.create(capability_requests(media_dir)["reference"], small(steps=20))

    def cancel_on_first_step(progress):
        if progress.phase.value == "denoise":
            runner.cancel(job.id)

    finished = runner.run(job.id, cancel_on_first_step)
    assert finished.status is JobStatus.CANCELLED and finished.output_path is None
    folder = runner.store.job_dir(job.id)
    assert not list(folder.glob("*.mp4")) and not list(folder.glob(".partial-*"))
    assert list((folder / "inputs").iterdir())  # the inputs survive


def test_bad_video_fails_cleanly_and_keeps_inputs(runner, media_dir):
    job = runner.run(runner.create(RepaintRequest(str(media_dir / "corrupt.mp4"), "gray"), small()).id)
    assert job.status is JobStatus.FAILED
    assert "could not be read as a video" in job.error or "could not be decoded" in job.error
    assert "Traceback" not in job.error
    assert list((runner.store.job_dir(job.id) / "inputs").iterdir())


def test_image_where_video_expected(runner, media_dir):
    job = runner.run(runner.create(RepaintRequest(str(media_dir / "ref.png"), "gray"), small()).id)
    assert job.status is JobStatus.FAILED and "is an image; a video" in job.error


def test_missing_weights_message_names_model_size_and_command(tmp_path, media_dir):
    from vace_ui.backends.local import LocalBackend
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStore

    backend = LocalBackend("Wan-AI/Wan2.1-VACE-1.3B-diffusers", tmp_path / "models", device="cpu")
    runner = JobRunner(JobStore(tmp_path / "out"), {"local": backend})
    job = runner.run(runner.create(capability_requests(media_dir)["reference"], small()).id)
    assert job.status is JobStatus.FAILED
    assert "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in job.error and "about 18 GB" in job.error
    assert "hf download Wan-AI/Wan2.1-VACE-1.3B-diffusers --local-dir" in job.error


def test_jobs_survive_a_store_reopen(runner, media_dir):
    from vace_ui.jobs.store import JobStore

    job = runner.run(runner.create(capability_requests(media_dir)["reference"], small()).id)
    reopened = JobStore(runner.store.output_dir)
    assert reopened.get(job.id).status is JobStatus.SUCCEEDED
    assert reopened.get(job.id).output_path == job.output_path


@pytest.mark.parametrize("speed, memory", [("fast", "auto"), ("balanced", "model_offload")])
def test_speed_and_memory_modes_run_and_are_recorded(runner, media_dir, speed, memory):
    settings = small(speed_mode=speed, memory_mode=memory, steps=4)
    job = runner.run(runner.create(capability_requests(media_dir)["edit"], settings).id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert probe_video(job.output_path).frame_count == 9
    modes = read_metadata(job.output_path)["backend_info"]["local_modes"]
    assert modes["speed"] == speed and modes["requested_memory"] == memory
    assert job.settings["speed_mode"] == speed


def test_off_mode_after_fast_is_bit_identical(runner, media_dir):
    request = capability_requests(media_dir)["edit"]
    before = read_frames(runner.run(runner.create(request, small()).id).output_path)
    runner.run(runner.create(request, small(speed_mode="fast")).id)
    after = read_frames(runner.run(runner.create(request, small()).id).output_path)
    assert np.array_equal(before, after)


def test_runs_refine_the_estimate(runner, media_dir, tiny_backend, tmp_path):
    tiny_backend.measured_path = tmp_path / "measured_speed.json"
    try:
        settings = small(steps=3)
        before = tiny_backend.estimate(settings, 128, 112, 9)
        runner.run(runner.create(capability_requests(media_dir)["edit"], settings).id)
        assert tiny_backend.measured_path.exists()
        after = tiny_backend.estimate(settings, 128, 112, 9)
        assert before.basis == "model" and after.basis == "measured"
        assert after.text.startswith("about") and after.text.endswith("on this CPU")
    finally:
        tiny_backend.measured_path = None


def test_unknown_speed_mode_is_a_clear_error(runner, media_dir):
    with pytest.raises(InputError, match="speed_mode: 'ludicrous' is not one of off, balanced, fast") as raised:
        runner.create(capability_requests(media_dir)["edit"], small(speed_mode="ludicrous"))
    assert raised.value.field == "speed_mode"
