"""Video extension: kept footage at the start and/or end (mask keep), solid gray frames to generate between.

Frames (settings.num_frames) is the new footage; the kept frames come on top of it, and a first clip always ends
on its real last frame."""

from __future__ import annotations

import math

import numpy as np

from . import constants as C
from .clip import CompileContext, full_mask, gray_video, size_rule
from .errors import InputError
from .geometry import plan_spatial
from .inputs import VaceInputs
from .requests import ExtendRequest
from .settings import FitMode, FrameTiming, GenerationSettings


def kept_clip_indices(src_count: int, src_fps: float, timing: FrameTiming, at_start: bool, limit: int) -> list[int]:
    """Source frames of a kept clip at 16 fps, at most `limit`: a first clip (`at_start`) is sampled back from its
    real last frame, so the new footage continues from there; a last clip forward from its first frame."""
    if src_count <= 0:
        raise InputError("first_clip" if at_start else "last_clip", "has no frames.")
    if timing is FrameTiming.SQUEEZE:  # the whole clip, spread over the frames it may fill
        count = min(src_count, limit)
        return [round(i * (src_count - 1) / (count - 1)) for i in range(count)] if count > 1 else [src_count - 1]
    step = src_fps / C.OUTPUT_FPS if timing is FrameTiming.RESAMPLE and src_fps > 0 else 1.0
    count = min(limit, int(math.floor((src_count - 1) / step + 1e-9)) + 1)
    offsets = [int(math.floor(i * step + 1e-9)) for i in range(count)]
    return sorted(src_count - 1 - offset for offset in offsets) if at_start else offsets


def _kept_media(request: ExtendRequest, settings: GenerationSettings, ctx: CompileContext, limit: int):
    """The kept footage on the output canvas: (canvas, {field: [frames, border mask, source indices or None,
    probe or None]}, notes). The first media given fixes the output size; later media are cropped (or padded, in
    PAD mode) to it."""
    canvas: tuple[int, int] | None = None
    notes: list[str] = []
    kept: dict[str, list] = {}  # field -> [frames, border mask, source indices (clips) or None, probe]
    for field in ("first_clip", "first_frame", "last_clip", "last_frame"):
        path = getattr(request, field)
        if not path:
            continue
        is_clip = field.endswith("clip")
        if is_clip:
            info = ctx.media.probe(path, field)
            src_w, src_h = info.width, info.height
        else:
            image = ctx.media.image(path, field)[..., :3]
            src_h, src_w = image.shape[:2]
        if canvas is None:
            plan = plan_spatial(src_w, src_h, size_rule(settings, ctx), settings.fit)
            canvas = (plan.out_w, plan.out_h)
        else:
            plan = plan_spatial(src_w, src_h, canvas, FitMode.PAD if settings.fit is FitMode.PAD else FitMode.CROP)
        if is_clip:
            indices = kept_clip_indices(info.frame_count, info.fps, settings.timing, field == "first_clip", limit)
            frames = np.stack([plan.apply(frame) for frame in ctx.media.frames(path, indices, field)])
            kept[field] = [frames, plan.border_mask(), indices, info]
        else:
            kept[field] = [plan.apply(image)[None], plan.border_mask(), None, None]
        notes.append(f"{field}: {plan.describe()}")
    return canvas, kept, notes


def _clip_note(field: str, indices: list[int], info, limit: int) -> str:
    which = f"its last {len(indices)} frames" if field == "first_clip" else f"its first {len(indices)} frames"
    if len(indices) == limit:
        which += f" ({C.MAX_EXTENSION_CLIP_SECONDS:g} s at most)"
    text = (f"{field}: {info.frame_count / info.fps:.2f} s ({info.frame_count} frames at {info.fps:g} fps); "
            f"{which} are kept (source frames {indices[0]}-{indices[-1]})")
    if field == "first_clip":
        text += f"; the new footage continues from its last frame ({indices[-1]})"
    return text + "."


def window_kept_limit(settings: GenerationSettings) -> int:
    """Kept clip frames in a windowed extension: the clip's (3 s at most), leaving the first window 5 frames to
    generate at least."""
    return min(int(C.MAX_EXTENSION_CLIP_SECONDS * C.OUTPUT_FPS), settings.window_frames - C.TEMPORAL_STRIDE - 1)


def extension_kept(request: ExtendRequest, settings: GenerationSettings, ctx: CompileContext) -> tuple[int, int]:
    """(frames kept before, frames kept after) the new footage in a windowed extension: probes only."""
    limit = window_kept_limit(settings)

    def count(clip: str | None, frame: str | None, at_start: bool) -> int:
        if frame:
            return 1
        if not clip:
            return 0
        field = "first_clip" if at_start else "last_clip"
        info = ctx.media.probe(clip, field)
        return len(kept_clip_indices(info.frame_count, info.fps, settings.timing, at_start, limit))

    return count(request.first_clip, request.first_frame, True), count(request.last_clip, request.last_frame, False)


