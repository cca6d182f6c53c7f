"""Capability requests -> the three VACE inputs, exactly as ../shared/VACE_FORMAT.md states.

Pure: media decoding, control annotation and mask tracking come in through a `CompileContext`, so this module
imports neither torch nor Gradio and is tested pixel for pixel with in-memory media.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from . import constants as C
from .errors import InputError
from .geometry import (FramePlan, SizeRule, SpatialPlan, as_size_rule, fit_on_canvas, plan_frames,
                       plan_spatial)
from .inputs import VaceInputs
from .requests import (
    CapabilityRequest,
    EditRequest,
    ExtendRequest,
    OutpaintRequest,
    ReferenceImage,
    ReferenceRequest,
    RepaintRequest,
)
from .settings import FitMode, FrameTiming, GenerationSettings


class VideoProbe(Protocol):
    width: int
    height: int
    fps: float
    frame_count: int


class MediaSource(Protocol):
    """Decoding, supplied by the media layer (or by tests, in memory)."""

    def probe(self, path: str, field: str) -> VideoProbe: ...

    def frames(self, path: str, indices: tuple[int, ...], field: str) -> Iterator[np.ndarray]: ...

    def image(self, path: str, field: str) -> np.ndarray:
        """RGB or RGBA uint8."""

    def mask_image(self, path: str, field: str) -> np.ndarray:
        """(H, W) uint8, 255 = edit."""


# (control kind, frames, count, source) -> control frames. `source` = (video path, spatial plan, source frame
# indices) identifies the clip exactly, so a context may serve a cached result instead of annotating again.
Annotate = Callable[..., Iterator[np.ndarray]]
Track = Callable[..., np.ndarray]  # (frames, {output frame: mask}, cut_occluders=bool) -> (N, H, W) bool


@dataclass
class CompileContext:
    media: MediaSource
    annotate: Annotate | None = None  # (control kind, frames, count) -> control frames
    track: Track | None = None  # (frames (N,H,W,3), {output frame: (H,W) bool}, cut_occluders) -> (N,H,W) bool
    sizes: tuple[tuple[int, int], ...] = ()  # the only output sizes the target backend accepts (empty: any)
    sizes_from: str = ""  # that backend's name, for the notes


def size_rule(settings: GenerationSettings, ctx: CompileContext) -> SizeRule:
    """The one rule for the output size: the settings' size (or auto) and the sizes the backend declares."""
    return SizeRule(settings.preset_size, settings.size_chosen, tuple(ctx.sizes), ctx.sizes_from)


@dataclass
class Clip:
    """Source frames brought to the output canvas, with the plans that put them there."""

    frames: np.ndarray  # (n, H, W, 3) uint8 on the output canvas
    spatial: SpatialPlan
    timing: FramePlan
    notes: list[str]
    source_frames: int  # frames in the whole source file


def load_clip(
    ctx: CompileContext,
    path: str,
    field: str,
    wanted: int,
    timing: FrameTiming,
    preset: tuple[int, int] | SizeRule,
    fit: FitMode,
    spatial: SpatialPlan | None = None,
    info: VideoProbe | None = None,
) -> Clip:
    """Probe (unless `info` is given: probing counts frames by decoding), plan and decode the frames needed."""
    info = info or ctx.media.probe(path, field)
    spatial = spatial or plan_spatial(info.width, info.height, preset, fit)
    frame_plan = plan_frames(info.frame_count, info.fps, wanted, timing, field)
    frames = np.stack([spatial.apply(frame) for frame in ctx.media.frames(path, frame_plan.source_indices, field)])
    return Clip(frames, spatial, frame_plan, [frame_plan.note, f"{field}: {spatial.describe()}"], info.frame_count)


def gray_video(num_frames: int, width: int, height: int) -> np.ndarray:
    return np.full((num_frames, height, width, 3), C.NEUTRAL_GRAY, dtype=np.uint8)


def full_mask(num_frames: int, width: int, height: int, value: int = C.MASK_GENERATE) -> np.ndarray:
    return np.full((num_frames, height, width), value, dtype=np.uint8)


def fit_references(ctx: CompileContext, references: Iterable[ReferenceImage], width: int, height: int) -> list[np.ndarray]:
    """Each reference scaled to fit the output size, centred on white; transparency composited onto white."""
    return [
        fit_on_canvas(ctx.media.image(ref.path, f"reference {index}"), width, height)
        for index, ref in enumerate(references, start=1)
    ]


