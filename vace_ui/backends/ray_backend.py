"""Generation on Ray: a pool of `GenerationWorker` actors, one per GPU, selected with `VACE_RAY_ADDRESS`.

`local` starts a Ray instance in this process (`ray.init()`); `auto` joins the cluster this machine belongs to (a
`ray start --head` here); `ray://host:10001` joins a remote head through Ray Client. The app compiles inputs as
before, then each job takes a free worker, sends it the compiled inputs, replays the worker's progress events step by
step, forwards Cancel (the worker stops at its next step), and writes the MP4 bytes the worker returns into the
job's folder. Jobs wait in the app (phase `queued`) while every worker is busy.

Faults: a worker process that dies mid-job (crash, out of memory, machine lost) is restarted by Ray (the actor's
constructor reloads the pipeline) and comes back to the pool when it answers again; the job is retried
`retries` times (default 1, `VACE_RAY_RETRIES`) on the next free worker, then fails with a message that says
what happened. Only the app writes to the job folder, and only from a finished result, so a retry never
duplicates an output.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import BackendUnavailable, GenerationCancelled, InputError, MediaError
from .base import BackendJob, BackendResult, JobReporter, Phase
from .local import LocalBackend

log = logging.getLogger(__name__)

WORKER_RESULT = "worker.mp4"  # the worker's encode, as received; the runner remuxes it into result.mp4


@dataclass
class WorkerSlot:
    index: int
    handle: object
    pid: int = 0
    host: str = ""
    torch_threads: int = 0
    jobs: list[str] = field(default_factory=list)


class RayBackend(LocalBackend):
    """The local backend's settings and estimates, with generation on Ray workers. Not exclusive: as many jobs run
    at once as there are workers."""

    label = "Ray workers (diffusers)"
    exclusive = False

    def __init__(self, address: str, model: str, models_dir: Path, device: str = "auto",
                 measured_path: Path | None = None, workers: int = 0, retries: int = 1,
                 cpus_per_worker: float = 1, poll_s: float = 0.05):
        super().__init__(model, models_dir, device, measured_path)
        import ray

        from .ray_worker import GenerationWorker

        self.address, self.retries, self.poll_s = address, retries, poll_s
        if self.is_tiny:
            self.resolve_source()  # build the tiny model once here, not in each worker at the same time
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            try:
                ray.init(**_init_args(address, workers, cpus_per_worker))
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise BackendUnavailable(
                    f"Could not start or reach Ray at VACE_RAY_ADDRESS={address!r} ({error}). Start a head with "
                    "`ray start --head`, use `local`, or unset VACE_RAY_ADDRESS to generate in this process."
                ) from None
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = workers or max(gpus, 1)
        gpus_per_worker = 1 if gpus >= count and device in ("auto", "cuda") else 0
        self.slots = [
            WorkerSlot(index, GenerationWorker.options(
                num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=-1, name=None,
            ).remote(index, model, str(self.models_dir), "cuda" if gpus_per_worker else device))
            for index in range(count)
        ]
        self._idle: queue.Queue[WorkerSlot] = queue.Queue()
        self.running: dict[str, WorkerSlot] = {}  # job id -> the slot running it (for the status line and tests)
        self.broken: dict[int, str] = {}  # worker index -> why it cannot start (its constructor failed)
        for slot in self.slots:
            threading.Thread(target=self._return_when_alive, args=(slot,), daemon=True,
                             name=f"ray-worker-{slot.index}").start()

    def status(self) -> str:
        ready = self._idle.qsize() + len(self.running)
        return f"Ray ({self.address}): {ready}/{len(self.slots)} workers ready, {len(self.running)} busy; {self.model}"

    def wait_ready(self, timeout: float = 300) -> None:
        """Block until every worker has loaded its pipeline and is idle (tests, the bench)."""
        deadline = time.monotonic() + timeout
        while self._idle.qsize() < len(self.slots):
            if time.monotonic() > deadline:
                raise BackendUnavailable(f"Only {self._idle.qsize()} of {len(self.slots)} Ray workers started.")
            time.sleep(0.05)

    def generate(self, job: BackendJob, reporter: JobReporter) -> BackendResult:
        if job.inputs is None:
            raise ValueError("the Ray backend needs compiled VACE inputs")
        failures: list[str] = []
        for attempt in range(self.retries + 1):
            slot = self._acquire(reporter)
            self.running[job.job_id] = slot
            try:
                output = self._run_on(slot, job, reporter)
            except _WorkerDied as died:
                failures.append(f"worker {slot.index} (pid {slot.pid} on {slot.host}) died: {died}")
                log.warning("job %s: %s", job.job_id, failures[-1])
                threading.Thread(target=self._return_when_alive, args=(slot,), daemon=True).start()
                if attempt < self.retries:
                    reporter.phase(Phase.QUEUED, message=f"{failures[-1]}; retrying on the next free worker")
                    continue
                retried = f" and the retry{'s' if self.retries > 1 else ''}" if self.retries else ""
                raise BackendUnavailable(
                    f"The Ray worker running this job{retried} died mid-job ({'; '.join(failures)}). "
                    f"Retries allowed: {self.retries} (VACE_RAY_RETRIES). Nothing was written; the other "
                    "workers keep going. Restore the job from History to run it again."
                ) from None
            except BaseException:
                self._idle.put(slot)
                raise
            finally:
                self.running.pop(job.job_id, None)
            self._idle.put(slot)
            output["info"]["ray_attempts"] = attempt + 1
            output["info"]["ray_failures"] = failures
            return self._result(job, output)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the workers (and the Ray instance this backend started)."""
        import ray

        for slot in self.slots:
            ray.kill(slot.handle, no_restart=True)
        if self._started_ray:
            ray.shutdown()

    def _acquire(self, reporter: JobReporter) -> WorkerSlot:
        announced = False
        while True:
            if reporter.cancelled:
                raise GenerationCancelled()
            if len(self.broken) == len(self.slots):
                raise BackendUnavailable(f"No Ray worker could start: {next(iter(self.broken.values()))}")
            try:
                return self._idle.get(timeout=self.poll_s)
            except queue.Empty:
                if not announced:
                    reporter.phase(Phase.QUEUED, message=f"waiting for a free Ray worker ({len(self.slots)} busy)")
                    announced = True

    def _run_on(self, slot: WorkerSlot, job: BackendJob, reporter: JobReporter) -> dict:
        import ray
        from ray.exceptions import RayActorError

        reporter.phase(Phase.PREPARE, message=f"sent to Ray worker {slot.index} (pid {slot.pid} on {slot.host})")
        cursor, cancel_sent = 0, False

        def replay(events) -> None:
            nonlocal cursor
            for name, step, total, message in events:
                reporter.phase(Phase(name), step, total, message)
            cursor += len(events)

        try:
            ref = slot.handle.run.remote(job)
            while not ray.wait([ref], timeout=self.poll_s)[0]:
                if reporter.cancelled and not cancel_sent:
                    slot.handle.cancel.remote(job.job_id)
                    cancel_sent = True
                replay(ray.get(slot.handle.events.remote(job.job_id, cursor)))
            output = ray.get(ref)
        except RayActorError as error:
            raise _WorkerDied(_reason(error)) from None
        replay(output["events"][cursor:])
        slot.jobs.append(job.job_id)
        if output["status"] == "cancelled":
            raise GenerationCancelled()
        if output["status"] == "failed":
            if output["kind"] == "input":
                raise InputError(output["field"], output["message"])
            if output["kind"] == "unavailable":
                raise BackendUnavailable(output["message"])
            log.error("job %s failed on Ray worker %s:\n%s", job.job_id, slot.index, output.get("traceback", ""))
            raise RuntimeError(f"Ray worker {slot.index}: {output['message']}")
        return output

    def _result(self, job: BackendJob, output: dict) -> BackendResult:
        path = Path(job.workdir) / WORKER_RESULT
        temp = path.with_name(f".partial-{WORKER_RESULT}")
        temp.write_bytes(output["mp4"])
        temp.replace(path)
        if not path.stat().st_size:
            raise MediaError("video", "the Ray worker returned an empty video.")
        return BackendResult(video_path=path, fps=output["fps"], timings=output["timings"], info=output["info"])

    def _return_when_alive(self, slot: WorkerSlot) -> None:
        """Put a (new or restarted) worker into the pool once it answers, i.e. once its pipeline is loaded."""
        import ray
        from ray.exceptions import RayActorError

        while True:
            try:
                answer = ray.get(slot.handle.ping.remote())
                break
            except RayActorError as error:
                if getattr(error, "actor_init_failed", False):  # not a crash: restarting cannot help
                    self.broken[slot.index] = _reason(error)
                    log.error("Ray worker %s cannot start: %s", slot.index, error)
                    return
                time.sleep(0.2)
        slot.pid, slot.host, slot.torch_threads = answer["pid"], answer["host"], answer["torch_threads"]
        self._idle.put(slot)


class _WorkerDied(Exception):
    pass


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    useful = [line for line in text if "died" in line.lower() or "killed" in line.lower() or "exit" in line.lower()]
    return (useful or text or [type(error).__name__])[0][:300]


def _init_args(address: str, workers: int, cpus_per_worker: float) -> dict:
    """ray.init arguments: a local instance sized for the workers, or a connection to a cluster. Workers import
    vace_ui from this checkout (local) or from a copy Ray uploads (py_modules) to other machines."""
    package = Path(__file__).resolve().parent.parent
    if address == "local":
        path = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH", "")) if p)
        cpus = max(os.cpu_count() or 1, int(max(workers, 1) * cpus_per_worker + 0.999))
        return {"num_cpus": cpus, "include_dashboard": False, "log_to_driver": False,
                "runtime_env": {"env_vars": {"PYTHONPATH": path}}}
    return {"address": address, "log_to_driver": False, "runtime_env": {"py_modules": [str(package)]}}
