"""Wan2.2 A14B-shaped tiny pipeline (two experts, random weights) through the real LocalBackend: each expert runs
on its side of the boundary, guidance_scale_2 reaches the low-noise expert, and the job's boundary is honoured."""

from __future__ import annotations

import numpy as np
import pytest

from vace_ui.backends.base import BackendJob
from vace_ui.backends.local import LocalBackend
from vace_ui.backends.model_catalog import load_catalog
from vace_ui.backends.tiny_model import TINY_BOUNDARY_RATIO, ensure_tiny_model
from vace_ui.core.errors import InputError
from vace_ui.core.inputs import VaceInputs
from vace_ui.core.requests import Capability
from vace_ui.core.settings import GenerationSettings


class Reporter:
    cancelled = False

    def phase(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    folder = ensure_tiny_model(tmp_path_factory.mktemp("two") / "tiny-two-experts", two_experts=True)
    return LocalBackend(str(folder), tmp_path_factory.mktemp("models"), device="cpu")


def _inputs() -> VaceInputs:
    n, h, w = 5, 32, 32
    return VaceInputs(np.full((n, h, w, 3), 128, np.uint8), np.ones((n, h, w), bool))


def _run(backend, settings) -> dict:
    pipe = backend.load()
    seen = {"transformer": [], "transformer_2": []}
    handles = [getattr(pipe, name).register_forward_pre_hook(
        lambda module, args, kwargs, name=name: seen[name].append(float(kwargs["timestep"][0])), with_kwargs=True)
        for name in seen]
    try:
        job = BackendJob("two", Capability.EDIT, None, settings, _inputs(), 0, backend.models_dir)
        result = backend.generate(job, Reporter())
    finally:
        for handle in handles:
            handle.remove()
    assert result.frames.shape == (5, 32, 32, 3)
    return seen


def test_each_expert_runs_on_its_side_of_the_boundary(backend):
    settings = GenerationSettings(prompt="a dog", steps=6, guidance_scale=3.0, guidance_scale_2=4.0, seed=1)
    seen = _run(backend, settings)
    boundary = TINY_BOUNDARY_RATIO * 1000
    assert seen["transformer"] and seen["transformer_2"], seen
    assert min(seen["transformer"]) >= boundary > max(seen["transformer_2"])
    # guidance above 1 on both sides: each expert runs its conditional and unconditional pass per step
    assert len(seen["transformer"]) + len(seen["transformer_2"]) == 2 * 6


def test_the_jobs_boundary_moves_the_switch_and_the_models_own_comes_back(backend):
    moved = _run(backend, GenerationSettings(prompt="a dog", steps=6, guidance_scale=1.0, boundary_ratio=0.5, seed=1))
    assert min(moved["transformer"]) >= 500 > max(moved["transformer_2"])
    own = _run(backend, GenerationSettings(prompt="a dog", steps=6, guidance_scale=1.0, seed=1))
    assert min(own["transformer"]) >= TINY_BOUNDARY_RATIO * 1000 > max(own["transformer_2"])
    assert len(own["transformer_2"]) > len(moved["transformer_2"]) >= 1


def test_catalog_lists_the_a14b_and_settings_check_the_new_fields():
    entry = load_catalog()["linoyts/Wan2.2-VACE-Fun-14B-diffusers"]
    assert entry.experts == 2 and "1280x720" in entry.sizes
    with pytest.raises(InputError, match="boundary_ratio"):
        GenerationSettings(prompt="x", boundary_ratio=1.5).validate()
    restored = GenerationSettings.from_dict(GenerationSettings(guidance_scale_2=2.5, boundary_ratio=0.9).to_dict())
    assert (restored.guidance_scale_2, restored.boundary_ratio) == (2.5, 0.9)


def test_speed_and_memory_modes_reach_both_experts(tmp_path):
    from vace_ui.backends.local_modes import cache_stats, configure_pipeline, experts, prepare_run
    from vace_ui.backends.tiny_model import build_tiny_pipeline
    from vace_ui.backends.vace_cache import vace_cache_handle

    pipe = build_tiny_pipeline(two_experts=True)
    applied = configure_pipeline(pipe, "balanced", "fp8_storage", "cpu", False)
    assert applied.storage_dtype == "float8_e4m3fn" and len(experts(pipe)) == 2
    for transformer in experts(pipe):
        assert vace_cache_handle(transformer) is not None
        assert any(p.dtype.is_floating_point and p.element_size() == 1 for p in transformer.parameters())
    prepare_run(pipe)
    pipe(prompt="a dog", video=None, height=32, width=32, num_frames=5, num_inference_steps=4, guidance_scale=1.0,
         output_type="np")
    stats = cache_stats(pipe)
    assert len(stats["per_expert"]) == 2
    assert all(item["computed_calls"] + item["cached_calls"] > 0 for item in stats["per_expert"])


def test_estimate_counts_both_experts():
    from vace_ui.backends.local_estimate import RunModes, RunShape, estimate_vram_gb
    from vace_ui.backends.wan_specs import VACE_14B, transformer_params

    one = RunShape("Wan-AI/Wan2.1-VACE-14B-diffusers")
    two = RunShape("linoyts/Wan2.2-VACE-Fun-14B-diffusers")
    on_gpu = RunModes("off", "gpu")
    second_expert_gb = transformer_params(VACE_14B) * 2 / 1e9  # about 35 GB in bf16, as the hub's shards
    assert estimate_vram_gb(two, on_gpu) - estimate_vram_gb(one, on_gpu) == pytest.approx(second_expert_gb)
    assert 33 < second_expert_gb < 36
    offload = RunModes("off", "model_offload")  # one expert on the device at a time
    assert estimate_vram_gb(two, offload) == pytest.approx(estimate_vram_gb(one, offload))


def test_switching_models_drops_the_old_pipeline(backend, tiny_models_dir):
    import gc
    import weakref

    local = LocalBackend(backend.model, tiny_models_dir, device="cpu")
    old = weakref.ref(local.load())
    assert old().transformer_2 is not None
    report = local.use_model("tiny-random")
    gc.collect()
    assert old() is None, "the previous pipeline is still referenced"
    assert report["after"]["rss_bytes"] <= report["before"]["rss_bytes"] * 1.10
    assert getattr(local.load(), "transformer_2", None) is None and local.is_tiny
