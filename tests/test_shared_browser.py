"""Two visitors in two real Chromium contexts against one running app: jobs, results and keys stay theirs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from browser_helpers import chromium, history_card, set_small_settings
from fakes.replicate_fake import FakeReplicate
from gradio_client import Client

OPERATOR_KEY = "sk-operator-ENVKEY-31c8d0a7"
KEY_A = "sk-visitor-A-5e1f0b2c9d"
KEY_B = "sk-visitor-B-77a4c3e6f1"
JOB_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")


class CaptureReplicate(FakeReplicate):
    """The fake provider, recording every request's headers and body as they arrived."""

    def __init__(self, **kwargs):
        super().__init__(key=None, **kwargs)
        self.raw: list[str] = []

    def dispatch(self, request):
        with self.lock:
            self.raw.append(f"{request.method} {request.path}\n{request.headers}\n{request.body!r}")
        return super().dispatch(request)

    def auth_headers(self) -> list[str]:
        return [line for entry in self.raw for line in entry.splitlines() if line.lower().startswith("authorization")]


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def visitor(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(url)
    page.get_by_role("tab", name="Reference").wait_for(timeout=60_000)
    return context, page


def cookie(context) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "vace_owner")


def generate(page, prompt: str, backend: str = "Local GPU (diffusers)", size: str = "128x128",
             frames: str = "9") -> tuple[str, str]:
    """Generate on the Reference tab (text only); (final status text, job id)."""
    page.get_by_role("tab", name="Reference").click()
    page.locator("#reference-backend input").click()
    page.get_by_role("option", name=backend, exact=True).click()
    page.locator("#tab-reference").get_by_label("Prompt", exact=True).fill(prompt)
    set_small_settings(page, "reference", size, frames)
    status = page.locator("#reference-status")
    old_ids = set(JOB_ID.findall(status.inner_text()))
    page.locator("#reference-generate").click()
    for _ in range(900):  # the new job's final status (a refused request ends with no job id at all)
        text = status.inner_text()
        new_ids = set(JOB_ID.findall(text)) - old_ids
        if new_ids and "queued" not in text and re.search(r"succeeded|failed|cancelled", text):
            return text, new_ids.pop()
        if not new_ids and text.strip().startswith("❌") and not old_ids & set(JOB_ID.findall(text)):
            return text, ""
        page.wait_for_timeout(200)
    raise AssertionError(f"no final status; last: {text}")


def history_text(page, expect: str) -> str:
    """The History table once it lists `expect` (the visitor's own job), or as it is after 30 s."""
    page.get_by_role("tab", name="History").click()
    page.locator("#history-refresh").click()
    table = page.locator("#history-gallery")
    for _ in range(150):
        if expect in table.inner_text():
            break
        page.wait_for_timeout(200)
    return table.inner_text()


def settings(page, key: str = "", url: str | None = None, forget: bool = False) -> str:
    page.get_by_role("tab", name="Settings").click()
    if forget:
        page.locator("#settings-forget").click()
    else:
        if key:
            page.locator("#settings-replicate-key input").fill(key)
        if url is not None:
            page.locator("#settings-replicate-url textarea").fill(url)
        page.locator("#settings-apply").click()
    page.wait_for_timeout(1000)
    return page.locator("#settings-status").inner_text()


