"""Overhead of the app's job path vs a bare WanVACEPipeline call with identical inputs.

Tiny random model, 17 frames, 128x128, 4 steps, an Edit job (video file + mask file), several runs in one process.
The job path includes copying inputs, decoding and compiling them, the pipeline, writing the H.264 MP4 with
metadata and the JSON sidecar, and the SQLite records. Run:  .venv/bin/python bench/overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    import torch
    from PIL import Image

    from bench.edit_inputs import edit_request
    from bench.environment import describe
    from vace_ui.backends.local import LocalBackend
    from vace_ui.core.compile import compile_request
    from vace_ui.core.settings import GenerationSettings
    from vace_ui.jobs.context import file_context
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStore

    work = Path(tempfile.mkdtemp(prefix="vace-bench-"))

    backend = LocalBackend("tiny-random", work / "models", device="cpu")
    runner = JobRunner(JobStore(work / "outputs"), {"local": backend})
    request = edit_request(work, 17)
    settings = GenerationSettings(prompt="a dog runs on the street", size="128x128", num_frames=17, steps=4, seed=1)
    inputs = compile_request(request, settings, file_context())
    pipe = backend.load()

    def bare() -> None:
        pipe(prompt=settings.prompt, negative_prompt=settings.negative_prompt,
             video=[Image.fromarray(f) for f in inputs.video],
             mask=[Image.fromarray(m, mode="L") for m in inputs.mask],
             reference_images=None, conditioning_scale=1.0, height=128, width=128, num_frames=17,
             num_inference_steps=4, guidance_scale=5.0, generator=torch.Generator().manual_seed(1), output_type="np")

    def job_path() -> None:
        job = runner.run(runner.create(request, settings).id)
        assert job.status.value == "succeeded", job.error

    bare()
    job_path()  # warm-up: model loaded, scheduler built, caches filled
    bare_times, job_times = [], []
    for _ in range(args.runs):  # interleaved so machine noise hits both alike
        start = time.perf_counter()
        bare()
        bare_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        job_path()
        job_times.append(time.perf_counter() - start)
    bare_median, job_median = statistics.median(bare_times), statistics.median(job_times)
    print(describe(("torch", "diffusers", "transformers", "numpy", "pillow", "av")))
    print(f"runs: {args.runs} (tiny model, 17 frames, 128x128, 4 steps, CPU, torch threads {torch.get_num_threads()})")
    print(f"bare WanVACEPipeline call, median: {bare_median:.3f} s")
    print(f"app job path, median:            {job_median:.3f} s")
    print(f"ratio job/bare: {job_median / bare_median:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
