"""One job across several GPUs: the local backend, run by every rank of a torchrun group in lockstep.

`python app.py --gpus N` (or `VACE_PARALLEL=ulysses:N|ring:N`) starts N processes with torchrun. Rank 0 serves the
app and runs the job runner with this backend; ranks 1..N-1 run `parallel_worker.serve`, which waits for rank 0's
messages. Per job rank 0 broadcasts (torch.distributed.broadcast_object_list) `prepare` (the job's settings: solver,
LoRAs, speed and memory modes) and then `call` (the pipeline's arguments and the seed); every rank prepares the
same pipeline and makes the same call, and diffusers' context parallelism (`enable_parallelism` with the VACE
plan, vace_ui/parallel.py) splits the video tokens across the ranks inside each transformer forward. Only rank 0
decodes and keeps the frames; the workers ask for latents.

Cancel: at the end of every step rank 0 broadcasts one flag (its reporter's cancel); every rank stops at that same
step, so the group stays in step. Faults: a rank that dies or stalls mid-job makes the call raise on rank 0 (gloo:
the peer's connection closes; NCCL: torchrun notices the dead process). The job fails with a message in words,
then rank 0 exits once the answer is out, and torchrun restarts the whole group (`--max-restarts`,
VACE_PARALLEL_RESTARTS) with a fresh pipeline on every rank: the app is back after a reload, jobs queued behind
the failed one are marked "interrupted by an app restart" (inputs kept). Errors every rank meets alike before the
first step (bad input, missing weights, a LoRA that does not load) fail only the job.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.errors import BackendUnavailable, GenerationCancelled, InputError
from ..core.settings import GenerationSettings
from ..parallel import enable_context_parallel, parse_parallel
from .base import BackendJob, BackendResult, JobReporter, Phase
from .local import LocalBackend

log = logging.getLogger(__name__)

PING_S = 120.0  # an idle group exchanges a message this often (timeouts: NCCL 10 min, gloo 30 min)
EXIT_GRACE_S = 3.0  # after the last job ended, time for its answer to reach the browser before rank 0 exits


@dataclass
class ParallelGroup:
    """This process's place in the torchrun group; `members` holds every rank's pid, host and device."""

    mode: str
    degree: int
    rank: int
    device: str
    members: list[dict] = field(default_factory=list)

    @property
    def root(self) -> bool:
        return self.rank == 0

    def broadcast(self, message: dict | None = None) -> dict:
        """Rank 0 sends `message`; every other rank receives it (blocks until rank 0 sends)."""
        import torch.distributed as dist

        box = [message]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def share_flag(self, value: bool) -> bool:
        """Rank 0's `value`, on every rank."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if value else 0], dtype=torch.int32, device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())


def init_group(parallel: str, device: str, local_rank: int, attempt: int = 0) -> ParallelGroup:
    """Join the torchrun group (NCCL on CUDA, one GPU per rank; gloo on CPU) and learn every rank's pid.
    `attempt`: torchrun's restart count. The launcher keeps one store across restarts, so the keys of each attempt
    get their own prefix (else a restarted rank can read the address of a rank that died and never connect)."""
    import torch
    import torch.distributed as dist

    mode, degree = parse_parallel(parallel)
    if device != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device, backend = f"cuda:{local_rank}", "nccl"
    else:
        device, backend = "cpu", "gloo"
        # diffusers 0.42 picks a rank's device as `rank % torch.accelerator.device_count()`, 0 without an
        # accelerator (ZeroDivisionError); on CPU every rank's device is "cpu": count one.
        torch.accelerator.device_count = lambda: 1
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // degree))
    store, rank, world = next(dist.rendezvous("env://"))
    dist.init_process_group(backend, store=dist.PrefixStore(f"vace-attempt-{attempt}", store), rank=rank,
                            world_size=world)
    members: list = [None] * dist.get_world_size()
    dist.all_gather_object(members, {"rank": dist.get_rank(), "pid": os.getpid(), "host": socket.gethostname(),
                                     "device": device})
    return ParallelGroup(mode, degree, dist.get_rank(), device, members)


class GroupLost(Exception):
    """The group can no longer run a job together (a rank died, or one rank failed alone)."""


class _SyncedReporter:
    """Rank 0's reporter as the pipeline sees it: `cancelled` turns true only at a step where every rank was told."""

    def __init__(self, reporter: JobReporter):
        self.reporter, self.stopped = reporter, False

    @property
    def wanted(self) -> bool:
        return self.reporter.cancelled

    @property
    def cancelled(self) -> bool:
        return self.stopped

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None:
        self.reporter.phase(phase, step, total, message)

    def remote_task(self, task_id: str) -> None:
        self.reporter.remote_task(task_id)


