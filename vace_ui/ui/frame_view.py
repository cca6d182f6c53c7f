"""The Edit tab's frame view and timeline strip: gr.HTML with a little JavaScript, because no Gradio component shows
a frame with a tinted mask on top, lets one paint and click on that same view, and swaps frames in a few ms.

- The view is an <img> of the frame, an <img> of its mask tinted (kept keyframe, tracked, or a clicked/inverted
  mask not kept yet, each in its own colour) and a <canvas> the strokes are drawn on. Python renders the HTML;
  the script only draws strokes and reports them.
- Strokes (brush or eraser, in source pixels) live in the browser per frame until kept or cleared, so a stroke is
  never lost to a frame change; the script mirrors them as JSON into the hidden textbox `#edit-strokes` (an input
  of Keep / Invert / Generate), with the frame the view shows (`shown`), which is the frame Keep keeps.
- A stroke pins the view to the frame it was begun on: the script moves the slider back there, and a view of
  another frame that still arrives (a late answer to a slider position from before the stroke) changes neither
  `shown` nor where the strokes go; the view element says `data-shown` (and `data-late` while such a view is up).
- A click with a click tool goes to the hidden textbox `#edit-pointer` (its input event runs segment-anything).
- The timeline: thumbnails, a mark per keyframe (a button: click to jump there), tracked frames as a band, the
  current frame as a cursor, and tracking progress. A click on it sets the frame slider.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from enum import Enum

import numpy as np
from PIL import Image, ImageDraw

MAX_SIDE = 960  # the view shows frames at most this large (display only; masks stay at the video's size)


class Tint(Enum):
    """How a mask on the view is coloured (RGBA)."""

    KEPT = (34, 197, 94, 120)  # a keyframe kept on this frame
    TRACKED = (59, 130, 246, 120)  # carried here by Track
    PENDING = (245, 158, 11, 120)  # clicked or inverted, not kept yet


def _data_url(image: np.ndarray, kind: str = "png") -> str:
    buffer = io.BytesIO()
    pil = Image.fromarray(image)
    if kind == "jpeg":
        pil.convert("RGB").save(buffer, format="JPEG", quality=90)
    else:
        pil.save(buffer, format="PNG", compress_level=1)
    return f"data:image/{kind};base64," + base64.b64encode(buffer.getvalue()).decode()


def _display_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def tinted(mask: np.ndarray, tint: Tint, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) bool -> RGBA uint8, the tint where the mask is, transparent elsewhere (scaled to `size` (w, h))."""
    if size is not None and size != (mask.shape[1], mask.shape[0]):
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127
    layer = np.zeros(mask.shape + (4,), dtype=np.uint8)
    layer[mask] = tint.value
    return layer


def view_html(frame: np.ndarray | None, index: int = 0, mask: np.ndarray | None = None, tint: Tint = Tint.KEPT,
              clear: tuple[int, ...] = (), note: str = "") -> str:
    """The frame view for `frame` (source frame `index`) with `mask` tinted on top. `clear`: frames whose strokes
    the browser drops (they were kept, inverted or cleared)."""
    if frame is None:
        return '<div class="vfv vfv-empty">Upload a video: its frames show here, to paint or click on.</div>'
    height, width = frame.shape[:2]
    size = _display_size(width, height)
    shown = frame if size == (width, height) else np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))
    overlay = ""
    if mask is not None and mask.any():
        overlay = (f'<img class="vfv-mask" data-tint="{tint.name.lower()}" alt="" draggable="false" '
                   f'src="{_data_url(tinted(mask, tint, size))}">')
    label = {Tint.KEPT: "kept keyframe", Tint.TRACKED: "tracked", Tint.PENDING: "not kept yet"}[tint]
    caption = f"Frame {index}" + (f" · mask: {label}" if overlay else " · no mask") + (f" · {note}" if note else "")
    return (f'<div class="vfv" data-index="{int(index)}" data-w="{width}" data-h="{height}" '
            f'data-clear="{",".join(str(int(c)) for c in clear)}">'
            f'<div class="vfv-stage"><img class="vfv-frame" alt="frame {int(index)}" draggable="false" '
            f'src="{_data_url(shown, "jpeg")}">{overlay}'
            f'<canvas class="vfv-strokes" width="{width}" height="{height}"></canvas></div>'
            f'<div class="vfv-caption">{html.escape(caption)}</div></div>')


