"""Scribble control: thick binary edges from controlnet-aux's HED or PiDiNet in scribble mode."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .base import register
from .weighted import WeightedAnnotator, fit_picture
from .weights import WeightFile, import_quietly


class _ScribbleAnnotator(WeightedAnnotator):
    """Runs a controlnet-aux edge detector with scribble=True, safe=True: edges are thinned (non-maximum
    suppression), blurred and thresholded into white strokes on black, values only 0 or 255."""

    detect_resolution = 512

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        picture = self.model(
            frame,
            detect_resolution=self.detect_resolution,
            image_resolution=self.detect_resolution,
            safe=True,
            scribble=True,
            output_type="np",
        )
        return fit_picture(picture, frame, nearest=True)  # nearest keeps the strokes binary


@register
class HedScribbleAnnotator(_ScribbleAnnotator):
    """Scribble from HED (controlnet-aux's Apache-2.0 ControlNetHED network, RGB input).

    Weights: models/Annotators/ControlNetHED.pth
      from https://huggingface.co/lllyasviel/Annotators (file ControlNetHED.pth).
    """

    name = "scribble"
    label = "Scribble (HED)"
    weight_options = ((WeightFile("lllyasviel/Annotators", "ControlNetHED.pth", "Annotators"),),)

    def build(self, option: int, paths: Sequence[Path], device: str) -> object:
        return (
            import_quietly("controlnet_aux.hed")
            .HEDdetector.from_pretrained(str(paths[0].parent), filename=paths[0].name)
            .to(device)
        )


@register
class PidiNetScribbleAnnotator(_ScribbleAnnotator):
    """Scribble from PiDiNet (controlnet-aux's PidiNetDetector, table5 carv4 model).

    Weights: models/Annotators/table5_pidinet.pth
      from https://huggingface.co/lllyasviel/Annotators (file table5_pidinet.pth).
    """

    name = "scribble_pidinet"
    label = "Scribble (PiDiNet)"
    weight_options = ((WeightFile("lllyasviel/Annotators", "table5_pidinet.pth", "Annotators"),),)

    def build(self, option: int, paths: Sequence[Path], device: str) -> object:
        import torch

        pidi = import_quietly("controlnet_aux.pidi")
        network = pidi.pidinet()
        # as PidiNetDetector.from_pretrained, but mapped to the CPU first (the file may hold CUDA tensors)
        state = torch.load(paths[0], map_location="cpu")["state_dict"]
        network.load_state_dict({key.replace("module.", ""): value for key, value in state.items()})
        return pidi.PidiNetDetector(network.eval()).to(device)
