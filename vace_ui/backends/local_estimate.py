"""What a local run will cost, before it runs: what each speed mode turns on, VRAM and time estimates.

Pure Python (no torch): the UI shows "about 8 GB, about 3 min on this GPU" from here, and `local_modes.py` applies
the same definitions to a real pipeline. Estimates come from the published model configs (`wan_specs.py`:
parameter counts and FLOPs per transformer call, exact for the diffusers modules: see tests) and a table of GPU
peak bf16 throughput, and are refined by measured runs kept in a small JSON file (`MeasuredStore`). A job is
described by two parameter objects: `RunShape` (what is computed: model, size, frames, steps, guidance,
references) and `RunModes` (how: speed mode, memory mode, VAE tiling).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core import constants as C
from ..core.settings import GenerationSettings, MemoryMode, SpeedMode, coerce_enum
from .wan_specs import ModelSpec, latent_tokens, model_spec, transformer_flops, transformer_params


@dataclass(frozen=True)
class SpeedPlan:
    """What a speed mode turns on.

    cache: None, "slow" or "fast" = the VACE-aware TeaCache (vace_cache.py) at the model's published "slow" or
    "fast" threshold. attention: diffusers attention backends tried in order on CUDA (first installed wins; "native"
    = PyTorch SDPA). compile: regional torch.compile of the repeated blocks, CUDA only. cfg_step_ratio: classifier-
    free guidance runs on this leading fraction of the steps, then the unconditional pass is dropped.
    call_fraction: transformer calls actually computed per call requested, for estimates (TeaCache's published
    speed-ups for Wan2.1: about 1.5x at the slow and 2x at the fast threshold).
    """

    mode: SpeedMode
    cache: str | None
    attention: tuple[str, ...]
    compile: bool
    cfg_step_ratio: float
    call_fraction: float
    note: str


EXACT_ATTENTION = ("_flash_3", "flash", "_native_cudnn")
SPEED_PLANS: dict[SpeedMode, SpeedPlan] = {
    SpeedMode.OFF: SpeedPlan(SpeedMode.OFF, None, ("native",), False, 1.0, 1.0,
                             "Reference: every step computed, PyTorch SDPA attention, no compile."),
    SpeedMode.BALANCED: SpeedPlan(SpeedMode.BALANCED, "slow", EXACT_ATTENTION, True, 1.0, 1 / 1.5,
                                  "TeaCache at the published 'slow' threshold, exact fused attention, compile."),
    SpeedMode.FAST: SpeedPlan(SpeedMode.FAST, "fast", ("sage",) + EXACT_ATTENTION, True, 0.6, 1 / 2.0,
                              "TeaCache 'fast' threshold, SageAttention (8-bit QK) if installed, compile, "
                              "guidance on the first 60% of the steps only."),
}


# Dense bf16 tensor-core peaks (TFLOP/s, FP32 accumulate, vendors' spec sheets), matched in order, and the share of
# it a Wan step reaches in eager PyTorch before anything is measured: Hopper and Blackwell run SDPA's FA2 kernels
# well below peak; on Ada, Wan's "1.3B T2V, 480p, 50 steps in about 4 min on an RTX 4090" implies about 70%.
GPU_TABLE: tuple[tuple[str, float, float], ...] = (
    (r"gb200", 2500.0, 0.35), (r"b200", 2250.0, 0.35), (r"h200", 989.0, 0.40), (r"gh200", 989.0, 0.40),
    (r"h100.*pcie", 756.0, 0.40), (r"h100.*nvl", 835.0, 0.40), (r"h100", 989.0, 0.40), (r"h800", 989.0, 0.40),
    (r"h20\b", 148.0, 0.55), (r"a100", 312.0, 0.55), (r"a800", 312.0, 0.55), (r"l40s", 362.0, 0.50),
    (r"l40\b", 181.0, 0.60), (r"\bl4\b", 121.0, 0.50), (r"6000 ada", 364.0, 0.50), (r"a6000", 155.0, 0.60),
    (r"a10g", 70.0, 0.60), (r"a10\b", 125.0, 0.55), (r"5090", 209.5, 0.60), (r"4090", 165.2, 0.60),
    (r"4080", 97.5, 0.60), (r"3090", 71.0, 0.60), (r"mi300x", 1307.0, 0.30), (r"\bcpu\b", 1.0, 0.5),
)
REFERENCE_GPU = "NVIDIA GeForce RTX 4090"
DEFAULT_MFU = 0.45
TUNED_SPEEDUP = 1.15  # compile + fused attention on CUDA (BALANCED, FAST)
VAE_DECODE_FLOPS_PER_PIXEL = 1.0e7  # per output pixel and frame; encode counts 0.6x per pass, two VACE passes
PCIE_BYTES_PER_S = 12e9
OVERHEAD_GB = 1.0  # CUDA context and allocator slack


def _gpu_row(gpu_name: str | None) -> tuple[float, float] | None:
    name = (gpu_name or "").lower()
    for pattern, tflops, mfu in GPU_TABLE:
        if re.search(pattern, name):
            return tflops, mfu
    return None


def gpu_peak_tflops(gpu_name: str | None) -> float | None:
    row = _gpu_row(gpu_name)
    return row[0] if row else None


@dataclass(frozen=True)
class GpuProfile:
    """The device a run is estimated for. peak_tflops: its dense bf16 peak; mfu: the share of it an eager Wan step
    reaches; cuda: False on the CPU (the tuned speed modes' compile and fused attention do not apply there); where:
    how the summary names the device ("on this GPU")."""

    peak_tflops: float
    mfu: float
    cuda: bool
    where: str


def gpu_profile(gpu_name: str | None) -> GpuProfile:
    """The profile of `gpu_name` as torch reports it: "cpu" for the CPU; None when unknown (the RTX 4090 of Wan's
    published timings is assumed); a name missing from GPU_TABLE gets 100 TFLOP/s (a rough estimate, said so)."""
    row = _gpu_row(gpu_name)
    on_cpu = gpu_name is not None and "cpu" in gpu_name.lower()
    where = "on this CPU" if on_cpu else "on this GPU" if row else (
        f"on an {REFERENCE_GPU.split('GeForce ')[-1]}" if gpu_name is None else "on this GPU (unknown model: rough)")
    peak, mfu = row or (_gpu_row(REFERENCE_GPU) if gpu_name is None else (100.0, DEFAULT_MFU))
    return GpuProfile(peak, mfu, not on_cpu, where)


@dataclass(frozen=True)
class RunShape:
    """What one job computes, whatever the modes. model: a model name or id (`model_spec`); width, height: output
    pixels; num_frames: 4n+1 output frames; steps: denoising steps; guidance: the guidance scale (above 1 runs both
    classifier-free guidance branches); num_references: reference images (one extra latent frame each). The
    defaults are the trained 480p 5-second clip at the app's default steps and guidance."""

    model: str
    width: int = 832
    height: int = 480
    num_frames: int = C.DEFAULT_FRAMES
    steps: int = 25
    guidance: float = 5.0
    num_references: int = 0

    @property
    def guided(self) -> bool:
        """Whether both guidance branches run (guidance above 1)."""
        return self.guidance > 1

    @property
    def spec(self) -> ModelSpec:
        return model_spec(self.model)

    @classmethod
    def from_settings(cls, model: str, settings: GenerationSettings, width: int, height: int, num_frames: int,
                      num_references: int = 0) -> "RunShape":
        """The shape of a job of `model` with `settings` at the compiled size and frame count."""
        return cls(model, width, height, num_frames, settings.steps, settings.guidance_scale, num_references)


@dataclass(frozen=True)
class RunModes:
    """How a job runs on the local pipeline: the speed mode, the memory mode (AUTO is resolved from free VRAM by
    `estimate_run`; the other functions take it as given) and VAE tiling (less decoding memory). Strings are
    coerced to the enums; an unknown value is an InputError naming the field."""

    speed: SpeedMode = SpeedMode.OFF
    memory: MemoryMode = MemoryMode.GPU
    vae_tiling: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "speed", coerce_enum("speed_mode", SpeedMode, self.speed))
        object.__setattr__(self, "memory", coerce_enum("memory_mode", MemoryMode, self.memory))

    @classmethod
    def from_settings(cls, settings: GenerationSettings) -> "RunModes":
        return cls(settings.speed_mode, settings.memory_mode, settings.vae_tiling)


