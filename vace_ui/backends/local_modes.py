"""Speed and memory modes applied to a diffusers WanVACEPipeline, re-appliable on the same pipeline object.

Usage by the local backend, per job:
    applied = configure_pipeline(pipe, speed, memory, device, vae_tiling)
    if applied.needs_reload: pipe = <load again>; applied = configure_pipeline(pipe, ...)
    prepare_run(pipe)
    pipe(..., callback_on_step_end=make_step_callback(applied, progress_callback))
    record applied.to_dict() and cache_stats(pipe) in the job and the output metadata.

What each speed mode turns on is `SPEED_PLANS` (local_estimate.py). Which diffusers cache hooks work on the VACE
transformer (most do not: they ignore the VACE hints) is documented in bench/README.md and tested in
tests/test_local_modes.py. torch and diffusers are imported inside the functions.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, Callable

from ..core import constants as C
from ..core.errors import InputError
from ..core.settings import GenerationSettings, LoraSpec, MemoryMode, Solver, SpeedMode
from .local_estimate import (  # noqa: F401  (re-exported: the backend imports the whole API from here)
    SPEED_PLANS,
    Estimate,
    MeasuredStore,
    RunModes,
    RunShape,
    SpeedPlan,
    choose_memory_mode,
    estimate_run,
)
from .wan_specs import spec_for_config


@dataclass(frozen=True)
class DistillPreset:
    """Settings for a user-provided step-distilled LoRA. flow_shift None = the size default (3 at 480p, 5 at 720p)."""

    name: str
    steps: int
    guidance_scale: float
    flow_shift: float | None
    solver: Solver
    note: str
    lora_scale: float = 1.0


DISTILL_PRESETS: tuple[DistillPreset, ...] = (
    DistillPreset(
        "lightx2v",
        4,
        1.0,
        5.0,
        Solver.EULER,
        "lightx2v StepDistill-CfgDistill LoRA (Wan2.1 T2V 14B; use with VACE 14B): lightx2v's distill "
        "configs run 4 steps (1000/750/500/250), CFG off, shift 5.",
    ),
    DistillPreset(
        "self-forcing",
        4,
        1.0,
        5.0,
        Solver.EULER,
        "Self-Forcing DMD LoRA (Wan2.1 1.3B): its self_forcing_dmd config uses 4 steps, timestep shift 5, "
        "CFG distilled away.",
    ),
    DistillPreset(
        "causvid",
        8,
        1.0,
        None,
        Solver.UNIPC,
        "CausVid LoRA (Kijai's extraction): CFG 1, strength about 0.5 for 4-9 steps; VACE control wants a "
        "lower strength. CausVid weights are CC-BY-NC-4.0 (non-commercial).",
        0.5,
    ),
    DistillPreset(
        "causvid-motion",
        12,
        1.0,
        None,
        Solver.UNIPC,
        "CausVid LoRA at strength 0.3 with UniPC and about 12 steps: keeps more motion (Kijai's notes).",
        0.3,
    ),
)


def distill_preset(name: str) -> DistillPreset:
    for preset in DISTILL_PRESETS:
        if preset.name == name:
            return preset
    raise InputError(
        "distill preset", f"'{name}' is unknown; choose one of {', '.join(p.name for p in DISTILL_PRESETS)}."
    )


def distill_overrides(name: str, lora_path: str, lora_scale: float | None = None) -> dict:
    """GenerationSettings field overrides for a distilled LoRA: steps, guidance, flow shift, solver and the LoRA."""
    preset = distill_preset(name)
    if not str(lora_path).strip():
        raise InputError("distill LoRA", f"preset '{name}' needs the LoRA file it was made for.")
    scale = preset.lora_scale if lora_scale is None else float(lora_scale)
    return {"steps": preset.steps, "guidance_scale": preset.guidance_scale, "flow_shift": preset.flow_shift,
            "solver": preset.solver, "loras": (LoraSpec(str(lora_path), scale),)}


def apply_distill_preset(settings: GenerationSettings, name: str, lora_path: str,
                         lora_scale: float | None = None) -> GenerationSettings:
    """`settings` with the preset applied; the distilled LoRA is added first, the user's other LoRAs kept."""
    overrides = distill_overrides(name, lora_path, lora_scale)
    others = tuple(lora for lora in settings.loras if lora.path != str(lora_path))
    loras = (overrides.pop("loras")[0],) + others
    if len(loras) > C.MAX_LORAS:
        raise InputError("loras", f"the distilled LoRA plus {len(others)} others exceeds {C.MAX_LORAS}.")
    return dataclasses.replace(settings, loras=loras, **overrides)


