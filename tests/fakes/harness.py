"""Test helpers for the remote backends: a fake clock, recording reporters, small VACE inputs built directly
(64x64), media files on disk, and decoding of results."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vace_ui.backends.base import BackendJob, Phase
from vace_ui.backends.remote import RetryPolicy
from vace_ui.core import constants as C
from vace_ui.core.inputs import VaceInputs
from vace_ui.core.requests import Capability, ReferenceRequest
from vace_ui.core.settings import GenerationSettings

from .common import result_video

KEY = "sk-test-SECRET-7f3a9c1e5b"


class FakeClock:
    """clock() and sleep() for backends: sleeping advances time at once and is recorded."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Reporter:
    """Records what a backend reports. cancel_when(reporter) -> bool turns `cancelled` on once it holds."""

    def __init__(self, cancel_when=None):
        self.phases: list[tuple[Phase, int, int, str]] = []
        self.task_ids: list[str] = []
        self.cancel_when = cancel_when
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        if not self._cancelled and self.cancel_when is not None and self.cancel_when(self):
            self._cancelled = True
        return self._cancelled

    def phase(self, phase: Phase, step: int = 0, total: int = 0, message: str = "") -> None:
        self.phases.append((phase, step, total, message))

    def remote_task(self, task_id: str) -> None:
        self.task_ids.append(task_id)

    def seen(self, phase: Phase) -> bool:
        return any(p is phase for p, *_ in self.phases)


class Crash(Exception):
    """Stands in for the app dying right after the task id was stored."""


class CrashingReporter(Reporter):
    def remote_task(self, task_id: str) -> None:
        super().remote_task(task_id)
        raise Crash(task_id)


def backend_options(fake, clock: FakeClock, **overrides) -> dict:
    options = dict(base_url=fake.base_url, api_key=fake.key,
                   retry=RetryPolicy(attempts=3, base_delay=1.0, max_delay=4.0, jitter=0.25),
                   timeout=0.5, poll_interval=2.0, sleep=clock.sleep, clock=clock.clock)
    options.update(overrides)
    return options


# -- inputs -----------------------------------------------------------------------------------------------------
SIZE = 64


def _pattern(frames: int, seed: int = 0) -> np.ndarray:
    """Smooth moving gradients (H.264 keeps them close), different per seed."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    t = np.arange(frames)[:, None, None]
    red = (x * 3 + t * 2 + seed * 40) % 256
    green = (y * 3 + seed * 25 + 0 * t) % 256
    blue = np.broadcast_to(128 + 100 * np.sin((x + y + t) / 10.0), red.shape)
    return np.stack([red, np.broadcast_to(green, red.shape), blue], axis=-1).astype(np.uint8)


def reference_image(seed: int = 1) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), 255, np.uint8)
    image[16:48, 20:44] = np.random.default_rng(seed).integers(0, 200, size=(32, 24, 3), dtype=np.uint8)
    return image


def blank_inputs(frames: int = 17, refs: int = 0) -> VaceInputs:
    return VaceInputs(video=np.full((frames, SIZE, SIZE, 3), C.NEUTRAL_GRAY, np.uint8),
                      mask=np.full((frames, SIZE, SIZE), C.MASK_GENERATE, np.uint8),
                      references=[reference_image(i + 1) for i in range(refs)])


def control_inputs(frames: int = 17, refs: int = 0) -> VaceInputs:
    return VaceInputs(video=_pattern(frames), mask=np.full((frames, SIZE, SIZE), C.MASK_GENERATE, np.uint8),
                      references=[reference_image(i + 1) for i in range(refs)])


def edit_inputs(frames: int = 17, refs: int = 0) -> VaceInputs:
    """A square moving right one pixel a frame: a mask that changes every frame."""
    video, mask = _pattern(frames), np.zeros((frames, SIZE, SIZE), np.uint8)
    for index in range(frames):
        mask[index, 20:40, 5 + index:25 + index] = C.MASK_GENERATE
    video[mask > 0] = C.NEUTRAL_GRAY
    return VaceInputs(video=video, mask=mask, references=[reference_image(i + 1) for i in range(refs)])


def extend_inputs(frames: int = 17, keep_first: int = 0, keep_last: int = 0) -> VaceInputs:
    video = np.full((frames, SIZE, SIZE, 3), C.NEUTRAL_GRAY, np.uint8)
    mask = np.full((frames, SIZE, SIZE), C.MASK_GENERATE, np.uint8)
    source = _pattern(frames, seed=3)
    for index in list(range(keep_first)) + list(range(frames - keep_last, frames)):
        video[index], mask[index] = source[index], C.MASK_KEEP
    return VaceInputs(video=video, mask=mask)


def outpaint_inputs(frames: int = 17) -> VaceInputs:
    """The input placed in the middle of a larger gray canvas: a static border mask."""
    video = np.full((frames, SIZE, SIZE, 3), C.NEUTRAL_GRAY, np.uint8)
    mask = np.full((frames, SIZE, SIZE), C.MASK_GENERATE, np.uint8)
    video[:, 16:48, 16:48] = _pattern(frames)[:, 16:48, 16:48]
    mask[:, 16:48, 16:48] = C.MASK_KEEP
    return VaceInputs(video=video, mask=mask)


def make_job(tmp_path: Path, capability: Capability = Capability.REFERENCE, request=None,
             inputs: VaceInputs | None = None, seed: int = 1234, extra: dict | None = None,
             **settings) -> BackendJob:
    """As the job runner builds it: the drawn (or chosen) seed is in both job.seed and settings.seed."""
    values = {"prompt": "a red fox running through snow", "size": "832x480", "num_frames": 17, "seed": seed}
    values.update(settings)
    workdir = tmp_path / "job"
    workdir.mkdir(parents=True, exist_ok=True)
    return BackendJob(job_id="job1", capability=capability, request=request or ReferenceRequest(),
                      settings=GenerationSettings(**values), inputs=inputs, seed=seed, workdir=workdir,
                      extra=extra or {})


# -- files ------------------------------------------------------------------------------------------------------
def write_test_video(path: Path, frames: int = 17, fps: float = 16.0) -> str:
    from vace_ui.media.video import write_video

    return str(write_video(path, _pattern(frames, seed=5), fps=fps))


def write_test_image(path: Path, mask: bool = False) -> str:
    from PIL import Image

    if mask:
        array = np.zeros((SIZE, SIZE, 4), np.uint8)  # a brush layer: black colour, painted alpha
        array[10:30, 12:50, 3] = 255
        array[40:44, 40:44, 3] = 255
    else:
        array = reference_image(7)
    Image.fromarray(array).save(path)
    return str(path)


def decode(source) -> np.ndarray:
    """All frames (N, H, W, 3) of an MP4 given as a path or bytes."""
    import av

    with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def expected_result() -> np.ndarray:
    return decode(result_video())


def leftovers(folder: Path) -> list[str]:
    """Partial files a download could have left."""
    return sorted(p.name for p in Path(folder).rglob("*") if p.name.startswith(".partial"))
