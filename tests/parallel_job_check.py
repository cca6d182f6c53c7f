"""Run under torch.distributed.run with 2 gloo ranks (tests/test_parallel_app.py): rank 0 runs jobs through the
real JobRunner on ParallelBackend, rank 1 runs the worker loop. A job cancelled at its first step stops on both
ranks at the same step, and the next job still runs on the group (a rank left behind would hang or fail it).

    VACE_MODEL=tiny-random VACE_DEVICE=cpu VACE_PARALLEL=ulysses:2 VACE_MODELS_DIR=... VACE_OUTPUT_DIR=... \
    python -m torch.distributed.run --nproc_per_node 2 tests/parallel_job_check.py VIDEO MASK
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from vace_ui.config import AppConfig

    video, mask = sys.argv[1:3]
    logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
    config = AppConfig.from_env()
    if config.rank > 0:
        from vace_ui.backends.parallel_worker import serve

        serve(config)
        return
    from vace_ui.core.requests import EditRequest, MaskKeyframe
    from vace_ui.core.settings import GenerationSettings
    from vace_ui.services import create_services

    services = create_services(config)
    runner, backend = services.runner, services.local
    edit = EditRequest(video, (MaskKeyframe(mask, 0),))
    settings = {"prompt": "a dog runs", "size": "160x128", "num_frames": 9, "seed": 5}
    job = runner.create(edit, GenerationSettings(**settings, steps=40))

    def cancel_at_first_step(progress):
        if progress.phase.value == "denoise" and progress.step >= 1:
            runner.cancel(job.id)

    cancelled = runner.run(job.id, cancel_at_first_step)
    print(f"CANCELLED {cancelled.status.value} after step {backend.last_steps} of 40", flush=True)
    after = runner.run(runner.create(edit, GenerationSettings(**settings, steps=2)).id)
    print(f"NEXT {after.status.value} {after.error or ''} tokens {after.info.get('parallel_tokens_per_rank')}",
          flush=True)
    backend.group.broadcast({"op": "stop"})
    services.store.close()


if __name__ == "__main__":
    main()
