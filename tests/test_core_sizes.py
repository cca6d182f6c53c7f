"""The compile towards a backend's fixed sizes: every capability, fit and source shape gives exactly one of the
sizes the backend declares, chosen by the stated rule, with the user's fit and outpaint proportions kept."""

import math

import numpy as np
import pytest
from memory_media import MemoryMedia

from vace_ui import annotators
from vace_ui.core import constants as C
from vace_ui.core.compile import CompileContext, compile_request
from vace_ui.core.errors import InputError
from vace_ui.core.requests import (
    EditRequest,
    ExtendRequest,
    MaskKeyframe,
    OutpaintRequest,
    ReferenceImage,
    ReferenceRequest,
    RepaintRequest,
)
from vace_ui.core.settings import GenerationSettings

SOURCES = {"square": (96, 96), "portrait": (72, 128), "wide": (256, 64)}
SIZE_SETS = {  # as the backends declare them
    "wavespeed": ((832, 480), (480, 832), (1280, 720), (720, 1280)),
    "comfyui": ((832, 480), (480, 832)),
    "720p only": ((1280, 720), (720, 1280)),
}
OUTPAINT = {"left": 1.5, "top": 1.2}  # asymmetric: half the width on the left only, a fifth of the height on top


def loss(aspect, size):
    other = size[0] / size[1]
    return 1 - min(aspect, other) / max(aspect, other)


def nearest(aspect, allowed, area=832 * 480):
    """The stated rule: the allowed sizes nearest in aspect (within 3% of the best), then the one nearest the
    default 832x480's area, then the first declared."""
    best = min(loss(aspect, size) for size in allowed)
    near = [size for size in allowed if loss(aspect, size) <= best + 0.03]
    return min(near, key=lambda size: (abs(math.log(size[0] * size[1] / area)), loss(aspect, size)))


def annotate(kind, frames, total, source=None):
    return annotators.get(kind).process(frames, total)


