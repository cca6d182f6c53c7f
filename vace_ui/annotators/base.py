"""The interface every control annotator implements, and the registry that finds them by name.

An annotator turns source frames into control frames, one frame at a time (streaming: a caller never has to hold
the whole clip at full resolution). Heavy imports (torch models, controlnet-aux, onnxruntime) happen in `load()`,
never at import time.

Shared weights, per-clip state (as diffusers' hook state managers keep a hook's state apart per context): an
`Annotator` holds its configuration and its loaded model only. The registry shares one per name, loaded once and
read-only afterwards. Whatever one clip carries from frame to frame (the flow annotator's previous frame, the
layout annotator's mask track) lives in an `AnnotatorStream` that `open_stream()` creates for that clip alone, so
clips annotated at the same time, by jobs and previews in other threads, never see each other's state.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterable, Iterator

import numpy as np

Progress = Callable[[int, int], None]  # (frames done, total frames or 0 when unknown)
_LOAD_LOCK = threading.RLock()


class AnnotatorError(RuntimeError):
    """An annotator failed; the message names the frame (when known) and the reason."""


def as_rgb(frame: object) -> np.ndarray:
    """`frame` as a contiguous (H, W, 3) uint8 RGB array. Gray (H, W) or (H, W, 1) is copied into 3 channels;
    RGBA drops alpha. Anything else raises ValueError saying what was given."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"expected a numpy image array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {frame.shape}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame is too small ({frame.shape[1]}x{frame.shape[0]})")
    return np.ascontiguousarray(frame)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` resized to `size` = (width, height): area averaging when shrinking, bicubic when enlarging."""
    import cv2

    width, height = size
    if (frame.shape[1], frame.shape[0]) == (width, height):
        return frame
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


class AnnotatorStream:
    """The state of annotating one clip, frame after frame. This base keeps none: each frame goes through the
    annotator's stateless `process_frame`. Annotators that carry state between frames subclass it."""

    def __init__(self, annotator: "Annotator") -> None:
        self.annotator = annotator

    def feed(self, frame: np.ndarray) -> list[np.ndarray]:
        """The control frames that become ready once `frame` is seen (usually exactly one; a stream that needs the
        next frame, like flow, may return none now and two later)."""
        return [self.annotator.process_frame(frame)]

    def flush(self) -> list[np.ndarray]:
        """Control frames still held back when the input ends."""
        return []


class Annotator(abc.ABC):
    """One control kind. Subclasses set `name` (registry key), `label` (UI text) and `needs_weights`, and override
    `process_frame` (a control frame from one frame, no state) or, when frames depend on earlier ones,
    `open_stream` (a new AnnotatorStream holding that state). After `load()` an instance is read-only: one is
    shared by every clip."""

    name: str = ""
    label: str = ""
    needs_weights: bool = False

    def load(self) -> None:
        """Import heavy libraries and load weights. Raise AnnotatorError naming missing files and where to put them."""

    def weights_problem(self) -> str | None:
        """None when `load()` can find everything it needs; otherwise the message it would raise (no loading,
        no network). Lets the UI mark a control unavailable before the user starts a job."""
        return None

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB in, (H, W, 3) uint8 RGB control frame of the same size out. Stateless."""
        raise NotImplementedError(f"{type(self).__name__} annotates streams only: use open_stream() or process()")

    def open_stream(self) -> AnnotatorStream:
        """The state of one new clip (call `load()` first). Each clip needs its own; a stream is not shared."""
        return AnnotatorStream(self)

    def process(
        self,
        frames: Iterable[np.ndarray],
        total: int = 0,
        progress: Progress | None = None,
        size: tuple[int, int] | None = None,
    ) -> Iterator[np.ndarray]:
        """Stream control frames for `frames`, one out per frame in, through a stream of this clip's own. With
        `size` = (width, height) each frame is resized to that size first, so the control video comes out at the
        target size. Errors name the failing frame."""
        with _LOAD_LOCK:  # two clips starting together load the shared weights once
            self.load()
        yield from self.run_stream(self.open_stream(), frames, total, progress, size)

    def run_stream(
        self,
        stream: AnnotatorStream,
        frames: Iterable[np.ndarray],
        total: int = 0,
        progress: Progress | None = None,
        size: tuple[int, int] | None = None,
    ) -> Iterator[np.ndarray]:
        """Feed `frames` (checked, converted to RGB, resized to `size`) through `stream`, then flush it; yields the
        control frames, checked. `progress(done, total)` after each frame."""
        shape: tuple[int, ...] | None = None
        index = -1
        for index, frame in enumerate(frames):
            try:
                frame = as_rgb(frame)
                if size is not None:
                    frame = resize_frame(frame, size)
                if shape is not None and frame.shape != shape:
                    raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, "
                                     f"earlier frames are {shape[1]}x{shape[0]}")
                shape = frame.shape
                outputs = stream.feed(frame)
            except AnnotatorError:
                raise
            except Exception as error:  # annotators wrap third-party code; report which frame broke
                raise AnnotatorError(f"{self.label} failed on frame {index}: {error}") from error
            for out in outputs:
                yield self._checked(out, shape, index)
            if progress is not None:
                progress(index + 1, total)
        if shape is not None:
            try:
                outputs = stream.flush()
            except AnnotatorError:
                raise
            except Exception as error:
                raise AnnotatorError(f"{self.label} failed after frame {index}: {error}") from error
            for out in outputs:
                yield self._checked(out, shape, index)

    def _checked(self, out: np.ndarray, shape: tuple[int, ...], index: int) -> np.ndarray:
        if not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != np.uint8:
            got = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
            raise AnnotatorError(f"{self.label} produced {got} for frame {index}; expected {shape} uint8")
        return out


_REGISTRY: dict[str, Callable[[], Annotator]] = {}
_SHARED: dict[str, Annotator] = {}  # one per name: configuration and loaded weights, no per-clip state
_SHARED_LOCK = threading.Lock()


def register(cls: type[Annotator]) -> type[Annotator]:
    """Class decorator: make the annotator available by its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> dict[str, str]:
    """name -> label of every registered annotator, in registration order."""
    return {name: factory.label for name, factory in _REGISTRY.items()}


def needing_weights() -> list[str]:
    """Names of the registered annotators that need downloaded weights."""
    return [name for name, factory in _REGISTRY.items() if getattr(factory, "needs_weights", False)]


def forget(name: str) -> None:
    """Drop the shared annotator `name` and its loaded weights; the next `get` builds it again (after its weight
    files changed, or a test that loaded stand-in weights)."""
    with _SHARED_LOCK:
        _SHARED.pop(name, None)


def get(name: str) -> Annotator:
    """The shared annotator `name` (created once, its weights loaded once on first use). Safe to use from several
    threads at once: each `process()` call annotates through a stream of its own."""
    if name not in _REGISTRY:
        raise AnnotatorError(f"unknown control '{name}'; available: {', '.join(_REGISTRY)}")
    with _SHARED_LOCK:
        if name not in _SHARED:
            _SHARED[name] = _REGISTRY[name]()
        return _SHARED[name]
