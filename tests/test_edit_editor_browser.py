"""The Edit tab as an editor, in real Chromium at 1440x900: rapid frame changes then a stroke and Keep keep the
stroke on the frame shown (no "Error", no traceback); Track fills the timeline and scrubbing to frame 10 shows the
tracker's mask for frame 10 tinted; a keyframe mark jumps back; a restored job shows its kept mask on the view."""

from __future__ import annotations

import base64
import io
import logging

import numpy as np
import pytest
from browser_helpers import ARTIFACTS, ERROR_BADGES, Tracebacks, chromium, history_card, set_small_settings
from PIL import Image

from vace_ui.ui import frame_view as fv

RECORD_TIMELINE = """() => {
  window.__timeline = [];
  const strip = document.querySelector('#edit-timeline');
  new MutationObserver(() => {
    const bar = strip.querySelector('.vtl-progress');
    window.__timeline.push({done: bar ? Number(bar.dataset.done) : 0, total: bar ? Number(bar.dataset.total) : 0,
                            bands: strip.querySelectorAll('.vtl-tracked').length});
  }).observe(strip, {childList: true, subtree: true});
}"""
RECORD_STROKE_FRAME = """() => document.addEventListener('pointerdown', () => {
  window.__strokeFrame = Number(document.querySelector('#edit-view .vfv').dataset.index);
}, {capture: true, once: true})"""


@pytest.fixture(scope="module")
def page(running_app):
    watch = Tracebacks()
    logging.getLogger().addHandler(watch)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.console_errors = []
        page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
        page.goto(running_app.url)
        page.get_by_role("tab", name="Edit").click()
        page.watch = watch
        yield page
    logging.getLogger().removeHandler(watch)


def load(page, media_dir):
    clear = page.locator("#edit-video").get_by_role("button", name="Clear")
    if clear.count():
        clear.first.click()
        page.locator("#edit-view .vfv-empty").wait_for(timeout=30_000)
    page.locator("#edit-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
    page.locator("#edit-view .vfv[data-index='0'] img.vfv-frame").wait_for(timeout=60_000)


def go_to(page, index: int):
    number = page.locator("#edit-frame input[type=number]")
    number.fill(str(index))
    number.press("Enter")
    page.locator(f"#edit-view .vfv[data-index='{index}'] img.vfv-frame").wait_for(timeout=30_000)


def paint(page, fx: float, fy: float, dx: float):
    box = page.locator("#edit-view canvas.vfv-strokes").bounding_box()
    x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + box["width"] * dx, y, steps=8)
    page.mouse.up()


def overlay(page) -> tuple[np.ndarray, str]:
    """The tinted mask on the view now: (H, W) bool where it is drawn, and which tint."""
    image = page.locator("#edit-view img.vfv-mask")
    src = image.get_attribute("src")
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGBA"))
    return pixels[..., 3] > 0, image.get_attribute("data-tint")


def strokes_mask(page, index: int, height: int, width: int) -> np.ndarray:
    """What the strokes the browser holds for frame `index` paint, rasterised as the server does."""
    _, strokes = fv.parse_strokes(page.locator("#edit-strokes textarea").input_value())
    return fv.apply_strokes(None, strokes[index], height, width)


def assert_clean(page, logged: int):
    assert page.evaluate(ERROR_BADGES) == 0
    assert [r.getMessage() for r in page.watch.records[logged:]] == []


def test_rapid_frame_changes_then_a_stroke_and_keep_keeps_the_stroke(page, media_dir):
    ARTIFACTS.mkdir(exist_ok=True)
    logged = len(page.watch.records)
    load(page, media_dir)
    slider = page.locator("#edit-frame input[type=range]")
    slider.focus()
    for _ in range(12):  # quick arrow presses, as a person holding the key
        slider.press("ArrowRight")
        page.wait_for_timeout(20)
    page.evaluate(RECORD_STROKE_FRAME)
    paint(page, 0.4, 0.5, 0.35)  # at once, whatever frame the view shows now (it may still be catching up)
    shown, _ = fv.parse_strokes(page.locator("#edit-strokes textarea").input_value())  # what Keep keeps
    assert shown == page.evaluate("() => window.__strokeFrame")  # the frame on the view when the stroke began
    assert page.locator("#edit-frame input[type=number]").input_value() == str(shown)  # the slider came back
    painted = strokes_mask(page, shown, 128, 160)
    assert painted.sum() > 500
    page.locator("#edit-keep").click()
    page.locator("#edit-keyframes").get_by_text(f"frame {shown}").wait_for(timeout=30_000)
    page.locator(f"#edit-view .vfv[data-index='{shown}'] img.vfv-mask[data-tint='kept']").wait_for(timeout=30_000)
    kept, _ = overlay(page)
    assert (kept & painted).sum() / painted.sum() > 0.98 and (kept & ~painted).sum() == 0  # the stroke, kept
    assert page.locator(f"#edit-view [data-shown='{shown}']").count() == 1  # the view still paints on it
    assert page.locator("#edit-frame input[type=number]").input_value() == str(shown)

    page.locator("#edit-tool").get_by_text("Eraser").click()  # erase through the middle of the kept mask
    box = page.locator("#edit-view canvas.vfv-strokes").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.7, steps=8)
    page.mouse.up()
    _, strokes = fv.parse_strokes(page.locator("#edit-strokes textarea").input_value())
    assert strokes[shown][-1].erase
    page.locator("#edit-keep").click()
    page.wait_for_function(f"() => !document.querySelector('#edit-strokes textarea').value.includes('\"{shown}\":')")
    page.locator("#edit-view img.vfv-mask[data-tint='kept']").wait_for(timeout=30_000)
    erased, _ = overlay(page)
    assert erased.sum() < kept.sum() and not (erased & ~kept).any()  # a hole, nothing added
    page.locator("#edit-tool").get_by_text("Brush").click()
    assert_clean(page, logged)
    page.screenshot(path=str(ARTIFACTS / "edit_editor_kept.png"))


