"""What a capability tab shows once there is something to show: the quick preview (first, middle and last frames of
the model input), the full preview video one click away, the result before/after with synchronised playback, the
job's settings, and "use as input" buttons. Every area starts hidden and opens when it gets content."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass

import gradio as gr
import numpy as np

from ..jobs.store import Job
from .identity import result_url, source_url

# Media events do not bubble: listen in the capture phase, so the listener survives every re-render of the HTML.
SYNC_JS = """
const follow = (event) => {
  const video = event.target;
  const box = video && video.closest ? video.closest('.vace-ab') : null;
  if (!box) return;
  for (const other of box.querySelectorAll('video')) {
    if (other === video) continue;
    const apart = Math.abs(other.currentTime - video.currentTime) > 0.15;
    if (event.type === 'play') {
      if (apart) other.currentTime = video.currentTime;
      if (other.paused) other.play().catch(() => {});
    } else if (event.type === 'pause') {
      if (!other.paused) other.pause();
    } else if (event.type === 'seeked' && apart) {
      other.currentTime = video.currentTime;
    }
  }
};
for (const type of ['play', 'pause', 'seeked']) element.addEventListener(type, follow, true);
"""

USE_TARGETS = [("extend", "Use as Extend's first clip"), ("repaint", "Use in Repaint"), ("edit", "Use in Edit")]


@dataclass
class ResultArea:
    quick_gallery: gr.Gallery
    full_preview_button: gr.Button
    preview_video: gr.Video
    before_after: gr.HTML
    use_buttons: dict  # target tab id -> its button
    use_row: gr.Row
    settings_box: gr.Accordion
    settings_json: gr.JSON

    @property
    def outputs(self) -> set:
        """What show_result updates."""
        return {self.before_after, self.use_row, self.settings_box, self.settings_json, *self.use_buttons.values()}


def result_area(capability: str) -> ResultArea:
    """Render the (at first hidden) result areas of a tab."""
    with gr.Row(elem_classes=["vace-preview-row"]):
        quick_gallery = gr.Gallery(label="Model input: first, middle, last frame (gray = generated, tint = mask)",
                                   columns=3, rows=1, height=230, object_fit="contain", allow_preview=True,
                                   visible=False, elem_id=f"{capability}-quick-preview", interactive=False)
    full_preview_button = gr.Button("Show the full preview video", size="sm", visible=False,
                                    elem_id=f"{capability}-full-preview")
    preview_video = gr.Video(label="What the model will see (gray = generated, tint = mask)", interactive=False,
                             visible=False, elem_id=f"{capability}-preview-video")
    before_after = gr.HTML("", visible=False, elem_id=f"{capability}-result", js_on_load=SYNC_JS)
    with gr.Row(visible=False, elem_classes=["vace-use-row"]) as use_row:
        use_buttons = {target: gr.Button(label, size="sm", visible=False, elem_id=f"{capability}-use-{target}")
                       for target, label in USE_TARGETS if target != capability}
    with gr.Accordion("This job's settings", open=False, visible=False) as settings_box:
        settings_json = gr.JSON(elem_id=f"{capability}-job-settings")
    return ResultArea(quick_gallery, full_preview_button, preview_video, before_after, use_buttons, use_row,
                      settings_box, settings_json)


def preview_stills(frames: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """The first, middle and last frame of the model input, captioned with their index."""
    count = len(frames)
    picks = sorted({0, count // 2, count - 1}) if count else []
    return [(np.ascontiguousarray(frames[index]), f"frame {index}") for index in picks]


def before_after_html(job: Job | None) -> str:
    """The source and the result side by side (playback synchronised by SYNC_JS), or the result alone when the job
    had no source video; empty when there is no result."""
    if job is None or not job.output_path:
        return ""
    result = html.escape(result_url(job), quote=True)
    source = source_url(job)
    players = ""
    if source:
        players += ('<figure><figcaption>Before</figcaption><video src="' + html.escape(source, quote=True)
                    + '" controls muted playsinline preload="auto" data-role="before"></video></figure>')
    players += ('<figure><figcaption>After</figcaption><video src="' + result + '" controls muted playsinline '
                'preload="auto" data-role="after"></video></figure>')
    return (f'<div class="vace-ab{" vace-ab-two" if source else ""}">{players}</div>'
            f'<div><a href="{result}" download="{html.escape(job.id)}.mp4">Download the MP4</a></div>')


def job_settings(job: Job) -> dict:
    """What the job was run with, to read back (file paths reduced to their names: no server paths)."""
    def short(value):
        if isinstance(value, dict):
            return {key: short(item) for key, item in value.items()}
        if isinstance(value, list):
            return [short(item) for item in value]
        if isinstance(value, str) and value.startswith("/"):
            return value.rsplit("/", 1)[-1]
        return value

    return json.loads(json.dumps({"backend": job.backend, "capability": job.capability,
                                  "request": short(job.request), "settings": short(job.settings)}))


def show_result(area: ResultArea, job: Job | None) -> dict:
    """The updates that show `job`'s outcome in the area (or hide it when there is none)."""
    shown = bool(job is not None and job.output_path)
    return {area.before_after: gr.update(value=before_after_html(job), visible=shown),
            area.use_row: gr.update(visible=shown),
            **{button: gr.update(visible=shown) for button in area.use_buttons.values()},
            area.settings_box: gr.update(visible=job is not None),
            area.settings_json: job_settings(job) if job is not None else None}
