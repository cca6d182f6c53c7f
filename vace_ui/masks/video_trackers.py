"""Learned video trackers from transformers (SAM 2.1, SAM 3 tracker, EdgeTAM) next to the weight-free flow tracker.

`tracker` names one of TRACKERS: `flow` (masks/tracker.py, no weights), `sam2`, `sam3`, `edgetam`, or `auto` (the
first of AUTO_ORDER whose weights are present, else `flow`). Weights are looked up, never fetched unless allowed:
1. `<models>/trackers/<folder>/` holding a transformers checkpoint (config.json, model.safetensors and the processor
   files), folder names and hub ids in SPECS (best variant first);
2. the Hugging Face cache (an earlier download of the hub id);
3. with downloads allowed (VACE_ALLOW_DOWNLOADS=1), the hub id itself.
Missing weights raise TrackerWeightsMissing naming the files and the folder; the flow tracker stays available.

How keyframes become prompts (the trackers' own interactive protocol, as in SAM 2's video predictor): every keyframe
mask is a mask input on its frame (`add_inputs_to_inference_session(frame_idx=k, input_masks=...)`), each run once so
it becomes a conditioning frame; then the clip is propagated backward from the first keyframe to frame 0 and
forward from it to the end. A keyframe on a later frame is a correction: it joins the memory as a conditioning
frame, so from its frame on the masks follow it. Keyframe frames keep exactly their keyframe masks.

Frames are streamed: the session gets a lazy frame table that preprocesses one frame when the model asks for it,
so a long clip is never held as model-sized tensors; per-frame memories older than the model's memory window are
dropped. torch and transformers are imported in `load()`, never at module import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import BackendUnavailable, GenerationCancelled, InputError

TRACKERS = ("flow", "sam2", "sam3", "edgetam")
CHOICES = ("auto", *TRACKERS)
AUTO_ORDER = ("sam3", "sam2", "edgetam")  # `auto`: the first with weights present (SA-V ranking, see the README)
WEIGHT_FILES = ("config.json", "model.safetensors")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrackerSpec:
    """A learned tracker: its transformers classes and its checkpoints as (models/trackers/ folder, hub id)."""

    name: str
    label: str
    model_class: str
    processor_class: str
    variants: tuple[tuple[str, str], ...]


SPECS: dict[str, TrackerSpec] = {
    "sam2": TrackerSpec("sam2", "SAM 2.1", "Sam2VideoModel", "Sam2VideoProcessor", (
        ("sam2.1-hiera-large", "facebook/sam2.1-hiera-large"),
        ("sam2.1-hiera-base-plus", "facebook/sam2.1-hiera-base-plus"),
        ("sam2.1-hiera-small", "facebook/sam2.1-hiera-small"),
        ("sam2.1-hiera-tiny", "facebook/sam2.1-hiera-tiny"),
    )),
    "sam3": TrackerSpec("sam3", "SAM 3 tracker", "Sam3TrackerVideoModel", "Sam3TrackerVideoProcessor",
                        (("sam3", "facebook/sam3"),)),
    "edgetam": TrackerSpec("edgetam", "EdgeTAM", "EdgeTamVideoModel", "Sam2VideoProcessor",
                           (("EdgeTAM-hf", "yonigozlan/EdgeTAM-hf"),)),
}


class TrackerWeightsMissing(BackendUnavailable):
    """No checkpoint for a learned tracker; the message names the files and where to put them."""


def trackers_dir(models_dir: Path) -> Path:
    return Path(models_dir) / "trackers"


def shown_folder(folder: str) -> str:
    """A tracker's weight folder as messages name it: under the models folder's label, never the server's path."""
    return f"models/trackers/{folder}/"


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in WEIGHT_FILES)


