"""Ranks 1..N-1 of `python app.py --gpus N`: no app, no job store; they follow rank 0's messages.

Messages (broadcast by rank 0, see parallel_backend.py): `prepare` (a job's settings: load the pipeline and put the
job's solver, LoRAs and modes in effect), `call` (the pipeline's arguments: run it with rank 0, stopping at the
step where rank 0 says cancel), `model` (switch models), `ping` (an idle group's keep-alive). An error every rank
meets alike (missing weights, bad input before the first step) ends only that job. Anything else (this rank
alone failing, rank 0 gone) ends this process with exit code 1, and torchrun restarts the whole group.
"""

from __future__ import annotations

import logging
import os

from ..core.errors import BackendUnavailable, GenerationCancelled, InputError
from .local_modes import make_step_callback
from .parallel_backend import GroupLost, ParallelBackend, init_group

log = logging.getLogger(__name__)


def serve(config) -> None:
    """The worker loop of one rank (config: vace_ui.config.AppConfig with `parallel` set)."""
    group = init_group(config.parallel, config.device, config.local_rank, config.parallel_attempt)
    backend = ParallelBackend(config.model, config.models_dir, group)
    if backend.is_tiny:
        backend.resolve_source()
    log.info("rank %d of %d ready on %s (pid %d)", group.rank, group.degree, group.device, os.getpid())
    prepared = None
    while True:
        try:
            message = group.broadcast()
        except Exception as error:  # rank 0 is gone: torchrun restarts the group
            log.error("rank %d: lost rank 0 (%s); exiting", group.rank, str(error).splitlines()[0][:200])
            os._exit(1)
        op = message.get("op")
        try:
            if op == "prepare":
                prepared = None
                prepared = backend._prepare(message["settings"])
            elif op == "call":
                if prepared is None:
                    raise GroupLost("rank 0 started a call this rank could not prepare")
                pipe, applied = prepared
                backend.run_call(pipe, message["kwargs"], message["seed"], make_step_callback(applied))
            elif op == "model":
                prepared = None
                backend.use_model(message["model"])
            elif op == "stop":
                return
        except GenerationCancelled:
            log.info("rank %d: cancelled with rank 0 after step %d", group.rank, backend.last_steps)
        except (BackendUnavailable, InputError, ValueError) as error:  # every rank meets these alike
            log.info("rank %d: %s failed on every rank: %s", group.rank, op, error)
        except Exception:  # GroupLost, or this rank alone failed: the group cannot go on in step
            log.exception("rank %d: %s failed on this rank alone; exiting so torchrun restarts the group",
                          group.rank, op)
            logging.shutdown()
            os._exit(1)
