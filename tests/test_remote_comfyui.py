"""ComfyUI (Wan2.1-VACE-1.3B) against a strict local fake that validates the API-format workflow: each capability
end to end, the mask kept exactly binary, model names and LoRAs, the optional token, interrupt / queue delete,
and a prompt the server forgot."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakes.comfyui_fake import FakeComfyUI
from tests.fakes.harness import (
    FakeClock,
    Reporter,
    backend_options,
    blank_inputs,
    control_inputs,
    decode,
    edit_inputs,
    expected_result,
    extend_inputs,
    make_job,
    outpaint_inputs,
)
from vace_ui.backends.base import Phase
from vace_ui.backends.remote import AuthError, ComfyUIBackend, ProviderError
from vace_ui.core.errors import GenerationCancelled, InputError
from vace_ui.core.requests import Capability
from vace_ui.core.settings import LoraSpec, Solver


@pytest.fixture
def fake():
    with FakeComfyUI() as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def backend(fake, clock, **kwargs) -> ComfyUIBackend:
    return ComfyUIBackend(**backend_options(fake, clock, **kwargs))


def run(fake, clock, tmp_path, capability, inputs, options=None, **settings):
    result = backend(fake, clock, **(options or {})).generate(
        make_job(tmp_path, capability, None, inputs, **settings), Reporter())
    assert np.array_equal(decode(result.video_path), expected_result())
    return result, fake.prompts[result.remote_task_id]["graph"]


def test_reference_only_wires_the_reference_image(fake, clock, tmp_path):
    inputs = blank_inputs(17, refs=1)
    _, graph = run(fake, clock, tmp_path, Capability.REFERENCE, inputs)
    vace = graph["17"]["inputs"]
    assert vace["reference_image"] == ["22", 0] and "control_video" not in vace and "control_masks" not in vace
    sent = decode_png(fake.uploads[graph["18"]["inputs"]["image"]])
    assert np.array_equal(sent, inputs.references[0])
    assert (vace["width"], vace["height"], graph["21"]["inputs"]["value"]) == (64, 64, 17)


def decode_png(content: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(content)))


def test_repaint_sends_the_control_video_and_sampling(fake, clock, tmp_path):
    result, graph = run(fake, clock, tmp_path, Capability.REPAINT, control_inputs(17), steps=12, guidance_scale=4.0,
                        flow_shift=8.0, conditioning_scale=1.25, solver=Solver.DPMPP, negative_prompt="blurry")
    assert graph["17"]["inputs"]["control_video"] == ["40", 0] and "control_masks" not in graph["17"]["inputs"]
    assert graph["17"]["inputs"]["strength"] == 1.25
    sampler = graph["24"]["inputs"]
    assert (sampler["steps"], sampler["cfg"], sampler["sampler_name"], sampler["seed"]) == (12, 4.0, "dpmpp_2m", 1234)
    assert graph["27"]["inputs"]["shift"] == 8.0 and graph["16"]["inputs"]["text"] == "blurry"
    assert graph["40"]["inputs"]["frame_load_cap"] == 17
    assert result.info["models"]["unet"] == "wan21_vace_1_3_b.safetensors"


@pytest.mark.parametrize("capability, inputs", [
    (Capability.EDIT, edit_inputs(17)),
    (Capability.EXTEND, extend_inputs(17, keep_first=5)),
    (Capability.OUTPAINT, outpaint_inputs(17)),
])
def test_masked_capabilities_send_an_exact_mask_video(fake, clock, tmp_path, capability, inputs):
    _, graph = run(fake, clock, tmp_path, capability, inputs)
    assert graph["17"]["inputs"]["control_masks"] == ["42", 0]
    assert graph["42"]["inputs"] == {"image": ["41", 0], "channel": "red"}
    mask = decode(fake.uploads[graph["41"]["inputs"]["video"]])
    assert np.array_equal(mask[..., 0], inputs.mask)
    video = decode(fake.uploads[graph["40"]["inputs"]["video"]])
    assert video.shape == inputs.video.shape


def test_loras_chain_before_model_sampling(fake, clock, tmp_path):
    loras = (LoraSpec("/home/me/loras/detail_boost.safetensors", 0.8), LoraSpec("style_a.safetensors", 1.5))
    _, graph = run(fake, clock, tmp_path, Capability.REPAINT, control_inputs(17), loras=loras)
    assert graph["50"]["inputs"] == {"lora_name": "detail_boost.safetensors", "strength_model": 0.8,
                                     "model": ["11", 0]}
    assert graph["51"]["inputs"]["model"] == ["50", 0] and graph["27"]["inputs"]["model"] == ["51", 0]


def test_model_file_names_are_configurable_and_checked_by_the_server(fake, clock, tmp_path):
    job = make_job(tmp_path, Capability.REPAINT, None, control_inputs(17))
    with pytest.raises(ProviderError, match="unet_name: 'wan_other.safetensors' not in"):
        backend(fake, clock, unet="wan_other.safetensors").generate(job, Reporter())
    assert fake.prompts == {}


def test_token_is_required_when_the_server_has_one(clock, tmp_path):
    with FakeComfyUI(token="comfy-token-123") as fake:
        job = make_job(tmp_path, Capability.REPAINT, None, control_inputs(17))
        with pytest.raises(AuthError, match="check the API key for ComfyUI"):
            ComfyUIBackend(**backend_options(fake, clock, api_key=None)).generate(job, Reporter())
        result = ComfyUIBackend(**backend_options(fake, clock, api_key="comfy-token-123")).generate(job, Reporter())
        assert result.video_path.exists()
        assert set(fake.seen_auth) == {"", "Bearer comfy-token-123"}


@pytest.mark.parametrize("settings, inputs, field", [
    ({"size": "1280x720"}, control_inputs(17), "size"),
    ({}, control_inputs(17, refs=2), "references"),
])
def test_validation_rejects_before_any_request(fake, clock, tmp_path, settings, inputs, field):
    with pytest.raises(InputError) as caught:
        backend(fake, clock).generate(make_job(tmp_path, Capability.REPAINT, None, inputs, **settings), Reporter())
    assert caught.value.field == field
    assert fake.log == []


def test_cancel_interrupts_a_running_prompt(fake, clock, tmp_path):
    fake.polls_to_finish = 1000
    reporter = Reporter(cancel_when=lambda r: r.seen(Phase.DENOISE))
    with pytest.raises(GenerationCancelled, match="asked to stop"):
        backend(fake, clock).generate(make_job(tmp_path, Capability.REPAINT, None, control_inputs(17)), reporter)
    assert fake.interrupted == reporter.task_ids


def test_cancel_removes_a_pending_prompt_from_the_queue(fake, clock, tmp_path):
    fake.polls_to_finish, fake.queued_polls = 1000, 100
    reporter = Reporter(cancel_when=lambda r: r.seen(Phase.QUEUED) and fake.count("poll") >= 1)
    with pytest.raises(GenerationCancelled):
        backend(fake, clock).generate(make_job(tmp_path, Capability.REPAINT, None, control_inputs(17)), reporter)
    assert fake.prompts[reporter.task_ids[0]]["state"] == "deleted" and fake.interrupted == []


def test_a_prompt_the_server_forgot_fails_clearly(fake, clock, tmp_path):
    job = make_job(tmp_path, Capability.REPAINT, None, control_inputs(17))
    with pytest.raises(ProviderError, match="knows no prompt"):
        backend(fake, clock).resume(job, "0b7c-unknown", Reporter())
    assert fake.count("history") == 3
