"""A person's path through the Edit tab in real Chromium: upload, paint, generate, see the result and History."""

from __future__ import annotations

import pytest
from browser_helpers import ARTIFACTS, chromium, history_card, set_small_settings


@pytest.fixture(scope="module")
def page(running_app):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(running_app.url)
        page.get_by_role("tab", name="Edit").wait_for(timeout=60_000)
        yield page


def test_edit_upload_paint_generate_and_history(page, media_dir, running_app):
    ARTIFACTS.mkdir(exist_ok=True)
    page.get_by_role("tab", name="Edit").click()
    page.locator("#edit-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
    canvas = page.locator("#edit-view canvas.vfv-strokes")
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    start_x, y = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5
    page.mouse.move(start_x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(start_x + step * box["width"] * 0.03, y, steps=2)
    page.mouse.up()
    page.locator("#tab-edit").get_by_label("Prompt", exact=True).fill("a red ball rolls across the table")
    set_small_settings(page, "edit")
    page.locator("#edit-generate").click()
    result = page.locator("#edit-result video[data-role=after]")
    result.wait_for(timeout=240_000)
    status = page.locator("#edit-status")
    assert "succeeded" in status.inner_text()
    page.screenshot(path=str(ARTIFACTS / "edit_result.png"), full_page=True)

    jobs = running_app.services.store.list()
    edit_jobs = [job for job in jobs if job.capability == "edit" and job.status.value == "succeeded"]
    assert edit_jobs, "the generated job is in the store"
    keyframe = edit_jobs[0].request["keyframes"][0]
    from vace_ui.media.images import read_mask_image

    painted = read_mask_image(keyframe["path"])
    assert painted.shape == (128, 160) and 0 < (painted > 0).mean() < 0.5  # the stroke, at the video's size

    page.get_by_role("tab", name="History").click()  # the new job is there without pressing Refresh
    cell = history_card(page, edit_jobs[0].id)
    cell.wait_for(timeout=30_000)
    cell.click()
    page.locator("#history-video video").wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "history.png"), full_page=True)
    page.locator("#history-restore").click()
    prompt = page.locator("#tab-edit").get_by_label("Prompt", exact=True)
    prompt.wait_for(timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('#tab-edit textarea')]"
                           ".some(t => t.value === 'a red ball rolls across the table')", timeout=30_000)
    assert page.locator("#tab-edit").is_visible()
    page.locator("#edit-status").get_by_text("Restored from History").wait_for(timeout=30_000)
    assert edit_jobs[0].id in page.locator("#edit-status").inner_text()  # the job's status and its result
    page.locator("#edit-result video[data-role=after]").wait_for(timeout=30_000)


def test_bad_input_shows_a_clear_message_in_the_page(page):
    page.get_by_role("tab", name="Outpaint").click()
    page.locator("#tab-outpaint").get_by_label("Prompt", exact=True).fill("wider view")
    page.locator("#outpaint-generate").click()
    toast = page.locator('[data-testid="toast-text"]').get_by_text("video: is missing")
    toast.wait_for(timeout=30_000)  # a warning toast in words; the status line keeps what it showed
    assert "Traceback" not in page.locator("#outpaint-status").inner_text()


def test_click_and_paint_keyframes_track_and_preview_overlay(page, media_dir, running_app):
    page.get_by_role("tab", name="Edit").click()
    clear_video = page.locator("#edit-video").get_by_role("button", name="Clear")
    if clear_video.count():
        clear_video.first.click()
    page.locator("#edit-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
    page.locator("#edit-view canvas.vfv-strokes").wait_for(timeout=60_000)
    frame_slider = page.locator("#edit-frame input[type=range]")
    frame_number = page.locator("#edit-frame input[type=number]")
    frame_slider.focus()
    for _ in range(20):  # arrow keys move the slider one frame each, as a person would
        if frame_number.input_value() == "10":
            break
        frame_slider.press("ArrowRight")
        page.wait_for_timeout(150)
    assert frame_number.input_value() == "10"
    page.locator("#edit-view .vfv[data-index='10']").wait_for(timeout=30_000)

    page.locator("#edit-tool").get_by_text("Click: add").click()
    page.locator("#edit-view canvas.vfv-strokes").click()  # the centre of the shown frame
    for _ in range(120):
        if running_app.services.sam._clicks is not None and running_app.services.sam._clicks._predictor is not None:
            break
        page.wait_for_timeout(500)
    assert running_app.services.sam._clicks._predictor is not None  # the click reached segment-anything
    page.locator("#edit-view img.vfv-mask[data-tint='pending']").wait_for(timeout=60_000)  # shown, not kept yet

    page.locator("#edit-tool").get_by_text("Brush").click()
    canvas = page.locator("#edit-view canvas.vfv-strokes").bounding_box()
    x, y = canvas["x"] + canvas["width"] * 0.55, canvas["y"] + canvas["height"] * 0.45
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + canvas["width"] * 0.2, y + canvas["height"] * 0.1, steps=8)
    page.mouse.up()
    page.locator("#edit-keep").click()
    page.locator("#edit-keyframes").get_by_text("frame 10").wait_for(timeout=30_000)

    page.locator("#edit-mask-type").get_by_text("Tracking", exact=True).click()
    page.locator("#tab-edit").get_by_label("Prompt", exact=True).fill("a bird")
    status = page.locator("#edit-status")
    set_small_settings(page, "edit", frames="9")  # 9 output frames use source frames 0-8 only
    page.locator("#edit-preview").click()
    toast = page.locator('[data-testid="toast-text"]').get_by_text("lies outside the part of the video used")
    toast.wait_for(timeout=60_000)  # a warning toast in words; the status line keeps what it showed
    assert "source frame 10" in toast.inner_text()  # said, not silently moved to another frame
    set_small_settings(page, "edit", frames="17")
    page.locator("#edit-preview").click()
    page.locator("#edit-quick-preview img").first.wait_for(timeout=120_000)  # first, middle, last frame
    assert "tracked through the clip from keyframe(s)" in status.inner_text()
    page.locator("#edit-full-preview").click()  # the whole model input, one click away
    page.locator("#edit-preview-video video").wait_for(timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "edit_tracking_preview.png"), full_page=True)


