"""One capability tab = its own inputs + the shared settings and result panels, wired the same way for all five.

Handlers receive {component: value} dicts and return {component: update} dicts: no positional tuples.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import gradio as gr

from ..core import constants as C
from ..core.errors import InputError
from ..core.requests import Capability, CapabilityRequest
from ..core.settings import GenerationSettings
from ..jobs.context import file_context
from ..jobs.preview import compile_preview, write_bundle, write_preview
from ..jobs.runner import Progress
from ..jobs.sizing import for_backend
from ..jobs.store import Job, JobStatus
from ..services import Services
from .action_bar import ProgressClock, action_bar, prompt_box
from .components import ResultPanel, SettingsPanel, backend_note_box, bundle_export, settings_panel
from .handlers import wire
from .identity import request_viewer
from .owned_files import owner_folder
from .results import preview_stills, result_area, show_result

GENERATION_FIELDS = [f.name for f in fields(GenerationSettings) if f.name not in ("prompt",)]


@dataclass
class TabInputs:
    """A tab's own inputs: `components` go into every event; `request` builds the capability request from an
    event's values; `restore` gives the updates that put a stored job's typed request back."""

    components: set
    request: Callable[[dict], CapabilityRequest]
    restore: Callable[[CapabilityRequest], dict]
    extra_outputs: set = field(default_factory=set)  # components restore updates besides `components`
    receive: Callable[[str], dict] | None = None  # updates putting a video in as the source ("use as input")


@dataclass
class RenderedTab:
    capability: Capability
    tab: gr.Tab
    inputs: TabInputs
    settings: SettingsPanel
    result: ResultPanel


def format_job(job: Job) -> str:
    icon = {JobStatus.SUCCEEDED: "✅", JobStatus.FAILED: "❌", JobStatus.CANCELLED: "⏹️"}.get(job.status, "⏳")
    lines = [f"{icon} **{job.status.value}** · job `{job.id}` · {job.backend}"]
    if job.error:
        lines.append(f"\n{job.error}")
    if job.notes:
        lines.append("\n" + "\n".join(f"- {note}" for note in job.notes))
    if job.timings.get("total_s"):
        lines.append(f"\nTook {job.timings['total_s']:.1f} s; seed {job.settings.get('seed')}.")
    return "\n".join(lines)


def honoured_settings(caps) -> set[str]:
    """Settings a backend acts on; fit, timing and the window settings count wherever the app's own compile
    prepares the inputs."""
    compiled = {"fit", "timing", "window_frames", "window_overlap", "color_strength"}  # long videos: windows too
    return set(caps.settings) | (compiled if caps.needs_compiled_inputs else set())


def backend_summary(backend, capability: Capability) -> str:
    """What a backend does with this tab: whether it supports it, which settings it honours and which it ignores."""
    caps = backend.capabilities()
    if capability not in caps.capabilities:
        return f"⚠️ {backend.label} does not offer this capability; choose another backend."
    ignored = sorted(set(GENERATION_FIELDS) - honoured_settings(caps))
    text = f"{backend.label}: {backend.status().rstrip('.')}."
    if ignored:
        text += f" Not used by this backend (hidden): {', '.join(ignored)}."
    if caps.notes:
        text += f" {caps.notes}"
    return text


def job_line(job_id: str, update: Progress, clock: ProgressClock | None = None) -> str:
    """The moving status line of a job: queued (with its place in line), then phase, step i/N and time left."""
    return (clock or ProgressClock()).line(job_id, update)


class TabController:
    """Event handlers shared by the capability tabs. Holds the services; no state of its own. `credentials` is
    the per-session gr.State of keys/URLs typed in Settings (set by the app before the tabs are wired).

    Mistakes raise (InputError, MediaError, AnnotatorError, BackendUnavailable...): `handlers.answered` turns them
    into a warning toast, the same way for Preview, Export and Generate."""

    def __init__(self, services: Services):
        self.services = services
        self.scratch = Path(tempfile.mkdtemp(prefix="vace-previews-"))
        self.credentials: gr.State | None = None

    def _gpu_ahead(self, job: Job) -> int:
        """How many jobs (anyone's) are queued or running on the GPU before this one."""
        exclusive = {name for name, backend in self.services.backends.items() if backend.exclusive}
        return sum(1 for other in self.services.store.unfinished()
                   if other.backend in exclusive and other.id != job.id and other.created_at <= job.created_at)

    def _compile(self, inputs: TabInputs, settings: SettingsPanel, panel: ResultPanel, data: dict):
        request, generation = inputs.request(data), settings.read(data)
        context = file_context(cache=self.services.control_cache, trackers=self.services.video_tracker)
        backend = self.services.backends.get(data.get(panel.backend) or "")
        if backend is not None:  # towards the backend's own sizes: the preview and bundle are what is uploaded
            context = for_backend(context, backend.capabilities(), backend.label)
        return request, generation, compile_preview(request, generation, context)

    def _folder(self, request: gr.Request | None) -> Path:
        """A fresh folder for a file shown to this viewer only (a preview, a bundle); a plain scratch folder when
        called outside a Gradio event (scripts, tests)."""
        if request is None:
            return Path(tempfile.mkdtemp(dir=self.scratch))
        return owner_folder(request_viewer(self.services.config, request).owner)

    def preview(self, inputs: TabInputs, settings: SettingsPanel, panel: ResultPanel, data: dict,
                request: gr.Request | None = None) -> dict:
        """The quick preview: the first, middle and last frames of the model input (no video is encoded), the
        estimate in the action bar, and the button for the full preview video."""
        _, generation, compiled = self._compile(inputs, settings, panel, data)
        notes = "\n".join(f"- {note}" for note in compiled.notes)
        refs = f"{len(compiled.references)} reference(s)"
        if compiled.references:
            refs += ", shown to the right of the frames"
        text = f"Model input: {compiled.width}x{compiled.height}, {compiled.num_frames} frames, {refs}.\n{notes}"
        backend = self.services.backends.get(data[panel.backend])
        if backend is not None and backend.capabilities().sizes and backend.capabilities().needs_compiled_inputs:
            text += (f"\n\nSent to {backend.label} exactly as shown, asking for size "
                     f"{compiled.width}x{compiled.height}.")
        estimate_text = ""
        if data[panel.backend] == "local":
            estimate = self.services.local.estimate(generation, compiled.width, compiled.height,
                                                    compiled.num_frames, len(compiled.references))
            if estimate is not None:
                text += f"\n\nLocal run: {estimate.text}."
                estimate_text = f"⏱️ {estimate.text}"
        return {panel.status: text, panel.estimate: estimate_text,
                panel.quick_gallery: gr.update(value=preview_stills(compiled.video), visible=True),
                panel.area.full_preview_button: gr.update(visible=True)}

    def settings_estimate(self, settings: SettingsPanel, panel: ResultPanel, data: dict) -> dict:
        """The action bar's estimate from the settings alone (size, frames, steps, model, modes), before an input
        is compiled; Preview refines it with the input's real size and references. Blank for hosted backends and
        while a setting is not valid yet (the person may still be typing; Generate names the field)."""
        if data[panel.backend] != "local":
            return {panel.estimate: ""}
        try:
            generation = settings.read(data)
        except InputError:
            return {panel.estimate: ""}
        return {panel.estimate: settings_estimate_text(self.services.local, generation)}

    def full_preview(self, inputs: TabInputs, settings: SettingsPanel, panel: ResultPanel, data: dict,
                     request: gr.Request | None = None) -> dict:
        """The whole model input as a video (references to the right of the frames)."""
        _, _, compiled = self._compile(inputs, settings, panel, data)
        path = write_preview(compiled, self._folder(request) / "preview.mp4")
        return {panel.status: f"Full preview: {compiled.width}x{compiled.height}, {compiled.num_frames} frames.",
                panel.preview_video: gr.update(value=str(path), visible=True)}

    def bundle(self, inputs: TabInputs, settings: SettingsPanel, panel: ResultPanel, data: dict,
               request: gr.Request | None = None) -> dict:
        capability_request, generation, compiled = self._compile(inputs, settings, panel, data)
        path = write_bundle(compiled, capability_request, generation, self._folder(request) / "vace_inputs.zip")
        return {panel.status: f"Bundle ready: {compiled.num_frames} frames, {compiled.width}x{compiled.height}, "
                              f"{len(compiled.references)} reference(s): press Download input bundle.",
                panel.bundle_file: gr.update(value=str(path), visible=True)}

    def create(self, inputs: TabInputs, settings: SettingsPanel, panel: ResultPanel, data: dict,
               request: gr.Request | None = None) -> dict:
        owner = request_viewer(self.services.config, request).owner
        job = self.services.runner.create(inputs.request(data), settings.read(data), data[panel.backend], owner)
        text = f"⏳ queued · job `{job.id}`"
        if self.services.backends[job.backend].exclusive:
            ahead = self._gpu_ahead(job)
            text += f" · position {ahead + 1} in the GPU queue" if ahead else " · next on the GPU"
        return {panel.status: text, panel.job_id: job.id}

    def run(self, panel: ResultPanel, job_id: str | None, credentials: dict | None = None,
            request: gr.Request | None = None) -> Iterator[dict]:
        """Run the job in a worker thread and stream its status line until it ends, then show the outcome."""
        if not job_id:
            return
        try:
            job = request_viewer(self.services.config, request).job(self.services.store, job_id)
        except KeyError:
            yield {panel.status: f"❌ No job {job_id}."}
            return
        if job.status is not JobStatus.QUEUED:
            return  # Generate answered a mistake: nothing new to run (the id may be an earlier job's)
        updates: queue.Queue[Progress] = queue.Queue()
        outcome: dict = {}

        def work() -> None:
            try:
                outcome["job"] = self.services.runner.run(job_id, updates.put, credentials=credentials or {})
            except BaseException as error:  # handed to the generator below, which re-raises it in the handler
                outcome["error"] = error

        worker = threading.Thread(target=work, name=f"job-{job_id}", daemon=True)
        worker.start()
        shown, clock = None, ProgressClock()
        while worker.is_alive() or not updates.empty():
            try:
                update = updates.get(timeout=0.3)
            except queue.Empty:
                continue
            line = job_line(job_id, update, clock)
            if line != shown:
                shown = line
                yield {panel.status: line}
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        job = outcome["job"]
        yield {panel.status: format_job(job), **show_result(panel.area, job)}

    def cancel(self, panel: ResultPanel, job_id: str | None, request: gr.Request | None = None) -> dict:
        try:
            request_viewer(self.services.config, request).job(self.services.store, job_id)
        except KeyError:
            return {panel.status: "Nothing is running in this tab."}
        if self.services.runner.cancel(job_id):
            return {panel.status: f"⏹️ cancelling job `{job_id}` at the next step…"}
        gr.Info("Nothing is running in this tab: Cancel stops a job started with Generate.")
        return {}


def settings_estimate_text(local, generation: GenerationSettings) -> str:
    """"⏱️ about 8 GB, about 3 min on this GPU (832x480, 81 frames; Preview refines it)"; "" without an estimate."""
    if not hasattr(local, "estimate"):  # no local backend (or a stand-in without estimates)
        return ""
    width, height = generation.preset_size
    try:
        estimate = local.estimate(generation, width, height, generation.num_frames)
    except InputError:
        return ""
    if estimate is None:
        return ""
    size = f"{width}x{height}" if generation.size_chosen else f"auto: about {width}x{height}"
    return f"⏱️ {estimate.text} ({size}, {generation.num_frames} frames; Preview refines it)"


def render_capability_tab(
    controller: TabController,
    capability: Capability,
    title: str,
    build_inputs: Callable[[], TabInputs],
    on_finished: Callable[[gr.events.Dependency], None] | None = None,
    default_size: str | None = None,
) -> RenderedTab:
    """Render one capability tab in the current Blocks and wire its events: the inputs and results on the left,
    the settings in a collapsible side column, the action bar last (it sticks to the bottom of the window)."""
    name = capability.value
    backends = [(backend.label, key) for key, backend in controller.services.backends.items()]
    prompt = prompt_box(name, render=False)  # rendered in the action bar; the settings read it too
    with gr.Tab(title, id=name, elem_id=f"tab-{name}") as tab:
        with gr.Row(elem_classes=["vace-workspace"]):
            with gr.Column(scale=3, min_width=300, elem_classes=["vace-main"]):
                inputs = build_inputs()
                area = result_area(name)
            with gr.Column(scale=1, min_width=260, elem_classes=["vace-side"], elem_id=f"{name}-side"):
                note = backend_note_box(name)
                local = controller.services.backends.get("local")
                settings = settings_panel(default_size or C.AUTO_SIZE, prompt=prompt, local=local)
                bundle_button, bundle_file = bundle_export(name)
        default_backend = controller.services.config.backend
        first_estimate = (settings_estimate_text(local, GenerationSettings(size=default_size or C.AUTO_SIZE))
                          if default_backend == "local" else "")
        bar = action_bar(name, backends, default_backend, prompt, estimate_text=first_estimate)
        job_id = gr.State(None)  # inside the tab: a Tabs child that is no tab shifts the tab buttons' order
    panel = ResultPanel(bar, area, bundle_button, bundle_file, job_id, note)
    every = inputs.components | settings.components | {panel.backend}

    def preview(data: dict, request: gr.Request = None):
        return controller.preview(inputs, settings, panel, data, request)

    def full_preview(data: dict, request: gr.Request = None):
        return controller.full_preview(inputs, settings, panel, data, request)

    def bundle(data: dict, request: gr.Request = None):
        return controller.bundle(inputs, settings, panel, data, request)

    wire(panel.preview_button.click, preview, every,
         {panel.status, panel.estimate, panel.quick_gallery, area.full_preview_button}, concurrency_id="preview")

    def settings_estimate(data: dict):
        return controller.settings_estimate(settings, panel, data)

    estimate_inputs = settings.components | {panel.backend}
    for changed in (settings.size, settings.num_frames, settings.steps, settings.model, settings.speed_mode,
                    settings.memory_mode, panel.backend):
        if changed is not None:  # no model picker without a local backend
            wire(changed.change, settings_estimate, estimate_inputs, {panel.estimate}, quick=True)
    wire(area.full_preview_button.click, full_preview, every, {panel.status, panel.preview_video},
         concurrency_id="preview")
    wire(panel.bundle_button.click, bundle, every, {panel.status, panel.bundle_file}, concurrency_id="preview")

    def create(data: dict, request: gr.Request):
        return controller.create(inputs, settings, panel, data, request)

    def run(job_id, credentials, request: gr.Request):
        yield from controller.run(panel, job_id, credentials, request)

    def cancel(job_id, request: gr.Request):
        return controller.cancel(panel, job_id, request)

    shown = area.outputs
    created = wire(panel.generate_button.click, create, every, {panel.status, panel.job_id}, quick=True)
    # not limited here: the runner keeps GPU jobs one at a time and says each job's place in line
    ran = wire(created.then, run, [panel.job_id, controller.credentials], {panel.status} | shown,
               concurrency_id="jobs", concurrency_limit=None, show_progress="minimal")
    if on_finished is not None:
        on_finished(created)
        on_finished(ran)
    by_field = settings.by_field()

    def on_backend(name: str) -> dict:
        """Show only the settings the chosen backend honours, and say what it ignores."""
        backend = controller.services.backends[name]
        honoured = honoured_settings(backend.capabilities())
        updates = {component: gr.update(visible=field in honoured)
                   for field, components in by_field.items() for component in components}
        updates[panel.backend_note] = backend_summary(backend, capability)
        return updates

    wire(panel.backend.change, on_backend, panel.backend,
         {panel.backend_note} | {c for components in by_field.values() for c in components}, quick=True)
    wire(panel.cancel_button.click, cancel, panel.job_id, {panel.status}, quick=True)
    return RenderedTab(capability, tab, inputs, settings, panel)
