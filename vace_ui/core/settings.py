"""Generation settings shared by every capability, with validation and (de)serialisation."""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import TypeVar

from . import constants as C
from .errors import InputError, check_range
from .values import as_bool, as_float, as_int, as_str
from .windows import check_window_settings


class Solver(str, enum.Enum):
    """Sampler used by the local pipeline. UniPC is the official VACE default."""

    UNIPC = "unipc"
    EULER = "euler"
    DPMPP = "dpm++"


class FitMode(str, enum.Enum):
    """How an input of another aspect ratio is brought to the output size."""

    KEEP_ASPECT = "keep_aspect"  # the input's aspect at the preset's area, centre-cropped to multiples of 16
    CROP = "crop"  # fill the preset size exactly, centre-crop the overflow
    PAD = "pad"  # fit inside the preset size; the border is filled gray and generated


class FrameTiming(str, enum.Enum):
    """How source frames are mapped to the 16 fps output when the source differs."""

    RESAMPLE = "resample"  # sample the source at 16 fps: real-time speed kept, the end trimmed if too long
    EVERY_FRAME = "every_frame"  # consecutive source frames: plays slower/faster when the source is not 16 fps
    SQUEEZE = "squeeze"  # spread the output frames over the whole source: everything kept, motion sped up


class SpeedMode(str, enum.Enum):
    """Local backend speed. OFF: the reference result (bit-identical for a seed). BALANCED and FAST trade a little
    fidelity for speed; `backends/local_estimate.py:SPEED_PLANS` says exactly what each turns on."""

    OFF = "off"
    BALANCED = "balanced"
    FAST = "fast"


class MemoryMode(str, enum.Enum):
    """Local backend: where the weights live. AUTO picks from free VRAM (`local_estimate.choose_memory_mode`)."""

    AUTO = "auto"
    GPU = "gpu"  # every component resident on the device: fastest, most memory
    MODEL_OFFLOAD = "model_offload"  # one whole component on the device at a time (diffusers model CPU offload)
    GROUP_OFFLOAD = "group_offload"  # transformer blocks streamed from pinned CPU memory, one block ahead
    FP8_STORAGE = "fp8_storage"  # transformer weights stored float8_e4m3fn, computed in bf16; others offloaded


E = TypeVar("E", bound=enum.Enum)