def test_reference_cut_out_with_a_click(page, media_dir):
    page.get_by_role("tab", name="Reference").click()
    page.locator("#tab-reference").get_by_text("Cut a subject out of a photo").click()
    page.locator("#reference-cut-photo input[type=file]").set_input_files(str(media_dir / "ref.png"))
    photo = page.locator("#reference-cut-photo img")
    photo.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    photo.click()
    page.locator("#reference-cut-result img").wait_for(timeout=60_000)
    page.locator("#reference-cut-use").click()
    page.locator("#reference-image-0 img").wait_for(timeout=30_000)


def test_backend_choice_explains_what_it_ignores_and_distill_preset_fills_settings(page):
    page.get_by_role("tab", name="Repaint").click()
    tab = page.locator("#tab-repaint")
    backend = page.locator("#repaint-backend input")
    backend.click()
    page.get_by_role("option", name="DashScope").click()
    note = page.locator("#repaint-backend-note")
    note.get_by_text("Not used by this backend").wait_for(timeout=30_000)
    assert "API key missing" in note.inner_text() and "guidance_scale" in note.inner_text()
    tab.get_by_text("Generation settings").click()
    assert tab.get_by_label("Prompt", exact=True).is_visible()
    assert not tab.get_by_label("number input for Steps").is_visible()  # DashScope has no steps: hidden
    tab.get_by_text("Generation settings").click()
    backend.click()
    page.get_by_role("option", name="Local GPU (diffusers)").click()
    tab.get_by_text("Local speed and memory").click()
    preset = tab.get_by_label("Step-distilled LoRA preset")
    preset.click()
    page.get_by_role("option").filter(has_text="lightx2v").click()
    tab.get_by_label("Its LoRA file (path or Hugging Face id)").fill("loras/lightx2v.safetensors")
    tab.get_by_role("button", name="Apply preset").click()
    tab.get_by_text("lightx2v StepDistill").wait_for(timeout=30_000)
    tab.get_by_text("Generation settings").click()
    assert tab.get_by_label("number input for Steps").input_value() == "4"
    assert (
        "loras/lightx2v.safetensors"
        in tab.get_by_label("LoRAs (up to 3: file path or Hugging Face id, one per line)").input_value()
    )


PROVIDER_RUNS = {  # provider: (size, frames, use a reference image) within each provider's documented limits
    "dashscope": ("1280x720", "17", True), "wavespeed": ("832x480", "81", False),
    "replicate": ("832x480", "17", False), "comfyui": ("832x480", "17", False), "jiekou": ("832x480", "81", False),
}


@pytest.mark.parametrize("provider", list(PROVIDER_RUNS))
def test_hosted_backend_from_the_browser_to_history(page, running_app, media_dir, provider):
    from fakes.harness import KEY
    from test_remote_api_matrix import FAKES

    size, frames, with_reference = PROVIDER_RUNS[provider]
    backend = running_app.services.backends[provider]
    with FAKES[provider]() as fake:
        backend.poll_interval = 0.02
        page.reload()
        page.get_by_role("tab", name="Settings").click()
        page.locator(f"#settings-{provider}-key input").fill(KEY)
        page.locator(f"#settings-{provider}-url textarea").fill(fake.base_url)
        page.locator("#settings-apply").click()
        told = f"ready ({fake.base_url})" if provider == "comfyui" else f"key set, not checked ({fake.base_url})"
        page.locator("#settings-status").get_by_text(told).wait_for(timeout=30_000)
        assert page.locator(f"#settings-{provider}-key input").input_value() == ""  # the key is not echoed
        try:
            page.get_by_role("tab", name="Reference").click()
            if with_reference:
                page.locator("#reference-image-0 input[type=file]").set_input_files(str(media_dir / "ref.png"))
                page.locator("#reference-image-0 img").wait_for(timeout=30_000)
            page.locator("#reference-backend input").click()
            page.get_by_role("option", name=backend.label, exact=True).click()
            page.locator("#tab-reference").get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
            set_small_settings(page, "reference", size, frames)
            page.locator("#reference-generate").click()
            page.locator("#reference-status").get_by_text("succeeded").wait_for(timeout=120_000)
            page.locator("#reference-result video").wait_for(timeout=30_000)
            page.get_by_role("tab", name="History").click()
            job = next(j for j in running_app.services.store.list() if j.backend == provider)
            cell = history_card(page, job.id)
            cell.wait_for(timeout=30_000)
            cell.click()
            page.locator("#history-video video").wait_for(timeout=30_000)
            assert job.status.value == "succeeded" and fake.count("submit") == 1
        finally:
            backend.set_api_key(None)
            backend.set_base_url(None)
    if provider == "comfyui":
        page.screenshot(path=str(ARTIFACTS / "hosted_history.png"), full_page=True)
