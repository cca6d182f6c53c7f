"""The creator's layout in real Chromium: the action bar in view in every tab on a desktop and a phone, the quick
preview, before/after with synchronised playback, a result sent on to Extend, and History as a gallery."""

from __future__ import annotations

import time

import pytest
from browser_helpers import ARTIFACTS, chromium, history_card, open_tab, set_small_settings

from vace_ui.core.requests import ReferenceRequest
from vace_ui.core.settings import GenerationSettings

TABS = {"reference": "Reference", "repaint": "Repaint", "edit": "Edit", "extend": "Extend", "outpaint": "Outpaint"}
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}
BOXES = """(tab) => {
  const box = (el) => { if (!el) return null; const b = el.getBoundingClientRect();
                        return {left: b.left, top: b.top, right: b.right, bottom: b.bottom}; };
  const prompt = [...document.querySelectorAll('#tab-' + tab + ' textarea')]
    .find(t => t.closest('#' + tab + '-action-bar'));
  return {prompt: box(prompt), generate: box(document.querySelector('#' + tab + '-generate')),
          scrollWidth: document.documentElement.scrollWidth, width: window.innerWidth, height: window.innerHeight};
}"""


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def inside(box: dict, width: int, height: int) -> bool:
    return box is not None and box["left"] >= 0 and box["top"] >= 0 and box["right"] <= width \
        and box["bottom"] <= height and box["right"] > box["left"]


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_prompt_and_generate_are_in_view_together_in_every_tab(browser, running_app, size):
    ARTIFACTS.mkdir(exist_ok=True)
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(running_app.url)
        page.get_by_role("tab", name="Reference").wait_for(timeout=60_000)
        for tab, title in TABS.items():
            open_tab(page, title)
            page.locator(f"#tab-{tab}").wait_for(timeout=30_000)
            page.wait_for_timeout(400)
            for scrolled in (0.0, 0.5, 1.0):  # at the top of the tab, half way down, at its end: no scrolling back
                page.evaluate("(part) => window.scrollTo(0, part * document.documentElement.scrollHeight)",
                              scrolled)
                page.wait_for_timeout(150)
                seen = page.evaluate(BOXES, tab)
                assert inside(seen["prompt"], width, height), (tab, scrolled, seen)
                assert inside(seen["generate"], width, height), (tab, scrolled, seen)
                assert seen["scrollWidth"] <= width, (tab, seen)  # nothing overflows sideways
            page.evaluate("() => window.scrollTo(0, 0)")
            page.screenshot(path=str(ARTIFACTS / f"layout_{size}_{tab}.png"))
    finally:
        page.close()