# Modes that change the weights or wrap every layer in a way diffusers cannot undo in place.
IRREVERSIBLE = (MemoryMode.GROUP_OFFLOAD, MemoryMode.FP8_STORAGE)
_ATTR = "_vace_local_modes"


@dataclass
class AppliedConfig:
    """What `configure_pipeline` put in effect; `to_dict()` goes into the job record and the output metadata.

    memory: the mode in effect (AUTO resolved); requested_memory: what was asked. cache: None or the cache method
    and its parameters. attention_backend: the diffusers attention backend ("native" = PyTorch SDPA).
    cfg_step_ratio: guidance on this leading fraction of the steps (apply it with `make_step_callback`).
    needs_reload: True when the requested memory mode cannot be reached from the current one in place
    (leaving group offload or fp8 storage): nothing was changed and the pipeline must be loaded again.
    notes: what was not applied and why (no CUDA, package missing...).
    """

    speed: str
    memory: str
    requested_memory: str
    device: str
    vae_tiling: bool
    model: str
    cache: dict | None = None
    attention_backend: str = "native"
    compiled: bool = False
    cfg_step_ratio: float = 1.0
    storage_dtype: str | None = None
    compute_dtype: str = ""
    needs_reload: bool = False
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["notes"] = list(self.notes)
        return data


def experts(pipe) -> list:
    """The pipeline's transformers: [transformer] for Wan2.1, [transformer, transformer_2] for Wan2.2 A14B (the
    high- and low-noise experts). Every speed and memory mode is applied to each."""
    return [module for module in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None))
            if module is not None]


def applied_config(pipe) -> AppliedConfig | None:
    """The configuration currently in effect on `pipe` (None before the first `configure_pipeline`)."""
    return getattr(pipe, _ATTR, None)


def available_attention_backends() -> set[str]:
    """diffusers attention backends usable here: installed packages, and cuDNN attention on Hopper or newer."""
    import torch
    from diffusers.models import attention_dispatch as dispatch

    found = {"native"}
    for flag, name in (("_CAN_USE_FLASH_ATTN_3", "_flash_3"), ("_CAN_USE_FLASH_ATTN", "flash"),
                       ("_CAN_USE_SAGE_ATTN", "sage")):
        if getattr(dispatch, flag, False):
            found.add(name)
    if (
        torch.cuda.is_available()
        and torch.backends.cudnn.is_available()
        and torch.cuda.get_device_capability() >= (9, 0)
    ):
        found.add("_native_cudnn")
    return found


def pick_attention_backend(plan: SpeedPlan, device: str, dtype) -> str:
    """The plan's first available backend; "native" off CUDA or for float32 weights (fused kernels need 16-bit)."""
    import torch

    if torch.device(device).type != "cuda" or dtype not in (torch.bfloat16, torch.float16):
        return "native"
    available = available_attention_backends()
    return next((name for name in plan.attention if name in available), "native")


def _free_memory(pipe, device: str) -> tuple[int | None, int | None]:
    """Free device memory as if the pipeline were not on it (its own weights count as free), and system RAM."""
    import torch

    free = None
    if torch.device(device).type == "cuda":
        free = torch.cuda.mem_get_info(torch.device(device))[0]
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                tensors = list(component.parameters()) + list(component.buffers())
                free += sum(t.numel() * t.element_size() for t in tensors if t.device.type == "cuda")
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    return free, ram


def _apply_memory(pipe, mode: MemoryMode, device: str, compute_dtype) -> list[str]:
    import torch
    from diffusers.hooks import apply_group_offloading

    cuda = torch.device(device).type == "cuda"
    notes = []
    if mode is MemoryMode.GPU:
        pipe.to(device)
    elif mode is MemoryMode.MODEL_OFFLOAD:
        pipe.enable_model_cpu_offload(device=device)
    elif mode is MemoryMode.GROUP_OFFLOAD:
        pipe.to("cpu")
        options = {"onload_device": torch.device(device), "offload_device": torch.device("cpu"), "use_stream": cuda}
        for transformer in experts(pipe):
            transformer.enable_group_offload(offload_type="block_level", num_blocks_per_group=1, **options)
        if pipe.text_encoder is not None:
            apply_group_offloading(pipe.text_encoder, offload_type="leaf_level", **options)
        pipe.vae.enable_group_offload(offload_type="leaf_level", **options)
        if not cuda:
            notes.append("group offload without CUDA streams (no CUDA): weights move synchronously")
    elif mode is MemoryMode.FP8_STORAGE:
        for transformer in experts(pipe):
            transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype)
        if cuda:
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
            notes.append("fp8 storage without CUDA: no model offload of the text encoder and VAE")
    return notes


