"""Pixel-exact tests of every compile rule in ../shared/VACE_FORMAT.md, with in-memory media."""

import numpy as np
import pytest
from memory_media import MemoryMedia, numbered_video

from vace_ui import annotators
from vace_ui.core import constants as C
from vace_ui.core.clip import CompileContext
from vace_ui.core.compile import compile_request
from vace_ui.core.errors import InputError
from vace_ui.core.requests import (
    EditRequest,
    ExtendRequest,
    MaskKeyframe,
    MaskShape,
    OutpaintRequest,
    ReferenceImage,
    ReferenceRequest,
    RefRole,
    RepaintRequest,
)
from vace_ui.core.settings import FitMode, GenerationSettings

W, H = 832, 480


def settings(**changes):
    return GenerationSettings(**{"prompt": "a cat", "num_frames": 9, **changes})


def annotate(kind, frames, total, source=None):
    return annotators.get(kind).process(frames, total)


@pytest.fixture
def media():
    rng = np.random.default_rng(1)
    media = MemoryMedia()
    media.videos["clip.mp4"] = (rng.integers(0, 256, (20, H, W, 3), dtype=np.uint8), 16.0)
    media.videos["numbered.mp4"] = (numbered_video(64, W, H), 16.0)
    rect = np.zeros((H, W), dtype=np.uint8)
    rect[100:140, 200:300] = 255
    media.images["rect.png"] = rect
    media.images["empty.png"] = np.zeros((H, W), dtype=np.uint8)
    media.images["small.png"] = np.zeros((H // 2, W // 2), dtype=np.uint8)
    media.images["red.png"] = np.full((240, 416, 3), (255, 0, 0), dtype=np.uint8)
    return media


def ctx(media):
    return CompileContext(media=media, annotate=annotate)


def test_reference_gray_video_white_mask_and_refs_on_white(media):
    media.images["tall.png"] = np.zeros((480, 240, 3), dtype=np.uint8)
    request = ReferenceRequest(
        (ReferenceImage("tall.png", RefRole.SUBJECT), ReferenceImage("red.png", RefRole.BACKGROUND))
    )
    inputs = compile_request(request, settings(), ctx(media))
    assert inputs.video.shape == (9, H, W, 3) and (inputs.video == C.NEUTRAL_GRAY).all()
    assert (inputs.mask == C.MASK_GENERATE).all()
    tall, red = inputs.references
    assert (tall[:, :296] == 255).all() and (tall[:, 536:] == 255).all() and (tall[:, 296:536] == 0).all()
    assert (red == [255, 0, 0]).all()  # same aspect as the output: fills it


def test_text_only_has_no_references(media):
    inputs = compile_request(ReferenceRequest(), settings(), ctx(media))
    assert inputs.references == [] and "text only" in inputs.notes[0]


def test_more_than_three_references_is_rejected(media):
    request = ReferenceRequest(tuple(ReferenceImage("red.png") for _ in range(4)))
    with pytest.raises(InputError, match="at most 3"):
        compile_request(request, settings(), ctx(media))


def test_repaint_gray_control_is_the_official_gray_in_three_channels_all_white_mask(media):
    import cv2

    inputs = compile_request(
        RepaintRequest("clip.mp4", "gray", strength=0.5), settings(conditioning_scale=1.5), ctx(media)
    )
    source = media.videos["clip.mp4"][0]
    for index in range(9):
        gray = cv2.cvtColor(source[index], cv2.COLOR_BGR2GRAY)  # the official annotator's call, on RGB frames
        assert np.array_equal(inputs.video[index], np.stack([gray] * 3, axis=-1))
    assert (inputs.mask == 255).all()
    assert inputs.conditioning_scale == pytest.approx(0.75)


def test_repaint_canny_is_binary_edges(media):
    inputs = compile_request(RepaintRequest("clip.mp4", "canny"), settings(), ctx(media))
    assert set(np.unique(inputs.video)) <= {0, 255}


def test_repaint_control_inside_mask_only_keeps_the_rest(media):
    request = RepaintRequest("clip.mp4", "gray", control_mask="rect.png")
    inputs = compile_request(request, settings(), ctx(media))
    source = media.videos["clip.mp4"][0]
    inside = np.zeros((H, W), dtype=bool)
    inside[100:140, 200:300] = True
    assert np.array_equal(inputs.video[3][~inside], source[3][~inside])
    assert (inputs.video[3][inside][:, 0] == inputs.video[3][inside][:, 1]).all()  # gray control inside
    assert (inputs.mask[:, inside] == 255).all() and (inputs.mask[:, ~inside] == 0).all()


def test_edit_fixed_fills_region_gray_and_whitens_mask(media):
    request = EditRequest("clip.mp4", (MaskKeyframe("rect.png", 0),), expand_ratio=0.0)
    inputs = compile_request(request, settings(), ctx(media))
    source = media.videos["clip.mp4"][0][:9]
    inside = np.zeros((H, W), dtype=bool)
    inside[100:140, 200:300] = True
    assert (inputs.video[:, inside] == C.NEUTRAL_GRAY).all()
    assert np.array_equal(inputs.video[:, ~inside], source[:, ~inside])
    assert (inputs.mask[:, inside] == 255).all() and (inputs.mask[:, ~inside] == 0).all()


def test_edit_expand_ratio_grows_each_side_by_half_the_ratio_of_the_box(media):
    request = EditRequest("clip.mp4", (MaskKeyframe("rect.png", 0),), expand_ratio=0.1)
    mask = compile_request(request, settings(), ctx(media)).mask[0]
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (98, 142, 195, 305)
    assert mask[98:142, 195:305].all() and mask.sum() == 44 * 110 * 255


def test_edit_box_shape(media):
    diagonal = np.zeros((H, W), dtype=np.uint8)
    for i in range(50):
        diagonal[100 + i, 200 + i] = 255
    media.images["diag.png"] = diagonal
    request = EditRequest("clip.mp4", (MaskKeyframe("diag.png", 0),), expand_ratio=0.0, mask_shape=MaskShape.BOX)
    mask = compile_request(request, settings(), ctx(media)).mask[0]
    assert mask[100:150, 200:250].all() and mask.sum() == 50 * 50 * 255


def test_edit_keyframes_hold_until_the_next(media):
    other = np.zeros((H, W), dtype=np.uint8)
    other[300:320, 600:640] = 255
    media.images["other.png"] = other
    request = EditRequest(
        "numbered.mp4", (MaskKeyframe("rect.png", 0), MaskKeyframe("other.png", 5)), expand_ratio=0.0
    )
    mask = compile_request(request, settings(), ctx(media)).mask
    assert mask[:5, 110, 250].all() and not mask[:5, 310, 610].any()
    assert mask[5:, 310, 610].all() and not mask[5:, 110, 250].any()


@pytest.mark.parametrize(
    "keyframe, message",
    [("empty.png", "empty"), ("small.png", "416x240 but the video is 832x480")],
)
def test_edit_bad_masks_are_clear_errors(media, keyframe, message):
    with pytest.raises(InputError, match=message):
        compile_request(EditRequest("clip.mp4", (MaskKeyframe(keyframe, 0),)), settings(), ctx(media))


def test_edit_mask_frame_past_the_end(media):
    with pytest.raises(InputError, match="past the video's last frame"):
        compile_request(EditRequest("clip.mp4", (MaskKeyframe("rect.png", 99),)), settings(), ctx(media))


def test_edit_keyframe_outside_the_used_part_says_so_instead_of_moving_it(media):
    """30 fps, 17 output frames use source frames 0-30: a keyframe on frame 40 is not silently moved to 30."""
    media.videos["thirty.mp4"] = (numbered_video(90, W, H), 30.0)
    with pytest.raises(InputError, match=r"source frame 40 \(1\.33 s\) lies outside the part of the video used "
                                         r"\(frames 0-30, .*raise the duration to at least 1\.37 s"):
        compile_request(EditRequest("thirty.mp4", (MaskKeyframe("rect.png", 40),)), settings(num_frames=17),
                        ctx(media))
    inputs = compile_request(EditRequest("thirty.mp4", (MaskKeyframe("rect.png", 40),)), settings(num_frames=25),
                             ctx(media))
    assert (inputs.mask[21:, 120, 250] == 255).all()  # held from the output frame that shows source frame 40


def test_edit_mask_video_is_binarised_frame_for_frame(media):
    masks = np.zeros((20, H, W, 3), dtype=np.uint8)
    masks[:, 10:20, 10:20] = 200  # lossy-ish white still counts
    masks[:, 30:40, 30:40] = 90  # below half: keep
    media.videos["mask.mp4"] = (masks, 16.0)
    mask = compile_request(EditRequest("clip.mp4", mask_video="mask.mp4", expand_ratio=0), settings(), ctx(media)).mask
    assert (mask[:, 10:20, 10:20] == 255).all() and (mask[:, 30:40, 30:40] == 0).all()
    assert set(np.unique(mask)) == {0, 255}


def test_extend_first_clip_kept_rest_generated(media):
    inputs = compile_request(ExtendRequest(first_clip="numbered.mp4"), settings(num_frames=81), ctx(media))
    assert [int(inputs.video[i, 0, 0, 0]) for i in range(48)] == list(range(16, 64))  # last 3 s of a 4 s clip
    assert (inputs.mask[:48] == 0).all() and (inputs.mask[48:] == 255).all()
    assert (inputs.video[48:] == C.NEUTRAL_GRAY).all()
    assert any("last 48 frames" in note for note in inputs.notes)


def test_extend_first_and_last_frame_images(media):
    media.images["blue.png"] = np.full((240, 416, 3), (0, 0, 255), dtype=np.uint8)
    request = ExtendRequest(first_frame="red.png", last_frame="blue.png")
    inputs = compile_request(request, settings(), ctx(media))
    assert (inputs.video[0] == [255, 0, 0]).all() and (inputs.video[-1] == [0, 0, 255]).all()
    assert (inputs.mask[0] == 0).all() and (inputs.mask[-1] == 0).all() and (inputs.mask[1:-1] == 255).all()
    assert (inputs.video[1:-1] == C.NEUTRAL_GRAY).all()


def test_extend_keeps_short_clips_whole_and_generates_the_frames_asked(media):
    media.videos["short.mp4"] = (numbered_video(8, W, H), 16.0)
    inputs = compile_request(ExtendRequest(first_clip="short.mp4", last_clip="short.mp4"), settings(), ctx(media))
    assert inputs.num_frames == 8 + 9 + 8  # Frames = the new footage; the kept frames come on top
    assert [int(inputs.video[i, 0, 0, 0]) for i in range(8)] == list(range(8))  # up to the clip's last frame
    assert [int(inputs.video[i, 0, 0, 0]) for i in range(17, 25)] == list(range(8))
    assert (inputs.mask[8:17] == 255).all() and (inputs.video[8:17] == C.NEUTRAL_GRAY).all()
    assert (inputs.mask[:8] == 0).all() and (inputs.mask[17:] == 0).all()
    assert inputs.notes[-1] == "9 new frames generated; 25 frames in all (1.56 s)."


def test_extend_a_first_clip_continues_from_its_real_last_frame(media):
    """A 2 s, 32-frame clip at 16 fps: at Frames 33 all 32 frames are kept and 33 are generated after frame 31;
    at Frames 17 the same. A 30 fps clip is sampled back from its last frame, never cut at the front."""
    media.videos["two_s.mp4"] = (numbered_video(32, W, H), 16.0)
    for frames in (33, 17):
        inputs = compile_request(ExtendRequest(first_clip="two_s.mp4"), settings(num_frames=frames), ctx(media))
        kept = int((inputs.mask.reshape(inputs.num_frames, -1) == 0).all(axis=1).sum())
        assert int(inputs.video[kept - 1, 0, 0, 0]) == 31 and kept + frames == inputs.num_frames
        assert kept == 32 and (inputs.mask[kept:] == 255).all()
        assert any("continues from its last frame (31)" in note for note in inputs.notes)
        assert not any("dropped" in note for note in inputs.notes)
    media.videos["thirty.mp4"] = (numbered_video(60, W, H), 30.0)
    inputs = compile_request(ExtendRequest(first_clip="thirty.mp4"), settings(num_frames=17), ctx(media))
    kept = int((inputs.mask.reshape(inputs.num_frames, -1) == 0).all(axis=1).sum())
    assert int(inputs.video[kept - 1, 0, 0, 0]) == 59 and (inputs.num_frames - 1) % 4 == 0


def test_extend_single_frames_get_the_few_frames_4n_plus_1_needs_and_say_so(media):
    media.images["blue.png"] = np.full((240, 416, 3), (0, 0, 255), dtype=np.uint8)
    inputs = compile_request(ExtendRequest(first_frame="red.png", last_frame="blue.png"), settings(), ctx(media))
    assert inputs.num_frames == 13 and (inputs.mask[1:-1] == 255).all()
    assert "11 new frames instead of 9" in " ".join(inputs.notes)


def test_outpaint_says_when_the_chosen_size_is_replaced(media):
    media.videos["small.mp4"] = (np.full((9, 240, 416, 3), 77, dtype=np.uint8), 16.0)
    inputs = compile_request(OutpaintRequest("small.mp4", left=1.5, right=1.5), settings(), ctx(media))
    note = next(note for note in inputs.notes if note.startswith("size:"))
    assert note.startswith(f"size: {inputs.width}x{inputs.height} instead of 832x480")


def outpaint_box(src_w, src_h, request, out_w, out_h):
    """Where the video lands, by the stated rule: the expanded picture (video + borders of (scale - 1) x the
    video's extent) is fitted inside the output without stretching, centred; returns (x0, y0, x1, y1)."""
    wide, tall = request.left + request.right - 1, request.top + request.bottom - 1
    s = min(out_w / (src_w * wide), out_h / (src_h * tall))
    pad_x, pad_y = (out_w - src_w * wide * s) / 2, (out_h - src_h * tall * s) / 2
    return (round(pad_x + (request.left - 1) * src_w * s), round(pad_y + (request.top - 1) * src_h * s),
            round(pad_x + request.left * src_w * s), round(pad_y + request.top * src_h * s))


def test_outpaint_places_video_on_larger_gray_canvas(media):
    media.videos["small.mp4"] = (np.full((9, 240, 416, 3), 77, dtype=np.uint8), 16.0)
    request = OutpaintRequest("small.mp4", left=1.5, right=1.5)
    inputs = compile_request(request, settings(), ctx(media))
    height, width = inputs.height, inputs.width
    assert width > height * 3  # aspect 2 x 832/480
    x0, y0, x1, y1 = outpaint_box(416, 240, request, width, height)
    assert (inputs.video[:, y0:y1, x0:x1] == 77).all()
    assert (inputs.video[:, :, :x0] == C.NEUTRAL_GRAY).all() and (inputs.video[:, :, x1:] == C.NEUTRAL_GRAY).all()
    assert (inputs.mask[:, y0:y1, x0:x1] == 0).all() and (inputs.mask[:, :, :x0] == 255).all()
    assert (inputs.mask[:, :y0] == 255).all() and (inputs.mask[:, y1:] == 255).all()


@pytest.mark.parametrize("scales, expected", [
    ({"top": 1.2, "bottom": 1.2, "left": 1.2, "right": 1.2}, (832, 480)),  # same aspect: the trained size
    ({"left": 1.25, "right": 1.25}, (1040, 384)),
    ({"left": 1.5, "top": 1.25}, None),
    ({"right": 2.0}, None),
])
def test_outpaint_canvas_follows_the_official_patch_count_rule(media, scales, expected):
    from test_core_geometry import expected_size

    request = OutpaintRequest("clip.mp4", **scales)
    wide, tall = request.left + request.right - 1, request.top + request.bottom - 1
    canvas = (round(W * wide * 1000), round(H * tall * 1000))  # the expanded canvas's aspect, exactly
    assert expected is None or expected == expected_size(*canvas, (832, 480))
    inputs = compile_request(request, settings(), ctx(media))
    assert (inputs.width, inputs.height) == expected_size(*canvas, (832, 480))
    x0, y0, x1, y1 = outpaint_box(W, H, request, inputs.width, inputs.height)
    keep = np.zeros((inputs.height, inputs.width), dtype=bool)
    keep[y0:y1, x0:x1] = True
    assert np.array_equal(inputs.mask[0] == 0, keep)
    assert abs((x1 - x0) / (y1 - y0) - W / H) < 0.01  # the video is not stretched
    assert any("patch count" in note or "trained size" in note for note in inputs.notes)


def test_outpaint_requires_some_expansion_and_range(media):
    with pytest.raises(InputError, match="raise at least one side"):
        compile_request(OutpaintRequest("clip.mp4"), settings(), ctx(media))
    with pytest.raises(InputError, match="top_scale"):
        compile_request(OutpaintRequest("clip.mp4", top=2.5), settings(), ctx(media))


def test_pad_mode_border_is_generated_in_edit(media):
    media.videos["square.mp4"] = (np.full((9, 320, 320, 3), 50, dtype=np.uint8), 16.0)
    square = np.zeros((320, 320), dtype=np.uint8)
    square[0:10, 0:10] = 255
    media.images["sq.png"] = square
    request = EditRequest("square.mp4", (MaskKeyframe("sq.png", 0),), expand_ratio=0)
    inputs = compile_request(request, settings(fit=FitMode.PAD), ctx(media))
    assert (inputs.mask[:, :, :176] == 255).all() and (inputs.video[:, :, :176] == C.NEUTRAL_GRAY).all()
    assert (inputs.video[:, 200:, 300:600] == 50).all()


@pytest.mark.parametrize("request_for", [
    lambda: EditRequest("clip.mp4", (MaskKeyframe("rect.png", 0),)),
    lambda: OutpaintRequest("clip.mp4", left=1.5),
    lambda: RepaintRequest("clip.mp4", "gray"),
], ids=["edit", "outpaint", "repaint"])
def test_each_video_is_probed_and_decoded_once(media, request_for):
    """Probing a real file counts its frames by decoding it: it must happen once per compile."""
    compile_request(request_for(), settings(), ctx(media))
    assert media.probed == ["clip.mp4"]
    assert [path for path, _ in media.decoded] == ["clip.mp4"]