def test_quick_preview_before_after_use_in_extend_and_history_gallery(browser, running_app, media_dir):
    ARTIFACTS.mkdir(exist_ok=True)
    store = running_app.services.store
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(running_app.url)
        page.get_by_role("tab", name="Outpaint").wait_for(timeout=60_000)
        open_tab(page, "Outpaint")
        page.locator("#outpaint-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
        page.locator("#outpaint-video video").wait_for(timeout=60_000)
        tab = page.locator("#tab-outpaint")
        tab.get_by_label("Prompt", exact=True).fill("a wider street")
        set_small_settings(page, "outpaint", "128x128", "33")  # 33 frames: about 2 s to watch play

        # quick preview: three stills of the model input, the full video one click away
        assert not page.locator("#outpaint-quick-preview").is_visible()  # empty areas stay collapsed
        started = time.monotonic()
        page.locator("#outpaint-preview").click()
        page.wait_for_function("() => document.querySelectorAll('#outpaint-quick-preview img').length === 3",
                               timeout=60_000)
        quick_s = time.monotonic() - started
        captions = page.locator("#outpaint-quick-preview").inner_text()
        assert "frame 0" in captions and "frame 16" in captions and "frame 32" in captions
        print(f"quick preview: 3 frames shown {quick_s:.2f} s after the click")
        assert not page.locator("#outpaint-preview-video video").count()
        page.locator("#outpaint-full-preview").click()
        page.locator("#outpaint-preview-video video").wait_for(timeout=60_000)

        # generate; before/after plays both videos together
        page.locator("#outpaint-generate").click()
        page.locator("#outpaint-status").get_by_text("succeeded").wait_for(timeout=300_000)
        job = next(j for j in store.list() if j.capability == "outpaint" and j.status.value == "succeeded")
        videos = page.locator("#outpaint-result video")
        videos.nth(1).wait_for(timeout=30_000)
        assert videos.count() == 2
        page.wait_for_function("() => [...document.querySelectorAll('#outpaint-result video')]"
                               ".every(v => v.readyState >= 2)", timeout=30_000)
        page.locator("#outpaint-result video[data-role=after]").evaluate("v => v.play()")
        page.wait_for_timeout(500)
        first = page.evaluate("() => [...document.querySelectorAll('#outpaint-result video')]"
                              ".map(v => ({paused: v.paused, t: v.currentTime}))")
        page.wait_for_timeout(500)
        second = page.evaluate("() => [...document.querySelectorAll('#outpaint-result video')]"
                               ".map(v => ({paused: v.paused, t: v.currentTime}))")
        assert not any(v["paused"] for v in first + second), (first, second)
        assert all(b["t"] > a["t"] for a, b in zip(first, second)), (first, second)  # both advance
        assert abs(second[0]["t"] - second[1]["t"]) < 0.25, second  # and together
        page.locator("#outpaint-result").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "before_after.png"))
        page.locator("#outpaint-result video[data-role=after]").evaluate("v => v.pause()")
        page.wait_for_timeout(300)
        assert page.evaluate("() => [...document.querySelectorAll('#outpaint-result video')].every(v => v.paused)")
        tab.get_by_text("This job's settings").click()  # the job's settings, one click away
        page.locator("#outpaint-job-settings").get_by_text("a wider street").wait_for(timeout=10_000)

        # the result, sent to Extend, is its first clip
        result_duration = page.locator("#outpaint-result video[data-role=after]").evaluate("v => v.duration")
        page.locator("#outpaint-use-extend").click()
        page.locator("#extend-first-clip video").wait_for(timeout=30_000)
        assert page.locator("#tab-extend").is_visible()
        page.wait_for_function("() => document.querySelector('#extend-first-clip video').readyState >= 1",
                               timeout=30_000)
        clip_duration = page.locator("#extend-first-clip video").evaluate("v => v.duration")
        assert abs(clip_duration - result_duration) < 0.1, (clip_duration, result_duration)  # not the 2.5 s source
        page.screenshot(path=str(ARTIFACTS / "sent_to_extend.png"))
        for target, loaded in (("repaint", "#repaint-video video"), ("edit", "#edit-view canvas.vfv-strokes")):
            open_tab(page, "Outpaint")  # the same result, sent to Repaint's and to Edit's source video
            page.locator(f"#outpaint-use-{target}").click()
            page.locator(loaded).wait_for(timeout=60_000)
            assert page.locator(f"#tab-{target}").is_visible()
            page.wait_for_function("(sel) => document.querySelector(sel).readyState >= 1",
                                   arg=f"#{target}-video video", timeout=30_000)
            duration = page.locator(f"#{target}-video video").evaluate("v => v.duration")
            assert abs(duration - result_duration) < 0.1, (target, duration, result_duration)
        page.screenshot(path=str(ARTIFACTS / "sent_to_edit.png"))

        # History: a gallery; the filter, select -> play, restore; delete removes the job
        other = running_app.services.runner.create(ReferenceRequest(()), GenerationSettings(prompt="queued"),
                                                   "local")  # another capability, with no video yet
        open_tab(page, "History")
        card = history_card(page, job.id)
        card.wait_for(timeout=30_000)
        history_card(page, other.id).wait_for(timeout=30_000)
        page.wait_for_function("(id) => [...document.querySelectorAll('#history-gallery img')].some("
                               "i => i.src.includes(id) && i.complete && i.naturalWidth > 0)", arg=job.id,
                               timeout=30_000)  # its thumbnail, from the owner-only route
        page.locator("#history-filter").get_by_text("Outpaint", exact=True).click()
        page.wait_for_function("(id) => !document.querySelector('#history-gallery').innerText.includes(id)",
                               arg=other.id, timeout=30_000)
        assert job.id in page.locator("#history-gallery").inner_text()
        page.locator("#history-filter").get_by_text("All", exact=True).click()
        history_card(page, other.id).wait_for(timeout=30_000)
        history_card(page, job.id).click()
        page.locator("#history-video video").wait_for(timeout=30_000)
        assert job.id in page.locator("#history-video video").get_attribute("src")
        page.screenshot(path=str(ARTIFACTS / "history_gallery.png"), full_page=True)
        page.locator("#history-restore").click()
        page.locator("#outpaint-status").get_by_text("Restored from History").wait_for(timeout=30_000)
        assert page.locator("#tab-outpaint").is_visible()
        open_tab(page, "History")
        history_card(page, job.id).click()
        page.locator("#history-details").get_by_text(job.id).wait_for(timeout=30_000)
        page.locator("#history-delete").click()
        page.wait_for_function("(id) => !document.querySelector('#history-gallery').innerText.includes(id)",
                               arg=job.id, timeout=30_000)
        with pytest.raises(KeyError):
            store.get(job.id)
        assert other.id in page.locator("#history-gallery").inner_text()
    finally:
        page.close()


def test_the_estimate_is_in_the_action_bar_before_any_preview_and_follows_frames(browser, running_app):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(running_app.url)
        page.get_by_role("tab", name="Reference").wait_for(timeout=60_000)
        open_tab(page, "Repaint")
        estimate = page.locator("#repaint-estimate")
        estimate.get_by_text("81 frames").wait_for(timeout=30_000)  # a fresh page, nothing previewed yet
        assert "about" in estimate.inner_text()
        side = page.locator("#repaint-side")
        side.get_by_text("Generation settings").first.click()
        frames = side.get_by_label("Frames (4n+1)")
        frames.fill("161")
        frames.press("Enter")
        estimate.get_by_text("161 frames").wait_for(timeout=30_000)
        assert "about" in estimate.inner_text()
    finally:
        page.close()
