"""Shared plumbing of the annotators that need weight files: find them (never over the network unless allowed),
build the model once, and report missing files with their exact paths."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import Annotator, AnnotatorError
from .weights import WeightFile, describe_files, downloads_allowed, find_all, missing_message, pick_device, require


class WeightedAnnotator(Annotator):
    """An annotator backed by a model. `weight_options` lists alternative file sets, preferred first; the
    first set whose files are all present is loaded by `build`. Tests (and callers with a model in memory)
    pass `model=` to skip file loading entirely."""

    needs_weights = True
    weight_options: tuple[tuple[WeightFile, ...], ...] = ()

    def __init__(self, model: object | None = None, device: str | None = None) -> None:
        self.model = model
        self.device = device

    def option_usable(self, option: int) -> bool:
        """Whether file set `option` can be used at all here (e.g. its runtime library is installed)."""
        return True

    def _locate(self) -> tuple[int, list[Path]] | None:
        for option, files in enumerate(self.weight_options):
            if self.option_usable(option):
                paths = find_all(files)
                if paths is not None:
                    return option, paths
        return None

    def option_note(self, option: int) -> str:
        """Why file set `option` would not be used even when present (shown in the missing-files message)."""
        return ""

    def _preferred(self) -> int:
        usable = [option for option in range(len(self.weight_options)) if self.option_usable(option)]
        return usable[0] if usable else 0

    def _missing(self) -> str:
        preferred = self._preferred()
        others = [
            describe_files(files) + self.option_note(option)
            for option, files in enumerate(self.weight_options)
            if option != preferred
        ]
        alternatives = f"Alternatively: {'; or '.join(others)}." if others else ""
        return missing_message(self.label, self.weight_options[preferred], alternatives)

    def weights_problem(self) -> str | None:
        if self.model is not None or self._locate() is not None:
            return None
        return self._missing()

    def load(self) -> None:
        if self.model is not None:
            return
        found = self._locate()
        if found is None:
            if not downloads_allowed():
                raise AnnotatorError(self._missing())
            preferred = self._preferred()  # VACE_ALLOW_DOWNLOADS=1: fetch the preferred set into the models folder
            found = preferred, require(self.label, self.weight_options[preferred])
        option, paths = found
        device = self.device or pick_device()
        try:
            self.model = self.build(option, paths, device)
        except AnnotatorError:
            raise
        except Exception as error:  # corrupt or mismatched weights: name the files
            names = ", ".join(str(path) for path in paths)
            raise AnnotatorError(f"{self.label} could not load {names}: {error}") from error
        self.device = device

    @abc.abstractmethod
    def build(self, option: int, paths: Sequence[Path], device: str) -> object:
        """Construct the model from weight set `option` (its files at `paths`) on `device`."""


def fit_picture(picture: np.ndarray, frame: np.ndarray, nearest: bool = False) -> np.ndarray:
    """A control picture computed at some working size, brought to `frame`'s size as (H, W, 3) uint8."""
    import cv2

    picture = np.asarray(picture)
    if picture.dtype != np.uint8:
        picture = np.clip(picture, 0, 255).astype(np.uint8)
    if picture.ndim == 2:
        picture = picture[:, :, None]
    if picture.shape[2] == 1:
        picture = np.repeat(picture, 3, axis=2)
    height, width = frame.shape[:2]
    if picture.shape[:2] != (height, width):
        interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        picture = cv2.resize(picture, (width, height), interpolation=interpolation)
    return np.ascontiguousarray(picture[:, :, :3])
