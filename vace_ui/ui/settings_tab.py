"""The Settings tab: backend status, and API keys / base URLs for the hosted backends.

Keys typed here live in this server process's memory only: never written to disk, logs, job records or the page
(the field is cleared once applied). Environment variables work too and are read at each request.
"""

from __future__ import annotations

import gradio as gr

from ..services import Services
from .handlers import wire


def render_settings_tab(services: Services) -> None:
    remote = {name: backend for name, backend in services.backends.items() if hasattr(backend, "set_api_key")}
    with gr.Tab("Settings", id="settings", elem_id="tab-settings") as settings_tab:
        status = gr.Markdown(elem_id="settings-status")
        check = gr.Button("Check backends", size="sm", elem_id="settings-check")
        gr.Markdown("### Hosted backends\nKeys stay in this server's memory only and are never shown again.")
        fields = {}
        for name, backend in remote.items():
            with gr.Row():
                key = gr.Textbox(label=f"{backend.label} API key", type="password", elem_id=f"settings-{name}-key",
                                 placeholder=f"or set {backend.key_env}" if backend.key_env else "")
                url = gr.Textbox(label=f"{backend.label} base URL", value=backend.base_url,
                                 elem_id=f"settings-{name}-url")
            fields[name] = (key, url)
        apply = gr.Button("Apply keys and URLs", elem_id="settings-apply")

    def describe(check: bool = False) -> str:
        """Each backend's state; with `check`, after asking those that can be asked (2 s timeout each)."""
        lines = [f"- **{name}** ({backend.label}): {backend.check() if check else backend.status()}"
                 for name, backend in services.backends.items()]
        config = services.config
        lines += [f"- Output folder: `{config.output_dir}`", f"- Models folder: `{config.models_dir}`",
                  f"- Default backend: `{config.backend}`"]
        when = "checked just now" if check else "not checked yet: press Check backends to ask each server"
        return f"Backends ({when}):\n\n" + "\n".join(lines)

    def apply_settings(data: dict) -> dict:
        updates = {}
        for name, (key, url) in fields.items():
            if data[key]:
                remote[name].set_api_key(data[key].strip())
            remote[name].set_base_url((data[url] or "").strip() or None)
            updates[key] = ""  # never echo a key back
        updates[status] = describe(check=True)
        gr.Info("Settings: keys and URLs applied; the status below says what each backend answered.")
        return updates

    def on_check() -> str:
        text = describe(check=True)
        gr.Info("Settings: each backend was asked just now; the list says what it answered.")
        return text

    every_field = {component for pair in fields.values() for component in pair}
    wire(check.click, on_check, None, status)
    wire(apply.click, apply_settings, every_field, every_field | {status})
    wire(settings_tab.select, describe, None, status, quick=True)
