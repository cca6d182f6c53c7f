"""Turning the app's compiled VACE inputs (and the user's files) into what hosted providers accept.

Providers take files, not arrays: the source video goes as H.264 MP4 (yuv420p), reference images as PNG, and
the mask - which must stay exactly binary - as PNG when one image holds for every frame, otherwise as an MP4
encoded losslessly (libx264 qp 0, yuv444p, through media.video.write_video(lossless=True)): providers take MP4
for mask videos, and a lossy encode would blur 0/255 into intermediate values the model thresholds unpredictably.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core import constants as C
from ...core.errors import InputError, MediaError
from ...core.inputs import VaceInputs

MB = 1024 * 1024


def is_public_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def mask_is_static(mask: np.ndarray) -> bool:
    """True when every frame of the (N, H, W) mask equals the first."""
    return bool((mask == mask[0]).all())


def mask_generates_everything(mask: np.ndarray) -> bool:
    return bool((mask == C.MASK_GENERATE).all())


def is_blank_source(inputs: VaceInputs) -> bool:
    """Reference-only / text-only inputs: nothing to keep (all gray, all generate), so video and mask can be
    omitted - the providers' defaults are exactly that."""
    return mask_generates_everything(inputs.mask) and bool((inputs.video == C.NEUTRAL_GRAY).all())


def write_source_video(inputs: VaceInputs, folder: Path, name: str = "src_video.mp4") -> Path:
    from ...media.video import write_video

    return write_video(Path(folder) / name, inputs.video, fps=inputs.fps)


def write_mask(inputs: VaceInputs, folder: Path, allow_image: bool = True, stem: str = "src_mask") -> Path:
    """PNG when static (and the provider takes a mask image), else a lossless MP4. White = generate."""
    from ...media.images import write_png
    from ...media.video import write_video

    if allow_image and mask_is_static(inputs.mask):
        return write_png(Path(folder) / f"{stem}.png", inputs.mask[0])
    rgb = np.repeat(inputs.mask[..., None], 3, axis=3)
    return write_video(Path(folder) / f"{stem}.mp4", rgb, fps=inputs.fps, lossless=True)


def write_references(inputs: VaceInputs, folder: Path) -> list[Path]:
    from ...media.images import write_png

    return [write_png(Path(folder) / f"ref_{index}.png", ref) for index, ref in enumerate(inputs.references)]


def write_frame(frame: np.ndarray, folder: Path, name: str) -> Path:
    from ...media.images import write_png

    return write_png(Path(folder) / name, frame)


def require_inputs(inputs: VaceInputs | None, label: str) -> VaceInputs:
    if inputs is None:
        raise InputError("inputs", f"{label} needs the compiled video, mask and references; none were prepared.")
    return inputs


def check_local_video(
    source: str,
    field: str,
    label: str,
    *,
    max_mb: float | None = None,
    max_seconds: float | None = None,
    mp4_only: bool = False,
):
    """Check a local video against a provider's limits before upload; public URLs are not checked here (the
    provider checks them). Returns the VideoInfo, or None for URLs."""
    if is_public_url(source):
        return None
    from ...media.video import probe_video

    path = Path(source)
    if not path.is_file():
        raise InputError(field, f"file not found: {path.name}.")
    if mp4_only and path.suffix.lower() not in (".mp4", ".m4v"):
        raise InputError(field, f"'{path.name}' is not MP4; {label} accepts MP4 videos only. Re-export it as MP4.")
    size = path.stat().st_size
    if max_mb is not None and size > max_mb * MB:
        raise InputError(field, f"'{path.name}' is {size / MB:.1f} MB; {label} accepts at most {max_mb:g} MB.")
    try:
        info = probe_video(path, field)
    except MediaError as error:
        raise InputError(field, error.message) from None
    if max_seconds is not None and info.duration > max_seconds + 1e-3:
        raise InputError(field, f"'{path.name}' lasts {info.duration:.2f} s; {label} accepts at most "
                                f"{max_seconds:g} s. Trim it first.")
    return info


def check_local_image(source: str, field: str) -> None:
    if not is_public_url(source) and not Path(source).is_file():
        raise InputError(field, f"file not found: {Path(source).name}.")
