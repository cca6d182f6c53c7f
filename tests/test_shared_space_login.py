"""A Space with `hf_oauth: true`: "Sign in with Hugging Face" (gr.LoginButton) and jobs that belong to the
signed-in user name. `python app.py` runs as on a Space (SYSTEM, SPACE_ID and the OAUTH_* variables a Space sets), with
OPENID_PROVIDER_URL pointing at a fake OpenID provider (tests/fakes/openid_fake.py), so Gradio's real OAuth
routes run the whole login: authorize, callback, token exchange, ID token check."""

from __future__ import annotations

import os

import httpx
import pytest
from browser_helpers import chromium
from fakes.openid_fake import FakeOpenID
from gradio_client import Client
from test_remote_app import _free_port, _start_app, _wait_for
from test_shared_browser import history_text

CLIENT_ID, CLIENT_SECRET = "fake-space-client", "fake-space-secret-93c1"
SETTINGS = {"prompt": "a kite", "size": "128x128", "num_frames": 9, "steps": 2, "seed": 8, "backend": "local"}


def _sign_in(url: str, user: str) -> str:
    """The user's Gradio `session` cookie after the real login, followed by hand: Gradio marks the cookie Secure
    (a Space is https), which an http client would not send back to http://127.0.0.1 itself."""
    with httpx.Client(timeout=30) as http:
        start = http.get(url + "/login/huggingface", params={"_target_url": "/"})
        assert start.status_code in (302, 307), start.text
        authorized = http.get(start.headers["location"] + "&" + f"user={user}")
        assert authorized.status_code == 302, authorized.text
        back = http.get(authorized.headers["location"], headers={"Cookie": f"session={start.cookies['session']}"})
        assert back.status_code in (302, 307), back.text
        return back.cookies["session"]


def _client(url: str, session: str | None = None, **options):
    try:
        return Client(url, verbose=False, httpx_kwargs={"cookies": {"session": session}} if session else {},
                      **options)
    except Exception:
        return None


@pytest.fixture(scope="module")
def space(tmp_path_factory, tiny_models_dir):
    tmp = tmp_path_factory.mktemp("space")
    port, log = _free_port(), tmp / "app.log"
    url = f"http://127.0.0.1:{port}"
    with FakeOpenID(CLIENT_ID, CLIENT_SECRET) as provider:
        env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "VACE_MODEL": "tiny-random",
               "VACE_MODELS_DIR": str(tiny_models_dir), "VACE_OUTPUT_DIR": str(tmp / "outputs"),
               "VACE_SAM_MODEL": "tiny-random", "VACE_ADMIN_USERS": "carol", "SYSTEM": "spaces",
               "SPACE_ID": "someone/vace-studio",
               "OAUTH_CLIENT_ID": CLIENT_ID, "OAUTH_CLIENT_SECRET": CLIENT_SECRET, "OAUTH_SCOPES": "openid profile",
               "OPENID_PROVIDER_URL": provider.root}
        app = _start_app(env, log)
        try:
            _wait_for(lambda: _client(url), 120, "the app to start")
            yield url, provider, log
        finally:
            app.kill()
            app.wait(30)


def test_signed_in_users_own_their_jobs_and_results(space):
    url, provider, log = space
    sessions = {user: _sign_in(url, user) for user in ("alice", "bob", "carol")}
    assert provider.tokens_issued == ["alice", "bob", "carol"]  # three real token exchanges with the secret
    alice, bob, carol = (_client(url, sessions[user]) for user in ("alice", "bob", "carol"))
    downloaded, job = alice.predict(None, None, None, "subject", SETTINGS, api_name="/reference")
    assert job["status"] == "succeeded"
    with open(downloaded, "rb") as file:
        assert file.read(8)[4:8] == b"ftyp"  # gradio_client downloads the owner's result
    job_id = job["job_id"]
    assert alice.predict(job_id, api_name="/job")[1]["job_id"] == job_id
    assert carol.predict(job_id, api_name="/job")[1]["job_id"] == job_id  # VACE_ADMIN_USERS=carol
    with pytest.raises(Exception, match=f"No job {job_id}"):
        bob.predict(job_id, api_name="/job")
    anonymous = _client(url)  # not signed in: owned by its browser id
    with pytest.raises(Exception, match=f"No job {job_id}"):
        anonymous.predict(job_id, api_name="/job")
    # a signed-in user is the same owner from a fresh client (another browser, say): the owner is the user name
    again = _client(url, sessions["alice"])
    assert again.predict(job_id, api_name="/job")[1]["job_id"] == job_id

    result, _ = _client(url, sessions["alice"], download_files=False).predict(job_id, api_name="/job")
    file_url = f"{url}/gradio_api/file={result['path']}"
    for user, status in (("alice", 200), ("carol", 200), ("bob", 404)):
        assert httpx.get(file_url, cookies={"session": sessions[user]}, timeout=30).status_code == status, user
    assert httpx.get(file_url, timeout=30).status_code == 404
    route = f"{url}/vace/file/{job_id}/result.mp4"
    assert httpx.get(route, cookies={"session": sessions["alice"]}, timeout=30).status_code == 200
    assert httpx.get(route, cookies={"session": sessions["bob"]}, timeout=30).status_code == 404
    assert CLIENT_SECRET not in log.read_text(errors="replace")


def test_in_the_browser_sign_in_shows_the_user_and_history_shows_only_their_jobs(space):
    url, provider, _ = space
    owners = {}
    for user in ("dora", "erin"):
        _, job = _client(url, _sign_in(url, user)).predict(None, None, None, "subject", SETTINGS,
                                                            api_name="/reference")
        owners[user] = job["job_id"]
    with chromium() as browser:
        pages = {}
        for user in ("dora", "erin"):
            context = browser.new_context(viewport={"width": 1400, "height": 1100})
            page = context.new_page()
            page.goto(url)
            button = page.locator("#hf-login")
            button.wait_for(timeout=60_000)
            assert "Sign in with Hugging Face" in button.inner_text()
            provider.next_user = user
            button.click()  # Gradio's LoginButton: /login/huggingface -> the provider -> /login/callback -> /
            page.get_by_text(f"Logout ({user})").wait_for(timeout=60_000)
            pages[user] = page
        for user, other in (("dora", "erin"), ("erin", "dora")):
            table = history_text(pages[user], owners[user])
            assert owners[user] in table and owners[other] not in table
