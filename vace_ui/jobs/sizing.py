"""The output size a backend is asked for, from the sizes it declares in its capabilities.

The compile does the choosing (core.compile.size_rule): it targets exactly one of a backend's fixed sizes, so the
video, mask and control uploaded are the size the provider is asked for. Here: handing a backend's sizes to the
compile, and afterwards writing the size used into the settings the backend reads ("auto" never reaches it).
"""

from __future__ import annotations

from dataclasses import replace

from ..backends.base import BackendCapabilities
from ..core import constants as C
from ..core.clip import CompileContext
from ..core.inputs import VaceInputs
from ..core.requests import Capability
from ..core.settings import GenerationSettings, parse_size


def for_backend(context: CompileContext, caps: BackendCapabilities, label: str) -> CompileContext:
    """`context` compiling towards a backend: with its fixed sizes and frame counts when it has some and takes
    compiled inputs."""
    if not caps.needs_compiled_inputs or not (caps.sizes or caps.frame_counts):
        return context
    return replace(context, sizes=tuple(parse_size(size) for size in caps.sizes), sizes_from=label,
                   frame_counts=caps.frame_counts)


def resolve_size(settings: GenerationSettings, caps: BackendCapabilities, capability: Capability,
                 inputs: VaceInputs | None, label: str) -> tuple[GenerationSettings, list[str]]:
    """The settings with the size actually used, and a note when the backend's own default was taken.

    Compiled inputs: a backend with fixed sizes gets exactly the inputs' size (the compile chose it and said
    why); "auto" elsewhere is the default preset whose area the compile kept. No compile: "auto" becomes the
    backend's default (its first size) where the size applies, and stays "auto" where it does not."""
    if inputs is not None:
        if caps.sizes:
            return replace(settings, size=f"{inputs.width}x{inputs.height}"), []
        return (settings if settings.size_chosen else replace(settings, size=C.DEFAULT_SIZE)), []
    if settings.size_chosen:
        return settings, []
    if not caps.sizes:
        return replace(settings, size=C.DEFAULT_SIZE), []
    if not caps.size_applies(capability):
        return settings, []
    size = caps.sizes[0]
    note = f"size: none was given, so {label}'s default {size} is used ({label} offers {', '.join(caps.sizes)})"
    return replace(settings, size=size), [note]
