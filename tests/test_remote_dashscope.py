"""DashScope wan2.1-vace-plus against its strict local fake: each capability end to end, uploads through the
temporary-file (OSS) path, payload mapping, validation before any request, region, cancel without a documented
cancel endpoint."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.fakes.dashscope_fake import FakeDashScope
from tests.fakes.harness import (
    KEY,
    FakeClock,
    Reporter,
    backend_options,
    decode,
    expected_result,
    make_job,
    write_test_image,
    write_test_video,
)
from vace_ui.backends.base import Phase
from vace_ui.backends.remote import DashScopeBackend
from vace_ui.core.errors import GenerationCancelled, InputError
from vace_ui.core.requests import (
    Capability,
    EditRequest,
    ExtendRequest,
    MaskKeyframe,
    MaskShape,
    MaskType,
    OutpaintRequest,
    ReferenceImage,
    ReferenceRequest,
    RefRole,
    RepaintRequest,
)


@pytest.fixture
def fake():
    with FakeDashScope(key=KEY) as server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def backend(fake, clock, **kwargs) -> DashScopeBackend:
    return DashScopeBackend(**backend_options(fake, clock, **kwargs))


def run(fake, clock, job, **kwargs):
    reporter = Reporter()
    result = backend(fake, clock, **kwargs).generate(job, reporter)
    return result, reporter


def assert_playable(result, fake):
    frames = decode(result.video_path)
    expected = expected_result()
    assert frames.shape == expected.shape
    assert np.array_equal(frames, expected)
    assert result.remote_task_id in fake.tasks


def oss_content(fake, url: str) -> bytes:
    assert url.startswith("oss://")
    return fake.oss[url.removeprefix("oss://")][0]


def test_reference_two_images_roles_and_size(fake, clock, tmp_path):
    subject = write_test_image(tmp_path / "subject.png")
    background = write_test_image(tmp_path / "bg.png")
    request = ReferenceRequest((ReferenceImage(subject), ReferenceImage(background, RefRole.BACKGROUND)))
    job = make_job(tmp_path, Capability.REFERENCE, request, size="1280x720")
    result, reporter = run(fake, clock, job)
    assert_playable(result, fake)
    body = fake.created[0]
    assert body["model"] == "wan2.1-vace-plus"
    assert body["input"]["function"] == "image_reference"
    assert body["parameters"] == {"prompt_extend": False, "obj_or_bg": ["obj", "bg"], "size": "1280*720"}
    assert [oss_content(fake, url) for url in body["input"]["ref_images_url"]] == \
        [open(subject, "rb").read(), open(background, "rb").read()]
    headers = fake.create_headers[0]
    assert headers["X-DashScope-Async"] == "enable" and headers["X-DashScope-OssResourceResolve"] == "enable"
    assert reporter.task_ids == [result.remote_task_id]
    assert reporter.seen(Phase.UPLOAD) and reporter.seen(Phase.DOWNLOAD)
    assert result.info["function"] == "image_reference" and result.info["orig_prompt"] == job.settings.prompt


def test_repaint_maps_control_strength_and_reference(fake, clock, tmp_path):
    video = write_test_video(tmp_path / "in.mp4")
    ref = write_test_image(tmp_path / "ref.png")
    request = RepaintRequest(video=video, control="pose_body_face", strength=0.6, references=(ReferenceImage(ref),))
    result, _ = run(fake, clock, make_job(tmp_path, Capability.REPAINT, request), prompt_extend=True)
    assert_playable(result, fake)
    body = fake.created[0]
    assert body["input"]["function"] == "video_repainting"
    assert oss_content(fake, body["input"]["video_url"]) == open(video, "rb").read()
    assert len(body["input"]["ref_images_url"]) == 1
    assert body["parameters"] == {"prompt_extend": True, "control_condition": "posebodyface", "strength": 0.6}


@pytest.mark.parametrize("kind, expected", [("depth", "depth"), ("pose_body", "posebody"), ("scribble", "scribble")])
def test_control_kinds_map(fake, clock, tmp_path, kind, expected):
    request = RepaintRequest(video=write_test_video(tmp_path / "in.mp4"), control=kind)
    run(fake, clock, make_job(tmp_path, Capability.REPAINT, request))
    assert fake.created[0]["parameters"]["control_condition"] == expected


def test_edit_with_mask_image_is_binarised_shaped_and_frame_numbered(fake, clock, tmp_path):
    video = write_test_video(tmp_path / "in.mp4")
    mask = write_test_image(tmp_path / "brush.png", mask=True)
    request = EditRequest(video=video, keyframes=(MaskKeyframe(mask, frame=4),), mask_type=MaskType.TRACKING,
                          expand_ratio=0.1, mask_shape=MaskShape.BOX)
    result, _ = run(fake, clock, make_job(tmp_path, Capability.EDIT, request, size="720x1280"))
    assert_playable(result, fake)
    body = fake.created[0]
    assert body["input"]["mask_frame_id"] == 5
    assert body["parameters"] == {"prompt_extend": False, "mask_type": "tracking", "expand_ratio": 0.1,
                                  "size": "720*1280"}
    import io
    sent = np.asarray(Image.open(io.BytesIO(oss_content(fake, body["input"]["mask_image_url"]))))
    assert set(np.unique(sent)) == {0, 255}
    expected = np.zeros((64, 64), np.uint8)
    expected[10:44, 12:50] = 255  # the bounding box of both painted strokes
    assert np.array_equal(sent, expected)


def test_edit_with_mask_video_and_fixed_mask(fake, clock, tmp_path):
    request = EditRequest(video=write_test_video(tmp_path / "in.mp4"),
                          mask_video=write_test_video(tmp_path / "mask.mp4"), mask_type=MaskType.FIXED)
    result, _ = run(fake, clock, make_job(tmp_path, Capability.EDIT, request, size="1280x720"))
    assert_playable(result, fake)
    body = fake.created[0]
    assert "mask_video_url" in body["input"] and "mask_image_url" not in body["input"]
    assert body["parameters"] == {"prompt_extend": False, "mask_type": "fixed", "size": "1280*720"}


def test_extend_first_clip_and_last_frame(fake, clock, tmp_path):
    request = ExtendRequest(first_clip=write_test_video(tmp_path / "clip.mp4", frames=33),
                            last_frame=write_test_image(tmp_path / "last.png"))
    result, _ = run(fake, clock, make_job(tmp_path, Capability.EXTEND, request))
    assert_playable(result, fake)
    body = fake.created[0]
    assert body["input"]["function"] == "video_extension"
    assert set(body["input"]) == {"function", "prompt", "first_clip_url", "last_frame_url"}


def test_outpaint_scales(fake, clock, tmp_path):
    request = OutpaintRequest(video=write_test_video(tmp_path / "in.mp4"), left=1.5, top=1.25)
    result, _ = run(fake, clock, make_job(tmp_path, Capability.OUTPAINT, request))
    assert_playable(result, fake)
    assert fake.created[0]["parameters"] == {"prompt_extend": False, "top_scale": 1.25, "bottom_scale": 1.0,
                                             "left_scale": 1.5, "right_scale": 1.0}


def test_public_urls_pass_through_without_upload(fake, clock, tmp_path):
    url = "https://example.com/material/video.mp4"
    run(fake, clock, make_job(tmp_path, Capability.OUTPAINT, OutpaintRequest(video=url, right=2.0)))
    assert fake.created[0]["input"]["video_url"] == url
    assert fake.count("policy") == 0 and fake.count("upload") == 0
    assert "X-DashScope-OssResourceResolve" not in fake.create_headers[0]


def test_beijing_region_uses_its_model(clock, tmp_path):
    with FakeDashScope(key=KEY, model="wanx2.1-vace-plus") as fake:
        video = write_test_video(tmp_path / "in.mp4")
        b = DashScopeBackend(region="beijing", **backend_options(fake, clock))
        assert b.model == "wanx2.1-vace-plus"
        b.generate(make_job(tmp_path, Capability.OUTPAINT, OutpaintRequest(video=video, left=1.2)), Reporter())
        assert fake.created[0]["model"] == "wanx2.1-vace-plus"
    assert DashScopeBackend(region="beijing").base_url == "https://dashscope.aliyuncs.com/api/v1"
    assert DashScopeBackend().base_url == "https://dashscope-intl.aliyuncs.com/api/v1"


@pytest.mark.parametrize("make, field", [
    (lambda p: (Capability.REPAINT, RepaintRequest(video=write_test_video(p / "v.mp4"), control="canny"), {}),
     "control"),
    (lambda p: (Capability.REPAINT, RepaintRequest(video=write_test_video(p / "v.mp4"), control="depth",
                                                   control_mask=write_test_image(p / "m.png")), {}), "control_mask"),
    (lambda p: (Capability.REFERENCE, ReferenceRequest(), {}), "references"),
    (lambda p: (Capability.REFERENCE, ReferenceRequest((ReferenceImage(write_test_image(p / "r.png")),)),
                {"size": "832x480"}), "size"),
    (lambda p: (Capability.OUTPAINT, OutpaintRequest(video=write_test_video(p / "long.mp4", frames=97), left=1.5),
                {}), "video"),
    (lambda p: (Capability.EXTEND, ExtendRequest(first_clip=write_test_video(p / "c.mp4", frames=65)), {}),
     "first_clip"),
    (lambda p: (Capability.EDIT, EditRequest(video=write_test_video(p / "v.mp4"), keyframes=(
        MaskKeyframe(write_test_image(p / "a.png", mask=True), 0),
        MaskKeyframe(write_test_image(p / "b.png", mask=True), 3))), {"size": "1280x720"}), "mask"),
    (lambda p: (Capability.EDIT, EditRequest(video=write_test_video(p / "v.mp4"), keyframes=(
        MaskKeyframe(write_test_image(p / "a.png", mask=True), 40),)), {"size": "1280x720"}), "mask_frame"),
])
def test_validation_rejects_before_any_request(fake, clock, tmp_path, make, field):
    capability, request, settings = make(tmp_path)
    with pytest.raises(InputError) as caught:
        backend(fake, clock).generate(make_job(tmp_path, capability, request, **settings), Reporter())
    assert caught.value.field == field
    assert fake.log == []


def test_non_mp4_video_is_refused(fake, clock, tmp_path):
    from vace_ui.media.video import write_video

    path = tmp_path / "clip.mov"
    write_video(tmp_path / "clip.mp4", np.zeros((9, 64, 64, 3), np.uint8), fps=16).rename(path)
    with pytest.raises(InputError, match="MP4"):
        backend(fake, clock).generate(make_job(tmp_path, Capability.OUTPAINT, OutpaintRequest(video=str(path),
                                                                                             left=1.5)), Reporter())


def test_cancel_stops_polling_without_a_cancel_call(fake, clock, tmp_path):
    fake.polls_to_finish = 1000
    reporter = Reporter(cancel_when=lambda r: r.seen(Phase.DENOISE))
    request = OutpaintRequest(video=write_test_video(tmp_path / "in.mp4"), left=1.5)
    with pytest.raises(GenerationCancelled, match="left to run"):
        backend(fake, clock).generate(make_job(tmp_path, Capability.OUTPAINT, request), reporter)
    assert fake.count("poll") == 2  # queued, then running: cancelled before a third poll
    assert [route for route, *_ in fake.log if route not in ("policy", "upload", "submit", "poll")] == []
    assert not (tmp_path / "job" / "remote_result.mp4").exists()
