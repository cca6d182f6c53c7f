"""Exact pixel tests of the mask operations, the keyframe store and mask_type `fixed`."""

from __future__ import annotations

import numpy as np
import pytest

from vace_ui.core import masks as ops
from vace_ui.core.errors import InputError
from vace_ui.core.keyframes import Keyframes
from vace_ui.masks.tracker import blend_masks, fixed_masks


def rect(shape, x0, y0, x1, y1):
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_to_bool_thresholds_each_input_kind():
    gray = np.array([[0, 127, 128, 255]], np.uint8)
    assert ops.to_bool(gray).tolist() == [[False, False, True, True]]
    assert ops.to_bool(np.array([[0.2, 0.5, 0.51, 1.0]])).tolist() == [[False, False, True, True]]
    brush = np.zeros((1, 3, 4), np.uint8)
    brush[0, 1, 3] = 255  # black paint, alpha set: a brush layer
    assert ops.to_bool(brush).tolist() == [[False, True, False]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 0, 2] = 200
    assert ops.to_bool(rgb).tolist() == [[True, False]]


def test_to_uint8_uses_generate_and_keep_values():
    out = ops.to_uint8(np.array([[True, False]]))
    assert out.dtype == np.uint8 and out.tolist() == [[255, 0]]


def test_bounding_box_is_exclusive_and_none_when_empty():
    assert ops.bounding_box(rect((10, 12), 3, 2, 7, 5)) == (3, 2, 7, 5)
    assert ops.bounding_box(np.zeros((4, 4), bool)) is None


def test_expand_grows_each_side_by_half_the_ratio_of_the_box():
    mask = rect((40, 40), 10, 10, 20, 30)  # box 10 wide, 20 tall
    grown = ops.expand(mask, 0.4)  # x: round(0.4*10/2) = 2, y: round(0.4*20/2) = 4
    assert np.array_equal(grown, rect((40, 40), 8, 6, 22, 34))
    assert np.array_equal(ops.expand(mask, 0.0), mask)
    clipped = ops.expand(rect((20, 20), 0, 0, 10, 10), 1.0)  # 5 px each side, clipped at the frame
    assert np.array_equal(clipped, rect((20, 20), 0, 0, 15, 15))


def test_box_fills_the_bounding_box():
    mask = np.zeros((8, 8), bool)
    mask[2, 3] = mask[5, 6] = True
    assert np.array_equal(ops.box(mask), rect((8, 8), 3, 2, 7, 6))
    assert not ops.box(np.zeros((3, 3), bool)).any()


def test_hull_fills_between_corners_of_an_l_shape():
    mask = rect((10, 10), 1, 1, 3, 9) | rect((10, 10), 1, 7, 9, 9)  # an L
    filled = ops.hull(mask)
    assert filled[5, 4] and not mask[5, 4]  # inside the triangle the L spans
    assert not filled[1, 8]  # the corner opposite the L stays out
    assert (filled | mask).sum() == filled.sum()  # the hull contains the mask


def test_invert_union_subtract_clear():
    a, b = rect((6, 6), 0, 0, 3, 3), rect((6, 6), 2, 2, 5, 5)
    assert ops.invert(a).sum() == 36 - 9 and not (ops.invert(a) & a).any()
    assert ops.union(a, b).sum() == 9 + 9 - 1
    assert ops.subtract(a, b).sum() == 8 and not ops.subtract(a, b)[2, 2]
    cleared = ops.clear(a)
    assert cleared.shape == (6, 6) and cleared.dtype == bool and not cleared.any()
    with pytest.raises(ValueError):
        ops.union()


def test_iou_exact_values():
    a, b = rect((10, 10), 0, 0, 4, 4), rect((10, 10), 2, 0, 6, 4)
    assert ops.iou(a, b) == pytest.approx(8 / 24)
    assert ops.iou(a, a) == 1.0
    assert ops.iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0


def test_overlay_tints_masked_pixels_with_half_up_rounding():
    frame = np.zeros((2, 2, 3), np.uint8)
    frame[0, 0] = (100, 200, 10)
    frame[1, 1] = (0, 0, 0)
    mask = np.array([[True, False], [False, True]])
    out = ops.overlay(frame, mask, color=(255, 0, 80), alpha=0.5)
    # (100 + 255) / 2 = 177.5 -> 178, 200 / 2 = 100, (10 + 80) / 2 = 45
    assert out[0, 0].tolist() == [178, 100, 45]
    assert out[1, 1].tolist() == [128, 0, 40]  # 127.5 -> 128
    assert out[0, 1].tolist() == [0, 0, 0] and out[1, 0].tolist() == [0, 0, 0]  # unmasked pixels untouched
    default = ops.overlay(frame, mask)  # (255, 0, 80) at 0.45
    expected = [int(np.floor(v * 0.55 + c * 0.45 + 0.5)) for v, c in zip((100, 200, 10), (255, 0, 80))]
    assert default[0, 0].tolist() == expected == [170, 110, 42]
    assert out.dtype == np.uint8