@dataclass(frozen=True)
class Estimate:
    """vram_gb: peak device memory; seconds: whole job (encode, denoise, decode); basis: "model" (formulas) or
    "measured" (scaled from a recorded run on this GPU); text: the one-line summary shown to the user."""

    vram_gb: float
    seconds: float
    text: str
    basis: str = "model"


def _weights_gb(spec: ModelSpec, memory: MemoryMode) -> dict:
    """Weights in GB by component; a two-expert model counts both transformers ("transformer" = all experts,
    "expert" = one: under offload only the expert of the current step is on the device)."""
    tr_bytes = 1 if memory is MemoryMode.FP8_STORAGE else 2
    expert = transformer_params(spec.transformer) * tr_bytes / 1e9
    return {"text_encoder": spec.text_encoder_params * 2 / 1e9, "vae": spec.vae_params * 4 / 1e9,
            "transformer": expert * spec.experts}


def estimate_vram_gb(shape: RunShape, modes: RunModes, spec: ModelSpec | None = None) -> float:
    """Peak device memory in GB. Activations: hidden states, the VACE hints (one per vace layer, all alive during
    the forward), the FFN intermediate; VAE decode working set per pixel (tiles of 256x256 when tiling).
    spec: the model's spec, when not `shape.spec` (bench: one without the text encoder)."""
    spec = spec or shape.spec
    width, height, speed, memory = shape.width, shape.height, modes.speed, modes.memory
    cfg = spec.transformer
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    n = latent_tokens(cfg, width, height, shape.num_frames, shape.num_references)
    act = (n * d * 2 * (len(cfg["vace_layers"]) + 6) + n * cfg["ffn_dim"] * 4) / 1e9
    if SPEED_PLANS[speed].cache:
        act += 2 * n * d * 2 / 1e9  # one cached residual per CFG branch
    pixels = min(width * height, 256 * 256) if modes.vae_tiling else width * height
    vae_act = pixels * 17_000 / 1e9
    w = _weights_gb(spec, memory)
    if memory is MemoryMode.GPU:
        peak = sum(w.values()) + max(act, vae_act)
    elif memory is MemoryMode.GROUP_OFFLOAD:
        block_gb = transformer_params(cfg) * 2 / 1e9 / (cfg["num_layers"] + len(cfg["vace_layers"]))
        embed_gb = 256_384 * 4096 * 2 / 1e9 if spec.text_encoder_params > 1e9 else w["text_encoder"]
        peak = max(2 * embed_gb, 3 * block_gb + act, vae_act + 0.1)
    else:  # MODEL_OFFLOAD and FP8_STORAGE (which also offloads the text encoder and VAE)
        peak = max(w["text_encoder"] + 0.5, w["transformer"] / spec.experts + act, w["vae"] + vae_act)
    return peak + OVERHEAD_GB