def coerce_enum(field: str, enum_type: type[E], value: object) -> E:
    """`value` as a member of `enum_type` (a member, or its value such as "fast"); anything else is an InputError
    naming `field` and the allowed values."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise InputError(field, f"'{value}' is not one of {allowed}.") from None


# The GenerationSettings fields typed as enums: plain strings (API, job store) are coerced on construction.
_ENUM_FIELDS = (("solver", Solver), ("fit", FitMode), ("timing", FrameTiming), ("speed_mode", SpeedMode),
                ("memory_mode", MemoryMode))


@dataclass(frozen=True)
class LoraSpec:
    """A LoRA file (local path or Hugging Face id) and its strength, 0 to 4."""

    path: str
    scale: float = 1.0


@dataclass(frozen=True)
class GenerationSettings:
    """What every job needs besides its media.

    num_frames is 4n+1; 81 frames at 16 fps is the trained 5-second clip. seed -1 draws a random seed when the job
    starts (the drawn seed is recorded). flow_shift None means "by size": 3.0 at 480p, 5.0 at 720p (diffusers).
    speed_mode, memory_mode and vae_tiling are honoured by the local backend only, as are guidance_scale_2 and
    boundary_ratio, which only two-expert models (Wan2.2 VACE-Fun A14B) have (None: the model's own), and `model`,
    the job's local model (None: the server's start-up default, VACE_MODEL). The enum
    fields accept their values as strings ("fast") and hold the enum; a value outside the enum is an InputError
    naming the field.
    """

    prompt: str = ""
    negative_prompt: str = C.DEFAULT_NEGATIVE_PROMPT
    size: str = C.AUTO_SIZE
    num_frames: int = C.DEFAULT_FRAMES
    steps: int = 25
    guidance_scale: float = 5.0
    flow_shift: float | None = None
    conditioning_scale: float = 1.0
    seed: int = -1
    solver: Solver = Solver.UNIPC
    fit: FitMode = FitMode.KEEP_ASPECT
    timing: FrameTiming = FrameTiming.RESAMPLE
    loras: tuple[LoraSpec, ...] = field(default_factory=tuple)
    speed_mode: SpeedMode = SpeedMode.OFF
    memory_mode: MemoryMode = MemoryMode.AUTO
    vae_tiling: bool = False
    guidance_scale_2: float | None = None  # two-expert models (Wan2.2 A14B): low-noise expert's guidance; None = same
    boundary_ratio: float | None = None  # two-expert models: switch experts at this fraction of the timesteps
    model: str | None = None  # local backend: the job's model (catalog id, folder or tiny-random); None = VACE_MODEL
    # Long videos (num_frames > window_frames): sliding windows, each keeping the previous one's last
    # `window_overlap` frames; `color_strength` matches each window's colours to the previous one (0 = off).
    window_frames: int = C.DEFAULT_FRAMES
    window_overlap: int = 16
    color_strength: float = 1.0

    def __post_init__(self) -> None:
        # Accept plain strings (API, job store) for the enum fields.
        for key, enum_type in _ENUM_FIELDS:
            object.__setattr__(self, key, coerce_enum(key, enum_type, getattr(self, key)))

    @property
    def preset_size(self) -> tuple[int, int]:
        """The size asked for; "auto" gives the default preset (whose area the compile keeps)."""
        return parse_size(self.size)

    @property
    def size_chosen(self) -> bool:
        return self.size != C.AUTO_SIZE

    @property
    def effective_flow_shift(self) -> float:
        if self.flow_shift is not None:
            return float(self.flow_shift)
        width, height = self.preset_size
        return 5.0 if width * height >= 1280 * 720 else 3.0

    def validate(self, require_prompt: bool = True) -> None:
        if require_prompt and not self.prompt.strip():
            raise InputError("prompt", "is empty; describe the video you want.")
        if len(self.prompt) > C.MAX_PROMPT_CHARS:
            raise InputError("prompt", f"is {len(self.prompt)} characters; at most {C.MAX_PROMPT_CHARS} allowed.")
        if len(self.negative_prompt) > C.MAX_PROMPT_CHARS:
            raise InputError(
                "negative_prompt", f"is {len(self.negative_prompt)} characters; at most {C.MAX_PROMPT_CHARS}."
            )
        parse_size(self.size)
        check_window_settings(self.window_frames, self.window_overlap)
        long_video = self.num_frames > self.window_frames
        validate_frame_count(self.num_frames, C.MAX_LONG_FRAMES if long_video else C.MAX_FRAMES)
        check_range("color_strength", self.color_strength, *C.COLOR_STRENGTH_RANGE)
        if not (1 <= int(self.steps) <= 100):
            raise InputError("steps", f"{self.steps} is out of range; allowed 1 to 100.")
        check_range("guidance_scale", self.guidance_scale, 0.0, 20.0)
        if self.flow_shift is not None:
            check_range("flow_shift", self.flow_shift, 0.1, 30.0)
        check_range("conditioning_scale", self.conditioning_scale, *C.CONDITIONING_SCALE_RANGE)
        if self.guidance_scale_2 is not None:
            check_range("guidance_scale_2", self.guidance_scale_2, 0.0, 20.0)
        if self.boundary_ratio is not None:
            check_range("boundary_ratio", self.boundary_ratio, 0.0, 1.0)
        if not (-1 <= int(self.seed) < 2**32):
            raise InputError("seed", f"{self.seed} is out of range; use -1 for random or 0 to {2**32 - 1}.")
        if len(self.loras) > C.MAX_LORAS:
            raise InputError("loras", f"{len(self.loras)} given; at most {C.MAX_LORAS}.")
        for index, lora in enumerate(self.loras, start=1):
            if not lora.path.strip():
                raise InputError(f"lora {index}", "has no file or id.")
            check_range(f"lora {index} scale", lora.scale, *C.LORA_SCALE_RANGE)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for key, _ in _ENUM_FIELDS:
            data[key] = getattr(self, key).value
        data["loras"] = [dataclasses.asdict(lora) for lora in self.loras]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GenerationSettings":
        """From plain JSON values (API, job store); a value of the wrong type is an InputError naming its field."""
        values = {}
        for key, value in data.items():
            if key not in _FIELD_TYPES:
                continue  # not a setting (e.g. "backend")
            kind = _FIELD_TYPES[key]
            if key in _OPTIONAL and value is None:
                values[key] = None
            elif key == "loras":
                values[key] = _loras(value)
            else:
                values[key] = kind(key, value)
        return cls(**values)


def _loras(value) -> tuple[LoraSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise InputError("loras", "must be a list of {\"path\": ..., \"scale\": ...} objects.")
    specs = []
    for index, item in enumerate(value, start=1):
        if isinstance(item, LoraSpec):
            specs.append(item)
            continue
        if not isinstance(item, dict) or "path" not in item or set(item) - {"path", "scale"}:
            raise InputError(f"lora {index}", "must be an object with \"path\" and optionally \"scale\".")
        specs.append(LoraSpec(as_str(f"lora {index} path", item["path"]),
                              as_float(f"lora {index} scale", item.get("scale", 1.0))))
    return tuple(specs)


def _as_is(field: str, value):
    return value


_FIELD_TYPES = {
    "prompt": as_str, "negative_prompt": as_str, "size": as_str, "num_frames": as_int, "steps": as_int,
    "guidance_scale": as_float, "flow_shift": as_float, "conditioning_scale": as_float, "seed": as_int,
    "solver": _as_is, "fit": _as_is, "timing": _as_is, "loras": None, "speed_mode": _as_is, "memory_mode": _as_is,
    "vae_tiling": as_bool, "guidance_scale_2": as_float, "boundary_ratio": as_float, "model": as_str,
    "window_frames": as_int,
    "window_overlap": as_int, "color_strength": as_float,
}  # the enum fields are checked by __post_init__ (coerce_enum), naming the field too
_OPTIONAL = {"flow_shift", "guidance_scale_2", "boundary_ratio", "model"}  # None = "by the model / by size / default"


def parse_size(size: str) -> tuple[int, int]:
    """A preset name ("832x480") or a custom "WxH" with both sides multiples of 16 in 64..1920 (untrained sizes
    work but look worse; the trained ones are the presets). "auto" stands for the default preset here."""
    if size == C.AUTO_SIZE:
        return C.SIZE_PRESETS[C.DEFAULT_SIZE]
    if size in C.SIZE_PRESETS:
        return C.SIZE_PRESETS[size]
    try:
        width, height = (int(part) for part in str(size).lower().split("x"))
    except ValueError:
        width = height = -1
    low, high = C.CUSTOM_SIZE_RANGE
    if (
        not (low <= width <= high and low <= height <= high)
        or width % C.SPATIAL_MULTIPLE
        or height % C.SPATIAL_MULTIPLE
    ):
        raise InputError(
            "size",
            f"'{size}' is not offered; choose auto, one of {', '.join(C.SIZE_PRESETS)} "
            f"or WxH with multiples of {C.SPATIAL_MULTIPLE} from {low} to {high}.",
        )
    return width, height


def validate_frame_count(num_frames: int, maximum: int = C.MAX_FRAMES) -> None:
    if not isinstance(num_frames, int) or num_frames % C.TEMPORAL_STRIDE != 1:
        raise InputError("num_frames", f"{num_frames} is not 4n+1 (e.g. 49, 81).")
    if not (C.MIN_FRAMES <= num_frames <= maximum):
        raise InputError("num_frames", f"{num_frames} is out of range; allowed {C.MIN_FRAMES} to {maximum}.")


def frames_for_duration(seconds: float, maximum: int = C.MAX_FRAMES) -> int:
    """The 4n+1 frame count closest to `seconds` at 16 fps, within the allowed range."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise InputError("duration", f"{seconds} s is not a positive duration.")
    n = round(seconds * C.OUTPUT_FPS / C.TEMPORAL_STRIDE)
    frames = n * C.TEMPORAL_STRIDE + 1
    return min(max(frames, C.MIN_FRAMES), maximum)


def floor_to_valid_frames(available: int) -> int:
    """The largest 4n+1 count not above `available` (at least MIN_FRAMES)."""
    return max(C.MIN_FRAMES, ((available - 1) // C.TEMPORAL_STRIDE) * C.TEMPORAL_STRIDE + 1)
assert set(_FIELD_TYPES) == {f.name for f in dataclasses.fields(GenerationSettings)}, "a setting has no value check"
