"""What a local run will cost, before it runs: mode definitions, model sizes, FLOPs, VRAM and time estimates.

Pure Python (no torch): the UI shows "about 8 GB, about 3 min on this GPU" from here, and `local_modes.py` applies
the same definitions to a real pipeline. Estimates come from the published model configs (parameter counts and
FLOPs per transformer call, exact for the diffusers modules: see tests) and a table of GPU peak bf16 throughput,
and are refined by measured runs kept in a small JSON file (`MeasuredStore`).
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..core import constants as C
from ..core.errors import InputError
from ..core.settings import MemoryMode, SpeedMode


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


@dataclass(frozen=True)
class ModelSpec:
    """A Wan2.1 VACE model: the transformer config (diffusers' WanVACETransformer3DModel), other component sizes,
    and TeaCache's fitted coefficients and thresholds for its base T2V model (use_ret_steps variant)."""

    name: str
    transformer: dict
    text_encoder_params: int
    vae_params: int
    teacache_coefficients: tuple[float, ...]
    teacache_thresholds: dict
    teacache_fit: str = "wan2.1-t2v-1.3b"
    text_tokens: int = 512


_BASE = {"patch_size": [1, 2, 2], "in_channels": 16, "out_channels": 16, "text_dim": 4096, "freq_dim": 256,
         "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "added_kv_proj_dim": None,
         "attention_head_dim": 128, "vace_in_channels": 96}
# diffusers scripts/convert_wan_to_diffusers.py, model types "Wan-VACE-1.3B" and "Wan-VACE-14B".
VACE_1_3B = {**_BASE, "num_attention_heads": 12, "num_layers": 30, "ffn_dim": 8960,
             "vace_layers": list(range(0, 30, 2))}
VACE_14B = {**_BASE, "num_attention_heads": 40, "num_layers": 40, "ffn_dim": 13824,
            "vace_layers": list(range(0, 40, 5))}
TINY = {**_BASE, "num_attention_heads": 2, "attention_head_dim": 12, "text_dim": 32, "ffn_dim": 32, "num_layers": 3,
        "rope_max_seq_len": 32, "vace_layers": [0, 2]}  # = tiny_model.build_tiny_pipeline()
# AutoencoderKLWan() defaults are the Wan2.1 VAE (the conversion script builds it that way).
WAN_VAE = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
           "temperal_downsample": [False, True, True], "dropout": 0.0}
UMT5_XXL_ENCODER_PARAMS = 5_680_000_000  # google/umt5-xxl encoder: 11.4 GB in bf16
WAN_VAE_PARAMS = 127_000_000
# TeaCache4Wan2.1 (ali-vilab/TeaCache), use_ret_steps=True coefficients; thresholds from its README table.
_TEA_1_3B = (-5.21862437e04, 9.23041404e03, -5.28275948e02, 1.36987616e01, -4.99875664e-02)
_TEA_14B = (-3.03318725e05, 4.90537029e04, -2.65530556e03, 5.87365115e01, -3.15583525e-01)

MODEL_SPECS: dict[str, ModelSpec] = {
    "wan2.1-vace-1.3b": ModelSpec("wan2.1-vace-1.3b", VACE_1_3B, UMT5_XXL_ENCODER_PARAMS, WAN_VAE_PARAMS,
                                  _TEA_1_3B, {"slow": 0.05, "fast": 0.10}),
    "wan2.1-vace-14b": ModelSpec("wan2.1-vace-14b", VACE_14B, UMT5_XXL_ENCODER_PARAMS, WAN_VAE_PARAMS,
                                 _TEA_14B, {"slow": 0.10, "fast": 0.20}, "wan2.1-t2v-14b"),
    "tiny-random": ModelSpec("tiny-random", TINY, 90_000, 50_000, _TEA_1_3B, {"slow": 0.05, "fast": 0.10}),
}


def model_spec(model_name: str) -> ModelSpec:
    """The spec for a model name or id ("Wan-AI/Wan2.1-VACE-14B-diffusers", "wan2.1-vace-1.3b", "tiny-random")."""
    key = model_name.lower()
    if "tiny" in key:
        return MODEL_SPECS["tiny-random"]
    if "14b" in key:
        return MODEL_SPECS["wan2.1-vace-14b"]
    if "1.3b" in key or "1_3b" in key or "1-3b" in key:
        return MODEL_SPECS["wan2.1-vace-1.3b"]
    raise InputError("model", f"'{model_name}' is not a known VACE model (1.3B, 14B or tiny-random).")


