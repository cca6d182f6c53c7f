"""One job across several processes: `python app.py --gpus 2` on this CPU machine (torchrun, gloo, the tiny model),
driven through gradio_client like any API user. The split job gives the single-process video; Cancel stops every
rank at the same step; a rank killed mid-job fails that job in words and the restarted group answers the next."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file

from vace_ui.media.video import read_frames

ROOT = Path(__file__).resolve().parent.parent
# 160x128, 9 frames: 3x8x10 = 240 video tokens, 120 per rank (the tokens must split evenly across the ranks)
SETTINGS = {"prompt": "a dog runs", "size": "160x128", "num_frames": 9, "steps": 2, "seed": 3}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tiny_models_dir: Path, output: Path) -> dict:
    env = {**os.environ, "VACE_MODEL": "tiny-random", "VACE_MODELS_DIR": str(tiny_models_dir), "VACE_DEVICE": "cpu",
           "VACE_SAM_MODEL": "tiny-random", "VACE_TRACKER_MODEL": "tiny-random", "VACE_OUTPUT_DIR": str(output),
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    for name in ("VACE_PARALLEL", "VACE_RAY_ADDRESS", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(name, None)
    return env


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    output: Path
    log: Path

    def wait_up(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"app.py --gpus 2 exited:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(self.url + "/gradio_api/info", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"app.py --gpus 2 did not come up:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.5)

    def ranks(self) -> dict[int, int]:
        """rank -> pid of the processes torchrun (this process, after app.py started it) runs."""
        found = {}
        for child in Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split():
            try:
                environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:  # a rank that just ended (torchrun restarting the group)
                continue
            found.update({int(entry[5:]): int(child) for entry in environ if entry.startswith(b"RANK=")})
        return found

    def jobs(self) -> list[tuple[str, str, str, str]]:
        """(id, status, progress, error) of every job, read from the app's store."""
        with sqlite3.connect(f"file:{self.output / 'jobs.sqlite'}?mode=ro", uri=True) as db:
            return db.execute("SELECT id, status, progress, error FROM jobs").fetchall()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models_dir):
    output = tmp_path_factory.mktemp("parallel-outputs")
    log = tmp_path_factory.mktemp("parallel-log") / "server.log"
    port = _free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "app.py", "--gpus", "2", "--port", str(port)], cwd=ROOT,
                                   env=_env(tiny_models_dir, output), stdout=out, stderr=subprocess.STDOUT)
    running = Server(f"http://127.0.0.1:{port}", process, output, log)
    try:
        running.wait_up()
        yield running
    finally:
        process.terminate()  # torchrun stops its ranks (SIGTERM) and exits
        process.wait(timeout=60)


def _edit(client: Client, media_dir: Path, settings: dict):
    return client.predict(handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")),
                          0, None, "fixed", 0.1, settings, api_name="/edit")


def test_two_processes_give_the_single_process_video(server, running_app, media_dir):
    assert set(server.ranks()) == {0, 1}
    path, job = _edit(Client(server.url, verbose=False), media_dir, SETTINGS)
    single, _ = _edit(Client(running_app.url, verbose=False), media_dir, SETTINGS)
    split_frames, single_frames = read_frames(path).astype(np.int16), read_frames(single).astype(np.int16)
    assert split_frames.shape == single_frames.shape == (9, 128, 160, 3)
    difference = np.abs(split_frames - single_frames)
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 2, (difference.mean(), difference.max())
    info = json.loads((server.output / "jobs" / job["job_id"] / "result.json").read_text())["backend_info"]
    assert info["parallel"] == "ulysses:2" and info["parallel_tokens_per_rank"] == 120  # half of 240 tokens each
    assert sorted(member["pid"] for member in info["parallel_ranks"]) == sorted(server.ranks().values())


def test_an_odd_token_count_is_refused_in_words_and_the_group_keeps_going(server, media_dir):
    client = Client(server.url, verbose=False)
    with pytest.raises(Exception) as raised:  # 128x128 from this 160x128 clip: 144x112, 3x7x9 = 189 tokens
        _edit(client, media_dir, {**SETTINGS, "size": "128x128"})
    assert "split evenly across 2 processes" in str(raised.value) and "Traceback" not in str(raised.value)
    path, job = _edit(client, media_dir, SETTINGS)
    assert job["status"] == "succeeded" and read_frames(path).shape[0] == 9


