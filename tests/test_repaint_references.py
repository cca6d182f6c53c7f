"""Repaint and Edit take up to 3 reference images: compiled in order, each fitted on white at the output size."""

import gradio as gr
import numpy as np
import pytest
from memory_media import MemoryMedia

from vace_ui import annotators
from vace_ui.core.clip import CompileContext
from vace_ui.core.compile import compile_request
from vace_ui.core.errors import InputError
from vace_ui.core.requests import EditRequest, MaskKeyframe, ReferenceImage, RepaintRequest
from vace_ui.core.settings import GenerationSettings
from vace_ui.ui.reference_slots import reference_slots
from vace_ui.ui.tabs import repaint_inputs

W, H = 832, 480
COLOURS = {"red.png": (255, 0, 0), "green.png": (0, 255, 0), "tall_blue.png": (0, 0, 255)}


@pytest.fixture
def ctx():
    media = MemoryMedia()
    media.videos["clip.mp4"] = (np.random.default_rng(1).integers(0, 256, (20, H, W, 3), dtype=np.uint8), 16.0)
    media.images["red.png"] = np.full((240, 416, 3), COLOURS["red.png"], dtype=np.uint8)
    media.images["green.png"] = np.full((480, 832, 3), COLOURS["green.png"], dtype=np.uint8)
    media.images["tall_blue.png"] = np.full((480, 240, 3), COLOURS["tall_blue.png"], dtype=np.uint8)
    rect = np.zeros((H, W), dtype=np.uint8)
    rect[100:140, 200:300] = 255
    media.images["rect.png"] = rect
    return CompileContext(media=media, annotate=lambda kind, frames, total, source=None:
                          annotators.get(kind).process(frames, total))


THREE = tuple(ReferenceImage(name) for name in ("red.png", "tall_blue.png", "green.png"))


def assert_three_in_order(references):
    red, tall_blue, green = references
    assert all(ref.shape == (H, W, 3) for ref in references)
    assert (red == COLOURS["red.png"]).all() and (green == COLOURS["green.png"]).all()
    # 240x480 scaled to the 480 height is 240 wide, centred: white on both sides
    assert (tall_blue[:, :296] == 255).all() and (tall_blue[:, 536:] == 255).all()
    assert (tall_blue[:, 296:536] == COLOURS["tall_blue.png"]).all()


def test_repaint_compiles_three_references_in_order(ctx):
    inputs = compile_request(RepaintRequest("clip.mp4", "gray", references=THREE),
                             GenerationSettings(num_frames=9), ctx)
    assert_three_in_order(inputs.references)


def test_repaint_control_inside_mask_with_references(ctx):
    request = RepaintRequest("clip.mp4", "gray", references=THREE, control_mask="rect.png")
    inputs = compile_request(request, GenerationSettings(num_frames=9), ctx)
    assert_three_in_order(inputs.references)
    assert (inputs.mask[:, 100:140, 200:300] == 255).all() and (inputs.mask[:, 300:, 400:] == 0).all()


def test_edit_compiles_three_references_in_order(ctx):
    request = EditRequest("clip.mp4", (MaskKeyframe("rect.png", 0),), expand_ratio=0.0, references=THREE)
    assert_three_in_order(compile_request(request, GenerationSettings(num_frames=9), ctx).references)


def test_four_references_in_repaint_is_a_worded_error():
    with pytest.raises(InputError, match="4 images given; at most 3") as caught:
        RepaintRequest("clip.mp4", "gray", references=THREE + (ReferenceImage("red.png"),)).validate()
    assert caught.value.field == "references"


def test_repaint_dict_round_trip_and_jobs_saved_with_one_reference():
    request = RepaintRequest("clip.mp4", "depth", 0.7, THREE)
    assert RepaintRequest.from_dict(request.to_dict()) == request
    old = RepaintRequest.from_dict({"video": "clip.mp4", "control": "gray", "reference": {"path": "red.png"}})
    assert old.references == (ReferenceImage("red.png"),)
    assert RepaintRequest.from_dict({"video": "clip.mp4", "reference": None}).references == ()


def test_reference_slots_build_and_restore(tmp_path):
    with gr.Blocks():
        slots = reference_slots("test-reference")
    assert [image.elem_id for image in slots.images] == ["test-reference-0", "test-reference-1", "test-reference-2"]
    first, second, third = slots.images
    assert slots.references({first: "a.png", second: None, third: "c.png"}) == (
        ReferenceImage("a.png"), ReferenceImage("c.png"))
    assert slots.restore((ReferenceImage("a.png"),)) == {first: "a.png", second: None, third: None}


def test_repaint_tab_builds_its_request_from_three_slots(tmp_path):
    with gr.Blocks():
        tab = repaint_inputs(tmp_path)
    by_id = {getattr(component, "elem_id", None): component for component in tab.components}
    data = {component: None for component in tab.components}
    data |= {by_id["repaint-video"]: "clip.mp4", by_id["repaint-reference-0"]: "red.png",
             by_id["repaint-reference-1"]: "tall_blue.png", by_id["repaint-reference-2"]: "green.png"}
    second = {"repaint-control-2", "repaint-strength-2"}  # the optional second control and its strength
    control, strength = [c for c in tab.components if isinstance(c, gr.Dropdown) and c.elem_id not in second], \
        [c for c in tab.components if isinstance(c, gr.Slider) and c.elem_id not in second]
    data |= {control[0]: "gray", strength[0]: 0.5}
    request = tab.request(data)
    assert request.references == THREE and request.strength == 0.5
    restored = tab.restore(request)
    assert [restored[by_id[f"repaint-reference-{i}"]] for i in range(3)] == ["red.png", "tall_blue.png", "green.png"]
