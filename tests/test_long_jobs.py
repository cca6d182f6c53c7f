"""Long videos through the job path on the tiny model (real pipeline, real files): windows, progress, cancel with a
partial result, resume after cancel and after a restart."""

from __future__ import annotations

import numpy as np
import pytest

from vace_ui.core.requests import EditRequest, MaskKeyframe, OutpaintRequest, RepaintRequest
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.runner import JobRunner
from vace_ui.jobs.store import JobStatus
from vace_ui.media.video import probe_video, read_frames, read_metadata

# 17 frames in windows of 9 overlapping by 4: 0-8, 5-13, 8-16 (the last keeps 6 to stay 4n+1)
SPANS = [[0, 8], [5, 13], [8, 16]]


def long_settings(**changes) -> GenerationSettings:
    return GenerationSettings(**{"prompt": "a dog runs\na cat runs", "size": "128x128", "num_frames": 17, "steps": 2,
                                 "seed": 7, "window_frames": 9, "window_overlap": 4, **changes})


def requests(media):
    return {
        "repaint": RepaintRequest(str(media / "square.mp4"), "gray"),
        "edit": EditRequest(str(media / "square.mp4"), (MaskKeyframe(str(media / "mask.png"), 0),)),
        "outpaint": OutpaintRequest(str(media / "square.mp4"), left=1.25, right=1.25),
    }


@pytest.mark.parametrize("capability", ["repaint", "edit", "outpaint"])
def test_three_window_job_end_to_end(runner, media_dir, capability):
    messages = []
    job = runner.create(requests(media_dir)[capability], long_settings())
    job = runner.run(job.id, lambda progress: messages.append(progress.text))
    assert job.status is JobStatus.SUCCEEDED, job.error
    info = probe_video(job.output_path)
    assert info.frame_count == 17 and info.fps == 16
    metadata = read_metadata(job.output_path)
    assert metadata["num_frames"] == 17
    assert metadata["windows"]["spans"] == SPANS and metadata["windows"]["overlap"] == 4
    assert metadata["windows"]["color_strength"] == 1.0
    assert job.notes[0].startswith("3 windows: 0-8, 5-13, 8-16")
    assert "one prompt per window: a dog runs | a cat runs | a cat runs" in job.notes
    for number in (1, 2, 3):
        assert f"denoise 1/2: window {number}/3, step 1/2" in messages
    folder = runner.store.job_dir(job.id) / "windows"
    assert sorted(path.name for path in folder.glob("*.mp4")) == ["000.mp4", "001.mp4", "002.mp4"]
    # each segment adds the frames up to where the next window starts keeping: 5, 3 (8 - 5), and the last 9
    assert [probe_video(folder / f"00{index}.mp4").frame_count for index in range(3)] == [5, 3, 9]


