"""Weight-free optical flow (OpenCV DIS), rendered as the Middlebury colour-wheel picture."""

from __future__ import annotations

import numpy as np

from .base import Annotator, AnnotatorStream, register


def make_colorwheel() -> np.ndarray:
    """The Middlebury colour wheel (Baker et al. 2007): 55 RGB colours, float32 in 0..255, hue order
    red, yellow, green, cyan, blue, magenta."""
    segments = [
        (15, 0, 1, True),
        (6, 1, 0, False),
        (4, 1, 2, True),
        (11, 2, 1, False),
        (13, 2, 0, True),
        (6, 0, 2, False),
    ]
    wheel = np.zeros((55, 3), dtype=np.float32)
    start = 0
    for length, full, ramp, rising in segments:
        steps = np.floor(255 * np.arange(length) / length)
        wheel[start : start + length, full] = 255
        wheel[start : start + length, ramp] = steps if rising else 255 - steps
        start += length
    return wheel


_WHEEL = make_colorwheel() / 255.0  # read-only constants


def _channel_luts(channel: int) -> tuple[np.ndarray, np.ndarray]:
    """256-entry float32 tables for cv2.LUT: wheel colour k, and colour k + 1 (wrapping round)."""
    here = np.zeros(256, dtype=np.float32)
    after = np.zeros(256, dtype=np.float32)
    here[: len(_WHEEL)] = _WHEEL[:, channel]
    after[: len(_WHEEL)] = np.roll(_WHEEL[:, channel], -1)
    return here, after


_WHEEL_LUTS = [_channel_luts(channel) for channel in range(3)]


def flow_to_rgb(flow: np.ndarray) -> np.ndarray:
    """(H, W, 2) float flow (dx, dy in pixels) -> (H, W, 3) uint8 RGB, as RAFT's `flow_to_image`: hue is the
    direction (right = red, down = yellow, left = cyan, up = violet), saturation the speed relative to
    the fastest pixel of the frame; no motion is white."""
    import cv2

    u = np.ascontiguousarray(flow[..., 0], dtype=np.float32)
    v = np.ascontiguousarray(flow[..., 1], dtype=np.float32)
    radius = cv2.magnitude(u, v)
    scale = 1.0 / (float(radius.max()) + 1e-5)
    radius *= scale
    position = np.arctan2(-v, -u)  # -pi..pi
    position += np.pi
    position *= (_WHEEL.shape[0] - 1) / (2 * np.pi)
    k0 = position.astype(np.uint8)  # 0..54: index of the wheel colour at or below the direction
    fraction = position
    fraction -= k0
    picture = np.empty(flow.shape[:2] + (3,), dtype=np.uint8)
    for channel in range(3):  # cv2.LUT on uint8 indices: far faster than numpy gathers
        low = cv2.LUT(k0, _WHEEL_LUTS[channel][0])
        colour = cv2.LUT(k0, _WHEEL_LUTS[channel][1])  # the next colour round the wheel
        colour -= low
        colour *= fraction
        colour += low  # linear blend between the two nearest wheel colours
        colour -= 1
        colour *= radius
        colour += 1  # 1 - radius * (1 - colour): towards white as the speed falls
        colour *= 255
        picture[..., channel] = colour  # the cast truncates: floor, as colour >= 0
    return picture


class FlowStream(AnnotatorStream):
    """One clip's flow state: its own DIS instance (OpenCV's keeps working buffers), the previous frame's luma,
    and whether frame 0's picture (the first flow, shown for frame 0 too) is still owed."""

    def __init__(self, annotator: "FlowAnnotator") -> None:
        import cv2

        super().__init__(annotator)
        self.dis = cv2.DISOpticalFlow_create(annotator.preset)
        self.previous: np.ndarray | None = None
        self.first_pending = False

    def _picture(self, frame: np.ndarray) -> np.ndarray:
        """Flow from the previously seen frame to `frame` (white when there is none)."""
        import cv2

        luma = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        previous, self.previous = self.previous, luma
        if previous is None:
            return np.full(frame.shape, 255, dtype=np.uint8)
        if previous.shape != luma.shape:
            raise ValueError(f"frame is {luma.shape[1]}x{luma.shape[0]}, "
                             f"the previous one {previous.shape[1]}x{previous.shape[0]}")
        return flow_to_rgb(self.dis.calc(previous, luma, None))

    def feed(self, frame: np.ndarray) -> list[np.ndarray]:
        first = self.previous is None
        picture = self._picture(frame)
        if first:
            self.first_pending = True
            return []
        if self.first_pending:
            self.first_pending = False
            return [picture, picture]
        return [picture]

    def flush(self) -> list[np.ndarray]:
        if self.first_pending and self.previous is not None:
            self.first_pending = False
            return [np.full(self.previous.shape + (3,), 255, dtype=np.uint8)]
        return []


@register
class FlowAnnotator(Annotator):
    """Optical flow between consecutive frames (OpenCV DIS, preset MEDIUM, on luma) drawn with the Middlebury
    colour wheel. N frames in, N pictures out: the first flow (frame 0 -> 1) is shown for frame 0 as well, as the
    official VACE flow annotator does. A one-frame clip gives one white (motionless) picture. Weight-free; each
    clip's state is a FlowStream."""

    name = "flow"
    label = "Optical flow"
    preset = 2  # cv2.DISOPTICAL_FLOW_PRESET_MEDIUM

    def open_stream(self) -> FlowStream:
        return FlowStream(self)