def test_a_visitor_sees_fetches_and_restores_only_their_own_jobs(browser, running_app):
    url, store = running_app.url, running_app.services.store
    context_a, page_a = visitor(browser, url)
    context_b, page_b = visitor(browser, url)
    try:
        status_a, job_a = generate(page_a, "a lighthouse at dusk")
        status_b, job_b = generate(page_b, "a fox in snow")
        assert "succeeded" in status_a and "succeeded" in status_b and job_a != job_b
        assert store.get(job_a).owner != store.get(job_b).owner

        src = page_a.locator("#reference-result video").get_attribute("src")
        assert src and job_a in src and not src.startswith("/gradio_api/file=")
        mine = context_a.request.get(url + src)
        assert mine.status == 200 and mine.body()[4:8] == b"ftyp"
        assert context_b.request.get(url + src).status == 404  # A's own URL, from B's browser
        direct = f"{url}gradio_api/file={store.get(job_a).output_path}"
        assert context_b.request.get(direct).status == 403  # the job folder is not Gradio's to serve
        assert context_a.request.get(direct).status == 403

        table_a, table_b = history_text(page_a, job_a), history_text(page_b, job_b)
        assert job_a in table_a and job_b not in table_a
        assert job_b in table_b and job_a not in table_b

        as_a = Client(url, verbose=False, headers={"Cookie": f"vace_owner={cookie(context_a)}"})
        as_b = Client(url, verbose=False, headers={"Cookie": f"vace_owner={cookie(context_b)}"})
        assert as_a.predict(job_a, api_name="/job")[1]["job_id"] == job_a
        with pytest.raises(Exception, match=f"No job {job_a}"):
            as_b.predict(job_a, api_name="/job")

        # B's History offers nothing of A's to select or restore; A's survives a reload
        history_card(page_b, job_b).click()
        page_b.locator("#history-video video").wait_for(timeout=30_000)
        assert job_b in page_b.locator("#history-video video").get_attribute("src")
        page_a.reload()
        page_a.get_by_role("tab", name="Reference").wait_for(timeout=60_000)
        assert job_a in history_text(page_a, job_a)
    finally:
        context_a.close()
        context_b.close()


def test_keys_stay_with_their_visitor_and_the_operator_key_never_leaves_for_a_visitor_url(
        browser, running_app, caplog):
    caplog.set_level(logging.DEBUG)
    backend = running_app.services.backends["replicate"]
    url = running_app.url
    with CaptureReplicate(polls_to_finish=1) as operator, CaptureReplicate(polls_to_finish=1) as capture:
        backend.set_base_url(operator.base_url)  # the operator's environment settings
        backend.set_api_key(OPERATOR_KEY)
        backend.poll_interval = 0.02
        context_a, page_a = visitor(browser, url)
        context_b, page_b = visitor(browser, url)
        try:
            # B points Replicate at a capture server without a key of their own: nothing is sent there
            assert "typed in Settings" in settings(page_b, url=capture.base_url)
            status, _ = generate(page_b, "a red kite", "Replicate", "832x480", "17")
            assert "typed in Settings" in status and capture.raw == []
            # with B's own key, B's job goes there, with B's key only
            shown = settings(page_b, key=KEY_B)  # Replicate has no cheap check: "not checked" until a job reaches it
            assert f"key set, not checked ({capture.base_url})" in shown and "(with your key)" in shown
            status, job_b = generate(page_b, "a red kite", "Replicate", "832x480", "17")
            assert "succeeded" in status and capture.count("submit") == 1
            assert set(capture.auth_headers()) == {f"Authorization: Bearer {KEY_B}"}
            # A types a key: A's job uses it at the operator's URL; B's next job (keys forgotten) uses the operator's
            settings(page_a, key=KEY_A)
            status, job_a = generate(page_a, "a blue kite", "Replicate", "832x480", "17")
            assert "succeeded" in status
            seen_by_a = len(operator.raw)
            assert {h for h in operator.auth_headers()} == {f"Authorization: Bearer {KEY_A}"}
            settings(page_b, forget=True)
            status, job_b2 = generate(page_b, "a green kite", "Replicate", "832x480", "17")
            assert "succeeded" in status
            later = "\n".join(operator.raw[seen_by_a:])
            assert f"Bearer {OPERATOR_KEY}" in later and KEY_A not in later and KEY_B not in later
            assert not any(OPERATOR_KEY in entry for entry in capture.raw)  # never, in any header or body
        finally:
            context_a.close()
            context_b.close()
            backend.set_api_key(None)
            backend.set_base_url(None)
    output = Path(running_app.services.config.output_dir)
    for file in output.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            for key in (KEY_A, KEY_B, OPERATOR_KEY):
                assert key.encode() not in data, f"a key is in {file.name}"
    for key in (KEY_A, KEY_B, OPERATOR_KEY):
        assert key not in caplog.text
    for job in (job_a, job_b, job_b2):
        assert running_app.services.store.get(job).status.value == "succeeded"
