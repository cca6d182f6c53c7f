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
