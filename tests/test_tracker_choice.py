"""The `tracker` choice from the request through the compile context and the services to the tracker that runs."""

from __future__ import annotations

import pytest

from vace_ui.config import AppConfig
from vace_ui.core.compile import compile_request
from vace_ui.core.errors import BackendUnavailable, InputError
from vace_ui.core.requests import EditRequest, MaskKeyframe, MaskType, TrackerChoice
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.context import file_context
from vace_ui.masks.video_trackers import TrackerWeightsMissing, VideoTracker
from vace_ui.services import create_services

SETTINGS = GenerationSettings(prompt="a", size="160x128", num_frames=5, fit="crop")


def request(media_dir, tracker: str) -> EditRequest:
    return EditRequest.from_dict({
        "video": str(media_dir / "square.mp4"), "keyframes": [MaskKeyframe(str(media_dir / "mask.png"), 0).to_dict()],
        "mask_type": MaskType.TRACKING.value, "expand_ratio": 0.0, "tracker": tracker})


@pytest.fixture()
def isolated(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.delenv("VACE_ALLOW_DOWNLOADS", raising=False)
    return tmp_path


def test_request_field_defaults_to_flow_and_checks_values():
    assert EditRequest().tracker is TrackerChoice.FLOW
    assert EditRequest.from_dict({"tracker": "sam3"}).tracker is TrackerChoice.SAM3
    assert EditRequest.from_dict(EditRequest(tracker=TrackerChoice.AUTO).to_dict()).tracker is TrackerChoice.AUTO
    with pytest.raises(InputError, match="tracker"):
        EditRequest.from_dict({"tracker": "sam9"})


def test_learned_tracker_makes_the_masks_and_says_so(media_dir, isolated):
    services = create_services(AppConfig(model="tiny-random", models_dir=isolated, output_dir=isolated / "o",
                                         tracker_model="tiny-random"))
    progress = []
    context = file_context(lambda label, done, total: progress.append(label), trackers=services.video_tracker)
    inputs = compile_request(request(media_dir, "sam2"), SETTINGS, context)
    assert inputs.mask.shape[:3] == (5, 128, 160) and inputs.mask[0].any()
    assert any("by the sam2 tracker" in note for note in inputs.notes)
    assert "tracking mask (sam2)" in progress
    name, tracker = services.video_tracker("sam2")
    assert name == "sam2" and isinstance(tracker, VideoTracker) and services.video_tracker("sam2")[1] is tracker


def test_auto_without_weights_is_flow_and_an_explicit_choice_names_the_files(media_dir, isolated):
    services = create_services(AppConfig(model="tiny-random", models_dir=isolated, output_dir=isolated / "o"))
    context = file_context(trackers=services.video_tracker)
    inputs = compile_request(request(media_dir, "auto"), SETTINGS, context)
    assert any("by the flow tracker" in note for note in inputs.notes)
    with pytest.raises(TrackerWeightsMissing, match="sam3") as caught:
        compile_request(request(media_dir, "sam3"), SETTINGS, context)
    assert isinstance(caught.value, BackendUnavailable) and "models/trackers/" in str(caught.value)
    assert str(isolated) not in str(caught.value)
    flow = compile_request(request(media_dir, "flow"), SETTINGS, context)  # the flow tracker stays available
    assert any("by the flow tracker" in note for note in flow.notes)


def test_a_context_without_learned_trackers_refuses_them(media_dir):
    with pytest.raises(InputError, match="sam2 tracker is not available"):
        compile_request(request(media_dir, "sam2"), SETTINGS, file_context())


def test_edit_tab_sends_and_restores_the_tracker(media_dir, tmp_path):
    import gradio as gr

    from vace_ui.ui.edit_tab import EditView, build_request, restore
    from vace_ui.ui.mask_editor import MaskEditor
    from vace_ui.ui.reference_slots import reference_slots

    with gr.Blocks():
        view = EditView(gr.State(MaskEditor()), gr.Video(), gr.Slider(), gr.HTML(), gr.HTML(), gr.Textbox(),
                        gr.Markdown(), gr.Image(), gr.Video(), gr.Radio(), gr.Slider(), gr.Dropdown(), gr.Checkbox(),
                        reference_slots("edit-reference"), gr.Dropdown())
    references = [str(media_dir / "mask.png"), None, str(media_dir / "mask.png")]
    data = {view.session: MaskEditor(), view.frame: 0, view.strokes: None,
            view.mask_image: str(media_dir / "mask.png"),
            view.mask_video: None, view.video: str(media_dir / "square.mp4"), view.mask_type: "tracking",
            view.expand_ratio: 0.0, view.shape: "exact", view.cut_occluders: True,
            view.tracker: "edgetam", **dict(zip(view.references.images, references))}
    sent = build_request(view, tmp_path, data)
    assert sent.tracker is TrackerChoice.EDGETAM
    assert [reference.path for reference in sent.references] == [references[0], references[2]]  # empty slot skipped
    restored = restore(view, sent)
    assert restored[view.tracker] == "edgetam"
    assert [restored[image] for image in view.references.images] == [references[0], references[2], None]


def test_cancel_during_tracking_stops_the_job(media_dir, isolated, tiny_models_dir):
    from vace_ui.jobs.store import JobStatus

    services = create_services(AppConfig(model="tiny-random", models_dir=tiny_models_dir, output_dir=isolated / "o",
                                         tracker_model="tiny-random", device="cpu"))
    runner = services.runner
    job = runner.create(request(media_dir, "sam2"), SETTINGS)
    steps = []

    def cancel_while_tracking(progress):
        if "tracking mask (sam2)" in progress.message:
            steps.append(progress.step)
            runner.cancel(job.id)

    finished = runner.run(job.id, cancel_while_tracking)
    assert finished.status is JobStatus.CANCELLED and finished.output_path is None
    assert steps == [1]  # the tracker stopped at its next frame
