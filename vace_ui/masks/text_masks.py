"""Masks from a text prompt ("the dog", "all people"): SAM 3's concept segmentation through transformers
(`Sam3VideoModel` / `Sam3VideoProcessor`), on every frame of a clip or on one image.

The prompt goes to the session once (`Sam3VideoProcessor.add_text_prompt`); frames are streamed one by one
(`model(inference_session=..., frame=...)`), each frame's detections of the concept are tracked by SAM 3's own
tracker, and the frame's mask is the union of every object found for the prompt. Frames already seen are released
from the session, so a long clip is never held as model-sized tensors.

Corrections (core/compile_edit.py): clicks or brush strokes on any frame (keyframe masks) replace the text masks
from that frame on, carried through the rest of the clip by the chosen tracker (flow or learned); frames before
the first correction keep the text masks.

Weights: the SAM 3 checkpoint (models/trackers/sam3/, hub id facebook/sam3; the same folder as the SAM 3 tracker)
with its tokenizer files. Missing weights raise TrackerWeightsMissing naming the files and the folder.
torch and transformers are imported in `load()`, never at module import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..core.errors import GenerationCancelled, InputError
from .video_trackers import SPECS, WEIGHT_FILES, TrackerWeightsMissing, find_weights, shown_folder

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
Progress = Callable[[int, int], None]


def find_text_weights(models_dir: Path, allow_downloads: bool = False) -> str:
    """Where SAM 3 (with its text encoder) loads from; TrackerWeightsMissing naming the files and folder if not."""
    try:
        return find_weights("sam3", models_dir, allow_downloads)
    except TrackerWeightsMissing:
        folder, hub_id = SPECS["sam3"].variants[0]
        raise TrackerWeightsMissing(
            f"Text prompts need the SAM 3 weights: put {', '.join(WEIGHT_FILES + TOKENIZER_FILES)} and "
            f"processor_config.json in {shown_folder(folder)} (from https://huggingface.co/{hub_id}), "
            "or set VACE_ALLOW_DOWNLOADS=1.") from None


def check_text(text: str) -> str:
    text = " ".join(str(text or "").split())
    if not text:
        raise InputError("mask_text", "is empty; name what to mask, e.g. 'the dog' or 'all people'.")
    if len(text) > 200:
        raise InputError("mask_text", "is too long; name the subject in a few words.")
    return text


class TextSegmenter:
    """SAM 3 concept segmentation. `model` / `processor` inject built ones (tests: tiny_trackers.build_tiny_text);
    otherwise `load()` reads them from `source` (a folder or a hub id)."""

    label = "SAM 3 text"

    def __init__(self, source: str | None = None, device: str | None = None, model=None, processor=None,
                 allow_downloads: bool = False):
        self.source, self.device, self.allow_downloads = source, device, allow_downloads
        self._model, self._processor = model, processor
        self.last_session = None  # the session of the last run (tests look into it)

    def load(self) -> None:
        import torch

        if self.device is None or self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self._model is None or self._processor is None:
            import transformers

            if self.source is None:
                raise TrackerWeightsMissing("No SAM 3 checkpoint was given.")
            offline = {} if self.allow_downloads else {"local_files_only": True}
            dtype = torch.bfloat16 if str(self.device).startswith("cuda") else torch.float32
            try:
                self._model = transformers.Sam3VideoModel.from_pretrained(self.source, dtype=dtype, **offline)
                self._processor = transformers.Sam3VideoProcessor.from_pretrained(self.source, **offline)
            except (OSError, ValueError) as error:
                raise TrackerWeightsMissing(f"SAM 3 could not be loaded from {self.source}: {error}") from None
        self._model = self._model.to(self.device).eval()

    def segment(self, frames: Sequence[np.ndarray], text: str, progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """(N, H, W) bool: on each frame, every object SAM 3 finds for `text`, united."""
        import torch

        text = check_text(text)
        n_frames = len(frames)
        if n_frames == 0:
            raise InputError("video", "The clip has no frames.")
        if self._model is None or self._processor is None or self.device is None:
            self.load()
        model, processor = self._model, self._processor
        height, width = np.asarray(frames[0]).shape[:2]
        dtype = next(model.parameters()).dtype
        session = self.last_session = processor.init_video_session(inference_device=self.device, dtype=dtype)
        processor.add_text_prompt(session, text)
        out = np.zeros((n_frames, height, width), dtype=bool)
        with torch.inference_mode():
            for index in range(n_frames):
                if cancelled is not None and cancelled():
                    raise GenerationCancelled("Cancelled while finding the masks for the text.")
                frame = np.asarray(frames[index])[..., :3]
                if frame.shape[:2] != (height, width):
                    raise InputError("video", f"Frames differ in size: {frame.shape} vs {(height, width)}.")
                pixels = processor(images=frame, return_tensors="pt").pixel_values[0]
                result = model(inference_session=session, frame=pixels, frame_idx=index)
                found = processor.postprocess_outputs(session, result, original_sizes=[[height, width]])["masks"]
                if len(found):
                    out[index] = found.any(dim=0).cpu().numpy()
                if index >= 2:  # the frame two back is no longer read: keep its slot, drop the pixels
                    session.processed_frames[index - 2] = pixels.new_zeros(())
                if progress is not None:
                    progress(index + 1, n_frames)
        return out
