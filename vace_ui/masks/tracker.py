"""Mask tracking through a clip without model weights (the hosted APIs' mask_type `tracking` and `fixed`).

Each keyframe mask is carried frame by frame by `object_track.ObjectTrack` (weight-free: Lucas-Kanade corner
points and DIS / Farneback dense optical flow on downscaled frames propose motions, the one that best fits the
object's keyframe appearance wins, masked ECC re-anchors it on the keyframe, and occluders are cut out by an
appearance test; see that module). The keyframe mask itself is warped at full resolution, so masks stay binary
with sharp edges.

Several keyframes: each keyframe is exact on its own frame and overrides propagation from there. Frames before
the first keyframe take its backward propagation, frames after the last its forward one. Between keyframes a and
b both propagations are run and blended by signed distance: sdf = w * sdf_forward + (1 - w) * sdf_backward with
w = (b - t) / (b - a), mask = sdf < 0. The shape morphs smoothly from a's track to b's; a drift that b corrects
fades out instead of jumping at the midpoint. Tracks that overlap with IoU < 0.2 (one lost the object, or they
followed different things) are not morphed: each frame takes the track of the nearer keyframe. An empty
keyframe means "nothing from here": after an empty a the frames stay empty until b; before an empty b, a's
forward track runs unblended up to b.

A keyframe drawn while an occluder covers part of the object shows only the visible part, so its own track knows
only that part. Where a neighbouring keyframe's track agrees with it on its frame (`Agreement`: the same object,
nothing there that the keyframe cut off) and its shape reaches beyond it (the covered part), that track also
speaks where the keyframe's shape does not reach: between the two keyframes, and past the end keyframe, the
covered part comes back when the occluder leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..core import masks as ops
from ..core.errors import InputError
from .object_track import ObjectTrack
from .work_frames import TrackerConfig, WorkFrames

Progress = Callable[[int, int], None]  # (steps done, total steps)
Refiner = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (frame RGB, propagated mask) -> refined (H, W) bool mask


def _validate(keyframes: Mapping[int, np.ndarray], n_frames: int,
              shape: tuple[int, int] | None) -> dict[int, np.ndarray]:
    if not keyframes:
        raise InputError("keyframes", "Draw or click a mask on at least one frame.")
    out: dict[int, np.ndarray] = {}
    for index, mask in keyframes.items():
        index = int(index)
        if not 0 <= index < n_frames:
            raise InputError("keyframes", f"Keyframe {index} is outside the clip (frames 0 to {n_frames - 1}).")
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2 or (shape is not None and mask.shape != shape):
            raise InputError("keyframes", f"Keyframe {index} mask is {mask.shape}; the frames are {shape}.")
        out[index] = mask
    if shape is None and len({m.shape for m in out.values()}) > 1:
        raise InputError("keyframes", "Keyframe masks have different sizes.")
    return out


def fixed_masks(n_frames: int, keyframes: Mapping[int, np.ndarray]) -> np.ndarray:
    """mask_type `fixed`: each keyframe mask holds from its frame until the next keyframe; the first one also
    holds backwards to frame 0. Returns (n_frames, H, W) bool."""
    return ops.hold_keyframes(n_frames, _validate(keyframes, n_frames, None))


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Negative inside (minus the distance to the nearest outside pixel), positive outside."""
    import cv2

    if not mask.any():
        return np.full(mask.shape, float(sum(mask.shape)), dtype=np.float32)
    if mask.all():
        return np.full(mask.shape, -float(sum(mask.shape)), dtype=np.float32)
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return outside - inside


AGREE_SHARE = 0.02  # see `Agreement`
HIDDEN_SHARE = 0.1
EDGE_PX = 3


class Agreement:
    """How a track's mask on another keyframe's frame compares with that keyframe's mask. `speaks_for`: what the
    track claims outside the keyframe mask, its outline's slivers (EDGE_PX wide) aside, is at most AGREE_SHARE of
    its mask (the same object, nothing there that the keyframe cut off), and the track's shape with its covered
    parts reaches beyond the keyframe mask by at least HIDDEN_SHARE (the keyframe shows the object partly
    covered): the track may then stand for the parts the keyframe does not show when they come back."""

    def __init__(self, tracked: np.ndarray, amodal: np.ndarray, key: np.ndarray):
        import cv2

        claimed, shape = int(tracked.sum()), int(amodal.sum())
        kernel = np.ones((2 * EDGE_PX + 1,) * 2, np.uint8)
        beyond = int(cv2.erode((tracked & ~key).astype(np.uint8), kernel).sum())
        hidden = int(cv2.erode((amodal & ~key).astype(np.uint8), kernel).sum())
        self.speaks_for = claimed > 0 and beyond <= AGREE_SHARE * claimed and hidden >= HIDDEN_SHARE * shape


MORPH_MIN_IOU = 0.2  # below this overlap two tracks followed different things: no morph, the nearer one wins


def blend_masks(forward: np.ndarray, backward: np.ndarray, forward_weight: float) -> np.ndarray:
    """Signed-distance blend of two binary masks; weight 1 returns `forward`, weight 0 returns `backward`. Masks
    that overlap less than MORPH_MIN_IOU are not morphed: the one weighted more than 0.5 is returned as is."""
    if forward_weight >= 1.0:
        return forward.copy()
    if forward_weight <= 0.0:
        return backward.copy()
    if ops.iou(forward, backward) < MORPH_MIN_IOU:
        return (forward if forward_weight > 0.5 else backward).copy()
    blended = forward_weight * _signed_distance(forward) + (1.0 - forward_weight) * _signed_distance(backward)
    return blended < 0


