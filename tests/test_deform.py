"""The flow tracker's per-pixel part (vace_ui/masks/deform.py): bending detection, the tolerance and priors it
switches on, and the removal of occluder patches that happen to match the object."""

from __future__ import annotations

import math

import cv2
import numpy as np

from tests.test_tracker import ious, texture
from vace_ui.masks.deform import Deformation, hysteresis
from vace_ui.masks.tracker import TrackerConfig, track_masks
from vace_ui.masks.work_frames import WorkFrames


def _deformation(config: TrackerConfig = TrackerConfig()) -> Deformation:
    frame = texture(96, 96, 3)
    key = np.zeros((96, 96), np.uint8)
    key[20:76, 20:76] = 255
    return Deformation(WorkFrames([frame], config), 0, key, key, config)


def test_a_bending_map_is_told_from_a_moving_rigid_one():
    deformation = _deformation()
    h, w = deformation.grid.shape[:2]
    amodal, error = np.ones((h, w), bool), np.zeros((h, w), np.float32)
    deformation.pull = deformation.grid + np.float32([3.0, -2.0])  # rigid: a shift
    assert not deformation._bending(amodal, error)
    rows = 6 * np.sin(2 * np.pi * np.arange(h) / h).astype(np.float32)
    deformation.pull = deformation.grid.copy()
    deformation.pull[..., 0] += rows[:, None]  # each row shifted sideways: a wave
    assert deformation._bending(amodal, error)
    # Only where the keyframe's colours still explain the frame does the gradient count.
    assert not deformation._bending(amodal, np.full((h, w), 99.0, np.float32))


def test_small_patches_inside_the_covered_part_are_cut_but_parts_on_the_outline_stay():
    deformation = _deformation()
    amodal = np.zeros((80, 80), bool)
    amodal[10:70, 10:70] = True
    visible = np.zeros_like(amodal)
    visible[10:70, 10:35] = True  # the uncovered left part
    visible[35:40, 50:55] = True  # matching occluder texture, surrounded by covered pixels
    visible[30:36, 64:70] = True  # a small part on the right outline: the object peeking out
    kept = deformation._drop_islands(visible, amodal)
    assert kept[10:70, 10:35].all() and kept[30:36, 64:70].all()
    assert not kept[35:40, 50:55].any()
    assert (deformation._drop_islands(visible, amodal) == visible).sum() == visible.size - 25
    off = _deformation(TrackerConfig(island_share=0.0))
    assert (off._drop_islands(visible, amodal) == visible).all()


def _waving_clip(n_frames: int = 20, size=(192, 160)):
    """A textured 64x64 patch whose rows shift sideways in a travelling wave (outline included), drifting right."""
    width, height = size
    background = texture(height, width, 7, (0.5, 0.7, 1.0))
    patch = texture(64, 64, 8, (1.0, 0.8, 0.4))
    ys, xs = np.mgrid[0:64, 0:64].astype(np.float32)
    frames, truths = [], []
    for t in range(n_frames):
        shift = (7 * np.sin(2 * math.pi * (ys / 64 + t / 16))).astype(np.float32)
        map_x = xs + shift
        moved = cv2.remap(patch, map_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        inside = (map_x >= 0) & (map_x <= 63)
        x0, y0 = 50 + 2 * t, 48
        frame = background.copy()
        truth = np.zeros((height, width), bool)
        truth[y0:y0 + 64, x0:x0 + 64] = inside
        frame[y0:y0 + 64, x0:x0 + 64][inside] = moved[inside]
        frames.append(frame)
        truths.append(truth)
    return np.stack(frames), np.stack(truths)


def test_a_waving_patch_is_followed_better_with_bending_handling_than_without():
    frames, truths = _waving_clip()
    with_bending = ious(track_masks(frames, {0: truths[0]}), truths, skip={0})
    rigid_only = TrackerConfig(bending_gradient=float("inf"))  # never counts as bending
    without = ious(track_masks(frames, {0: truths[0]}, config=rigid_only), truths, skip={0})
    assert with_bending.mean() > without.mean() + 0.01, (with_bending.mean(), without.mean())
    assert with_bending.min() >= 0.8, with_bending.round(3)


def test_the_shear_prior_leaves_a_rigid_objects_squash_alone():
    """The prior applies while the object bends only: a rigid square squashed by an affine motion is tracked
    the same whatever its weight."""
    width, height = 160, 128
    background, patch = texture(height, width, 0, (0.5, 0.7, 1.0)), texture(40, 40, 1, (1.0, 0.8, 0.4))
    frames, truths = [], []
    for t in range(12):
        amount = 0.25 * math.sin(math.pi * t / 11)
        matrix = np.float32([[1 + amount, 0, 60 - 20 * amount], [0, 1 - amount, 44 + 20 * amount]])
        truth = cv2.warpAffine(np.ones((40, 40), np.uint8), matrix, (width, height), flags=cv2.INTER_NEAREST) > 0
        frame = background.copy()
        frame[truth] = cv2.warpAffine(patch, matrix, (width, height))[truth]
        frames.append(frame)
        truths.append(truth)
    frames, truths = np.stack(frames), np.stack(truths)
    light = track_masks(frames, {0: truths[0]}, config=TrackerConfig(shear_prior=0.0))
    heavy = track_masks(frames, {0: truths[0]}, config=TrackerConfig(shear_prior=5.0))
    assert (light == heavy).all()
    assert ious(heavy, truths).min() >= 0.85


def test_the_bending_tolerance_only_extends_what_matches_strictly():
    """An object's strict match with a ragged edge, and tolerant matches both along that edge and in a patch of
    occluder texture well away from it: the edge is kept, the patch is not (it was, with the tolerance alone)."""
    strict = np.zeros((40, 60), bool)
    strict[5:35, 5:25] = True
    tolerant = np.zeros_like(strict)
    tolerant[5:35, 25:27] = True  # the bending edge, 2 px beyond the strict match
    tolerant[15:22, 40:50] = True  # occluder texture within the tolerance
    strict[30, 45] = True  # a lone strict pixel in it seeds nothing
    kept = hysteresis(strict, tolerant, 2)
    assert kept[5:35, 5:27].all()
    assert not kept[15:22, 40:50].any()
    assert kept[30, 45] and kept.sum() == strict.sum() + 2 * 30
    assert hysteresis(strict, tolerant, 0).sum() == (strict | tolerant).sum()
