"""Long jobs: one window after another through the backend, each keeping the previous window's last frames.

Each finished window is saved in the job's folder at once (`windows/NNN.mp4`: the frames it adds to the result,
its start cross-faded with the previous window; `windows/NNN-tail.npy`: its last frames, lossless, which the next
window keeps and blends with). Cancel keeps the finished windows as `partial.mp4`; running the job again (or an app
restart) resumes after the last finished window, and a hosted backend's task still running for the next window is
followed, not submitted again. Only one window's frames are in memory at a time. A reversed plan (an extension
before a clip) runs the same way from the end backwards: each window's "tail" is its first frames, and the
segments are joined last to first. An edit tracked from keyframes is tracked once through the whole clip
(`windows/track.npy`, read memory-mapped) and each window takes its slice.
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
from ..core.compile import compile_window, plan_request_windows, prepare_windows
from ..core.compile_edit import TrackedMasks, tracks_whole_clip
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

    def __init__(self, reporter: JobReporter, number: int, count: int, on_task=None):
        self.reporter, self.number, self.count, self.on_task = reporter, number, count, on_task

    @property
    def cancelled(self) -> bool:
        return self.reporter.cancelled

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None:
        text = f"window {self.number}/{self.count}" + (f", step {step}/{total}" if total else "")
        self.reporter.phase(phase, step, total, f"{text}; {message}" if message else text)

    def remote_task(self, task_id: str) -> None:
        if self.on_task is not None:  # recorded first: a restart right after follows this window's task
            self.on_task(self.number - 1, task_id)
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
    record = {"total": plan.total, "windows": [[w.start, w.end, w.keep] for w in plan.windows]}
    return {**record, "reverse": True} if plan.reverse else record


def _save_tail(path: Path, frames: np.ndarray) -> None:
    temp = path.with_name(path.name + ".partial")
    with open(temp, "wb") as handle:
        np.save(handle, frames)
    os.replace(temp, path)


def _segments(folder: Path, count: int, with_last_tail: bool = False, reverse: bool = False):
    """The saved windows' frames in time order (a reversed plan's windows were made last to first)."""
    if reverse:
        if with_last_tail and count:
            yield from np.load(folder / f"{count - 1:03d}-tail.npy")
        for index in reversed(range(count)):
            yield from iter_frames(folder / f"{index:03d}.mp4", field="window")
        return
    for index in range(count):
        yield from iter_frames(folder / f"{index:03d}.mp4", field="window")
    if with_last_tail and count:
        yield from np.load(folder / f"{count - 1:03d}-tail.npy")


def _shared(folder: Path, request: CapabilityRequest, settings: GenerationSettings, context: CompileContext,
            plan: WindowPlan, reporter: JobReporter) -> CompileContext:
    """The context every window compiles with: an edit's whole-clip track, made once and saved with the windows
    (a resumed job reads it back memory-mapped instead of tracking again)."""
    if plan.count < 2 or not tracks_whole_clip(request):
        return context
    saved, about = folder / "track.npy", folder / "track.json"
    if not saved.is_file() or not about.is_file():
        reporter.phase(Phase.PREPARE, message=f"tracking the mask through all {plan.total} frames")
        tracked = prepare_windows(request, settings, context, plan).tracked
        temp = saved.with_name("track.npy.partial")
        with open(temp, "wb") as handle:
            np.save(handle, tracked.masks)
        os.replace(temp, saved)
        about.write_text(json.dumps({"tracker": tracked.tracker, "keyframes": list(tracked.keyframes)}))
    record = json.loads(about.read_text())
    masks = np.load(saved, mmap_mode="r")
    return replace(context, tracked=TrackedMasks(masks, record["tracker"], tuple(record["keyframes"])))


def run_windows(runner, job: Job, reporter: JobReporter, backend: Backend, context: CompileContext,
                request: CapabilityRequest, settings: GenerationSettings, started: float,
                loras: tuple | None = None, resume: bool = False) -> Job:
    """Run every window not yet saved, then join the saved windows into result.mp4. `loras`: the LoRAs as the
    backend loads them (resolved in the LoRA folder); `settings` keeps their names for the record. `resume`:
    after an app restart, a hosted task recorded for the next window is followed instead of submitted again."""
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
                   "color_strength": settings.color_strength, "spans": [[w.start, w.end - 1] for w in plan.windows],
                   **({"reverse": True} if plan.reverse else {})}
    runner.store.update(job.id, info={**runner.store.get(job.id).info, **window_info, "windows_done": done})
    tail = np.load(folder / f"{done - 1:03d}-tail.npy") if done else None
    inputs = result = None
    timings = {"compile_s": 0.0, "generate_s": 0.0}
    pending = job.info.get("window_task") if resume else None  # a task submitted for window `done` before a restart

    def record_task(index: int, task_id: str) -> None:
        runner.store.update(job.id, info={**runner.store.get(job.id).info,
                                          "window_task": {"window": index, "task_id": task_id}})

    try:
        began = time.perf_counter()
        context = _shared(folder, request, settings, context, plan, reporter)
        timings["compile_s"] += time.perf_counter() - began
        for window in plan.windows[done:]:
            step = WindowReporter(reporter, window.index + 1, plan.count, record_task)
            step.phase(Phase.PREPARE, message="reading inputs")
            kept = tail if window.keep else None
            inputs = result = frames = None  # the previous window's frames go before this one's are read
            began = time.perf_counter()
            inputs = compile_window(request, settings, context, window, kept, plan.reverse)
            timings["compile_s"] += time.perf_counter() - began
            if reporter.cancelled:
                raise GenerationCancelled()
            window_settings = replace(settings, prompt=prompts[window.index], num_frames=window.length,
                                      loras=settings.loras if loras is None else loras)
            window_settings, _ = resolve_size(window_settings, backend.capabilities(), request.capability, inputs,
                                              backend.label)
            began = time.perf_counter()
            backend_job = BackendJob(job.id, request.capability, request, window_settings, inputs, settings.seed,
                                     workdir, extra={"window": window.index})
            if pending and pending.get("window") == window.index and backend.can_resume:
                step.phase(Phase.QUEUED, message=f"following task {pending['task_id']} after a restart")
                result = backend.resume(backend_job, pending["task_id"], step)
            else:
                result = backend.generate(backend_job, step)
            pending = backend_job = None  # the job holds this window's inputs: not kept into the next window
            timings["generate_s"] += time.perf_counter() - began
            frames = result.frames if result.frames is not None else read_frames(result.video_path, field="window")
            if len(frames) != window.length:
                raise RuntimeError(f"{backend.label} returned {len(frames)} frames for window {window.index + 1}, "
                                   f"which needs {window.length}.")
            frames = _join_kept(frames, kept, window.keep, plan.reverse, settings.color_strength)
            next_keep = plan.tail(window.index)
            own, rest = (slice(next_keep, None), slice(None, next_keep)) if plan.reverse else \
                (slice(None, window.length - next_keep), slice(window.length - next_keep, None))
            write_video(folder / f"{window.index:03d}.mp4", frames[own], inputs.fps)
            tail = frames[rest].copy()  # a view would keep the whole window alive
            _save_tail(folder / f"{window.index:03d}-tail.npy", tail)
            runner.store.update(job.id, info={**runner.store.get(job.id).info, "windows_done": window.index + 1})
    except GenerationCancelled:
        finished = saved_windows(folder, plan)
        if not finished:
            raise
        partial = write_video(workdir / "partial.mp4",
                              _segments(folder, finished, with_last_tail=True, reverse=plan.reverse),
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
    write_video(output, _segments(folder, plan.count, reverse=plan.reverse), settings_fps(inputs), metadata)
    timings.update(write_s=time.perf_counter() - written, total_s=time.perf_counter() - started)
    metadata["timings"] = timings
    output.with_suffix(".json").write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str))
    return runner._finish(job.id, JobStatus.SUCCEEDED, output_path=str(output), timings=timings, notes=notes,
                          info={**job.info, **(result.info if result else {}), "windows_done": plan.count})


def _join_kept(frames: np.ndarray, kept: np.ndarray | None, keep: int, reverse: bool, strength: float) -> np.ndarray:
    """A window's frames matched in colour to the kept frames it shares with the window made before it, and
    cross-faded over them (at its start, or at its end in a reversed plan)."""
    if kept is None:
        return frames
    if not reverse:
        frames = correct_window(frames, kept, strength)
        frames[:keep] = cross_fade(kept, frames[:keep])
        return frames
    frames = correct_window(frames[::-1], kept[::-1], strength)[::-1].copy()
    frames[-keep:] = cross_fade(kept[::-1], frames[-keep:][::-1])[::-1]
    return frames


def settings_fps(inputs) -> float:
    return inputs.fps if inputs is not None else C.OUTPUT_FPS
