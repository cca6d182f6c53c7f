"""Long videos in core, continued: windows a backend's fixed frame counts allow, extension longer than one window
(forwards after a first clip, backwards before a last one) and an edit's mask tracked once through the whole clip
and sliced per window. In-memory media, pixel exact."""

import numpy as np
import pytest
from memory_media import MemoryMedia, numbered_video

from vace_ui.core import constants as C
from vace_ui.core.clip import CompileContext
from vace_ui.core.clip_frames import ClipFrames
from vace_ui.core.compile import compile_request, compile_window, plan_request_windows, prepare_windows
from vace_ui.core.errors import InputError
from vace_ui.core.requests import EditRequest, ExtendRequest, MaskKeyframe, MaskType
from vace_ui.core.settings import GenerationSettings
from vace_ui.core.windows import keep_previous, plan_windows

W, H = 64, 64
WAVESPEED = tuple(16 * seconds + 1 for seconds in range(5, 11))  # 81, 97, ..., 161


def spans(plan):
    return [(w.start, w.end - 1, w.keep) for w in plan.windows]


@pytest.fixture
def media():
    media = MemoryMedia()
    media.videos["numbered.mp4"] = (numbered_video(40, W, H), 16.0)
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[10:20, 10:30] = 255
    media.images["rect.png"] = mask
    media.images["photo.png"] = np.full((H, W, 3), 77, np.uint8)
    return media


def long_settings(**changes):
    return GenerationSettings(**{"prompt": "a cat", "num_frames": 17, "window_frames": 9, "window_overlap": 4,
                                 "size": "64x64", "fit": "crop", **changes})


@pytest.mark.parametrize("total", [150, 211, 300, 961])
def test_windows_of_a_backend_with_fixed_frame_counts_have_only_those_counts(total):
    plan = plan_windows(total, 81, 16, lengths=WAVESPEED)
    assert plan.windows[0].start == 0 and plan.windows[-1].end == total
    assert all(w.length in WAVESPEED for w in plan.windows)
    for previous, current in zip(plan.windows, plan.windows[1:]):
        assert current.keep == previous.end - current.start and current.keep >= 16
    # 150 frames: the short last window starts earlier so that it is 81 frames too (keeping 77)
    if total == 150:
        assert spans(plan) == [(0, 80, 0), (65, 145, 16), (69, 149, 77)]


def test_a_window_length_the_backend_does_not_make_is_an_input_error():
    with pytest.raises(InputError, match="window_frames.*WaveSpeed.*81, 97"):
        plan_windows(300, 49, 8, lengths=WAVESPEED, backend="WaveSpeed")


def test_a_reversed_plan_runs_from_the_end_and_keeps_each_windows_last_frames():
    plan = plan_windows(17, 9, 4, reverse=True)
    assert spans(plan) == [(8, 16, 0), (3, 11, 4), (0, 8, 6)]
    assert "generated from the end backwards" in plan.describe()
    inputs = compile_request(ExtendRequest(first_frame="photo.png"), long_settings(num_frames=5), CompileContext(
        media=MemoryMedia(images={"photo.png": np.full((H, W, 3), 77, np.uint8)})))
    kept = np.full((3, H, W, 3), 200, np.uint8)
    moved = keep_previous(inputs, kept, at_end=True)
    assert (moved.video[-3:] == 200).all() and (moved.mask[-3:] == C.MASK_KEEP).all()
    assert (moved.mask[:-3] == inputs.mask[:-3]).all()


def test_extension_after_a_clip_plans_kept_plus_new_frames_and_starts_from_the_clips_real_last_frames(media):
    ctx, request = CompileContext(media=media), ExtendRequest(first_clip="numbered.mp4")
    settings = long_settings(num_frames=17)  # 17 new frames; a 9-frame window keeps at most 4 clip frames
    plan = plan_request_windows(request, settings, ctx)
    assert plan.total == 4 + 17 and not plan.reverse and plan.windows[-1].end == 21
    first = compile_window(request, settings, ctx, plan.windows[0])
    assert first.num_frames == 9
    assert [int(frame[0, 0, 0]) for frame in first.video[:4]] == [36, 37, 38, 39]  # the clip's real last frames
    assert (first.mask[:4] == C.MASK_KEEP).all() and (first.mask[4:] == C.MASK_GENERATE).all()
    assert (first.video[4:] == C.NEUTRAL_GRAY).all()
    previous = np.full((plan.windows[1].keep, H, W, 3), 123, np.uint8)  # the previous window's output
    second = compile_window(request, settings, ctx, plan.windows[1], previous)
    keep = plan.windows[1].keep
    assert (second.video[:keep] == 123).all() and (second.mask[:keep] == C.MASK_KEEP).all()
    assert (second.mask[keep:] == C.MASK_GENERATE).all() and (second.video[keep:] == C.NEUTRAL_GRAY).all()


