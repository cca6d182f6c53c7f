"""The action bar every capability tab ends with, kept in view (sticky at the bottom of the window, see
assets/style.css): the prompt, the backend, Preview, Generate / Cancel, the estimate and the job's status line.

One function renders it for all five tabs; `ProgressClock` turns a job's progress updates into the status line's
words (phase, step i/N, time left), the same for local and hosted jobs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gradio as gr

from ..backends.base import Phase
from ..core import constants as C
from ..jobs.runner import Progress

BAR_CLASS = "vace-action-bar"


def prompt_box(capability: str = "", render: bool = True) -> gr.Textbox:
    """The prompt: one line that grows as it is written (the action bar renders it; see action_bar.py)."""
    return gr.Textbox(label="Prompt", lines=1, max_lines=6, max_length=C.MAX_PROMPT_CHARS, scale=5, min_width=200,
                      container=False, render=render, elem_id=f"{capability}-prompt" if capability else None,
                      elem_classes=["vace-prompt"],
                      placeholder="Describe the video you want (one line per window for long videos)")


@dataclass
class ActionBar:
    prompt: gr.Textbox
    backend: gr.Dropdown
    preview_button: gr.Button
    generate_button: gr.Button
    cancel_button: gr.Button
    estimate: gr.Markdown
    status: gr.Markdown


def action_bar(capability: str, backends: list[tuple[str, str]], default_backend: str,
               prompt: gr.Textbox | None = None, estimate_text: str = "") -> ActionBar:
    """Render the bar in the current Blocks context (as the last thing of the tab, so it sticks to the bottom).
    `prompt`: a prompt box made with render=False (the settings panel's), rendered here; else a new one.
    `estimate_text`: the estimate shown before anything is previewed (from the default settings)."""
    with gr.Column(elem_classes=[BAR_CLASS], elem_id=f"{capability}-action-bar", variant="panel"):
        with gr.Row(elem_classes=["vace-bar-row"], equal_height=True):
            if prompt is None:
                prompt = prompt_box(capability)
            else:
                prompt.render()
            backend = gr.Dropdown(backends, value=default_backend, label="Generate on", show_label=False,
                                  container=False, scale=2, min_width=140, elem_id=f"{capability}-backend")
            with gr.Row(elem_classes=["vace-bar-buttons"], scale=2):
                preview_button = gr.Button("Preview model input", size="md", min_width=60,
                                           elem_id=f"{capability}-preview")
                generate_button = gr.Button("Generate", variant="primary", size="md", min_width=60,
                                            elem_id=f"{capability}-generate")
                cancel_button = gr.Button("Cancel", variant="stop", size="md", min_width=60,
                                          elem_id=f"{capability}-cancel")
        with gr.Row(elem_classes=["vace-bar-row", "vace-bar-status"]):
            status = gr.Markdown("", elem_id=f"{capability}-status", elem_classes=["vace-status"])
            estimate = gr.Markdown(estimate_text, elem_id=f"{capability}-estimate", elem_classes=["vace-estimate"])
    return ActionBar(prompt, backend, preview_button, generate_button, cancel_button, estimate, status)


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class ProgressClock:
    """Time left from the steps seen so far of the current phase (no guess before the first step is done)."""

    now: callable = time.monotonic
    _phase: Phase | None = None
    _start: float = 0.0
    _first_step: int = 0
    _marks: dict = field(default_factory=dict)

    def time_left(self, update: Progress) -> float | None:
        moment = self.now()
        if update.phase is not self._phase or update.step < self._first_step:
            self._phase, self._start, self._first_step = update.phase, moment, update.step
            return None
        done = update.step - self._first_step
        if not update.total or done <= 0:
            return None
        per_step = (moment - self._start) / done
        return per_step * max(0, update.total - update.step)

    def line(self, job_id: str, update: Progress) -> str:
        """The moving status line: queued (with its place in line), then the phase, step i/N and time left."""
        if update.phase is Phase.QUEUED:
            return f"⏳ queued · {update.message or 'waiting to start'} · job `{job_id}`"
        left = self.time_left(update)
        text = update.phase.value
        if update.total:
            text += f" · step {update.step}/{update.total}"
        if left is not None:
            text += f" · about {_duration(left)} left"
        if update.message:
            text += f" · {update.message}"
        return f"▶️ running · {text} · job `{job_id}`"
