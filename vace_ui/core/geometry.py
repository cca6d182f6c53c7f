"""Where input pixels and frames land in the output: spatial plans (resize, crop, pad) and frame plans.

Every layer that touches pixels (compile, preview, media reading) applies the same plan through
`SpatialPlan.apply`, so the video, the mask and the preview agree pixel for pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import constants as C
from .errors import InputError
from .settings import FitMode, FrameTiming, floor_to_valid_frames


@dataclass(frozen=True)
class SpatialPlan:
    """Resize the source to (scaled_w, scaled_h), then place its top-left corner at (offset_x, offset_y) on an
    (out_w, out_h) canvas. Negative offsets crop; positive offsets leave a border that is filled gray and
    generated."""

    src_w: int
    src_h: int
    scaled_w: int
    scaled_h: int
    offset_x: int
    offset_y: int
    out_w: int
    out_h: int
    why: str = ""  # how the output size was chosen, for the notes

    @property
    def covered_box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the canvas covered by source pixels."""
        x0, y0 = max(0, self.offset_x), max(0, self.offset_y)
        x1 = min(self.out_w, self.offset_x + self.scaled_w)
        y1 = min(self.out_h, self.offset_y + self.scaled_h)
        return x0, y0, x1, y1

    @property
    def has_border(self) -> bool:
        return self.covered_box != (0, 0, self.out_w, self.out_h)

    def apply(self, image: np.ndarray, fill: int | tuple = C.NEUTRAL_GRAY, nearest: bool = False) -> np.ndarray:
        """Resize and place `image` (H x W or H x W x C, uint8) on the output canvas."""
        if image.shape[1] != self.src_w or image.shape[0] != self.src_h:
            raise InputError("frame", f"is {image.shape[1]}x{image.shape[0]}, expected {self.src_w}x{self.src_h}.")
        resample = Image.NEAREST if nearest else Image.BICUBIC
        if (self.scaled_w, self.scaled_h) == (self.src_w, self.src_h):
            scaled = image
        else:
            scaled = np.asarray(Image.fromarray(image).resize((self.scaled_w, self.scaled_h), resample))
        canvas = np.empty((self.out_h, self.out_w) + image.shape[2:], dtype=np.uint8)
        canvas[...] = fill
        x0, y0, x1, y1 = self.covered_box
        sx, sy = x0 - self.offset_x, y0 - self.offset_y
        canvas[y0:y1, x0:x1] = scaled[sy : sy + (y1 - y0), sx : sx + (x1 - x0)]
        return canvas

    def apply_mask(self, mask: np.ndarray) -> np.ndarray:
        """Place an (H, W) bool mask of the source on the output canvas (nearest); the border is False (keep)."""
        placed = self.apply(np.asarray(mask, dtype=bool).view(np.uint8), fill=0, nearest=True)
        return placed.astype(bool)

    def border_mask(self) -> np.ndarray:
        """(out_h, out_w) bool: True (generate) on the border, False (keep) where source pixels are."""
        mask = np.ones((self.out_h, self.out_w), dtype=bool)
        x0, y0, x1, y1 = self.covered_box
        mask[y0:y1, x0:x1] = False
        return mask

    def describe(self) -> str:
        text = f"{self.src_w}x{self.src_h} -> resized to {self.scaled_w}x{self.scaled_h}"
        if self.offset_x < 0 or self.offset_y < 0:
            text += f", centre-cropped to {self.out_w}x{self.out_h}"
        if self.offset_x > 0 or self.offset_y > 0:
            text += f", padded to {self.out_w}x{self.out_h} (the gray border is generated)"
        if (self.out_w, self.out_h) == (self.scaled_w, self.scaled_h):
            text += " (no crop or pad)"
        if self.why:
            text += f"; size {self.why}"
        return text


# A source whose aspect is this close to a trained size lands on it exactly (the sliver is cropped): the
# fraction of the picture lost, 1 - min(a, b) / max(a, b). 16:9 is 2.6% wider than 832x480's 26:15.
SNAP_LOSS = 0.03
PATCH = C.SPATIAL_MULTIPLE  # one latent patch: 8x VAE downsampling x 2x2 transformer patches


def _aspect_loss(aspect: float, size: tuple[int, int]) -> float:
    other = size[0] / size[1]
    return 1.0 - min(aspect, other) / max(aspect, other)


