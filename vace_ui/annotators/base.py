"""The interface every control annotator implements, and the registry that finds them by name.

An annotator turns source frames into control frames, one frame at a time (streaming: a caller never has to hold
the whole clip at full resolution). Heavy imports (torch models, controlnet-aux, onnxruntime) happen in `load()`,
never at import time.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator

import numpy as np

Progress = Callable[[int, int], None]  # (frames done, total frames or 0 when unknown)


class AnnotatorError(RuntimeError):
    """An annotator failed; the message names the frame (when known) and the reason."""


class Annotator(abc.ABC):
    """One control kind. Subclasses set `name` (registry key), `label` (UI text) and `needs_weights`."""

    name: str = ""
    label: str = ""
    needs_weights: bool = False

    def load(self) -> None:
        """Import heavy libraries and load weights. Raise AnnotatorError naming missing files and where to put them."""

    def reset(self) -> None:
        """Forget state carried between frames (flow, tracking) before a new clip."""

    @abc.abstractmethod
    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB in, (H, W, 3) uint8 RGB control frame of the same size out."""

    def process(self, frames: Iterable[np.ndarray], total: int = 0, progress: Progress | None = None) -> Iterator[np.ndarray]:
        """Stream control frames for `frames`. Errors name the failing frame."""
        self.load()
        self.reset()
        for index, frame in enumerate(frames):
            try:
                out = self.process_frame(frame)
            except AnnotatorError:
                raise
            except Exception as error:  # annotators wrap third-party code; report which frame broke
                raise AnnotatorError(f"{self.label} failed on frame {index}: {error}") from error
            if progress is not None:
                progress(index + 1, total)
            yield out


_REGISTRY: dict[str, Callable[[], Annotator]] = {}
_INSTANCES: dict[str, Annotator] = {}


def register(cls: type[Annotator]) -> type[Annotator]:
    """Class decorator: make the annotator available by its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> dict[str, str]:
    """name -> label of every registered annotator, in registration order."""
    return {name: factory.label for name, factory in _REGISTRY.items()}


def get(name: str) -> Annotator:
    """The shared instance of annotator `name` (created once, loaded on first use)."""
    if name not in _REGISTRY:
        raise AnnotatorError(f"unknown control '{name}'; available: {', '.join(_REGISTRY)}")
    if name not in _INSTANCES:
        _INSTANCES[name] = _REGISTRY[name]()
    return _INSTANCES[name]
