"""Local edit: input frames with the edit region filled gray, the mask white over the region, per frame."""

from __future__ import annotations

import numpy as np

from . import constants as C
from .compile import CompileContext, fit_references, load_clip, size_rule
from .errors import InputError
from .inputs import VaceInputs
from .requests import EditRequest, MaskShape, MaskType
from .settings import GenerationSettings


def output_frame_for_source(source_indices: tuple[int, ...], source_frame: int) -> int:
    """The output frame showing the source frame closest to `source_frame`."""
    distances = [abs(index - source_frame) for index in source_indices]
    return int(np.argmin(distances))


def hold_keyframes(num_frames: int, keyframes: dict[int, np.ndarray]) -> np.ndarray:
    """mask_type fixed: each keyframe's mask holds from its frame until the next keyframe; the first one also
    holds back to frame 0."""
    order = sorted(keyframes)
    masks = np.empty((num_frames,) + keyframes[order[0]].shape, dtype=bool)
    for position, frame in enumerate(order):
        start = 0 if position == 0 else frame
        end = order[position + 1] if position + 1 < len(order) else num_frames
        masks[start:end] = keyframes[frame]
    return masks


def shape_and_expand(mask: np.ndarray, shape: MaskShape, ratio: float) -> np.ndarray:
    from ..masks import ops

    if shape is MaskShape.BOX:
        mask = ops.box(mask)
    elif shape is MaskShape.HULL:
        mask = ops.hull(mask)
    return ops.expand(mask, ratio)


def compile_edit(request: EditRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    clip = load_clip(ctx, request.video, "video", settings.num_frames, settings.timing, size_rule(settings, ctx),
                     settings.fit)
    n, height, width = clip.frames.shape[:3]
    spatial, notes = clip.spatial, list(clip.notes)
    if request.mask_video:
        masks = _mask_video_on_canvas(ctx, request.mask_video, clip)
        notes.append("mask: from the mask video, frame for frame")
    else:
        keyframes = _keyframes_on_canvas(ctx, request, clip)
        if request.mask_type is MaskType.TRACKING:
            if ctx.track is None:
                raise InputError("mask_type", "tracking is not available here; choose 'fixed'.")
            masks = ctx.track(clip.frames, keyframes, cut_occluders=request.cut_occluders).astype(bool)
            notes.append(f"mask: tracked through the clip from keyframe(s) at output frame(s) {sorted(keyframes)}")
        else:
            masks = hold_keyframes(n, keyframes)
            notes.append(f"mask: fixed, from keyframe(s) at output frame(s) {sorted(keyframes)}")
    if request.mask_shape is not MaskShape.EXACT or request.expand_ratio > 0:
        masks = np.stack([shape_and_expand(mask, request.mask_shape, request.expand_ratio) for mask in masks])
        notes.append(f"mask: shape {request.mask_shape.value}, expanded by {request.expand_ratio:g} of its box")
    masks |= spatial.border_mask()[None] > 0
    video = clip.frames.copy()
    video[masks] = C.NEUTRAL_GRAY
    mask = np.where(masks, C.MASK_GENERATE, C.MASK_KEEP).astype(np.uint8)
    refs = fit_references(ctx, request.references, width, height)
    return VaceInputs(video, mask, refs, notes, conditioning_scale=settings.conditioning_scale)


def _keyframes_on_canvas(ctx: CompileContext, request: EditRequest, clip) -> dict[int, np.ndarray]:
    spatial = clip.spatial
    source_count = clip.source_frames
    keyframes: dict[int, np.ndarray] = {}
    for keyframe in request.keyframes:
        if keyframe.frame >= source_count:
            raise InputError("mask_frame", f"{keyframe.frame} is past the video's last frame ({source_count - 1}).")
        mask = ctx.media.mask_image(keyframe.path, "mask")
        if mask.shape != (spatial.src_h, spatial.src_w):
            raise InputError(
                "mask",
                f"is {mask.shape[1]}x{mask.shape[0]} but the video is {spatial.src_w}x{spatial.src_h}; "
                "paint or export the mask at the video's size.",
            )
        if not mask.any():
            raise InputError("mask", f"on frame {keyframe.frame} is empty (all black); paint the region to edit.")
        canvas = spatial.apply(mask, fill=C.MASK_KEEP, nearest=True) > 127
        if not canvas.any():
            raise InputError("mask", f"on frame {keyframe.frame} lies outside the part of the video that is kept.")
        keyframes[output_frame_for_source(clip.timing.source_indices, keyframe.frame)] = canvas
    return keyframes


def _mask_video_on_canvas(ctx: CompileContext, path: str, clip) -> np.ndarray:
    spatial = clip.spatial
    info = ctx.media.probe(path, "mask_video")
    if (info.width, info.height) != (spatial.src_w, spatial.src_h):
        raise InputError(
            "mask_video", f"is {info.width}x{info.height} but the video is {spatial.src_w}x{spatial.src_h}."
        )
    needed = max(clip.timing.source_indices) + 1
    if info.frame_count < needed:
        raise InputError("mask_video", f"has {info.frame_count} frames; the video needs {needed}.")
    masks = np.stack(
        [
            spatial.apply(frame.max(axis=2), fill=C.MASK_KEEP, nearest=True) > 127
            for frame in ctx.media.frames(path, clip.timing.source_indices, "mask_video")
        ]
    )
    if not masks.any():
        raise InputError("mask_video", "is empty (all black); white marks the region to edit.")
    return masks