def test_later_windows_start_from_the_previous_windows_frames(runner, media_dir, tiny_backend, monkeypatch):
    """Each window's inputs keep the previous window's last frames (mask black) as generated and corrected."""
    seen = []
    original = tiny_backend.generate

    def spy(job, reporter):
        seen.append((job.inputs.video.copy(), job.inputs.mask.copy(), job.settings.prompt))
        result = original(job, reporter)
        seen[-1] += (result.frames.copy(),)
        return result

    monkeypatch.setattr(tiny_backend, "generate", spy)
    job = runner.run(runner.create(requests(media_dir)["edit"], long_settings(color_strength=0.0)).id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert [len(entry[0]) for entry in seen] == [9, 9, 9]
    assert [entry[2] for entry in seen] == ["a dog runs", "a cat runs", "a cat runs"]
    # window 2 keeps window 1's frames 5-8; window 3 keeps window 2's frames 3-8 (global 8-13), the first of them
    # (global 8) as cross-faded with window 1
    assert np.array_equal(seen[1][0][:4], seen[0][3][5:9]) and (seen[1][1][:4] == 0).all()
    assert np.array_equal(seen[2][0][1:6], seen[1][3][4:9]) and (seen[2][1][:6] == 0).all()
    faded = np.rint(seen[0][3][8] * 0.2 + seen[1][3][3] * 0.8)  # overlap frame 4 of 4: weight 4/5 on window 2
    assert np.abs(seen[2][0][0].astype(int) - faded).max() <= 1
    assert (seen[1][1][4:] == 255).any()  # after the kept frames the edit region is generated again


def test_cancel_keeps_finished_windows_then_running_again_resumes(runner, media_dir):
    job = runner.create(requests(media_dir)["repaint"], long_settings())

    def cancel_in_window_two(progress):
        if "window 2/3, step 1/2" in progress.text:
            runner.cancel(job.id)

    cancelled = runner.run(job.id, cancel_in_window_two)
    assert cancelled.status is JobStatus.CANCELLED
    assert "windows 1-1 are kept" in cancelled.error
    # window 1 whole: its 5 frames of its own plus the 4 the next window would have blended
    assert probe_video(cancelled.output_path).frame_count == 9 and cancelled.output_path.endswith("partial.mp4")
    messages = []
    done = runner.run(job.id, lambda progress: messages.append(progress.text))
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert not any("window 1/3" in text for text in messages)  # window 1 was not generated again
    assert any("window 2/3" in text for text in messages)
    assert "resumed after window 1 of 3 (saved earlier)" in done.notes
    assert probe_video(done.output_path).frame_count == 17


def test_an_app_restart_resumes_after_the_last_finished_window(runner, media_dir, tiny_backend):
    job = runner.create(requests(media_dir)["outpaint"], long_settings())

    def stop_in_window_three(progress):
        if "window 3/3" in progress.text:
            runner.cancel(job.id)

    runner.run(job.id, stop_in_window_three)
    runner.store.update(job.id, status=JobStatus.RUNNING)  # as a process killed mid-window leaves it
    restarted = JobRunner(runner.store, {"local": tiny_backend})
    threads = restarted.recover_after_restart()
    assert len(threads) == 1
    threads[0].join(timeout=300)
    finished = runner.store.get(job.id)
    assert finished.status is JobStatus.SUCCEEDED, finished.error
    assert "resumed after window 2 of 3 (saved earlier)" in finished.notes
    frames = read_frames(finished.output_path)
    assert frames.shape[0] == 17


def test_each_window_is_released_before_the_next_is_read(tmp_path, media_dir):
    """Only one window's frames are alive at a time: when window k+1 reaches the model, window k's output (and
    anything viewing it, like the kept tail) has been freed."""
    import gc
    import weakref

    from vace_ui.backends.base import Backend, BackendCapabilities, BackendResult
    from vace_ui.core.requests import Capability
    from vace_ui.jobs.store import JobStore

    outputs: list[weakref.ref] = []
    alive_when_next_started: list[bool] = []

    class EchoModel(Backend):
        name, label = "echo", "echo stand-in"

        def capabilities(self) -> BackendCapabilities:
            return BackendCapabilities(frozenset(Capability), frozenset())

        def generate(self, job, reporter) -> BackendResult:
            gc.collect()
            if outputs:
                alive_when_next_started.append(outputs[-1]() is not None)
            frames = job.inputs.video.copy()
            outputs.append(weakref.ref(frames))
            return BackendResult(frames=frames, fps=16)

    store = JobStore(tmp_path / "outputs")
    runner = JobRunner(store, {"echo": EchoModel()})
    job = runner.run(runner.create(RepaintRequest(str(media_dir / "square.mp4"), "gray"), long_settings(),
                                   "echo").id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert probe_video(job.output_path).frame_count == 17
    assert alive_when_next_started == [False, False]
    store.close()


def test_a_tracked_edit_over_three_windows_is_tracked_once_and_sliced(tmp_path, media_dir, tiny_backend, monkeypatch):
    """The keyframe mask is tracked once through all 17 frames; each window's compiled mask is that run's slice
    (after the frames it keeps from the previous window), so the mask still follows the square in window 3."""
    from dataclasses import replace

    from vace_ui.core.requests import MaskType
    from vace_ui.jobs.context import file_context
    from vace_ui.jobs.store import JobStore

    calls, tracked, seen = [], [], []

    def context_factory(progress=None):
        context = file_context(progress)
        inner = context.track

        def track(frames, keyframes, **options):
            calls.append((len(frames), sorted(keyframes)))
            masks, name = inner(frames, keyframes, **options)
            tracked.append(np.asarray(masks).copy())
            return masks, name

        return replace(context, track=track)

    original = tiny_backend.generate

    def spy(job, reporter):
        seen.append(job.inputs.mask.copy())
        return original(job, reporter)

    monkeypatch.setattr(tiny_backend, "generate", spy)
    store = JobStore(tmp_path / "outputs")
    runner = JobRunner(store, {"local": tiny_backend}, context_factory=context_factory)
    request = EditRequest(str(media_dir / "square.mp4"), (MaskKeyframe(str(media_dir / "mask.png"), 0),),
                          mask_type=MaskType.TRACKING, expand_ratio=0.0)
    job = runner.run(runner.create(request, long_settings(fit="crop")).id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert calls == [(17, [0])]  # one tracking run, over the whole clip
    whole = tracked[0]
    assert len(seen) == 3
    for (start, end), keep, mask in zip(SPANS, (0, 4, 6), seen):
        assert np.array_equal(mask[keep:] == 255, whole[start + keep:end + 1])
        assert (mask[:keep] == 0).all()
    assert (seen[2][6:] == 255).any() and not np.array_equal(whole[16], whole[0])  # the mask moved with the square
    assert any("tracked once through the whole clip" in note for note in job.notes)
    store.close()
