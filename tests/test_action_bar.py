"""The action bar's status line: phase, step i/N and the time left worked out from the steps done."""

from __future__ import annotations

from vace_ui.backends.base import Phase
from vace_ui.jobs.runner import Progress
from vace_ui.ui.action_bar import ProgressClock


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_time_left_follows_the_steps_done():
    clock_time = FakeTime()
    clock = ProgressClock(now=clock_time)
    assert clock.line("j1", Progress(Phase.QUEUED, message="next on the GPU")) == \
        "⏳ queued · next on the GPU · job `j1`"
    assert clock.line("j1", Progress(Phase.DENOISE, 1, 25)) == "▶️ running · denoise · step 1/25 · job `j1`"
    clock_time.now += 20  # 2 steps in 20 s: 10 s a step, 22 steps to go
    assert clock.line("j1", Progress(Phase.DENOISE, 3, 25)) == \
        "▶️ running · denoise · step 3/25 · about 3 min 40 s left · job `j1`"
    clock_time.now += 5
    decode = clock.line("j1", Progress(Phase.DECODE, message="decoding 81 frames"))
    assert decode == "▶️ running · decode · decoding 81 frames · job `j1`"  # a new phase: no guess yet


def test_a_hosted_job_with_no_steps_says_its_phase_and_message():
    clock = ProgressClock(now=FakeTime())
    line = clock.line("j2", Progress(Phase.DENOISE, message="generating on ComfyUI"))
    assert line == "▶️ running · denoise · generating on ComfyUI · job `j2`"


def test_the_estimate_follows_the_settings_before_any_preview(tmp_path):
    from vace_ui.backends.local import LocalBackend
    from vace_ui.core.settings import GenerationSettings
    from vace_ui.ui.capability_tab import settings_estimate_text

    local = LocalBackend("Wan-AI/Wan2.1-VACE-1.3B-diffusers", tmp_path, device="cpu")
    default = settings_estimate_text(local, GenerationSettings())
    assert default.startswith("⏱️ about ") and "auto: about 832x480, 81 frames" in default
    fewer_steps = settings_estimate_text(local, GenerationSettings(steps=4))
    bigger = settings_estimate_text(local, GenerationSettings(size="1280x720"))
    assert "1280x720, 81 frames" in bigger
    hours = [local.estimate(GenerationSettings(steps=steps), 832, 480, 81).seconds for steps in (4, 25)]
    assert hours[0] < hours[1] and fewer_steps != default  # fewer steps: a shorter run, and the text says so
    assert settings_estimate_text(None, GenerationSettings()) == ""  # no local backend: no estimate
