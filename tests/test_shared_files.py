"""Files handed to one owner through Gradio's file route (API results, inputs restored from History, input
bundles) are refused by URL to everyone else, against the real app: gradio_client clients with different owner
cookies, and two Chromium contexts."""

from __future__ import annotations

import httpx
import pytest
from browser_helpers import chromium, history_card
from gradio_client import Client, handle_file
from test_shared_browser import cookie, visitor

SETTINGS = {"prompt": "a red ball", "size": "128x128", "num_frames": 9, "steps": 2, "seed": 6}
OWNER_A, OWNER_B = "a7" * 16, "b8" * 16


def _as(url: str, owner: str | None, **options) -> Client:
    headers = {"Cookie": f"vace_owner={owner}"} if owner else None
    return Client(url, verbose=False, headers=headers, **options)


def _fetch(url: str, file_url: str, owner: str | None) -> httpx.Response:
    cookies = {"vace_owner": owner} if owner else None
    return httpx.get(file_url if file_url.startswith("http") else url + file_url.lstrip("/"), cookies=cookies,
                     timeout=30)


def test_an_api_result_downloads_for_its_owner_and_is_refused_to_others_by_url(running_app, media_dir):
    url = running_app.url
    downloaded, job = _as(url, OWNER_A).predict(handle_file(str(media_dir / "ref.png")), None, None, "subject",
                                                SETTINGS, api_name="/reference")
    assert job["status"] == "succeeded"
    with open(downloaded, "rb") as file:  # gradio_client still downloads the owner's result
        assert file.read(8)[4:8] == b"ftyp"

    for name, args in (("/job", (job["job_id"],)),
                       ("/reference", (None, None, None, "subject", SETTINGS))):
        result, _ = _as(url, OWNER_A, download_files=False).predict(*args, api_name=name)
        assert "vace-owned" in result["path"] and str(running_app.services.config.output_dir) not in result["path"]
        file_url = f"gradio_api/file={result['path']}"
        mine = _fetch(url, file_url, OWNER_A)
        assert mine.status_code == 200 and mine.content[4:8] == b"ftyp"
        assert _fetch(url, file_url, OWNER_B).status_code == 404  # the same URL from another owner
        assert _fetch(url, file_url, None).status_code == 404
        if result.get("url"):
            assert _fetch(url, result["url"], OWNER_B).status_code == 404
            assert _fetch(url, result["url"], OWNER_A).status_code == 200


def test_a_client_without_cookies_gets_an_owner_it_shows_when_it_downloads(running_app):
    url, store = running_app.url, running_app.services.store
    client = _as(url, None)
    given = client.cookies.get("vace_owner")
    assert given and len(given) == 32  # handed out with the first answer (/config) and kept by gradio_client
    downloaded, job = client.predict(None, None, None, "subject", SETTINGS, api_name="/reference")
    with open(downloaded, "rb") as file:
        assert file.read(8)[4:8] == b"ftyp"
    from vace_ui.ui.identity import owner_of

    assert store.get(job["job_id"]).owner == owner_of(None, given, None)
    other = _as(url, None)
    assert other.cookies["vace_owner"] != given
    with pytest.raises(Exception, match=f"No job {job['job_id']}"):
        other.predict(job["job_id"], api_name="/job")


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def _restore(page, job_id: str) -> None:
    page.get_by_role("tab", name="History").click()
    page.locator("#history-refresh").click()
    card = history_card(page, job_id)
    card.wait_for(timeout=30_000)
    card.click()
    page.locator("#history-video video").wait_for(timeout=30_000)
    page.locator("#history-restore").click()


def test_restored_inputs_and_the_input_bundle_are_served_to_their_owner_only(browser, running_app, media_dir):
    url = running_app.url
    context_a, page_a = visitor(browser, url)
    context_b, _ = visitor(browser, url)
    try:
        owner_a = cookie(context_a)
        _, job = _as(url, owner_a).predict(handle_file(str(media_dir / "square.mp4")), "gray", 1.0,
                                           handle_file(str(media_dir / "ref.png")), SETTINGS, api_name="/repaint")
        assert job["status"] == "succeeded"
        _restore(page_a, job["job_id"])
        source = page_a.locator("#tab-repaint video").first
        source.wait_for(timeout=30_000)
        src = source.get_attribute("src")
        image = page_a.locator("#tab-repaint img[src*='vace-owned']").first
        image.wait_for(timeout=30_000)
        restored = [src, image.get_attribute("src")]
        for link in restored:
            assert link and "vace-owned" in link, restored
            absolute = link if link.startswith("http") else url + link.lstrip("/")
            assert context_a.request.get(absolute).status == 200
            assert context_b.request.get(absolute).status == 404  # A's restored input, from B's browser
            assert httpx.get(absolute, timeout=30).status_code == 404

        page_a.locator("#repaint-bundle").click()
        download_button = page_a.locator("#repaint-bundle-file")
        download_button.wait_for(timeout=60_000)
        with page_a.expect_download(timeout=60_000) as download:
            download_button.click()
        href = download.value.url
        absolute = href if href.startswith("http") else url + href.lstrip("/")
        mine = context_a.request.get(absolute)
        assert "vace-owned" in href and mine.status == 200 and mine.body()[:2] == b"PK"
        assert context_b.request.get(absolute).status == 404
    finally:
        context_a.close()
        context_b.close()
