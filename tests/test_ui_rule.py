"""The one rule for UI handlers (ui/handlers.py), status that tells the truth, and a job status line that moves."""

from __future__ import annotations

import logging
import socket
import threading
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

from vace_ui.annotators import MODELS_ENV
from vace_ui.annotators.base import AnnotatorError
from vace_ui.backends.remote import ComfyUIBackend, DashScopeBackend
from vace_ui.core.errors import InputError
from vace_ui.core.inputs import VaceInputs
from vace_ui.core.requests import ReferenceRequest
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.preview import overlay_frames
from vace_ui.ui.capability_tab import TabController
from vace_ui.ui.handlers import answered


def is_skip(update) -> bool:
    return update == gr.skip()


def test_a_partial_answer_is_completed_with_skips():
    a, b, c = gr.Textbox(render=False), gr.Textbox(render=False), gr.Textbox(render=False)
    result = answered(lambda: {a: "new"}, {a, b, c})()
    assert result[a] == "new" and is_skip(result[b]) and is_skip(result[c])
    nothing = answered(lambda: {}, {a, b})()
    assert set(nothing) == {a, b} and all(is_skip(value) for value in nothing.values())


def test_a_mistake_becomes_a_warning_and_changes_nothing():
    a, b = gr.Textbox(render=False), gr.Textbox(render=False)

    def generate():
        raise InputError("prompt", "is empty; describe the video you want.")

    with pytest.warns(UserWarning, match="prompt: is empty; describe the video you want."):
        result = answered(generate, {a, b})()
    assert set(result) == {a, b} and all(is_skip(value) for value in result.values())
    with pytest.warns(UserWarning, match="needs weight files"):
        assert is_skip(answered(lambda: (_ for _ in ()).throw(AnnotatorError("Depth needs weight files")), a)())


def test_an_unexpected_error_gets_an_id_and_the_log_keeps_the_traceback(caplog):
    a = gr.Textbox(render=False)

    def broken():
        return {}["missing"]

    with pytest.warns(UserWarning, match=r"Error id ([0-9a-f]{8})") as warned:
        assert is_skip(answered(broken, a)())
    error_id = str(warned[0].message).split("Error id ")[1][:8]
    record = next(r for r in caplog.records if error_id in r.getMessage())
    assert record.levelno == logging.ERROR and record.exc_info and record.exc_info[0] is KeyError


def test_a_stray_output_is_a_bug_not_a_gradio_crash(caplog):
    a, b = gr.Textbox(render=False), gr.Textbox(render=False)
    with pytest.warns(UserWarning, match="Error id"):
        result = answered(lambda: {b: "not an output"}, {a})()
    assert set(result) == {a}


def test_generator_handlers_follow_the_rule_for_each_update():
    a, b = gr.Textbox(render=False), gr.Textbox(render=False)

    def stream():
        yield {a: "queued"}
        raise InputError("backend", "is down.")

    with pytest.warns(UserWarning, match="backend: is down."):
        updates = list(answered(stream, {a, b})())
    assert updates[0][a] == "queued" and is_skip(updates[0][b])
    assert all(is_skip(value) for value in updates[1].values())


def test_selectdata_handlers_keep_their_signature():
    import inspect

    def on_select(value, event: gr.SelectData):
        return value

    assert list(inspect.signature(answered(on_select, None)).parameters) == ["value", "event"]


# -- status that tells the truth ---------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_comfyui_against_a_closed_port_is_unreachable_not_ready():
    port = closed_port()
    backend = ComfyUIBackend(base_url=f"http://127.0.0.1:{port}")
    assert backend.status().startswith("not checked")
    assert backend.check() == f"unreachable: connection refused at 127.0.0.1:{port}"
    assert "ready" not in backend.status()


def test_comfyui_against_a_fake_that_answers_is_ready():
    from tests.fakes.comfyui_fake import FakeComfyUI

    with FakeComfyUI() as fake:
        backend = ComfyUIBackend(base_url=fake.base_url)
        assert backend.check().startswith(f"ready ({fake.base_url}): answered at ")
        assert fake.count("poll") == 1  # one GET /queue, no retries
    backend.set_base_url(f"http://127.0.0.1:{closed_port()}")
    assert backend.status().startswith("not checked")  # what was learnt about the old URL is forgotten


def test_comfyui_with_a_wrong_token_says_so():
    from tests.fakes.comfyui_fake import FakeComfyUI

    with FakeComfyUI(token="right-token") as fake:
        backend = ComfyUIBackend(base_url=fake.base_url, api_key="wrong-token")
        assert backend.check().startswith("token refused")


def test_a_hosted_key_is_not_called_ready_before_anything_reached_the_provider(monkeypatch):
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    backend = DashScopeBackend()
    assert backend.check().startswith("API key missing")
    backend.set_api_key("sk-something")
    assert backend.check().startswith("key set, not checked")
    backend._reached("accepted task t-1")
    assert backend.status().startswith("ready (") and "accepted task t-1" in backend.status()


