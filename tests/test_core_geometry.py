"""Pixel- and index-exact tests of the spatial and frame plans."""

import math

import numpy as np
import pytest

from vace_ui.core import constants as C
from vace_ui.core.errors import InputError
from vace_ui.core.geometry import fit_on_canvas, plan_frames, plan_spatial
from vace_ui.core.settings import (
    FitMode,
    FrameTiming,
    GenerationSettings,
    LoraSpec,
    MemoryMode,
    Solver,
    SpeedMode,
    frames_for_duration,
)


def official_size(w: int, h: int, preset: tuple[int, int]) -> tuple[int, int]:
    """The official loader's rule, stated independently: area = preset patches (W x H / 256),
    oh = round(sqrt(area * h / w)), ow = int(area / oh), output 16*ow x 16*oh."""
    area = preset[0] * preset[1] / 256
    oh = round(math.sqrt(area * h / w))
    return 16 * int(area / oh), 16 * oh


def expected_size(w: int, h: int, preset: tuple[int, int]) -> tuple[int, int]:
    """The app's rule: a trained size (the preset or its transpose) when cropping the source to its aspect loses
    at most 3% of the picture, else the official rule."""
    for size in (preset, preset[::-1]):
        a, b = w / h, size[0] / size[1]
        if 1 - min(a, b) / max(a, b) <= 0.03:
            return size
    return official_size(w, h, preset)


