"""Control annotators. Importing this package registers every annotator (their heavy imports stay lazy).

Registry order is the order the UI lists them: weight-free first, then those needing weight files, so the imports
below keep that order rather than an alphabetical one.
"""
# ruff: noqa: I001

from . import basic  # noqa: F401  (registers gray, canny)
from . import lineart, flow, layout, depth, pose, scribble  # noqa: F401  (registers the rest, in this order)
from .base import Annotator, AnnotatorError, AnnotatorStream, as_rgb, available, forget, get, needing_weights, register
from .layout import LayoutStyle, box_path
from .weights import MODELS_ENV, models_dir

__all__ = [
    "Annotator",
    "AnnotatorError",
    "AnnotatorStream",
    "LayoutStyle",
    "MODELS_ENV",
    "as_rgb",
    "available",
    "box_path",
    "forget",
    "get",
    "models_dir",
    "needing_weights",
    "register",
]
