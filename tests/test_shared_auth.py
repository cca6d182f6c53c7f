"""`python app.py --auth` with several users: jobs belong to the login name, across an app restart; an admin
(VACE_ADMIN_USERS) sees every job; the result route wants the login."""

from __future__ import annotations

import os

import httpx
import pytest
from gradio_client import Client
from test_remote_app import _free_port, _start_app, _wait_for

SETTINGS = {"prompt": "a boat", "size": "128x128", "num_frames": 9, "steps": 2, "seed": 4, "backend": "local"}
USERS = {"alice": "pw-alice-1", "bob": "pw-bob-2", "carol": "pw-carol-3"}


def _client(url: str, user: str):
    try:
        return Client(url, auth=(user, USERS[user]), verbose=False)
    except Exception:
        return None


def _logged_in(url: str, user: str) -> httpx.Client:
    http = httpx.Client(base_url=url, timeout=30)
    answer = http.post("/login", data={"username": user, "password": USERS[user]})
    assert answer.status_code == 200, answer.text
    return http


def _check_isolation(url: str, job_id: str) -> None:
    alice, bob, carol = (_wait_for(lambda u=u: _client(url, u), 90, f"{u} to log in") for u in USERS)
    assert alice.predict(job_id, api_name="/job")[1]["job_id"] == job_id
    assert carol.predict(job_id, api_name="/job")[1]["job_id"] == job_id  # the admin
    with pytest.raises(Exception, match=f"No job {job_id}"):
        bob.predict(job_id, api_name="/job")
    route = f"/vace/file/{job_id}/result.mp4"
    mine = _logged_in(url, "alice").get(route)
    assert mine.status_code == 200 and mine.content[4:8] == b"ftyp"
    assert _logged_in(url, "bob").get(route).status_code == 404
    assert httpx.get(url + route, timeout=30).status_code == 401


def test_two_logins_keep_their_jobs_apart_across_a_restart(tmp_path, tiny_models_dir):
    port, log = _free_port(), tmp_path / "app.log"
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "VACE_MODEL": "tiny-random",
           "VACE_MODELS_DIR": str(tiny_models_dir), "VACE_OUTPUT_DIR": str(tmp_path / "outputs"),
           "VACE_SAM_MODEL": "tiny-random", "VACE_ADMIN_USERS": "carol"}
    args = ["--auth", ",".join(f"{user}:{password}" for user, password in USERS.items())]
    app = _start_app(env, log, args)
    try:
        alice = _wait_for(lambda: _client(url, "alice"), 120, "the app to start")
        _, job = alice.predict(None, None, None, "subject", SETTINGS, api_name="/reference")
        assert job["status"] == "succeeded"
        _check_isolation(url, job["job_id"])
        app.kill()
        app.wait(30)
        app = _start_app(env, log, args)
        _wait_for(lambda: _client(url, "alice"), 120, "the app to start again")
        _check_isolation(url, job["job_id"])
    finally:
        app.kill()
        app.wait(30)
    assert all(password not in log.read_text(errors="replace") for password in USERS.values())


def test_on_localhost_a_browser_keeps_its_jobs_across_a_restart(tmp_path, tiny_models_dir):
    port, log = _free_port(), tmp_path / "app.log"
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "VACE_MODEL": "tiny-random",
           "VACE_MODELS_DIR": str(tiny_models_dir), "VACE_OUTPUT_DIR": str(tmp_path / "outputs"),
           "VACE_SAM_MODEL": "tiny-random"}
    mine, other = {"Cookie": "vace_owner=" + "a1" * 16}, {"Cookie": "vace_owner=" + "b2" * 16}

    def client(headers):
        try:
            return Client(url, headers=headers, verbose=False)
        except Exception:
            return None

    app = _start_app(env, log)
    try:
        _, job = _wait_for(lambda: client(mine), 120, "the app to start").predict(
            None, None, None, "subject", SETTINGS, api_name="/reference")
        app.kill()
        app.wait(30)
        app = _start_app(env, log)
        again = _wait_for(lambda: client(mine), 120, "the app to start again")
        assert again.predict(job["job_id"], api_name="/job")[1]["status"] == "succeeded"
        with pytest.raises(Exception, match="No job"):
            client(other).predict(job["job_id"], api_name="/job")
        assert httpx.get(f"{url}/vace/file/{job['job_id']}/result.mp4", headers=mine, timeout=30).status_code == 200
    finally:
        app.kill()
        app.wait(30)
