"""The model picker and the Repaint compositions against the real app (tiny model, tiny random annotators): pick a
model and generate (the job records it), pose + depth over the API and in the preview, control inside a mask with a
reference subject (move/swap-anything) over the API and in the preview."""

from __future__ import annotations

import os

import pytest
import torch
from browser_helpers import ARTIFACTS, chromium, set_small_settings
from gradio_client import Client, handle_file

from vace_ui.media.video import probe_video

A14B = "linoyts/Wan2.2-VACE-Fun-14B-diffusers"
SETTINGS = {"prompt": "a dog runs", "size": "128x128", "num_frames": 9, "steps": 2, "seed": 3}


class App:
    def __init__(self, demo, url, services):
        self.demo, self.url, self.services = demo, url, services


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """Its own app: a models folder with the tiny model, a tiny two-expert pipeline in the A14B entry's folder (so
    the picker shows it installed) and tiny random pose and depth annotator weights."""
    from controlnet_aux.open_pose.model import bodypose_model
    from test_annotators_weighted import save_tiny_depth_anything

    from vace_ui import annotators
    from vace_ui.annotators import MODELS_ENV
    from vace_ui.backends.tiny_model import ensure_tiny_model
    from vace_ui.config import AppConfig
    from vace_ui.services import create_services
    from vace_ui.ui.app import build_app, launch_options

    models = tmp_path_factory.mktemp("app-models")
    ensure_tiny_model(models / "tiny-random")
    ensure_tiny_model(models / "Wan2.2-VACE-Fun-A14B-diffusers", two_experts=True)
    (models / "Annotators").mkdir()
    torch.manual_seed(0)
    state = {".".join(key.split(".")[1:]): value for key, value in bodypose_model().state_dict().items()}
    torch.save(state, models / "Annotators" / "body_pose_model.pth")
    save_tiny_depth_anything(models / "Depth-Anything-V2-Small-hf")
    previous = os.environ.get(MODELS_ENV)
    os.environ[MODELS_ENV] = str(models)
    annotators.get("pose_body").detect_resolution = 64  # random weights: a small detector input keeps it quick
    config = AppConfig(model="tiny-random", models_dir=models, sam_model="tiny-random", tracker_model="tiny-random",
                       output_dir=tmp_path_factory.mktemp("outputs"), device="cpu")
    services = create_services(config)
    demo = build_app(services)
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                **launch_options(services))
    yield App(demo, demo.local_url, services)
    demo.close()
    for name in ("pose_body", "depth"):  # their stand-in weights must not serve later tests
        annotators.forget(name)
    if previous is None:
        os.environ.pop(MODELS_ENV, None)
    else:
        os.environ[MODELS_ENV] = previous


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def test_api_pose_plus_depth_runs_two_streams(client, app, media_dir):
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), "pose_body", 1.0, None, SETTINGS,
                               "depth", 0.5, None, api_name="/repaint")
    assert probe_video(path).frame_count == 9 and job["status"] == "succeeded"
    assert any("second control: depth, strength 0.5" in note for note in job["notes"])
    stored = app.services.store.get(job["job_id"])
    assert stored.request["control_2"] == "depth" and stored.request["strength_2"] == 0.5
    assert stored.info["control_streams"] == 2


def test_api_second_control_mistakes_name_the_field(client, media_dir):
    from gradio_client.exceptions import AppError

    video = handle_file(str(media_dir / "square.mp4"))
    with pytest.raises(AppError, match="control_2: 'bogus' is not a control"):
        client.predict(video, "gray", 1.0, None, SETTINGS, "bogus", 1.0, None, api_name="/repaint")
    with pytest.raises(AppError, match="strength_2"):
        client.predict(video, "gray", 1.0, None, SETTINGS, "depth", 3.0, None, api_name="/repaint")


def test_api_control_inside_a_mask_with_a_reference_subject(client, app, media_dir):
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), "depth", 1.0,
                               handle_file(str(media_dir / "ref.png")), SETTINGS, None, 1.0,
                               handle_file(str(media_dir / "mask.png")), api_name="/repaint")
    assert job["status"] == "succeeded" and probe_video(path).frame_count == 9
    assert any("control applied inside the mask only" in note for note in job["notes"])
    stored = app.services.store.get(job["job_id"])
    assert stored.request["control_mask"] and len(stored.request["references"]) == 1


