"""A newcomer's walk in real Chromium: every button of every tab, on a fresh page, twice (nothing given; then only
a video or image given). Each click must be answered in words (a toast, or a status line that changes), with no
traceback in the server's log and no component showing Gradio's "Error" badge."""

from __future__ import annotations

import logging
import time
from collections import Counter

import gradio as gr
import pytest
from browser_helpers import ARTIFACTS, chromium

CAPABILITY_BUTTONS = ["Preview model input", "Export input bundle", "Generate", "Cancel", "Apply preset"]
WALK = {  # tab id -> its buttons, in the order a person meets them
    "reference": ["Cut out by name", "Use the cut-out", *CAPABILITY_BUTTONS],
    "repaint": ["Quick control preview (first 17 frames)", *CAPABILITY_BUTTONS],
    "edit": ["✔ Keep", "◐ Invert", "✕ Clear", "⟲ All", "▶ Track", "▶ Find", *CAPABILITY_BUTTONS],
    "extend": CAPABILITY_BUTTONS,
    "outpaint": CAPABILITY_BUTTONS,
    "history": ["Refresh", "Restore settings into its tab", "Delete this job"],
    "settings": ["Check backends", "Apply keys and URLs", "Forget my keys"],
}
TAB_TITLES = {"reference": "Reference", "repaint": "Repaint", "edit": "Edit", "extend": "Extend",
              "outpaint": "Outpaint", "history": "History", "settings": "Settings"}
STATUS_LINES = {"history": ["#history-details"], "settings": ["#settings-status"],
                "edit": ["#edit-status", "#edit-keyframes"]}
GIVEN = {  # tab -> (file input selector, media file name, what appears once it is loaded)
    "reference": ("#reference-image-0 input[type=file]", "ref.png", "#reference-image-0 img"),
    "repaint": ("#repaint-video input[type=file]", "square.mp4", "#repaint-video video"),
    "edit": ("#edit-video input[type=file]", "square.mp4", "#edit-view canvas.vfv-strokes"),
    "extend": ("#extend-first-clip input[type=file]", "square.mp4", "#extend-first-clip video"),
    "outpaint": ("#outpaint-video input[type=file]", "square.mp4", "#outpaint-video video"),
}
ACCORDIONS = {"Apply preset": "Local speed and memory", "Use the cut-out": "Cut a subject out of a photo",
              "Cut out by name": "Cut a subject out of a photo", "▶ Find": "Or name it (SAM 3 text prompt)"}
WATCH_TOASTS = """() => {
  window.__toasts = [];
  const seen = new WeakSet();
  const scan = () => document.querySelectorAll('[data-testid="toast-text"]').forEach(node => {
    const text = node.innerText.trim();
    if (text && !seen.has(node)) { seen.add(node); window.__toasts.push(text); }
  });
  new MutationObserver(scan).observe(document.body, {childList: true, subtree: true, characterData: true});
}"""
ERROR_BADGES = "() => [...document.querySelectorAll('span.error')].filter(e => e.offsetParent && " \
               "e.innerText.trim() === 'Error').length"


