"""Speed and memory modes of the local VACE pipeline, measured. See bench/README.md.

CUDA: builds the full-size Wan2.1-VACE-1.3B transformer (and 14B, at 1280x720, when it fits) plus the Wan2.1 VAE
from their published configs (vace_ui/backends/wan_specs.py) with random weights, bf16 transformer and fp32
VAE as the app loads them; random prompt embeddings (1, 512, 4096) stand in for the 5.7B UMT5 text encoder (not
loaded, so its 11.4 GB is not in the measured VRAM). For every speed mode (memory GPU) and every memory mode (speed
OFF) it measures seconds per denoising step with guidance (both CFG branches) and without, the cost of a call
served from the step cache, VAE encode and decode time and peak VRAM, then extrapolates a 50-step job (random
weights cannot reproduce the real cache-hit pattern: cached modes use TeaCache's published call fractions; said in
the notes). It prints FLOPs per step and the achieved fraction of the GPU's dense bf16 peak.

No CUDA: the same runs with the tiny random model at 64x64, 9 frames: checks every mode runs, prints relative cost.

    .venv/bin/python bench/gpu.py [--out bench/RESULTS.md] [--models 1.3b,14b] [--steps 4]
        [--full-run] [--store outputs/measured_speed.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import describe, write_section  # noqa: E402
from vace_ui.backends.local_estimate import (  # noqa: E402
    SPEED_PLANS,
    MeasuredStore,
    RunModes,
    RunShape,
    estimate_vram_gb,
    gpu_peak_tflops,
)
from vace_ui.backends.local_modes import cache_stats, configure_pipeline, make_step_callback, prepare_run  # noqa: E402
from vace_ui.backends.wan_specs import MODEL_SPECS, WAN_VAE, transformer_flops  # noqa: E402
from vace_ui.core.settings import MemoryMode, SpeedMode  # noqa: E402

CUDA = torch.cuda.is_available()
SIZES = {"wan2.1-vace-1.3b": (832, 480), "wan2.1-vace-14b": (1280, 720), "tiny-random": (64, 64)}
MEMORY_MODES = [MemoryMode.GPU, MemoryMode.MODEL_OFFLOAD, MemoryMode.GROUP_OFFLOAD, MemoryMode.FP8_STORAGE]


@dataclasses.dataclass
class Row:
    model: str
    speed: str
    memory: str
    attention: str = ""
    compiled: bool = False
    guided: float = math.nan  # s per step, both CFG branches
    unguided: float = math.nan  # s per step, conditional branch only
    cached_call: float = math.nan  # s for one transformer call served from the cache
    encode: float = math.nan
    decode: float = math.nan
    peak_gb: float = math.nan
    estimate_gb: float = math.nan
    e2e_50: float = math.nan
    ratio: float = math.nan  # guided step time / OFF-GPU step time measured alternately (no CUDA only)
    note: str = ""


def sync():
    if CUDA:
        torch.cuda.synchronize()


@contextlib.contextmanager
def default_dtype(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build(model: str):
    """A WanVACEPipeline: random full-size weights on CPU (tiny model off CUDA), no text encoder."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel

    from vace_ui.backends.tiny_model import build_tiny_pipeline

    if model == "tiny-random":
        pipe = build_tiny_pipeline()
    else:
        torch.manual_seed(0)
        with default_dtype(torch.bfloat16):
            transformer = WanVACETransformer3DModel(**MODEL_SPECS[model].transformer)
        vae = AutoencoderKLWan(**WAN_VAE).to(torch.float32)
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
        pipe = WanVACEPipeline(tokenizer=None, text_encoder=None, vae=vae, transformer=transformer,
                               scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


class VaeTimer:
    def __init__(self, vae):
        self.seconds = {"encode": 0.0, "decode": 0.0}
        for name in self.seconds:
            setattr(vae, name, self._timed(name, getattr(vae, name)))

    def _timed(self, name, original):
        def timed(*args, **kwargs):
            sync()
            start = time.perf_counter()
            result = original(*args, **kwargs)
            sync()
            self.seconds[name] += time.perf_counter() - start
            return result

        return timed


def run(pipe, model, steps, guidance, applied, use_plan_cutoff=False):
    """One pipeline call; returns (seconds per step after the first, VAE seconds, peak GB, frames)."""
    width, height = SIZES[model]
    frames = 9 if model == "tiny-random" else 81
    device = "cuda" if CUDA else "cpu"
    dtype = torch.bfloat16 if CUDA else torch.float32
    text_dim = MODEL_SPECS[model].transformer["text_dim"]
    g = torch.Generator().manual_seed(0)
    embeds = [torch.randn(1, 512, text_dim, generator=g).to(device, dtype) for _ in range(2)]
    marks = []

    def mark(pipe_, step, timestep, kwargs):
        sync()
        marks.append(time.perf_counter())
        return kwargs

    timer = VaeTimer(pipe.vae)
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    prepare_run(pipe)
    try:
        output = pipe(prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1], height=height, width=width,
                      num_frames=frames, num_inference_steps=steps, guidance_scale=guidance,
                      generator=torch.Generator().manual_seed(0), output_type="np",
                      callback_on_step_end=make_step_callback(applied if use_plan_cutoff else None, mark)).frames
    finally:
        del pipe.vae.encode, pipe.vae.decode  # drop the timing wrappers (instance attributes)
    per_step = float(np.median(np.diff(marks))) if len(marks) > 1 else math.nan
    peak = torch.cuda.max_memory_allocated() / 1e9 if CUDA else math.nan
    return per_step, timer.seconds, peak, output


