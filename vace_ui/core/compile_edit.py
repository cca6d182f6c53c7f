"""Local edit: input frames with the edit region filled gray, the mask white over the region, per frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import constants as C
from . import masks as ops
from .clip import Clip, CompileContext, fit_references, load_clip, place_mask, size_rule
from .clip_frames import ClipFrames
from .errors import InputError
from .geometry import plan_frames, plan_spatial
from .inputs import VaceInputs
from .requests import CapabilityRequest, EditRequest, MaskShape, MaskType
from .settings import GenerationSettings
from .windows import window_keyframes


@dataclass(frozen=True)
class TrackedMasks:
    """A long edit's masks, tracked once through the whole clip: `masks` (N, H, W) bool (an array or a
    memory-mapped file), `tracker` the name of the tracker that made them, `keyframes` their output frames."""

    masks: object
    tracker: str
    keyframes: tuple[int, ...]


def tracks_whole_clip(request: CapabilityRequest) -> bool:
    """An edit whose mask is tracked from keyframes: over several windows it is tracked once, through the whole."""
    return isinstance(request, EditRequest) and not request.mask_video and request.mask_type is MaskType.TRACKING


def track_whole_clip(request: EditRequest, settings: GenerationSettings, ctx: CompileContext) -> TrackedMasks:
    """Track the keyframes once through every output frame of the (long) clip. Frames are decoded as the
    tracker reads them (`ClipFrames`), not held all at once; the masks, one bit a pixel, are."""
    if ctx.track is None:
        raise InputError("mask_type", "tracking is not available here; choose 'fixed'.")
    info = ctx.media.probe(request.video, "video")
    spatial = plan_spatial(info.width, info.height, size_rule(settings, ctx), settings.fit)
    timing = plan_frames(info.frame_count, info.fps, settings.num_frames, settings.timing, "video")
    frames = ClipFrames(ctx.media, request.video, timing.source_indices, spatial.apply)
    clip = Clip(frames, spatial, timing, [], info.frame_count, info.fps)  # type: ignore[arg-type]
    keyframes = _keyframes_on_canvas(ctx, request, clip)
    tracked = ctx.track(frames, keyframes, cut_occluders=request.cut_occluders, tracker=request.tracker.value)
    masks, by = tracked if isinstance(tracked, tuple) else (tracked, request.tracker.value)
    return TrackedMasks(np.asarray(masks).astype(bool), by, tuple(sorted(keyframes)))


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
    elif request.mask_text.strip():
        masks = _text_masks(ctx, request, clip, notes)
    else:
        keyframes = _keyframes_on_canvas(ctx, request, clip)
        windowed = clip.whole is not None
        if windowed and request.mask_type is MaskType.TRACKING:  # one window: its slice of the whole's track
            whole = ctx.tracked if isinstance(ctx.tracked, TrackedMasks) else track_whole_clip(request, settings, ctx)
            masks = np.asarray(whole.masks[clip.offset:clip.offset + n]).astype(bool)
            notes.append(f"mask: tracked once through the whole clip from keyframe(s) at output frame(s) "
                         f"{list(whole.keyframes)} by the {whole.tracker} tracker; this window's frames "
                         f"{clip.offset}-{clip.offset + n - 1}")
        elif request.mask_type is MaskType.TRACKING:
            if ctx.track is None:
                raise InputError("mask_type", "tracking is not available here; choose 'fixed'.")
            tracked = ctx.track(clip.frames, keyframes, cut_occluders=request.cut_occluders,
                                tracker=request.tracker.value)
            masks, by = tracked if isinstance(tracked, tuple) else (tracked, request.tracker.value)
            masks = np.asarray(masks).astype(bool)
            notes.append(f"mask: tracked through the clip from keyframe(s) at output frame(s) {sorted(keyframes)}"
                         f" by the {by} tracker")
        else:
            if windowed:
                keyframes = window_keyframes(keyframes, clip.offset, n)
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


def _text_masks(ctx: CompileContext, request: EditRequest, clip, notes: list[str]) -> np.ndarray:
    """SAM 3's masks for the text on every frame; painted keyframes correct them from their frame on (tracked
    through the rest of the clip by the chosen tracker)."""
    keyframes = _keyframes_on_canvas(ctx, request, clip) if request.keyframes else {}
    if clip.whole is not None:
        keyframes = {frame - clip.offset: mask for frame, mask in keyframes.items()
                     if 0 <= frame - clip.offset < len(clip.frames)}
    masks, made_by = text_masks(ctx, clip.frames, request.mask_text, keyframes, request.cut_occluders,
                                request.tracker.value)
    notes.append(f"mask: SAM 3 text prompt {' '.join(request.mask_text.split())!r} on every frame")
    if len(made_by) > 1:
        first, by = made_by[1]
        notes.append(f"mask: corrected from output frame {first} on (keyframes {sorted(keyframes)}, {by})")
    return masks


def text_masks(ctx: CompileContext, frames, text: str, keyframes: dict[int, np.ndarray], cut_occluders: bool,
               tracker: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """SAM 3's (N, H, W) bool masks for `text` on every frame of `frames` (an array or a sliceable sequence),
    `keyframes` ({frame: painted mask}) replacing them from the first keyframe on, carried through the rest by
    `tracker`. Also who made which frames: [(0, "SAM 3 text 'the dog'"), (first keyframe, "flow tracker")], the
    second only with keyframes. The Edit job's compile and the Edit tab's preview both come here."""
    if ctx.segment is None:
        raise InputError("mask_text", "text prompts are not available here; paint the mask instead.")
    text = " ".join(text.split())
    masks = np.asarray(ctx.segment(frames, text)).astype(bool)
    expected = (len(frames), *np.asarray(frames[0]).shape[:2])
    if masks.shape != expected:
        raise InputError("mask_text", f"the text masks are {masks.shape}; the clip is {expected}.")
    made_by = [(0, f"SAM 3 text {text!r}")]
    if keyframes:
        if ctx.track is None:
            raise InputError("mask_type", "corrections need tracking, which is not available here.")
        first = min(keyframes)
        shifted = {frame - first: mask for frame, mask in keyframes.items()}
        tracked = ctx.track(frames[first:], shifted, cut_occluders=cut_occluders, tracker=tracker)
        tracked, by = tracked if isinstance(tracked, tuple) else (tracked, tracker)
        masks[first:] = np.asarray(tracked).astype(bool)
        made_by.append((first, f"{by} tracker"))
    return masks, made_by


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