def spec_for_config(config: dict) -> ModelSpec:
    """The spec whose transformer shape matches a loaded transformer's config (custom shapes: closest by width)."""
    for spec in MODEL_SPECS.values():
        if all(config.get(key) == spec.transformer[key] for key in ("num_layers", "num_attention_heads", "ffn_dim")):
            return spec
    width = config.get("num_attention_heads", 12) * config.get("attention_head_dim", 128)
    return MODEL_SPECS["wan2.1-vace-14b" if width >= 3072 else "wan2.1-vace-1.3b"]


def transformer_params(config: dict) -> int:
    """Parameter count of WanVACETransformer3DModel(**config), exact (see tests)."""
    d = config["num_attention_heads"] * config["attention_head_dim"]
    f, text_dim, freq = config["ffn_dim"], config["text_dim"], config["freq_dim"]
    patch = math.prod(config["patch_size"])
    attention = 2 * (4 * (d * d + d) + 2 * d)
    block = attention + 2 * d + (d * f + f) + (f * d + d) + 6 * d  # + norm2 (affine) + ffn + modulation
    vace = len(config["vace_layers"]) * (block + d * d + d) + (d * d + d)  # proj_out each, proj_in on the first
    top = (config["in_channels"] * patch * d + d) + (config["vace_in_channels"] * patch * d + d)
    top += (freq * d + d) + (d * d + d) + (d * 6 * d + 6 * d) + (text_dim * d + d) + (d * d + d)
    top += d * config["out_channels"] * patch + config["out_channels"] * patch + 2 * d
    return config["num_layers"] * block + vace + top