def model_seconds(shape: RunShape, modes: RunModes, gpu: GpuProfile, spec: ModelSpec | None = None,
                  ) -> tuple[float, float]:
    """(denoising seconds, VAE + transfer seconds) from FLOPs, the GPU peak and the mode's assumptions.
    spec: the model's spec, when not `shape.spec`."""
    spec = spec or shape.spec
    speed, memory = modes.speed, modes.memory
    width, height, num_frames = shape.width, shape.height, shape.num_frames
    plan = SPEED_PLANS[speed]
    tuned = TUNED_SPEEDUP if gpu.cuda and speed is not SpeedMode.OFF else 1.0
    rate = gpu.peak_tflops * 1e12 * gpu.mfu * tuned
    call = transformer_flops(spec, width, height, num_frames, shape.num_references) / rate
    if memory is MemoryMode.GROUP_OFFLOAD:
        call = max(call, transformer_params(spec.transformer) * 2 / 20e9)  # streamed weights hide behind compute
    if memory is MemoryMode.FP8_STORAGE:
        call *= 1.05  # per-layer upcast of the stored weights
    calls = shape.steps * (1 + (plan.cfg_step_ratio if shape.guided else 0)) * plan.call_fraction
    pixels = width * height * num_frames
    vae = VAE_DECODE_FLOPS_PER_PIXEL * pixels * (1 + 2 * 0.6) / (gpu.peak_tflops * 1e12 * 0.5 * 0.3)
    weights = _weights_gb(spec, memory)
    transfer = 0.0 if memory is MemoryMode.GPU else sum(weights.values()) * 1e9 / PCIE_BYTES_PER_S
    return calls * call, vae + transfer


