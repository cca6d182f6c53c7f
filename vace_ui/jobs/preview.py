"""See what the model will see before spending GPU time, and export it as a bundle for other tools.

The preview is the compiled source video (gray where the model creates) with the mask as a coloured overlay.
The bundle holds the exact inputs: source frames and mask frames as PNG (lossless, binary masks), references as
PNG and a JSON manifest, in the layout the official VACE scripts and ComfyUI loaders read (folders of frames).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..core.clip import CompileContext
from ..core.compile import compile_request
from ..core.inputs import VaceInputs
from ..core.masks import overlay
from ..core.requests import CapabilityRequest
from ..core.settings import GenerationSettings
from ..media.video import write_video
from .context import file_context


def compile_preview(request: CapabilityRequest, settings: GenerationSettings,
                    context: CompileContext | None = None) -> VaceInputs:
    """Compile without generating. A preview may run before a prompt is written (compiling needs none)."""
    return compile_request(request, settings, context or file_context())


def overlay_frames(inputs: VaceInputs) -> np.ndarray:
    """Source frames (gray where the model creates) with the generate-mask tinted, a second control stream's frames
    (tinted the same way) to their right, then the reference images the model receives (each at the output size,
    as the model gets it)."""
    streams = [(inputs.video, inputs.mask)] + [(s.video, s.mask) for s in inputs.extra_controls]
    frames = np.concatenate([np.stack([overlay(frame, mask > 127) for frame, mask in zip(video, masks)])
                             for video, masks in streams], axis=2)
    if not inputs.references:
        return frames
    strip = np.concatenate(inputs.references, axis=1)
    return np.concatenate([frames, np.broadcast_to(strip, (len(frames),) + strip.shape)], axis=2)


def write_preview(inputs: VaceInputs, path: Path) -> Path:
    return write_video(path, overlay_frames(inputs), inputs.fps)


def write_bundle(inputs: VaceInputs, request: CapabilityRequest, settings: GenerationSettings, path: Path) -> Path:
    """A zip: src_video/00000.png..., src_mask/00000.png..., src_ref_images/0.png..., manifest.json. Atomic."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(suffix=".zip", prefix=".partial-", dir=path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temp_name, "w", compression=zipfile.ZIP_STORED) as bundle:

            def add_png(name: str, array: np.ndarray) -> None:
                with bundle.open(name, "w") as member:
                    Image.fromarray(array).save(member, format="PNG")

            for index, (frame, mask) in enumerate(zip(inputs.video, inputs.mask)):
                add_png(f"src_video/{index:05d}.png", frame)
                add_png(f"src_mask/{index:05d}.png", mask)
            for index, ref in enumerate(inputs.references):
                add_png(f"src_ref_images/{index}.png", ref)
            streams = []
            for number, stream in enumerate(inputs.extra_controls, start=2):  # a second control: its own stream
                for index, (frame, mask) in enumerate(zip(stream.video, stream.mask)):
                    add_png(f"src_video_{number}/{index:05d}.png", frame)
                    add_png(f"src_mask_{number}/{index:05d}.png", mask)
                streams.append({"control": stream.label, "conditioning_scale": stream.conditioning_scale,
                                "src_video": f"src_video_{number}/%05d.png",
                                "src_mask": f"src_mask_{number}/%05d.png"})
            manifest = {
                "format": "VACE inputs",
                "num_frames": inputs.num_frames,
                "width": inputs.width,
                "height": inputs.height,
                "fps": inputs.fps,
                "mask_convention": "white (255) = generate, black (0) = keep",
                "neutral_gray": 128,
                "conditioning_scale": inputs.conditioning_scale,
                "capability": request.capability.value,
                "request": request.to_dict(),
                "settings": settings.to_dict(),
                "notes": inputs.notes,
                "files": {"src_video": "src_video/%05d.png", "src_mask": "src_mask/%05d.png",
                          "src_ref_images": [f"src_ref_images/{i}.png" for i in range(len(inputs.references))]},
                "extra_control_streams": streams,  # each encoded like src_video/src_mask, hints added at its scale
            }
            bundle.writestr("manifest.json", json.dumps(manifest, indent=2, default=str))
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path
