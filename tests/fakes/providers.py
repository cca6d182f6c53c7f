"""One simple working job per provider, with its fake, for the tests that every provider must pass (faults,
cancel, resume, secrets)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from vace_ui.backends.base import BackendJob
from vace_ui.backends.remote import (
    ComfyUIBackend,
    DashScopeBackend,
    JiekouBackend,
    RemoteBackend,
    ReplicateBackend,
    WaveSpeedBackend,
)
from vace_ui.core.requests import Capability, OutpaintRequest, ReferenceRequest

from .comfyui_fake import FakeComfyUI
from .common import FakeServer
from .dashscope_fake import FakeDashScope
from .harness import KEY, control_inputs, make_job, write_test_video
from .jiekou_fake import FakeJiekou
from .replicate_fake import FakeReplicate
from .wavespeed_fake import FakeWaveSpeed


@dataclass(frozen=True)
class Case:
    name: str
    fake: Callable[[], FakeServer]
    backend: type[RemoteBackend]
    job: Callable[[Path], BackendJob]
    can_cancel: bool  # the provider documents a cancel endpoint
    error_status: int  # how the provider answers a request it rejects
    error_body: dict
    error_text: str  # what of error_body the user must see

    def __str__(self) -> str:
        return self.name


CASES = [
    Case("dashscope", lambda: FakeDashScope(key=KEY), DashScopeBackend,
         lambda p: make_job(p, Capability.OUTPAINT, OutpaintRequest(video=write_test_video(p / "in.mp4"), left=1.5)),
         False, 400, {"code": "InvalidParameter", "message": "The size of input video is too large."},
         "The size of input video is too large. (InvalidParameter)"),
    Case("wavespeed", lambda: FakeWaveSpeed(key=KEY), WaveSpeedBackend,
         lambda p: make_job(p, Capability.REPAINT, None, control_inputs(81), num_frames=81), False, 400,
         {"code": 400, "message": "video duration exceeds the limit", "data": None},
         "video duration exceeds the limit"),
    Case("replicate", lambda: FakeReplicate(key=KEY), ReplicateBackend,
         lambda p: make_job(p, Capability.REPAINT, None, control_inputs(17)), True, 422,
         {"title": "Input validation failed", "detail": "- input.frame_num: Must be less than or equal to 161",
          "status": 422}, "input.frame_num: Must be less than or equal to 161"),
    Case("comfyui", lambda: FakeComfyUI(token=KEY), ComfyUIBackend,
         lambda p: make_job(p, Capability.REPAINT, None, control_inputs(17)), True, 400,
         {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                    "details": ""}, "node_errors": {"24": {"errors": [{"message": "Value not in list",
                                                                      "details": "sampler_name: 'x'"}],
                                                          "class_type": "KSampler"}}},
         "node 24 (KSampler): Value not in list sampler_name: 'x'"),
    Case("jiekou", lambda: FakeJiekou(key=KEY), JiekouBackend,
         lambda p: make_job(p, Capability.REFERENCE, ReferenceRequest(), None, num_frames=81), False, 400,
         {"code": 400, "reason": "INVALID_REQUEST_BODY", "message": "prompt contains sensitive words"},
         "prompt contains sensitive words (INVALID_REQUEST_BODY)"),
]

every_provider = pytest.mark.parametrize("case", CASES, ids=str)
