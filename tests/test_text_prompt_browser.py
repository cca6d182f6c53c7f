"""SAM 3 text prompts in real Chromium, as a person uses them: on the Edit tab, open "Or name it", type what to
mask and press Find (SAM 3's masks on every frame at once, a kept frame correcting them from there) or
Generate on the tiny model (the job records mask_text; the exported input bundle's mask is binary and
non-empty on every frame, the tiny random build's thresholds being 0); on the Reference tab, give the photo, type a
name and press "Cut out by name" (the cut-out appears, the subject on white). With the SAM 3 weights absent, the
Edit job fails in words on its status line and "Cut out by name" gives a warning toast, both naming
models/trackers/sam3, with no traceback or "Error" badge."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from browser_helpers import ARTIFACTS, ERROR_BADGES, Tracebacks, chromium, open_tab, set_small_settings
from conftest import moving_square_video
from PIL import Image

TOAST = '[data-testid="toast-text"]'


class App:
    def __init__(self, demo, url, services):
        self.demo, self.url, self.services = demo, url, services


@pytest.fixture(scope="module")
def no_sam3_app(tmp_path_factory, tiny_models_dir):
    """The real app with the tiny model but learned trackers looked for in a models folder without SAM 3."""
    from vace_ui.backends.tiny_model import ensure_tiny_model
    from vace_ui.config import AppConfig
    from vace_ui.services import create_services
    from vace_ui.ui.app import build_app, launch_options

    models = tmp_path_factory.mktemp("no-sam3") / "models"
    ensure_tiny_model(models / "tiny-random")
    config = AppConfig(model="tiny-random", models_dir=models, sam_model="tiny-random", tracker_model="auto",
                       output_dir=tmp_path_factory.mktemp("outputs-no-sam3"), device="cpu")
    services = create_services(config)
    demo = build_app(services)
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                **launch_options(services))
    yield App(demo, demo.local_url, services)
    demo.close()


@pytest.fixture(scope="module")
def browser():
    watch = Tracebacks()
    logging.getLogger().addHandler(watch)
    with chromium() as launched:
        launched.watch = watch
        yield launched
    logging.getLogger().removeHandler(watch)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from vace_ui.media.images import write_png

    path = tmp_path_factory.mktemp("photo") / "photo.png"
    write_png(path, moving_square_video(1)[0])  # a textured background (never white) with a yellow square
    return path


def new_page(browser, url: str, tab: str):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(url)
    page.get_by_role("tab").first.wait_for(timeout=60_000)  # the app has rendered
    open_tab(page, tab)
    return page


def assert_clean(page, watch, logged: int):
    assert page.evaluate(ERROR_BADGES) == 0
    assert [r.getMessage() for r in watch.records[logged:]] == []


def edit_with_text(page, media_dir, text: str):
    """Upload the clip, open the text accordion, type `text`, small settings, press Generate."""
    page.locator("#edit-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
    page.locator("#edit-view .vfv[data-index='0'] img.vfv-frame").wait_for(timeout=60_000)
    box = page.locator("#edit-mask-text textarea")
    if not box.is_visible():
        page.locator("#tab-edit").get_by_text("Or name it (SAM 3 text prompt)").click()
    box.fill(text)
    page.locator("#tab-edit").get_by_label("Prompt", exact=True).fill("a blue cube")
    set_small_settings(page, "edit", frames="9")
    page.locator("#edit-generate").click()


def test_edit_text_prompt_generates_and_its_mask_covers_every_frame(browser, running_app, media_dir):
    ARTIFACTS.mkdir(exist_ok=True)
    logged = len(browser.watch.records)
    page = new_page(browser, running_app.url, "Edit")
    edit_with_text(page, media_dir, "the square")
    page.locator("#edit-result video[data-role=after]").wait_for(timeout=300_000)
    job = next(job for job in running_app.services.store.list()
               if job.capability == "edit" and job.request.get("mask_text") == "the square")
    assert job.status.value == "succeeded"
    assert not job.request.get("keyframes")  # the text alone made the mask
    assert any("SAM 3 text prompt 'the square'" in note for note in job.notes)

    # The compiled mask: the job's own input copies (its folder) compiled with the app's own context
    from vace_ui.core.compile import compile_request
    from vace_ui.core.requests import request_from_dict
    from vace_ui.core.settings import GenerationSettings

    services = running_app.services
    context = services.runner.context_factory()  # what the job itself compiled with
    request = request_from_dict("edit", job.request)
    assert str(services.store.job_dir(job.id)) in request.video  # the job's own copy of the clip
    masks = compile_request(request, GenerationSettings.from_dict(job.settings), context).mask
    assert len(masks) == 9
    assert set(np.unique(masks).tolist()) <= {0, 255}  # binary
    assert all(frame.any() for frame in masks)  # non-empty on every frame
    assert (masks == 0).any()  # not simply everything
    assert_clean(page, browser.watch, logged)
    page.screenshot(path=str(ARTIFACTS / "text_prompt_edit.png"))
    page.close()


def test_find_shows_the_text_masks_on_every_frame_before_a_job_and_a_kept_frame_corrects_them(
        browser, running_app, media_dir):
    """Find runs SAM 3 on the clip at once: scrubbing shows its mask for each frame, captioned with what made it;
    a frame kept after that corrects the masks from there on (Find again), as the job would compile them."""
    from test_edit_editor_browser import go_to, overlay, paint

    from vace_ui.media.video import read_frames

    logged = len(browser.watch.records)
    page = new_page(browser, running_app.url, "Edit")
    page.locator("#edit-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
    page.locator("#edit-view .vfv[data-index='0'] img.vfv-frame").wait_for(timeout=60_000)
    page.locator("#tab-edit").get_by_text("Or name it (SAM 3 text prompt)").click()
    page.locator("#edit-find").click()  # nothing named yet: a warning in words, nothing runs
    page.locator(TOAST).filter(has_text="name what to mask").first.wait_for(timeout=30_000)
    page.locator("#edit-mask-text textarea").fill("the square")
    page.locator("#edit-find").click()
    page.locator("#edit-timeline .vtl-status").get_by_text("frame(s) tracked").wait_for(timeout=180_000)
    frames = list(read_frames(media_dir / "square.mp4"))
    expected = running_app.services.trackers.text().segment(frames, "the square")
    go_to(page, 5)
    page.locator("#edit-view img.vfv-mask[data-tint='tracked']").wait_for(timeout=30_000)
    shown, _ = overlay(page)
    assert expected[5].any() and np.array_equal(shown, expected[5])  # SAM 3's own mask for frame 5
    assert "by the SAM 3 text 'the square'" in page.locator("#edit-view .vfv-caption").inner_text()
    page.screenshot(path=str(ARTIFACTS / "text_prompt_find.png"))

    go_to(page, 6)
    paint(page, 0.5, 0.5, 0.2)  # a correction on frame 6, kept, then Find again
    page.locator("#edit-keep").click()
    page.locator("#edit-keyframes").get_by_text("frame 6").wait_for(timeout=30_000)
    page.locator("#edit-find").click()
    page.locator("#edit-timeline .vtl-status").get_by_text("frame(s) tracked").wait_for(timeout=180_000)
    go_to(page, 8)
    page.locator("#edit-view img.vfv-mask[data-tint='tracked']").wait_for(timeout=30_000)
    caption = page.locator("#edit-view .vfv-caption").inner_text()
    assert "tracker" in caption and "SAM 3 text" not in caption  # corrected from frame 6 on
    go_to(page, 3)
    page.locator("#edit-view img.vfv-mask[data-tint='tracked']").wait_for(timeout=30_000)
    shown, _ = overlay(page)
    assert np.array_equal(shown, expected[3])  # before the correction: still the text mask
    assert "SAM 3 text" in page.locator("#edit-view .vfv-caption").inner_text()
    assert_clean(page, browser.watch, logged)
    page.close()


def test_find_without_weights_answers_with_a_warning_naming_the_folder(browser, no_sam3_app, media_dir):
    logged = len(browser.watch.records)
    page = new_page(browser, no_sam3_app.url, "Edit")
    page.locator("#edit-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
    page.locator("#edit-view .vfv[data-index='0'] img.vfv-frame").wait_for(timeout=60_000)
    page.locator("#tab-edit").get_by_text("Or name it (SAM 3 text prompt)").click()
    page.locator("#edit-mask-text textarea").fill("the square")
    page.locator("#edit-find").click()
    toast = page.locator(TOAST).filter(has_text="models/trackers/sam3/").first
    toast.wait_for(timeout=60_000)
    assert "Text prompts need the SAM 3 weights" in toast.inner_text()
    assert not page.locator(TOAST).filter(has_text="Something went wrong").count()
    assert page.locator("#edit-view img.vfv-mask").count() == 0  # nothing claimed
    assert_clean(page, browser.watch, logged)
    page.close()


def test_edit_text_prompt_without_weights_fails_in_words_naming_the_folder(browser, no_sam3_app, media_dir):
    logged = len(browser.watch.records)
    page = new_page(browser, no_sam3_app.url, "Edit")
    edit_with_text(page, media_dir, "the square")
    # The job runs and fails in words on its status line (a job's failure is shown there, not as a toast)
    status = page.locator("#edit-status").filter(has_text="models/trackers/sam3/").first
    status.wait_for(timeout=120_000)
    text = status.inner_text()
    assert "failed" in text and "Text prompts need the SAM 3 weights" in text and "Traceback" not in text
    job = next(job for job in no_sam3_app.services.store.list() if job.request.get("mask_text") == "the square")
    assert job.status.value == "failed" and "models/trackers/sam3/" in job.error
    page.wait_for_timeout(1000)
    assert not page.locator(TOAST).filter(has_text="Something went wrong").count()
    assert_clean(page, browser.watch, logged)
    page.close()


def cut_by_name(page, photo, text: str):
    panel = page.locator("#tab-reference")
    if not page.locator("#reference-cut-by-name").is_visible():
        panel.get_by_text("Cut a subject out of a photo").click()
    page.locator("#reference-cut-photo input[type=file]").set_input_files(str(photo))
    page.locator("#reference-cut-photo img").wait_for(timeout=60_000)
    page.locator("#reference-cut-text textarea").fill(text)
    page.locator("#reference-cut-by-name").click()


def test_reference_cut_out_by_name_shows_the_subject_on_white(browser, running_app, photo):
    from vace_ui.core.geometry import fit_on_canvas
    from vace_ui.core.masks import cut_out
    from vace_ui.media.images import read_image

    logged = len(browser.watch.records)
    page = new_page(browser, running_app.url, "Reference")
    cut_by_name(page, photo, "the square")
    result = page.locator("#reference-cut-result img")
    result.wait_for(timeout=180_000)
    src = result.get_attribute("src")
    fetched = page.request.get(src if src.startswith("http") else running_app.url.rstrip("/") + "/" + src.lstrip("/"))
    shown = np.asarray(Image.open(io.BytesIO(fetched.body())).convert("RGB"))
    image = read_image(photo)[..., :3]
    assert shown.shape[:2] == image.shape[:2]
    white = (shown == 255).all(axis=-1)
    assert white.any() and (~white).sum() > 50  # the subject's pixels, and white around them
    mask = running_app.services.trackers.text().segment([image], "the square")[0]
    expected = fit_on_canvas(cut_out(image, mask, crop=True), image.shape[1], image.shape[0])
    assert np.array_equal(shown, expected[..., :3])  # what SAM 3 found for the name, cut out on white
    assert_clean(page, browser.watch, logged)
    page.screenshot(path=str(ARTIFACTS / "text_prompt_reference_cut.png"))
    page.close()


def test_reference_cut_out_by_name_without_weights_names_the_files_and_folder(browser, no_sam3_app, photo):
    logged = len(browser.watch.records)
    page = new_page(browser, no_sam3_app.url, "Reference")
    cut_by_name(page, photo, "the square")
    toast = page.locator(TOAST).filter(has_text="models/trackers/sam3").first
    toast.wait_for(timeout=60_000)
    text = toast.inner_text()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert name in text
    assert "models/trackers/sam3/" in text
    assert str(no_sam3_app.services.config.models_dir) not in text  # no server path reaches a visitor
    assert page.locator("#reference-cut-result img").count() == 0  # nothing was cut out
    assert_clean(page, browser.watch, logged)
    page.close()
