"""The tracking bench's targets, on the bench's own clips (bench/tracking.py), so a drift shows the day it appears.
Marked slow (a few minutes on 2 cores); scripts/test.sh runs it with the rest."""

from __future__ import annotations

import numpy as np
import pytest

from bench import tracking as bench
from vace_ui.masks.tracker import track_masks

pytestmark = pytest.mark.slow

# The clips are drawn in numpy (no OpenCV warps): the same bytes with OpenCV 4.12 to 5.1 and on any CPU. A new
# digest means the clips changed (a scene was edited, or scikit-image's photographs did): figures from before and
# after are then not comparable.
CLIPS_DIGEST = "d8c92855eacb9590"


@pytest.fixture(scope="module")
def clips():
    return {scene.name: bench.render(scene, 81) for scene in bench.SCENES}


def test_the_clips_are_the_same_bytes_everywhere(clips):
    assert bench.clip_digest(list(clips.values())) == CLIPS_DIGEST


# Issue 11's targets hold on every clip except these two, which the tracker does not reach yet (figures in the
# bench's output). strict: the day they are met, this fails and the entry must go.
SHORT_OF_TARGETS = {"waving-flag": "deforming subject: about 0.945 mean / 0.90 worst (mean short of 0.95)",
                    "waving-occluded": "deforming subject under a 70% occluder: about 0.90 mean / 0.82 worst (mean "
                                       "short of 0.95)"}


@pytest.mark.parametrize("name", [pytest.param(scene.name, marks=pytest.mark.xfail(
    strict=True, reason=SHORT_OF_TARGETS[scene.name])) if scene.name in SHORT_OF_TARGETS else scene.name
    for scene in bench.SCENES])
def test_the_tracker_meets_the_targets_on_each_clip(clips, name):
    frames, truths = clips[name]
    scores = bench.scores(track_masks(frames, {0: truths[0]}), truths)
    figures = (round(float(scores.mean()), 4), round(float(scores.min()), 3))
    assert scores.mean() >= bench.TARGET_MEAN, figures
    assert scores.min() >= bench.TARGET_WORST, figures


def test_the_object_is_back_the_frame_the_occluder_has_left(clips):
    """The occluder covers up to 70% and leaves; on the first frames with nothing in front of the object, the
    mask is whole again (the earlier tracker kept it cut for frames after the occluder had gone)."""
    frames, truths = clips["entering-occluder"]
    masks = track_masks(frames, {0: truths[0]})
    u = np.arange(len(frames)) / (len(frames) - 1)
    first_clear = int(np.flatnonzero(u >= 0.8)[0])
    for index in range(first_clear, first_clear + 3):
        assert bench.ops.iou(masks[index], truths[index]) >= 0.9, index


def test_a_keyframe_on_a_covered_object_keeps_the_covered_part_coming_back(clips):
    """A correction painted while the occluder covers 70% of the object shows only the visible 30%. The earlier
    keyframe's track, which agrees with it and knows the whole shape, stands for the rest: once the occluder has
    left, the mask is whole again (before: the keyframe's 30% alone, IoU about 0.3 to the end of the clip)."""
    frames, truths = clips["entering-occluder"]
    middle = len(frames) // 2
    assert truths[middle].sum() < 0.4 * truths[0].sum()  # the keyframe shows the object mostly covered
    scores = bench.scores(track_masks(frames, {0: truths[0], middle: truths[middle]}), truths)
    late = scores[int(0.85 * len(frames)) - 1:]  # scores[i - 1] is frame i's
    assert late.min() >= 0.9, round(float(late.min()), 3)
    assert scores.mean() >= bench.TARGET_MEAN, round(float(scores.mean()), 4)
    # The same with the whole object given on the last frame instead: the frames before the covered keyframe
    # come back whole too (the last keyframe's track speaks there).
    last = len(frames) - 1
    masks = track_masks(frames, {middle: truths[middle], last: truths[last]})
    early = [bench.ops.iou(masks[index], truths[index]) for index in range(int(0.15 * len(frames)))]
    assert min(early) >= 0.9, round(min(early), 3)


def test_a_keyframe_that_cuts_a_part_off_is_not_undone_by_the_earlier_track(clips):
    """The same keyframe with the object's left half cut off (the user says that half is not the object): the
    earlier track disagrees with it there, so it does not add the half back on later frames."""
    frames, truths = clips["move-scale-rotate"]
    middle = len(frames) // 2
    cut = truths[middle].copy()
    columns = np.flatnonzero(cut.any(axis=0))
    cut[:, : (columns[0] + columns[-1]) // 2] = False
    masks = track_masks(frames, {0: truths[0], middle: cut})
    for index in (middle + 5, len(frames) - 1):
        assert masks[index].sum() < 0.7 * truths[index].sum(), index


def test_a_rounding_sized_change_of_the_input_does_not_move_the_figures(clips):
    """What differs between machines and library versions is last-bit rounding, a grey level here and there. The
    occluded star, where the tracker once flipped between worst frames 0.79 and 0.31 on such a change, keeps its
    figures when 0.1% of the pixels move by one grey level."""
    frames, truths = clips["occluded-star"]
    base = bench.scores(track_masks(frames, {0: truths[0]}), truths)
    changed = bench.rounding_change(frames, 0)
    difference = np.abs(np.stack(changed).astype(np.int16) - np.stack(frames)).max(axis=3)
    assert difference.max() == 1 and 0.0005 < (difference > 0).mean() < 0.0015  # 0.1% of pixels, one grey level
    moved = bench.scores(track_masks(changed, {0: truths[0]}), truths)
    assert abs(moved.mean() - base.mean()) < 0.01, (base.mean(), moved.mean())
    assert abs(moved.min() - base.min()) < 0.02, (base.min(), moved.min())


def test_the_bench_row_carries_the_rounding_change_and_the_before_tracker_together():
    from vace_ui.masks.tracker import TrackerConfig

    result = bench._run(bench.SCENES[0], 5, TrackerConfig(), before=track_masks, seeds=1)
    assert set(result) >= {"rounding", "s_before"}
    cells = bench._row("clip", result).split("|")
    assert len(cells) == 7  # ours, +key 4/5, +key 1/2, flow-warp, fixed, rounding, before
    assert [float(v) for v in cells[5].split()] == [round(result["rounding"][0], 4), round(result["rounding"][1], 3)]