class ParallelBackend(LocalBackend):
    """LocalBackend on every rank of the group; `generate` runs on rank 0, the workers follow its messages."""

    label = "Local GPUs, one job split across them (diffusers context parallelism)"

    def __init__(self, model: str, models_dir: Path, group: ParallelGroup, measured_path: Path | None = None):
        super().__init__(model, models_dir, group.device, measured_path)
        self.group = group
        self.mode = group.mode  # ring after the Ulysses fallback
        self.notes: list[str] = []
        self.lost = ""  # why the group cannot run jobs any more (rank 0 then exits and torchrun restarts all)
        self.stopping = False  # torchrun asked this process to stop (SIGTERM)
        self.last_steps = 0  # steps the last call completed on this rank
        self.seen_tokens = 0  # video tokens this rank's first main block saw in the last forward
        self._lock = threading.Lock()  # one conversation with the workers at a time: a job, a ping, a model switch
        self._synced: _SyncedReporter | None = None
        if group.root:
            threading.Thread(target=self._keep_alive, daemon=True, name="parallel-ping").start()

    @property
    def world(self) -> int:
        return self.group.degree

    def status(self) -> str:
        ranks = ", ".join(f"rank {m['rank']} pid {m['pid']} on {m['device']}" for m in self.group.members)
        fallback = self.notes[0] if self.notes else self._expected_fallback()
        mode = "ring" if fallback else self.mode
        text = (f"{self.world} processes split each job ({mode}:{self.world}; {ranks}); "
                f"{super().status()}")
        if fallback:
            text += f". {fallback}"
        return f"{text}. Restarting: {self.lost}" if self.lost else text

    def _expected_fallback(self) -> str:
        """The Ulysses -> ring notice, known before loading when the transformer's config is on disk."""
        from ..parallel import choose_mode

        try:
            config = json.loads((Path(self.resolve_source()) / "transformer" / "config.json").read_text())
            return choose_mode(self.group.mode, self.world, int(config["num_attention_heads"]))[1]
        except (OSError, ValueError, KeyError):
            return ""

    # rank 0 ------------------------------------------------------------------------------------------------------
    def capabilities(self):
        caps = super().capabilities()  # the workers follow the pipeline call only: no second control stream
        return replace(caps, settings=caps.settings - {"control_2"})

    def generate(self, job: BackendJob, reporter: JobReporter) -> BackendResult:
        if self.model_for(job.settings) != self.model:
            self.use_model(self.model_for(job.settings))  # the job's model, on every rank, before the lock below
        with self._lock:
            if self.lost or self.stopping:
                raise BackendUnavailable(self._lost_message(self.lost or "the app is restarting"))
            self._synced = _SyncedReporter(reporter)
            try:
                result = super().generate(job, self._synced)
            finally:
                self._synced = None
        result.info.update(parallel=f"{self.mode}:{self.world}", parallel_tokens_per_rank=self.seen_tokens,
                           parallel_ranks=[dict(member) for member in self.group.members])
        result.info["warnings"] = result.info.get("warnings", []) + self.notes
        return result

    def use_model(self, model: str) -> dict:
        if model == self.model:
            return {}
        with self._lock:
            if self.group.root:
                self._send({"op": "model", "model": model})
            return super().use_model(model)

    def _send(self, message: dict) -> None:
        try:
            self.group.broadcast(message)
        except Exception as error:
            self._lose(_first_line(error))
            raise BackendUnavailable(self._lost_message(self.lost)) from None

    def _call(self, pipe, **kwargs):
        generator = kwargs.pop("generator")
        callback = kwargs.pop("callback_on_step_end", None)
        seed = generator.initial_seed()
        self._send({"op": "call", "kwargs": kwargs, "seed": seed})
        try:
            return self.run_call(pipe, kwargs, seed, callback)
        except GroupLost as lost:
            self._lose(str(lost))
            raise BackendUnavailable(self._lost_message(self.lost)) from None

    def _lost_message(self, reason: str) -> str:
        return (f"One of the {self.world} processes that split each job across the GPUs stopped or lost contact "
                f"mid-job ({reason}). This job failed and nothing was written. The app restarts all its processes "
                "(torchrun) and is back once the model has loaded again; restore the job from History to run it "
                "again.")

    def _lose(self, reason: str) -> None:
        if self.lost:
            return
        self.lost = reason or "no reason given"
        log.error("parallel group lost: %s; rank 0 exits once the current answer is out, torchrun restarts the "
                  "group", self.lost)
        threading.Thread(target=self.exit_when_idle, args=(1,), daemon=True, name="parallel-exit").start()

    def exit_when_idle(self, code: int, wait_s: float = 25.0) -> None:
        """End this process once no job is running (at most `wait_s`) and its answer had time to go out."""
        self._lock.acquire(timeout=wait_s)  # kept: no new job starts on a group that is going away
        time.sleep(EXIT_GRACE_S)
        logging.shutdown()
        os._exit(code)

    def exit_on_sigterm(self) -> None:
        """torchrun stops a group with SIGTERM (a rank died, or the operator stopped it): let the running job
        fail or finish and its answer reach the browser first (torchrun waits 30 s before SIGKILL)."""

        def stop(signum, frame):
            self.stopping = True
            threading.Thread(target=self.exit_when_idle, args=(0,), daemon=True, name="parallel-stop").start()

        signal.signal(signal.SIGTERM, stop)

    def _keep_alive(self) -> None:
        while not (self.lost or self.stopping):
            time.sleep(PING_S)
            if self._lock.acquire(blocking=False):
                try:
                    if not (self.lost or self.stopping):
                        self.group.broadcast({"op": "ping"})
                except Exception as error:
                    self._lose(_first_line(error))
                finally:
                    self._lock.release()

    # every rank --------------------------------------------------------------------------------------------------
    def _prepare(self, settings: GenerationSettings):
        if self.group.root:
            self._send({"op": "prepare", "settings": settings})
        pipe, applied = super()._prepare(settings)
        self._apply_parallel(pipe)
        return pipe, applied

    def _apply_parallel(self, pipe) -> None:
        """The VACE context-parallel plan on each expert, once per loaded pipeline (all ranks at the same point:
        enabling it creates the device mesh collectively)."""
        from .local_modes import experts

        if getattr(pipe, "_vace_parallel", None) is None:
            for transformer in experts(pipe):
                try:
                    note = enable_context_parallel(transformer, self.group.mode, self.world, self.group.device)
                except ValueError as error:
                    raise BackendUnavailable(f"Splitting jobs as {self.group.mode}:{self.world} cannot run here: "
                                             f"{error}") from None
                transformer.blocks[0].norm1.register_forward_pre_hook(self._count_tokens)
                if note and note not in self.notes:
                    self.notes.append(note)
                    log.warning(note)
            self.mode = "ring" if self.notes else self.group.mode
            pipe._vace_parallel = self.mode
        if pipe._vace_parallel == "ring":  # configure_pipeline may have picked another attention backend
            for transformer in experts(pipe):
                transformer.set_attention_backend("_native_cudnn")

    def _count_tokens(self, module, args) -> None:
        self.seen_tokens = int(args[0].shape[1])

    def run_call(self, pipe, kwargs: dict, seed: int, callback=None):
        """The pipeline call every rank makes together. Raises GenerationCancelled (every rank at the same step),
        InputError / ValueError met by every rank alike before the first step, or GroupLost."""
        import torch

        steps = [0]
        self.last_steps = 0

        def step_end(pipeline, step, timestep, callback_kwargs):
            stop = self.group.share_flag(self._synced.wanted if self._synced is not None else False)
            steps[0] = self.last_steps = step + 1
            if stop:
                if self._synced is not None:
                    self._synced.stopped = True
                raise GenerationCancelled()
            return callback(pipeline, step, timestep, callback_kwargs) if callback else callback_kwargs

        call = {**kwargs, "generator": torch.Generator(device="cpu").manual_seed(int(seed)),
                "callback_on_step_end": step_end}
        if not self.group.root:
            call["output_type"] = "latent"  # only rank 0 decodes
        try:
            return super()._call(pipe, **call)
        except GenerationCancelled:
            raise
        except AssertionError as error:
            if steps[0] == 0 and "divisible by mesh size" in str(error):
                raise InputError("size", f"the video's tokens must split evenly across {self.world} processes; "
                                 "this size and frame count do not. Choose another size or frame count.") from None
            raise GroupLost(_first_line(error)) from None
        except (InputError, ValueError, TypeError):
            if steps[0] == 0:
                raise
            raise GroupLost("a rank failed mid-job") from None
        except Exception as error:
            raise GroupLost(_first_line(error)) from None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]