def format_summary(vram_gb: float, seconds: float, where: str) -> str:
    memory = "under 1 GB" if vram_gb < 1 else f"about {vram_gb:.0f} GB"
    if seconds < 90:
        duration = f"about {max(1, round(seconds))} s"
    elif seconds < 90 * 60:
        duration = f"about {round(seconds / 60)} min"
    else:
        duration = f"about {seconds / 3600:.1f} h"
    return f"{memory}, {duration} {where}"


def estimate_run(shape: RunShape, modes: RunModes, gpu_name: str | None = None,
                 measured: "MeasuredStore | str | Path | None" = None, free_bytes: int | None = None) -> Estimate:
    """VRAM and wall time of one job on `gpu_name` (as torch names it; "cpu"; None: the reference GPU). With a
    measured run of the same model on this GPU, the time is that run's seconds per step scaled by the FLOPs ratio
    (and the mode's call fraction), so estimates converge on reality. free_bytes: free device memory, to resolve
    memory AUTO as the backend would (without it AUTO is estimated as GPU)."""
    spec = shape.spec
    if modes.memory is MemoryMode.AUTO:
        chosen = choose_memory_mode(free_bytes, shape) if free_bytes else MemoryMode.GPU
        modes = dataclasses.replace(modes, memory=chosen)
    gpu = gpu_profile(gpu_name)
    vram = estimate_vram_gb(shape, modes, spec)
    denoise, rest = model_seconds(shape, modes, gpu, spec)
    basis = "model"
    store = measured if isinstance(measured, MeasuredStore) or measured is None else MeasuredStore(measured)
    record = store.closest(shape, modes, gpu_name) if store else None
    if record:
        ref_shape = RunShape(spec.name, record["width"], record["height"], record["num_frames"], 1,
                             5.0 if record["guidance"] else 1.0)
        ref_denoise, ref_rest = model_seconds(ref_shape, RunModes(record["speed"], record["memory"]), gpu, spec)
        denoise *= record["seconds_per_step"] / ref_denoise
        if record.get("vae_seconds"):
            rest = record["vae_seconds"] * rest / ref_rest
        if record.get("peak_vram_gb") and (record["width"], record["height"]) == (shape.width, shape.height):
            vram = record["peak_vram_gb"]
        basis = "measured"
    seconds = denoise + rest
    return Estimate(round(vram, 1), round(seconds, 1), format_summary(vram, seconds, gpu.where), basis)


