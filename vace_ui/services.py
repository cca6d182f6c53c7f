"""The composition root: configuration -> job store, backends and runner. No Gradio here."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .backends.base import Backend
from .backends.local import LocalBackend
from .config import AppConfig
from .jobs.context import file_context
from .jobs.control_cache import ControlCache
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


@dataclass
class Services:
    config: AppConfig
    store: JobStore
    backends: dict[str, Backend]
    runner: JobRunner
    control_cache: ControlCache
    sam: SamModels

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
    cache, sam = ControlCache(), SamModels(config.sam_model)
    runner = JobRunner(store, backends, context_factory=partial(file_context, cache=cache, refiner=sam.refiner))
    return Services(config, store, backends, runner, cache, sam)