@pytest.fixture(scope="module")
def page(app, media_dir):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(app.url)
        page.get_by_role("tab", name="Repaint", exact=True).click()
        page.locator("#repaint-video input[type=file]").set_input_files(str(media_dir / "square.mp4"))
        page.locator("#repaint-video video").wait_for(timeout=60_000)
        yield page


def _choose(page, label: str, option: str) -> None:
    page.locator("#tab-repaint").get_by_label(label, exact=True).click()
    page.get_by_role("option").filter(has_text=option).first.click()
    page.wait_for_timeout(500)


def _preview(page, tmp_path) -> tuple[str, object]:
    """Press Preview model input, then Show the full preview video; the status text and the preview video's size."""
    old = page.locator("#repaint-preview-video video").get_attribute("src") if page.locator(
        "#repaint-preview-video video").count() else None
    page.locator("#repaint-preview").click()
    page.locator("#repaint-status").get_by_text("Model input:").wait_for(timeout=240_000)
    text = page.locator("#repaint-status").inner_text()
    page.locator("#repaint-full-preview").click()
    page.wait_for_function("old => { const v = document.querySelector('#repaint-preview-video video');"
                           " return v && v.src && v.src !== old; }", arg=old, timeout=240_000)
    src = page.locator("#repaint-preview-video video").get_attribute("src")
    (tmp_path / "preview.mp4").write_bytes(page.request.get(src).body())
    return text, probe_video(tmp_path / "preview.mp4")


def test_pick_a_model_and_generate_the_job_records_it(page, app):
    picker = page.locator("#tab-repaint").get_by_label("Model (local GPU)")
    picker.click()
    page.get_by_role("option").filter(has_text="Wan2.1 VACE 1.3B · missing").click()
    note = page.locator("#tab-repaint .model-note")
    note.get_by_text("hf download Wan-AI/Wan2.1-VACE-1.3B-diffusers").wait_for(timeout=30_000)
    picker.click()
    page.get_by_role("option").filter(has_text="Wan2.2 VACE-Fun A14B (two experts) · installed").click()
    note.get_by_text("is installed").wait_for(timeout=30_000)
    page.locator("#tab-repaint").get_by_label("Prompt", exact=True).fill("a dog runs")
    set_small_settings(page, "repaint")
    page.locator("#repaint-generate").click()
    page.locator("#repaint-result video[data-role=after]").wait_for(timeout=240_000)
    assert "succeeded" in page.locator("#repaint-status").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "model_picker_generate.png"), full_page=True)
    (job,) = [job for job in app.services.store.list() if job.capability == "repaint" and job.owner != "api"
              and job.settings.get("model") == A14B]
    assert job.status.value == "succeeded" and job.info["model"] == A14B


def test_pose_plus_depth_preview_shows_both_controls(page, tmp_path):
    _choose(page, "Control", "Pose (body)")
    _choose(page, "Together with (optional)", "Depth (Depth Anything V2)")
    status, video = _preview(page, tmp_path)
    assert "control: pose_body" in status and "second control: depth" in status
    width, height = (int(side) for side in status.split("Model input: ")[1].split(",")[0].split("x"))
    assert (video.width, video.height) == (2 * width, height)  # pose | depth, side by side
    page.screenshot(path=str(ARTIFACTS / "pose_depth_preview.png"), full_page=True)


def test_control_inside_a_mask_with_a_reference_preview(page, media_dir, tmp_path):
    _choose(page, "Together with (optional)", "None")
    page.locator("#repaint-reference-0 input[type=file]").set_input_files(str(media_dir / "ref.png"))
    page.locator("#repaint-control-mask input[type=file]").set_input_files(str(media_dir / "mask.png"))
    page.wait_for_timeout(1500)
    status, video = _preview(page, tmp_path)
    assert "1 reference(s), shown to the right of the frames" in status
    assert "control applied inside the mask only" in status
    width, height = (int(side) for side in status.split("Model input: ")[1].split(",")[0].split("x"))
    assert (video.width, video.height) == (2 * width, height)  # the masked control | the reference
    page.screenshot(path=str(ARTIFACTS / "mask_reference_preview.png"), full_page=True)
