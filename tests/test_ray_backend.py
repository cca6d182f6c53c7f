"""Generation on Ray (VACE_RAY_ADDRESS=local): a real local Ray instance, 2 CPU workers, the tiny model, through
the app's composition root and job runner. Also: the embedded default never imports Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vace_ui.core.requests import EditRequest, MaskKeyframe
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.store import JobStatus
from vace_ui.media.video import probe_video, read_frames, read_metadata

ROOT = Path(__file__).resolve().parent.parent


def small(**changes) -> GenerationSettings:
    return GenerationSettings(**{"prompt": "a dog runs", "size": "128x128", "num_frames": 9, "steps": 2,
                                 "seed": 7, **changes})


@pytest.fixture(scope="module")
def ray_services(tmp_path_factory, tiny_models_dir):
    from vace_ui.backends.ray_backend import RayBackend
    from vace_ui.config import AppConfig
    from vace_ui.services import create_services

    config = AppConfig(model="tiny-random", models_dir=tiny_models_dir, device="cpu", sam_model="tiny-random",
                       output_dir=tmp_path_factory.mktemp("ray-outputs"), ray_address="local", ray_workers=2)
    services = create_services(config)
    assert isinstance(services.local, RayBackend) and services.gpu_slots == 2
    services.local.wait_ready()
    yield services
    services.local.close()
    services.store.close()


@pytest.fixture
def edit(media_dir):
    return EditRequest(str(media_dir / "square.mp4"), (MaskKeyframe(str(media_dir / "mask.png"), 0),))


def run_jobs(runner, jobs, listeners=None):
    finished = {}

    def run(job_id):
        finished[job_id] = runner.run(job_id, (listeners or {}).get(job_id))

    threads = [threading.Thread(target=run, args=(job.id,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return [finished[job.id] for job in jobs]


def test_embedded_app_does_not_import_ray(tiny_models_dir, tmp_path):
    """`python app.py` without --gpus / VACE_PARALLEL / VACE_RAY_ADDRESS: one process, no Ray, no process group."""
    code = (
        "import sys, app\n"
        "from vace_ui.config import AppConfig\n"
        "from vace_ui.services import create_services\n"
        "from vace_ui.ui.app import build_app\n"
        "config = AppConfig.from_env(gpus=app.parse_args([]).gpus)\n"
        "assert (config.parallel, config.world_size, config.ray_address) == ('', 1, ''), config\n"
        "services = create_services(config)\n"
        "build_app(services)\n"
        "assert type(services.local).__name__ == 'LocalBackend' and services.gpu_slots == 1\n"
        "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray was imported'\n"
        "assert not [m for m in sys.modules if m.startswith('vace_ui.backends.parallel_')], 'parallel imported'\n"
        "import torch.distributed as dist\n"
        "assert not dist.is_initialized(), 'a process group was started'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "VACE_MODEL": "tiny-random",
           "VACE_MODELS_DIR": str(tiny_models_dir), "VACE_OUTPUT_DIR": str(tmp_path), "VACE_DEVICE": "cpu"}
    for name in ("VACE_RAY_ADDRESS", "VACE_PARALLEL", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_config_reads_ray_settings():
    from vace_ui.config import AppConfig

    config = AppConfig.from_env({"VACE_RAY_ADDRESS": " ray://head:10001 ", "VACE_RAY_WORKERS": "4",
                                 "VACE_RAY_RETRIES": "0"})
    assert (config.ray_address, config.ray_workers, config.ray_retries) == ("ray://head:10001", 4, 0)
    assert AppConfig.from_env({}).ray_address == ""


def test_four_jobs_at_once_run_on_both_workers_with_every_step(ray_services, runner, edit):
    ray_runner = ray_services.runner
    seen: dict[str, list] = {}
    jobs = [ray_runner.create(edit, small(steps=3, seed=seed)) for seed in (1, 2, 3, 4)]
    listeners = {job.id: seen.setdefault(job.id, []).append for job in jobs}
    finished = run_jobs(ray_runner, jobs, listeners)
    assert [job.status for job in finished] == [JobStatus.SUCCEEDED] * 4, [job.error for job in finished]
    workers = [job.info["ray_worker"] for job in finished]
    assert sorted(set(workers)) == [0, 1], workers
    for job in finished:
        steps = [p.step for p in seen[job.id] if p.phase.value == "denoise"]
        assert steps == [1, 2], steps  # every step reached the app, in order
        phases = [p.phase.value for p in seen[job.id]]
        assert phases[-1] == "write" and "decode" in phases
        info = probe_video(job.output_path)
        assert (info.width, info.height, info.frame_count) == (144, 112, 9)
        assert read_metadata(job.output_path)["backend_info"]["ray_attempts"] == 1
    # the same job in process gives the same video (same seed, same pipeline, different process)
    local = runner.run(runner.create(edit, small(steps=3, seed=3)).id)
    ray_frames = read_frames(finished[2].output_path).astype(np.int16)
    difference = np.abs(read_frames(local.output_path).astype(np.int16) - ray_frames)
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 2, (difference.mean(), difference.max())


def test_cancel_reaches_the_worker_at_the_next_step(ray_services, edit):
    ray_runner = ray_services.runner
    job = ray_runner.create(edit, small(steps=40))
    seen = []

    def cancel_on_first_step(progress):
        seen.append(progress)
        if progress.phase.value == "denoise" and progress.step == 1:
            ray_runner.cancel(job.id)

    finished = ray_runner.run(job.id, cancel_on_first_step)
    assert finished.status is JobStatus.CANCELLED and finished.output_path is None
    last_step = max(p.step for p in seen if p.phase.value == "denoise")
    assert last_step < 15, last_step  # stopped within a few steps, far from 40
    folder = ray_runner.store.job_dir(job.id)
    assert not list(folder.glob("*.mp4")) and not list(folder.glob(".partial-*"))


def _kill_worker_mid_job(services, job, steps_before_kill=2):
    backend = services.local
    killed = {}

    def kill_on_step(progress):
        if progress.phase.value == "denoise" and progress.step == steps_before_kill and not killed:
            slot = backend.running[job.id]
            killed.update(index=slot.index, pid=slot.pid)
            os.kill(slot.pid, signal.SIGKILL)

    return kill_on_step, killed


def test_killed_worker_retries_once_and_the_others_keep_going(ray_services, edit):
    backend, ray_runner = ray_services.local, ray_services.runner
    assert backend.retries == 1
    doomed = ray_runner.create(edit, small(steps=30, seed=11))
    other = ray_runner.create(edit, small(steps=6, seed=12))
    kill_on_step, killed = _kill_worker_mid_job(ray_services, doomed)
    finished, neighbour = run_jobs(ray_runner, [doomed, other], {doomed.id: kill_on_step})
    assert killed, "the worker was never killed"
    assert finished.status is JobStatus.SUCCEEDED, finished.error
    assert neighbour.status is JobStatus.SUCCEEDED, neighbour.error
    assert finished.info["ray_attempts"] == 2 and f"pid {killed['pid']}" in finished.info["ray_failures"][0]
    assert finished.info["ray_worker_pid"] != killed["pid"]
    assert probe_video(finished.output_path).frame_count == 9
    assert len(list(ray_runner.store.job_dir(doomed.id).glob("result*.mp4"))) == 1  # written once


def test_killed_worker_without_retry_fails_clearly_and_the_app_keeps_serving(ray_services, edit):
    backend, ray_runner = ray_services.local, ray_services.runner
    backend.wait_ready()  # the worker killed in the previous test is back (restarted by Ray, pipeline reloaded)
    backend.retries = 0
    try:
        doomed = ray_runner.create(edit, small(steps=30, seed=21))
        kill_on_step, killed = _kill_worker_mid_job(ray_services, doomed)
        failed = ray_runner.run(doomed.id, kill_on_step)
    finally:
        backend.retries = 1
    assert killed and failed.status is JobStatus.FAILED
    assert "died mid-job" in failed.error and "VACE_RAY_RETRIES" in failed.error and "Traceback" not in failed.error
    assert not list(ray_runner.store.job_dir(doomed.id).glob("*.mp4"))
    started = time.monotonic()
    backend.wait_ready()
    again = run_jobs(ray_runner, [ray_runner.create(edit, small(seed=s)) for s in (31, 32)])
    assert [job.status for job in again] == [JobStatus.SUCCEEDED] * 2, [job.error for job in again]
    assert time.monotonic() - started < 240
