"""Media coming into the compile: the media-source protocol, clips brought to the output canvas, references fitted
on white and mask images placed on the canvas.

Pure: decoding is supplied by the media layer (or by tests, in memory) through `MediaSource`; control annotation
and mask tracking come in through `CompileContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from . import constants as C
from .errors import InputError
from .geometry import FramePlan, SizeRule, SpatialPlan, fit_on_canvas, plan_frames, plan_spatial
from .requests import ReferenceImage
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
        """(H, W) bool, True = edit."""


# (control kind, frames, count, source=...) -> control frames. `source` = (video path, spatial plan, source frame
# indices) identifies the clip exactly, so a context may serve a cached result instead of annotating again.
Annotate = Callable[..., Iterator[np.ndarray]]
# (frames (N, H, W, 3), {output frame: (H, W) bool}, cut_occluders=bool, tracker=str) -> (N, H, W) bool, or
# ((N, H, W) bool, the name of the tracker that made them) when the context resolves `auto` itself
Track = Callable[..., np.ndarray]
# (frames (N, H, W, 3), text) -> (N, H, W) bool: what a text prompt names, on every frame (SAM 3)
Segment = Callable[..., np.ndarray]


@dataclass
class CompileContext:
    """What the compile needs from the layers above it: decoding, control annotation, mask tracking."""

    media: MediaSource
    annotate: Annotate | None = None
    track: Track | None = None
    segment: Segment | None = None
    sizes: tuple[tuple[int, int], ...] = ()  # the only output sizes the target backend accepts (empty: any)
    sizes_from: str = ""  # that backend's name, for the notes
    window: tuple[int, int] | None = None  # (start, end) output frames of one window of a long video (None: all)
    frame_counts: tuple[int, ...] = ()  # the only frame counts per task the target backend makes (empty: any 4n+1)
    tracked: object | None = None  # a long edit's masks tracked once through the whole clip: (N, H, W) bool, sliceable


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
    source_fps: float
    whole: FramePlan | None = None  # the whole video's plan when `timing` is one window of it
    offset: int = 0  # the window's first output frame in the whole video


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
    whole = plan_frames(info.frame_count, info.fps, wanted, timing, field)
    frame_plan, offset = whole, 0
    if ctx.window is not None:  # one window of a long video: decode only its frames
        offset, end = ctx.window
        span = f"{offset}-{end - 1}"
        frame_plan = FramePlan(whole.source_indices[offset:end], f"{whole.note} Window: output frames {span}.")
        if frame_plan.num_frames != end - offset:
            raise InputError(field, f"has frames for {whole.num_frames} output frames; window {span} needs more.")
    frames = np.stack([spatial.apply(frame) for frame in ctx.media.frames(path, frame_plan.source_indices, field)])
    notes = [frame_plan.note, f"{field}: {spatial.describe()}"]
    return Clip(frames, spatial, frame_plan, notes, info.frame_count, info.fps,
                whole if ctx.window is not None else None, offset)


def gray_video(num_frames: int, width: int, height: int) -> np.ndarray:
    """(N, H, W, 3) uint8 of NEUTRAL_GRAY: frames the model creates."""
    return np.full((num_frames, height, width, 3), C.NEUTRAL_GRAY, dtype=np.uint8)


def full_mask(num_frames: int, width: int, height: int, generate: bool = True) -> np.ndarray:
    """(N, H, W) bool, everywhere `generate`."""
    return np.full((num_frames, height, width), generate, dtype=bool)


def fit_references(
    ctx: CompileContext, references: Iterable[ReferenceImage], width: int, height: int
) -> list[np.ndarray]:
    """Each reference scaled to fit the output size, centred on white; transparency composited onto white."""
    return [
        fit_on_canvas(ctx.media.image(ref.path, f"reference {index}"), width, height)
        for index, ref in enumerate(references, start=1)
    ]


def mask_on_canvas(ctx: CompileContext, path: str, field: str, spatial: SpatialPlan, what: str = "draw") -> np.ndarray:
    """A mask image drawn on the source video, brought to the output canvas (nearest), as (H, W) bool."""
    return place_mask(ctx.media.mask_image(path, field), field, spatial, what)


def place_mask(mask: np.ndarray, field: str, spatial: SpatialPlan, what: str = "draw") -> np.ndarray:
    """An (H, W) bool mask of the source video's size on the output canvas; a mask of another size is an error."""
    if mask.shape != (spatial.src_h, spatial.src_w):
        raise InputError(
            field,
            f"is {mask.shape[1]}x{mask.shape[0]} but the video is {spatial.src_w}x{spatial.src_h}; "
            f"{what} or export the mask at the video's size.",
        )
    return spatial.apply_mask(mask)
