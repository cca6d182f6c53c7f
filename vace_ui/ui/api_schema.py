"""The JSON schema of the API's `settings` object, built from GenerationSettings itself.

gr.JSON describes its value as `{"type": {}}`, which is not a valid JSON schema: an MCP server (the `mcp`
package validates every tool call against the tool's input schema) rejects every call that has such a parameter.
`SettingsJSON` is a gr.JSON whose API schema is the real one: each GenerationSettings field with its type, enum
values and default, plus `backend` (and `model`, the local model). Only `prompt` is required.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

import gradio as gr

from ..core.settings import GenerationSettings

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _field_schema(hint: Any) -> dict:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        schema = _field_schema(options[0])
        return {"anyOf": [schema, {"type": "null"}]} if len(options) < len(args) else schema
    if origin is tuple:
        item = args[0]
        properties = {f.name: _field_schema(typing.get_type_hints(item)[f.name]) for f in dataclasses.fields(item)}
        return {"type": "array", "items": {"type": "object", "properties": properties, "required": ["path"]}}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [member.value for member in hint]}
    return {"type": _SCALARS[hint]}


def settings_schema(backends: list[str], models: list[str] | None = None) -> dict:
    """The object schema of `settings`: GenerationSettings' fields, `backend` and (when given) `model`."""
    hints = typing.get_type_hints(GenerationSettings)
    defaults = GenerationSettings().to_dict()
    properties = {}
    for f in dataclasses.fields(GenerationSettings):
        schema = _field_schema(hints[f.name])
        if f.name != "prompt":
            schema["default"] = defaults[f.name]
        properties[f.name] = schema
    properties["backend"] = {"type": "string", "enum": list(backends), "description": "where the job runs"}
    if models:
        properties["model"] = {"type": "string", "description": "local backend only: the model, "
                               f"one of {', '.join(models)} or a local folder"}
    return {"type": "object", "properties": properties, "required": ["prompt"]}


class SettingsJSON(gr.JSON):
    """gr.JSON carrying the generation settings, with a valid API schema (see the module docstring)."""

    def __init__(self, *args, schema: dict, **kwargs):
        self._settings_schema = schema
        super().__init__(*args, **kwargs)

    def get_block_name(self) -> str:
        return "json"  # the browser renders it as the gr.JSON it is

    def api_info(self) -> dict[str, Any]:
        return {**self._settings_schema, "description": "generation settings (JSON object)"}