def _cached(hub_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = [try_to_load_from_cache(hub_id, name) for name in WEIGHT_FILES]
    if all(isinstance(path, str) for path in found):
        folder = Path(found[0]).parent
        return folder if _complete(folder) else None
    return None


def find_weights(name: str, models_dir: Path, allow_downloads: bool = False) -> str:
    """Where to load tracker `name` from: a local folder (models/ first, then the HF cache), or with downloads allowed
    the hub id of its best variant. Raises TrackerWeightsMissing (naming files and folders) otherwise."""
    if name not in SPECS:
        raise InputError("tracker", f"{name!r} is not a learned tracker; choose one of {', '.join(SPECS)}.")
    spec = SPECS[name]
    for folder, hub_id in spec.variants:
        local = trackers_dir(models_dir) / folder
        if _complete(local):
            return str(local)
        cached = _cached(hub_id)
        if cached is not None:
            return str(cached)
    if allow_downloads:
        return spec.variants[0][1]
    places = " or ".join(f"{shown_folder(folder)} (from https://huggingface.co/{hub_id})"
                         for folder, hub_id in spec.variants)
    raise TrackerWeightsMissing(
        f"{spec.label} weights not found: put {', '.join(WEIGHT_FILES)} and the processor files "
        f"(processor_config.json / preprocessor_config.json) in {places}, or set VACE_ALLOW_DOWNLOADS=1. "
        "The flow tracker needs no weights.")


def available(models_dir: Path) -> list[str]:
    """The learned trackers whose weights are present locally (models/ or the HF cache), in AUTO_ORDER."""
    present = []
    for name in AUTO_ORDER:
        try:
            find_weights(name, models_dir, allow_downloads=False)
            present.append(name)
        except TrackerWeightsMissing:
            pass
    return present


def resolve(choice: str, models_dir: Path) -> str:
    """A concrete tracker for `choice`: `auto` becomes the best one with weights present, else `flow`."""
    if choice not in CHOICES:
        raise InputError("tracker", f"{choice!r} is unknown; choose one of {', '.join(CHOICES)}.")
    if choice != "auto":
        return choice
    present = available(models_dir)
    return present[0] if present else "flow"


def validate_keyframes(keyframes: Mapping[int, np.ndarray], n_frames: int,
                       shape: tuple[int, int]) -> dict[int, np.ndarray]:
    if n_frames == 0:
        raise InputError("video", "The clip has no frames.")
    if not keyframes:
        raise InputError("keyframes", "Draw or click a mask on at least one frame.")
    out = {}
    for index, mask in keyframes.items():
        index, mask = int(index), np.asarray(mask, dtype=bool)
        if not 0 <= index < n_frames:
            raise InputError("keyframes", f"Keyframe {index} is outside the clip (frames 0 to {n_frames - 1}).")
        if mask.shape != shape:
            raise InputError("keyframes", f"Keyframe {index} mask is {mask.shape}; the frames are {shape}.")
        out[index] = mask
    return out


class StreamedFrames(Mapping):
    """The session's frame table, filled on demand: frame i is preprocessed when the model asks for it, and only
    the last few are kept. `requested` records the order of frames asked for (tests check the streaming)."""

    def __init__(self, frames: Sequence[np.ndarray], prepare: Callable[[np.ndarray], object], keep: int = 2):
        self.frames, self.prepare, self.keep = frames, prepare, keep
        self._ready: dict[int, object] = {}
        self.requested: list[int] = []

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self):
        return iter(range(len(self.frames)))

    def __getitem__(self, index: int):
        if not 0 <= index < len(self.frames):
            raise KeyError(index)
        if index not in self._ready:
            self.requested.append(index)
            self._ready[index] = self.prepare(np.asarray(self.frames[index])[..., :3])
            while len(self._ready) > self.keep:
                self._ready.pop(next(iter(self._ready)))
        return self._ready[index]

    @property
    def held(self) -> int:
        return len(self._ready)


