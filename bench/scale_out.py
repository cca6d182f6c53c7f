"""Scale-out on Ray: throughput of N jobs with 1 vs 2 workers, and the per-job overhead of Ray vs in-process.

Tiny random model, Edit jobs (video file + mask), 128x128, 9 frames, 4 steps, through the app's full job path
(JobRunner: copy inputs, compile, generate, write MP4 + sidecar). A local Ray instance (`VACE_RAY_ADDRESS=local`)
with one CPU per worker; the in-process baseline uses one torch thread too, so both compare the same compute.
On a 2-core machine two workers cannot reach 2x (the app process, Ray and the encoder share the cores).
Run from the repository root:  .venv/bin/python bench/scale_out.py [--jobs 6] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=6, help="jobs per throughput run")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    import diffusers
    import numpy as np
    import ray
    import torch

    from vace_ui.backends.local import LocalBackend
    from vace_ui.backends.ray_backend import RayBackend, _init_args
    from vace_ui.backends.tiny_model import ensure_tiny_model
    from vace_ui.core.requests import EditRequest, MaskKeyframe
    from vace_ui.core.settings import GenerationSettings
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStatus, JobStore
    from vace_ui.media.images import write_png
    from vace_ui.media.video import write_video

    work = Path(tempfile.mkdtemp(prefix="vace-scale-"))
    rng = np.random.default_rng(0)
    write_video(work / "clip.mp4", rng.integers(0, 256, (9, 128, 128, 3), dtype=np.uint8), 16)
    mask = np.zeros((128, 128), dtype=np.uint8)
    mask[32:96, 32:96] = 255
    write_png(work / "mask.png", mask)
    ensure_tiny_model(work / "models" / "tiny-random")
    request = EditRequest(str(work / "clip.mp4"), (MaskKeyframe(str(work / "mask.png"), 0),))

    def settings(seed: int) -> GenerationSettings:
        return GenerationSettings(prompt="a dog runs on the street", size="128x128", num_frames=9,
                                  steps=args.steps, seed=seed)

    def run_one(runner: JobRunner, seed: int) -> float:
        start = time.perf_counter()
        job = runner.run(runner.create(request, settings(seed)).id)
        if job.status is not JobStatus.SUCCEEDED:
            raise SystemExit(f"job failed: {job.error}")
        return time.perf_counter() - start

    def sequential(runner: JobRunner, runs: int) -> float:
        run_one(runner, 0)  # warm-up (first call pays one-time setup)
        return statistics.median(run_one(runner, seed) for seed in range(1, runs + 1))

    def throughput(runner: JobRunner, jobs: int) -> float:
        run_one(runner, 0)
        threads = [threading.Thread(target=run_one, args=(runner, seed)) for seed in range(1, jobs + 1)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return jobs / (time.perf_counter() - start)

    torch.set_num_threads(1)
    local = LocalBackend("tiny-random", work / "models", device="cpu")
    in_process = JobRunner(JobStore(work / "local"), {"local": local})
    local_job_s = sequential(in_process, args.jobs)
    local_rate = throughput(in_process, args.jobs)
    print(f"in-process: {local_job_s:.3f} s/job, {local_rate:.3f} jobs/s", flush=True)

    ray.init(**_init_args("local", 2, 1))
    figures = {}
    for workers in (1, 2):
        backend = RayBackend("local", "tiny-random", work / "models", device="cpu", workers=workers)
        backend.wait_ready()
        runner = JobRunner(JobStore(work / f"ray{workers}"), {"local": backend})
        if workers == 1:
            figures["ray_job_s"] = sequential(runner, args.jobs)
        figures[workers] = throughput(runner, args.jobs)
        print(f"ray, {workers} worker(s): {figures[workers]:.3f} jobs/s", flush=True)
        backend.close()
    ray.shutdown()

    print(f"\n== scale-out, tiny model, Edit 128x128x9, {args.steps} steps, {args.jobs} jobs per run ==")
    print(f"python {platform.python_version()}, ray {ray.__version__}, torch {torch.__version__}, "
          f"diffusers {diffusers.__version__}; CPU: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; 1 CPU (1 torch thread) per worker and in process")
    print(f"per-job time, in process:          {local_job_s:.3f} s (median of {args.jobs})")
    print(f"per-job time, Ray (1 worker):      {figures['ray_job_s']:.3f} s "
          f"-> overhead {figures['ray_job_s'] / local_job_s:.2f}x (target <= 1.15x)")
    print(f"throughput in process (1 at once): {local_rate:.3f} jobs/s")
    print(f"throughput Ray, 1 worker:          {figures[1]:.3f} jobs/s")
    print(f"throughput Ray, 2 workers:         {figures[2]:.3f} jobs/s -> {figures[2] / figures[1]:.2f}x of 1 worker")


if __name__ == "__main__":
    main()
