"""Weight-free line drawing: controlnet-aux's "lineart_standard" (LineartStandardDetector)."""

from __future__ import annotations

import warnings

import numpy as np

from .base import Annotator, register
from .weights import import_quietly


def lineart_standard(
    frame: np.ndarray, sigma: float = 6.0, threshold: int = 8, detect_resolution: int = 512
) -> np.ndarray:
    """The same computation as controlnet-aux's LineartStandardDetector, without importing torch: pixels darker
    than their Gaussian-blurred surroundings become white lines on black, normalised by the median line
    strength, computed at `detect_resolution` (short side, rounded to 64) and resized back to the frame."""
    import cv2

    height, width = frame.shape[:2]
    scale = detect_resolution / min(height, width)
    work_h, work_w = int(np.round(height * scale / 64.0)) * 64, int(np.round(width * scale / 64.0)) * 64
    interpolation = cv2.INTER_LANCZOS4 if scale > 1 else cv2.INTER_AREA
    x = cv2.resize(frame, (work_w, work_h), interpolation=interpolation).astype(np.float32)
    blurred = cv2.GaussianBlur(x, (0, 0), sigma)
    intensity = np.min(blurred - x, axis=2).clip(0, 255)
    strong = intensity[intensity > threshold]
    intensity /= max(16.0, float(np.median(strong))) if strong.size else 16.0
    intensity *= 127
    lines = intensity.clip(0, 255).astype(np.uint8)
    lines = cv2.resize(lines, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.repeat(lines[:, :, None], 3, axis=2)


@register
class LineartAnnotator(Annotator):
    """Line drawing (white lines on black), weight-free: controlnet-aux's LineartStandardDetector with its
    defaults (Gaussian sigma 6, intensity threshold 8, detect resolution 512). When controlnet-aux is not
    installed the identical computation in `lineart_standard` is used instead."""

    name = "lineart"
    label = "Line drawing"
    sigma = 6.0
    threshold = 8
    detect_resolution = 512

    def __init__(self) -> None:
        self.detector = None  # controlnet-aux LineartStandardDetector, or None for the built-in copy
        self._loaded = False

    def load(self) -> None:
        if self._loaded:
            return
        try:
            self.detector = import_quietly("controlnet_aux.lineart_standard").LineartStandardDetector()
        except Exception:  # not installed or broken against this torch: the built-in copy computes the same
            self.detector = None
        self._loaded = True

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        if self.detector is None:
            return lineart_standard(frame, self.sigma, self.threshold, self.detect_resolution)
        with warnings.catch_warnings():  # a frame without lines takes the median of nothing; the result is right
            warnings.simplefilter("ignore", RuntimeWarning)
            return self.detector(
                frame,
                guassian_sigma=self.sigma,  # (sic) controlnet-aux's parameter name
                intensity_threshold=self.threshold,
                detect_resolution=self.detect_resolution,
                output_type="np",
            )
