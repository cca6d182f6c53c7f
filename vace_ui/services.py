"""The composition root: configuration -> job store, backends and runner. No Gradio here."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from .backends.base import Backend
from .backends.local import LocalBackend
from .config import AppConfig
from .jobs.context import file_context
from .jobs.control_cache import ControlCache
from .jobs.policy import JobPolicy
from .jobs.runner import JobRunner
from .jobs.store import JobStore


class SamModels:
    """The segment-anything weights, loaded once on first use and shared: the click segmenter and, when real
    weights are present, the per-frame refiner for tracking (its own image state, the same weights)."""

    def __init__(self, model: str):
        self.model = model  # auto (largest checkpoint in models/sam), vit_b, vit_l, vit_h or tiny-random
        self._clicks = None

    def clicks(self):
        """The segmenter that answers clicks (built on first use; raises when weights are missing)."""
        if self._clicks is None:
            from .masks.sam import SamSegmenter, build_tiny_sam

            if self.model == "tiny-random":
                self._clicks = SamSegmenter(model=build_tiny_sam(), device="cpu")
            else:
                self._clicks = SamSegmenter(model_type=None if self.model == "auto" else self.model)
        return self._clicks

    def refiner(self):
        """Per-frame refinement for tracking when real SAM weights are present, else None (random weights never
        refine real masks)."""
        from .masks.sam import SamRefiner, SamSegmenter, SamWeightsMissing, find_checkpoint

        if self.model == "tiny-random":
            return None
        try:
            find_checkpoint(None if self.model == "auto" else self.model)
            clicks = self.clicks()
            return SamRefiner(SamSegmenter(model=clicks.model, device=clicks.device))
        except SamWeightsMissing:
            return None


class VideoTrackers:
    """The learned video trackers (masks/video_trackers.py), each built once on first use and kept."""

    def __init__(self, config: AppConfig):
        self.config = config
        self._built: dict[str, object] = {}

    def get(self, choice: str) -> tuple[str, object | None]:
        """(tracker name, learned tracker) for a tracker choice; (`flow`, None) for the flow tracker, and for `auto`
        when no learned tracker has weights. Weights load on first use. An explicit choice whose weights are missing
        raises TrackerWeightsMissing naming the files and the folder. `tiny-random`: random-weight ones (tests)."""
        from .annotators.weights import downloads_allowed
        from .masks import video_trackers

        tiny = self.config.tracker_model == "tiny-random"
        name = ("sam2" if choice == "auto" else choice) if tiny else video_trackers.resolve(choice,
                                                                                          self.config.models_dir)
        if name == "flow":
            return name, None
        if name not in self._built:
            if tiny:
                from .masks.tiny_trackers import build_tiny

                model, processor = build_tiny(name)
                self._built[name] = video_trackers.VideoTracker(name, model=model, processor=processor, device="cpu")
            else:
                allow = downloads_allowed()
                source = video_trackers.find_weights(name, self.config.models_dir, allow)
                device = None if self.config.device == "auto" else self.config.device
                self._built[name] = video_trackers.VideoTracker(name, source, device, allow_downloads=allow)
        return name, self._built[name]

    def text(self):
        """The SAM 3 text segmenter (masks/text_masks.py), built once; TrackerWeightsMissing naming the files and
        the folder when its weights are missing. `tiny-random`: a random-weight one (tests)."""
        from .annotators.weights import downloads_allowed
        from .masks import text_masks

        if "text" not in self._built:
            if self.config.tracker_model == "tiny-random":
                from .masks.tiny_trackers import build_tiny_text

                model, processor = build_tiny_text()
                self._built["text"] = text_masks.TextSegmenter(model=model, processor=processor, device="cpu")
            else:
                allow = downloads_allowed()
                source = text_masks.find_text_weights(self.config.models_dir, allow)
                device = None if self.config.device == "auto" else self.config.device
                self._built["text"] = text_masks.TextSegmenter(source, device, allow_downloads=allow)
        return self._built["text"]


@dataclass
class Services:
    config: AppConfig
    store: JobStore
    backends: dict[str, Backend]
    runner: JobRunner
    control_cache: ControlCache
    sam: SamModels
    trackers: VideoTrackers = field(default=None)  # type: ignore[assignment]

    def video_tracker(self, choice: str) -> tuple[str, object | None]:
        """The tracker for a choice (see VideoTrackers.get)."""
        return self.trackers.get(choice)

    @property
    def gpu_slots(self) -> int:
        """How many generations may run at once: one in process, one per worker on Ray."""
        return len(getattr(self.local, "slots", ())) or 1

    @property
    def local(self) -> LocalBackend:
        return self.backends["local"]  # type: ignore[return-value]


def create_services(config: AppConfig) -> Services:
    """Build everything the UI needs. Cheap: no model is loaded until the first generation."""
    store = JobStore(config.output_dir)
    from .backends.remote import REMOTE_BACKENDS

    measured = config.output_dir / "measured_speed.json"
    if config.parallel:  # rank 0 of a torchrun group: each job split across the ranks; imports torch.distributed here
        from .backends.parallel_backend import ParallelBackend, init_group

        group = init_group(config.parallel, config.device, config.local_rank, config.parallel_attempt)
        local = ParallelBackend(config.model, config.models_dir, group, measured)
    elif config.ray_address:  # generation on Ray workers; imports Ray only here
        from .backends.ray_backend import RayBackend

        local: LocalBackend = RayBackend(config.ray_address, config.model, config.models_dir, config.device, measured,
                                         workers=config.ray_workers, retries=config.ray_retries)
    else:
        local = LocalBackend(config.model, config.models_dir, config.device, measured)
    backends: dict[str, Backend] = {"local": local}
    backends.update({name: backend(provider=config.provider(name)) for name, backend in REMOTE_BACKENDS.items()})
    cache, sam, trackers = ControlCache(), SamModels(config.sam_model), VideoTrackers(config)
    runner = JobRunner(store, backends, context_factory=partial(file_context, cache=cache, refiner=sam.refiner,
                                                                trackers=trackers.get, segmenter=trackers.text),
                       policy=JobPolicy.from_config(config), folders={"models": config.models_dir})
    return Services(config, store, backends, runner, cache, sam, trackers)
