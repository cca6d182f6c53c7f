"""The Edit frame view's pieces without a browser: strokes as the browser sends them become masks (brush adds,
eraser removes, in order), the view tints a mask in its kind's colour, the timeline marks keyframes and tracked
runs, and the editor's shown mask prefers a mask not kept yet over a kept one over a tracked one."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

from vace_ui.ui import frame_view as fv
from vace_ui.ui.mask_editor import MaskEditor


def test_brush_then_eraser_strokes_paint_in_order():
    text = json.dumps({"shown": 3, "frames": {"3": [{"erase": False, "r": 5, "p": [[10, 20], [50, 20]]},
                                                   {"erase": True, "r": 4, "p": [[30, 20]]}], "4": []}})
    shown, strokes = fv.parse_strokes(text)
    assert shown == 3 and list(strokes) == [3]  # a frame without strokes is dropped
    mask = fv.apply_strokes(None, strokes[3], 40, 64)
    assert mask[20, 12] and mask[20, 48] and not mask[20, 30]  # painted, then a hole erased in the middle
    assert not mask[5, 30] and not mask[20, 60]
    assert fv.parse_strokes("not json") == (None, {}) and fv.parse_strokes('{"frames": {"x": 1}}') == (None, {})


def test_view_tints_the_mask_and_timeline_marks_keyframes_and_tracked_runs():
    frame = np.zeros((20, 30, 3), np.uint8)
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:15] = True
    html = fv.view_html(frame, 7, mask, fv.Tint.TRACKED, clear=(7,))
    assert 'data-index="7"' in html and 'data-tint="tracked"' in html and 'data-clear="7"' in html
    src = html.split('class="vfv-mask"')[1].split('src="')[1].split('"')[0]
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGBA"))
    assert np.array_equal(pixels[..., 3] > 0, mask) and tuple(pixels[6, 6]) == fv.Tint.TRACKED.value
    strip = fv.timeline_html(fv.Strip(40, keyframes=(4, 10), tracked=(0, 1, 2, 3, 5, 6), current=10))
    assert strip.count('class="vtl-key"') == 2 and 'data-frame="10"' in strip
    assert strip.count('class="vtl-tracked"') == 2  # runs 0-3 and 5-6
    assert "Tracking" in fv.timeline_html(fv.Strip(40, keyframes=(4,), progress=(5, 36)))


def test_shown_mask_prefers_pending_then_kept_then_tracked():
    editor = MaskEditor()
    editor.load("clip.mp4", 5, 8, 6)
    kept = np.zeros((6, 8), bool)
    kept[1:3, 1:3] = True
    editor.keep(2, kept)
    tracked = np.zeros((5, 6, 8), bool)
    tracked[:, 4:, 4:] = True
    editor.set_tracked(tracked)
    assert editor.shown_mask(2)[1] == "kept" and np.array_equal(editor.shown_mask(2)[0], kept)
    assert editor.shown_mask(3)[1] == "tracked" and np.array_equal(editor.shown_mask(3)[0], tracked[3])
    editor.pending[3] = ~tracked[3]
    assert editor.shown_mask(3)[1] == "pending"
    editor.keep(3, tracked[3])  # a new keyframe: the tracked masks are stale and dropped
    assert editor.tracked == {} and editor.shown_mask(4) == (None, "")


def test_flow_tracking_reports_each_frame_it_has_tracked():
    from conftest import moving_square_video

    from vace_ui.masks.tracker import track_masks

    frames = list(moving_square_video(12, 64, 48))
    key = np.zeros((48, 64), bool)
    key[20:30, 20:30] = True
    reported = []
    masks = track_masks(frames, {3: key, 8: key}, on_mask=reported.append)
    assert set(reported) == set(range(12)) - {3, 8} and masks.shape == (12, 48, 64)
    assert reported[:3] == [2, 1, 0]  # backward from the first keyframe first: the strip fills as it goes