def cached_call_seconds(pipe, model) -> float:
    """Time of one transformer call the step cache serves (forced: identical inputs, threshold infinite)."""
    from vace_ui.backends.vace_cache import VaceCacheConfig, apply_vace_cache, remove_vace_cache, vace_cache_handle

    previous = vace_cache_handle(pipe.transformer)
    remove_vace_cache(pipe.transformer)
    apply_vace_cache(pipe.transformer, VaceCacheConfig(math.inf, (0.0,), retention_steps=1))
    width, height = SIZES[model]
    frames = 9 if model == "tiny-random" else 81
    tokens = (frames - 1) // 4 + 1
    device, dtype = ("cuda", torch.bfloat16) if CUDA else ("cpu", torch.float32)
    cfg = MODEL_SPECS[model].transformer
    inputs = dict(
        hidden_states=torch.randn(1, 16, tokens, height // 8, width // 8, device=device, dtype=dtype),
        timestep=torch.tensor([500.0], device=device),
        encoder_hidden_states=torch.randn(1, 512, cfg["text_dim"], device=device, dtype=dtype),
        control_hidden_states=torch.randn(1, 96, tokens, height // 8, width // 8, device=device, dtype=dtype),
        return_dict=False,
    )
    with torch.no_grad(), pipe.transformer.cache_context("bench"):
        pipe.transformer(**inputs)
        sync()
        start = time.perf_counter()
        pipe.transformer(**inputs)
        sync()
        seconds = time.perf_counter() - start
    remove_vace_cache(pipe.transformer)
    if previous is not None:
        apply_vace_cache(pipe.transformer, previous.config)
    return seconds


def extrapolate(row: Row, speed: SpeedMode, steps: int = 50) -> float:
    plan = SPEED_PLANS[speed]
    guided_steps = math.ceil(plan.cfg_step_ratio * steps)
    computed = guided_steps * row.guided + (steps - guided_steps) * row.unguided
    calls = guided_steps * 2 + (steps - guided_steps)
    cached = (1 - plan.call_fraction) * calls * (0 if math.isnan(row.cached_call) else row.cached_call)
    return plan.call_fraction * computed + cached + row.encode + row.decode


def measure(model: str, speed: SpeedMode, memory: MemoryMode, steps: int, pipe=None, repeat: int = 1,
            baseline=None):
    """Configure, warm up (compiles where enabled), then time guided and unguided runs."""
    pipe = pipe or build(model)
    device = "cuda" if CUDA else "cpu"
    applied = configure_pipeline(pipe, speed, memory, device, vae_tiling=False)
    row = Row(model, speed.value, applied.memory, applied.attention_backend, applied.compiled)
    width, height = SIZES[model]
    spec = dataclasses.replace(MODEL_SPECS[model], text_encoder_params=0)  # comparable: no text encoder here
    shape = RunShape(model, width, height, 81 if model != "tiny-random" else 9)
    row.estimate_gb = estimate_vram_gb(shape, RunModes(speed, memory), spec)
    run(pipe, model, 2, 5.0, applied)  # warm-up (torch.compile, cuDNN autotune, allocator)
    guided, ratios = [], []
    for _ in range(repeat):  # fastest of `repeat` counts: the least disturbed by other load
        if baseline is not None:  # an OFF/GPU run right before each, for a ratio measured under the same load
            base = run(baseline, model, steps, 5.0, None)[0]
        guided.append(run(pipe, model, steps, 5.0, applied))
        if baseline is not None:
            ratios.append(guided[-1][0] / base)
    row.guided = min(result[0] for result in guided)
    row.ratio = float(np.median(ratios)) if ratios else math.nan
    row.encode = min(result[1]["encode"] for result in guided)
    row.decode = min(result[1]["decode"] for result in guided)
    row.peak_gb, frames = guided[0][2], guided[0][3]
    row.unguided = min(run(pipe, model, steps, 1.0, applied)[0] for _ in range(repeat))
    if applied.cache:
        row.cached_call = cached_call_seconds(pipe, model)
    row.e2e_50 = extrapolate(row, speed)
    notes = [] if np.isfinite(frames).all() else ["random weights gave non-finite pixels (timing unaffected)"]
    if not CUDA and applied.cache:
        notes.append(f"tiny 12-step run: cache {cache_stats_after(pipe, model, applied)}")
    row.note = "; ".join(notes + list(applied.notes))
    return row, pipe


def cache_stats_after(pipe, model, applied) -> str:
    run(pipe, model, 12, 5.0, applied, use_plan_cutoff=True)
    stats = cache_stats(pipe)
    return f"{stats['cached_calls']} of {stats['computed_calls'] + stats['cached_calls']} calls cached"


def table(rows, model, peak_tflops):
    width, height = SIZES[model]
    frames = 9 if model == "tiny-random" else 81
    flops = transformer_flops(MODEL_SPECS[model], width, height, frames)
    base = next(
        (r.guided for r in rows if r.speed == SpeedMode.OFF.value and r.memory == MemoryMode.GPU.value), math.nan
    )
    lines = [f"### {model} at {width}x{height}, {frames} frames",
             f"Transformer FLOPs per call {flops:.3g}; per guided step (two calls) {2 * flops:.3g}.", "",
             "| speed | memory | attention | compiled | s/step guided | s/step unguided | cached call s | VAE enc s | "
             "VAE dec s | peak GB (est.) | 50 steps s* | vs OFF | TFLOP/s | % peak | notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        versus = r.ratio if r.ratio == r.ratio else r.guided / base
        achieved = 2 * flops / r.guided / 1e12 if r.guided == r.guided else math.nan
        share = f"{100 * achieved / peak_tflops:.0f}%" if peak_tflops else "-"
        lines.append(f"| {r.speed} | {r.memory} | {r.attention} | {'yes' if r.compiled else 'no'} | {r.guided:.3f} | "
                     f"{r.unguided:.3f} | {r.cached_call:.3f} | {r.encode:.2f} | {r.decode:.2f} | "
                     f"{r.peak_gb:.1f} ({r.estimate_gb:.1f}) | {r.e2e_50:.0f} | {versus:.2f}x | "
                     f"{achieved:.1f} | {share} | {r.note} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="write the markdown table here too")
    parser.add_argument("--models", default="1.3b,14b", help="comma list of 1.3b, 14b (CUDA only)")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per timed run (median of the "
                        "step-to-step times, so the first step, which includes VAE encoding, is excluded)")
    parser.add_argument("--repeat", type=int, default=1 if CUDA else 3,
                        help="timed runs per mode; the fastest counts (default 3 without CUDA, where other load "
                        "on the machine disturbs the tiny model's millisecond steps)")
    parser.add_argument("--full-run", action="store_true", help="also time a real 50-step OFF/GPU job per model")
    parser.add_argument("--store", type=Path, help="record measurements in this MeasuredStore JSON")
    args = parser.parse_args(argv)

    models = [f"wan2.1-vace-{m.strip().lower()}" for m in args.models.split(",")] if CUDA else ["tiny-random"]
    gpu = torch.cuda.get_device_name() if CUDA else "cpu"
    peak = gpu_peak_tflops(gpu) if CUDA else None
    out = [f"# Local speed and memory modes: {gpu}", "",
           f"torch {torch.__version__}, {platform.python_version()}, "
           f"{'dense bf16 peak ' + str(peak) + ' TFLOP/s' if peak else 'no CUDA: tiny model, relative cost only'}.",
           "*50 steps s: measured per-step times x 50 plus VAE; cached modes use TeaCache's published fraction of "
           "calls computed (random weights cannot show the real hit pattern). Peak GB excludes the text encoder. "
           "vs OFF: guided step time over OFF/GPU's" + ("." if CUDA else ", median of runs alternating with an OFF "
                                                          "pipeline (the fastest-run columns drift with other load)."),
           ""]
    store = MeasuredStore(args.store) if args.store else None
    for model in models:
        width, height = SIZES[model]
        free = torch.cuda.mem_get_info()[0] / 1e9 if CUDA else math.inf
        rows, shared = [], None
        baseline = None
        if not CUDA:  # other load on a shared CPU swamps millisecond steps: compare against OFF run alternately
            baseline = build(model)
            configure_pipeline(baseline, SpeedMode.OFF, MemoryMode.GPU, "cpu", False)
        plan = [(speed, MemoryMode.GPU) for speed in SpeedMode] + [(SpeedMode.OFF, m) for m in MEMORY_MODES[1:]]
        for speed, memory in plan:
            spec = dataclasses.replace(MODEL_SPECS[model], text_encoder_params=0)
            need = estimate_vram_gb(RunShape(model, width, height, 81), RunModes(speed, memory), spec)
            if need > free:
                rows.append(Row(model, speed.value, memory.value, note=f"skipped: needs about {need:.0f} GB"))
                continue
            reusable = memory is MemoryMode.GPU  # other memory modes get a pipeline of their own
            pipe = shared if reusable else None
            try:
                row, pipe = measure(model, speed, memory, args.steps, pipe, args.repeat, baseline)
                if store and CUDA:
                    store.record(RunShape(model, width, height, 81, guidance=5.0), RunModes(speed, memory), gpu,
                                 row.guided, row.encode + row.decode, row.peak_gb)
            except Exception as error:  # one mode failing must not hide the others
                row = Row(model, speed.value, memory.value, note=f"failed: {type(error).__name__}: {error}"[:200])
            rows.append(row)
            print(dataclasses.asdict(row), flush=True)
            if reusable:
                shared = pipe
            else:
                pipe = None
                if CUDA:
                    torch.cuda.empty_cache()
        out += table(rows, model, peak) + [""]
        if args.full_run and shared is not None:
            configure_pipeline(shared, SpeedMode.OFF, MemoryMode.GPU, "cuda" if CUDA else "cpu", False)
            start = time.perf_counter()
            run(shared, model, 50, 5.0, None)
            real = time.perf_counter() - start
            out += [f"Real 50-step OFF/GPU job: {real:.0f} s (extrapolated: {rows[0].e2e_50:.0f} s).", ""]
        del shared
    out += ["```", describe(("torch", "diffusers", "numpy", "nvidia-cudnn-cu13", "nvidia-cublas")), "```", ""]
    text = "\n".join(out)
    print(text)
    if args.out:
        write_section(args.out, "bench/gpu.py", text.replace("# Local speed", "## Local speed", 1))


if __name__ == "__main__":
    main()