def patch_count_size(aspect: float, preset: tuple[int, int]) -> tuple[int, int]:
    """The official VACE video loader's output size (vace/models/utils/preprocessor.py): keep the preset's patch
    count `area` = W x H / 256, oh = round(sqrt(area * h / w)), ow = int(area / oh), both times 16."""
    area = (preset[0] // PATCH) * (preset[1] // PATCH)
    oh = max(1, round(math.sqrt(area / aspect)))
    ow = max(1, int(area / oh))
    return ow * PATCH, oh * PATCH


def output_size_for_aspect(aspect: float, preset: tuple[int, int]) -> tuple[int, int]:
    """(w, h), multiples of 16, for `aspect` (w/h) at the preset's patch count; see `choose_output_size`."""
    return choose_output_size(aspect, preset)[:2]


def choose_output_size(aspect: float, preset: tuple[int, int]) -> tuple[int, int, str]:
    """(w, h, why): the preset itself (or its transpose, trained at the same area) when `aspect` is within
    SNAP_LOSS of it, else the official patch-count rule. The output never drops below the preset's area, so small
    sources are brought up to it (the official loader would keep their own, smaller, patch count)."""
    for size in (preset, preset[::-1]):
        if _aspect_loss(aspect, size) <= SNAP_LOSS:
            loss = _aspect_loss(aspect, size)
            sliver = f"; the {loss:.1%} sliver beyond it is cropped" if loss > 0.0005 else ""
            return size[0], size[1], f"{size[0]}x{size[1]}, the trained size nearest the {aspect:.2f}:1 aspect{sliver}"
    width, height = patch_count_size(aspect, preset)
    patches = (width // PATCH) * (height // PATCH)
    return width, height, (f"{width}x{height}: the {aspect:.2f}:1 aspect at the {preset[0]}x{preset[1]} patch count "
                           f"({patches} patches of 16x16, the official loader's rule)")


@dataclass(frozen=True)
class SizeRule:
    """Where the output size comes from. `preset`: the size asked for (the default preset when `chosen` is False,
    i.e. "auto"); `allowed`: the only sizes the backend accepts, each (w, h) (empty: any multiple of 16);
    `provider`: the backend's name, for the notes and messages."""

    preset: tuple[int, int]
    chosen: bool = True
    allowed: tuple[tuple[int, int], ...] = ()
    provider: str = ""

    def size_for(self, aspect: float, keep_aspect: bool) -> tuple[int, int, str]:
        """(w, h, why) of the output for a canvas of `aspect` (w/h). Without `allowed`: keep-aspect follows
        `choose_output_size`, otherwise the preset. With `allowed`, exactly one of them: crop and pad take the size
        chosen; keep-aspect takes, among the allowed sizes of the chosen size's area, the one nearest in aspect to
        the canvas; with no size chosen, the allowed size nearest in aspect to the canvas (`aspect` when keeping
        it, the default preset's otherwise), the one nearest the default's area among near-equal aspects."""
        if not self.allowed:
            return choose_output_size(aspect, self.preset) if keep_aspect else (*self.preset, "")
        offered = ", ".join(f"{w}x{h}" for w, h in self.allowed)
        asked = f"{self.preset[0]}x{self.preset[1]}"
        if self.chosen and self.preset not in self.allowed:
            raise InputError("size", f"{asked} is not offered by {self.provider}; choose auto or one of {offered}.")
        if self.chosen and not keep_aspect:
            return (*self.preset, f"{asked} as chosen ({self.provider} offers {offered})")
        if not keep_aspect:
            aspect = self.preset[0] / self.preset[1]
        area = self.preset[0] * self.preset[1]
        candidates = [size for size in self.allowed if not self.chosen or size[0] * size[1] == area]
        best = min(_aspect_loss(aspect, size) for size in candidates)
        near = [size for size in candidates if _aspect_loss(aspect, size) <= best + SNAP_LOSS]
        width, height = min(near, key=lambda size: (abs(math.log(size[0] * size[1] / area)),
                                                     _aspect_loss(aspect, size)))
        why = (f"at the {asked} area chosen, keeping the aspect" if self.chosen else "no size was chosen")
        return width, height, (f"{width}x{height}, the {self.provider} size nearest in aspect to the {aspect:.2f}:1 "
                               f"canvas ({why}; {self.provider} offers {offered})")


def as_size_rule(size: tuple[int, int] | SizeRule) -> SizeRule:
    return size if isinstance(size, SizeRule) else SizeRule(tuple(size))


def plan_spatial(src_w: int, src_h: int, preset: tuple[int, int] | SizeRule, fit: FitMode) -> SpatialPlan:
    """The plan that brings a src_w x src_h input to the output size chosen by `preset` and `fit`. Towards a
    backend's fixed size, keep-aspect covers it and centre-crops, like crop."""
    if src_w <= 0 or src_h <= 0:
        raise InputError("video", f"has an empty frame size {src_w}x{src_h}.")
    rule = as_size_rule(preset)
    out_w, out_h, why = rule.size_for(src_w / src_h, fit is FitMode.KEEP_ASPECT)
    # keep-aspect and crop cover the output and centre-crop (keep-aspect only the rounding); pad fits inside
    scale = (min if fit is FitMode.PAD else max)(out_w / src_w, out_h / src_h)
    if src_w * src_h < out_w * out_h and fit is not FitMode.PAD:
        why += (f"{'; ' if why else ''}the {src_w}x{src_h} source is smaller than that, so it is brought up to "
                f"the trained area (scaled {scale:.2f}x)")
    scaled_w, scaled_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    if fit is not FitMode.PAD:
        scaled_w, scaled_h = max(scaled_w, out_w), max(scaled_h, out_h)
    return SpatialPlan(
        src_w, src_h, scaled_w, scaled_h, (out_w - scaled_w) // 2, (out_h - scaled_h) // 2, out_w, out_h, why
    )


def fit_on_canvas(image: np.ndarray, out_w: int, out_h: int, background=C.REFERENCE_CANVAS) -> np.ndarray:
    """Scale an RGB or RGBA image to fit (out_w, out_h) keeping its aspect, centred on `background` (white).
    Transparent pixels are composited onto the background, never black."""
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    h, w = image.shape[:2]
    scale = min(out_w / w, out_h / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BICUBIC)).astype(np.float32)
    canvas = np.empty((out_h, out_w, 3), dtype=np.float32)
    canvas[...] = background
    x0, y0 = (out_w - new_w) // 2, (out_h - new_h) // 2
    region = canvas[y0 : y0 + new_h, x0 : x0 + new_w]
    if resized.shape[2] == 4:
        alpha = resized[..., 3:4] / 255.0
        region[...] = resized[..., :3] * alpha + region * (1.0 - alpha)
    else:
        region[...] = resized[..., :3]
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FramePlan:
    """Which source frame feeds each output frame, and what was done to get there (shown to the user)."""

    source_indices: tuple[int, ...]
    note: str

    @property
    def num_frames(self) -> int:
        return len(self.source_indices)


def plan_frames(
    src_count: int,
    src_fps: float,
    wanted: int,
    timing: FrameTiming,
    field: str = "video",
    shorten_to_fit: bool = True,
    any_count: bool = False,
) -> FramePlan:
    """Map `wanted` output frames (16 fps) onto a source of `src_count` frames at `src_fps`.

    A source too short for `wanted` shortens the output to the largest 4n+1 count it can fill (when
    `shorten_to_fit`), and says so; with `any_count` (kept clips of an extension) it simply yields the frames it
    has. A source too long is trimmed (RESAMPLE, EVERY_FRAME) or squeezed (SQUEEZE).
    """
    if src_count <= 0:
        raise InputError(field, "has no frames.")
    if not src_fps or src_fps <= 0 or not math.isfinite(src_fps):
        raise InputError(field, f"has an invalid frame rate ({src_fps}).")
    src_seconds = src_count / src_fps
    step = src_fps / C.OUTPUT_FPS if timing is FrameTiming.RESAMPLE else 1.0
    if timing is FrameTiming.SQUEEZE:
        count = wanted
        indices = [min(src_count - 1, int(i * src_count / count)) for i in range(count)]
        note = (
            f"{field}: {src_seconds:.2f} s ({src_count} frames at {src_fps:g} fps) spread over {count} frames; "
            f"plays {src_seconds / (count / C.OUTPUT_FPS):.2f}x as fast at {C.OUTPUT_FPS} fps."
        )
        return FramePlan(tuple(indices), note)
    available = int(math.floor((src_count - 1) / step + 1e-9)) + 1
    count = wanted
    if available < wanted:
        if not shorten_to_fit:
            raise InputError(field, f"has {available} usable frames at {C.OUTPUT_FPS} fps; {wanted} needed.")
        count = available if any_count else floor_to_valid_frames(available)
        if count > available:
            raise InputError(field, f"is too short: {src_count} frames; at least {C.MIN_FRAMES} needed.")
    indices = [min(src_count - 1, int(math.floor(i * step + 1e-9))) for i in range(count)]
    how = f"sampled at {C.OUTPUT_FPS} fps" if timing is FrameTiming.RESAMPLE else "every frame taken"
    note = f"{field}: {src_seconds:.2f} s ({src_count} frames at {src_fps:g} fps), {how}"
    used_seconds = (indices[-1] + 1) / src_fps
    if count < wanted and not any_count:
        note += f"; only {count} frames available, so the output is shortened to {count} frames."
    elif used_seconds < src_seconds - 1e-6:
        note += f"; first {used_seconds:.2f} s used, the last {src_seconds - used_seconds:.2f} s dropped."
    else:
        note += "; whole clip used."
    if timing is FrameTiming.EVERY_FRAME and abs(src_fps - C.OUTPUT_FPS) > 0.01:
        note += f" Motion plays at {C.OUTPUT_FPS / src_fps:.2f}x speed at {C.OUTPUT_FPS} fps."
    return FramePlan(tuple(indices), note)