def _undo_memory(pipe, mode: MemoryMode) -> None:
    if mode is MemoryMode.MODEL_OFFLOAD:
        pipe.remove_all_hooks()


def _uncompile(module) -> None:
    for submodule in module.modules():
        if getattr(submodule, "_compiled_call_impl", None) is not None:
            submodule._compiled_call_impl = None


def _apply_speed(pipe, plan: SpeedPlan, spec, device: str, memory: MemoryMode, previous: AppliedConfig | None,
                 compute_dtype):
    """The speed plan on every expert (each gets its own cache state, attention backend and compilation)."""
    result = None
    for transformer in experts(pipe):
        result = _apply_speed_one(transformer, plan, spec, device, memory, previous, compute_dtype)
    return result


def _apply_speed_one(transformer, plan: SpeedPlan, spec, device: str, memory: MemoryMode,
                     previous: AppliedConfig | None, compute_dtype):
    import torch
    import torch._dynamo

    from .vace_cache import VaceCacheConfig, apply_vace_cache, remove_vace_cache

    notes = []
    remove_vace_cache(transformer)
    if getattr(transformer, "_cache_config", None) is not None:
        transformer.disable_cache()
    transformer._reset_stateful_cache()

    backend = pick_attention_backend(plan, device, compute_dtype)
    if backend != "native":
        transformer.set_attention_backend(backend)
    elif previous is not None and previous.attention_backend != "native":
        transformer.reset_attention_backend()
    if plan.attention != ("native",) and backend == "native":
        notes.append("attention: PyTorch SDPA (no fused backend usable here: "
                     f"{'no CUDA or 32-bit weights' if torch.device(device).type != 'cuda' else 'none installed'})")

    cache = None
    if plan.cache:
        config = VaceCacheConfig(spec.teacache_thresholds[plan.cache], spec.teacache_coefficients)
        apply_vace_cache(transformer, config)
        cache = {"method": "teacache-vace", "level": plan.cache, "threshold": config.threshold,
                 "retention_steps": config.retention_steps, "coefficients_of": spec.teacache_fit}

    cuda = torch.device(device).type == "cuda"
    compile_now = plan.compile and cuda and memory in (MemoryMode.GPU, MemoryMode.MODEL_OFFLOAD)
    was_compiled = bool(previous and previous.compiled)
    if compile_now and not was_compiled:
        # 45 (1.3B) or 48 (14B) blocks in two classes, with cache hooks of four kinds: allow the recompiles.
        limit = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
        setattr(torch._dynamo.config, limit, max(getattr(torch._dynamo.config, limit), 64))
        transformer.compile_repeated_blocks(fullgraph=False)
    elif was_compiled and not compile_now:
        _uncompile(transformer)
    if plan.compile and not compile_now:
        notes.append("torch.compile skipped: " + ("CUDA only" if not cuda else f"not combined with {memory.value}"))

    if memory is MemoryMode.GROUP_OFFLOAD and cache:
        # Cache hooks were registered after the offload hooks; re-apply offloading so it stays outermost and every
        # block is onloaded in order even when the cache skips its computation.
        from diffusers.hooks.group_offloading import _maybe_remove_and_reapply_group_offloading

        _maybe_remove_and_reapply_group_offloading(transformer)
    return cache, backend, compile_now, notes


