"""The Ray actor that runs generations: one per GPU (or CPU slot), holding its pipeline loaded once.

Imported only when `VACE_RAY_ADDRESS` is set (through `ray_backend`); the embedded app never imports Ray.
`run` executes one job at a time (the default concurrency group); `events`, `cancel` and `ping` run in a separate
`control` group, so the app can read progress and cancel while a job runs. The worker writes nothing to the job
folder: it returns the finished MP4 as bytes (no metadata), and the app writes it into the job folder atomically,
so workers on other machines need no shared folder and a worker that dies leaves nothing half-written.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import traceback
from pathlib import Path

import ray

from ..core.errors import BackendUnavailable, GenerationCancelled, InputError, MediaError
from .base import BackendJob, Phase

CONTROL = "control"


class _WorkerReporter:
    """JobReporter inside the worker: progress goes to an event list the app reads; cancel is a flag it sets."""

    def __init__(self):
        self.events: list[tuple[str, int, int, str]] = []
        self.cancel = threading.Event()
        self.lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None:
        with self.lock:
            self.events.append((phase.value, step, total, message))

    def remote_task(self, task_id: str) -> None:  # a local pipeline has no provider task
        pass


@ray.remote(concurrency_groups={CONTROL: 4}, max_concurrency=1)
class GenerationWorker:
    """Loads `LocalBackend(model)` once in its constructor (rerun by Ray when the actor is restarted)."""

    def __init__(self, index: int, model: str, models_dir: str, device: str = "auto"):
        from ..config import REPO_ROOT
        from .local import LocalBackend

        models = Path(models_dir)
        if not models.is_dir():  # a worker machine with its own checkout: its own models folder
            models = REPO_ROOT / "models"
        self.index = index
        self.backend = LocalBackend(model, models, device)
        try:
            self.backend.load()
        except BackendUnavailable:  # weights missing here: each job then fails with the download command
            pass
        self.jobs: dict[str, _WorkerReporter] = {}
        self.jobs_done = 0

    @ray.method(concurrency_group=CONTROL)
    def ping(self) -> dict:
        import torch

        return {"index": self.index, "pid": os.getpid(), "host": socket.gethostname(), "device": self.backend.device(),
                "jobs_done": self.jobs_done, "torch_threads": torch.get_num_threads()}

    @ray.method(concurrency_group=CONTROL)
    def events(self, job_id: str, since: int) -> list[tuple[str, int, int, str]]:
        reporter = self.jobs.get(job_id)
        if reporter is None:
            return []
        with reporter.lock:
            return reporter.events[since:]

    @ray.method(concurrency_group=CONTROL)
    def cancel(self, job_id: str) -> bool:
        """Stop `job_id` at its next step (also when the cancel overtakes the start of the run)."""
        self.jobs.setdefault(job_id, _WorkerReporter()).cancel.set()
        return True

    def run(self, job: BackendJob) -> dict:
        """Generate and encode; returns {"status": "succeeded"|"cancelled"|"failed", ...} with every event."""
        from ..media.video import write_video

        reporter = self.jobs[job.job_id] = self.jobs.get(job.job_id) or _WorkerReporter()
        try:
            result = self.backend.generate(job, reporter)
            with tempfile.TemporaryDirectory(prefix="vace-worker-") as folder:
                path = write_video(Path(folder) / "worker.mp4", result.frames, result.fps)
                data = path.read_bytes()
            self.jobs_done += 1
            info = {**result.info, "ray_worker": self.index, "ray_worker_pid": os.getpid(),
                    "ray_worker_host": socket.gethostname()}
            return {"status": "succeeded", "mp4": data, "fps": result.fps, "timings": result.timings, "info": info,
                    "events": reporter.events}
        except GenerationCancelled:
            return {"status": "cancelled", "events": reporter.events}
        except (InputError, MediaError) as error:
            return {"status": "failed", "kind": "input", "field": error.field, "message": error.message,
                    "events": reporter.events}
        except BackendUnavailable as error:
            return {"status": "failed", "kind": "unavailable", "message": str(error), "events": reporter.events}
        except Exception as error:
            return {"status": "failed", "kind": "error", "message": str(error) or type(error).__name__,
                    "traceback": traceback.format_exc(), "events": reporter.events}
        finally:
            self.jobs.pop(job.job_id, None)
