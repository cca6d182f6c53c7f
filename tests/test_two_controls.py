"""Repaint with two controls (e.g. pose + depth): each control is its own VACE context stream with its own scale,
compiled as Wan2GP and ComfyUI compose them, and the local backend adds each stream's hints at its scale."""

from __future__ import annotations

import numpy as np
import pytest
from memory_media import MemoryMedia

from vace_ui.backends.base import BackendJob
from vace_ui.core.clip import CompileContext
from vace_ui.core.compile import compile_request
from vace_ui.core.errors import InputError
from vace_ui.core.inputs import ControlStream, VaceInputs
from vace_ui.core.requests import Capability, ReferenceImage, RepaintRequest
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.preview import overlay_frames

W, H = 832, 480
KIND_VALUE = {"pose_body": 40, "depth": 200}  # stand-in annotators: each control a constant grey of its own


@pytest.fixture
def ctx():
    media = MemoryMedia()
    media.videos["clip.mp4"] = (np.random.default_rng(1).integers(0, 256, (20, H, W, 3), dtype=np.uint8), 16.0)
    media.images["ref.png"] = np.full((240, 416, 3), (255, 0, 0), dtype=np.uint8)
    rect = np.zeros((H, W), dtype=np.uint8)
    rect[100:140, 200:300] = 255
    media.images["rect.png"] = rect

    def annotate(kind, frames, total, source=None):
        for frame in frames:
            yield np.full(frame.shape, KIND_VALUE[kind], np.uint8)

    return CompileContext(media=media, annotate=annotate)


def test_pose_plus_depth_compiles_one_stream_per_control_with_its_own_scale(ctx):
    request = RepaintRequest("clip.mp4", "pose_body", 0.8, control_2="depth", strength_2=0.5)
    inputs = compile_request(request, GenerationSettings(num_frames=9, conditioning_scale=1.5), ctx)
    assert (inputs.video == KIND_VALUE["pose_body"]).all() and (inputs.mask == 255).all()
    (second,) = inputs.extra_controls
    assert second.label == "depth" and (second.video == KIND_VALUE["depth"]).all() and (second.mask == 255).all()
    assert inputs.conditioning_scale == pytest.approx(1.5 * 0.8)
    assert second.conditioning_scale == pytest.approx(1.5 * 0.5)
    assert any("second control: depth, strength 0.5" in note for note in inputs.notes)
    one = compile_request(RepaintRequest("clip.mp4", "pose_body", 0.8), GenerationSettings(num_frames=9), ctx)
    assert one.extra_controls == [] and np.array_equal(one.video, inputs.video)


def test_two_controls_inside_a_mask_keep_the_rest_in_both_streams(ctx):
    request = RepaintRequest("clip.mp4", "pose_body", control_2="depth", control_mask="rect.png",
                             references=(ReferenceImage("ref.png"),))
    inputs = compile_request(request, GenerationSettings(num_frames=9), ctx)
    source = ctx.media.videos["clip.mp4"][0][:9]
    (second,) = inputs.extra_controls
    for stream, value in ((inputs, KIND_VALUE["pose_body"]), (second, KIND_VALUE["depth"])):
        assert (stream.video[:, 100:140, 200:300] == value).all()
        assert np.array_equal(stream.video[:, 300:, 400:], source[:, 300:, 400:])  # kept outside the mask
        assert (stream.mask[:, 100:140, 200:300] == 255).all() and (stream.mask[:, 300:, 400:] == 0).all()
    assert len(inputs.references) == 1


def test_the_preview_shows_both_controls_side_by_side(ctx):
    request = RepaintRequest("clip.mp4", "pose_body", control_2="depth", references=(ReferenceImage("ref.png"),))
    frames = overlay_frames(compile_request(request, GenerationSettings(num_frames=9), ctx))
    assert frames.shape == (9, H, 3 * W, 3)  # first control | second control | the reference
    assert not np.array_equal(frames[:, :, :W], frames[:, :, W:2 * W])


@pytest.mark.parametrize(("fields", "field"), [
    ({"control_2": "pose_body"}, "control_2"),
    ({"control_2": "depth", "strength_2": 1.5}, "strength_2"),
])
def test_bad_second_control_values_name_their_field(fields, field):
    with pytest.raises(InputError) as caught:
        RepaintRequest("clip.mp4", "pose_body", **fields).validate()
    assert caught.value.field == field


