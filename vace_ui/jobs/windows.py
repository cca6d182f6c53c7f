"""Long jobs: one window after another through the backend, each keeping the previous window's last frames.

Each finished window is saved in the job's folder at once (`windows/NNN.mp4`: the frames it adds to the result,
its start cross-faded with the previous window; `windows/NNN-tail.npy`: its last frames, lossless, which the next
window keeps and blends with). Cancel keeps the finished windows as `partial.mp4`; running the job again (or an app
restart) resumes after the last finished window. Only one window's frames are in memory at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..backends.base import Backend, BackendJob, JobReporter, Phase
from ..core import constants as C
from ..core.clip import CompileContext
from ..core.color import correct_window, cross_fade
from ..core.compile import compile_window, plan_request_windows
from ..core.errors import GenerationCancelled
from ..core.requests import CapabilityRequest
from ..core.settings import GenerationSettings
from ..core.windows import WindowPlan, window_prompts
from ..media.video import iter_frames, read_frames, write_video
from .sizing import resolve_size
from .store import Job, JobStatus

FOLDER = "windows"


def is_long(settings: GenerationSettings) -> bool:
    return settings.num_frames > settings.window_frames


class WindowReporter:
    """The job's reporter, saying which window each step belongs to: "window 2/3, step 14/30"."""

    def __init__(self, reporter: JobReporter, number: int, count: int):
        self.reporter, self.number, self.count = reporter, number, count

    @property
    def cancelled(self) -> bool:
        return self.reporter.cancelled

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None:
        text = f"window {self.number}/{self.count}" + (f", step {step}/{total}" if total else "")
        self.reporter.phase(phase, step, total, f"{text}; {message}" if message else text)

    def remote_task(self, task_id: str) -> None:
        self.reporter.remote_task(task_id)


def saved_windows(folder: Path, plan: WindowPlan | None = None) -> int:
    """How many windows, from the first, are saved whole (segment and tail) in `folder`, for this plan."""
    plan_file = folder / "plan.json"
    if not plan_file.is_file() or (plan is not None and json.loads(plan_file.read_text()) != _plan_record(plan)):
        return 0
    done = 0
    while (folder / f"{done:03d}.mp4").is_file() and (folder / f"{done:03d}-tail.npy").is_file():
        done += 1
    return done


def _plan_record(plan: WindowPlan) -> dict:
    return {"total": plan.total, "windows": [[w.start, w.end, w.keep] for w in plan.windows]}


def _save_tail(path: Path, frames: np.ndarray) -> None:
    temp = path.with_name(path.name + ".partial")
    with open(temp, "wb") as handle:
        np.save(handle, frames)
    os.replace(temp, path)


def _segments(folder: Path, count: int, with_last_tail: bool = False):
    for index in range(count):
        yield from iter_frames(folder / f"{index:03d}.mp4", field="window")
    if with_last_tail and count:
        yield from np.load(folder / f"{count - 1:03d}-tail.npy")


def run_windows(runner, job: Job, reporter: JobReporter, backend: Backend, context: CompileContext,
                request: CapabilityRequest, settings: GenerationSettings, started: float,
                loras: tuple | None = None) -> Job:
    """Run every window not yet saved, then join the saved windows into result.mp4. `loras`: the LoRAs as the
    backend loads them (resolved in the LoRA folder); `settings` keeps their names for the record."""
    workdir = runner.store.job_dir(job.id)
    folder = workdir / FOLDER
    reporter.phase(Phase.PREPARE, message="planning windows")
    plan = plan_request_windows(request, settings, context)
    prompts = window_prompts(settings.prompt, plan.count)
    done = saved_windows(folder, plan)
    if not done:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "plan.json").write_text(json.dumps(_plan_record(plan)))
    notes = [plan.describe(), f"colour correction strength {settings.color_strength:g}, overlap cross-faded"]
    if done:
        notes.append(f"resumed after window {done} of {plan.count} (saved earlier)")
    if len(set(prompts)) > 1:
        notes.append("one prompt per window: " + " | ".join(prompts))
    window_info = {"windows": plan.count, "overlap": plan.overlap, "window_frames": plan.window,
                   "color_strength": settings.color_strength, "spans": [[w.start, w.end - 1] for w in plan.windows]}
    runner.store.update(job.id, info={**runner.store.get(job.id).info, **window_info, "windows_done": done})
    tail = np.load(folder / f"{done - 1:03d}-tail.npy") if done else None
    inputs = result = None
    timings = {"compile_s": 0.0, "generate_s": 0.0}
    try:
        for window in plan.windows[done:]:
            step = WindowReporter(reporter, window.index + 1, plan.count)
            step.phase(Phase.PREPARE, message="reading inputs")
            kept = tail if window.keep else None
            inputs = result = frames = None  # the previous window's frames go before this one's are read
            began = time.perf_counter()
            inputs = compile_window(request, settings, context, window, kept)
            timings["compile_s"] += time.perf_counter() - began
            if reporter.cancelled:
                raise GenerationCancelled()
            window_settings = replace(settings, prompt=prompts[window.index], num_frames=window.length,
                                      loras=settings.loras if loras is None else loras)
            window_settings, _ = resolve_size(window_settings, backend.capabilities(), request.capability, inputs,
                                              backend.label)
            began = time.perf_counter()
            result = backend.generate(BackendJob(job.id, request.capability, request, window_settings, inputs,
                                                 settings.seed, workdir, extra={"window": window.index}), step)
            timings["generate_s"] += time.perf_counter() - began
            frames = result.frames if result.frames is not None else read_frames(result.video_path, field="window")
            if kept is not None:
                frames = correct_window(frames, kept, settings.color_strength)
                frames[: window.keep] = cross_fade(kept, frames[: window.keep])
            cut = window.length - plan.tail(window.index)  # where the next window starts
            write_video(folder / f"{window.index:03d}.mp4", frames[:cut], inputs.fps)
            tail = frames[cut:].copy()  # a view would keep the whole window alive
            _save_tail(folder / f"{window.index:03d}-tail.npy", tail)
            runner.store.update(job.id, info={**runner.store.get(job.id).info, "windows_done": window.index + 1})
    except GenerationCancelled:
        finished = saved_windows(folder, plan)
        if not finished:
            raise
        partial = write_video(workdir / "partial.mp4", _segments(folder, finished, with_last_tail=True),
                              settings_fps(inputs))
        return runner._finish(job.id, JobStatus.CANCELLED, output_path=str(partial),
                              error=f"Cancelled in window {finished + 1} of {plan.count}; windows 1-{finished} are "
                                    "kept as a partial result. Run the job again to resume from there.")
    reporter.phase(Phase.WRITE, message=f"joining {plan.count} windows")
    written = time.perf_counter()
    job = runner.store.get(job.id)
    notes = notes + (inputs.notes if inputs else [])
    metadata = runner._metadata(job, settings, inputs, result, notes) if inputs else {"notes": notes}
    metadata.update(num_frames=plan.total, windows=window_info)
    output = workdir / "result.mp4"
    write_video(output, _segments(folder, plan.count), settings_fps(inputs), metadata)
    timings.update(write_s=time.perf_counter() - written, total_s=time.perf_counter() - started)
    metadata["timings"] = timings
    output.with_suffix(".json").write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str))
    return runner._finish(job.id, JobStatus.SUCCEEDED, output_path=str(output), timings=timings, notes=notes,
                          info={**job.info, **(result.info if result else {}), "windows_done": plan.count})


def settings_fps(inputs) -> float:
    return inputs.fps if inputs is not None else C.OUTPUT_FPS
