"""The Settings tab: backend status, and API keys / base URLs for the hosted backends.

Keys typed here live in this server process's memory only: never written to disk, logs, job records or the page
(the field is cleared once applied). Environment variables work too and are read at each request.
"""

from __future__ import annotations

import gradio as gr

from ..services import Services


def render_settings_tab(services: Services) -> None:
    remote = {name: backend for name, backend in services.backends.items() if hasattr(backend, "set_api_key")}
    with gr.Tab("Settings", id="settings", elem_id="tab-settings"):
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

    def describe() -> str:
        lines = [f"- **{name}** ({backend.label}): {backend.status()}" for name, backend in services.backends.items()]
        config = services.config
        lines += [f"- Output folder: `{config.output_dir}`", f"- Models folder: `{config.models_dir}`",
                  f"- Default backend: `{config.backend}`"]
        return "\n".join(lines)

    def apply_settings(data: dict) -> dict:
        updates = {}
        for name, (key, url) in fields.items():
            if data[key]:
                remote[name].set_api_key(data[key].strip())
            remote[name].set_base_url((data[url] or "").strip() or None)
            updates[key] = ""  # never echo a key back
        updates[status] = describe()
        return updates

    every_field = {component for pair in fields.values() for component in pair}
    hidden = {"api_visibility": "private", "queue": False}
    check.click(describe, None, status, **hidden)
    apply.click(apply_settings, every_field, every_field | {status}, **hidden)
