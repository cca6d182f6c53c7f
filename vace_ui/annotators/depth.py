"""Depth control: Depth Anything V2 (transformers) and MiDaS DPT-Hybrid (controlnet-aux). Near is bright."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import register
from .weighted import WeightedAnnotator, fit_picture
from .weights import WeightFile, import_quietly

_DEPTH_ANYTHING_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")


def _depth_anything_files(variant: str) -> tuple[WeightFile, ...]:
    folder = f"Depth-Anything-V2-{variant}-hf"
    return tuple(WeightFile(f"depth-anything/{folder}", name, folder) for name in _DEPTH_ANYTHING_FILES)


def depth_to_rgb(depth) -> np.ndarray:
    """(H, W) torch tensor of relative depth (bigger = nearer) -> (H, W, 3) uint8, stretched per frame to
    0..255 as the official VACE depth annotators do. A flat map gives black."""
    depth = depth.float()
    low, high = depth.min(), depth.max()
    scaled = (depth - low) / (high - low) if float(high - low) > 1e-8 else depth * 0
    grey = (scaled * 255.0).clamp(0, 255).to("cpu").numpy().astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


@register
class DepthAnythingAnnotator(WeightedAnnotator):
    """Depth Anything V2 relative depth through transformers' AutoModelForDepthEstimation
    (DepthAnythingForDepthEstimation) and its image processor (short side to 518, multiple of 14).

    Weights, Hugging Face format, the first folder found is used:
      models/Depth-Anything-V2-Large-hf/{config.json, model.safetensors, preprocessor_config.json}
        from https://huggingface.co/depth-anything/Depth-Anything-V2-Large-hf (the size VACE uses),
      or the same three files in models/Depth-Anything-V2-Base-hf/ or models/Depth-Anything-V2-Small-hf/
        (depth-anything/Depth-Anything-V2-Base-hf, -Small-hf: faster, a little less detailed).
    """

    name = "depth"
    label = "Depth (Depth Anything V2)"
    weight_options = tuple(_depth_anything_files(variant) for variant in ("Large", "Base", "Small"))

    def __init__(
        self, model: object | None = None, processor: object | None = None, device: str | None = None
    ) -> None:
        super().__init__(model, device)
        self.processor = processor

    def build(self, option: int, paths: Sequence[Path], device: str) -> object:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        folder = paths[0].parent
        self.processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        return AutoModelForDepthEstimation.from_pretrained(folder, local_files_only=True).to(device).eval()

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        import torch

        weight = next(self.model.parameters())
        inputs = self.processor(images=frame, return_tensors="pt")
        pixels = inputs["pixel_values"].to(device=weight.device, dtype=weight.dtype)
        with torch.inference_mode():
            depth = self.model(pixel_values=pixels).predicted_depth  # (1, h, w)
            depth = torch.nn.functional.interpolate(
                depth[:, None].float(), size=frame.shape[:2], mode="bicubic", align_corners=False
            )[0, 0]
        return depth_to_rgb(depth)


@register
class MidasDepthAnnotator(WeightedAnnotator):
    """MiDaS v3 DPT-Hybrid relative depth through controlnet-aux's MidasDetector (detect resolution 512).

    Weights: models/Annotators/dpt_hybrid-midas-501f0c75.pt
      from https://huggingface.co/lllyasviel/Annotators (file dpt_hybrid-midas-501f0c75.pt).
    """

    name = "depth_midas"
    label = "Depth (MiDaS)"
    weight_options = ((WeightFile("lllyasviel/Annotators", "dpt_hybrid-midas-501f0c75.pt", "Annotators"),),)
    detect_resolution = 512

    def build(self, option: int, paths: Sequence[Path], device: str) -> object:
        import warnings

        midas = import_quietly("controlnet_aux.midas")
        with warnings.catch_warnings():  # timm's notice that it renamed the DPT-Hybrid backbone
            warnings.simplefilter("ignore", UserWarning)
            inference = midas.MiDaSInference(model_type="dpt_hybrid", model_path=str(paths[0]))
        return midas.MidasDetector(inference).to(device)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        picture = self.model(
            frame, detect_resolution=self.detect_resolution, image_resolution=self.detect_resolution, output_type="np"
        )
        return fit_picture(picture, frame)
