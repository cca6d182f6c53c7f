"""Long videos through the hosted raw-VACE backends, against the fake servers that implement each documented
protocol: every window is one provider task, the result has every frame, and each later window's uploaded video
starts with the previous window's output (mask black on those frames)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import moving_square_video
from fakes.comfyui_fake import FakeComfyUI
from fakes.harness import KEY, FakeClock, backend_options, decode
from fakes.replicate_fake import FakeReplicate
from fakes.wavespeed_fake import FakeWaveSpeed

from vace_ui.backends.remote import ComfyUIBackend, ReplicateBackend, WaveSpeedBackend
from vace_ui.core.requests import RepaintRequest
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.runner import JobRunner
from vace_ui.jobs.store import JobStatus, JobStore
from vace_ui.media.video import probe_video, read_metadata, write_video


def wavespeed_sent(fake, index):
    body = fake.created[index]
    mask = body.get("mask_video") or body.get("mask_image")
    return fake.uploaded(body["video"]), fake.uploaded(mask) if mask else None


def replicate_sent(fake, index):
    values = fake.created[index]["input"]
    return fake.file_content(values["src_video"]), fake.file_content(values["src_mask"]) if "src_mask" in values \
        else None


def comfyui_sent(fake, index):
    graph = fake.prompts[fake.order[index]]["graph"]
    mask = graph.get("41")
    return fake.uploads[graph["40"]["inputs"]["video"]], fake.uploads[mask["inputs"]["video"]] if mask else None


# WaveSpeed makes 81-161 frames a task: 209 frames are 3 windows of 81 (the last keeping 18); the others take
# any 4n+1: 41 frames in windows of 17
CASES = {
    "wavespeed": (lambda: FakeWaveSpeed(key=KEY, polls_to_finish=2), WaveSpeedBackend, wavespeed_sent,
                  dict(num_frames=209, window_frames=81, window_overlap=16), [(0, 80), (65, 145), (128, 208)]),
    "replicate": (lambda: FakeReplicate(key=KEY, polls_to_finish=2), ReplicateBackend, replicate_sent,
                  dict(num_frames=41, window_frames=17, window_overlap=4), [(0, 16), (13, 29), (24, 40)]),
    "comfyui": (lambda: FakeComfyUI(token=KEY, polls_to_finish=2), ComfyUIBackend, comfyui_sent,
                dict(num_frames=41, window_frames=17, window_overlap=4), [(0, 16), (13, 29), (24, 40)]),
}


@pytest.fixture(scope="module")
def long_source(tmp_path_factory):
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    return str(write_video(path, moving_square_video(220), 16))


@pytest.mark.parametrize("name", list(CASES))
def test_three_windows_are_three_provider_tasks_chained_on_the_previous_output(name, tmp_path, long_source):
    make_fake, backend_type, sent, frames, spans = CASES[name]
    clock = FakeClock()
    with make_fake() as fake:
        fake.render = True  # each task returns the frames and size it asked for
        backend = backend_type(**backend_options(fake, clock, timeout=30.0))  # rendering 832x480 takes a moment
        store = JobStore(tmp_path / "outputs")
        runner = JobRunner(store, {name: backend})
        settings = GenerationSettings(prompt="a dog runs", size="832x480", steps=4, seed=3, color_strength=0.0,
                                      **frames)
        messages = []
        job = runner.create(RepaintRequest(long_source, "gray"), settings, name)
        job = runner.run(job.id, lambda progress: messages.append(progress.text))
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert fake.count("submit") == 3 and len(fake.results) == 3  # one provider task per window
        info = probe_video(job.output_path)
        assert info.frame_count == frames["num_frames"] and (info.width, info.height) == (832, 480)
        assert read_metadata(job.output_path)["windows"]["spans"] == [list(span) for span in spans]
        assert any("window 3/3" in text for text in messages)
        for index in (1, 2):  # each later window's upload starts with the previous task's last frames, kept
            keep = spans[index - 1][1] + 1 - spans[index][0]
            video, mask = sent(fake, index)
            uploaded, previous = decode(video), decode(fake.results[index - 1])
            assert len(uploaded) == spans[index][1] + 1 - spans[index][0]
            seam = np.abs(uploaded[:keep].astype(int) - previous[-keep:]).mean()
            own = np.abs(uploaded[:keep].astype(int) - decode(fake.results[index])[:keep]).mean()
            assert seam < 4 and own > 20, (seam, own)  # the previous window's output, not this task's or the source
            masks = decode(mask)[..., 0]
            assert masks[:keep].max() < 10 and masks[keep:].min() > 245
        store.close()


def test_a_restart_follows_the_running_windows_task_instead_of_submitting_it_again(tmp_path, long_source):
    """The app stops while window 2's WaveSpeed task runs (WaveSpeed has no cancel, so the task lives on); after
    the restart window 1 is read back, window 2's task is followed, window 3 is submitted: 3 tasks in all."""
    clock = FakeClock()
    with FakeWaveSpeed(key=KEY, polls_to_finish=3) as fake:
        fake.render = True
        backend = WaveSpeedBackend(**backend_options(fake, clock, timeout=30.0))
        store = JobStore(tmp_path / "outputs")
        runner = JobRunner(store, {"wavespeed": backend})
        settings = GenerationSettings(prompt="a dog runs", size="832x480", steps=4, seed=3, num_frames=145,
                                      window_frames=81, window_overlap=16)
        job = runner.create(RepaintRequest(long_source, "gray"), settings, "wavespeed")

        def stop_once_window_two_runs(progress):
            if "window 2/2" in progress.text and "generating on WaveSpeed" in progress.text:
                runner.cancel(job.id)

        stopped = runner.run(job.id, stop_once_window_two_runs)
        assert stopped.status is JobStatus.CANCELLED and fake.count("submit") == 2
        assert stopped.info["window_task"]["window"] == 1
        store.update(job.id, status=JobStatus.RUNNING)  # as a process killed mid-window leaves it
        restarted = JobRunner(store, {"wavespeed": backend})
        threads = restarted.recover_after_restart()
        assert len(threads) == 1
        threads[0].join(timeout=120)
        finished = store.get(job.id)
        assert finished.status is JobStatus.SUCCEEDED, finished.error
        assert fake.count("submit") == 2  # window 2's task was followed, not submitted again
        assert probe_video(finished.output_path).frame_count == 145
        assert "resumed after window 1 of 2 (saved earlier)" in finished.notes
        store.close()


