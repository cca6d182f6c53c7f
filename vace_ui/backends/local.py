"""The local backend: diffusers' `WanVACEPipeline` on this machine's GPU (or CPU).

Loads the pipeline once per model and device and keeps it; per job it sets the solver, flow shift and LoRAs,
runs with per-step progress and cancel, and returns uint8 frames. Reference frames are trimmed by the pipeline.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.errors import BackendUnavailable, GenerationCancelled, InputError
from ..core.requests import Capability
from ..core.settings import GenerationSettings, LoraSpec, MemoryMode, Solver, SpeedMode
from .base import Backend, BackendCapabilities, BackendJob, BackendResult, JobReporter, Phase
from .control_streams import control_streams, encode_stream
from .local_modes import cache_stats, make_step_callback
from .local_modes import experts as expert_modules
from .model_catalog import entry_for
from .tiny_model import TINY_MODEL_ID, ensure_tiny_model

log = logging.getLogger(__name__)

HONOURED_SETTINGS = frozenset(
    {"prompt", "negative_prompt", "size", "num_frames", "steps", "guidance_scale", "flow_shift",
     "conditioning_scale", "seed", "solver", "fit", "timing", "loras", "speed_mode", "memory_mode", "vae_tiling",
     "guidance_scale_2", "boundary_ratio", "model", "control_2"}  # control_2: Repaint's second control stream
)


class LocalBackend(Backend):
    """Runs `WanVACEPipeline.from_pretrained(model)`. model: catalog/Hugging Face id, local folder or tiny-random.

    `default_model` is the start-up model (VACE_MODEL); a job whose settings name another `model` switches to it
    (the old pipeline is freed first), and a job without one runs on the default: the choice is per job."""

    name = "local"
    label = "Local GPU (diffusers)"
    exclusive = True

    def __init__(self, model: str, models_dir: Path, device: str = "auto", measured_path: Path | None = None):
        self.model = self.default_model = model
        self.measured_path = measured_path  # JSON of measured runs that refines estimates (MeasuredStore)
        self.models_dir = Path(models_dir)
        self.requested_device = device
        self._pipe = None
        self._loras: tuple[LoraSpec, ...] = ()
        self.warnings: list[str] = []

    @property
    def is_tiny(self) -> bool:
        return self.model == TINY_MODEL_ID

    def capabilities(self) -> BackendCapabilities:
        note = "Tiny random model: produces noise (for tests)." if self.is_tiny else ""
        return BackendCapabilities(frozenset(Capability), HONOURED_SETTINGS, True, note)

    def device(self) -> str:
        if self.requested_device != "auto":
            return self.requested_device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolve_source(self) -> str:
        """Where from_pretrained loads from: tiny model folder, a local folder, models/<folder>, or the hub id."""
        if self.is_tiny:
            return str(ensure_tiny_model(self.models_dir / "tiny-random"))
        if Path(self.model).is_dir():
            return self.model
        local = self.models_dir / entry_for(self.model).folder
        if (local / "model_index.json").is_file():
            return str(local)
        return self.model

    def model_for(self, settings: GenerationSettings) -> str:
        return settings.model or self.default_model

    def installed(self, model: str) -> bool:
        """Whether `model`'s weights are on this machine (models/<folder>, a folder, or the Hugging Face cache)."""
        if model == TINY_MODEL_ID:
            return True  # built from configs on first use
        folder = Path(model) if Path(model).is_dir() else self.models_dir / entry_for(model).folder
        if (folder / "model_index.json").is_file():
            return True
        try:
            from huggingface_hub import try_to_load_from_cache

            return isinstance(try_to_load_from_cache(model, "model_index.json"), str)
        except Exception:  # not a hub id
            return False

    def missing_message(self, model: str, reason: str = "") -> str:
        """What to do when `model` is not here: its size and the `hf download` command."""
        entry = entry_for(model)
        size = f" (about {entry.approx_download_gb:g} GB)" if entry.approx_download_gb else ""
        why = " and could not be downloaded" + (f" ({reason})" if reason else "") if reason else ""
        return (f"The model {model}{size} is not on this machine{why}. Download it with:\n"
                f"  {entry.download_command(self.models_dir)}")

    def status(self) -> str:
        source = self.resolve_source()
        if self.is_tiny:
            return "ready: tiny random model (produces noise)"
        if Path(source).is_dir():
            return f"ready: {source}"
        return f"{self.model} will be loaded from the Hugging Face cache or downloaded on first use"

    def gpu_name(self) -> str | None:
        import torch

        if not self.device().startswith("cuda"):
            return "cpu"
        return torch.cuda.get_device_name(torch.device(self.device())) if torch.cuda.is_available() else None

    def estimate(self, settings: GenerationSettings, width: int, height: int, num_frames: int,
                 num_references: int = 0):
        """The Estimate ("about 8 GB, about 3 min on this GPU") of a job, refined by runs measured on this machine;
        None when this model has no estimate (an estimate never blocks a preview)."""
        from .local_estimate import MeasuredStore, RunModes, RunShape, estimate_run

        try:
            shape = RunShape.from_settings(self.model_for(settings), settings, width, height, num_frames,
                                           num_references)
            estimate = estimate_run(shape, RunModes.from_settings(settings), gpu_name=self.gpu_name(),
                                    measured=MeasuredStore(self.measured_path) if self.measured_path else None)
        except InputError:  # a model the estimator does not know (custom folder)
            log.info("no estimate for %s", self.model)
            return None
        return estimate

    def load(self):
        if self._pipe is not None:
            return self._pipe
        import torch
        from diffusers import WanVACEPipeline

        device = self.device()
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        cpu_warning = "No CUDA GPU: running in float32 on the CPU; a real model takes hours per clip."
        if not device.startswith("cuda") and not self.is_tiny and cpu_warning not in self.warnings:
            self.warnings.append(cpu_warning)  # once: each model switch loads again
            log.warning(cpu_warning)
        source = self.resolve_source()
        try:
            try:
                pipe = WanVACEPipeline.from_pretrained(source, dtype=dtype, local_files_only=True)
            except Exception:
                if Path(source).is_dir():
                    raise
                pipe = WanVACEPipeline.from_pretrained(source, dtype=dtype)
        except Exception as error:
            raise BackendUnavailable(
                self.missing_message(self.model, type(error).__name__)
                + "\nthen generate again. Everything else in the app keeps working."
            ) from None
        if dtype == torch.bfloat16:
            pipe.vae.to(torch.float32)
        # Stays on the CPU: configure_pipeline places it for the memory mode (a 14B moved whole to a 24 GB card
        # would fail before offloading could start).
        pipe.set_progress_bar_config(disable=True)
        if pipe.text_encoder is not None:
            pipe.text_encoder.eval()
        self._pipe = pipe
        return pipe

    def use_model(self, model: str) -> dict:
        """Switch to `model` (catalog id, hub id, folder or tiny-random): the old pipeline is dropped and its memory
        freed before the new one loads on the next job. Returns process RSS and CUDA allocated bytes before and
        after the release (what came back)."""
        import gc

        import torch

        if model == self.model:
            return {}
        before = _memory_now()
        self._pipe, self._loras, self.model = None, (), model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        _trim_heap()
        return {"before": before, "after": _memory_now()}

    def _set_scheduler(self, pipe, settings: GenerationSettings) -> None:
        from diffusers import DPMSolverMultistepScheduler, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

        shift = settings.effective_flow_shift
        config = pipe.scheduler.config
        if settings.solver is Solver.EULER:
            pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
        elif settings.solver is Solver.DPMPP:
            pipe.scheduler = DPMSolverMultistepScheduler.from_config(
                config, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift
            )
        else:
            pipe.scheduler = UniPCMultistepScheduler.from_config(
                config, prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift
            )

    def _set_loras(self, pipe, loras: tuple[LoraSpec, ...]) -> None:
        if tuple(lora.path for lora in loras) != tuple(lora.path for lora in self._loras):
            if self._loras:
                pipe.unload_lora_weights()
            self._loras = ()
            for index, lora in enumerate(loras):
                try:
                    pipe.load_lora_weights(lora.path, adapter_name=f"lora{index}")
                except Exception as error:
                    pipe.unload_lora_weights()
                    raise BackendUnavailable(
                        f"LoRA {index + 1} ({Path(lora.path).name}) could not be loaded: {error}"
                    ) from None
        if loras:
            pipe.set_adapters([f"lora{index}" for index in range(len(loras))], [lora.scale for lora in loras])
        self._loras = loras

    def generate(self, job: BackendJob, reporter: JobReporter) -> BackendResult:
        import torch
        from PIL import Image

        inputs, settings = job.inputs, job.settings
        if inputs is None:
            raise ValueError("the local backend needs compiled VACE inputs")
        timings: dict[str, float] = {}
        start = time.perf_counter()
        if inputs.extra_controls and settings.speed_mode is not SpeedMode.OFF:
            # the step cache and compile know one control stream: a second control runs at reference speed
            settings = replace(settings, speed_mode=SpeedMode.OFF)
            log.info("two controls: speed mode off for job %s", job.job_id)
        if self.model_for(settings) != self.model:
            self.use_model(self.model_for(settings))  # this job's model: the previous pipeline is freed first
        reporter.phase(Phase.PREPARE, message=f"loading {self.model}")
        pipe, applied = self._prepare(settings)
        timings["prepare_s"] = time.perf_counter() - start
        if reporter.cancelled:
            raise GenerationCancelled()
        step_times: list[float] = []

        def on_step_end(pipeline, step, timestep, callback_kwargs):
            step_times.append(time.perf_counter())
            if reporter.cancelled:
                raise GenerationCancelled()
            if step + 1 >= settings.steps:
                reporter.phase(Phase.DECODE)
            else:
                reporter.phase(Phase.DENOISE, step + 1, settings.steps)
            return callback_kwargs

        experts = _expert_kwargs(pipe, settings)
        reporter.phase(Phase.ENCODE)
        call_start = time.perf_counter()
        references = [Image.fromarray(ref) for ref in inputs.references] or None
        streams = [(encode_stream(pipe, stream, references, inputs.height, inputs.width, inputs.num_frames),
                    float(stream.conditioning_scale)) for stream in inputs.extra_controls]
        with (control_streams(expert_modules(pipe), float(inputs.conditioning_scale), streams) if streams
              else contextlib.nullcontext()):
            output = self._call(
                pipe,
                prompt=settings.prompt,
                negative_prompt=settings.negative_prompt or None,
                video=[Image.fromarray(frame) for frame in inputs.video],
                mask=[Image.fromarray(mask, mode="L") for mask in inputs.mask],
                reference_images=references,
                conditioning_scale=1.0 if streams else float(inputs.conditioning_scale),  # streams: the hooks scale
                height=inputs.height,
                width=inputs.width,
                num_frames=inputs.num_frames,
                num_inference_steps=int(settings.steps),
                guidance_scale=float(settings.guidance_scale),
                generator=torch.Generator(device="cpu").manual_seed(int(job.seed)),
                output_type="np",
                callback_on_step_end=make_step_callback(applied, on_step_end),
                **experts,
            )
        end = time.perf_counter()
        if step_times:
            timings["encode_s"] = (
                step_times[0] - call_start - (step_times[1] - step_times[0] if len(step_times) > 1 else 0)
            )
            timings["denoise_s"] = step_times[-1] - call_start - max(timings["encode_s"], 0.0)
            timings["decode_s"] = end - step_times[-1]
        timings["pipeline_s"] = end - call_start
        frames = np.clip(np.rint(output.frames[0] * 255.0), 0, 255).astype(np.uint8)
        self._record_speed(settings, inputs, applied, timings)
        info = {"model": self.model, "device": self.device(), "warnings": list(self.warnings),
                "control_streams": 1 + len(streams),
                "local_modes": applied.to_dict(), "cache_stats": cache_stats(pipe)}
        return BackendResult(frames=frames, fps=inputs.fps, timings=timings, info=info)

    def _record_speed(self, settings: GenerationSettings, inputs, applied, timings: dict) -> None:
        """Keep this run's seconds per step, so later estimates on this machine are measured, not modelled."""
        from .local_estimate import MeasuredStore, RunModes, RunShape

        if not self.measured_path or "denoise_s" not in timings or settings.steps < 1:
            return
        try:
            shape = RunShape.from_settings(self.model, settings, inputs.width, inputs.height, inputs.num_frames)
            modes = RunModes(settings.speed_mode, applied.memory, settings.vae_tiling)  # memory as resolved
            MeasuredStore(self.measured_path).record(shape, modes, self.gpu_name(),
                                                     timings["denoise_s"] / settings.steps,
                                                     vae_seconds=timings.get("decode_s"))
        except Exception:  # a measurement must never fail a finished job
            log.warning("could not record the run's speed", exc_info=True)

    def _prepare(self, settings: GenerationSettings):
        """The loaded pipeline with the job's solver, LoRAs and speed/memory modes in effect. Modes that cannot be
        left in place (group offload, fp8 storage), and LoRA changes under fp8 storage, reload the pipeline."""
        from .local_modes import applied_config, configure_pipeline, prepare_run

        pipe = self.load()
        previous = applied_config(pipe)
        if previous is not None and previous.memory == MemoryMode.FP8_STORAGE.value and settings.loras != self._loras:
            pipe = self._reload()
        for _ in range(2):
            self._set_scheduler(pipe, settings)
            self._set_loras(pipe, settings.loras)
            applied = configure_pipeline(pipe, settings.speed_mode, settings.memory_mode, self.device(),
                                         settings.vae_tiling)
            if not applied.needs_reload:
                break
            pipe = self._reload()
        prepare_run(pipe)
        return pipe, applied

    def _reload(self):
        self._pipe, self._loras = None, ()
        return self.load()

    def _call(self, pipe, **kwargs):
        return _gpu_call(pipe, kwargs)