def compile_extend_window(request: ExtendRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    """One window (`ctx.window`, output frames of the whole) of an extension longer than one window: the whole is
    the kept footage on one side and Frames of new footage; the window holds the part of the kept footage that
    falls in it (black mask) and gray to generate."""
    limit = window_kept_limit(settings)
    canvas, kept, notes = _kept_media(request, settings, ctx, limit)
    head = kept.get("first_clip") or kept.get("first_frame")
    tail = kept.get("last_clip") or kept.get("last_frame")
    if head and tail:
        raise InputError("num_frames", "an extension between a first and a last clip is one window; lower Frames.")
    part = head or tail
    total = settings.num_frames + len(part[0])
    start, end = ctx.window
    video, mask = gray_video(end - start, *canvas), full_mask(end - start, *canvas)
    first = 0 if head else total - len(part[0])  # where the kept footage lies in the whole
    lo, hi = max(start, first), min(end, first + len(part[0]))
    if lo < hi:
        video[lo - start:hi - start] = part[0][lo - first:hi - first]
        mask[lo - start:hi - start] = part[1]
    for field, (_, _, indices, info) in kept.items():
        if indices is not None:
            notes.append(_clip_note(field, indices, info, limit))
    side = "after" if head else "before"
    notes.append(f"{settings.num_frames} new frames {side} {len(part[0])} kept; {total} frames in all "
                 f"({total / C.OUTPUT_FPS:.2f} s); this window: output frames {start}-{end - 1}.")
    return VaceInputs(video, mask, [], notes, conditioning_scale=settings.conditioning_scale)


def compile_extend(request: ExtendRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    """Kept footage at the start and/or end (black mask), gray frames to generate in between (white mask). The
    frame count is the new footage: the kept frames come on top of it. A first clip always ends on its real last
    frame. The first media given fixes the output size; later media are cropped (or padded, in PAD mode) to it.
    With `ctx.window` set, one window of a longer extension (`compile_extend_window`)."""
    if ctx.window is not None:
        return compile_extend_window(request, settings, ctx)
    new = settings.num_frames
    limit = int(C.MAX_EXTENSION_CLIP_SECONDS * C.OUTPUT_FPS)
    canvas, kept, notes = _kept_media(request, settings, ctx, limit)
    head = kept.get("first_clip") or kept.get("first_frame")
    tail = kept.get("last_clip") or kept.get("last_frame")
    clips = [part for part in (head, tail) if part and part[2] is not None]

    def drop(count: int) -> int:
        """Drop up to `count` of the oldest kept clip frames (the first clip's earliest, then the last clip's
        latest; each clip keeps at least one). Returns how many were dropped."""
        dropped = 0
        for part in clips:
            take = min(count - dropped, len(part[0]) - 1)
            if take > 0:
                keep = slice(take, None) if part is head else slice(None, len(part[0]) - take)
                part[0], part[2] = part[0][keep], part[2][keep]
                dropped += take
        return dropped

    total = new + sum(len(part[0]) for part in (head, tail) if part)
    if total > C.MAX_FRAMES:
        total -= drop(total - C.MAX_FRAMES)
    odd = (total - 1) % C.TEMPORAL_STRIDE  # the whole must be 4n+1 frames
    if odd:
        total -= drop(odd)
        odd = (total - 1) % C.TEMPORAL_STRIDE
    if odd:  # single kept frames only: generate a few more frames
        new += C.TEMPORAL_STRIDE - odd
        total += C.TEMPORAL_STRIDE - odd
        notes.append(f"{new} new frames instead of {settings.num_frames}: with single kept frames the whole must be "
                     "4n+1 frames.")
    if total > C.MAX_FRAMES:
        raise InputError("num_frames", f"{new} new frames and the kept footage exceed {C.MAX_FRAMES} frames in all; "
                                       "lower Frames.")
    for field, part in kept.items():
        if part[2] is not None:
            notes.append(_clip_note(field, part[2], part[3], limit))
    video, mask = gray_video(total, *canvas), full_mask(total, *canvas)
    start = len(head[0]) if head else 0
    if head:
        video[:start], mask[:start] = head[0], head[1]
    if tail:
        video[total - len(tail[0]):], mask[total - len(tail[0]):] = tail[0], tail[1]
    notes.append(f"{new} new frames generated; {total} frames in all ({total / C.OUTPUT_FPS:.2f} s).")
    return VaceInputs(video, mask, [], notes, conditioning_scale=settings.conditioning_scale)
