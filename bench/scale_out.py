"""Scale-out on Ray: throughput of N jobs with 1 vs 2 workers, and the per-job overhead of Ray vs in-process.

Tiny random model, Edit jobs (video file + mask), 128x128, 9 frames, 4 steps, through the app's full job path
(JobRunner: copy inputs, compile, generate, write MP4 + sidecar). A local Ray instance (`VACE_RAY_ADDRESS=local`)
with one CPU per worker; the in-process baseline uses one torch thread too, so both compare the same compute.
On a 2-core machine two workers cannot reach 2x (the app process, Ray and the encoder share the cores).
Run from the repository root:  .venv/bin/python bench/scale_out.py [--jobs 4] [--rounds 3] [--steps 4]
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--jobs", type=int, default=4, help="jobs submitted at once per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    import ray
    import torch

    from bench.edit_inputs import edit_request
    from bench.environment import describe
    from vace_ui.backends.local import LocalBackend
    from vace_ui.backends.ray_backend import RayBackend, _init_args
    from vace_ui.backends.tiny_model import ensure_tiny_model
    from vace_ui.core.settings import GenerationSettings
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStatus, JobStore

    work = Path(tempfile.mkdtemp(prefix="vace-scale-"))
    ensure_tiny_model(work / "models" / "tiny-random")
    request = edit_request(work, 9)

    def settings(seed: int) -> GenerationSettings:
        return GenerationSettings(prompt="a dog runs on the street", size="128x128", num_frames=9,
                                  steps=args.steps, seed=seed)

    outside: dict[str, list[float]] = {"local": [], "ray": []}  # job seconds outside the pipeline call

    def run_one(runner: JobRunner, seed: int, path: str = "") -> float:
        start = time.perf_counter()
        job = runner.run(runner.create(request, settings(seed)).id)
        if job.status is not JobStatus.SUCCEEDED:
            raise SystemExit(f"job failed: {job.error}")
        elapsed = time.perf_counter() - start
        if path:
            outside[path].append(elapsed - job.timings["pipeline_s"])
        return elapsed

    def batch(runner: JobRunner, jobs: int) -> float:
        """Jobs per second with `jobs` submitted at once."""
        threads = [threading.Thread(target=run_one, args=(runner, seed)) for seed in range(1, jobs + 1)]
        begin = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return jobs / (time.perf_counter() - begin)

    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    local = LocalBackend("tiny-random", work / "models", device="cpu")
    in_process = JobRunner(JobStore(work / "local"), {"local": local})
    # both pools live in one Ray instance (3 logical CPUs: idle actors cost nothing), so the measurements can be
    # interleaved round by round and a change in the machine's load hits every variant alike
    ray.init(**_init_args("local", 3, 1))
    pools = {}
    for workers in (1, 2):
        pools[workers] = RayBackend("local", "tiny-random", work / "models", device="cpu", workers=workers)
        pools[workers].wait_ready()
    runners = {workers: JobRunner(JobStore(work / f"ray{workers}"), {"local": backend})
               for workers, backend in pools.items()}
    for runner in (in_process, *runners.values()):
        run_one(runner, 0)  # warm-up: the first job pays one-time setup
    per_job = {"local": [], "ray": []}
    rates = {1: [], 2: [], "local": []}
    for round_index in range(args.rounds):
        order = [("local", in_process), ("ray", runners[1])]
        for name, runner in order if round_index % 2 == 0 else order[::-1]:
            per_job[name] += [run_one(runner, seed, name) for seed in (1, 2)]
        for key in ((1, 2, "local") if round_index % 2 == 0 else ("local", 2, 1)):
            rates[key].append(batch(in_process if key == "local" else runners[key], args.jobs))
        print(f"round {round_index + 1}: per job local {statistics.median(per_job['local'][-2:]):.3f} s, "
              f"ray {statistics.median(per_job['ray'][-2:]):.3f} s; jobs/s 1 worker {rates[1][-1]:.3f}, "
              f"2 workers {rates[2][-1]:.3f}", flush=True)
    threads_note = [slot.torch_threads for slot in pools[2].slots]
    for backend in pools.values():
        backend.close()
    ray.shutdown()

    local_s, ray_s = statistics.median(per_job["local"]), statistics.median(per_job["ray"])
    one, two, local_rate = (statistics.median(rates[key]) for key in (1, 2, "local"))
    print(f"\n== scale-out, tiny model, Edit 128x128x9, {args.steps} steps; {args.rounds} interleaved rounds ==")
    print(describe(["ray", "torch", "diffusers", "av", "numpy"]))
    print(f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; 1 CPU per worker; torch threads: "
          f"in process {torch.get_num_threads()}, workers {threads_note}")
    print(f"per-job time, in process:             {local_s:.3f} s (median of {len(per_job['local'])})")
    print(f"per-job time, Ray (1 worker):         {ray_s:.3f} s -> {ray_s / local_s:.2f}x in process "
          "(target <= 1.15x)")
    local_out, ray_out = statistics.median(outside["local"]), statistics.median(outside["ray"])
    print(f"job path outside the pipeline call:   in process {local_out:.3f} s, Ray {ray_out:.3f} s "
          f"({ray_out - local_out:+.3f} s per job for Ray: transfer, polling, remux)")
    print(f"throughput, {args.jobs} jobs at once, in process: {local_rate:.3f} jobs/s (one at a time)")
    print(f"throughput, {args.jobs} jobs at once, 1 worker:   {one:.3f} jobs/s")
    print(f"throughput, {args.jobs} jobs at once, 2 workers:  {two:.3f} jobs/s -> {two / one:.2f}x of 1 worker")

if __name__ == "__main__":
    main()
