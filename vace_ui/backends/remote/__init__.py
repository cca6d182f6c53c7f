"""Hosted generation backends: DashScope, WaveSpeed, Replicate, a ComfyUI server, and a Wan 2.1 text-to-video
endpoint. Each is one file implementing the provider's protocol; `base.RemoteBackend` holds the shared flow and
`http` the retries, errors and downloads.

Environment (constructor arguments and set_api_key() take precedence):
  VACE_DASHSCOPE_BASE_URL, VACE_DASHSCOPE_REGION (intl | beijing), DASHSCOPE_API_KEY
  VACE_WAVESPEED_BASE_URL, WAVESPEED_API_KEY
  VACE_REPLICATE_BASE_URL (the API root ending in /v1), REPLICATE_API_TOKEN
  VACE_COMFYUI_URL, VACE_COMFYUI_TOKEN (optional), VACE_COMFYUI_UNET, VACE_COMFYUI_CLIP, VACE_COMFYUI_VAE
  VACE_JIEKOU_BASE_URL, JIEKOU_API_KEY
"""

from __future__ import annotations

from .base import RemoteBackend, TaskState, TaskStatus, Upload
from .comfyui import ComfyUIBackend
from .dashscope import DashScopeBackend
from .http import AuthError, MalformedResponse, ProviderError, ResultExpired, RetryPolicy
from .jiekou import JiekouBackend
from .replicate import ReplicateBackend
from .wavespeed import WaveSpeedBackend

REMOTE_BACKENDS: dict[str, type[RemoteBackend]] = {
    cls.name: cls for cls in (DashScopeBackend, WaveSpeedBackend, ReplicateBackend, ComfyUIBackend, JiekouBackend)
}

__all__ = [
    "REMOTE_BACKENDS", "AuthError", "ComfyUIBackend", "DashScopeBackend", "JiekouBackend", "MalformedResponse",
    "ProviderError", "RemoteBackend", "ReplicateBackend", "ResultExpired", "RetryPolicy", "TaskState", "TaskStatus",
    "Upload", "WaveSpeedBackend",
]