def choose_memory_mode(free_bytes: int, shape: RunShape, ram_bytes: int | None = None) -> MemoryMode:
    """The fastest lossless mode whose estimated peak for `shape` fits in 90% of `free_bytes`: GPU, then model
    offload, then group offload (needs `ram_bytes` of system RAM for the pinned weights; None: assumed enough);
    FP8 storage (lossy) only when group offload cannot get its RAM; group offload with VAE tiling is the last
    resort."""
    spec = shape.spec
    budget = free_bytes / 1e9 * 0.9
    pinned_gb = sum(_weights_gb(spec, MemoryMode.GPU).values()) * 1.2

    def fits(mode: MemoryMode) -> bool:
        return estimate_vram_gb(shape, RunModes(SpeedMode.OFF, mode), spec) <= budget

    for mode in (MemoryMode.GPU, MemoryMode.MODEL_OFFLOAD):
        if fits(mode):
            return mode
    if fits(MemoryMode.GROUP_OFFLOAD) and (ram_bytes is None or ram_bytes / 1e9 >= pinned_gb):
        return MemoryMode.GROUP_OFFLOAD
    if fits(MemoryMode.FP8_STORAGE):
        return MemoryMode.FP8_STORAGE
    return MemoryMode.GROUP_OFFLOAD


class MeasuredStore:
    """Measured runs in a JSON file (e.g. <outputs>/measured_speed.json): seconds per denoising step (both CFG
    branches when guided), VAE seconds and peak VRAM per (model, size, frames, speed, memory, GPU, guided).
    Repeated runs keep a running mean. Written atomically; a missing or corrupt file reads as empty."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _key(shape: RunShape, modes: RunModes, gpu_name: str | None) -> str:
        size = f"{shape.width}x{shape.height}x{shape.num_frames}"
        return f"{shape.spec.name}|{size}|{modes.speed.value}|{modes.memory.value}|{gpu_name}|{int(shape.guided)}"

    def record(self, shape: RunShape, modes: RunModes, gpu_name: str | None, seconds_per_step: float,
               vae_seconds: float | None = None, peak_vram_gb: float | None = None) -> dict:
        """Add one run of `shape` (its steps are not part of the key) in `modes` (the memory mode as resolved, not
        AUTO) on `gpu_name`; returns the stored row, a running mean over the runs so far."""
        data = self._load()
        key = self._key(shape, modes, gpu_name)
        old = data.get(key, {"n": 0})
        n = old["n"] + 1

        def mean(name, value):
            if value is None or old.get(name) is None:
                return old.get(name) if value is None else value
            return old[name] + (value - old[name]) / n

        data[key] = {"model": shape.spec.name, "width": shape.width, "height": shape.height,
                     "num_frames": shape.num_frames, "speed": modes.speed.value, "memory": modes.memory.value,
                     "gpu": gpu_name, "guidance": shape.guided, "n": n,
                     "seconds_per_step": mean("seconds_per_step", seconds_per_step),
                     "vae_seconds": mean("vae_seconds", vae_seconds),
                     "peak_vram_gb": mean("peak_vram_gb", peak_vram_gb)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".measured-", suffix=".json")
        with os.fdopen(handle, "w") as file:
            json.dump(data, file, indent=1, sort_keys=True)
        os.replace(temp, self.path)
        return data[key]

    def closest(self, shape: RunShape, modes: RunModes, gpu_name: str | None) -> dict | None:
        """The recorded run of the same model on the same GPU most like `shape` in `modes`: prefers the same speed
        mode, memory mode, guidance, size and frame count, in that order. None when there is none."""
        model = shape.spec.name
        rows = [row for row in self._load().values() if isinstance(row, dict) and row.get("model") == model
                and row.get("gpu") == gpu_name and row.get("seconds_per_step")]
        size = (shape.width, shape.height, shape.num_frames)

        def score(row):
            same_size = (row["width"], row["height"], row["num_frames"]) == size
            return ((row["speed"] == modes.speed.value) * 8 + (row["memory"] == modes.memory.value) * 4
                    + (row["guidance"] == shape.guided) * 2 + same_size)

        return max(rows, key=score) if rows else None
