"""Speed and memory modes on the real diffusers WanVACEPipeline with tiny random weights (CPU), and the estimates."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from vace_ui.backends.local_estimate import (
    MeasuredStore,
    RunModes,
    RunShape,
    choose_memory_mode,
    estimate_run,
    estimate_vram_gb,
)
from vace_ui.backends.local_modes import (
    DISTILL_PRESETS,
    apply_distill_preset,
    cache_stats,
    configure_pipeline,
    make_step_callback,
    prepare_run,
)
from vace_ui.backends.tiny_model import build_tiny_pipeline
from vace_ui.backends.vace_cache import VaceCacheConfig, apply_vace_cache, remove_vace_cache
from vace_ui.backends.wan_specs import MODEL_SPECS, transformer_flops, transformer_params
from vace_ui.core.errors import InputError
from vace_ui.core.settings import GenerationSettings, LoraSpec, MemoryMode, Solver, SpeedMode

SHAPE = (1, 9, 64, 64, 3)


def fresh_pipe():
    pipe = build_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, applied=None, steps=3, guidance=5.0, callback=None):
    prepare_run(pipe)
    return pipe(prompt="a dog walks in the city", negative_prompt="blurry", height=64, width=64, num_frames=9,
                num_inference_steps=steps, guidance_scale=guidance, generator=torch.Generator().manual_seed(0),
                output_type="np", callback_on_step_end=make_step_callback(applied, callback)).frames


@pytest.fixture(scope="module")
def pipe():
    return fresh_pipe()


@pytest.fixture(scope="module")
def reference(pipe):
    return generate(pipe, configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False))


def transformer_inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(1, 16, 3, 8, 8, generator=g), timestep=torch.tensor([500.0]),
                encoder_hidden_states=torch.randn(1, 7, 32, generator=g),
                control_hidden_states=torch.randn(1, 96, 3, 8, 8, generator=g), return_dict=False)


def repeated_calls(transformer, inputs, times=3):
    with torch.no_grad(), transformer.cache_context("cond"):
        outputs = [transformer(**inputs)[0] for _ in range(times)]
    transformer._reset_stateful_cache()
    return outputs


class Counter:
    """Counts forward calls of a module that only runs when its block really computes."""

    def __init__(self, module):
        self.calls = 0
        self.handle = module.register_forward_pre_hook(self._hit)

    def _hit(self, module, args):
        self.calls += 1


@pytest.mark.parametrize("speed", list(SpeedMode))
def test_each_speed_mode_produces_a_video_of_the_right_shape(pipe, reference, speed):
    applied = configure_pipeline(pipe, speed, MemoryMode.GPU, "cpu", False)
    frames = generate(pipe, applied)
    assert frames.shape == SHAPE and np.isfinite(frames).all()
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    if speed is SpeedMode.FAST:  # guidance dropped after 60% of the steps: a different result
        assert np.abs(frames - reference).max() > 1e-3


@pytest.mark.parametrize("memory", [MemoryMode.GPU, MemoryMode.MODEL_OFFLOAD, MemoryMode.GROUP_OFFLOAD,
                                    MemoryMode.FP8_STORAGE])
def test_each_memory_mode_runs_on_cpu_lossless_ones_exactly(reference, memory):
    pipe = fresh_pipe()
    applied = configure_pipeline(pipe, SpeedMode.OFF, memory, "cpu", vae_tiling=True)
    frames = generate(pipe, applied)
    assert frames.shape == SHAPE and applied.memory == memory.value and pipe.vae.use_tiling
    difference = np.abs(frames - reference).max()
    if memory is MemoryMode.FP8_STORAGE:  # weights rounded to float8: close, not equal
        assert 0 < difference < 0.5 and applied.storage_dtype == "float8_e4m3fn"
        assert pipe.transformer.blocks[0].ffn.net[2].weight.dtype == torch.float8_e4m3fn
    else:
        assert difference == 0.0


def test_off_is_bit_identical_across_runs_and_after_fast_and_back(pipe, reference):
    configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
    assert np.array_equal(generate(pipe), reference)
    fast = configure_pipeline(pipe, SpeedMode.FAST, MemoryMode.GPU, "cpu", False)
    changed = generate(pipe, fast, steps=8)
    assert cache_stats(pipe)["cached_calls"] > 0 and not np.array_equal(changed, reference)
    off = configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
    assert off.cache is None and cache_stats(pipe) is None
    hooks = [name for module in pipe.transformer.modules() if hasattr(module, "_diffusers_hook")
             for name in module._diffusers_hook.hooks]
    assert hooks == []
    assert np.array_equal(generate(pipe, off), reference)


def test_configure_records_what_it_applied(pipe):
    fast = configure_pipeline(pipe, SpeedMode.FAST, MemoryMode.GPU, "cpu", True).to_dict()
    json.dumps(fast)
    assert fast["speed"] == "fast" and fast["memory"] == "gpu" and fast["vae_tiling"] is True
    assert fast["cache"] == {"method": "teacache-vace", "level": "fast", "threshold": 0.10, "retention_steps": 5,
                             "coefficients_of": "wan2.1-t2v-1.3b"}
    assert fast["cfg_step_ratio"] == 0.6 and fast["attention_backend"] == "native" and fast["compiled"] is False
    assert any("CUDA only" in note for note in fast["notes"]) and fast["model"] == "tiny-random"
    balanced = configure_pipeline(pipe, SpeedMode.BALANCED, MemoryMode.GPU, "cpu", False).to_dict()
    assert balanced["cache"]["threshold"] == 0.05 and balanced["cfg_step_ratio"] == 1.0
    auto = configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.AUTO, "cpu", False).to_dict()
    assert auto["requested_memory"] == "auto" and auto["memory"] == "gpu" and auto["cache"] is None


def test_leaving_offload_modes_model_offload_in_place_group_offload_needs_reload():
    pipe = fresh_pipe()
    configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.MODEL_OFFLOAD, "cpu", False)
    assert hasattr(pipe.transformer, "_hf_hook")
    back = configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
    assert not back.needs_reload and not hasattr(pipe.transformer, "_hf_hook")
    grouped = configure_pipeline(pipe, SpeedMode.BALANCED, MemoryMode.GROUP_OFFLOAD, "cpu", False)
    assert grouped.memory == "group_offload" and grouped.cache is not None
    again = configure_pipeline(pipe, SpeedMode.FAST, MemoryMode.GROUP_OFFLOAD, "cpu", False)
    assert not again.needs_reload and again.cache["level"] == "fast"
    refused = configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
    assert refused.needs_reload and refused.memory == "group_offload"
    assert any("loaded again" in note for note in refused.notes)
    assert generate(pipe, again, steps=3).shape == SHAPE  # still usable in the mode it is in


def test_vace_cache_reuses_exactly_while_diffusers_block_caches_count_the_hints_twice(pipe):
    from diffusers.hooks import FirstBlockCacheConfig, MagCacheConfig

    configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
    transformer = pipe.transformer
    inputs = transformer_inputs()
    reference = repeated_calls(transformer, inputs)
    handle = apply_vace_cache(transformer, VaceCacheConfig(threshold=1.0, coefficients=(1.0, 0.0), retention_steps=1))
    vace_compute = Counter(transformer.vace_blocks[1].attn1)
    cached = repeated_calls(transformer, inputs)
    remove_vace_cache(transformer)
    assert handle.stats.to_dict() == {"computed_calls": 1, "cached_calls": 2} and vace_compute.calls == 1
    assert max((a - b).abs().max().item() for a, b in zip(cached, reference)) < 1e-5
    silent = dict(inputs, control_hidden_states_scale=torch.zeros(2))
    silent_reference = repeated_calls(transformer, silent)
    for config in (FirstBlockCacheConfig(threshold=0.5),
                   MagCacheConfig(mag_ratios=[1.0] * 3, num_inference_steps=3, retention_ratio=0.0, threshold=0.5)):
        transformer.enable_cache(config)
        with_hints = repeated_calls(transformer, inputs)
        without_hints = repeated_calls(transformer, silent)
        transformer.disable_cache()
        assert (with_hints[1] - reference[1]).abs().max().item() > 0.05  # hints counted twice on the cached call
        assert (without_hints[1] - silent_reference[1]).abs().max().item() < 1e-5  # exact once hints are zero


def test_diffusers_taylorseer_default_hooks_nothing_on_wan_lite_mode_is_exact_on_repeats(pipe):
    from diffusers.hooks import TaylorSeerCacheConfig

    configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
    transformer = pipe.transformer
    transformer.enable_cache(TaylorSeerCacheConfig())
    hooked = [name for name, module in transformer.named_modules() if hasattr(module, "_diffusers_hook")
              and module._diffusers_hook.hooks]
    transformer.disable_cache()
    assert hooked == []  # its patterns need names ending in "attn"; Wan's are attn1/attn2
    inputs = transformer_inputs(2)
    reference = repeated_calls(transformer, inputs, times=4)
    transformer.enable_cache(TaylorSeerCacheConfig(use_lite_mode=True, cache_interval=2, disable_cache_before_step=1,
                                                   taylor_factors_dtype=torch.float32))
    computed = Counter(transformer.blocks[1].attn1)
    predicted = repeated_calls(transformer, inputs, times=4)
    transformer.disable_cache()
    assert computed.calls < 4
    assert max((a - b).abs().max().item() for a, b in zip(predicted, reference)) < 1e-5


def test_vace_cache_keeps_first_calls_and_one_state_per_cfg_branch(pipe):
    configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
    handle = apply_vace_cache(pipe.transformer, VaceCacheConfig(0.5, (1.0, 0.0), retention_steps=3))
    computed = Counter(pipe.transformer.blocks[2].ffn)
    generate(pipe, steps=8)
    remove_vace_cache(pipe.transformer)
    stats = handle.stats.to_dict()
    assert stats["computed_calls"] + stats["cached_calls"] == 16 and stats["cached_calls"] > 0
    assert stats["computed_calls"] >= 2 * 3 and computed.calls == stats["computed_calls"]


def test_guidance_cutoff_drops_the_unconditional_pass_and_calls_the_user_callback(pipe):
    seen = []
    counter = Counter(pipe.transformer.patch_embedding)
    for speed, expected in ((SpeedMode.OFF, 10), (SpeedMode.FAST, 5 + 3)):
        applied = configure_pipeline(pipe, speed, MemoryMode.GPU, "cpu", False)
        if applied.cache:
            remove_vace_cache(pipe.transformer)  # count the guidance effect alone
        counter.calls = 0
        generate(pipe, applied, steps=5, callback=lambda p, step, t, kwargs: seen.append(step))
        assert counter.calls == expected
    assert seen == list(range(5)) * 2
    counter.handle.remove()
    configure_pipeline(pipe, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)


def test_param_counts_and_flops_match_the_diffusers_modules():
    from diffusers import WanVACETransformer3DModel
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    for spec in MODEL_SPECS.values():
        with torch.device("meta"):
            model = WanVACETransformer3DModel(**spec.transformer)
        assert transformer_params(spec.transformer) == sum(p.numel() for p in model.parameters())
    tiny = build_tiny_pipeline().transformer
    assert {key: tiny.config[key] for key in MODEL_SPECS["tiny-random"].transformer} == {
        key: (tuple(v) if key == "patch_size" else v) for key, v in MODEL_SPECS["tiny-random"].transformer.items()}
    inputs = transformer_inputs()
    inputs["encoder_hidden_states"] = torch.randn(1, 512, 32)  # the pipeline pads prompts to 512 tokens
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:
        tiny(**inputs)
    assert counter.get_total_flops() == transformer_flops(MODEL_SPECS["tiny-random"], 64, 64, 9)
    assert transformer_params(MODEL_SPECS["wan2.1-vace-1.3b"].transformer) == 2_153_972_032


def test_estimates_scale_sensibly():
    def run(speed=SpeedMode.OFF, memory=MemoryMode.GPU, gpu_name="NVIDIA H100 80GB HBM3", **changes):
        shape = RunShape(**{"model": "Wan-AI/Wan2.1-VACE-1.3B-diffusers", "width": 832, "height": 480,
                            "num_frames": 81, "steps": 25, "guidance": 5.0, **changes})
        return estimate_run(shape, RunModes(speed, memory), gpu_name=gpu_name)

    base = run()
    assert run(num_frames=161).seconds > base.seconds and run(steps=50).seconds > base.seconds
    assert run(guidance=1.0).seconds < base.seconds
    assert run(speed=SpeedMode.FAST).seconds < run(speed=SpeedMode.BALANCED).seconds < base.seconds
    assert run(model="wan2.1-vace-14b", width=1280, height=720).seconds > 4 * base.seconds
    assert run(gpu_name="NVIDIA GeForce RTX 4090").seconds > base.seconds
    assert run(num_references=2).seconds > base.seconds
    vram = {mode: run(memory=mode).vram_gb for mode in list(MemoryMode)[1:]}
    assert vram[MemoryMode.GROUP_OFFLOAD] < vram[MemoryMode.MODEL_OFFLOAD] < vram[MemoryMode.GPU]
    assert run(model="wan2.1-vace-14b", memory=MemoryMode.FP8_STORAGE).vram_gb < run(
        model="wan2.1-vace-14b", memory=MemoryMode.MODEL_OFFLOAD).vram_gb
    assert run(memory=MemoryMode.GPU).vram_gb > 15  # the 11 GB text encoder stays resident
    assert re.fullmatch(r"about \d+ GB, about \d+ (s|min) on this GPU", base.text), base.text
    assert run(gpu_name=None).text.endswith("on an RTX 4090") and base.basis == "model"
    assert run(memory=MemoryMode.AUTO) == run(memory=MemoryMode.GPU)  # AUTO without free memory: estimated as GPU


def test_run_modes_coerce_strings_and_name_a_bad_field():
    assert RunModes("fast", "fp8_storage") == RunModes(SpeedMode.FAST, MemoryMode.FP8_STORAGE)
    with pytest.raises(InputError) as raised:
        RunModes("off", "floppy")
    assert raised.value.field == "memory_mode" and "'floppy' is not one of auto, gpu" in str(raised.value)
    settings = GenerationSettings(steps=8, guidance_scale=1.0, speed_mode="balanced", memory_mode="gpu",
                                  vae_tiling=True)
    assert RunModes.from_settings(settings) == RunModes(SpeedMode.BALANCED, MemoryMode.GPU, True)
    shape = RunShape.from_settings("tiny-random", settings, 64, 48, 9, num_references=1)
    assert shape == RunShape("tiny-random", 64, 48, 9, 8, 1.0, 1) and not shape.guided


def test_measured_runs_refine_the_estimate(tmp_path):
    store = MeasuredStore(tmp_path / "measured.json")
    shape, off_gpu = RunShape("wan2.1-vace-1.3b", 832, 480, 81, steps=30, guidance=5.0), RunModes("off", "gpu")
    store.record(shape, off_gpu, "NVIDIA L40S", 10.0, vae_seconds=20.0, peak_vram_gb=19.5)
    row = store.record(shape, off_gpu, "NVIDIA L40S", 12.0, vae_seconds=20.0)
    assert row["n"] == 2 and row["seconds_per_step"] == 11.0
    assert (row["model"], row["speed"], row["memory"], row["guidance"]) == ("wan2.1-vace-1.3b", "off", "gpu", True)
    exact = estimate_run(shape, off_gpu, "NVIDIA L40S", measured=store)
    assert exact.basis == "measured" and exact.seconds == pytest.approx(30 * 11.0 + 20.0, rel=1e-3)
    assert exact.vram_gb == 19.5
    longer = estimate_run(RunShape("wan2.1-vace-1.3b", 832, 480, 161, steps=30), off_gpu, "NVIDIA L40S",
                          measured=tmp_path / "measured.json")
    assert longer.basis == "measured" and longer.seconds > 2 * 30 * 11.0
    assert estimate_run(shape, off_gpu, "NVIDIA A100", measured=store).basis == "model"
    (tmp_path / "broken.json").write_text("{not json")
    assert MeasuredStore(tmp_path / "broken.json").closest(shape, off_gpu, "x") is None


def test_auto_picks_lower_memory_modes_for_less_free_vram():
    for model in ("wan2.1-vace-1.3b", "wan2.1-vace-14b"):
        shape = RunShape(model)
        chosen = [choose_memory_mode(int(gb * 1e9), shape) for gb in (141, 80, 48, 24, 16, 12, 8, 4)]
        peaks = [estimate_vram_gb(shape, RunModes(SpeedMode.OFF, mode)) for mode in chosen]
        assert peaks == sorted(peaks, reverse=True) and len(set(chosen)) >= 3
    assert choose_memory_mode(int(80e9), RunShape("wan2.1-vace-1.3b")) is MemoryMode.GPU
    assert choose_memory_mode(int(8e9), RunShape("wan2.1-vace-1.3b")) is MemoryMode.GROUP_OFFLOAD
    # 14B on a 32 GB card: model offload does not fit; group offload needs RAM for 40 GB of pinned weights
    assert choose_memory_mode(int(32e9), RunShape("wan2.1-vace-14b"), ram_bytes=int(32e9)) is MemoryMode.FP8_STORAGE
    assert choose_memory_mode(int(32e9), RunShape("wan2.1-vace-14b"), ram_bytes=int(128e9)) is MemoryMode.GROUP_OFFLOAD
    # AUTO in an estimate resolves as the backend does: from the free memory given
    auto = estimate_run(RunShape("wan2.1-vace-14b"), RunModes("off", "auto"), "NVIDIA L40S", free_bytes=int(32e9))
    assert auto == estimate_run(RunShape("wan2.1-vace-14b"), RunModes("off", "group_offload"), "NVIDIA L40S")


def test_distill_presets_set_steps_guidance_and_the_lora():
    settings = GenerationSettings(prompt="a cat", loras=(LoraSpec("style.safetensors", 0.8),))
    light = apply_distill_preset(settings, "lightx2v", "/loras/lightx2v_rank32.safetensors")
    assert (light.steps, light.guidance_scale, light.flow_shift, light.solver) == (4, 1.0, 5.0, Solver.EULER)
    assert light.loras == (LoraSpec("/loras/lightx2v_rank32.safetensors", 1.0), LoraSpec("style.safetensors", 0.8))
    light.validate()
    causvid = apply_distill_preset(settings, "causvid", "causvid.safetensors")
    assert causvid.loras[0].scale == 0.5 and causvid.flow_shift is None and causvid.steps == 8
    assert {preset.name for preset in DISTILL_PRESETS} >= {"lightx2v", "self-forcing", "causvid"}
    with pytest.raises(InputError):
        apply_distill_preset(settings, "lightx2v", " ")
    with pytest.raises(InputError):
        apply_distill_preset(settings, "turbo9000", "x.safetensors")


def test_the_ui_labels_every_mode_and_offers_the_enum_values():
    from vace_ui.ui.components import MEMORY_LABELS, SPEED_LABELS, enum_choices

    for labels, enum_type in ((SPEED_LABELS, SpeedMode), (MEMORY_LABELS, MemoryMode)):
        offered = enum_choices(labels)
        assert [value for _, value in offered] == [member.value for member in enum_type]
        assert len({label for label, _ in offered}) == len(enum_type)  # one distinct text per mode
    with pytest.raises(KeyError):  # a mode without a label fails when the UI is built, not silently
        enum_choices({SpeedMode.OFF: "Off"})
