"""WaveSpeed wan-2.1-14b-vace against its strict local fake: the app's compiled inputs for each capability end to
end (uploaded through the media upload API), the mask kept exactly binary, WaveSpeed's ranges checked first."""

from __future__ import annotations

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
from tests.fakes.wavespeed_fake import FakeWaveSpeed
from vace_ui.backends.remote import WaveSpeedBackend
from vace_ui.core.errors import InputError
from vace_ui.core.requests import Capability, EditRequest, ExtendRequest, OutpaintRequest, RepaintRequest

FRAMES = 81  # WaveSpeed makes whole seconds: 81 frames = 5 s


@pytest.fixture
def fake():
    with FakeWaveSpeed(key=KEY) as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def run(fake, clock, tmp_path, capability, inputs, request=None, **settings):
    backend = WaveSpeedBackend(**backend_options(fake, clock))
    job = make_job(tmp_path, capability, request, inputs, num_frames=FRAMES, steps=30, **settings)
    result = backend.generate(job, Reporter())
    assert np.array_equal(decode(result.video_path), expected_result())
    return result, fake.created[-1]


def sent_frames(fake, url: str) -> np.ndarray:
    return decode(fake.uploaded(url))


def sent_image(fake, url: str) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(fake.uploaded(url))))


def test_reference_sends_images_only(fake, clock, tmp_path):
    inputs = blank_inputs(FRAMES, refs=2)
    result, body = run(fake, clock, tmp_path, Capability.REFERENCE, inputs)
    assert body["task"] == "none" and len(body["images"]) == 2
    assert not {"video", "mask_video", "mask_image"} & set(body)
    assert np.array_equal(sent_image(fake, body["images"][1]), inputs.references[1])
    assert body["duration"] == 5 and body["size"] == "832*480" and body["num_inference_steps"] == 30
    assert result.info["duration"] == 5


def test_repaint_sends_the_compiled_control_video_as_is(fake, clock, tmp_path):
    inputs = control_inputs(FRAMES)
    _, body = run(fake, clock, tmp_path, Capability.REPAINT, inputs, RepaintRequest(video="x.mp4"),
                  conditioning_scale=1.5, guidance_scale=6.0, flow_shift=7.0)
    assert body["task"] == "none" and "mask_video" not in body and "mask_image" not in body
    sent = sent_frames(fake, body["video"])
    assert sent.shape == inputs.video.shape
    assert np.abs(sent.astype(int) - inputs.video.astype(int)).mean() < 6  # H.264, visually the same
    assert (body["context_scale"], body["guidance_scale"], body["flow_shift"]) == (1.5, 6.0, 7.0)


def test_edit_sends_a_lossless_mask_video(fake, clock, tmp_path):
    inputs = edit_inputs(FRAMES)
    _, body = run(fake, clock, tmp_path, Capability.EDIT, inputs, EditRequest(video="x.mp4", mask_video="m.mp4"))
    assert body["task"] == "inpainting" and "mask_image" not in body
    mask = sent_frames(fake, body["mask_video"])
    assert np.array_equal(mask[..., 0], inputs.mask)  # exactly binary, frame for frame
    assert np.array_equal(mask[..., 0], mask[..., 2])
    assert not (tmp_path / "job" / "upload").exists()  # sent files are not kept twice in the job folder


def test_extend_from_a_clip_sends_video_and_mask(fake, clock, tmp_path):
    inputs = extend_inputs(FRAMES, keep_first=17)
    _, body = run(fake, clock, tmp_path, Capability.EXTEND, inputs, ExtendRequest(first_clip="c.mp4"))
    assert body["task"] == "inpainting"
    assert np.array_equal(sent_frames(fake, body["mask_video"])[..., 0], inputs.mask)
    assert "first_image" not in body


def test_extend_from_frames_uses_first_and_last_image(fake, clock, tmp_path):
    inputs = extend_inputs(FRAMES, keep_first=1, keep_last=1)
    _, body = run(fake, clock, tmp_path, Capability.EXTEND, inputs,
                  ExtendRequest(first_frame="a.png", last_frame="b.png"))
    assert not {"video", "mask_video", "mask_image"} & set(body)
    assert np.array_equal(sent_image(fake, body["first_image"]), inputs.video[0])
    assert np.array_equal(sent_image(fake, body["last_image"]), inputs.video[-1])


def test_outpaint_static_mask_goes_as_png(fake, clock, tmp_path):
    inputs = outpaint_inputs(FRAMES)
    _, body = run(fake, clock, tmp_path, Capability.OUTPAINT, inputs, OutpaintRequest(video="x.mp4", left=1.5))
    assert body["task"] == "inpainting" and "mask_video" not in body
    assert np.array_equal(sent_image(fake, body["mask_image"]), inputs.mask[0])


def test_a_seed_beyond_wavespeeds_range_is_folded_and_recorded(fake, clock, tmp_path):
    backend = WaveSpeedBackend(**backend_options(fake, clock))
    job = make_job(tmp_path, Capability.REFERENCE, None, blank_inputs(FRAMES, refs=1), num_frames=FRAMES,
                   seed=3_000_000_000)
    result = backend.generate(job, Reporter())
    assert fake.created[0]["seed"] == 3_000_000_000 % 2**31 == result.info["seed_sent"]


@pytest.mark.parametrize("settings, field", [
    ({"num_frames": 17}, "num_frames"),
    ({"num_frames": FRAMES, "steps": 50}, "steps"),
    ({"num_frames": FRAMES, "prompt": "  "}, "prompt"),
])
def test_validation_rejects_before_any_request(fake, clock, tmp_path, settings, field):
    frames = settings["num_frames"]
    job = make_job(tmp_path, Capability.REFERENCE, None, blank_inputs(frames, refs=1), **settings)
    with pytest.raises(InputError) as caught:
        WaveSpeedBackend(**backend_options(fake, clock)).generate(job, Reporter())
    assert caught.value.field == field
    assert fake.log == []


def test_inputs_must_match_the_frame_count(fake, clock, tmp_path):
    job = make_job(tmp_path, Capability.REFERENCE, None, blank_inputs(17, refs=1), num_frames=97)
    with pytest.raises(InputError, match="17 frames"):
        WaveSpeedBackend(**backend_options(fake, clock)).generate(job, Reporter())
