"""Components every capability tab repeats: the generation settings panel and the result panel (action bar,
result areas, bundle export)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..backends.local_modes import DISTILL_PRESETS, apply_distill_preset, distill_preset
from ..core import constants as C
from ..core.errors import InputError
from ..core.settings import (
    FitMode,
    FrameTiming,
    GenerationSettings,
    LoraSpec,
    MemoryMode,
    Solver,
    SpeedMode,
    frames_for_duration,
)
from .action_bar import ActionBar, action_bar, prompt_box
from .handlers import wire
from .model_picker import model_picker
from .results import ResultArea, result_area

# What the UI shows for each enum value (a dropdown lists (label, value) pairs; the value is the enum's).
FIT_LABELS: dict[FitMode, str] = {
    FitMode.KEEP_ASPECT: "Keep aspect (crop to multiples of 16)",
    FitMode.CROP: "Crop to fill the size",
    FitMode.PAD: "Pad to the size (border generated)",
}
TIMING_LABELS: dict[FrameTiming, str] = {
    FrameTiming.RESAMPLE: "Resample to 16 fps (real speed, trims the end)",
    FrameTiming.EVERY_FRAME: "Every frame (changes speed if not 16 fps)",
    FrameTiming.SQUEEZE: "Squeeze whole clip (speeds motion up)",
}
SPEED_LABELS: dict[SpeedMode, str] = {
    SpeedMode.OFF: "Off (reference quality)",
    SpeedMode.BALANCED: "Balanced (step cache, best exact attention, compile)",
    SpeedMode.FAST: "Fast (stronger cache, guidance on 60% of steps)",
}
MEMORY_LABELS: dict[MemoryMode, str] = {
    MemoryMode.AUTO: "Auto (from free VRAM)",
    MemoryMode.GPU: "All on GPU",
    MemoryMode.MODEL_OFFLOAD: "Model CPU offload",
    MemoryMode.GROUP_OFFLOAD: "Group offload (block level)",
    MemoryMode.FP8_STORAGE: "FP8 weight storage",
}


def enum_choices(labels: dict) -> list[tuple[str, str]]:
    """Dropdown choices (label, enum value) for an enum -> label map, in the enum's order."""
    return [(labels[member], member.value) for member in type(next(iter(labels)))]


@dataclass
class SettingsPanel:
    """The shared generation settings. `components` is the set wired into events (handlers get a
    {component: value} dict); `read` turns it into GenerationSettings; `values_for` does the reverse."""

    prompt: gr.Textbox
    negative_prompt: gr.Textbox
    size: gr.Dropdown
    duration: gr.Slider
    num_frames: gr.Number
    steps: gr.Slider
    guidance_scale: gr.Slider
    flow_shift: gr.Number
    conditioning_scale: gr.Slider
    seed: gr.Number
    solver: gr.Dropdown
    fit: gr.Dropdown
    timing: gr.Dropdown
    lora_paths: gr.Textbox
    lora_scales: gr.Textbox
    speed_mode: gr.Dropdown
    memory_mode: gr.Dropdown
    vae_tiling: gr.Checkbox
    window_frames: gr.Number
    window_overlap: gr.Number
    color_strength: gr.Slider
    model: gr.Dropdown | None = None  # the model picker (model_picker.py); None where no local backend is given

    @property
    def components(self) -> set:
        return {self.prompt, self.negative_prompt, self.size, self.num_frames, self.steps, self.guidance_scale,
                self.flow_shift, self.conditioning_scale, self.seed, self.solver, self.fit, self.timing,
                self.lora_paths, self.lora_scales, self.speed_mode, self.memory_mode, self.vae_tiling,
                self.window_frames, self.window_overlap, self.color_strength} | ({self.model} if self.model else set())

    def by_field(self) -> dict[str, list]:
        """GenerationSettings field name -> the components that set it (to show only what a backend honours)."""
        return {
            "negative_prompt": [self.negative_prompt],
            "size": [self.size],
            "num_frames": [self.num_frames, self.duration],
            "steps": [self.steps],
            "guidance_scale": [self.guidance_scale],
            "flow_shift": [self.flow_shift],
            "conditioning_scale": [self.conditioning_scale],
            "seed": [self.seed],
            "solver": [self.solver],
            "fit": [self.fit],
            "timing": [self.timing],
            "loras": [self.lora_paths, self.lora_scales],
            "speed_mode": [self.speed_mode],
            "memory_mode": [self.memory_mode],
            "vae_tiling": [self.vae_tiling],
            "window_frames": [self.window_frames],
            "window_overlap": [self.window_overlap],
            "color_strength": [self.color_strength],
            **({"model": [self.model]} if self.model else {}),
        }

    def read(self, data: dict) -> GenerationSettings:
        """GenerationSettings from an event's {component: value} dict."""
        paths = [line.strip() for line in (data[self.lora_paths] or "").splitlines() if line.strip()]
        try:
            scales = [float(part) for part in (data[self.lora_scales] or "").replace(",", " ").split()]
        except ValueError:
            raise InputError("LoRA scales", "write numbers separated by spaces, e.g. 1.0 0.8.") from None
        for name, component in (("Frames", self.num_frames), ("Seed", self.seed)):
            if data[component] is None:
                raise InputError(name, "is empty; type a whole number.")
        loras = tuple(LoraSpec(path, scales[i] if i < len(scales) else 1.0) for i, path in enumerate(paths))
        flow_shift = data[self.flow_shift]
        return GenerationSettings(
            prompt=data[self.prompt] or "",
            negative_prompt=data[self.negative_prompt] or "",
            size=data[self.size],
            num_frames=int(data[self.num_frames]),
            steps=int(data[self.steps]),
            guidance_scale=float(data[self.guidance_scale]),
            flow_shift=float(flow_shift) if flow_shift else None,
            conditioning_scale=float(data[self.conditioning_scale]),
            seed=int(data[self.seed]),
            solver=data[self.solver],
            fit=data[self.fit],
            timing=data[self.timing],
            loras=loras,
            speed_mode=data[self.speed_mode],
            memory_mode=data[self.memory_mode],
            vae_tiling=bool(data[self.vae_tiling]),
            window_frames=int(data[self.window_frames]),
            window_overlap=int(data[self.window_overlap]),
            color_strength=float(data[self.color_strength]),
            model=data[self.model] or None if self.model else None,
        )

    def values_for(self, settings: GenerationSettings) -> dict:
        return {
            self.prompt: settings.prompt, self.negative_prompt: settings.negative_prompt, self.size: settings.size,
            self.num_frames: settings.num_frames, self.duration: round(settings.num_frames / C.OUTPUT_FPS, 2),
            self.steps: settings.steps, self.guidance_scale: settings.guidance_scale,
            self.flow_shift: settings.flow_shift or 0, self.conditioning_scale: settings.conditioning_scale,
            self.seed: settings.seed, self.solver: settings.solver.value, self.fit: settings.fit.value,
            self.timing: settings.timing.value,
            self.lora_paths: "\n".join(lora.path for lora in settings.loras),
            self.lora_scales: " ".join(f"{lora.scale:g}" for lora in settings.loras),
            self.speed_mode: settings.speed_mode.value, self.memory_mode: settings.memory_mode.value,
            self.vae_tiling: settings.vae_tiling, self.window_frames: settings.window_frames,
            self.window_overlap: settings.window_overlap, self.color_strength: settings.color_strength,
            **({self.model: self._offered_model(settings.model)} if self.model else {}),
        }

    def _offered_model(self, model: str | None) -> str:
        """The picker's value for a stored job: its model if the picker offers it (an API job may name a folder),
        else the default."""
        return model if model in {value for _, value in self.model.choices} else self.model.value

