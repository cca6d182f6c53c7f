"""Errors the user can act on. Each names the field and says what is allowed."""

from __future__ import annotations


class InputError(ValueError):
    """A request field is missing or out of range. `field` is the name shown in the UI and the API."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class MediaError(ValueError):
    """A file could not be used as the media it was given as (corrupt, empty, wrong kind)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class GenerationCancelled(Exception):
    """The user pressed Cancel; the job stops at the next step and writes nothing."""


class BackendUnavailable(RuntimeError):
    """The backend cannot run (weights missing, no key, server down). The message says what to do."""


def check_range(field: str, value: float, low: float, high: float) -> None:
    if value is None or not (low <= value <= high):
        raise InputError(field, f"{value} is out of range; allowed {low} to {high}.")
