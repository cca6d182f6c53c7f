"""Plain values from the API (JSON, form fields) checked into the types a request needs, with field-naming errors."""

from __future__ import annotations

import enum
import math

from .errors import InputError


def as_int(field: str, value) -> int:
    if isinstance(value, bool):
        raise InputError(field, f"{value!r} is not a whole number.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InputError(field, f"{value!r} is not a whole number.")


def as_float(field: str, value) -> float:
    if isinstance(value, bool) or value is None:
        raise InputError(field, f"{value!r} is not a number.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field, f"{value!r} is not a number.") from None
    if not math.isfinite(number):
        raise InputError(field, f"{value!r} is not a finite number.")
    return number


def as_str(field: str, value) -> str:
    if not isinstance(value, str):
        raise InputError(field, f"must be text, not {type(value).__name__}.")
    return value


def as_bool(field: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise InputError(field, f"{value!r} is not true or false.")


def as_enum(field: str, value, enum_type: type[enum.Enum]):
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in enum_type)
        raise InputError(field, f"'{value}' is not one of {allowed}.") from None
