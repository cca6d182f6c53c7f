""""Use as input": a tab's result sent into another tab (Extend's first clip, Repaint's or Edit's source video).

The result is handed over as a copy only this viewer is served (the output folder is never Gradio's to serve);
the receiving tab gets it the way a restore would, so Edit loads the clip into its mask editor as well."""

from __future__ import annotations

import gradio as gr

from ..core.requests import Capability, request_from_dict
from .capability_tab import RenderedTab
from .handlers import wire
from .identity import request_viewer
from .owned_files import hand_over

# the request field each receiving tab takes a video in
RECEIVING_FIELD = {Capability.EXTEND: "first_clip", Capability.REPAINT: "video", Capability.EDIT: "video",
                   Capability.OUTPAINT: "video"}


def received(target: RenderedTab, path: str) -> dict:
    """The updates that put the video `path` into `target`'s inputs (its other inputs as the tab's receive says,
    else as a fresh request holding only that video)."""
    if target.inputs.receive is not None:
        return target.inputs.receive(path)
    field = RECEIVING_FIELD[target.capability]
    return target.inputs.restore(request_from_dict(target.capability.value, {field: path}))


def wire_handoff(rendered: dict[Capability, RenderedTab], tabs: gr.Tabs, store, config) -> None:
    """Wire every tab's "use as input" buttons to the tabs they name."""
    for source in rendered.values():
        for target_name, button in source.result.area.use_buttons.items():
            target = rendered[Capability(target_name)]

            def send(job_id: str | None, request: gr.Request, target: RenderedTab = target) -> dict:
                viewer = request_viewer(config, request)
                try:
                    job = viewer.job(store, job_id)
                except KeyError:
                    gr.Warning("There is no result here yet: Generate first, then send the result on.")
                    return {}
                if not job.output_path:
                    gr.Warning(f"Job {job.id} has no result video to send ({job.status.value}).")
                    return {}
                copy = hand_over(job.output_path, config.output_dir, viewer.owner)  # served to this viewer only
                gr.Info(f"The result of job {job.id} is now the {target.tab.label} tab's "
                        f"{RECEIVING_FIELD[target.capability].replace('_', ' ')}.")
                return {**received(target, copy), tabs: gr.Tabs(selected=target.capability.value)}

            outputs = target.inputs.components | target.inputs.extra_outputs | {tabs}
            wire(button.click, send, source.result.job_id, outputs, quick=True)
