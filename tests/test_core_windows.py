"""Long videos in core: the window plan, per-window prompts, each window's compiled slice with the previous window's
frames kept, and colour correction between windows on known shifts. In-memory media, pixel exact."""

import cv2
import numpy as np
import pytest
from memory_media import MemoryMedia, numbered_video

from vace_ui.core import constants as C
from vace_ui.core.clip import CompileContext
from vace_ui.core.color import ColorMatch, correct_window, cross_fade
from vace_ui.core.compile import compile_request, compile_window, plan_request_windows
from vace_ui.core.errors import InputError
from vace_ui.core.requests import EditRequest, ExtendRequest, MaskKeyframe, OutpaintRequest, ReferenceRequest
from vace_ui.core.settings import GenerationSettings
from vace_ui.core.windows import plan_windows, window_keyframes, window_prompts

W, H = 64, 64


def spans(plan):
    return [(w.start, w.end - 1, w.keep) for w in plan.windows]


def test_default_plan_matches_the_preview_text():
    plan = plan_windows(211)
    assert plan.describe().startswith("3 windows: 0-80, 65-145, 130-210")
    assert spans(plan) == [(0, 80, 0), (65, 145, 16), (130, 210, 16)]


def test_exactly_one_window_and_shorter_are_one_window():
    assert spans(plan_windows(81)) == [(0, 80, 0)]
    assert spans(plan_windows(49)) == [(0, 48, 0)]


def test_one_frame_more_than_a_window_adds_a_short_4n_plus_1_window():
    plan = plan_windows(82)
    # the second window must be 4n+1 and end at frame 81: 17 frames from 65, keeping 16
    assert spans(plan) == [(0, 80, 0), (65, 81, 16)]
    plan = plan_windows(85)  # 20 frames after 65 is not 4n+1: the window starts one earlier and keeps 17
    assert spans(plan) == [(0, 80, 0), (64, 84, 17)]


@pytest.mark.parametrize("total", [82, 150, 211, 300, 961, 1921])
@pytest.mark.parametrize("window,overlap", [(81, 16), (49, 8), (9, 4), (81, 0)])
def test_every_window_is_4n_plus_1_covers_the_video_and_keeps_what_overlaps(total, window, overlap):
    plan = plan_windows(total, window, overlap)
    assert plan.windows[0].start == 0 and plan.windows[-1].end == total
    for previous, current in zip(plan.windows, plan.windows[1:]):
        assert current.length % 4 == 1 and current.length <= window
        assert current.keep == previous.end - current.start
        assert overlap <= current.keep <= max(overlap + 3, C.MIN_FRAMES - 1)
        assert current.end > previous.end


@pytest.mark.parametrize("window,overlap", [(81, 81), (81, 100), (81, 77), (9, 5)])
def test_overlap_that_leaves_nothing_to_generate_is_an_input_error(window, overlap):
    with pytest.raises(InputError, match="window_overlap"):
        plan_windows(200, window, overlap)


def test_window_length_must_be_4n_plus_1_and_settings_check_it():
    with pytest.raises(InputError, match="window_frames"):
        plan_windows(200, 80, 16)
    with pytest.raises(InputError, match="window_overlap"):
        GenerationSettings(prompt="x", num_frames=161, window_overlap=81).validate()
    GenerationSettings(prompt="x", num_frames=961).validate()  # 60 s: windows
    with pytest.raises(InputError, match="window_frames"):  # one window is still at most MAX_FRAMES
        GenerationSettings(prompt="x", num_frames=201, window_frames=201).validate()
    with pytest.raises(InputError, match="num_frames.*1921"):
        GenerationSettings(prompt="x", num_frames=1925).validate()


def test_per_window_prompts():
    assert window_prompts("a cat\nwalks", 1) == ["a cat\nwalks"]  # one window: the prompt as written
    assert window_prompts("a cat walks", 3) == ["a cat walks"] * 3
    assert window_prompts("a cat\n\n a dog \n", 3) == ["a cat", "a dog", "a dog"]
    with pytest.raises(InputError, match="3 lines"):
        window_prompts("a\nb\nc", 2)


def test_window_keyframes_hold_as_in_the_whole_video():
    a, b = np.zeros((2, 2), bool), np.ones((2, 2), bool)
    assert window_keyframes({0: a, 50: b}, 65, 81)[0] is b  # the latest before the window holds
    held = window_keyframes({0: a, 70: b}, 65, 81)
    assert held[0] is a and held[5] is b and len(held) == 2
    assert window_keyframes({100: b}, 0, 81) == {0: b}  # all after: the first holds back


@pytest.fixture
def media():
    media = MemoryMedia()
    media.videos["numbered.mp4"] = (numbered_video(40, W, H), 16.0)
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[10:20, 10:30] = 255
    media.images["rect.png"] = mask
    return media


