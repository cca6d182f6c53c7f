"""The Blocks app: five capability tabs, History and Settings, plus the named API endpoints."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import gradio as gr

from ..core.requests import Capability
from ..services import Services
from .api import render_api
from .capability_tab import TabController, render_capability_tab
from .edit_tab import ClickSegmenter, edit_inputs
from .handlers import wire
from .handoff import wire_handoff
from .history import render_history
from .identity import HEAD_SCRIPT, export_dir, file_route
from .owned_files import OwnedFilesMiddleware, owned_root
from .settings_tab import render_settings_tab
from .tabs import extend_inputs, outpaint_inputs, reference_inputs, repaint_inputs

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"


def _model_banner(services: Services) -> str:
    local = services.local
    if local.is_tiny:
        return "**Model: tiny-random** — random weights, **produces noise**. For tests and trying the app out."
    model = local.model if not Path(local.model).is_absolute() else Path(local.model).name  # no server paths
    return f"**Model:** {model} · **device:** {services.config.device}"


def _upload_roots(*scratch: Path) -> tuple[Path, ...]:
    """Where a job's input files may come from: Gradio's upload/cache folder and the app's own scratch folders."""
    from gradio import utils as gradio_utils

    return (Path(gradio_utils.get_upload_folder()).resolve(), *(Path(folder).resolve() for folder in scratch))


def _header(services: Services) -> None:
    """The title and model banner; on a Space with `hf_oauth: true` also "Sign in with Hugging Face" (jobs then
    belong to the signed-in user name; Gradio's LoginButton runs the OAuth login and keeps it in its session)."""
    banner = "# VACE Studio\nCreate and edit video with Wan2.1 VACE.  " + _model_banner(services)
    if not services.config.hf_login:
        gr.Markdown(banner, elem_id="banner")
        return
    with gr.Row(equal_height=True):
        gr.Markdown(banner, elem_id="banner")
        gr.LoginButton(size="sm", scale=0, min_width=240, elem_id="hf-login")


def build_app(services: Services) -> gr.Blocks:
    controller = TabController(services)
    if services.runner.policy is not None:  # every file a visitor names must be one they uploaded
        services.runner.policy = replace(services.runner.policy,
                                         upload_roots=_upload_roots(controller.scratch, export_dir()),
                                         owned_root=owned_root())
    clicker = ClickSegmenter(services)
    tab_specs = [
        (Capability.REFERENCE, "Reference", lambda: reference_inputs(clicker, controller.scratch)),
        (Capability.REPAINT, "Repaint", lambda: repaint_inputs(controller.scratch)),
        (Capability.EDIT, "Edit", lambda: edit_inputs(clicker, controller.scratch, services)),
        (Capability.EXTEND, "Extend", extend_inputs),
        (Capability.OUTPAINT, "Outpaint", outpaint_inputs),
    ]
    finished_events = []
    with gr.Blocks(title="VACE Studio") as demo:
        controller.credentials = gr.State({})  # this session's own keys/URLs from Settings; never stored
        _header(services)
        with gr.Tabs() as tabs:
            rendered = {
                capability: render_capability_tab(controller, capability, title, build, finished_events.append)
                for capability, title, build in tab_specs
            }
            history = render_history(services.store, tabs, rendered, services.config)
            render_settings_tab(services, controller.credentials)
        wire_handoff(rendered, tabs, services.store, services.config)
        for event in finished_events:  # a job created or finished in any tab shows in History at once
            wire(event.then, history.refresh, history.filter, history.outputs, quick=True)
        wire(demo.load, history.refresh, history.filter, history.outputs, quick=True)  # a fresh page: its jobs
        wire(history.tab.select, history.refresh, history.filter, history.outputs, quick=True)
        render_api(services)
    demo.queue(default_concurrency_limit=2)
    return demo


def launch_options(services: Services) -> dict:
    """Keyword arguments for demo.launch: the page's look, the owner cookie script, the owner-only result route,
    the owner check on Gradio's file route (ui/owned_files.py) and the upload limit. The output folder is
    deliberately not in `allowed_paths`: Gradio's file server must never serve job folders."""
    from starlette.middleware import Middleware

    css_path = ASSETS / "style.css"
    app_kwargs = {"routes": [file_route(services)],
                  "middleware": [Middleware(OwnedFilesMiddleware, config=services.config)]}
    options = {"css_paths": [css_path] if css_path.exists() else None, "theme": gr.themes.Soft(),
               "head": HEAD_SCRIPT, "app_kwargs": app_kwargs,
               "ssr_mode": False}  # the owner-only result route lives on the Python server (Spaces default to SSR)
    if services.config.max_upload_mb:
        options["max_file_size"] = int(services.config.max_upload_mb * 1024 * 1024)
    return options
