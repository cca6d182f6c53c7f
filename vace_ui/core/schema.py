"""How a request dataclass owns its schema: its defaults, its file fields, and its dict form.

A field is a media file when its dataclass field carries `metadata={"media": True}` (nested dataclasses and tuples
of them are followed, e.g. `references[1].path`). The dict form is JSON-safe (enums as values, tuples as lists) and
`from_dict` turns it back into the typed value, answering a value of the wrong kind with an `InputError` that names
the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import InputError

T = TypeVar("T", bound="Schema")
MediaMap = Callable[[str, str], str]  # (field name as shown, e.g. "references[1].path", path) -> new path

MEDIA = {"media": True}


def media(default: Any = "") -> Any:
    """A dataclass field holding a media file path (or None when optional)."""
    return dataclasses.field(default=default, metadata=MEDIA)


class Schema:
    """Mixin for frozen dataclasses: `to_dict`, `from_dict`, `media_fields`, `with_media`."""

    def to_dict(self) -> dict:
        return {f.name: _to_plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[T], data: dict, field_prefix: str = "") -> T:
        if not isinstance(data, dict):
            raise InputError(field_prefix or cls.__name__, f"must be an object, got {type(data).__name__}.")
        hints = _hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                values[f.name] = _from_plain(hints[f.name], data[f.name], field_prefix + f.name)
        return cls(**values)

    def media_fields(self) -> dict[str, str]:
        """{field name: path} of every media file this value names (empty and None fields left out)."""
        found: dict[str, str] = {}
        self.with_media(lambda name, path: found.setdefault(name, path))
        return found

    def with_media(self: T, mapping: MediaMap) -> T:
        """A copy with every media path replaced by `mapping(field name, path)` (empty and None fields kept)."""
        return _map_media(self, mapping, "")


def _map_media(value: Any, mapping: MediaMap, prefix: str) -> Any:
    if isinstance(value, Schema) and dataclasses.is_dataclass(value):
        changes = {}
        for f in dataclasses.fields(value):
            current = getattr(value, f.name)
            name = prefix + f.name
            if f.metadata.get("media"):
                if current:
                    changes[f.name] = mapping(name, current)
            elif isinstance(current, (Schema, tuple)):
                changes[f.name] = _map_media(current, mapping, name)
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, tuple):
        return tuple(_map_media(item, mapping, f"{prefix}[{index}].") for index, item in enumerate(value))
    return value


def _to_plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_to_plain(item) for item in value]
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))


def _from_plain(hint: Any, value: Any, field: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        if value is None and len(options) < len(args):
            return None
        return _from_plain(options[0], value, field)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(field, f"must be a list, got {type(value).__name__}.")
        return tuple(_from_plain(args[0], item, f"{field}[{index}]") for index, item in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in hint)
            raise InputError(field, f"'{value}' is not one of {allowed}.") from None
    if isinstance(hint, type) and issubclass(hint, Schema):
        return hint.from_dict(value, field + ".")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if value in (0, 1, "true", "false", "True", "False"):
            return str(value).lower() in ("1", "true")
        raise InputError(field, f"'{value}' is not true or false.")
    if hint in (int, float):
        try:
            number = hint(value)
        except (TypeError, ValueError):
            raise InputError(field, f"'{value}' is not a number.") from None
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise InputError(field, f"{value} is not a whole number.")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise InputError(field, f"must be text, got {type(value).__name__}.")
        return value
    return value
