"""The History tab: the viewer's own jobs (every job for admins), their results and details, and a way to restore
a job's settings into its tab. Another owner's job id is "not found", like a job that does not exist."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr

from ..core.requests import Capability, request_from_dict
from ..core.settings import GenerationSettings
from ..jobs.store import Job, JobStore
from .capability_tab import RenderedTab, format_job
from .handlers import wire
from .identity import request_viewer, result_html
from .owned_files import hand_over

COLUMNS = ["Job", "Started", "Capability", "Backend", "Status", "Prompt", "Seconds"]


def job_rows(jobs: list[Job]) -> list[list]:
    return [
        [job.id, time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created_at)), job.capability, job.backend,
         job.status.value, job.prompt[:80], round(job.timings.get("total_s", 0.0), 1)]
        for job in jobs
    ]


@dataclass
class HistoryTab:
    store: JobStore
    config: object
    table: gr.Dataframe
    refresh_button: gr.Button
    selected: gr.State
    video: gr.HTML
    details: gr.Markdown
    restore_button: gr.Button
    tab: gr.Tab

    def refresh(self, request: gr.Request) -> list[list]:
        return job_rows(self.store.list(owner=request_viewer(self.config, request).owners))


def render_history(store: JobStore, tabs: gr.Tabs, rendered: dict[Capability, RenderedTab], config) -> HistoryTab:
    with gr.Tab("History", id="history", elem_id="tab-history") as tab:
        with gr.Row():
            refresh_button = gr.Button("Refresh", size="sm", elem_id="history-refresh")
            restore_button = gr.Button("Restore settings into its tab", size="sm", elem_id="history-restore")
        table = gr.Dataframe(value=[], headers=COLUMNS, interactive=False, wrap=True, elem_id="history-table")
        selected = gr.State(None)
        with gr.Row():
            video = gr.HTML("", label="Result", elem_id="history-video")
            details = gr.Markdown("Select a job to see it.", elem_id="history-details")
    history = HistoryTab(store, config, table, refresh_button, selected, video, details, restore_button, tab)

    def on_select(event: gr.SelectData, request: gr.Request):
        row = event.row_value if event.row_value else None
        if not row:
            return {selected: None}
        try:
            job = request_viewer(config, request).job(store, row[0])
        except KeyError:
            return {selected: None, video: "", details: f"No job {row[0]}."}
        return {selected: job.id, video: result_html(job), details: format_job(job)}

    def restore(job_id: str | None, request: gr.Request):
        if not job_id:
            gr.Warning("History: select a job in the table first (click its row), then press Restore.")
            return {}
        try:
            viewer = request_viewer(config, request)
            job = viewer.job(store, job_id)
        except KeyError:
            gr.Warning(f"No job {job_id}.")
            return {}
        target = rendered[Capability(job.capability)]
        updates = target.settings.values_for(GenerationSettings.from_dict(job.settings))
        saved = hand_over(job.request, config.output_dir, viewer.owner)  # copies served to this viewer only
        updates.update(target.inputs.restore(request_from_dict(job.capability, saved)))
        updates[target.result.video] = result_html(job)
        updates[target.result.status] = f"Restored from History.\n\n{format_job(job)}"
        updates[tabs] = gr.Tabs(selected=job.capability)
        return updates

    def refresh_answered(request: gr.Request) -> list[list]:
        rows = history.refresh(request)
        gr.Info(f"History: {len(rows)} job(s)." if rows else "History: no jobs yet; Generate in a tab adds one.")
        return rows

    every_restorable = {tabs}
    for target in rendered.values():
        every_restorable |= (target.inputs.components | target.inputs.extra_outputs | target.settings.components
                             | {target.settings.duration, target.result.video, target.result.status})
    wire(refresh_button.click, refresh_answered, None, table, quick=True)
    wire(table.select, on_select, None, {selected, video, details}, quick=True)
    wire(restore_button.click, restore, selected, every_restorable, quick=True)
    return history
