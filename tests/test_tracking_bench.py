"""The tracking bench's targets, on the bench's own clips (bench/tracking.py), so a drift shows the day it appears.
Marked slow (about a minute on 2 cores); scripts/test.sh runs it with the rest."""

from __future__ import annotations

import numpy as np
import pytest

from bench import tracking as bench
from vace_ui.masks.tracker import track_masks

pytestmark = pytest.mark.slow

# The clips are drawn in numpy (no OpenCV warps): the same bytes with OpenCV 4.12 to 5.1 and on any CPU. A new
# digest means the clips changed (a scene was edited, or scikit-image's photographs did): figures from before and
# after are then not comparable.
CLIPS_DIGEST = "6a3857ffe1a947b0"


@pytest.fixture(scope="module")
def clips():
    return {scene.name: bench.render(scene, 81) for scene in bench.SCENES}


def test_the_clips_are_the_same_bytes_everywhere(clips):
    assert bench.clip_digest(list(clips.values())) == CLIPS_DIGEST


def test_the_tracker_meets_the_bench_targets(clips):
    scores = {name: bench.scores(track_masks(frames, {0: truths[0]}), truths)
              for name, (frames, truths) in clips.items()}
    every = np.concatenate(list(scores.values()))
    report = {name: (round(float(s.mean()), 4), round(float(s.min()), 3)) for name, s in scores.items()}
    assert every.mean() >= bench.TARGET_MEAN, report
    assert every.min() >= bench.TARGET_WORST, report


def test_a_rounding_sized_change_of_the_input_does_not_move_the_figures(clips):
    """What differs between machines and library versions is last-bit rounding, a grey level here and there. The
    occluded star, where the tracker once flipped between worst frames 0.79 and 0.31 on such a change, keeps its
    figures when 0.1% of the pixels move by one grey level."""
    frames, truths = clips["occluded-star"]
    base = bench.scores(track_masks(frames, {0: truths[0]}), truths)
    rng = np.random.default_rng(0)
    changed = []
    for frame in frames:
        frame = frame.astype(np.int16)
        picked = rng.random(frame.shape[:2]) < 0.001
        frame[picked] += rng.choice(np.array([-1, 1], np.int16), size=(int(picked.sum()), 3))
        changed.append(np.clip(frame, 0, 255).astype(np.uint8))
    moved = bench.scores(track_masks(changed, {0: truths[0]}), truths)
    assert abs(moved.mean() - base.mean()) < 0.01, (base.mean(), moved.mean())
    assert abs(moved.min() - base.min()) < 0.02, (base.min(), moved.min())