def test_cancel_stops_every_rank_at_the_same_step_and_the_next_job_runs(tiny_models_dir, media_dir, tmp_path):
    env = {**_env(tiny_models_dir, tmp_path / "outputs"), "VACE_PARALLEL": "ulysses:2"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "tests/parallel_job_check.py", str(media_dir / "square.mp4"), str(media_dir / "mask.png")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "CANCELLED cancelled after step " in done.stdout, output[-4000:]
    step = int(done.stdout.split("CANCELLED cancelled after step ")[1].split()[0])
    assert step < 10, step  # stopped within a few steps of 40
    assert f"rank 1: cancelled with rank 0 after step {step}" in done.stderr, done.stderr[-3000:]
    assert "NEXT succeeded" in done.stdout and "tokens 120" in done.stdout, output[-4000:]


def test_a_rank_killed_mid_job_fails_the_job_in_words_and_the_app_comes_back(server, media_dir):
    client = Client(server.url, verbose=False)
    before = server.ranks()
    victim = before[1]
    outcome: dict = {}

    def submit():
        try:
            outcome["result"] = _edit(client, media_dir, {**SETTINGS, "steps": 100, "seed": 9})
        except Exception as error:  # noqa: BLE001 - the failure is what is checked
            outcome["error"] = str(error)

    thread = threading.Thread(target=submit)
    thread.start()
    deadline = time.monotonic() + 120
    while not any(status == "running" and (progress or "").startswith("denoise")
                  for _, status, progress, _ in server.jobs()):
        assert time.monotonic() < deadline and thread.is_alive(), (outcome, server.log.read_text()[-3000:])
        time.sleep(0.1)
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=120)
    assert "error" in outcome, outcome
    assert "stopped or lost contact mid-job" in outcome["error"] and "restarts all its processes" in outcome["error"]
    assert "Traceback" not in outcome["error"]
    failed = [error for _, status, _, error in server.jobs() if status == "failed" and "mid-job" in (error or "")]
    assert len(failed) == 1, server.jobs()
    deadline = time.monotonic() + 240
    while set(server.ranks()) != {0, 1} or set(server.ranks().values()) & set(before.values()):
        assert time.monotonic() < deadline, (before, server.ranks())  # torchrun restarts both ranks
        time.sleep(0.5)
    server.wait_up()  # the new rank 0 serves on the same port
    path, job = _edit(Client(server.url, verbose=False), media_dir, SETTINGS)
    assert job["status"] == "succeeded" and read_frames(path).shape[0] == 9


def test_parallel_settings_from_the_flag_the_variable_and_torchrun():
    from app import without_gpus
    from vace_ui.config import AppConfig
    from vace_ui.parallel import resolve_parallel

    assert AppConfig.from_env({}).parallel == "" and AppConfig.from_env({}, gpus=1).parallel == ""
    assert AppConfig.from_env({}, gpus=4).parallel == "ulysses:4"
    assert AppConfig.from_env({"VACE_PARALLEL": "ring:4"}, gpus=4).parallel == "ring:4"
    config = AppConfig.from_env({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    assert (config.parallel, config.rank, config.world_size, config.local_rank) == ("ulysses:2", 1, 2, 1)
    with pytest.raises(ValueError, match="disagree"):
        resolve_parallel("ring:2", 4)
    with pytest.raises(ValueError, match="--nproc-per-node 4"):
        resolve_parallel("ulysses:4", 0, 2)
    assert without_gpus(["--gpus", "2", "--port", "1", "--gpus=3", "--mcp"]) == ["--port", "1", "--mcp"]


def test_the_status_line_says_when_ulysses_falls_back_to_ring(tiny_models_dir):
    from vace_ui.backends.parallel_backend import ParallelBackend, ParallelGroup

    members = [{"rank": rank, "pid": 100 + rank, "device": "cpu"} for rank in range(4)]
    worker = ParallelBackend("tiny-random", tiny_models_dir, ParallelGroup("ulysses", 4, 3, "cpu", members))
    status = worker.status()  # the tiny transformer has 2 heads: ulysses:4 cannot split them
    assert "ulysses:4 does not divide 2 attention heads; using ring:4" in status
    assert "(ring:4; " in status and "rank 3 pid 103 on cpu" in status
    even = ParallelBackend("tiny-random", tiny_models_dir, ParallelGroup("ulysses", 2, 1, "cpu", members[:2]))
    assert "does not divide" not in even.status() and "(ulysses:2;" in even.status()