def settings_panel(default_size: str = C.AUTO_SIZE, sizes: list[str] | None = None,
                   prompt: gr.Textbox | None = None, local=None) -> SettingsPanel:
    """Render the settings panel in the current Blocks context (the model picker when `local` is the local
    backend). `prompt`: the tab's prompt box when it lives elsewhere (the action bar); without it the panel renders
    its own. Others may add components after it in the same column."""
    if prompt is None:
        prompt = prompt_box()
    model = model_picker(local)
    with gr.Accordion("Generation settings", open=False):
        negative = gr.Textbox(label="Negative prompt", value=C.DEFAULT_NEGATIVE_PROMPT, lines=2,
                              max_length=C.MAX_PROMPT_CHARS)
        with gr.Row():
            size = gr.Dropdown(sizes or [C.AUTO_SIZE, *C.SIZE_PRESETS], value=default_size, label="Size (W x H)",
                               allow_custom_value=True,
                               info="auto: 832x480's area at the input's aspect, or the backend's nearest size; "
                                    "presets are trained sizes; WxH in multiples of 16 also works")
            duration = gr.Slider(0.3, C.MAX_LONG_FRAMES / C.OUTPUT_FPS, value=C.DEFAULT_FRAMES / C.OUTPUT_FPS,
                                 step=0.25, label="Duration (s at 16 fps)",
                                 info="longer than one window: sliding windows (see Long video)")
            num_frames = gr.Number(C.DEFAULT_FRAMES, label="Frames (4n+1)", precision=0)
        with gr.Row():
            steps = gr.Slider(1, 100, value=25, step=1, label="Steps")
            guidance = gr.Slider(0, 20, value=5.0, step=0.1, label="Guidance")
            flow_shift = gr.Number(0, label="Flow shift (0 = by size: 3 at 480p, 5 at 720p)")
            conditioning = gr.Slider(0, 2, value=1.0, step=0.05, label="Conditioning scale")
        with gr.Row():
            seed = gr.Number(-1, label="Seed (-1 = random)", precision=0)
            solver = gr.Dropdown([s.value for s in Solver], value=Solver.UNIPC.value, label="Solver")
            fit = gr.Dropdown(enum_choices(FIT_LABELS), value=FitMode.KEEP_ASPECT.value, label="Fit to size")
            timing = gr.Dropdown(enum_choices(TIMING_LABELS), value=FrameTiming.RESAMPLE.value, label="Longer input")
        with gr.Row():
            lora_paths = gr.Textbox(label="LoRAs (up to 3: file path or Hugging Face id, one per line)", lines=2)
            lora_scales = gr.Textbox(label="LoRA scales (0-4, space-separated)", placeholder="1.0 0.8")
    with gr.Accordion("Long video (sliding windows)", open=False):
        with gr.Row():
            window_frames = gr.Number(C.DEFAULT_FRAMES, label="Window (frames, 4n+1)", precision=0)
            window_overlap = gr.Number(16, label="Overlap (frames kept from the previous window)", precision=0)
            color_strength = gr.Slider(0, 1, value=1.0, step=0.05, label="Colour correction (0 = off)")
        gr.Markdown("Longer than one window: each window keeps the previous one's last frames; one prompt line per "
                    "window (the last line carries on).")
    with gr.Accordion("Local speed and memory", open=False):
        with gr.Row():
            speed_mode = gr.Dropdown(enum_choices(SPEED_LABELS), value=SpeedMode.OFF.value, label="Speed")
            memory_mode = gr.Dropdown(enum_choices(MEMORY_LABELS), value=MemoryMode.AUTO.value,
                                      label="GPU memory")
            vae_tiling = gr.Checkbox(False, label="VAE tiling (less memory when decoding)")
        with gr.Row():
            preset = gr.Dropdown([(f"{p.name}: {p.steps} steps, guidance {p.guidance_scale:g}", p.name)
                                  for p in DISTILL_PRESETS], value=None, label="Step-distilled LoRA preset")
            preset_lora = gr.Textbox(label="Its LoRA file (path or Hugging Face id)")
            apply_preset = gr.Button("Apply preset", size="sm")
        preset_note = gr.Markdown()
    wire(duration.release, lambda seconds: frames_for_duration(seconds, C.MAX_LONG_FRAMES), duration, num_frames,
         quick=True)
    wire(num_frames.change, lambda frames: round((frames or 0) / C.OUTPUT_FPS, 2), num_frames, duration,
         quick=True)  # .release above fires only on a person's drag: no loop
    panel = SettingsPanel(prompt, negative, size, duration, num_frames, steps, guidance, flow_shift, conditioning,
                          seed, solver, fit, timing, lora_paths, lora_scales, speed_mode, memory_mode, vae_tiling,
                          window_frames, window_overlap, color_strength, model)

    def on_apply_preset(data: dict) -> dict:
        if not data[preset]:
            raise InputError("Step-distilled LoRA preset", "choose a preset first, then press Apply preset.")
        settings = apply_distill_preset(panel.read(data), data[preset], data[preset_lora] or "")
        return {**panel.values_for(settings), preset_note: distill_preset(data[preset]).note}

    wire(apply_preset.click, on_apply_preset, panel.components | {preset, preset_lora},
         panel.components | {panel.duration, preset_note}, quick=True)
    return panel