# -- previews handle what Generate handles -------------------------------------------------------------------------
def repaint_preview_fn(demo):
    return next(f for f in demo.fns.values()
                if any(getattr(t[0], "elem_id", None) == "repaint-preview" for t in f.targets)
                or any(getattr(demo.blocks.get(t[0]), "elem_id", None) == "repaint-preview" for t in f.targets))


def test_preview_with_missing_annotator_weights_warns_in_words(running_app, media_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "no-weights"))
    block_fn = repaint_preview_fn(running_app.demo)
    data = {component: getattr(component, "value", None) for component in block_fn.inputs}
    by_label = {getattr(component, "label", None): component for component in block_fn.inputs}
    data[by_label["Source video"]] = str(media_dir / "square.mp4")
    data[by_label["Control"]] = "depth"
    with pytest.warns(UserWarning, match="needs weight files that are not installed"):
        result = block_fn.fn(data)
    assert all(is_skip(value) for value in result.values())  # the status and the preview keep what they showed


def test_preview_shows_the_references_beside_the_frames():
    video = np.full((5, 32, 48, 3), 128, dtype=np.uint8)
    mask = np.full((5, 32, 48), 255, dtype=np.uint8)
    ref = np.zeros((32, 48, 3), dtype=np.uint8)
    ref[:, :, 0] = 200
    frames = overlay_frames(VaceInputs(video, mask, [ref, ref]))
    assert frames.shape == (5, 32, 48 * 3, 3)
    assert (frames[:, :, 48:, 0] == 200).all() and (frames[:, :, 48:, 1:] == 0).all()


# -- the job status line moves -----------------------------------------------------------------------------------
def test_the_status_line_moves_queued_with_position_then_steps_then_outcome(running_app, media_dir):
    services = running_app.services
    controller = TabController(services)
    area = SimpleNamespace(before_after="video", use_row="use", settings_box="box", settings_json="json",
                           use_buttons={"extend": "use-extend"})
    panel = SimpleNamespace(status="status", area=area)
    settings = GenerationSettings(prompt="a red square", size="128x128", num_frames=5, steps=3, seed=3)
    job = services.runner.create(ReferenceRequest(()), settings, "local")  # the shared app takes uploads only
    lines: list[str] = []
    services.runner._run_lock.acquire()  # another job holds the GPU
    try:
        stream = controller.run(panel, job.id)
        lines.append(next(stream)["status"])
    finally:
        services.runner._run_lock.release()
    updates = list(stream)
    lines += [update["status"] for update in updates]
    assert lines[0] == f"⏳ queued · 1 job(s) ahead on the GPU · job `{job.id}`"
    assert any(line.startswith("▶️ running · denoise · step 1/3") for line in lines)
    # from the second step on, the time left is worked out from the steps done
    assert any(line.startswith("▶️ running · denoise · step 2/3 · about ") and " left" in line for line in lines)
    assert any(line.startswith("▶️ running · decode") for line in lines)  # after the last step
    outcome = updates[-1]
    assert "succeeded" in lines[-1] and f"vace/file/{job.id}/result.mp4" in outcome["video"]["value"]
    assert outcome["video"]["visible"] and outcome["use-extend"]["visible"]
    assert outcome["json"]["request"] == {"references": []}
    assert list(controller.run(panel, job.id)) == []  # a finished job is not run again by a later Generate


def test_cancel_while_waiting_for_the_gpu(running_app, media_dir):
    services = running_app.services
    settings = GenerationSettings(prompt="a red square", size="128x128", num_frames=5, steps=2, seed=3)
    job = services.runner.create(ReferenceRequest(()), settings, "local")
    services.runner._run_lock.acquire()
    try:
        done = {}
        worker = threading.Thread(target=lambda: done.setdefault("job", services.runner.run(job.id)))
        worker.start()
        assert services.runner.cancel(job.id)
        worker.join(timeout=10)
    finally:
        services.runner._run_lock.release()
    assert done["job"].status.value == "cancelled"


def test_the_status_line_moves_for_a_hosted_job_too(running_app, media_dir):
    from tests.fakes.comfyui_fake import FakeComfyUI

    services = running_app.services
    backend = services.backends["comfyui"]
    controller = TabController(services)
    area = SimpleNamespace(before_after="video", use_row="use", settings_box="box", settings_json="json",
                           use_buttons={})
    panel = SimpleNamespace(status="status", area=area)
    with FakeComfyUI() as fake:
        backend.set_base_url(fake.base_url)
        backend.poll_interval = 0.02
        try:
            settings = GenerationSettings(prompt="a lighthouse", size="832x480", num_frames=17, steps=2, seed=3)
            job = services.runner.create(ReferenceRequest(()), settings, "comfyui")
            updates = list(controller.run(panel, job.id))
        finally:
            backend.set_base_url(None)
    lines = [update["status"] for update in updates]
    assert any(line.startswith("⏳ queued · submitting to ComfyUI") for line in lines)
    assert any(line.startswith("⏳ queued · waiting in the ComfyUI queue") for line in lines)
    assert any(line.startswith("▶️ running · denoise") and "generating on ComfyUI" in line for line in lines)
    assert any(line.startswith("▶️ running · download") for line in lines)
    assert "succeeded" in lines[-1] and f"vace/file/{job.id}/result.mp4" in updates[-1]["video"]["value"]
