"""The Wan 2.1 text-to-video endpoint against its strict local fake: text-only jobs with LoRAs, progress
reporting, and its documented limits checked before any request."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fakes.harness import KEY, FakeClock, Reporter, backend_options, decode, expected_result, make_job
from tests.fakes.jiekou_fake import FakeJiekou
from vace_ui.backends.base import Phase
from vace_ui.backends.remote import JiekouBackend
from vace_ui.core.errors import InputError
from vace_ui.core.requests import Capability, ReferenceImage, ReferenceRequest
from vace_ui.core.settings import LoraSpec


@pytest.fixture
def fake():
    with FakeJiekou(key=KEY) as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def text_job(tmp_path, **settings):
    values = {"num_frames": 81}
    values.update(settings)
    return make_job(tmp_path, Capability.REFERENCE, ReferenceRequest(), None, **values)


def test_text_only_job_with_loras(fake, clock, tmp_path):
    loras = (LoraSpec("Remade-AI/Cyberpunk", 1.2),
             LoraSpec("https://civitai.com/api/download/models/1572591?type=Model&format=SafeTensor", 0.5))
    reporter = Reporter()
    job = text_job(tmp_path, size="720x1280", steps=25, guidance_scale=6.5, loras=loras, negative_prompt="blur")
    result = JiekouBackend(**backend_options(fake, clock, fast_mode=True)).generate(job, reporter)
    assert np.array_equal(decode(result.video_path), expected_result())
    body = fake.created[0]
    assert (body["width"], body["height"], body["steps"], body["guidance_scale"]) == (720, 1280, 25, 6.5)
    assert body["flow_shift"] == 5.0  # "by size" at 720p
    assert body["loras"] == [{"path": lora.path, "scale": lora.scale} for lora in loras]
    assert body["fast_mode"] is True and body["enable_safety_checker"] is True and body["seed"] == 1234
    assert result.info["provider_seed"] == "1234"
    assert (Phase.DENOISE, 40, 100) in [(p, s, t) for p, s, t, _ in reporter.phases]


@pytest.mark.parametrize("settings, request_, field", [
    ({}, ReferenceRequest((ReferenceImage("ref.png"),)), "references"),
    ({"loras": (LoraSpec("/home/me/my_lora.safetensors"),)}, None, "lora 1"),
    ({"num_frames": 49}, None, "num_frames"),
    ({"steps": 41}, None, "steps"),
    ({"guidance_scale": 12.0}, None, "guidance_scale"),
    ({"flow_shift": 0.5}, None, "flow_shift"),
])
def test_validation_rejects_before_any_request(fake, clock, tmp_path, settings, request_, field):
    job = text_job(tmp_path, **settings)
    if request_ is not None:
        job.request = request_
    with pytest.raises(InputError) as caught:
        JiekouBackend(**backend_options(fake, clock)).generate(job, Reporter())
    assert caught.value.field == field
    assert fake.log == []


def test_only_the_reference_capability_is_offered():
    capabilities = JiekouBackend().capabilities()
    assert capabilities.capabilities == {Capability.REFERENCE} and "loras" in capabilities.settings
    assert not capabilities.needs_compiled_inputs