@pytest.mark.parametrize("side", ["first_clip", "last_clip"])
def test_dashscope_chains_extension_tasks_each_continuing_from_the_previous_output(side, tmp_path, media_dir):
    """10 s of new footage after (or before) a 2.5 s clip: DashScope adds 5 s less the clip, then 5 s less the 1 s
    it continues from, so 3 video_extension tasks; task 2 gets task 1's last (first) second as its clip."""
    from fakes.dashscope_fake import FakeDashScope

    from vace_ui.backends.remote import DashScopeBackend
    from vace_ui.core.requests import ExtendRequest

    clock = FakeClock()
    with FakeDashScope(key=KEY, polls_to_finish=2) as fake:
        fake.render = True
        backend = DashScopeBackend(**backend_options(fake, clock, timeout=30.0))
        store = JobStore(tmp_path / "outputs")
        runner = JobRunner(store, {"dashscope": backend})
        settings = GenerationSettings(prompt="the square drives on", num_frames=161, window_overlap=16)
        job = runner.create(ExtendRequest(**{side: str(media_dir / "square.mp4")}), settings, "dashscope")
        job = runner.run(job.id)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert fake.count("submit") == 3 and job.info["chain_tasks"] == 3
        info = probe_video(job.output_path)
        assert info.fps == 30 and info.frame_count == 75 + round(161 / 16 * 30)  # the clip's 2.5 s + 10.06 s new
        for index in (1, 2):
            sent = fake.created[index]["input"]
            assert set(sent) == {"function", "prompt", f"{side}_url"}
            continued = decode(fake.content(sent[f"{side}_url"]))
            previous = decode(fake.results[index - 1])
            part = previous[-30:] if side == "first_clip" else previous[:30]
            assert len(continued) == 30 and np.abs(continued.astype(int) - part).mean() < 4
        store.close()


def test_dashscope_refuses_long_videos_it_cannot_chain_and_says_what_to_do(tmp_path, media_dir):
    from fakes.dashscope_fake import FakeDashScope

    from vace_ui.backends.remote import DashScopeBackend
    from vace_ui.core.errors import InputError
    from vace_ui.core.requests import ExtendRequest, OutpaintRequest

    with FakeDashScope(key=KEY) as fake:
        store = JobStore(tmp_path / "outputs")
        runner = JobRunner(store, {"dashscope": DashScopeBackend(**backend_options(fake, FakeClock()))})
        settings = GenerationSettings(prompt="wider", num_frames=161)
        clip = str(media_dir / "square.mp4")
        with pytest.raises(InputError, match="lower Frames to 81 or fewer, or choose a backend that takes raw VACE"):
            runner.create(OutpaintRequest(clip, left=1.5), settings, "dashscope")
        with pytest.raises(InputError, match="one side only"):
            runner.create(ExtendRequest(first_clip=clip, last_clip=clip), settings, "dashscope")
        assert fake.count("submit") == 0 and store.list() == []
        store.close()
