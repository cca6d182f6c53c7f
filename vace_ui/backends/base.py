"""The one interface every generation backend implements, local or hosted.

The job runner hands a backend a `BackendJob` and gets back a `BackendResult`. Backends know nothing of the UI or
the job store: they report through `JobReporter` (progress, phase, and the provider's task id as soon as it exists,
so a restarted app can resume polling) and stop when `reporter.cancelled` turns true.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..core.errors import InputError
from ..core.inputs import VaceInputs
from ..core.requests import Capability, CapabilityRequest
from ..core.settings import GenerationSettings


class Phase(str, enum.Enum):
    PREPARE = "prepare"
    UPLOAD = "upload"
    ENCODE = "encode"
    QUEUED = "queued"
    DENOISE = "denoise"
    DECODE = "decode"
    DOWNLOAD = "download"
    WRITE = "write"


class JobReporter(Protocol):
    """What a backend may tell the outside world while it runs."""

    @property
    def cancelled(self) -> bool: ...

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None: ...

    def remote_task(self, task_id: str) -> None:
        """Record the provider's task id (called once, right after submission)."""


@dataclass
class BackendJob:
    """Everything a backend may need. `inputs` is the app's own compile (raw VACE inputs); `request` is the
    capability request as the user gave it (for providers with semantic functions); `seed` is already drawn."""

    job_id: str
    capability: Capability
    request: CapabilityRequest
    settings: GenerationSettings
    inputs: VaceInputs | None
    seed: int
    workdir: Path
    extra: dict = field(default_factory=dict)


@dataclass
class BackendResult:
    """Either decoded frames (local) or a downloaded video file (remote); plus what the backend measured."""

    frames: np.ndarray | None = None  # (N, H, W, 3) uint8
    fps: float = 16.0
    video_path: Path | None = None
    remote_task_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BackendCapabilities:
    """What a backend supports, so the UI shows only what it honours and explains the rest."""

    capabilities: frozenset[Capability]
    settings: frozenset[str]  # names of GenerationSettings fields this backend honours
    needs_compiled_inputs: bool = True  # False: the backend maps the request itself (semantic API)
    notes: str = ""
    # The only output sizes ("WxH") the backend accepts, its default first; empty: any multiple of 16. The compile
    # targets exactly one of them (core.compile.size_rule); with no compile, "auto" takes the first.
    sizes: tuple[str, ...] = ()
    sized: frozenset[Capability] | None = None  # the capabilities the size applies to (None: all)
    # The only frame counts one task makes (a long video's windows are planned to them); empty: any 4n+1
    frame_counts: tuple[int, ...] = ()

    def size_applies(self, capability: Capability) -> bool:
        return bool(self.sizes) and (self.sized is None or capability in self.sized)


class Backend(abc.ABC):
    """A place that turns a job into a video."""

    name: str = ""
    label: str = ""
    exclusive: bool = False  # True: jobs on this backend run one at a time (a local GPU)

    @property
    def can_resume(self) -> bool:
        """Whether `resume` is implemented (a remote task can be followed after an app restart)."""
        return type(self).resume is not Backend.resume

    @abc.abstractmethod
    def capabilities(self) -> BackendCapabilities: ...

    @abc.abstractmethod
    def generate(self, job: BackendJob, reporter: JobReporter) -> BackendResult:
        """Run the job to completion. Raise GenerationCancelled when `reporter.cancelled` turns true, and
        BackendUnavailable / InputError / RuntimeError with a message the user can act on otherwise."""

    def check_long(self, request, settings) -> None:
        """Raise InputError when this backend cannot make a long video (Frames above one window) of `request`.
        Backends taking compiled inputs run it as windows; one that maps requests itself cannot, unless it
        overrides this."""
        if self.capabilities().needs_compiled_inputs:
            return
        raise InputError("num_frames", f"{settings.num_frames} frames is more than one window, and {self.label} "
                         f"makes one clip a task that the app cannot chain; lower Frames to {settings.window_frames} "
                         "or fewer, or choose a backend that takes raw VACE inputs (local, WaveSpeed, Replicate or "
                         "ComfyUI), which run long videos in windows.")

    def resume(self, job: BackendJob, remote_task_id: str, reporter: JobReporter) -> BackendResult:
        """Continue a job submitted before an app restart. Local jobs cannot resume."""
        raise NotImplementedError(f"{self.label} cannot resume jobs after a restart.")

    def status(self) -> str:
        """One line for the Settings tab from what is known without asking anyone: weights found, key missing,
        the last check's answer... Never "ready" for something that has not just been checked."""
        return "ready"

    def check(self) -> str:
        """Like `status`, after asking the service where the backend can be asked cheaply (a short timeout)."""
        return self.status()
