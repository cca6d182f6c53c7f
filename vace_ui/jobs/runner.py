"""The job path: validate -> copy inputs -> compile -> backend -> write MP4 + sidecar -> record.

Every generation, from the UI or the API, goes through `JobRunner`. Failures become a job with an error message;
cancelled and failed jobs leave no output file; the inputs stay in the job's folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..backends.base import Backend, BackendJob, Phase
from ..core.clip import CompileContext
from ..core.compile import compile_request
from ..core.errors import GenerationCancelled, InputError
from ..core.requests import Capability, CapabilityRequest, request_from_dict
from ..core.settings import GenerationSettings
from ..media.video import copy_with_metadata, write_video
from . import windows
from .context import file_context
from .policy import JobPolicy
from .sizing import for_backend, resolve_size
from .store import Job, JobStatus, JobStore
from .user_errors import USER_ERRORS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    phase: Phase
    step: int = 0
    total: int = 0
    message: str = ""

    @property
    def text(self) -> str:
        text = self.phase.value
        if self.total:
            text += f" {self.step}/{self.total}"
        return f"{text}: {self.message}" if self.message else text


class _Reporter:
    """JobReporter for one run: forwards progress, records the remote task id at once, exposes cancel."""

    def __init__(
        self, store: JobStore, job_id: str, cancel: threading.Event, listener: Callable[[Progress], None] | None
    ):
        self.store, self.job_id, self._cancel, self.listener = store, job_id, cancel, listener

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None:
        progress = Progress(phase, step, total, message)
        self.store.update(self.job_id, progress=progress.text)
        if self.listener is not None:
            self.listener(progress)

    def remote_task(self, task_id: str) -> None:
        self.store.update(self.job_id, remote_task_id=task_id)


Credentials = dict  # backend name -> {"key": ..., "url": ...}: a visitor's own, for one run, never stored


class JobRunner:
    """Creates, runs, cancels and resumes jobs. GPU work runs one job at a time. `policy` holds a shared server's
    limits (queued jobs per owner, clip length, LoRA folder); without one the caller is trusted."""

    def __init__(self, store: JobStore, backends: dict[str, Backend],
                 context_factory: Callable[..., CompileContext] = file_context, policy: JobPolicy | None = None,
                 folders: dict[str, Path] | None = None):
        self.store = store
        # server folders named in messages by their label only ("outputs", "models"): no server path is shown
        labelled = {"outputs": store.output_dir, **(folders or {})}
        self._labels = sorted({(str(variant), label) for label, path in labelled.items()
                               for variant in (Path(path), Path(path).resolve())}, key=lambda item: -len(item[0]))
        self.backends = backends
        self.context_factory = context_factory
        self.policy = policy
        self._cancel: dict[str, threading.Event] = {}
        self._run_lock = threading.Lock()
        self._line_lock = threading.Lock()
        self._line: list[str] = []  # jobs waiting for `_run_lock`, oldest first

    def create(self, request: CapabilityRequest, settings: GenerationSettings, backend: str = "local",
               owner: str = "") -> Job:
        """Validate (fast, no decoding), copy the inputs into the job's folder and record the job as queued."""
        if backend not in self.backends:
            raise InputError("backend", f"'{backend}' is not configured; available: {', '.join(self.backends)}.")
        settings.validate()
        request.validate()
        offered = self.backends[backend].capabilities().capabilities
        if request.capability not in offered:
            label = self.backends[backend].label
            raise InputError(
                "capability", f"{label} does not offer '{request.capability.value}'; choose another backend."
            )
        if windows.is_long(settings):
            self.backends[backend].check_long(request, settings)
        if getattr(request, "control_2", None) and "control_2" not in self.backends[backend].capabilities().settings:
            raise InputError("control_2", f"{self.backends[backend].label} takes one control; clear the second "
                                          "control or generate on the local GPU.")
        if self.policy is not None:
            self.policy.check_uploads(list(request.media_fields().items()), owner)
            self.policy.check_queue(len(self.store.unfinished(owner)))
            if backend == "local":
                self.policy.local_loras(settings)
                self.policy.check_model(settings.model, self.backends[backend])
            self.policy.check_clips(request)
        job_id = self.store.new_id()
        inputs_dir = self.store.job_dir(job_id) / "inputs"
        request_data = _copy_inputs(request, inputs_dir).to_dict()
        job = Job(job_id, request.capability.value, backend, request=request_data, settings=settings.to_dict(),
                  owner=owner)
        self.store.save(job)
        self._cancel[job_id] = threading.Event()
        return job

    def cancel(self, job_id: str) -> bool:
        """Ask a queued or running job to stop at its next step. Returns False if it is not running here."""
        event = self._cancel.get(job_id)
        if event is None:
            return False
        event.set()
        return True

    def run(self, job_id: str, listener: Callable[[Progress], None] | None = None, resume: bool = False,
            credentials: Credentials | None = None) -> Job:
        """Run a created job to the end (or, with `resume`, follow its remote task after a restart); returns the
        finished job (succeeded, failed or cancelled). `credentials` are the visitor's own key/URL per backend,
        used for this run only."""
        cancel = self._cancel.setdefault(job_id, threading.Event())
        reporter = _Reporter(self.store, job_id, cancel, listener)
        job = self.store.get(job_id)
        exclusive = self.backends[job.backend].exclusive
        try:
            with self._turn(job_id, reporter) if exclusive else contextlib.nullcontext():
                return self._run(job, reporter, resume, credentials)
        except GenerationCancelled:
            return self._finish(job_id, JobStatus.CANCELLED, error="Cancelled by the user; nothing was written.")
        except USER_ERRORS as error:  # the user can act on these
            return self._finish(job_id, JobStatus.FAILED, error=str(error))
        except Exception as error:  # keep the app up; the message goes to the user, the traceback to the log
            log.exception("job %s failed", job_id)
            return self._finish(job_id, JobStatus.FAILED, error=_describe(error))
        finally:
            self._cancel.pop(job_id, None)

    @contextlib.contextmanager
    def _turn(self, job_id: str, reporter: _Reporter):
        """Wait for the GPU, telling the job its place in line as it changes; a cancel while waiting stops it."""
        with self._line_lock:
            self._line.append(job_id)
        try:
            told = None
            while not self._run_lock.acquire(timeout=0.25):
                if reporter.cancelled:
                    raise GenerationCancelled()
                with self._line_lock:
                    ahead = self._line.index(job_id) + 1  # the running job plus those queued before this one
                if ahead != told:
                    told = ahead
                    reporter.phase(Phase.QUEUED, message=f"{ahead} job(s) ahead on the GPU")
        finally:
            with self._line_lock:
                self._line.remove(job_id)
        try:
            yield
        finally:
            self._run_lock.release()

    def recover_after_restart(self) -> list[threading.Thread]:
        """Jobs left queued or running by a previous process. A remote job whose task was submitted resumes
        polling in the background (returned threads), a long job with finished windows resumes after the last of
        them; any other is marked failed (inputs kept: restore it from
        History to run again)."""
        threads = []
        for job in self.store.unfinished():
            backend = self.backends.get(job.backend)
            resumable = job.remote_task_id and backend is not None and backend.can_resume
            windowed = backend is not None and windows.saved_windows(self.store.job_dir(job.id) / windows.FOLDER)
            if job.info.get("visitor_credentials"):
                self._finish(job.id, JobStatus.FAILED, error="Interrupted by an app restart; it used a key or URL "
                             "typed in Settings, which is not kept. Enter it again and restore the job from History.")
            elif resumable or windowed:
                self._cancel[job.id] = threading.Event()
                thread = threading.Thread(target=self.run, args=(job.id,), kwargs={"resume": bool(resumable)},
                                          daemon=True, name=f"resume-{job.id}")
                thread.start()
                threads.append(thread)
            else:
                self._finish(
                    job.id,
                    JobStatus.FAILED,
                    error="Interrupted by an app restart; the inputs are kept. Restore it from History to run again.",
                )
        return threads

    def _backend(self, job: Job, credentials: Credentials | None) -> tuple[Backend, bool]:
        """The job's backend, with the visitor's own key/URL when they gave one (then True)."""
        backend = self.backends[job.backend]
        mine = (credentials or {}).get(job.backend) or {}
        if not hasattr(backend, "for_session") or not (mine.get("key") or mine.get("url")):
            return backend, False
        session = backend.for_session(mine.get("key"), mine.get("url"))
        return session, session is not backend

    def _run(self, job: Job, reporter: _Reporter, resume: bool = False, credentials: Credentials | None = None) -> Job:
        started = time.perf_counter()
        backend, visitor = self._backend(job, credentials)
        capability = Capability(job.capability)
        request = request_from_dict(capability, job.request)
        settings = GenerationSettings.from_dict(job.settings)
        seed = settings.seed if settings.seed >= 0 else random.randrange(2**31)  # every provider accepts 31 bits
        settings = replace(settings, seed=seed)
        run_settings = self.policy.local_loras(settings) if self.policy and job.backend == "local" else settings
        workdir = self.store.job_dir(job.id)
        caps = backend.capabilities()
        long_video = caps.needs_compiled_inputs and windows.is_long(settings)
        if resume and not long_video:
            reporter.phase(Phase.QUEUED, message=f"resuming task {job.remote_task_id} after a restart")
            result = backend.resume(BackendJob(job.id, capability, request, settings, None, seed, workdir),
                                    job.remote_task_id, reporter)
            return self._complete(job, reporter, settings, None, result, started, started)
        self.store.update(job.id, status=JobStatus.RUNNING, settings=settings.to_dict(),
                          info={"requested_seed": job.settings.get("seed", -1),
                                **({"visitor_credentials": True} if visitor else {})})
        reporter.phase(Phase.PREPARE, message="reading inputs")
        inputs = None
        if long_video:  # a long video: sliding windows
            context = self.context_factory(
                lambda label, done, total: reporter.phase(Phase.PREPARE, done, total, label)
            )
            return windows.run_windows(self, job, reporter, backend, for_backend(context, caps, backend.label),
                                       request, settings, started, loras=run_settings.loras, resume=resume)
        if caps.needs_compiled_inputs:
            def compile_progress(label: str, done: int, total: int) -> None:
                if reporter.cancelled:  # annotation and tracking report per frame: a cancel stops them there
                    raise GenerationCancelled()
                reporter.phase(Phase.PREPARE, done, total, label)

            context = self.context_factory(compile_progress)
            inputs = compile_request(request, run_settings, for_backend(context, caps, backend.label))
        settings, size_notes = resolve_size(settings, caps, capability, inputs, backend.label)
        run_settings = replace(settings, loras=run_settings.loras)  # the recorded settings keep the LoRA names
        if settings.size != job.settings.get("size"):
            self.store.update(job.id, settings=settings.to_dict())
        compiled = time.perf_counter()
        if reporter.cancelled:
            raise GenerationCancelled()
        result = backend.generate(
            BackendJob(job.id, capability, request, run_settings, inputs, seed, workdir), reporter
        )
        return self._complete(job, reporter, settings, inputs, result, started, compiled, size_notes)

    def _complete(self, job: Job, reporter: _Reporter, settings: GenerationSettings, inputs, result,
                  started: float, compiled: float, notes: list[str] | None = None) -> Job:
        """Write the MP4 (with metadata) and the sidecar, then record the job as succeeded."""
        workdir = self.store.job_dir(job.id)
        reporter.phase(Phase.WRITE)
        written = time.perf_counter()
        job = self.store.get(job.id)
        notes = (inputs.notes if inputs else []) + list(notes or [])
        metadata = self._metadata(job, settings, inputs, result, notes)
        output = workdir / "result.mp4"
        if result.frames is not None:
            write_video(output, result.frames, result.fps, metadata)
        else:
            copy_with_metadata(result.video_path, output, metadata)
        timings = {"compile_s": compiled - started, **result.timings, "write_s": time.perf_counter() - written}
        timings["total_s"] = time.perf_counter() - started
        metadata["timings"] = timings
        _write_json(output.with_suffix(".json"), metadata)
        return self._finish(job.id, JobStatus.SUCCEEDED, output_path=str(output), timings=timings,
                            notes=notes, remote_task_id=result.remote_task_id,
                            info={**job.info, **result.info})

    def _metadata(self, job: Job, settings: GenerationSettings, inputs, result, notes: list[str]) -> dict:
        return {
            "app": "VACE Studio",
            "job_id": job.id,
            "capability": job.capability,
            "backend": job.backend,
            "settings": settings.to_dict(),
            "request": request_from_dict(job.capability, job.request)
            .with_media(lambda _, path: Path(path).name)
            .to_dict(),
            "size": [inputs.width, inputs.height] if inputs else None,
            "num_frames": inputs.num_frames if inputs else None,
            "notes": notes,
            "backend_info": result.info,
        }

    def _finish(self, job_id: str, status: JobStatus, **changes) -> Job:
        if changes.get("error"):
            for path, label in self._labels:
                changes["error"] = changes["error"].replace(path, label)
        return self.store.update(job_id, status=status, finished_at=time.time(),
                                 progress=status.value, **changes)


def _copy_inputs(request: CapabilityRequest, inputs_dir: Path) -> CapabilityRequest:
    """Copy every input file the request names into the job's folder; return the request with the new paths."""

    def copy(name: str, path: str) -> str:
        if not Path(path).is_file():
            return path  # a URL (hosted backends accept public ones) or a missing file the compile reports
        inputs_dir.mkdir(parents=True, exist_ok=True)
        label = name.replace("[", "").replace("]", "").replace(".path", "").replace(".", "-")
        target = inputs_dir / f"{len(list(inputs_dir.iterdir())):02d}-{label}{Path(path).suffix.lower()}"
        shutil.copyfile(path, target)
        return str(target)

    return request.with_media(copy)


def _write_json(path: Path, data: dict) -> None:
    temp = path.with_suffix(".json.partial")
    temp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    temp.replace(path)


def _describe(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) < 600 else text[:600] + "..."
