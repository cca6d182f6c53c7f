"""Weight-free layout control: where each object is, per frame, drawn as a contour or a box on white."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import Enum

import numpy as np

from ..core.masks import to_bool
from .base import Annotator, AnnotatorError, AnnotatorStream, Progress, register

Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels of the frame, end exclusive


class LayoutStyle(str, Enum):
    """OUTLINE: the mask's outer contour (3 px, as the official VACE layout annotator) or the box's rectangle
    (2 px, inside the box). FILLED: the whole mask or box painted in."""

    OUTLINE = "outline"
    FILLED = "filled"


def box_path(start: Box, end: Box, num_frames: int) -> list[Box]:
    """A box moving linearly from `start` (frame 0) to `end` (last frame) over `num_frames` frames."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    first, last = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    steps = max(1, num_frames - 1)
    return [tuple(float(c) for c in first + (last - first) * (i / steps)) for i in range(num_frames)]


def _as_boxes(entry: object) -> list[Box]:
    """One frame's boxes: None (nothing), one box of 4 numbers, or a sequence of boxes."""
    if entry is None:
        return []
    array = np.asarray(entry, dtype=np.float64)
    if array.size == 0:
        return []
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"a box is (x0, y0, x1, y1); got {np.shape(entry)}")
    if not np.isfinite(array).all():
        raise ValueError("box coordinates must be finite numbers")
    return [tuple(row) for row in array]


