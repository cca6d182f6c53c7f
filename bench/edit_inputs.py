"""The Edit request both job-path benches run: a random 128x128 clip at 16 fps and a square mask, written once."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def edit_request(folder: Path, frames: int):
    """An EditRequest over `frames` random 128x128 frames with a 64x64 mask in the middle, files in `folder`."""
    from vace_ui.core.requests import EditRequest, MaskKeyframe
    from vace_ui.media.images import write_png
    from vace_ui.media.video import write_video

    rng = np.random.default_rng(0)
    write_video(folder / "clip.mp4", rng.integers(0, 256, (frames, 128, 128, 3), dtype=np.uint8), 16)
    mask = np.zeros((128, 128), dtype=np.uint8)
    mask[32:96, 32:96] = 255
    write_png(folder / "mask.png", mask)
    return EditRequest(str(folder / "clip.mp4"), (MaskKeyframe(str(folder / "mask.png"), 0),))
