"""The History tab: the viewer's own jobs (every job for admins) as a gallery of thumbnails with status badges,
filtered by capability; selecting one plays it and shows its details, Restore puts its settings back into its tab,
Delete removes it. Another owner's job id is "not found", like a job that does not exist.

Thumbnails are served by the owner-only file route (identity.thumbnail_url), never by Gradio's file server; a job
without a video yet shows a placeholder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from ..core.requests import Capability, request_from_dict
from ..core.settings import GenerationSettings
from ..jobs.store import Job, JobStatus, JobStore
from ..jobs.thumbnails import thumbnail_source
from .capability_tab import RenderedTab, format_job
from .handlers import wire
from .identity import request_viewer, result_html, thumbnail_url
from .owned_files import hand_over
from .results import show_result

ALL = "all"
BADGES = {JobStatus.SUCCEEDED: "✅", JobStatus.FAILED: "❌", JobStatus.CANCELLED: "⏹️", JobStatus.RUNNING: "▶️"}
PLACEHOLDER = Path(__file__).resolve().parent.parent.parent / "assets" / "no-thumbnail.svg"


def caption(job: Job) -> str:
    """A gallery card's caption: status badge, capability, when, and the job id (to find it again)."""
    badge = BADGES.get(job.status, "⏳")
    seconds = job.timings.get("total_s")
    took = f" · {seconds:.0f} s" if seconds else ""
    return (f"{badge} {job.status.value} · {job.capability}{took} · "
            f"{time.strftime('%m-%d %H:%M', time.localtime(job.created_at))} · {job.id}")


def page_root(request: gr.Request | None) -> str:
    """The page's public root URL (behind proxies too), as Gradio itself works it out; "" when unknown."""
    from gradio import route_utils

    inner = getattr(request, "request", None) if request is not None else None
    if inner is None:
        return ""
    try:
        return route_utils.get_root_url(inner, route_utils.get_api_call_path(inner), None)
    except (ValueError, AttributeError):
        return ""


def gallery_items(jobs: list[Job], root: str) -> list[tuple[str, str]]:
    """(image, caption) per job: the owner-checked thumbnail URL, or the placeholder for a job with no video."""
    items = []
    for job in jobs:
        image = f"{root}/{thumbnail_url(job)}" if root and thumbnail_source(job) is not None else str(PLACEHOLDER)
        items.append((image, caption(job)))
    return items


@dataclass
class HistoryTab:
    store: JobStore
    config: object
    gallery: gr.Gallery
    filter: gr.Radio
    shown_ids: gr.State
    refresh_button: gr.Button
    selected: gr.State
    video: gr.HTML
    details: gr.Markdown
    restore_button: gr.Button
    delete_button: gr.Button
    tab: gr.Tab

    @property
    def outputs(self) -> set:
        return {self.gallery, self.shown_ids}

    def jobs(self, capability: str | None, request: gr.Request | None) -> list[Job]:
        jobs = self.store.list(owner=request_viewer(self.config, request).owners)
        return [job for job in jobs if not capability or capability == ALL or job.capability == capability]

    def refresh(self, capability: str | None, request: gr.Request) -> dict:
        jobs = self.jobs(capability, request)
        return {self.gallery: gallery_items(jobs, page_root(request)), self.shown_ids: [job.id for job in jobs]}


def render_history(store: JobStore, tabs: gr.Tabs, rendered: dict[Capability, RenderedTab], config) -> HistoryTab:
    choices = [("All", ALL)] + [(str(target.tab.label), capability.value) for capability, target in rendered.items()]
    with gr.Tab("History", id="history", elem_id="tab-history") as tab:
        with gr.Row(equal_height=True):
            capability_filter = gr.Radio(choices, value=ALL, label="Show", elem_id="history-filter", scale=4)
            refresh_button = gr.Button("Refresh", size="sm", elem_id="history-refresh", scale=1, min_width=90)
        gallery = gr.Gallery(label="Your jobs", columns=4, fit_columns=False, height="auto", allow_preview=False,
                             object_fit="cover", interactive=False, elem_id="history-gallery")
        with gr.Row():
            restore_button = gr.Button("Restore settings into its tab", size="sm", elem_id="history-restore")
            delete_button = gr.Button("Delete this job", size="sm", variant="stop", elem_id="history-delete")
        with gr.Row():
            video = gr.HTML("", label="Result", elem_id="history-video")
            details = gr.Markdown("Select a job to see it.", elem_id="history-details")
        shown_ids, selected = gr.State([]), gr.State(None)  # inside the tab (see capability_tab)
    history = HistoryTab(store, config, gallery, capability_filter, shown_ids, refresh_button, selected,
                         video, details, restore_button, delete_button, tab)

    def on_select(ids: list[str], event: gr.SelectData, request: gr.Request):
        index = event.index if isinstance(event.index, int) else None
        if index is None or not 0 <= index < len(ids or []):
            return {selected: None}
        try:
            job = request_viewer(config, request).job(store, ids[index])
        except KeyError:
            return {selected: None, video: "", details: f"No job {ids[index]}."}
        return {selected: job.id, video: result_html(job), details: format_job(job)}

    def restore(job_id: str | None, request: gr.Request):
        if not job_id:
            gr.Warning("History: select a job in the gallery first (click its picture), then press Restore.")
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
        updates.update(show_result(target.result.area, job))
        updates[target.result.job_id] = job.id
        updates[target.result.status] = f"Restored from History.\n\n{format_job(job)}"
        updates[tabs] = gr.Tabs(selected=job.capability)
        return updates

    def delete(job_id: str | None, capability: str, request: gr.Request):
        if not job_id:
            gr.Warning("History: select a job in the gallery first (click its picture), then press Delete.")
            return {}
        viewer = request_viewer(config, request)
        try:
            job = viewer.job(store, job_id)
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                gr.Warning(f"Job {job_id} is still {job.status.value}: cancel it in its tab first, then delete it.")
                return {}
            store.delete(job_id, viewer.owners)
        except KeyError:
            gr.Warning(f"No job {job_id}.")
            return {}
        gr.Info(f"History: job {job_id} deleted.")
        return {**history.refresh(capability, request), selected: None, video: "",
                details: f"Deleted job `{job_id}`."}

    def refresh_answered(capability: str, request: gr.Request) -> dict:
        updates = history.refresh(capability, request)
        count = len(updates[shown_ids])
        gr.Info(f"History: {count} job(s)." if count else "History: no jobs yet; Generate in a tab adds one.")
        return updates

    every_restorable = {tabs}
    for target in rendered.values():
        every_restorable |= (target.inputs.components | target.inputs.extra_outputs | target.settings.components
                             | {target.settings.duration, target.result.status, target.result.job_id}
                             | target.result.area.outputs)
    wire(refresh_button.click, refresh_answered, capability_filter, history.outputs, quick=True)
    wire(capability_filter.change, history.refresh, capability_filter, history.outputs, quick=True)
    wire(gallery.select, on_select, shown_ids, {selected, video, details}, quick=True)
    wire(restore_button.click, restore, selected, every_restorable, quick=True)
    wire(delete_button.click, delete, [selected, capability_filter],
         history.outputs | {selected, video, details}, quick=True)
    return history
