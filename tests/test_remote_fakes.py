"""The fakes are only worth something if they are strict: each must reject what its provider rejects. Raw
requests check that, and backends forced to send a wrong field show the provider's own message."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.comfyui_fake import FakeComfyUI
from tests.fakes.dashscope_fake import FakeDashScope
from tests.fakes.harness import KEY, FakeClock, Reporter, backend_options, control_inputs, make_job
from tests.fakes.jiekou_fake import FakeJiekou
from tests.fakes.replicate_fake import FakeReplicate
from tests.fakes.wavespeed_fake import FakeWaveSpeed
from vace_ui.backends.remote import ComfyUIBackend, ProviderError, ReplicateBackend
from vace_ui.core.requests import Capability

AUTH = {"Authorization": f"Bearer {KEY}"}
OUTPAINT = {"model": "wan2.1-vace-plus", "input": {"function": "video_outpainting", "prompt": "p",
                                                   "video_url": "https://example.com/v.mp4"},
            "parameters": {"top_scale": 1.5}}
SYNTHESIS = "/services/aigc/video-generation/video-synthesis"


def test_dashscope_fake_is_strict():
    with FakeDashScope(key=KEY) as fake:
        url = fake.base_url + SYNTHESIS
        async_on = {**AUTH, "X-DashScope-Async": "enable"}
        assert httpx.post(url, json=OUTPAINT, headers=async_on).status_code == 200
        assert httpx.post(url, json=OUTPAINT, headers=AUTH).status_code == 403  # no X-DashScope-Async
        assert httpx.post(url, json=OUTPAINT, headers={"X-DashScope-Async": "enable"}).status_code == 401
        for change in ({"parameters": {"top_scale": 2.5}}, {"parameters": {"seed": 3}},
                       {"model": "wanx2.1-vace-plus"},
                       {"input": {**OUTPAINT["input"], "video_url": "oss://dashscope-instant/x.mp4"}}):
            answer = httpx.post(url, json={**OUTPAINT, **change}, headers=async_on)
            assert answer.status_code == 400 and answer.json()["code"] == "InvalidParameter"
        policy = httpx.get(fake.base_url + "/uploads", params={"action": "getPolicy", "model": fake.model},
                           headers=AUTH).json()["data"]
        form = {"OSSAccessKeyId": policy["oss_access_key_id"], "Signature": policy["signature"],
                "policy": policy["policy"], "key": policy["upload_dir"] + "/a.mp4", "x-oss-object-acl": "private",
                "x-oss-forbid-overwrite": "true", "success_action_status": "200"}
        files = {"file": ("a.mp4", b"data", "video/mp4")}
        assert httpx.post(policy["upload_host"], data=form, files=files, headers=AUTH).status_code == 400
        assert httpx.post(policy["upload_host"], data=form, files=files).status_code == 200
        assert httpx.post(policy["upload_host"], data=form, files=files).status_code == 409  # no overwrite


def test_wavespeed_fake_is_strict():
    with FakeWaveSpeed(key=KEY) as fake:
        url = fake.base_url + "/api/v3/wavespeed-ai/wan-2.1-14b-vace"
        assert httpx.post(url, json={"prompt": "p", "duration": 5}, headers=AUTH).status_code == 200
        for body in ({"prompt": "p", "duration": "5"}, {"prompt": "p", "duration": 11}, {"prompt": "p", "fps": 16},
                     {"prompt": "p", "size": "640*480"}, {"duration": 5},
                     {"prompt": "p", "video": f"{fake.root}/media/uploads/missing.mp4"}):
            assert httpx.post(url, json=body, headers=AUTH).status_code == 400, body


def test_replicate_fake_is_strict():
    with FakeReplicate(key=KEY) as fake:
        url = fake.base_url + "/models/prunaai/vace-14b/predictions"
        assert httpx.post(url, json={"input": {"prompt": "p", "sample_guide_scale": 5}}, headers=AUTH).status_code \
            == 201
        for values in ({"prompt": "p", "sample_guide_scale": 5.5}, {"prompt": "p", "negative_prompt": "x"},
                       {"prompt": "p", "speed_mode": "fast"}, {"prompt": "p", "src_video": "data:video/mp4,abc"}):
            answer = httpx.post(url, json={"input": values}, headers=AUTH)
            assert answer.status_code == 422 and answer.json()["title"] == "Input validation failed", values


def test_comfyui_fake_validates_the_graph(tmp_path):
    clock = FakeClock()
    with FakeComfyUI() as fake:
        backend = ComfyUIBackend(**backend_options(fake, clock))
        job = make_job(tmp_path, Capability.REPAINT, None, control_inputs(17))
        refs = {"video": "missing.mp4"}
        cases = [
            (lambda g: g["17"]["inputs"].update(contorl_video=["40", 0]), "unknown input: contorl_video"),
            (lambda g: g["24"]["inputs"].update(latent_image=["17", 0]), "Return type mismatch"),
            (lambda g: g["24"]["inputs"].update(steps="20"), "steps: expected INT"),
            (lambda g: None, "video: 'missing.mp4' not in"),
            (lambda g: g.pop("32"), "Prompt has no outputs"),
        ]
        for change, message in cases:
            graph = backend.workflow(job, refs)
            change(graph)
            answer = httpx.post(fake.base_url + "/prompt", json={"prompt": graph})
            assert answer.status_code == 400 and message in answer.text, message


def test_jiekou_fake_is_strict():
    with FakeJiekou(key=KEY) as fake:
        url = fake.base_url + "/v3/async/wan-t2v"
        assert httpx.post(url, json={"prompt": "p"}, headers=AUTH).status_code == 200
        four = [{"path": "a/b", "scale": 1.0}] * 4
        for body in ({"prompt": "p", "loras": four}, {"prompt": "p", "width": 832, "height": 832},
                     {"prompt": "p", "guidance_scale": 11}, {"prompt": ""}, {"prompt": "p", "duration": 5}):
            assert httpx.post(url, json=body, headers=AUTH).status_code == 400, body


def test_a_field_the_provider_rejects_surfaces_its_message(tmp_path, monkeypatch):
    clock = FakeClock()
    with FakeReplicate(key=KEY) as fake:
        backend = ReplicateBackend(**backend_options(fake, clock))
        original = backend.build_payload
        monkeypatch.setattr(backend, "build_payload",
                            lambda job, refs: {"input": {**original(job, refs)["input"], "sample_guide_scale": 5.5}})
        with pytest.raises(ProviderError, match=r"HTTP 422: - input.sample_guide_scale: Invalid type. Expected: "
                                                r"integer"):
            backend.generate(make_job(tmp_path, Capability.REPAINT, None, control_inputs(17)), Reporter())