def long_settings(**changes):
    return GenerationSettings(**{"prompt": "a cat", "num_frames": 17, "window_frames": 9, "window_overlap": 4,
                                 "size": "64x64", "fit": "crop", **changes})


def test_windows_slice_the_video_and_keep_the_previous_windows_frames(media):
    ctx = CompileContext(media=media)
    request = EditRequest("numbered.mp4", (MaskKeyframe("rect.png", 0),))
    plan = plan_request_windows(request, long_settings(), ctx)
    assert spans(plan) == [(0, 8, 0), (5, 13, 4), (8, 16, 6)]
    kept = np.full((6, H, W, 3), 200, dtype=np.uint8)
    inputs = compile_window(request, long_settings(), ctx, plan.windows[2], kept)
    assert inputs.num_frames == 9
    assert media.decoded[-1] == ("numbered.mp4", tuple(range(8, 17)))  # only the window's frames are decoded
    assert (inputs.video[:6] == 200).all() and (inputs.mask[:6] == C.MASK_KEEP).all()
    # after the kept frames: the source frame's pixels outside the (held) keyframe mask, gray and white inside
    assert (inputs.video[6, 0, 0] == 14).all() and (inputs.video[6, 15, 20] == C.NEUTRAL_GRAY).all()
    assert inputs.mask[6, 15, 20] == C.MASK_GENERATE and inputs.mask[6, 0, 0] == C.MASK_KEEP


def test_a_long_preview_compiles_window_one_with_the_plan_in_the_notes(media):
    inputs = compile_request(OutpaintRequest("numbered.mp4", left=1.5), long_settings(), CompileContext(media=media))
    assert inputs.num_frames == 9 and inputs.notes[0].startswith("3 windows: 0-8, 5-13, 8-16")
    reference = compile_request(ReferenceRequest(), long_settings(num_frames=21), CompileContext(media=media))
    assert reference.num_frames == 9 and reference.notes[0].startswith("4 windows")


def test_a_short_source_shortens_the_plan_and_an_extension_between_two_frames_stays_one_window(media):
    plan = plan_request_windows(EditRequest("numbered.mp4", (MaskKeyframe("rect.png", 0),)),
                                long_settings(num_frames=81), CompileContext(media=media))
    assert plan.total == 37 and plan.windows[-1].end == 37  # 40 source frames: the largest 4n+1 is 37
    with pytest.raises(InputError, match="between a first and a last clip"):
        plan_request_windows(ExtendRequest(first_frame="rect.png", last_frame="rect.png"), long_settings(),
                             CompileContext(media=media))


def photo(seed=3, count=6):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(30, 220, (H, W, 3), dtype=np.uint8), (7, 7), 0)
    return np.stack([np.roll(base, index, axis=1) for index in range(count)])


def lab_mean(frames):
    labs = [cv2.cvtColor(frame.astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3) for frame in frames]
    return np.concatenate(labs).mean(0)


@pytest.mark.parametrize("shift", [(12, 0, 0), (-10, 8, 4), (0, 0, -15)])
def test_a_known_colour_shift_is_undone(shift):
    truth = photo()
    shifted = np.clip(truth.astype(int) + shift, 0, 255).astype(np.uint8)
    corrected = correct_window(shifted, truth[:3], 1.0)
    before = np.abs(lab_mean(shifted) - lab_mean(truth)).sum()
    after = np.abs(lab_mean(corrected) - lab_mean(truth)).sum()
    assert before > 3 and after < 0.1 * before
    # on frames outside the overlap too: the match is fitted on the overlap and applied to the whole window
    error_after = np.abs(corrected[3:].astype(int) - truth[3:]).mean()
    assert error_after < 0.35 * np.abs(shifted[3:].astype(int) - truth[3:]).mean()


def test_strength_blends_and_zero_is_off():
    truth = photo()
    shifted = np.clip(truth.astype(int) + (20, 0, 0), 0, 255).astype(np.uint8)
    assert correct_window(shifted, truth[:3], 0.0) is shifted
    half = lab_mean(correct_window(shifted, truth[:3], 0.5))
    full = lab_mean(correct_window(shifted, truth[:3], 1.0))
    assert np.allclose(half, (lab_mean(shifted) + full) / 2, atol=0.6)
    match = ColorMatch.fit(truth, truth)
    assert np.abs(match.apply(truth).astype(int) - truth).max() <= 1  # matching to itself changes nothing


def test_cross_fade_is_linear_from_the_previous_window_to_the_new_one():
    previous, current = np.zeros((3, 2, 2, 3), np.uint8), np.full((3, 2, 2, 3), 200, np.uint8)
    assert [int(frame[0, 0, 0]) for frame in cross_fade(previous, current)] == [50, 100, 150]