def test_dict_round_trip_and_a_wrong_type_names_the_field():
    request = RepaintRequest("clip.mp4", "pose_body", 0.7, control_2="depth", strength_2=0.4)
    assert RepaintRequest.from_dict(request.to_dict()) == request
    assert RepaintRequest.from_dict({"video": "clip.mp4"}).control_2 is None  # jobs saved before keep loading
    with pytest.raises(InputError) as caught:
        RepaintRequest.from_dict({"video": "clip.mp4", "control_2": "depth", "strength_2": "strong"})
    assert "strength_2" in caught.value.field


class Reporter:
    cancelled = False

    def phase(self, *args, **kwargs):
        pass


def _frames(backend, inputs: VaceInputs) -> np.ndarray:
    settings = GenerationSettings(prompt="a dog", steps=2, guidance_scale=3.0, seed=3)
    return backend.generate(BackendJob("two", Capability.REPAINT, None, settings, inputs, 3, backend.models_dir),
                            Reporter()).frames


def test_local_backend_adds_each_streams_hints_at_its_scale(tiny_backend):
    n, h, w = 5, 32, 32
    rng = np.random.default_rng(0)
    first, second = (rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8) for _ in range(2))
    mask = np.ones((n, h, w), bool)

    def inputs(scale_1, streams):
        return VaceInputs(first, mask.copy(), conditioning_scale=scale_1,
                          extra_controls=[ControlStream(video, mask.copy(), scale) for video, scale in streams])

    only_second = _frames(tiny_backend, VaceInputs(second, mask.copy(), conditioning_scale=1.0))
    only_first = _frames(tiny_backend, VaceInputs(first, mask.copy(), conditioning_scale=1.0))
    # the first stream at 0 and the second at 1: exactly the one-control run of the second video
    assert np.array_equal(_frames(tiny_backend, inputs(0.0, [(second, 1.0)])), only_second)
    assert np.array_equal(_frames(tiny_backend, inputs(1.0, [(second, 0.0)])), only_first)
    both = _frames(tiny_backend, inputs(1.0, [(second, 1.0)]))
    assert not np.array_equal(both, only_first) and not np.array_equal(both, only_second)


def test_two_experts_take_the_second_stream_too(tmp_path):
    from vace_ui.backends.local import LocalBackend
    from vace_ui.backends.tiny_model import ensure_tiny_model

    backend = LocalBackend(str(ensure_tiny_model(tmp_path / "two", two_experts=True)), tmp_path, device="cpu")
    n, h, w = 5, 32, 32
    rng = np.random.default_rng(1)
    first, second = (rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8) for _ in range(2))
    mask = np.ones((n, h, w), bool)
    only_second = _frames(backend, VaceInputs(second, mask.copy()))
    swapped = VaceInputs(first, mask.copy(), conditioning_scale=0.0,
                         extra_controls=[ControlStream(second, mask.copy(), 1.0)])
    assert np.array_equal(_frames(backend, swapped), only_second)  # both experts ran the second stream alone


def test_a_backend_without_a_second_control_refuses_it_by_name(tmp_path, media_dir):
    from vace_ui.backends.base import Backend, BackendCapabilities
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStore

    class Hosted(Backend):
        name, label = "hosted", "A hosted service"

        def capabilities(self):
            return BackendCapabilities(frozenset(Capability), frozenset({"prompt"}))

        def generate(self, job, reporter):
            raise AssertionError("never reached")

    store = JobStore(tmp_path / "outputs")
    try:
        runner = JobRunner(store, {"hosted": Hosted()})
        request = RepaintRequest(str(media_dir / "square.mp4"), "gray", control_2="canny")
        with pytest.raises(InputError, match="takes one control") as caught:
            runner.create(request, GenerationSettings(prompt="a dog"), "hosted")
        assert caught.value.field == "control_2"
        assert runner.create(RepaintRequest(str(media_dir / "square.mp4"), "gray"), GenerationSettings(prompt="a"),
                             "hosted").status.value == "queued"
    finally:
        store.close()