class VideoTracker:
    """One learned tracker: `track(frames, keyframes)` -> (N, H, W) bool. `model` / `processor` inject built ones
    (tests use masks/tiny_trackers.py); otherwise `load()` reads them from `source` (a folder or a hub id)."""

    def __init__(self, name: str, source: str | None = None, device: str | None = None, model=None,
                 processor=None, allow_downloads: bool = False):
        if name not in SPECS:
            raise InputError("tracker", f"{name!r} is not a learned tracker; choose one of {', '.join(SPECS)}.")
        self.name, self.spec, self.source, self.device = name, SPECS[name], source, device
        self.allow_downloads = allow_downloads
        self._model, self._processor = model, processor
        self.last_session = None  # the inference session of the last run (tests look into it)

    @property
    def label(self) -> str:
        where = Path(self.source).name if self.source else "built in-process"
        return f"{self.spec.label} ({where})"

    def load(self) -> None:
        import torch

        if self.device is None or self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self._model is None or self._processor is None:
            import transformers

            if self.source is None:
                raise TrackerWeightsMissing(f"No {self.spec.label} checkpoint was given.")
            offline = {} if self.allow_downloads else {"local_files_only": True}
            dtype = torch.bfloat16 if str(self.device).startswith("cuda") else torch.float32
            try:
                model_class = getattr(transformers, self.spec.model_class)
                processor_class = getattr(transformers, self.spec.processor_class)
                self._model = model_class.from_pretrained(self.source, dtype=dtype, **offline)
                self._processor = processor_class.from_pretrained(self.source, **offline)
            except (OSError, ValueError) as error:
                message = f"{self.spec.label} could not be loaded from {self.source}: {error}"
                raise TrackerWeightsMissing(message) from None
        self._model = self._model.to(self.device).eval()

    def _session(self, frames: Sequence[np.ndarray], height: int, width: int):
        import torch

        processor, dtype = self._processor, next(self._model.parameters()).dtype
        session = processor.init_video_session(inference_device=self.device, video_storage_device=self.device,
                                               inference_state_device=self.device, dtype=dtype)
        session.video_height, session.video_width = height, width

        def prepare(frame: np.ndarray):
            with torch.inference_mode():
                return processor(images=frame, return_tensors="pt").pixel_values[0].to(self.device, dtype)

        session.processed_frames = StreamedFrames(frames, prepare)
        return session

    def _window(self) -> int:
        """How many frames back a frame's memory can still be read (memories older than this are dropped)."""
        config = self._model.config
        return max(int(config.num_maskmem), int(config.max_object_pointers_in_encoder)) + 1

    def track(self, frames: Sequence[np.ndarray], keyframes: Mapping[int, np.ndarray],
              progress: Progress | None = None, cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """Keyframe masks ({frame index: (H, W) bool}) through `frames` ((H, W, 3) uint8 RGB, random access).
        Returns (N, H, W) bool with keyframe frames exactly their masks. `progress(done, total)` per step;
        `cancelled()` is asked before each frame and raises GenerationCancelled when true."""
        import torch

        n_frames = len(frames)
        height, width = np.asarray(frames[0]).shape[:2] if n_frames else (0, 0)
        keys = validate_keyframes(keyframes, n_frames, (height, width))
        out = np.zeros((n_frames, height, width), dtype=bool)
        for index, mask in keys.items():
            out[index] = mask
        if not any(mask.any() for mask in keys.values()):
            return out  # every keyframe says "nothing here"
        if self._model is None or self._processor is None or self.device is None:
            self.load()
        order = sorted(keys)
        total, done = n_frames, 0

        def step() -> None:
            nonlocal done
            if cancelled is not None and cancelled():
                raise GenerationCancelled("Cancelled while tracking the mask.")
            done += 1
            if progress is not None:
                progress(done, total)

        session = self.last_session = self._session(frames, height, width)
        model, processor, window = self._model, self._processor, self._window()
        with torch.inference_mode():
            for index in order:
                step()
                processor.add_inputs_to_inference_session(session, frame_idx=index, obj_ids=1,
                                                          input_masks=keys[index])
                model(inference_session=session, frame_idx=index)
            for reverse, indices in ((True, range(order[0] - 1, -1, -1)), (False, range(order[0] + 1, n_frames))):
                for index in indices:
                    if index in keys:
                        continue
                    step()
                    result = model(inference_session=session, frame_idx=index, reverse=reverse)
                    masks = processor.post_process_masks([result.pred_masks.float().cpu()],
                                                         original_sizes=[[height, width]], binarize=True)[0]
                    out[index] = masks[0, 0].numpy().astype(bool)
                    self._forget(session, index + (window if reverse else -window))
        return out

    @staticmethod
    def _forget(session, index: int) -> None:
        for outputs in session.output_dict_per_obj.values():
            outputs["non_cond_frame_outputs"].pop(index, None)