class LogWatch(logging.Handler):
    """Every record that carries a traceback (or is an error) while the walk runs."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if record.name == "asyncio" and "protocol.data_received() call failed" in record.getMessage():
            # The HTTP transport under a loaded machine (a media request cut off mid-body), not a handler: kept
            # in the artifacts to look at, not counted as a click that failed.
            ARTIFACTS.mkdir(exist_ok=True)
            with open(ARTIFACTS / "walk_transport_errors.txt", "a") as log:
                log.write(f"{record.getMessage()}\n{record.exc_text or ''}\n")
            return
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


def visible_buttons(demo: gr.Blocks) -> Counter:
    """Labels of every visible button the app renders (API buttons are invisible)."""
    return Counter(block.value for block in demo.blocks.values()
                   if isinstance(block, gr.Button) and block.visible is not False)


def status_texts(page, tab: str) -> dict[str, str]:
    """The words of each status line (the Markdown itself, not Gradio's "processing" overlay over it)."""
    selectors = STATUS_LINES.get(tab, [f"#{tab}-status"])
    return {selector: page.locator(f'{selector} [data-testid="markdown"]').first.inner_text()
            for selector in selectors}


def settle(page, timeout_s: float = 120) -> None:
    """Wait until no event of the page is still running (no progress overlay left)."""
    page.wait_for_function("() => ![...document.querySelectorAll('.wrap')].some(w => w.offsetParent && "
                           "/processing|queue/.test(w.innerText))", timeout=timeout_s * 1000)


def close_toasts(page) -> None:
    for _ in range(20):
        buttons = page.locator('[data-testid="toast-close"]')
        if not buttons.count():
            return
        try:
            buttons.first.click(timeout=2000)
        except Exception:  # a toast that timed out between count and click
            pass
        page.wait_for_timeout(100)


def click_and_wait_for_answer(page, tab: str, label: str, timeout_s: float = 120) -> str:
    """Click and return the answer in words: the first new toast, or the status line that changed."""
    panel = page.locator(f"#tab-{tab}")
    button = panel.get_by_role("button", name=label, exact=True).first
    if not button.is_visible() and label in ACCORDIONS:
        panel.get_by_text(ACCORDIONS[label]).first.click()
    toasts_before = page.evaluate("() => window.__toasts.length")
    before = status_texts(page, tab)
    button.click()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        toasts = page.evaluate("() => window.__toasts")
        if len(toasts) > toasts_before:
            return toasts[toasts_before]
        after = status_texts(page, tab)
        changed = [text for selector, text in after.items() if text != before[selector] and text.strip()]
        if changed:
            return changed[0]
    return ""


def open_fresh_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(url)
    page.get_by_role("tab", name="Edit").wait_for(timeout=60_000)
    page.evaluate(WATCH_TOASTS)
    return page


def walk(page, media_dir, given: bool, watch: LogWatch, capfd, name: str) -> tuple[int, int, list[str]]:
    answered, made, problems = 0, 0, []
    for tab, labels in WALK.items():
        page.get_by_role("tab", name=TAB_TITLES[tab], exact=True).click()
        page.wait_for_timeout(300)
        if given and tab in GIVEN:
            selector, file_name, loaded = GIVEN[tab]
            page.locator(selector).set_input_files(str(media_dir / file_name))
            page.locator(loaded).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
        for label in labels:
            close_toasts(page)
            made += 1
            logged = len(watch.records)
            answer = click_and_wait_for_answer(page, tab, label)
            settle(page)  # every output of the event has its answer before looking for badges
            page.wait_for_timeout(300)
            badges = page.evaluate(ERROR_BADGES)
            out, err = capfd.readouterr()
            tracebacks = [r.getMessage() for r in watch.records[logged:]]
            if "Traceback" in out + err:
                tracebacks.append("stderr: " + (out + err)[(out + err).index("Traceback"):][:1500])
            words = len([word for word in answer.split() if any(ch.isalpha() for ch in word)])
            if words >= 3 and not badges and not tracebacks:
                answered += 1
            else:
                problems.append(f"{name}/{tab}/{label}: answer={answer!r} badges={badges} log={tracebacks}")
                with open(ARTIFACTS / f"walk_{name}_problems.txt", "a") as log:
                    log.write(problems[-1] + "\n")
                page.screenshot(path=str(ARTIFACTS / f"walk_{name}_{tab}_{made}.png"), full_page=True)
    return answered, made, problems


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def test_the_walk_covers_every_button_the_app_shows(running_app):
    walked = Counter(label for labels in WALK.values() for label in labels)
    assert visible_buttons(running_app.demo) == walked


def test_every_ui_event_goes_through_the_one_rule(running_app):
    for block_fn in running_app.demo.fns.values():
        if block_fn.api_name in ("reference", "repaint", "edit", "extend", "outpaint", "job"):
            continue  # the named API endpoints answer with gr.Error for gradio_client (ui/api.py)
        assert getattr(block_fn.fn, "answered", False), f"{block_fn.name} is not wired through ui.handlers.wire"


@pytest.mark.parametrize("given", [False, True], ids=["nothing-given", "media-given"])
def test_every_click_is_answered_in_words(browser, running_app, media_dir, capfd, given):
    ARTIFACTS.mkdir(exist_ok=True)
    watch = LogWatch()
    logging.getLogger().addHandler(watch)
    page = open_fresh_page(browser, running_app.url)
    name = "given" if given else "empty"
    try:
        answered, made, problems = walk(page, media_dir, given, watch, capfd, name)
        page.screenshot(path=str(ARTIFACTS / f"walk_{name}_end.png"), full_page=True)
    finally:
        logging.getLogger().removeHandler(watch)
        page.close()
    print(f"walk {name}: {answered}/{made} clicks answered")
    (ARTIFACTS / f"walk_{name}.txt").write_text(f"{answered}/{made}\n" + "\n".join(problems))
    assert made == sum(len(labels) for labels in WALK.values())
    assert not problems, "\n".join(problems)


def test_preview_with_missing_weights_is_a_warning_in_words(browser, running_app, media_dir, tmp_path, monkeypatch,
                                                             capfd):
    from vace_ui.annotators import MODELS_ENV

    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "no-weights"))
    page = open_fresh_page(browser, running_app.url)
    try:
        page.get_by_role("tab", name="Repaint", exact=True).click()
        page.locator("#repaint-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
        page.locator("#repaint-video video").wait_for(timeout=60_000)
        control = page.locator("#tab-repaint").get_by_label("Control")
        control.click()
        page.get_by_role("option").filter(has_text="Depth").first.click()
        for label in ("Preview model input", "Quick control preview (first 17 frames)", "Export input bundle"):
            close_toasts(page)
            answer = click_and_wait_for_answer(page, "repaint", label)
            assert "needs weight files that are not installed" in answer, (label, answer)
            settle(page)
            assert page.evaluate(ERROR_BADGES) == 0
        page.screenshot(path=str(ARTIFACTS / "preview_missing_weights.png"), full_page=True)
    finally:
        page.close()
    assert "Traceback" not in "".join(capfd.readouterr())