@dataclass(frozen=True)
class Strip:
    """What the timeline shows: `thumbnails` [(frame, data URL)], `keyframes`, `tracked` frames, the `current`
    frame, and `progress` (done, total) while tracking."""

    frame_count: int
    thumbnails: tuple[tuple[int, str], ...] = ()
    keyframes: tuple[int, ...] = ()
    tracked: tuple[int, ...] = ()
    current: int = 0
    progress: tuple[int, int] | None = None


def thumbnail_urls(thumbnails: list[tuple[int, np.ndarray]]) -> tuple[tuple[int, str], ...]:
    return tuple((int(index), _data_url(image, "jpeg")) for index, image in thumbnails)


def _ranges(frames: tuple[int, ...]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for frame in sorted(frames):
        if runs and frame == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], frame)
        else:
            runs.append((frame, frame))
    return runs


def timeline_html(strip: Strip | None) -> str:
    if strip is None or strip.frame_count <= 0:
        return '<div class="vtl vtl-empty">The timeline shows here once a video is loaded.</div>'
    last = max(1, strip.frame_count - 1)

    def left(frame: float) -> str:
        return f"{100 * frame / last:.3f}%"

    thumbs = "".join(f'<img class="vtl-thumb" data-frame="{i}" alt="" draggable="false" src="{url}">'
                     for i, url in strip.thumbnails)
    bands = "".join(f'<div class="vtl-tracked" style="left:{left(a)};width:{100 * (b - a) / last:.3f}%" '
                    f'title="tracked: frames {a}-{b}"></div>' for a, b in _ranges(strip.tracked))
    marks = "".join(f'<button class="vtl-key" data-frame="{k}" style="left:{left(k)}" '
                    f'title="Keyframe at frame {k}: click to jump there" aria-label="keyframe {k}"></button>'
                    for k in strip.keyframes)
    status = f"{len(strip.keyframes)} keyframe(s)" + (f" · {len(strip.tracked)} frame(s) tracked" if strip.tracked
                                                      else "")
    progress = ""
    if strip.progress is not None:
        done, total = strip.progress
        share = 100 * done / max(1, total)
        progress = (f'<div class="vtl-progress" data-done="{done}" data-total="{total}">'
                    f'<div style="width:{share:.1f}%"></div></div>')
        status = f"Tracking… {done}/{total} steps"
    return (f'<div class="vtl" data-count="{strip.frame_count}"><div class="vtl-thumbs">{thumbs}</div>'
            f'<div class="vtl-track">{bands}{marks}<div class="vtl-cursor" style="left:{left(strip.current)}"></div>'
            f'</div>{progress}<div class="vtl-status">{html.escape(status)}</div></div>')


@dataclass(frozen=True)
class Stroke:
    erase: bool
    radius: float
    points: tuple[tuple[float, float], ...]


def parse_strokes(text: str | None) -> tuple[int | None, dict[int, list[Stroke]]]:
    """The browser's strokes JSON -> (the frame the view showed, {frame: strokes}); bad input counts as none."""
    try:
        data = json.loads(text or "{}")
        shown = data.get("shown")
        frames = {int(frame): [Stroke(bool(s.get("erase")), float(s["r"]), tuple((float(x), float(y))
                                                                                 for x, y in s["p"]))
                               for s in strokes if s.get("p")]
                  for frame, strokes in (data.get("frames") or {}).items()}
        return (int(shown) if shown is not None else None), {f: s for f, s in frames.items() if s}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, {}


def apply_strokes(base: np.ndarray | None, strokes: list[Stroke], height: int, width: int) -> np.ndarray:
    """`base` (or nothing) with each stroke painted in (brush) or out (eraser), in order."""
    mask = np.zeros((height, width), dtype=bool) if base is None else base.copy()
    for stroke in strokes:
        layer = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(layer)
        r = max(0.5, stroke.radius)
        if len(stroke.points) > 1:
            draw.line(stroke.points, fill=255, width=max(1, round(2 * r)), joint="curve")
        for x, y in stroke.points:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        painted = np.asarray(layer) > 127
        mask = mask & ~painted if stroke.erase else mask | painted
    return mask


def parse_pointer(text: str | None) -> tuple[int, int, int, bool] | None:
    """A click on the view -> (frame, x, y, positive), or None."""
    try:
        data = json.loads(text or "")
        return int(data["frame"]), int(round(float(data["x"]))), int(round(float(data["y"]))), bool(data["add"])
    except (ValueError, TypeError, KeyError):
        return None


def parse_jump(text: str | None) -> int | None:
    """A click on the timeline -> the frame to show, or None."""
    try:
        return int(json.loads(text or "")["frame"])
    except (ValueError, TypeError, KeyError):
        return None