def _unpack(bits: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A bool mask from `np.packbits` of it."""
    return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def _bridge(clip: WorkFrames, config: TrackerConfig, keys: dict[int, np.ndarray], a: int, b: int, out: np.ndarray,
            tick: Callable[..., None]) -> tuple[ObjectTrack | None, ObjectTrack | None]:
    """Frames between keyframes a and b (see the module docstring) into `out`. Returns a's forward and b's backward
    track where they may speak beyond b and a (`Agreement.speaks_for`), else None."""
    blend = keys[a].any() and keys[b].any()  # an empty keyframe is not blended with (see module docstring)
    forward = ObjectTrack(clip, a, keys[a], config)
    forward_shapes = {}  # frame -> the forward track's shape with its covered parts (bits packed)
    for index in range(a + 1, b):
        out[index] = forward.step(index)
        if blend:
            forward_shapes[index] = np.packbits(forward.amodal)
        tick(index)
    if not blend:
        for _ in range(b - a - 1):
            tick()
        return None, None
    forward_check = Agreement(forward.step(b), forward.amodal, keys[b])
    backward = ObjectTrack(clip, b, keys[b], config)
    backward_masks, backward_shapes = {}, {}  # the latter only needed where the forward track speaks for b
    for index in range(b - 1, a, -1):
        backward_masks[index] = np.packbits(backward.step(index))
        if forward_check.speaks_for:
            backward_shapes[index] = np.packbits(backward.amodal)
        tick()
    backward_check = Agreement(backward.step(a), backward.amodal, keys[a])
    shape = keys[a].shape
    for index in range(a + 1, b):
        seen_forward, seen_backward = out[index], _unpack(backward_masks.pop(index), shape)
        merged = blend_masks(seen_forward, seen_backward, (b - index) / (b - a))
        if forward_check.speaks_for:
            merged |= seen_forward & ~_unpack(backward_shapes[index], shape)
        if backward_check.speaks_for:
            merged |= seen_backward & ~_unpack(forward_shapes[index], shape)
        out[index] = merged
    return (forward if forward_check.speaks_for else None), (backward if backward_check.speaks_for else None)


def track_masks(
    frames: Sequence[np.ndarray],
    keyframes: Mapping[int, np.ndarray],
    refiner: Refiner | None = None,
    progress: Progress | None = None,
    config: TrackerConfig | None = None,
    on_mask: Callable[[int], None] | None = None,
) -> np.ndarray:
    """mask_type `tracking`: propagate keyframe masks ({frame index: (H, W) bool}) through `frames` ((H, W, 3)
    uint8 RGB, random access). Returns (N, H, W) bool; keyframe frames are exactly their keyframe masks. With a
    `refiner` (e.g. `SamRefiner`), every non-keyframe result is passed through it afterwards (not fed back into
    the propagation, so a bad refinement cannot derail later frames). `progress(done, total)` is called per step;
    `on_mask(index)` each time frame `index` has its (propagated, not yet refined) mask.
    """
    config = config or TrackerConfig()
    n_frames = len(frames)
    if n_frames == 0:
        raise InputError("video", "The clip has no frames.")
    clip = WorkFrames(frames, config)
    keys = _validate(keyframes, n_frames, (clip.full_h, clip.full_w))
    order = sorted(keys)
    gaps = list(zip(order, order[1:]))
    total = order[0] + (n_frames - 1 - order[-1]) + sum(2 * (b - a - 1) for a, b in gaps)
    total += (n_frames - len(order)) if refiner is not None else 0
    done = 0

    def tick(index: int | None = None) -> None:
        nonlocal done
        if on_mask is not None and index is not None:
            on_mask(index)
        done += 1
        if progress is not None:
            progress(done, total)

    out = np.zeros((n_frames, clip.full_h, clip.full_w), dtype=bool)
    for index in order:
        out[index] = keys[index]
    shape = (clip.full_h, clip.full_w)
    first = ObjectTrack(clip, order[0], keys[order[0]], config)
    first_shapes = {}  # frame -> the first keyframe's backward shape with its covered parts (bits packed)
    for index in range(order[0] - 1, -1, -1):  # first: the editor's strip fills from the first keyframe
        out[index] = first.step(index)
        if gaps:
            first_shapes[index] = np.packbits(first.amodal)
        tick(index)
    after_last = before_first = None  # tracks of a neighbouring keyframe that also speak beyond the end keyframes
    for a, b in gaps:
        forward, backward = _bridge(clip, config, keys, a, b, out, tick)
        if a == order[0]:
            before_first = backward
        if b == order[-1]:
            after_last = forward
    if before_first is not None:
        for index in range(order[0] - 1, -1, -1):
            out[index] |= before_first.step(index) & ~_unpack(first_shapes.pop(index), shape)
    last = ObjectTrack(clip, order[-1], keys[order[-1]], config)
    for index in range(order[-1] + 1, n_frames):
        out[index] = last.step(index)
        if after_last is not None:
            out[index] |= after_last.step(index) & ~last.amodal
        tick(index)
    if refiner is not None:
        for index in range(n_frames):
            if index not in keys:
                out[index] = np.asarray(refiner(np.asarray(frames[index]), out[index]), dtype=bool)
                tick()
    return out
