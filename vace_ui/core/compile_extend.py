"""Video extension: kept footage at the start and/or end (mask keep), solid gray frames to generate between."""

from __future__ import annotations

import numpy as np

from . import constants as C
from .clip import CompileContext, full_mask, gray_video, size_rule
from .errors import InputError
from .geometry import plan_frames, plan_spatial
from .inputs import VaceInputs
from .requests import ExtendRequest
from .settings import FitMode, GenerationSettings


def compile_extend(request: ExtendRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    """The first media given fixes the output size; later media are cropped (or padded, in PAD mode) to it."""
    n = settings.num_frames
    canvas: tuple[int, int] | None = None
    notes: list[str] = []
    kept: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    both_clips = bool(request.first_clip and request.last_clip)
    one_frame = 1 if (request.first_frame or request.last_frame) else 0
    # A kept clip is at most 3 s and always leaves frames to generate (half each when both ends are clips).
    max_clip = min(int(C.MAX_EXTENSION_CLIP_SECONDS * C.OUTPUT_FPS), (n - 1) // 2 if both_clips else n - 1 - one_frame)
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
            timing = plan_frames(info.frame_count, info.fps, n, settings.timing, field, any_count=True)
            indices = timing.source_indices
            notes.append(timing.note)
            if len(indices) > max_clip:
                indices = indices[-max_clip:] if field == "first_clip" else indices[:max_clip]
                notes.append(f"{field}: longer than the {max_clip} frames it may fill (3 s at most); only its "
                             f"{'last' if field == 'first_clip' else 'first'} {len(indices)} frames are kept.")
            frames = np.stack([plan.apply(frame) for frame in ctx.media.frames(path, indices, field)])
        else:
            frames = plan.apply(image)[None]
        notes.append(f"{field}: {plan.describe()}")
        kept[field] = (frames, plan.border_mask())
    head = kept.get("first_clip") or kept.get("first_frame")
    tail = kept.get("last_clip") or kept.get("last_frame")
    used = (len(head[0]) if head else 0) + (len(tail[0]) if tail else 0)
    if used >= n:
        raise InputError("num_frames", f"the kept frames fill {used} of {n} frames; raise the frame count or use shorter clips.")
    video, mask = gray_video(n, *canvas), full_mask(n, *canvas)
    if head:
        video[: len(head[0])], mask[: len(head[0])] = head
    if tail:
        video[n - len(tail[0]) :], mask[n - len(tail[0]) :] = tail
    notes.append(f"{n - used} of {n} frames generated")
    return VaceInputs(video, mask, [], notes, conditioning_scale=settings.conditioning_scale)
