"""A long (3-window) video through the API (gradio_client) and through the Outpaint and Extend tabs in real Chromium,
on the tiny model: the preview shows the window plan, the result has every frame and records the windows. An
extension longer than one window is the clip's kept frames plus the new frames, in chained windows."""

from __future__ import annotations

from browser_helpers import ARTIFACTS, CHROMIUM, FLAGS, set_small_settings
from gradio_client import Client, handle_file

from vace_ui.media.video import probe_video, read_metadata

LONG = {"size": "128x128", "num_frames": 17, "steps": 2, "seed": 3, "window_frames": 9, "window_overlap": 4}


def test_api_repaint_in_three_windows_with_a_prompt_per_window(running_app, media_dir):
    client = Client(running_app.url, verbose=False)
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), "gray", 1.0, None,
                               {**LONG, "prompt": ["a dog runs", "a dog jumps", "a dog sits"]}, api_name="/repaint")
    assert probe_video(path).frame_count == 17
    assert job["notes"][0].startswith("3 windows: 0-8, 5-13, 8-16")
    assert "one prompt per window: a dog runs | a dog jumps | a dog sits" in job["notes"]
    assert read_metadata(path)["windows"]["spans"] == [[0, 8], [5, 13], [8, 16]]


def test_outpaint_tab_previews_the_plan_and_generates_three_windows(running_app, media_dir):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(running_app.url)
        page.get_by_role("tab", name="Outpaint").click()
        tab = page.locator("#tab-outpaint")
        page.locator("#outpaint-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
        page.locator("#outpaint-video video").wait_for(timeout=60_000)
        tab.get_by_label("number input for Left").fill("1.25")
        tab.get_by_label("number input for Left").press("Tab")
        tab.get_by_label("Prompt", exact=True).fill("a wider street")
        set_small_settings(page, "outpaint", frames="17")
        tab.get_by_text("Long video (sliding windows)").click()
        for label, value in (("Window (frames, 4n+1)", "9"), ("Overlap (frames kept from the previous window)", "4")):
            tab.get_by_label(label).fill(value)
            tab.get_by_label(label).press("Tab")
        page.locator("#outpaint-preview").click()
        status = page.locator("#outpaint-status")
        status.get_by_text("3 windows: 0-8, 5-13, 8-16").wait_for(timeout=60_000)
        page.locator("#outpaint-generate").click()
        page.locator("#outpaint-result video[data-role=after]").wait_for(timeout=300_000)
        assert "succeeded" in status.inner_text()
        browser.close()
    jobs = [job for job in running_app.services.store.list() if job.capability == "outpaint"]
    assert jobs[0].status.value == "succeeded" and jobs[0].info["windows"] == 3
    assert probe_video(jobs[0].output_path).frame_count == 17


# square.mp4 is 40 frames; a 9-frame window keeps the clip's last 4 (leaving 5 to generate), then 13 new frames
EXTEND = {**LONG, "num_frames": 13}


def test_api_extension_after_and_before_a_clip_in_three_windows(running_app, media_dir):
    client = Client(running_app.url, verbose=False)
    clip = handle_file(str(media_dir / "square.mp4"))
    path, job = client.predict(clip, None, None, None, {**EXTEND, "prompt": "the square drives on"},
                               api_name="/extend")
    assert probe_video(path).frame_count == 4 + 13
    assert job["notes"][0].startswith("3 windows: 0-8, 5-13, 8-16")
    assert any("13 new frames after 4 kept; 17 frames in all" in note for note in job["notes"])
    assert read_metadata(path)["windows"]["spans"] == [[0, 8], [5, 13], [8, 16]]
    path, job = client.predict(None, clip, None, None, {**EXTEND, "prompt": "the square arrives"},
                               api_name="/extend")
    assert probe_video(path).frame_count == 17
    windows = read_metadata(path)["windows"]
    assert windows["reverse"] is True and windows["spans"] == [[8, 16], [3, 11], [0, 8]]
    assert "generated from the end backwards" in job["notes"][0]


def test_extend_tab_previews_and_generates_an_extension_longer_than_one_window(running_app, media_dir):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(running_app.url)
        page.get_by_role("tab", name="Extend").click()
        tab = page.locator("#tab-extend")
        page.locator("#extend-first-clip input[type=file]").set_input_files(str(media_dir / "square.mp4"))
        page.locator("#extend-first-clip video").wait_for(timeout=60_000)
        tab.get_by_label("Prompt", exact=True).fill("the square drives on")
        set_small_settings(page, "extend", frames="13")
        tab.get_by_text("Long video (sliding windows)").click()
        for label, value in (("Window (frames, 4n+1)", "9"), ("Overlap (frames kept from the previous window)", "4")):
            tab.get_by_label(label).fill(value)
            tab.get_by_label(label).press("Tab")
        page.locator("#extend-preview").click()
        status = page.locator("#extend-status")
        try:
            status.get_by_text("3 windows: 0-8, 5-13, 8-16").wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "long_extend_preview.png"), full_page=True)
        page.locator("#extend-generate").click()
        page.locator("#extend-result video[data-role=after]").wait_for(timeout=300_000)
        assert "succeeded" in status.inner_text()
        browser.close()
    jobs = [job for job in running_app.services.store.list() if job.capability == "extend"]
    assert jobs[0].status.value == "succeeded" and jobs[0].info["windows"] == 3
    assert probe_video(jobs[0].output_path).frame_count == 17