def media_for(shape):
    w, h = SOURCES[shape]
    media = MemoryMedia()
    rng = np.random.default_rng(3)
    media.videos["v.mp4"] = (rng.integers(0, 256, (9, h, w, 3), dtype=np.uint8), 16.0)
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[h // 4 : h // 2, w // 4 : w // 2] = 255
    media.images["m.png"] = mask
    media.images["r.png"] = np.full((40, 30, 3), 200, dtype=np.uint8)
    return media


REQUESTS = {
    "reference": lambda: ReferenceRequest((ReferenceImage("r.png"),)),
    "repaint": lambda: RepaintRequest("v.mp4", "canny"),
    "edit": lambda: EditRequest("v.mp4", (MaskKeyframe("m.png", 0),), expand_ratio=0.0),
    "extend": lambda: ExtendRequest(first_clip="v.mp4"),
    "outpaint": lambda: OutpaintRequest("v.mp4", **OUTPAINT),
}


def canvas_aspect(capability, shape, fit):
    """The canvas the app compiles without fixed sizes: the source's aspect when keeping it (outpaint: the
    expanded picture's), the default 832x480 otherwise (reference: always)."""
    w, h = SOURCES[shape]
    if capability == "outpaint":
        wide = OUTPAINT.get("left", 1.0) + OUTPAINT.get("right", 1.0) - 1.0
        tall = OUTPAINT.get("top", 1.0) + OUTPAINT.get("bottom", 1.0) - 1.0
        return w * wide / (h * tall)
    if capability == "reference" or fit != "keep_aspect":
        return 832 / 480
    return w / h


def compile_for(capability, shape, allowed, **settings):
    ctx = CompileContext(media=media_for(shape), annotate=annotate, sizes=allowed, sizes_from="Provider")
    values = {"prompt": "a cat", "num_frames": 9, **settings}
    return compile_request(REQUESTS[capability](), GenerationSettings(**values), ctx)


@pytest.mark.parametrize("allowed", list(SIZE_SETS))
@pytest.mark.parametrize("shape", list(SOURCES))
@pytest.mark.parametrize("fit", ["keep_aspect", "crop", "pad"])
@pytest.mark.parametrize("capability", list(REQUESTS))
def test_auto_targets_exactly_the_nearest_declared_size(capability, shape, fit, allowed):
    sizes = SIZE_SETS[allowed]
    inputs = compile_for(capability, shape, sizes, fit=fit)
    expected = nearest(canvas_aspect(capability, shape, fit), sizes)
    assert (inputs.width, inputs.height) == expected
    assert inputs.video.shape[1:3] == inputs.mask.shape[1:3] == (expected[1], expected[0])
    assert all(ref.shape[:2] == (expected[1], expected[0]) for ref in inputs.references)
    assert any(f"{expected[0]}x{expected[1]}, the Provider size nearest in aspect" in note for note in inputs.notes)


@pytest.mark.parametrize("shape", list(SOURCES))
def test_fit_is_applied_towards_the_provider_size(shape):
    w, h = SOURCES[shape]
    sizes = SIZE_SETS["comfyui"]
    out_w, out_h = nearest(w / h, sizes)
    keep = compile_for("repaint", shape, sizes, fit="keep_aspect")
    assert (keep.width, keep.height) == (out_w, out_h) and (keep.mask == C.MASK_GENERATE).all()
    pad = compile_for("edit", shape, sizes, fit="pad", size="832x480")
    # pad: the source fitted inside 832x480 (scale min), the border gray and generated
    scale = min(832 / w, 480 / h)
    inner_w, inner_h = round(w * scale), round(h * scale)
    x0, y0 = (832 - inner_w) // 2, (480 - inner_h) // 2
    assert (pad.width, pad.height) == (832, 480)
    border = np.ones((480, 832), dtype=bool)
    border[y0 : y0 + inner_h, x0 : x0 + inner_w] = False
    assert (pad.mask[0][border] == C.MASK_GENERATE).all() and (pad.video[0][border] == C.NEUTRAL_GRAY).all()


def test_a_chosen_size_is_kept_and_keep_aspect_takes_its_transpose_for_a_portrait_source():
    sizes = SIZE_SETS["wavespeed"]
    crop = compile_for("repaint", "portrait", sizes, fit="crop", size="1280x720")
    assert (crop.width, crop.height) == (1280, 720) and any("as chosen" in note for note in crop.notes)
    keep = compile_for("repaint", "portrait", sizes, fit="keep_aspect", size="1280x720")
    assert (keep.width, keep.height) == (720, 1280)  # the chosen area, the source's orientation
    with pytest.raises(InputError) as raised:
        compile_for("repaint", "square", SIZE_SETS["comfyui"], size="1280x720")
    assert raised.value.field == "size" and "not offered by Provider" in str(raised.value)


@pytest.mark.parametrize("shape", list(SOURCES))
@pytest.mark.parametrize("allowed", list(SIZE_SETS))
def test_outpaint_borders_keep_their_proportions_inside_the_provider_frame(shape, allowed):
    w, h = SOURCES[shape]
    inputs = compile_for("outpaint", shape, SIZE_SETS[allowed])
    keep = inputs.mask[0] == C.MASK_KEEP
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    video_w, video_h = x1 - x0, y1 - y0
    assert abs(video_w / video_h - w / h) < 0.05 * (w / h)  # not stretched
    # borders in the proportions set (left 1.5: half the video's width on the left; top 1.2: a fifth on top),
    # plus the same extra on opposite sides where the frame's aspect differs from the expanded picture's
    extra_x = x0 - (OUTPAINT["left"] - 1) * video_w
    extra_y = y0 - (OUTPAINT["top"] - 1) * video_h
    assert abs((inputs.width - x1) - extra_x) <= 2 and abs((inputs.height - y1) - extra_y) <= 2
    assert min(extra_x, extra_y) < 2  # the expanded picture fills the frame along one axis
    if max(extra_x, extra_y) >= 2:
        assert any("more border than asked" in note for note in inputs.notes)
