"""Up to C.MAX_REFERENCES reference image slots in one row, and how they become ReferenceImage tuples and back."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..core import constants as C
from ..core.requests import ReferenceImage


@dataclass(frozen=True)
class ReferenceSlots:
    """The image components, in order: slot i holds reference i of the request."""

    images: tuple[gr.Image, ...]

    @property
    def components(self) -> set[gr.Image]:
        return set(self.images)

    def references(self, data: dict) -> tuple[ReferenceImage, ...]:
        """The filled slots, in slot order (empty slots are skipped)."""
        return tuple(ReferenceImage(data[image]) for image in self.images if data.get(image))

    def restore(self, references: tuple[ReferenceImage, ...]) -> dict:
        """{image: path} for each slot; slots past the saved references are cleared."""
        return {image: references[index].path if index < len(references) else None
                for index, image in enumerate(self.images)}


def reference_slots(elem_prefix: str, label: str = "Reference", height: int = 160) -> ReferenceSlots:
    """A row of C.MAX_REFERENCES image uploads with elem_ids `{elem_prefix}-0`, `-1`, ..."""
    with gr.Row():
        images = tuple(
            gr.Image(label=f"{label} {index + 1} (optional)", type="filepath", image_mode="RGBA",
                     sources=["upload", "clipboard"], elem_id=f"{elem_prefix}-{index}", height=height,
                     min_width=120)
            for index in range(C.MAX_REFERENCES)
        )
    return ReferenceSlots(images)
