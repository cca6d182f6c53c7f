"""Image files in and out (PIL). Masks are written as PNG: lossless, so they stay binary."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.constants import MAX_INPUT_PIXELS
from ..core.errors import MediaError
from ..core.masks import to_bool, to_uint8

VIDEO_SUFFIXES = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v"}


def read_image(path: str | Path, field: str = "image") -> np.ndarray:
    """RGB or RGBA uint8 array (alpha kept when present), EXIF orientation applied."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(field, f"file not found: {path.name}.")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise MediaError(field, f"'{path.name}' is a video; an image (PNG, JPEG, WebP) is expected here.")
    try:
        with Image.open(path) as image:  # lazy: only the header is read here
            if image.width * image.height > MAX_INPUT_PIXELS:
                raise MediaError(field, f"'{path.name}' is {image.width}x{image.height}; images up to "
                                 f"{MAX_INPUT_PIXELS // 1_000_000} megapixels are accepted. Scale it down first.")
            image = ImageOps.exif_transpose(image)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
            return np.asarray(image.convert("RGBA" if has_alpha else "RGB")).copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise MediaError(field, f"'{path.name}' could not be read as an image ({type(error).__name__}); "
                         "upload a PNG, JPEG or WebP.") from None


def read_mask_image(path: str | Path, field: str = "mask") -> np.ndarray:
    """A mask image as an (H, W) bool array: True (white) = edit. RGBA brush layers count their alpha where the
    colour is black."""
    return to_bool(read_image(path, field))


def write_mask_png(path: str | Path, mask: np.ndarray) -> Path:
    """Write an (H, W) bool mask as a binary PNG (255 = edit, 0 = keep), atomically."""
    return write_png(path, to_uint8(mask))


def write_png(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 image or mask as PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(suffix=".png", prefix=".partial-", dir=path.parent)
    os.close(handle)
    try:
        Image.fromarray(np.asarray(array, dtype=np.uint8)).save(temp_name, format="PNG")
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path
