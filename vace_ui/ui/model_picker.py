"""The model picker of the settings panel: the catalog's models (models/catalog.json), each marked installed or
missing, with the `hf download` command for a missing one (the local backend's own missing-weights message).

The choice is a setting of the job (`GenerationSettings.model`), not of the server: the local backend switches to
it when the job runs, and the start-up model (VACE_MODEL) is the picker's default.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..backends.local import LocalBackend
from ..backends.model_catalog import load_catalog
from .handlers import wire


@dataclass(frozen=True)
class ModelChoice:
    model_id: str
    label: str
    installed: bool

    @property
    def shown(self) -> str:
        return f"{self.label} · {'installed' if self.installed else 'missing (download first)'}"


def model_choices(local: LocalBackend) -> list[ModelChoice]:
    """The catalog's models, plus the start-up model when it is a folder or id the catalog does not list."""
    catalog = {model_id: entry.label for model_id, entry in load_catalog().items()}
    if local.default_model not in catalog:
        catalog[local.default_model] = local.default_model.rstrip("/").rsplit("/", 1)[-1]
    return [ModelChoice(model_id, label, local.installed(model_id)) for model_id, label in catalog.items()]


def model_note(local: LocalBackend, model: str | None) -> str:
    """What the picker says under the dropdown: ready, or the download command (checked now, not at start-up)."""
    if not model:
        return ""
    if local.installed(model):
        return f"✅ `{model}` is installed; it is loaded when this job runs (the previous model is freed)."
    return "⬇️ " + local.missing_message(model).replace("\n  ", "\n\n    ") + "\n\nthen generate again."


def model_picker(local: LocalBackend | None) -> gr.Dropdown | None:
    """Render the picker (dropdown + note) in the current Blocks; returns the dropdown (its value is a model id).
    None, and nothing rendered, without a local backend (a stand-in in some tests)."""
    if not isinstance(local, LocalBackend):
        return None
    choices = model_choices(local)
    dropdown = gr.Dropdown([(choice.shown, choice.model_id) for choice in choices], value=local.default_model,
                           label="Model (local GPU)", elem_classes=["model-picker"],
                           info="per job; the default is the server's start-up model")
    note = gr.Markdown(model_note(local, local.default_model), elem_classes=["model-note"])
    wire(dropdown.change, lambda model: model_note(local, model), dropdown, note, quick=True)
    return dropdown
