"""One typed request per capability. Media fields are file paths; validation here needs no media decoding.

Each request owns its schema (core/schema.py): the UI and the API take their defaults from the dataclass, the job
runner copies the files `media_fields()` names, and History restores a job through `from_dict`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import constants as C
from .errors import InputError, check_range
from .schema import Schema, media


class Capability(str, enum.Enum):
    REFERENCE = "reference"  # multi-image reference (or text only)
    REPAINT = "repaint"  # control video (depth, pose, scribble, gray, canny...) + prompt
    EDIT = "edit"  # local edit / inpaint inside a mask
    EXTEND = "extend"  # video extension from first/last clip or frame
    OUTPAINT = "outpaint"  # frame expansion


class RefRole(str, enum.Enum):
    SUBJECT = "subject"
    BACKGROUND = "background"


class MaskType(str, enum.Enum):
    """As the hosted APIs name it: `tracking` follows the object through the clip, `fixed` stays in place."""

    TRACKING = "tracking"
    FIXED = "fixed"


class TrackerChoice(str, enum.Enum):
    """Which tracker carries keyframe masks through the clip (mask_type `tracking`): the weight-free optical-flow
    tracker, a learned one (masks/video_trackers.py), or `auto` (the best learned one whose weights are present,
    else flow)."""

    FLOW = "flow"
    SAM2 = "sam2"
    SAM3 = "sam3"
    EDGETAM = "edgetam"
    AUTO = "auto"


class MaskShape(str, enum.Enum):
    EXACT = "exact"
    BOX = "box"  # the mask's bounding box, per frame
    HULL = "hull"  # the mask's convex hull, per frame


@dataclass(frozen=True)
class ReferenceImage(Schema):
    path: str = media()
    role: RefRole = RefRole.SUBJECT


@dataclass(frozen=True)
class MaskKeyframe(Schema):
    """A mask image (white = edit) that holds at source-video frame `frame`."""

    path: str = media()
    frame: int = 0


def _check_references(references: tuple[ReferenceImage, ...], field: str = "references") -> None:
    if len(references) > C.MAX_REFERENCES:
        raise InputError(field, f"{len(references)} images given; at most {C.MAX_REFERENCES}.")
    for ref in references:
        if not ref.path:
            raise InputError(field, "an entry has no image.")


def _require(field: str, value: str | None, what: str) -> None:
    if not value:
        raise InputError(field, f"is missing; upload {what}.")


@dataclass(frozen=True)
class ReferenceRequest(Schema):
    """Generate from 0-3 reference images (none = text only)."""

    references: tuple[ReferenceImage, ...] = ()
    capability = Capability.REFERENCE

    def validate(self) -> None:
        _check_references(self.references)


@dataclass(frozen=True)
class RepaintRequest(Schema):
    """Keep the motion/structure of `video` through a control (see annotators), restyle with the prompt.

    strength (0-1): how closely the control is followed; locally it multiplies the conditioning scale.
    references: 0 to 3 reference images (e.g. the subject to animate with the source's motion).
    control_mask: optional mask image (white = apply the control there, the rest of the video is kept).
    control_2 / strength_2: an optional second control (e.g. pose + depth) with its own strength. It is compiled as
        a second VACE context stream (its own control video, the same mask), whose hints are added to the first's
        with its own scale: Wan2GP's and ComfyUI's way of composing two controls (README, "Two controls").
    """

    video: str = media()
    control: str = "gray"
    strength: float = 1.0
    references: tuple[ReferenceImage, ...] = ()
    control_mask: str | None = media(None)
    control_2: str | None = None
    strength_2: float = 1.0
    capability = Capability.REPAINT

    @classmethod
    def from_dict(cls, data: dict, field_prefix: str = "") -> RepaintRequest:
        """Also reads jobs saved before Repaint took several references (one `reference` object)."""
        if isinstance(data, dict) and data.get("reference") and "references" not in data:
            data = {**data, "references": [data["reference"]]}
        return super().from_dict(data, field_prefix)

    def validate(self) -> None:
        _require("video", self.video, "a video")
        if not self.control:
            raise InputError("control", "is missing; choose a control kind.")
        check_range("strength", self.strength, 0.0, 1.0)
        if self.control_2 is not None and not isinstance(self.control_2, str):
            raise InputError("control_2", f"must be a control name or empty, not {type(self.control_2).__name__}.")
        if self.control_2 and self.control_2 == self.control:
            raise InputError("control_2", f"is '{self.control_2}' like the first control; choose another or none.")
        check_range("strength_2", self.strength_2, 0.0, 1.0)
        _check_references(self.references)


@dataclass(frozen=True)
class EditRequest(Schema):
    """Regenerate the masked region of `video` (mask images on keyframes, or a mask video)."""

    video: str = media()
    keyframes: tuple[MaskKeyframe, ...] = ()
    mask_video: str | None = media(None)
    mask_type: MaskType = MaskType.FIXED
    expand_ratio: float = 0.05
    mask_shape: MaskShape = MaskShape.EXACT
    references: tuple[ReferenceImage, ...] = ()
    cut_occluders: bool = True  # tracking: things passing in front are cut out of the mask (off for bending subjects)
    tracker: TrackerChoice = TrackerChoice.FLOW  # tracking: flow (no weights), sam2, sam3, edgetam or auto
    # Text prompt ("the dog"): SAM 3 finds it on every frame; keyframes then correct it from their frame on.
    mask_text: str = ""
    capability = Capability.EDIT

    def validate(self) -> None:
        _require("video", self.video, "a video")
        if self.mask_text.strip():
            if self.mask_video:
                raise InputError("mask_text", "give either a text prompt or a mask video, not both.")
            if len(self.mask_text) > 200:
                raise InputError("mask_text", "is too long; name the subject in a few words.")
        elif not self.keyframes and not self.mask_video:
            raise InputError("mask", "is missing; paint the region to edit, name it in the mask text box, or upload "
                                     "a mask image or mask video.")
        if self.keyframes and self.mask_video:
            raise InputError("mask", "give either mask images or a mask video, not both.")
        for keyframe in self.keyframes:
            if keyframe.frame < 0:
                raise InputError("mask_frame", f"{keyframe.frame} is negative; frames count from 0.")
        if len({keyframe.frame for keyframe in self.keyframes}) != len(self.keyframes):
            raise InputError("mask_frame", "two masks are given for the same frame.")
        check_range("expand_ratio", self.expand_ratio, *C.EXPAND_RATIO_RANGE)
        _check_references(self.references)


@dataclass(frozen=True)
class ExtendRequest(Schema):
    """Generate a clip around kept footage: first/last clip (up to 3 s each) and/or first/last frame images."""

    first_clip: str | None = media(None)
    last_clip: str | None = media(None)
    first_frame: str | None = media(None)
    last_frame: str | None = media(None)
    capability = Capability.EXTEND

    def validate(self) -> None:
        if not any((self.first_clip, self.last_clip, self.first_frame, self.last_frame)):
            raise InputError("extend", "give at least one of first clip, last clip, first frame or last frame.")
        if self.first_clip and self.first_frame:
            raise InputError("first_frame", "give a first clip or a first frame, not both.")
        if self.last_clip and self.last_frame:
            raise InputError("last_frame", "give a last clip or a last frame, not both.")


@dataclass(frozen=True)
class OutpaintRequest(Schema):
    """Expand the frame: each scale (1.0-2.0) is the side's new extent as a multiple of the original, so
    left=1.5 adds a border half the video's width on the left."""

    video: str = media()
    top: float = 1.0
    bottom: float = 1.0
    left: float = 1.0
    right: float = 1.0
    capability = Capability.OUTPAINT

    def validate(self) -> None:
        _require("video", self.video, "a video")
        for name in ("top", "bottom", "left", "right"):
            check_range(f"{name}_scale", getattr(self, name), *C.OUTPAINT_SCALE_RANGE)
        if max(self.top, self.bottom, self.left, self.right) == 1.0:
            raise InputError("scales", "all four are 1.0; raise at least one side above 1.0 to expand the frame.")


CapabilityRequest = ReferenceRequest | RepaintRequest | EditRequest | ExtendRequest | OutpaintRequest
REQUEST_TYPES: dict[Capability, type] = {
    Capability.REFERENCE: ReferenceRequest,
    Capability.REPAINT: RepaintRequest,
    Capability.EDIT: EditRequest,
    Capability.EXTEND: ExtendRequest,
    Capability.OUTPAINT: OutpaintRequest,
}


def request_from_dict(capability: Capability | str, data: dict) -> CapabilityRequest:
    """The typed request of `capability` from its dict form (the job store, History restore, the API)."""
    return REQUEST_TYPES[Capability(capability)].from_dict(data)
