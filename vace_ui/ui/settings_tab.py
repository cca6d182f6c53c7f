"""The Settings tab: backend status, and a visitor's own API keys (and, where the operator allows, base URLs).

Base URLs are operator settings (environment variables); the fields show them read-only unless
VACE_ALLOW_UI_BASE_URL=1 (the default on localhost only). A key typed here lives in this browser session's
`credentials` state only: never on disk, in the store, in logs or in the page (the field is cleared once applied),
dropped with the session (Gradio deletes session state an hour after the page closes; "Forget my keys" at once).
The operator's environment key is sent only to the operator's base URL.
"""

from __future__ import annotations

import gradio as gr

from ..core.errors import BackendUnavailable
from ..services import Services
from .handlers import wire


def session_status(backend, mine: dict, check: bool = False) -> str:
    """A backend's status as this session would use it; with `check`, after asking the server (2 s timeout)."""
    if not (mine.get("key") or mine.get("url")):
        return backend.check() if check else backend.status()
    try:
        session = backend.for_session(mine.get("key"), mine.get("url"))
    except BackendUnavailable as error:
        return str(error)
    text = session.check() if check else session.status()
    return f"{text.rstrip('.')} (with your key)" if mine.get("key") else text


def render_settings_tab(services: Services, credentials: gr.State) -> None:
    remote = {name: backend for name, backend in services.backends.items() if hasattr(backend, "for_session")}
    editable = services.config.allow_ui_base_url
    with gr.Tab("Settings", id="settings", elem_id="tab-settings") as settings_tab:
        status = gr.Markdown(elem_id="settings-status")
        check = gr.Button("Check backends", size="sm", elem_id="settings-check")
        url_note = ("You may point a provider at another URL: it is then used only with a key you type here, never "
                    "with the server's own key." if editable else
                    "Base URLs are set by the operator of this server.")
        gr.Markdown("### Hosted backends\nA key typed here is used for your jobs only, kept in this browser session's "
                    f"memory (never stored, never shown again) and gone when you close the page. {url_note}")
        fields = {}
        for name, backend in remote.items():
            with gr.Row():
                key = gr.Textbox(label=f"{backend.label} API key", type="password", elem_id=f"settings-{name}-key",
                                 placeholder="your own key (optional when the server has one)")
                # editable: empty = the operator's URL (shown as the placeholder), anything typed = the visitor's own
                url = gr.Textbox(label=f"{backend.label} base URL", value="" if editable else backend.base_url,
                                 placeholder=backend.base_url, interactive=editable, elem_id=f"settings-{name}-url")
            fields[name] = (key, url)
        with gr.Row():
            apply = gr.Button("Apply keys and URLs", elem_id="settings-apply")
            forget = gr.Button("Forget my keys", elem_id="settings-forget")

    def describe(mine: dict | None, check: bool = False) -> str:
        """Each backend's state for this session; with `check`, after asking those that can be asked."""
        mine = mine or {}
        lines = [f"- **{name}** ({backend.label}): {session_status(backend, mine.get(name) or {}, check)}"
                 for name, backend in services.backends.items()]
        lines.append(f"- Default backend: `{services.config.backend}`")
        when = "checked just now" if check else "not checked yet: press Check backends to ask each server"
        return f"Backends ({when}):\n\n" + "\n".join(lines)

    def apply_settings(data: dict) -> dict:
        mine = {name: dict(entry) for name, entry in (data[credentials] or {}).items()}
        updates = {}
        for name, (key, url) in fields.items():
            entry = mine.setdefault(name, {})
            if data[key] and data[key].strip():
                entry["key"] = data[key].strip()
            typed = (data[url] or "").strip().rstrip("/")
            # the server decides: a URL other than the operator's only where allowed (the field may be forged)
            entry["url"] = typed if editable and typed and typed != remote[name].base_url else None
            updates[key] = ""  # never echo a key back
            updates[url] = entry["url"] or ("" if editable else remote[name].base_url)
        mine = {name: entry for name, entry in mine.items() if entry.get("key") or entry.get("url")}
        updates[credentials] = mine
        updates[status] = describe(mine, check=True)
        gr.Info("Settings: keys and URLs applied; the status below says what each backend answered.")
        return updates

    def forget_keys() -> dict:
        updates = {url: "" if editable else remote[name].base_url for name, (_, url) in fields.items()}
        gr.Info("Settings: your keys and URLs are forgotten; the server's own are used again.")
        return {**updates, credentials: {}, status: describe({})}

    def on_check(mine: dict | None) -> str:
        text = describe(mine, check=True)
        gr.Info("Settings: each backend was asked just now; the list says what it answered.")
        return text

    every_field = {component for pair in fields.values() for component in pair}
    urls = {url for _, url in fields.values()}
    wire(check.click, on_check, credentials, status)
    wire(apply.click, apply_settings, every_field | {credentials}, every_field | {status, credentials})
    wire(forget.click, forget_keys, None, urls | {status, credentials}, quick=True)
    wire(settings_tab.select, describe, credentials, status, quick=True)