@pytest.mark.parametrize("src, preset", [
    ((1920, 1080), (832, 480)), ((1280, 720), (832, 480)), ((854, 480), (832, 480)), ((1920, 1080), (1280, 720)),
    ((1080, 1080), (832, 480)), ((640, 480), (832, 480)), ((1080, 1920), (832, 480)), ((1080, 1920), (1280, 720)),
    ((1920, 804), (832, 480)), ((1920, 804), (1280, 720)), ((160, 90), (832, 480)), ((64, 48), (832, 480)),
    ((90, 160), (480, 832)), ((1080, 1080), (1280, 720)),
])
def test_keep_aspect_size_follows_the_official_patch_count_rule(src, preset):
    plan = plan_spatial(*src, preset, FitMode.KEEP_ASPECT)
    assert (plan.out_w, plan.out_h) == expected_size(*src, preset)
    assert plan.out_w % 16 == 0 and plan.out_h % 16 == 0
    assert (plan.out_w // 16) * (plan.out_h // 16) <= preset[0] * preset[1] // 256  # never above the patch count
    assert not plan.has_border and plan.scaled_w >= plan.out_w and plan.scaled_h >= plan.out_h  # cover, crop
    assert f"{plan.out_w}x{plan.out_h}" in plan.describe()


def test_sizes_the_issue_names():
    """Today's flooring gave 832x464 for 16:9 and 624x624 for a square; the official rule gives these."""
    assert official_size(1920, 1080, (832, 480)) == (832, 480)
    assert official_size(1080, 1080, (832, 480)) == (640, 624)
    for src in ((1920, 1080), (1280, 720), (854, 480)):
        plan = plan_spatial(*src, (832, 480), FitMode.KEEP_ASPECT)
        assert (plan.out_w, plan.out_h) == (832, 480) and "trained size" in plan.describe()
    assert (plan_spatial(1920, 1080, (1280, 720), FitMode.KEEP_ASPECT).out_h) == 720
    square = plan_spatial(1080, 1080, (832, 480), FitMode.KEEP_ASPECT)
    assert (square.out_w, square.out_h) == (640, 624) and "patch count" in square.describe()


def test_keep_aspect_1080p_centre_crops_the_sliver():
    plan = plan_spatial(1920, 1080, (832, 480), FitMode.KEEP_ASPECT)
    # cover 832x480: scale max(832/1920, 480/1080) = 0.4444 -> 853x480, centre-cropped by (853 - 832) // 2
    assert (plan.scaled_w, plan.scaled_h) == (round(1920 * 480 / 1080), 480)
    assert (plan.offset_x, plan.offset_y) == ((832 - 853) // 2, 0)
    assert "centre-cropped to 832x480" in plan.describe() and "sliver" in plan.describe()


def test_portrait_9_16_lands_on_the_portrait_trained_size():
    plan = plan_spatial(1080, 1920, (832, 480), FitMode.KEEP_ASPECT)
    assert (plan.out_w, plan.out_h) == (480, 832)  # the official rule alone gives 464x848
    assert official_size(1080, 1920, (832, 480)) == (464, 848)


def test_small_sources_are_brought_up_to_the_trained_area_and_the_notes_say_so():
    plan = plan_spatial(64, 48, (832, 480), FitMode.KEEP_ASPECT)
    assert (plan.out_w, plan.out_h) == official_size(64, 48, (832, 480))
    assert plan.scaled_w >= plan.out_w > 64 and "brought up to the trained area" in plan.describe()
    big = plan_spatial(1920, 1080, (832, 480), FitMode.KEEP_ASPECT)
    assert "brought up" not in big.describe()


def test_pad_places_square_in_the_middle_and_marks_border_generated():
    plan = plan_spatial(640, 640, (832, 480), FitMode.PAD)
    assert (plan.out_w, plan.out_h, plan.scaled_w, plan.offset_x, plan.offset_y) == (832, 480, 480, 176, 0)
    frame = np.full((640, 640, 3), 200, dtype=np.uint8)
    out = plan.apply(frame)
    assert (out[:, :176] == C.NEUTRAL_GRAY).all() and (out[:, 656:] == C.NEUTRAL_GRAY).all()
    assert (out[:, 176:656] == 200).all()
    mask = plan.border_mask()
    assert mask.dtype == bool and mask[:, :176].all() and not mask[:, 176:656].any() and mask[:, 656:].all()


def test_crop_fills_exact_preset():
    plan = plan_spatial(640, 640, (832, 480), FitMode.CROP)
    assert (plan.out_w, plan.out_h, plan.scaled_w, plan.scaled_h, plan.offset_y) == (832, 480, 832, 832, -176)


def test_exact_size_input_is_untouched():
    frame = np.random.default_rng(0).integers(0, 256, (480, 832, 3), dtype=np.uint8)
    plan = plan_spatial(832, 480, (832, 480), FitMode.KEEP_ASPECT)
    assert np.array_equal(plan.apply(frame), frame)


def test_fit_on_canvas_white_and_alpha_composited_on_white():
    rgba = np.zeros((100, 50, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent on the left half
    rgba[:, 25:, 3] = 255
    out = fit_on_canvas(rgba, 200, 100)
    assert out.shape == (100, 200, 3)
    assert (out[:, :75] == 255).all() and (out[:, 125:] == 255).all()  # white margins
    assert (out[:, 76:99] == 255).all()  # transparent half: white, never black
    assert (out[10:90, 102:123] == [255, 0, 0]).all()  # opaque half: red


def test_resample_30fps_10s_samples_at_16fps_and_says_what_was_dropped():
    plan = plan_frames(300, 30.0, 81, FrameTiming.RESAMPLE)
    assert plan.num_frames == 81
    assert plan.source_indices[:4] == (0, 1, 3, 5)
    assert plan.source_indices[80] == 150
    assert "dropped" in plan.note and "sampled at 16 fps" in plan.note


def test_squeeze_spreads_over_whole_clip_and_reports_speedup():
    plan = plan_frames(300, 30.0, 81, FrameTiming.SQUEEZE)
    assert plan.source_indices[0] == 0 and plan.source_indices[-1] >= 290
    assert "as fast" in plan.note


def test_every_frame_takes_consecutive_frames():
    plan = plan_frames(300, 30.0, 17, FrameTiming.EVERY_FRAME)
    assert plan.source_indices == tuple(range(17))
    assert "speed" in plan.note


def test_short_source_shortens_output_to_4n_plus_1():
    plan = plan_frames(40, 16.0, 81, FrameTiming.RESAMPLE)
    assert plan.num_frames == 37 and "shortened to 37" in plan.note


def test_zero_frames_is_a_clear_error():
    with pytest.raises(InputError, match="no frames"):
        plan_frames(0, 30.0, 81, FrameTiming.RESAMPLE)


def test_frames_for_duration_rounds_to_4n_plus_1():
    assert frames_for_duration(5.0) == 81
    assert frames_for_duration(3.0) == 49
    assert frames_for_duration(100) == C.MAX_FRAMES


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": " "}, "prompt"),
        ({"size": "650x640"}, "size"),
        ({"size": "big"}, "size"),
        ({"size": "4096x480"}, "size"),
        ({"num_frames": 80}, "num_frames"),
        ({"num_frames": 1}, "num_frames"),
        ({"conditioning_scale": 2.5}, "conditioning_scale"),
        ({"seed": -2}, "seed"),
        ({"loras": tuple(LoraSpec(f"l{i}.safetensors") for i in range(4))}, "loras"),
        ({"loras": (LoraSpec("a.safetensors", 4.5),)}, "lora 1 scale"),
    ],
)
def test_settings_validation_names_the_field(changes, field):
    settings = GenerationSettings(**{"prompt": "a dog", **changes})
    with pytest.raises(InputError) as raised:
        settings.validate()
    assert raised.value.field == field


def test_settings_round_trip_and_flow_shift_by_size():
    settings = GenerationSettings(prompt="a", size="1280x720", loras=(LoraSpec("x.safetensors", 0.5),), solver="euler")
    assert GenerationSettings.from_dict(settings.to_dict()).to_dict() == settings.to_dict()
    assert settings.effective_flow_shift == 5.0
    assert GenerationSettings().effective_flow_shift == 3.0


def test_mode_fields_are_enums_coerced_from_their_values_and_serialised_as_values():
    settings = GenerationSettings(prompt="a", speed_mode="fast", memory_mode="group_offload", solver="dpm++")
    assert settings.speed_mode is SpeedMode.FAST and settings.memory_mode is MemoryMode.GROUP_OFFLOAD
    assert settings.solver is Solver.DPMPP
    assert (GenerationSettings().speed_mode, GenerationSettings().memory_mode) == (SpeedMode.OFF, MemoryMode.AUTO)
    data = settings.to_dict()
    assert (data["speed_mode"], data["memory_mode"], data["solver"]) == ("fast", "group_offload", "dpm++")
    assert all(type(data[key]) is str for key in ("speed_mode", "memory_mode", "solver", "fit", "timing"))
    assert GenerationSettings.from_dict(data) == settings


@pytest.mark.parametrize("field, allowed", [("speed_mode", "off, balanced, fast"),
                                            ("memory_mode", "auto, gpu, model_offload, group_offload, fp8_storage"),
                                            ("solver", "unipc, euler, dpm++")])
def test_an_unknown_mode_is_an_input_error_naming_the_field_and_the_choices(field, allowed):
    with pytest.raises(InputError) as raised:
        GenerationSettings(prompt="a", **{field: "ludicrous"})
    assert raised.value.field == field and f"'ludicrous' is not one of {allowed}" in str(raised.value)
