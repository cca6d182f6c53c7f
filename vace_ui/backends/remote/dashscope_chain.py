"""DashScope extension chains: an extension longer than one task as several `video_extension` tasks, each
continuing from the previous task's output.

DashScope makes one 5 s video a task, with no frame count. Its reference says a first clip (3 s at most) is
continued ("the model generates the rest of the video based on this clip") and a last clip is preceded, so the
output is read as the clip followed (or preceded) by new footage, 5 s in all. A chain: the first task gets the
user's clip or frame; each later task gets, as its first clip (last clip, going backwards), the last (first)
`overlap` of the previous task's output, written as an MP4. Each output's colours are matched to the frames it
shares with the previous one and cross-faded over them, as the windows of a local long video are; the joined
video is cut to the kept footage plus the new seconds asked for (Frames at 16 fps). Between a first and a last
clip there is nothing to chain: that, and every other DashScope function, refuses a long video.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...core import constants as C
from ...core.color import correct_window, cross_fade
from ...core.errors import InputError
from ...core.requests import ExtendRequest
from ..base import BackendJob, BackendResult, JobReporter, Phase

TASK_SECONDS = 5.0
MAX_CLIP_SECONDS = 3.0


@dataclass(frozen=True)
class ChainPlan:
    tasks: int
    forward: bool
    overlap_s: float
    new_s: float


class StepReporter:
    """The job's reporter, saying which task of the chain a step belongs to ("task 2/3: ...")."""

    def __init__(self, reporter: JobReporter, number: int, count: int):
        self.reporter, self.number, self.count = reporter, number, count

    @property
    def cancelled(self) -> bool:
        return self.reporter.cancelled

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None:
        text = f"window {self.number}/{self.count}"
        self.reporter.phase(phase, step, total, f"{text}; {message}" if message else text)

    def remote_task(self, task_id: str) -> None:
        self.reporter.remote_task(task_id)


def refusal(label: str, request, window_frames: int) -> str | None:
    """Why a long video (Frames above one window) cannot run on DashScope, or None when it chains."""
    fix = (f"lower Frames to {window_frames} or fewer, or choose a backend that takes raw VACE inputs (local, "
           "WaveSpeed, Replicate or ComfyUI), which run long videos in windows")
    if not isinstance(request, ExtendRequest):
        return f"{label} makes at most {TASK_SECONDS:g} s a task from inputs of at most {TASK_SECONDS:g} s; {fix}."
    if (request.first_clip or request.first_frame) and (request.last_clip or request.last_frame):
        return (f"{label} chains extensions from one side only (after a first clip or frame, or before a last "
                f"one); between a first and a last clip it makes one {TASK_SECONDS:g} s task: {fix}.")
    return None


def plan_chain(request: ExtendRequest, new_frames: int, overlap_frames: int, clip_seconds: float) -> ChainPlan:
    """How many tasks make `new_frames` (at 16 fps) of new footage: the first adds 5 s less the kept clip, each
    later one 5 s less the overlap it continues from."""
    new_s = new_frames / C.OUTPUT_FPS
    overlap_s = min(MAX_CLIP_SECONDS, max(overlap_frames, 1) / C.OUTPUT_FPS)
    first = TASK_SECONDS - clip_seconds
    tasks = 1 + max(0, math.ceil((new_s - first) / (TASK_SECONDS - overlap_s) - 1e-9))
    return ChainPlan(tasks, bool(request.first_clip or request.first_frame), overlap_s, new_s)


def run_chain(backend, job: BackendJob, reporter: JobReporter, generate) -> BackendResult:
    """Run the chain with `generate(job, reporter)` (one DashScope task) per link; returns the joined video."""
    from ...media.video import probe_video, read_frames, write_video

    request = job.request
    clip = request.first_clip or request.last_clip
    clip_seconds = probe_video(clip, "first_clip" if request.first_clip else "last_clip").duration if clip else 0.0
    if clip_seconds > MAX_CLIP_SECONDS + 1e-3:
        raise InputError("first_clip" if request.first_clip else "last_clip",
                         f"lasts {clip_seconds:.2f} s; DashScope continues clips of at most {MAX_CLIP_SECONDS:g} s.")
    plan = plan_chain(request, job.settings.num_frames, job.settings.window_overlap, clip_seconds)
    folder = Path(job.workdir) / "chain"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    segments: list[Path] = []
    shared: np.ndarray | None = None  # the frames the next task continues from
    fps, kept_frames, task_ids, info = C.OUTPUT_FPS, 0, [], {}
    for index in range(plan.tasks):
        step = StepReporter(reporter, index + 1, plan.tasks)
        if index == 0:
            link = job
        else:
            seed_clip = str(write_video(folder / f"{index:03d}-continue-from.mp4", shared, fps))
            link_request = ExtendRequest(first_clip=seed_clip) if plan.forward else ExtendRequest(last_clip=seed_clip)
            link = replace(job, request=link_request, extra={**job.extra, "window": index})
        result = generate(link, step)
        task_ids.append(result.remote_task_id)
        info = result.info
        frames = read_frames(result.video_path, field="result")
        fps = result.fps
        if index == 0:
            kept_frames = round(clip_seconds * fps) if clip else 1
        if not plan.forward:
            frames = frames[::-1]  # worked on in reverse time: the shared frames lead
        if shared is not None:
            count = min(len(shared), len(frames))
            reference = shared[::-1] if not plan.forward else shared
            frames = correct_window(frames, reference[:count], job.settings.color_strength)
            frames[:count] = cross_fade(reference[:count], frames[:count])
        overlap = min(max(1, round(plan.overlap_s * fps)), len(frames) - 1)
        last = index == plan.tasks - 1
        own = frames if last else frames[:-overlap]
        segments.append(write_video(folder / f"{index:03d}.mp4", own[::-1] if not plan.forward else own, fps))
        shared = None if last else frames[-overlap:].copy()
        if shared is not None and not plan.forward:
            shared = shared[::-1].copy()  # back in time order: the first frames of what is made so far
        frames = own = None
    wanted = kept_frames + round(plan.new_s * fps)
    order = segments if plan.forward else segments[::-1]

    def joined():
        from ...media.video import iter_frames

        if plan.forward:
            count = 0
            for path in order:
                for frame in iter_frames(path, field="result"):
                    if count < wanted:
                        yield frame
                    count += 1
        else:  # cut from the start: the kept footage is at the end
            total = sum(probe_video(path, "result").frame_count for path in order)
            skip = max(0, total - wanted)
            for path in order:
                for frame in iter_frames(path, field="result"):
                    if skip:
                        skip -= 1
                        continue
                    yield frame

    output = write_video(folder / "chain.mp4", joined(), fps)
    notes = {"chain_tasks": plan.tasks, "chain_task_ids": task_ids, "chain_overlap_s": plan.overlap_s,
             "chain_direction": "forward" if plan.forward else "backward"}
    return BackendResult(video_path=output, fps=fps, remote_task_id=task_ids[-1], info={**info, **notes})
