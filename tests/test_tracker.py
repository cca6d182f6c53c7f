"""The weight-free mask tracker on short synthetic clips with exact ground truth (IoU bounds)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vace_ui.core import masks as ops
from vace_ui.core.errors import InputError
from vace_ui.core.keyframes import Keyframes
from vace_ui.masks.tracker import TrackerConfig, track_masks


def texture(height: int, width: int, seed: int, tint=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Smooth random colour texture (trackable corners at several scales)."""
    rng = np.random.default_rng(seed)
    layers = [cv2.resize(rng.random((height // s + 1, width // s + 1, 3)).astype(np.float32), (width, height))
              for s in (4, 12)]
    image = (0.6 * layers[0] + 0.4 * layers[1]) * np.array(tint, np.float32)
    return np.clip(image * 255, 0, 255).astype(np.uint8)


def render(n_frames: int, size=(160, 128), path=lambda t: (40 + 3 * t, 40 + t), angle=lambda t: 0.0,
           scale=lambda t: 1.0, bar=None, seed=0):
    """Frames and true visible masks of a 40x40 textured square over a textured background. `bar(t)` gives an
    occluding vertical bar's x range (or None)."""
    width, height = size
    background = texture(height, width, seed, (0.5, 0.7, 1.0))
    patch = texture(40, 40, seed + 1, (1.0, 0.8, 0.4))
    occluder = texture(height, width, seed + 2, (0.3, 1.0, 0.3))
    frames, truths = [], []
    for t in range(n_frames):
        cx, cy = path(t)
        matrix = cv2.getRotationMatrix2D((20, 20), angle(t), scale(t))
        matrix[:, 2] += (cx - 20, cy - 20)
        truth = cv2.warpAffine(np.ones((40, 40), np.uint8), matrix, size, flags=cv2.INTER_NEAREST) > 0
        frame = background.copy()
        frame[truth] = cv2.warpAffine(patch, matrix, size)[truth]
        if bar is not None and bar(t) is not None:
            x0, x1 = bar(t)
            frame[:, x0:x1] = occluder[:, x0:x1]
            truth[:, x0:x1] = False
        frames.append(frame)
        truths.append(truth)
    return np.stack(frames), np.stack(truths)


def ious(masks, truths, skip=()):
    return np.array([ops.iou(m, t) for i, (m, t) in enumerate(zip(masks, truths)) if i not in skip])


def test_translating_square_is_followed():
    frames, truths = render(20)
    masks = track_masks(frames, {0: truths[0]})
    assert masks.shape == truths.shape and masks.dtype == bool
    assert np.array_equal(masks[0], truths[0])
    scores = ious(masks, truths)
    assert scores.min() >= 0.85 and scores.mean() >= 0.92, scores.round(3)


def test_rotation_and_scale_are_followed():
    frames, truths = render(20, path=lambda t: (80, 64), angle=lambda t: 4.0 * t, scale=lambda t: 1.0 + 0.025 * t)
    scores = ious(track_masks(frames, {0: truths[0]}), truths)
    assert scores.min() >= 0.85, scores.round(3)


def test_rotation_clip_is_not_trivial_for_a_held_mask():
    """Guards that the clip is not trivially easy: holding the first mask still scores far lower."""
    frames, truths = render(20, path=lambda t: (80, 64), angle=lambda t: 4.0 * t, scale=lambda t: 1.0 + 0.025 * t)
    held = Keyframes(20, 128, 160, {0: truths[0]}).fixed()
    assert ious(held, truths)[-5:].max() < 0.75


def test_backward_propagation_from_a_last_frame_keyframe():
    frames, truths = render(16)
    masks = track_masks(frames, {15: truths[15]})
    assert np.array_equal(masks[15], truths[15])
    assert ious(masks, truths).min() >= 0.85


def test_keyframe_corrects_a_cut_the_tracker_cannot_follow():
    # At frame 10 the square jumps across the frame (a cut): propagation from frame 0 cannot know.
    def path(t):
        return (40 + 2 * t, 40) if t < 10 else (120, 95 - t)

    frames, truths = render(18, path=path)
    alone = track_masks(frames, {0: truths[0]})
    assert ious(alone, truths)[12:].max() < 0.3  # lost after the cut
    fixed = track_masks(frames, {0: truths[0], 12: truths[12]})
    assert np.array_equal(fixed[12], truths[12])
    after = ious(fixed, truths)[13:]
    assert after.min() >= 0.85, after.round(3)
    # Between the keyframes the nearer one dominates: right before the cut frame 0's track, after it frame 12's.
    assert ops.iou(fixed[11], truths[11]) >= 0.8 and ops.iou(fixed[3], truths[3]) >= 0.8


def test_occluder_is_cut_out_and_the_object_comes_back():
    def bar(t):
        return (150 - 8 * t, 150 - 8 * t + 14) if 4 <= t <= 16 else None

    frames, truths = render(24, size=(192, 128), path=lambda t: (60 + 2 * t, 64), bar=bar)
    masks = track_masks(frames, {0: truths[0]})
    scores = ious(masks, truths)
    assert scores.min() >= 0.75 and scores.mean() >= 0.9, scores.round(3)
    # On frames where the bar crosses the square, most of the covered part is left out of the mask.
    for t in (11, 12, 13):
        x0, x1 = bar(t)
        covered = np.zeros_like(truths[t])
        covered[:, x0:x1] = True
        square = ops.box(masks[0]) if t == 0 else ops.box(truths[t - 8] | truths[t + 8])
        hidden = covered & square
        assert hidden.any() and (masks[t] & hidden).sum() <= 0.3 * hidden.sum()
    assert ops.iou(masks[-1], truths[-1]) >= 0.9  # after the bar has passed


def test_empty_keyframe_means_nothing_from_there():
    frames, truths = render(14)
    masks = track_masks(frames, {0: truths[0], 8: np.zeros_like(truths[0])})
    assert all(masks[t].sum() > 1000 for t in range(8))
    assert not masks[8:].any()
    assert not track_masks(frames, {3: np.zeros_like(truths[0])}).any()


def test_downscaled_work_resolution_and_other_flow_and_motion_models():
    frames, truths = render(10, size=(640, 360), path=lambda t: (200 + 6 * t, 180 + 2 * t))
    for config in (TrackerConfig(), TrackerConfig(flow="farneback"), TrackerConfig(motion="affine"),
                   TrackerConfig(motion="similarity", occlusion=False)):
        scores = ious(track_masks(frames, {0: truths[0]}, config=config), truths)
        assert scores.min() >= 0.8, (config, scores.round(3))
    with pytest.raises(ValueError):
        track_masks(frames, {0: truths[0]}, config=TrackerConfig(motion="warp"))


def test_progress_and_refiner_run_on_every_propagated_frame():
    frames, truths = render(9)
    seen, calls = [], []

    def refine(frame, mask):
        calls.append(frame.shape)
        return ops.box(mask)

    masks = track_masks(
        frames, {2: truths[2], 6: truths[6]}, refiner=refine, progress=lambda d, t: seen.append((d, t))
    )
    assert len(calls) == 7 and calls[0] == (128, 160, 3)  # frames 0, 1, 3, 4, 5, 7, 8
    # steps: 2 backward + 2 forward + 2 x 3 between the keyframes + 7 refinements
    assert seen[-1] == (17, 17) and [d for d, _ in seen] == list(range(1, 18))
    assert np.array_equal(masks[2], truths[2]) and np.array_equal(masks[4], ops.box(masks[4]))


def test_invalid_keyframes_are_input_errors():
    frames, truths = render(4)
    with pytest.raises(InputError, match="at least one"):
        track_masks(frames, {})
    with pytest.raises(InputError, match="outside the clip"):
        track_masks(frames, {4: truths[0]})
    with pytest.raises(InputError):
        track_masks(frames, {0: truths[0][:10]})
    with pytest.raises(InputError):
        track_masks([], {0: truths[0]})