def test_extension_before_a_clip_runs_backwards_from_the_clips_first_frames(media):
    ctx, request = CompileContext(media=media), ExtendRequest(last_clip="numbered.mp4")
    settings = long_settings(num_frames=17)
    plan = plan_request_windows(request, settings, ctx)
    assert plan.total == 21 and plan.reverse and plan.windows[0].end == 21 and plan.windows[-1].start == 0
    first = compile_window(request, settings, ctx, plan.windows[0])
    assert [int(frame[0, 0, 0]) for frame in first.video[-4:]] == [0, 1, 2, 3]  # the clip's first frames, at the end
    assert (first.mask[-4:] == C.MASK_KEEP).all() and (first.mask[:-4] == C.MASK_GENERATE).all()
    later = np.full((plan.windows[1].keep, H, W, 3), 99, np.uint8)  # the first frames of the window after it
    second = compile_window(request, settings, ctx, plan.windows[1], later, reverse=True)
    assert (second.video[-len(later):] == 99).all() and (second.mask[-len(later):] == C.MASK_KEEP).all()
    assert (second.mask[:-len(later)] == C.MASK_GENERATE).all()


def test_a_single_first_frame_extension_keeps_one_frame_then_chains(media):
    ctx, request = CompileContext(media=media), ExtendRequest(first_frame="photo.png")
    plan = plan_request_windows(request, long_settings(num_frames=21), ctx)
    assert plan.total == 22 and plan.count > 1
    first = compile_window(request, long_settings(num_frames=21), ctx, plan.windows[0])
    assert (first.video[0] == 77).all() and (first.mask[0] == C.MASK_KEEP).all() and first.mask[1:].all()


class CountingTracker:
    """Stands in for the tracker: the mask is the keyframe's, shifted one pixel right a frame; it records calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, frames, keyframes, cut_occluders=True, tracker="flow"):
        self.calls.append((len(frames), sorted(keyframes)))
        first = min(keyframes)
        out = np.stack([np.roll(keyframes[first], index - first, axis=1) for index in range(len(frames))])
        for index, mask in keyframes.items():
            out[index] = mask
        frames[len(frames) - 1]  # random access works (decoded lazily)
        return out, "stand-in"


def test_a_long_tracked_edit_is_tracked_once_and_each_window_takes_its_slice(media):
    tracker = CountingTracker()
    ctx = CompileContext(media=media, track=tracker)
    request = EditRequest("numbered.mp4", (MaskKeyframe("rect.png", 0), MaskKeyframe("rect.png", 12)),
                          mask_type=MaskType.TRACKING, expand_ratio=0.0)
    settings = long_settings(num_frames=25)
    plan = plan_request_windows(request, settings, ctx)
    assert plan.count == 5
    shared = prepare_windows(request, settings, ctx, plan)
    whole = np.asarray(shared.tracked.masks)
    assert tracker.calls == [(25, [0, 12])]  # one run, over every output frame, with every keyframe
    for window in plan.windows:
        inputs = compile_window(request, settings, shared, window)
        assert np.array_equal(inputs.mask == C.MASK_GENERATE, whole[window.start:window.end])
        assert any("tracked once through the whole clip" in note for note in inputs.notes)
    assert len(tracker.calls) == 1  # the windows did not track again
    # window 3 (frames 10-18) has a keyframe of its own at 12 but none at its start: its masks still follow
    assert inputs.mask[0].any()


def test_clip_frames_stream_and_decode_blocks_on_demand(media):
    frames = ClipFrames(media, "numbered.mp4", tuple(range(40)), lambda frame: frame)
    assert len(frames) == 40 and int(frames[-1][0, 0, 0]) == 39 and int(frames[3][0, 0, 0]) == 3
    assert frames.decodes == 2
    assert [int(frame[0, 0, 0]) for frame in frames][:3] == [0, 1, 2]