@register
class LayoutAnnotator(Annotator):
    """Layout: black object shapes on a white canvas (VACE's layout colours). The object comes from a tracked
    mask sequence (`process(frames, masks=...)` or `process_masks`) or a box per frame (`process(frames,
    boxes=...)`, `process_boxes`, `box_path` for a straight move). Given plain frames only, each frame is read
    as a mask picture: pixels brighter than half are the object (an uploaded mask video works as is)."""

    name = "layout"
    label = "Layout (mask or box track)"

    def __init__(
        self,
        style: LayoutStyle = LayoutStyle.OUTLINE,
        color: tuple[int, int, int] = (0, 0, 0),
        background: tuple[int, int, int] = (255, 255, 255),
        contour_thickness: int = 3,
        box_thickness: int = 2,
    ) -> None:
        self.style = LayoutStyle(style)
        self.color = tuple(int(c) for c in color)
        self.background = tuple(int(c) for c in background)
        self.contour_thickness = contour_thickness
        self.box_thickness = box_thickness

    def _canvas(self, height: int, width: int) -> np.ndarray:
        row = np.empty((width, 3), dtype=np.uint8)
        row[...] = self.background
        return np.broadcast_to(row, (height, width, 3)).copy()  # row copies: ~25x faster than filling by pixel

    def draw_mask(self, mask: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """The layout picture of one mask (bool, or uint8/float where bright = object), at `size` = (w, h) or the
        mask's own size (resized nearest-neighbour, so it stays binary)."""
        import cv2

        binary = to_bool(mask).astype(np.uint8)
        if size is not None and (binary.shape[1], binary.shape[0]) != tuple(size):
            binary = cv2.resize(binary, tuple(size), interpolation=cv2.INTER_NEAREST)
        canvas = self._canvas(*binary.shape[:2])
        if self.style is LayoutStyle.FILLED:
            canvas[binary.astype(bool)] = np.array(self.color, dtype=np.uint8)
            return canvas
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        return cv2.drawContours(canvas, contours, -1, self.color, thickness=self.contour_thickness)

    def draw_boxes(self, boxes: object, size: tuple[int, int], scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
        """The layout picture of one frame's boxes (None, one box or several) on a (w, h) = `size` canvas; box
        coordinates are multiplied by `scale` = (sx, sy) first. Outlines lie just inside the box."""
        canvas = self._canvas(size[1], size[0])
        for x0, y0, x1, y1 in _as_boxes(boxes):
            x0, x1 = (int(round(v)) for v in sorted((x0 * scale[0], x1 * scale[0])))
            y0, y1 = (int(round(v)) for v in sorted((y0 * scale[1], y1 * scale[1])))
            if self.style is LayoutStyle.FILLED:
                self._paint(canvas, x0, y0, x1, y1)
                continue
            t = self.box_thickness
            for band in ((x0, y0, x1, y0 + t), (x0, y1 - t, x1, y1), (x0, y0, x0 + t, y1), (x1 - t, y0, x1, y1)):
                self._paint(canvas, *band)
        return canvas

    def _paint(self, canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> None:
        height, width = canvas.shape[:2]
        x0, x1 = max(0, min(width, x0)), max(0, min(width, x1))
        y0, y1 = max(0, min(height, y0)), max(0, min(height, y1))
        canvas[y0:y1, x0:x1] = np.array(self.color, dtype=np.uint8)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        """Without a track, `frame` is read as a mask picture."""
        return self.draw_mask(frame)

    def process(
        self,
        frames: Iterable[np.ndarray],
        total: int = 0,
        progress: Progress | None = None,
        size: tuple[int, int] | None = None,
        *,
        masks: Iterable[np.ndarray | None] | None = None,
        boxes: Iterable[object] | None = None,
    ) -> Iterator[np.ndarray]:
        """Stream layout pictures. `masks` (one per frame; None = object absent) or `boxes` (one entry per frame:
        None, a box, or several boxes, in the frame's pixel coordinates) give the object; `frames` give the size.
        With neither, each frame is read as a mask picture."""
        if masks is not None and boxes is not None:
            raise AnnotatorError("layout takes masks or boxes, not both")
        if masks is None and boxes is None:
            yield from super().process(frames, total, progress, size)
            return
        stream = LayoutTrackStream(self, "mask" if masks is not None else "box", masks if masks is not None else boxes)
        yield from self.run_stream(stream, stream.remember_size(frames), total, progress, size)

    def process_masks(
        self, masks: Iterable[np.ndarray], total: int = 0, progress: Progress | None = None
    ) -> Iterator[np.ndarray]:
        """Layout pictures straight from a mask sequence (each picture has its mask's size). Masks are bool or
        uint8 (bright = object)."""
        pictures = (mask.astype(np.uint8) * 255 if np.asarray(mask).dtype.kind == "b" else mask for mask in masks)
        return super().process(pictures, total, progress)

    def process_boxes(
        self, boxes: Sequence[object], size: tuple[int, int], progress: Progress | None = None
    ) -> Iterator[np.ndarray]:
        """Layout pictures for one box entry per frame on a (w, h) = `size` canvas (see `box_path`)."""
        blank = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        return self.process((blank for _ in boxes), len(boxes), progress, boxes=boxes)


class LayoutTrackStream(AnnotatorStream):
    """One clip's layout track: the iterator over its masks or boxes (`kind` "mask" or "box") and the size of the
    frame being drawn before any resize (box coordinates are in those pixels)."""

    def __init__(self, annotator: LayoutAnnotator, kind: str, track: Iterable[object]) -> None:
        super().__init__(annotator)
        self.kind = kind
        self.track = iter(track)
        self.source_size: tuple[int, int] = (0, 0)  # (w, h)

    def remember_size(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """`frames` unchanged, noting each one's size before the resize."""
        for frame in frames:
            shape = np.shape(frame)
            self.source_size = (shape[1], shape[0]) if len(shape) >= 2 else (0, 0)
            yield frame

    def feed(self, frame: np.ndarray) -> list[np.ndarray]:
        layout = self.annotator
        try:
            entry = next(self.track)
        except StopIteration:
            raise ValueError(f"the {self.kind} track ended before the video did") from None
        height, width = frame.shape[:2]
        if self.kind == "box":
            scale = (width / self.source_size[0], height / self.source_size[1])
            return [layout.draw_boxes(entry, (width, height), scale)]
        if entry is None:
            return [layout._canvas(height, width)]
        return [layout.draw_mask(np.asarray(entry), (width, height))]
