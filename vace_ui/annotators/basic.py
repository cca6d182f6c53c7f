"""Weight-free annotators: gray and canny."""

from __future__ import annotations

import numpy as np

from .base import Annotator, register


@register
class GrayAnnotator(Annotator):
    """Gray copied into 3 channels, exactly as the official VACE GrayAnnotator makes it: keeps structure and shading,
    drops colour."""

    name = "gray"
    label = "Gray (recolour)"

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        # The official annotator (vace/annotators/gray.py) applies COLOR_BGR2GRAY to RGB frames, i.e. weights
        # 0.114 R + 0.587 G + 0.299 B; VACE was trained on that, so it is matched here rather than true luma.
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2GRAY)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


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
