"""Local edit: input frames with the edit region filled gray, the mask white over the region, per frame."""

from __future__ import annotations

import numpy as np

from . import constants as C
from . import masks as ops
from .clip import CompileContext, fit_references, load_clip, place_mask, size_rule
from .errors import InputError
from .inputs import VaceInputs
from .requests import EditRequest, MaskShape, MaskType
from .settings import GenerationSettings
from .windows import window_keyframes


def output_frame_for_source(source_indices: tuple[int, ...], source_frame: int) -> int:
    """The output frame showing the source frame closest to `source_frame`."""
    distances = [abs(index - source_frame) for index in source_indices]
    return int(np.argmin(distances))


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
        if clip.whole is not None and request.mask_type is MaskType.TRACKING:
            inside = {frame - clip.offset: mask for frame, mask in keyframes.items() if 0 <= frame - clip.offset < n}
            if not inside:
                raise InputError("mask_type", f"tracking over several windows needs a mask keyframe in every window; "
                                              f"window {clip.offset}-{clip.offset + n - 1} has none. Add one, use a "
                                              "mask video, or choose 'fixed'.")
            keyframes = inside
        elif clip.whole is not None:
            keyframes = window_keyframes(keyframes, clip.offset, n)
        if request.mask_type is MaskType.TRACKING:
            if ctx.track is None:
                raise InputError("mask_type", "tracking is not available here; choose 'fixed'.")
            tracked = ctx.track(clip.frames, keyframes, cut_occluders=request.cut_occluders,
                                tracker=request.tracker.value)
            masks, by = tracked if isinstance(tracked, tuple) else (tracked, request.tracker.value)
            masks = np.asarray(masks).astype(bool)
            notes.append(f"mask: tracked through the clip from keyframe(s) at output frame(s) {sorted(keyframes)}"
                         f" by the {by} tracker")
        else:
            masks = ops.hold_keyframes(n, keyframes)
            notes.append(f"mask: fixed, from keyframe(s) at output frame(s) {sorted(keyframes)}")
    if request.mask_shape is not MaskShape.EXACT or request.expand_ratio > 0:
        masks = np.stack([ops.shape_and_expand(mask, request.mask_shape, request.expand_ratio) for mask in masks])
        notes.append(f"mask: shape {request.mask_shape.value}, expanded by {request.expand_ratio:g} of its box")
    masks |= spatial.border_mask()[None]
    video = clip.frames.copy()
    video[masks] = C.NEUTRAL_GRAY
    refs = fit_references(ctx, request.references, width, height)
    return VaceInputs(video, masks, refs, notes, conditioning_scale=settings.conditioning_scale)


def _keyframes_on_canvas(ctx: CompileContext, request: EditRequest, clip) -> dict[int, np.ndarray]:
    spatial = clip.spatial
    source_count = clip.source_frames
    keyframes: dict[int, np.ndarray] = {}
    for keyframe in request.keyframes:
        if keyframe.frame >= source_count:
            raise InputError("mask_frame", f"{keyframe.frame} is past the video's last frame ({source_count - 1}).")
        _check_keyframe_in_use(keyframe.frame, clip)
        mask = ctx.media.mask_image(keyframe.path, "mask")
        canvas = place_mask(mask, "mask", spatial, what="paint")
        if not mask.any():
            raise InputError("mask", f"on frame {keyframe.frame} is empty (all black); paint the region to edit.")
        if not canvas.any():
            raise InputError("mask", f"on frame {keyframe.frame} lies outside the part of the video that is kept.")
        keyframes[output_frame_for_source((clip.whole or clip.timing).source_indices, keyframe.frame)] = canvas
    return keyframes


def _check_keyframe_in_use(frame: int, clip) -> None:
    """A keyframe outside the part of the source the output uses would silently land on another frame: refuse it
    and say both ways out (a longer duration, or a keyframe inside the used part)."""
    used = (clip.whole or clip.timing).source_indices
    step = max(1, used[1] - used[0]) if len(used) > 1 else 1
    if min(used) <= frame < max(used) + step:
        return
    fps = clip.source_fps
    raise InputError(
        "mask_frame",
        f"the mask on source frame {frame} ({frame / fps:.2f} s) lies outside the part of the video used "
        f"(frames {min(used)}-{max(used)}, {min(used) / fps:.2f}-{(max(used) + 1) / fps:.2f} s); raise the duration "
        f"to at least {(frame + 1) / fps:.2f} s, or keep the mask on a frame from {min(used)} to {max(used)}.",
    )


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
            spatial.apply_mask(frame.max(axis=2) > 127)
            for frame in ctx.media.frames(path, clip.timing.source_indices, "mask_video")
        ]
    )
    if not masks.any():
        raise InputError("mask_video", "is empty (all black); white marks the region to edit.")
    return masks