@dataclass
class ResultPanel:
    """A tab's action bar (prompt, backend, Preview, Generate, Cancel, estimate, status), its result areas, the
    input-bundle export and the job shown. The old names stay as properties (handlers key their updates by them)."""

    bar: ActionBar
    area: ResultArea
    bundle_button: gr.Button
    bundle_file: gr.DownloadButton
    job_id: gr.State
    backend_note: gr.Markdown

    preview_button = property(lambda self: self.bar.preview_button)
    generate_button = property(lambda self: self.bar.generate_button)
    cancel_button = property(lambda self: self.bar.cancel_button)
    status = property(lambda self: self.bar.status)
    estimate = property(lambda self: self.bar.estimate)
    backend = property(lambda self: self.bar.backend)
    preview_video = property(lambda self: self.area.preview_video)
    quick_gallery = property(lambda self: self.area.quick_gallery)
    video = property(lambda self: self.area.before_after)  # served by the owner-only file route only


def bundle_export(capability: str) -> tuple[gr.Button, gr.DownloadButton]:
    """Export input bundle, and the download button that appears once the bundle is written."""
    with gr.Row():
        button = gr.Button("Export input bundle", size="sm", elem_id=f"{capability}-bundle")
        download = gr.DownloadButton("Download input bundle (zip)", size="sm", visible=False,
                                     elem_id=f"{capability}-bundle-file")
    return button, download


def backend_note_box(capability: str) -> gr.Markdown:
    return gr.Markdown(elem_id=f"{capability}-backend-note", elem_classes=["vace-backend-note"])


def result_panel(capability: str, backends: list[tuple[str, str]], default_backend: str,
                 prompt: gr.Textbox | None = None) -> ResultPanel:
    """Everything but the settings, in one column (the tabs lay these out themselves, see capability_tab.py)."""
    area = result_area(capability)
    note = backend_note_box(capability)
    bundle_button, bundle_file = bundle_export(capability)
    bar = action_bar(capability, backends, default_backend, prompt)
    return ResultPanel(bar, area, bundle_button, bundle_file, gr.State(None), note)