def test_track_then_scrub_to_frame_10_shows_the_trackers_mask_and_a_mark_jumps_back(page, media_dir, running_app):
    from vace_ui.jobs.context import file_context
    from vace_ui.media.video import read_frames

    logged = len(page.watch.records)
    load(page, media_dir)
    go_to(page, 4)
    paint(page, 0.2, 0.45, 0.25)  # over the yellow square
    keyframe = strokes_mask(page, 4, 128, 160)
    page.locator("#edit-keep").click()
    page.locator("#edit-keyframes").get_by_text("frame 4").wait_for(timeout=30_000)
    page.evaluate(RECORD_TIMELINE)
    page.locator("#edit-track").click()
    page.locator("#edit-timeline .vtl-status").get_by_text("frame(s) tracked").wait_for(timeout=180_000)
    states = page.evaluate("() => window.__timeline")  # what the strip showed while Track ran
    during = [state for state in states if state["total"] and state["done"] < state["total"]]
    assert during and during[0]["bands"] >= 1  # progress, with the frames tracked so far marked
    assert page.locator("#edit-timeline .vtl-progress").count() == 0  # gone once tracking is done
    assert page.locator("#edit-timeline .vtl-key[data-frame='4']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "edit_editor_tracked.png"))

    go_to(page, 10)
    page.locator("#edit-view img.vfv-mask[data-tint='tracked']").wait_for(timeout=30_000)
    shown, _ = overlay(page)
    services = running_app.services
    context = file_context(trackers=services.video_tracker, refiner=services.sam.refiner)
    expected, _ = context.track(list(read_frames(media_dir / "square.mp4")), {4: keyframe}, cut_occluders=True,
                                tracker="flow")
    assert expected[10].any() and np.array_equal(shown, expected[10])  # the tracker's own mask for frame 10
    page.screenshot(path=str(ARTIFACTS / "edit_editor_frame10_tracked.png"))

    paint(page, 0.6, 0.3, 0.2)
    page.locator("#edit-keep").click()  # a keyframe at 10: its mark appears; the tracked masks are stale now
    page.locator("#edit-timeline .vtl-key[data-frame='10']").wait_for(timeout=30_000)
    go_to(page, 20)
    page.locator("#edit-timeline .vtl-key[data-frame='10']").click()
    page.locator("#edit-view .vfv[data-index='10'] img.vfv-mask[data-tint='kept']").wait_for(timeout=30_000)
    assert page.locator("#edit-frame input[type=number]").input_value() == "10"
    assert_clean(page, logged)
    page.screenshot(path=str(ARTIFACTS / "edit_editor_jumped.png"))


def test_restore_shows_the_kept_mask_on_the_view(page, media_dir, running_app):
    from vace_ui.media.images import read_mask_image

    logged = len(page.watch.records)
    load(page, media_dir)
    go_to(page, 6)
    paint(page, 0.3, 0.5, 0.3)
    page.locator("#edit-keep").click()
    page.locator("#edit-keyframes").get_by_text("frame 6").wait_for(timeout=30_000)
    page.locator("#tab-edit").get_by_label("Prompt", exact=True).fill("a blue cube")
    set_small_settings(page, "edit", frames="9")
    page.locator("#edit-frame input[type=number]").fill("2")  # the 9 frames used must hold the keyframe (6)
    page.locator("#edit-generate").click()
    page.locator("#edit-result video[data-role=after]").wait_for(timeout=240_000)
    job = next(job for job in running_app.services.store.list()
               if job.capability == "edit" and job.status.value == "succeeded" and
               [k["frame"] for k in job.request["keyframes"]] == [6])
    kept = read_mask_image(job.request["keyframes"][0]["path"])

    load(page, media_dir)  # something else on the view first
    page.get_by_role("tab", name="History").click()
    cell = history_card(page, job.id)
    cell.wait_for(timeout=30_000)
    cell.click()
    page.locator("#history-restore").click()
    page.locator("#edit-view .vfv[data-index='6'] img.vfv-mask[data-tint='kept']").wait_for(timeout=30_000)
    shown, _ = overlay(page)
    assert np.array_equal(shown, kept)
    assert page.locator("#edit-timeline .vtl-key[data-frame='6']").count() == 1
    assert not [text for text in page.console_errors if "No draw texture" in text]
    assert_clean(page, logged)
    page.screenshot(path=str(ARTIFACTS / "edit_editor_restored.png"))