def compile_reference(request: ReferenceRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    rule = size_rule(settings, ctx)
    width, height, why = rule.size_for(rule.preset[0] / rule.preset[1], False)
    n = settings.num_frames
    refs = fit_references(ctx, request.references, width, height)
    note = f"{len(refs)} reference image(s) fitted on white at {width}x{height}" if refs else "text only"
    notes = [note] + ([f"size {why}"] if why else [])
    return VaceInputs(gray_video(n, width, height), full_mask(n, width, height), refs, notes,
                      conditioning_scale=settings.conditioning_scale)


def compile_repaint(request: RepaintRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    if ctx.annotate is None:
        raise InputError("control", "no control annotators are available.")
    clip = load_clip(ctx, request.video, "video", settings.num_frames, settings.timing, size_rule(settings, ctx),
                     settings.fit)
    n, height, width = clip.frames.shape[:3]
    x0, y0, x1, y1 = clip.spatial.covered_box
    control = gray_video(n, width, height)
    inner = (frame[y0:y1, x0:x1] for frame in clip.frames)
    source = (request.video, clip.spatial, clip.timing.source_indices)
    for index, out in enumerate(ctx.annotate(request.control, inner, n, source=source)):
        control[index, y0:y1, x0:x1] = out
    mask = full_mask(n, width, height)
    notes = clip.notes + [f"control: {request.control}, strength {request.strength:g}"]
    if request.control_mask:
        region = _mask_on_canvas(ctx, request.control_mask, "control_mask", clip.spatial)
        if not region.any():
            raise InputError("control_mask", "is empty; paint where the control should apply.")
        region |= clip.spatial.border_mask() > 0
        control = np.where(region[None, :, :, None], control, clip.frames)
        mask[:] = np.where(region, C.MASK_GENERATE, C.MASK_KEEP)
        notes.append("control applied inside the mask only; the rest of the video is kept")
    refs = fit_references(ctx, [request.reference] if request.reference else [], width, height)
    return VaceInputs(control, mask, refs, notes, conditioning_scale=settings.conditioning_scale * request.strength)


def _mask_on_canvas(ctx: CompileContext, path: str, field: str, spatial: SpatialPlan) -> np.ndarray:
    """A mask image drawn on the source video, brought to the output canvas (nearest), as bool."""
    mask = ctx.media.mask_image(path, field)
    if mask.shape != (spatial.src_h, spatial.src_w):
        raise InputError(
            field,
            f"is {mask.shape[1]}x{mask.shape[0]} but the video is {spatial.src_w}x{spatial.src_h}; "
            "draw or export the mask at the video's size.",
        )
    return spatial.apply(mask, fill=C.MASK_KEEP, nearest=True) > 127


def compile_extend(request: ExtendRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    """Kept footage at the start and/or end (black mask), solid gray frames to generate in between (white mask).
    The first media given fixes the output size; later media are cropped (or padded, in PAD mode) to it."""
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


def outpaint_plan(src_w: int, src_h: int, request: OutpaintRequest, preset: tuple[int, int] | SizeRule) -> SpatialPlan:
    """Place the video inside the expanded canvas. Each side's border is (scale - 1) x the video's extent. The
    expanded picture is fitted inside the output size, never stretched or cropped: where their aspects differ,
    the extra border (generated too) is split evenly, and the notes say how much."""
    rule = as_size_rule(preset)
    wide, tall = request.left + request.right - 1.0, request.top + request.bottom - 1.0
    out_w, out_h, why = rule.size_for((src_w * wide) / (src_h * tall), True)
    scale = min(out_w / (src_w * wide), out_h / (src_h * tall))
    pad_x, pad_y = (out_w - src_w * wide * scale) / 2, (out_h - src_h * tall * scale) / 2
    x0, x1 = round(pad_x + (request.left - 1.0) * src_w * scale), round(pad_x + request.left * src_w * scale)
    y0, y1 = round(pad_y + (request.top - 1.0) * src_h * scale), round(pad_y + request.top * src_h * scale)
    why = f"{why}, for the expanded canvas"
    if round(pad_x) or round(pad_y):
        sides, extra = ("left and right", round(pad_x)) if round(pad_x) else ("top and bottom", round(pad_y))
        why += (f"; to fill {out_w}x{out_h} without stretching, {extra} px more border than asked is generated on "
                f"the {sides} (the borders keep the proportions set)")
    return SpatialPlan(src_w, src_h, x1 - x0, y1 - y0, x0, y0, out_w, out_h, why)


def compile_outpaint(request: OutpaintRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    info = ctx.media.probe(request.video, "video")
    spatial = outpaint_plan(info.width, info.height, request, size_rule(settings, ctx))
    clip = load_clip(ctx, request.video, "video", settings.num_frames, settings.timing, settings.preset_size,
                     FitMode.KEEP_ASPECT, spatial, info)
    mask = np.repeat(spatial.border_mask()[None], clip.frames.shape[0], axis=0)
    notes = clip.notes + [
        f"expanded top x{request.top:g}, bottom x{request.bottom:g}, left x{request.left:g}, right x{request.right:g}"
    ]
    return VaceInputs(clip.frames, mask, [], notes, conditioning_scale=settings.conditioning_scale)


def compile_request(request: CapabilityRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    """Validate `request` and `settings`, then build the VACE inputs. Raises InputError / MediaError."""
    from .compile_edit import compile_edit

    settings.validate()
    request.validate()
    compilers = {
        ReferenceRequest: compile_reference,
        RepaintRequest: compile_repaint,
        EditRequest: compile_edit,
        ExtendRequest: compile_extend,
        OutpaintRequest: compile_outpaint,
    }
    return compilers[type(request)](request, settings, ctx)
