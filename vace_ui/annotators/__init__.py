"""Control annotators. Importing this package registers every annotator (their heavy imports stay lazy)."""

from . import basic  # noqa: F401  (registers gray, canny)
from .base import Annotator, AnnotatorError, available, get, register

__all__ = ["Annotator", "AnnotatorError", "available", "get", "register"]