def _memory_now() -> dict:
    import torch

    try:
        rss = int(Path("/proc/self/statm").read_text().split()[1]) * 4096
    except (OSError, IndexError, ValueError):
        rss = None
    cuda = torch.cuda.memory_allocated() if torch.cuda.is_available() else None
    return {"rss_bytes": rss, "cuda_allocated_bytes": cuda}


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, so RSS would not show the release)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _expert_kwargs(pipe, settings: GenerationSettings) -> dict:
    """Two-expert pipelines (Wan2.2 A14B: `transformer_2` and a `boundary_ratio` in the pipeline config): put the
    job's boundary in effect (None: the model's published one, kept from loading) and pass guidance_scale_2."""
    if getattr(pipe, "transformer_2", None) is None or pipe.config.boundary_ratio is None:
        return {}
    if not hasattr(pipe, "_vace_default_boundary"):
        pipe._vace_default_boundary = pipe.config.boundary_ratio
    boundary = settings.boundary_ratio if settings.boundary_ratio is not None else pipe._vace_default_boundary
    pipe.register_to_config(boundary_ratio=float(boundary))
    return {"guidance_scale_2": None if settings.guidance_scale_2 is None else float(settings.guidance_scale_2)}


def _call_pipeline(pipe, kwargs):
    return pipe(**kwargs)


try:  # On a Hugging Face ZeroGPU Space, GPU work must run inside spaces.GPU.
    import spaces

    _gpu_call = spaces.GPU(duration=300)(_call_pipeline)
except ImportError:
    _gpu_call = _call_pipeline