def configure_pipeline(pipe, speed: SpeedMode, memory: MemoryMode, device: str, vae_tiling: bool,
                       compute_dtype=None, free_bytes: int | None = None) -> AppliedConfig:
    """Put `speed` and `memory` into effect on `pipe` (a WanVACEPipeline) for `device` ("cuda", "cuda:1", "cpu").

    Safe to call again with other modes: previous cache hooks, attention backend and compilation are removed first,
    model CPU offload is undone in place. Leaving GROUP_OFFLOAD or FP8_STORAGE cannot be done in place (offload
    hooks and fp8-cast weights stay): the result then has needs_reload=True and the pipeline is left unchanged.
    Load the pipeline on the CPU and let this place it (a 14B moved whole to a 24 GB card fails before offload
    can start). Load LoRAs before FP8_STORAGE: peft cannot wrap float8 layers afterwards (LoRA changes under fp8
    storage need a reload); under group offload LoRAs can be loaded later.
    compute_dtype: for FP8_STORAGE, the dtype layers compute in (default: the transformer's current dtype, bf16
    for real weights). free_bytes: free device memory for AUTO (default: measured on CUDA).
    """
    try:
        speed, memory = SpeedMode(speed), MemoryMode(memory)
    except ValueError as error:
        raise InputError("local modes", str(error)) from None
    previous = applied_config(pipe)
    spec = spec_for_config(dict(pipe.transformer.config))
    requested = memory
    if memory is MemoryMode.AUTO:
        if previous is not None and previous.requested_memory == MemoryMode.AUTO.value:
            memory = MemoryMode(previous.memory)  # resolved already; the pipeline's own weights now use the VRAM
        else:
            measured_free, ram = _free_memory(pipe, device)
            free = free_bytes if free_bytes is not None else measured_free
            default_clip = RunShape(spec.name)  # the job's size is not known here: the trained 480p 5 s clip
            memory = choose_memory_mode(free, default_clip, ram_bytes=ram) if free is not None else MemoryMode.GPU
    current = MemoryMode(previous.memory) if previous is not None else None
    compute_dtype = compute_dtype or _compute_dtype(pipe, previous)

    if current is not None and current != memory and current in IRREVERSIBLE:
        return dataclasses.replace(previous, needs_reload=True, notes=previous.notes + (
            f"leaving {current.value} needs the pipeline loaded again; nothing was changed",))

    notes: list[str] = []
    if current != memory:
        if current is not None:
            _undo_memory(pipe, current)
        notes += _apply_memory(pipe, memory, device, compute_dtype)
    elif current is MemoryMode.GPU:
        pipe.to(device)

    if vae_tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()

    plan = SPEED_PLANS[speed]
    cache, backend, compiled, speed_notes = _apply_speed(pipe, plan, spec, device, memory, previous,
                                                         compute_dtype)
    applied = AppliedConfig(
        speed=speed.value, memory=memory.value, requested_memory=requested.value, device=str(device),
        vae_tiling=bool(vae_tiling), model=spec.name, cache=cache, attention_backend=backend, compiled=compiled,
        cfg_step_ratio=plan.cfg_step_ratio,
        storage_dtype="float8_e4m3fn" if memory is MemoryMode.FP8_STORAGE else None,
        compute_dtype=str(compute_dtype).replace("torch.", ""), notes=tuple(notes + speed_notes))
    setattr(pipe, _ATTR, applied)
    return applied


def _compute_dtype(pipe, previous: AppliedConfig | None):
    import torch

    if previous is not None and previous.compute_dtype:
        return getattr(torch, previous.compute_dtype)
    return pipe.transformer.dtype


def prepare_run(pipe) -> None:
    """Call before each generation: clears cache state a cancelled run may have left, and the cache counters."""
    from .vace_cache import vace_cache_handle

    for transformer in experts(pipe):
        transformer._reset_stateful_cache()
        handle = vace_cache_handle(transformer)
        if handle is not None:
            handle.stats.reset()


def cache_stats(pipe) -> dict | None:
    """Transformer calls computed and served from the cache since `prepare_run` (None when no cache is on)."""
    from .vace_cache import vace_cache_handle

    handles = [vace_cache_handle(transformer) for transformer in experts(pipe)]
    stats = [handle.stats.to_dict() for handle in handles if handle is not None]
    if not stats:
        return None
    if len(stats) == 1:
        return stats[0]
    return {key: sum(item[key] for item in stats) if isinstance(stats[0][key], (int, float)) else stats[0][key]
            for key in stats[0]} | {"per_expert": stats}


def make_step_callback(applied: AppliedConfig | None,
                       user_callback: Callable[[Any, int, Any, dict], dict | None] | None = None):
    """A `callback_on_step_end` for the pipeline: applies the plan's guidance cut-off, then calls `user_callback`.

    The Wan pipelines re-read `do_classifier_free_guidance` (guidance_scale > 1) at every step, so setting
    `_guidance_scale` to 1 after the cut-off step drops the unconditional pass from then on; diffusers' own
    SDCFGCutoffCallback works the same way. The pipeline resets the scale at the start of the next call.
    """
    ratio = applied.cfg_step_ratio if applied is not None else 1.0

    def callback(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        if ratio < 1.0 and pipe._guidance_scale > 1.0:
            guided_steps = max(1, math.ceil(ratio * pipe.num_timesteps))
            if step + 1 >= guided_steps:
                pipe._guidance_scale = 1.0
        if user_callback is not None:
            result = user_callback(pipe, step, timestep, callback_kwargs)
            if result is not None:
                callback_kwargs = result
        return callback_kwargs

    return callback