def test_overlay_whole_clip_equals_per_frame():
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    masks = rng.random((3, 5, 7)) > 0.5
    whole = ops.overlay(clip, masks)
    assert all(np.array_equal(whole[i], ops.overlay(clip[i], masks[i])) for i in range(3))
    with pytest.raises(ValueError):
        ops.overlay(clip, masks[0])


def test_cut_out_alpha_from_mask_and_optional_crop():
    frame = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    mask = rect((4, 5), 1, 1, 3, 4)
    rgba = ops.cut_out(frame, mask)
    assert rgba.shape == (4, 5, 4) and rgba.dtype == np.uint8
    assert np.array_equal(rgba[..., :3], frame)
    assert np.array_equal(rgba[..., 3], np.where(mask, 255, 0))
    cropped = ops.cut_out(frame, mask, crop=True)
    assert cropped.shape == (3, 2, 4) and np.array_equal(cropped[..., :3], frame[1:4, 1:3])
    assert (cropped[..., 3] == 255).all()
    assert ops.cut_out(frame, np.zeros((4, 5), bool), crop=True).shape == (4, 5, 4)
    assert ops.cut_out(np.dstack([frame, frame[..., :1]]), mask).shape == (4, 5, 4)  # RGBA input: alpha replaced


def test_fixed_masks_hold_until_the_next_keyframe_and_back_to_zero():
    a, b = rect((4, 4), 0, 0, 2, 2), rect((4, 4), 2, 2, 4, 4)
    out = fixed_masks(8, {3: a, 6: b})
    assert out.shape == (8, 4, 4) and out.dtype == bool
    for index in range(0, 6):
        assert np.array_equal(out[index], a), index
    for index in range(6, 8):
        assert np.array_equal(out[index], b), index
    with pytest.raises(InputError):
        fixed_masks(8, {})
    with pytest.raises(InputError):
        fixed_masks(8, {8: a})


def test_blend_masks_endpoints_and_midpoint_morph():
    left, right = rect((20, 40), 2, 5, 12, 15), rect((20, 40), 22, 5, 32, 15)
    assert np.array_equal(blend_masks(left, right, 1.0), left)
    assert np.array_equal(blend_masks(left, right, 0.0), right)
    assert np.array_equal(blend_masks(left, left, 0.3), left)
    middle = blend_masks(rect((40, 40), 2, 2, 12, 38), rect((40, 40), 2, 2, 22, 38), 0.5)
    # The signed distances average (x = 16: +5 and -6; x = 17: +6 and -5): the right edge lands halfway.
    assert middle[20, 16] and not middle[20, 17] and middle[20, 2] and not middle[20, 1]
    # Disjoint masks (or one empty) are not morphed: the more heavily weighted one is returned whole.
    assert np.array_equal(blend_masks(left, right, 0.6), left) and np.array_equal(blend_masks(left, right, 0.5), right)
    assert np.array_equal(blend_masks(np.zeros_like(left), right, 0.3), right)


def test_keyframes_add_subtract_clear_remove_and_governing():
    keys = Keyframes(n_frames=10, height=6, width=8)
    keys.add(4, rect((6, 8), 0, 0, 3, 3))
    keys.add(4, (rect((6, 8), 4, 0, 6, 2) * 255).astype(np.uint8))  # uint8 input is binarised
    assert keys.get(4).sum() == 9 + 4
    keys.subtract(4, rect((6, 8), 0, 0, 1, 6))
    assert keys.get(4).sum() == 13 - 3
    keys.clear(7)
    assert keys.get(7) is not None and not keys.get(7).any()
    assert keys.indices == [4, 7]
    assert keys.governing(2) == 4 and keys.governing(5) == 4 and keys.governing(9) == 7
    held = keys.fixed()
    assert held[0].sum() == 10 and held[6].sum() == 10 and held[7].sum() == 0
    keys.remove(7)
    assert keys.indices == [4] and keys.fixed()[9].sum() == 10
    copy = keys.as_dict()
    copy[4][:] = False
    assert keys.get(4).sum() == 10  # as_dict copies


def test_keyframes_reject_bad_frames_and_sizes():
    keys = Keyframes(n_frames=5, height=6, width=8)
    with pytest.raises(InputError, match="outside the clip"):
        keys.set(5, np.zeros((6, 8), bool))
    with pytest.raises(InputError, match="frames are 8x6"):
        keys.set(0, np.zeros((8, 6), bool))
    with pytest.raises(InputError, match="at least one frame"):
        keys.fixed()