def latent_tokens(config: dict, width: int, height: int, num_frames: int, num_references: int = 0) -> int:
    """Transformer sequence length: latent frames ((frames-1)/4+1, plus one per reference) x (h/16) x (w/16)."""
    _, patch_h, patch_w = config["patch_size"]
    frames = (num_frames - 1) // C.TEMPORAL_STRIDE + 1 + num_references
    return frames * (height // (8 * patch_h)) * (width // (8 * patch_w))


def transformer_flops(spec: ModelSpec, width: int, height: int, num_frames: int, num_references: int = 0) -> float:
    """FLOPs of one transformer call (one CFG branch of one step), multiply-add = 2. Matches torch's FLOP counter
    on the diffusers module (tests). Attention is dense: 4*L^2*d per self-attention."""
    cfg = spec.transformer
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    f, s, patch = cfg["ffn_dim"], spec.text_tokens, math.prod(cfg["patch_size"])
    n = latent_tokens(cfg, width, height, num_frames, num_references)
    block = 12 * n * d * d + 4 * s * d * d + 4 * n * n * d + 4 * n * s * d + 4 * n * d * f
    vace = len(cfg["vace_layers"]) * (block + 2 * n * d * d) + 2 * n * d * d
    embed = 2 * n * d * patch * (cfg["in_channels"] + cfg["vace_in_channels"] + cfg["out_channels"])
    conditions = 2 * s * (cfg["text_dim"] * d + d * d) + 2 * (cfg["freq_dim"] * d + d * d + 6 * d * d)
    return float(cfg["num_layers"] * block + vace + embed + conditions)


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
class Estimate:
    """vram_gb: peak device memory; seconds: whole job (encode, denoise, decode); basis: "model" (formulas) or
    "measured" (scaled from a recorded run on this GPU); text: the one-line summary shown to the user."""

    vram_gb: float
    seconds: float
    text: str
    basis: str = "model"


def _weights_gb(spec: ModelSpec, memory: MemoryMode) -> dict:
    tr_bytes = 1 if memory is MemoryMode.FP8_STORAGE else 2
    return {"text_encoder": spec.text_encoder_params * 2 / 1e9, "vae": spec.vae_params * 4 / 1e9,
            "transformer": transformer_params(spec.transformer) * tr_bytes / 1e9}


def estimate_vram_gb(spec: ModelSpec, width: int, height: int, num_frames: int, speed: SpeedMode,
                     memory: MemoryMode, vae_tiling: bool = False, num_references: int = 0) -> float:
    """Peak device memory in GB. Activations: hidden states, the VACE hints (one per vace layer, all alive during
    the forward), the FFN intermediate; VAE decode working set per pixel (tiles of 256x256 when tiling)."""
    cfg = spec.transformer
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    n = latent_tokens(cfg, width, height, num_frames, num_references)
    act = (n * d * 2 * (len(cfg["vace_layers"]) + 6) + n * cfg["ffn_dim"] * 4) / 1e9
    if SPEED_PLANS[speed].cache:
        act += 2 * n * d * 2 / 1e9  # one cached residual per CFG branch
    pixels = min(width * height, 256 * 256) if vae_tiling else width * height
    vae_act = pixels * 17_000 / 1e9
    w = _weights_gb(spec, memory)
    if memory is MemoryMode.GPU:
        peak = sum(w.values()) + max(act, vae_act)
    elif memory is MemoryMode.GROUP_OFFLOAD:
        block_gb = transformer_params(cfg) * 2 / 1e9 / (cfg["num_layers"] + len(cfg["vace_layers"]))
        embed_gb = 256_384 * 4096 * 2 / 1e9 if spec.text_encoder_params > 1e9 else w["text_encoder"]
        peak = max(2 * embed_gb, 3 * block_gb + act, vae_act + 0.1)
    else:  # MODEL_OFFLOAD and FP8_STORAGE (which also offloads the text encoder and VAE)
        peak = max(w["text_encoder"] + 0.5, w["transformer"] + act, w["vae"] + vae_act)
    return peak + OVERHEAD_GB


def model_seconds(spec: ModelSpec, width: int, height: int, num_frames: int, steps: int, guidance: float,
                  speed: SpeedMode, memory: MemoryMode, peak_tflops: float, cuda: bool = True,
                  num_references: int = 0, mfu: float = DEFAULT_MFU) -> tuple[float, float]:
    """(denoising seconds, VAE + transfer seconds) from FLOPs, the GPU peak and the mode's assumptions."""
    plan = SPEED_PLANS[speed]
    rate = peak_tflops * 1e12 * mfu * (TUNED_SPEEDUP if cuda and speed is not SpeedMode.OFF else 1.0)
    call = transformer_flops(spec, width, height, num_frames, num_references) / rate
    if memory is MemoryMode.GROUP_OFFLOAD:
        call = max(call, transformer_params(spec.transformer) * 2 / 20e9)  # streamed weights hide behind compute
    if memory is MemoryMode.FP8_STORAGE:
        call *= 1.05  # per-layer upcast of the stored weights
    calls = steps * (1 + (plan.cfg_step_ratio if guidance > 1 else 0)) * plan.call_fraction
    pixels = width * height * num_frames
    vae = VAE_DECODE_FLOPS_PER_PIXEL * pixels * (1 + 2 * 0.6) / (peak_tflops * 1e12 * 0.5 * 0.3)
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


def estimate_run(model_name: str, width: int, height: int, num_frames: int, steps: int, guidance: float,
                 speed: SpeedMode, memory: MemoryMode, gpu_name: str | None = None,
                 measured: "MeasuredStore | str | Path | None" = None, vae_tiling: bool = False,
                 num_references: int = 0, free_bytes: int | None = None) -> Estimate:
    """VRAM and wall time of one job. With a measured run of the same model on this GPU, the time is that run's
    seconds per step scaled by the FLOPs ratio (and the mode's call fraction), so estimates converge on reality."""
    spec = model_spec(model_name)
    speed, memory = SpeedMode(speed), MemoryMode(memory)
    if memory is MemoryMode.AUTO:
        memory = choose_memory_mode(free_bytes or 0, model_name, width, height, num_frames) if free_bytes else MemoryMode.GPU
    row = _gpu_row(gpu_name)
    on_cpu = gpu_name is not None and "cpu" in gpu_name.lower()
    where = "on this CPU" if on_cpu else "on this GPU" if row else (
        f"on an {REFERENCE_GPU.split('GeForce ')[-1]}" if gpu_name is None else "on this GPU (unknown model: rough)")
    peak, mfu = row or (_gpu_row(REFERENCE_GPU) if gpu_name is None else (100.0, DEFAULT_MFU))
    cuda = gpu_name is None or "cpu" not in gpu_name.lower()
    vram = estimate_vram_gb(spec, width, height, num_frames, speed, memory, vae_tiling, num_references)
    denoise, rest = model_seconds(spec, width, height, num_frames, steps, guidance, speed, memory, peak, cuda,
                                  num_references, mfu)
    basis = "model"
    store = measured if isinstance(measured, MeasuredStore) or measured is None else MeasuredStore(measured)
    record = store.closest(spec.name, width, height, num_frames, speed, memory, gpu_name, guidance > 1) if store else None
    if record:
        ref_denoise, ref_rest = model_seconds(spec, record["width"], record["height"], record["num_frames"], 1,
                                              5.0 if record["guidance"] else 1.0, SpeedMode(record["speed"]),
                                              MemoryMode(record["memory"]), peak, cuda, 0, mfu)
        denoise *= record["seconds_per_step"] / ref_denoise
        if record.get("vae_seconds"):
            rest = record["vae_seconds"] * rest / ref_rest
        if record.get("peak_vram_gb") and record["width"] == width and record["height"] == height:
            vram = record["peak_vram_gb"]
        basis = "measured"
    seconds = denoise + rest
    return Estimate(round(vram, 1), round(seconds, 1), format_summary(vram, seconds, where), basis)


def choose_memory_mode(free_bytes: int, model_name: str, width: int = 832, height: int = 480,
                       num_frames: int = C.DEFAULT_FRAMES, ram_bytes: int | None = None) -> MemoryMode:
    """The fastest lossless mode whose estimated peak fits in 90% of `free_bytes`: GPU, then model offload, then
    group offload (needs system RAM for the pinned weights); FP8 storage (lossy) only when group offload cannot
    get its RAM; group offload with VAE tiling is the last resort."""
    spec = model_spec(model_name)
    budget = free_bytes / 1e9 * 0.9
    pinned_gb = sum(_weights_gb(spec, MemoryMode.GPU).values()) * 1.2

    def fits(mode: MemoryMode) -> bool:
        return estimate_vram_gb(spec, width, height, num_frames, SpeedMode.OFF, mode) <= budget

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
    def _key(model: str, width: int, height: int, frames: int, speed, memory, gpu: str | None, guided: bool) -> str:
        return f"{model}|{width}x{height}x{frames}|{SpeedMode(speed).value}|{MemoryMode(memory).value}|{gpu}|{int(guided)}"

    def record(self, model_name: str, width: int, height: int, num_frames: int, speed: SpeedMode, memory: MemoryMode,
               gpu_name: str | None, guided: bool, seconds_per_step: float, vae_seconds: float | None = None,
               peak_vram_gb: float | None = None) -> dict:
        model = model_spec(model_name).name
        data = self._load()
        key = self._key(model, width, height, num_frames, speed, memory, gpu_name, guided)
        old = data.get(key, {"n": 0})
        n = old["n"] + 1

        def mean(name, value):
            if value is None or old.get(name) is None:
                return old.get(name) if value is None else value
            return old[name] + (value - old[name]) / n

        data[key] = {"model": model, "width": width, "height": height, "num_frames": num_frames,
                     "speed": SpeedMode(speed).value, "memory": MemoryMode(memory).value, "gpu": gpu_name,
                     "guidance": bool(guided), "n": n, "seconds_per_step": mean("seconds_per_step", seconds_per_step),
                     "vae_seconds": mean("vae_seconds", vae_seconds), "peak_vram_gb": mean("peak_vram_gb", peak_vram_gb)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".measured-", suffix=".json")
        with os.fdopen(handle, "w") as file:
            json.dump(data, file, indent=1, sort_keys=True)
        os.replace(temp, self.path)
        return data[key]

    def closest(self, model: str, width: int, height: int, frames: int, speed, memory, gpu: str | None,
                guided: bool) -> dict | None:
        """Same model and GPU; prefers the same mode, guidance, size and frame count, in that order."""
        rows = [row for row in self._load().values() if isinstance(row, dict) and row.get("model") == model
                and row.get("gpu") == gpu and row.get("seconds_per_step")]

        def score(row):
            return ((row["speed"] == SpeedMode(speed).value) * 8 + (row["memory"] == MemoryMode(memory).value) * 4
                    + (row["guidance"] == bool(guided)) * 2 + ((row["width"], row["height"], row["num_frames"])
                                                              == (width, height, frames)))

        return max(rows, key=score) if rows else None
