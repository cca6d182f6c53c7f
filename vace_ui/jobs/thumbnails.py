"""A job's thumbnail for History: the first frame of its result, or of its input video (a failed job has no result),
scaled down and cached as `thumbnail.png` in the job's folder. Served to the job's owner only (ui/identity.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..media.images import write_png
from ..media.video import iter_frames
from .store import Job, JobStore

THUMBNAIL_NAME = "thumbnail.png"
THUMBNAIL_HEIGHT = 160
_VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi")


def _first_input_video(data) -> Path | None:
    """The first existing video file named anywhere in a job's request."""
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            found = _first_input_video(item)
            if found is not None:
                return found
        return None
    if isinstance(data, str) and data.lower().endswith(_VIDEO_SUFFIXES) and Path(data).is_file():
        return Path(data)
    return None


def input_video(job: Job) -> Path | None:
    """The job's first input video (the "before" of a before/after), or None."""
    return _first_input_video(job.request)


def thumbnail_source(job: Job) -> Path | None:
    """The video the thumbnail shows: the result when there is one, else the job's input video, else None."""
    if job.output_path and Path(job.output_path).is_file():
        return Path(job.output_path)
    return _first_input_video(job.request)


def job_thumbnail(store: JobStore, job: Job) -> Path | None:
    """The job's thumbnail PNG (made once, on first request), or None when the job has no video to show yet."""
    target = store.output_dir / "jobs" / job.id / THUMBNAIL_NAME
    source = thumbnail_source(job)
    if source is None:
        return None
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    frame = next(iter_frames(source, [0], field="thumbnail"))
    image = Image.fromarray(frame)
    width = max(1, round(image.width * THUMBNAIL_HEIGHT / image.height))
    return write_png(target, np.asarray(image.resize((width, THUMBNAIL_HEIGHT))))
