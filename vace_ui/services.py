"""The composition root: configuration -> job store, backends and runner. No Gradio here."""

from __future__ import annotations

from dataclasses import dataclass, field

from .backends.base import Backend
from .backends.local import LocalBackend
from .config import AppConfig
from .jobs.context import file_context
from .jobs.control_cache import ControlCache
from .jobs.runner import JobRunner
from .jobs.store import JobStore


@dataclass
class Services:
    config: AppConfig
    store: JobStore
    backends: dict[str, Backend]
    runner: JobRunner
    control_cache: ControlCache = field(default_factory=ControlCache)
    _segmenter: object = field(default=None, repr=False)

    def segmenter(self):
        """The segment-anything model that answers clicks (built on first use; raises when weights are missing)."""
        if self._segmenter is None:
            from .masks.sam import SamSegmenter, build_tiny_sam

            if self.config.sam_model == "tiny-random":
                self._segmenter = SamSegmenter(model=build_tiny_sam(), device="cpu")
            else:
                model_type = None if self.config.sam_model == "auto" else self.config.sam_model
                self._segmenter = SamSegmenter(model_type=model_type)
        return self._segmenter

    def sam_refiner(self):
        """Per-frame segment-anything refinement for tracking when real SAM weights are present, else None. It
        shares the click segmenter's weights but has its own image state."""
        from .masks.sam import SamRefiner, SamSegmenter, SamWeightsMissing, find_checkpoint

        if self.config.sam_model == "tiny-random":
            return None
        try:
            find_checkpoint(None if self.config.sam_model == "auto" else self.config.sam_model)
            clicks = self.segmenter()
            return SamRefiner(SamSegmenter(model=clicks.model, device=clicks.device))
        except SamWeightsMissing:
            return None

    @property
    def local(self) -> LocalBackend:
        return self.backends["local"]  # type: ignore[return-value]


def create_services(config: AppConfig) -> Services:
    """Build everything the UI needs. Cheap: no model is loaded until the first generation."""
    store = JobStore(config.output_dir)
    from .backends.remote import REMOTE_BACKENDS

    local = LocalBackend(config.model, config.models_dir, config.device, config.output_dir / "measured_speed.json")
    backends: dict[str, Backend] = {"local": local}
    backends.update({name: backend_class() for name, backend_class in REMOTE_BACKENDS.items()})
    cache = ControlCache()
    services = Services(config, store, backends, None, cache)  # type: ignore[arg-type]
    services.runner = JobRunner(
        store, backends, context_factory=lambda progress=None: file_context(progress, cache, services.sam_refiner)
    )
    return services
