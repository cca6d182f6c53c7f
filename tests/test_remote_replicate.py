"""Replicate prunaai/vace-14b against its strict local fake (under /replicate/v1, as through the reference's
proxy): compiled inputs for each capability, data: URLs and the files API, integer fields, proxy links followed
under the base URL, cancel through urls.cancel."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.fakes.harness import (
    KEY,
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
from tests.fakes.replicate_fake import FakeReplicate
from vace_ui.backends.base import Phase
from vace_ui.backends.remote import ReplicateBackend
from vace_ui.core.errors import GenerationCancelled, InputError
from vace_ui.core.requests import Capability, ExtendRequest
from vace_ui.core.settings import Solver


@pytest.fixture
def fake():
    with FakeReplicate(key=KEY) as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def backend(fake, clock, **kwargs) -> ReplicateBackend:
    return ReplicateBackend(**backend_options(fake, clock, **kwargs))


def run(fake, clock, tmp_path, capability, inputs, request=None, options=None, **settings):
    result = backend(fake, clock, **(options or {})).generate(
        make_job(tmp_path, capability, request, inputs, **settings), Reporter())
    assert np.array_equal(decode(result.video_path), expected_result())
    return result, fake.created[-1]["input"]


def data_url_content(value: str) -> bytes:
    assert value.startswith("data:")
    return base64.b64decode(value.split(",", 1)[1])


def test_reference_sends_references_without_video(fake, clock, tmp_path):
    inputs = blank_inputs(17, refs=3)
    _, values = run(fake, clock, tmp_path, Capability.REFERENCE, inputs)
    assert "src_video" not in values and "src_mask" not in values
    assert len(values["src_ref_images"]) == 3
    assert all(v.startswith("data:image/png;base64,") for v in values["src_ref_images"])
    assert values["frame_num"] == 17 and values["size"] == "832*480"
    assert values["speed_mode"] == "Lightly Juiced 🍊 (more consistent)"


def test_repaint_sampling_fields_are_integers(fake, clock, tmp_path):
    _, values = run(fake, clock, tmp_path, Capability.REPAINT, control_inputs(17), steps=20, guidance_scale=6.0,
                    solver=Solver.DPMPP)
    assert values["sample_guide_scale"] == 6 and isinstance(values["sample_guide_scale"], int)
    assert values["sample_shift"] == 3  # "by size" at 480p
    assert (values["sample_steps"], values["sample_solver"], values["seed"]) == (20, "dpm++", 1234)
    assert "src_mask" not in values
    assert decode(data_url_content(values["src_video"])).shape == (17, 64, 64, 3)


def test_edit_mask_video_round_trips_exactly(fake, clock, tmp_path):
    inputs = edit_inputs(17, refs=1)
    _, values = run(fake, clock, tmp_path, Capability.EDIT, inputs)
    mask = decode(data_url_content(values["src_mask"]))
    assert np.array_equal(mask[..., 0], inputs.mask)
    assert len(values["src_ref_images"]) == 1


def test_extend_and_outpaint(fake, clock, tmp_path):
    inputs = extend_inputs(17, keep_last=5)
    _, values = run(fake, clock, tmp_path, Capability.EXTEND, inputs, ExtendRequest(last_clip="c.mp4"))
    assert np.array_equal(decode(data_url_content(values["src_mask"]))[..., 0], inputs.mask)
    inputs = outpaint_inputs(17)
    _, values = run(fake, clock, tmp_path, Capability.OUTPAINT, inputs)
    assert values["src_mask"].startswith("data:image/png;base64,")  # static: one PNG


def test_large_files_go_through_the_files_api(fake, clock, tmp_path):
    inputs = edit_inputs(17, refs=2)
    _, values = run(fake, clock, tmp_path, Capability.EDIT, inputs, options={"data_url_max_bytes": 0})
    assert fake.count("upload") == 4  # video, mask, two references
    prefix = fake.base_url + "/files/"
    assert values["src_video"].startswith(prefix) and values["src_mask"].startswith(prefix)
    mask = decode(fake.files[values["src_mask"].removeprefix(prefix)])
    assert np.array_equal(mask[..., 0], inputs.mask)


def test_version_is_sent_when_configured(fake, clock, tmp_path):
    run(fake, clock, tmp_path, Capability.REPAINT, control_inputs(17), options={"version": "5129923"})
    assert fake.created[-1]["version"] == "5129923"


def test_proxy_answers_with_replicate_links_are_followed_under_the_base(clock, tmp_path):
    with FakeReplicate(key=KEY, replicate_urls=True) as fake:
        result, _ = run(fake, clock, tmp_path, Capability.REPAINT, control_inputs(17))
        assert fake.count("poll") == 3
        assert result.remote_task_id in fake.predictions


@pytest.mark.parametrize("settings, field", [
    ({"guidance_scale": 5.5}, "guidance_scale"),
    ({"flow_shift": 3.5}, "flow_shift"),
    ({"solver": Solver.EULER}, "solver"),
    ({"prompt": ""}, "prompt"),
])
def test_validation_rejects_before_any_request(fake, clock, tmp_path, settings, field):
    with pytest.raises(InputError) as caught:
        backend(fake, clock).generate(make_job(tmp_path, Capability.REPAINT, None, control_inputs(17), **settings),
                                      Reporter())
    assert caught.value.field == field
    assert fake.log == []


def test_cancel_goes_through_urls_cancel(fake, clock, tmp_path):
    fake.polls_to_finish = 1000
    reporter = Reporter(cancel_when=lambda r: r.seen(Phase.DENOISE))
    with pytest.raises(GenerationCancelled, match="asked to stop"):
        backend(fake, clock).generate(make_job(tmp_path, Capability.REPAINT, None, control_inputs(17)), reporter)
    (record,) = fake.predictions.values()
    assert record["status"] == "canceled"
    assert fake.count("cancel") == 1
