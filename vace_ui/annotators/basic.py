"""Weight-free annotators: gray and canny."""

from __future__ import annotations

import numpy as np

from .base import Annotator, register


@register
class GrayAnnotator(Annotator):
    """Luma (ITU-R BT.601) copied into 3 channels: keeps structure and shading, drops colour."""

    name = "gray"
    label = "Gray (recolour)"

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        luma = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        return cv2.cvtColor(luma, cv2.COLOR_GRAY2RGB)


@register
class CannyAnnotator(Annotator):
    """Canny edges (white on black), thresholds 100/200 as the official VACE annotator."""

    name = "canny"
    label = "Canny edges"
    low_threshold = 100
    high_threshold = 200

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        luma = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        edges = cv2.Canny(luma, self.low_threshold, self.high_threshold)
        return cv2.cvtColor(edges, cv2.COLOR_GRAY2RGB)
