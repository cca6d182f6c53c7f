"""Capability requests -> the three VACE inputs, exactly as ../shared/VACE_FORMAT.md states.

Pure: media decoding, control annotation and mask tracking come in through a `CompileContext` (core/clip.py), so
this package imports neither torch nor Gradio and is tested pixel for pixel with in-memory media. Each capability's
compile lives in its own module and imports downward only (clip, masks, geometry, inputs).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .clip import CompileContext, fit_references, full_mask, gray_video, load_clip, mask_on_canvas, size_rule
from .compile_edit import compile_edit, track_whole_clip, tracks_whole_clip
from .compile_extend import compile_extend, extension_kept
from .errors import InputError
from .geometry import SizeRule, SpatialPlan, as_size_rule, plan_frames
from .inputs import ControlStream, VaceInputs
from .requests import (
    CapabilityRequest,
    EditRequest,
    ExtendRequest,
    OutpaintRequest,
    ReferenceRequest,
    RepaintRequest,
)
from .settings import FitMode, GenerationSettings
from .windows import Window, WindowPlan, keep_previous, plan_windows


def compile_reference(request: ReferenceRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    rule = size_rule(settings, ctx)
    width, height, why = rule.size_for(rule.preset[0] / rule.preset[1], False)
    n = ctx.window[1] - ctx.window[0] if ctx.window else settings.num_frames
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
    source = (request.video, clip.spatial, clip.timing.source_indices)

    def control_video(kind: str) -> np.ndarray:
        control = gray_video(n, width, height)
        inner = (frame[y0:y1, x0:x1] for frame in clip.frames)
        for index, out in enumerate(ctx.annotate(kind, inner, n, source=source)):
            control[index, y0:y1, x0:x1] = out
        return control

    controls = [control_video(request.control)] + ([control_video(request.control_2)] if request.control_2 else [])
    mask = full_mask(n, width, height)
    notes = clip.notes + [f"control: {request.control}, strength {request.strength:g}"]
    if request.control_2:
        notes.append(f"second control: {request.control_2}, strength {request.strength_2:g} (its own VACE context "
                     "stream, hints added to the first's)")
    if request.control_mask:
        region = mask_on_canvas(ctx, request.control_mask, "control_mask", clip.spatial)
        if not region.any():
            raise InputError("control_mask", "is empty; paint where the control should apply.")
        region |= clip.spatial.border_mask()
        controls = [np.where(region[None, :, :, None], control, clip.frames) for control in controls]
        mask[:] = region
        notes.append("control applied inside the mask only; the rest of the video is kept")
    refs = fit_references(ctx, request.references, width, height)
    extra = [ControlStream(controls[1], mask.copy(), settings.conditioning_scale * request.strength_2,
                           request.control_2)] if request.control_2 else []
    scale = settings.conditioning_scale * request.strength
    return VaceInputs(controls[0], mask, refs, notes, conditioning_scale=scale, extra_controls=extra)


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
    if (spatial.out_w, spatial.out_h) != settings.preset_size:
        chosen_w, chosen_h = settings.preset_size
        notes.append(f"size: {spatial.out_w}x{spatial.out_h} instead of {chosen_w}x{chosen_h}, to fit the expanded "
                     "frame's shape at about the same pixel count.")
    return VaceInputs(clip.frames, mask, [], notes, conditioning_scale=settings.conditioning_scale)


COMPILERS = {
    ReferenceRequest: compile_reference,
    RepaintRequest: compile_repaint,
    EditRequest: compile_edit,
    ExtendRequest: compile_extend,
    OutpaintRequest: compile_outpaint,
}


def compile_request(request: CapabilityRequest, settings: GenerationSettings, ctx: CompileContext) -> VaceInputs:
    """Validate the request and the settings that shape the media (the prompt is checked when a job is created, so
    a preview needs none), then build the VACE inputs. Raises InputError / MediaError. A video longer than one
    window compiles its first window (the preview), with the window plan in the notes; `compile_window` the others."""
    settings.validate(require_prompt=False)
    request.validate()
    if ctx.window is None and settings.num_frames > settings.window_frames:
        plan = plan_request_windows(request, settings, ctx)
        ctx = prepare_windows(request, settings, ctx, plan)
        inputs = compile_window(request, settings, ctx, plan.windows[0])
        inputs.notes[:0] = [plan.describe() + (f"; shown: window 1 of {plan.count}" if plan.count > 1 else "")]
        return inputs
    return COMPILERS[type(request)](request, settings, ctx)


def plan_request_windows(request: CapabilityRequest, settings: GenerationSettings, ctx: CompileContext) -> WindowPlan:
    """The windows of a job: over the output frames the request's video can fill (shortened like one window); for
    an extension, over the kept footage and Frames of new footage (after a first clip or frame; before a last one,
    from the end backwards). Windows have only the frame counts the backend offers (`ctx.frame_counts`)."""
    total, reverse = settings.num_frames, False
    if isinstance(request, ExtendRequest) and total > settings.window_frames:
        before, after = extension_kept(request, settings, ctx)
        if before and after:
            raise InputError("num_frames", f"an extension between a first and a last clip (or frame) is one window "
                                           f"(at most {settings.window_frames} frames with the kept footage); lower "
                                           "Frames, or extend from one side and join the results.")
        total, reverse = total + before + after, bool(after)
    video = getattr(request, "video", None)
    if video and total > settings.window_frames:
        info = ctx.media.probe(video, "video")
        total = plan_frames(info.frame_count, info.fps, total, settings.timing, "video").num_frames
    return plan_windows(total, settings.window_frames, settings.window_overlap, ctx.frame_counts, reverse,
                        ctx.sizes_from)


def prepare_windows(request: CapabilityRequest, settings: GenerationSettings, ctx: CompileContext,
                    plan: WindowPlan) -> CompileContext:
    """What every window of a long job shares, computed once: an edit's tracked masks (the whole clip's)."""
    if plan.count > 1 and ctx.tracked is None and tracks_whole_clip(request):
        return replace(ctx, tracked=track_whole_clip(request, settings, ctx))
    return ctx


def compile_window(request: CapabilityRequest, settings: GenerationSettings, ctx: CompileContext, window: Window,
                   kept: np.ndarray | None = None, reverse: bool = False) -> VaceInputs:
    """One window's inputs: its slice of the video, controls and masks, and the previous window's last frames
    (`kept`) at its start, mask keep (`reverse`: the next window's first frames at its end)."""
    inputs = COMPILERS[type(request)](request, settings, replace(ctx, window=(window.start, window.end)))
    return keep_previous(inputs, kept, at_end=reverse) if kept is not None else inputs
