"""segment-anything (SAM): clicks or a box to a mask (`SamSegmenter`), and per-frame refinement of tracked masks
(`SamRefiner`, pass it to `track_masks(..., refiner=...)`).

Checkpoints are Meta's official files, looked up in this order:
1. the file named by env VACE_SAM_CHECKPOINT (model type from its name: vit_b / vit_l / vit_h),
2. `<models dir>/sam/<official file name>` where the models dir is env VACE_MODELS_DIR or `models/` at the repo
   root; without an explicit type the largest present wins (vit_h, then vit_l, then vit_b).
torch and segment_anything are imported in `load()`, never at module import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .. import config
from ..core import masks as ops
from ..core.errors import BackendUnavailable, InputError

CHECKPOINTS: dict[str, str] = {
    "vit_h": "sam_vit_h_4b8939.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_b": "sam_vit_b_01ec64.pth",
}
DOWNLOAD_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
Point = tuple[float, float, bool]  # (x, y, positive): x, y in image pixels; positive False = "not this"


class SamWeightsMissing(BackendUnavailable):
    """No usable SAM checkpoint; the message names the file(s) and where to put them."""


def models_dir() -> Path:
    """env VACE_MODELS_DIR, else `models/` at the repository root."""
    return config.models_dir()


def sam_dir() -> Path:
    return models_dir() / "sam"


def available_checkpoints() -> dict[str, Path]:
    """Model type -> checkpoint path for every official file present in `sam_dir()`."""
    return {kind: sam_dir() / name for kind, name in CHECKPOINTS.items() if (sam_dir() / name).is_file()}


def find_checkpoint(model_type: str | None = None) -> tuple[str, Path]:
    """(model type, checkpoint path) to load; raises SamWeightsMissing saying which file to put where."""
    if model_type is not None and model_type not in CHECKPOINTS:
        raise InputError("sam_model", f"Unknown SAM model {model_type!r}; choose one of {', '.join(CHECKPOINTS)}.")
    explicit = config.sam_checkpoint()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise SamWeightsMissing(f"VACE_SAM_CHECKPOINT points to {path.name}, which is not a file.")
        kind = model_type or next((k for k in CHECKPOINTS if k in path.name), None)
        if kind is None:
            raise SamWeightsMissing(
                f"Cannot tell the SAM model type of {path.name}: keep vit_b, vit_l or vit_h in the file name.")
        return kind, path
    kinds = [model_type] if model_type else list(CHECKPOINTS)
    for kind in kinds:
        path = sam_dir() / CHECKPOINTS[kind]
        if path.is_file():
            return kind, path
    names = " or ".join(CHECKPOINTS[k] for k in kinds)
    raise SamWeightsMissing(
        f"segment-anything weights not found: put {names} in models/sam/ (download from {DOWNLOAD_URL}<file>), "
        "or set VACE_SAM_CHECKPOINT to the checkpoint file.")


def build_tiny_sam(img_size: int = 64, seed: int = 0):
    """A tiny random-weight `segment_anything.modeling.Sam` (about 60k parameters), built in-process: the same
    classes, preprocessing and postprocessing as the real models, for tests and offline demos. Outputs noise."""
    from functools import partial

    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    dim, patch = 32, 16
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size, patch_size=patch, embed_dim=dim, depth=1, num_heads=2, out_chans=dim,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True, window_size=2, global_attn_indexes=(),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=dim, image_embedding_size=(img_size // patch, img_size // patch),
            input_image_size=(img_size, img_size), mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=dim, transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
            num_multimask_outputs=3, iou_head_depth=1, iou_head_hidden_dim=16,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


class SamSegmenter:
    """Interactive segmentation of one image at a time: `set_image(frame)` once, then `segment(points)` or
    `segment_box(box, points)` as often as the user clicks. Masks are (H, W) bool at the image's size.

    `model` injects an already built `Sam` (tests use `build_tiny_sam()`); `builder(model_type)` builds the
    empty network that the checkpoint's state dict is loaded into (default: segment_anything's registry)."""

    def __init__(self, model_type: str | None = None, checkpoint: str | Path | None = None, device: str | None = None,
                 model=None, builder: Callable[[str], object] | None = None):
        self.model_type = model_type
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.device = device
        self._model = model
        self._builder = builder
        self._predictor = None
        self._shape: tuple[int, int] | None = None

    def load(self) -> None:
        """Build the model and load the checkpoint (once). Raises SamWeightsMissing when there is none."""
        if self._predictor is not None:
            return
        try:
            import torch
            from segment_anything import SamPredictor, sam_model_registry
        except ImportError as error:
            raise BackendUnavailable("segment-anything is not installed: pip install segment-anything") from error
        model = self._model
        if model is None:
            if self.checkpoint is not None:
                kind = self.model_type or next((k for k in CHECKPOINTS if k in self.checkpoint.name), None)
                if kind is None or not self.checkpoint.is_file():
                    raise SamWeightsMissing(  # the file's name only: no server path
                        f"SAM checkpoint {self.checkpoint.name} (VACE_SAM_CHECKPOINT) is missing or its model type "
                        "unknown.")
                path = self.checkpoint
            else:
                kind, path = find_checkpoint(self.model_type)
            build = self._builder or (lambda name: sam_model_registry[name](checkpoint=None))
            model = build(kind)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            self.model_type, self.checkpoint = kind, path
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = model.to(device).eval()
        self.device = device
        self._predictor = SamPredictor(self._model)

    @property
    def model(self):
        """The loaded network (loads it first), e.g. to share its weights with a second segmenter."""
        self.load()
        return self._model

    def set_image(self, frame: np.ndarray) -> None:
        """Embed an (H, W, 3) uint8 RGB image (RGBA: alpha dropped). The expensive step: once per frame."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
            raise InputError("image", f"SAM needs an (H, W, 3) uint8 RGB image, got {frame.shape} {frame.dtype}.")
        self.load()
        self._predictor.set_image(np.ascontiguousarray(frame[..., :3]), image_format="RGB")
        self._shape = frame.shape[:2]

    def _prompt_points(self, points: Sequence[Point]) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self._shape is None:
            raise InputError("image", "Pick a frame before clicking (set_image was not called).")
        if not points:
            return None, None
        coords = np.array([[float(x), float(y)] for x, y, _ in points], dtype=np.float32)
        height, width = self._shape
        if (coords < 0).any() or (coords[:, 0] >= width).any() or (coords[:, 1] >= height).any():
            raise InputError("points", f"Clicks must lie inside the {width}x{height} image.")
        return coords, np.array([1 if positive else 0 for _, _, positive in points], dtype=np.int64)

    def segment(self, points: Sequence[Point]) -> np.ndarray:
        """The mask for clicks [(x, y, positive)], at least one: the best-scoring of SAM's three proposals."""
        coords, labels = self._prompt_points(points)
        if coords is None:
            raise InputError("points", "Click at least once on the subject.")
        masks, scores, _ = self._predictor.predict(point_coords=coords, point_labels=labels, multimask_output=True)
        return np.asarray(masks[int(np.argmax(scores))], dtype=bool)

    def segment_box(self, box: Sequence[float], points: Sequence[Point] = ()) -> np.ndarray:
        """The mask for a box (x0, y0, x1, y1 in pixels) plus optional clicks; one proposal, as SAM's authors
        advise for box prompts."""
        coords, labels = self._prompt_points(points)
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (x1 > x0 and y1 > y0):
            raise InputError("box", f"Box {tuple(box)} is empty: need x1 > x0 and y1 > y0.")
        masks, _, _ = self._predictor.predict(point_coords=coords, point_labels=labels,
                                              box=np.array([x0, y0, x1, y1], np.float32), multimask_output=False)
        return np.asarray(masks[0], dtype=bool)


def prompts_from_mask(mask: np.ndarray) -> tuple[tuple[int, int, int, int], list[Point]] | None:
    """SAM prompts that describe a propagated mask: its bounding box (x0, y0, x1, y1 inclusive pixel edges) and
    one positive click at its most interior pixel (largest distance to the outline). None when empty."""
    import cv2

    mask = np.asarray(mask, dtype=bool)
    found = ops.bounding_box(mask)
    if found is None:
        return None
    x0, y0, x1, y1 = found
    distance = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return (x0, y0, x1 - 1, y1 - 1), [(int(x), int(y), True)]


class SamRefiner:
    """Per-frame refinement for `track_masks`: SAM is prompted with the propagated mask's box and interior point
    (`prompts_from_mask`). Its mask replaces the propagated one only when they overlap with IoU >= `min_agreement`:
    a SAM answer far from the track (another object, the background) is ignored and the track kept."""

    def __init__(self, segmenter: SamSegmenter, min_agreement: float = 0.5):
        self.segmenter = segmenter
        self.min_agreement = min_agreement

    def __call__(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        prompts = prompts_from_mask(mask)
        if prompts is None:
            return np.asarray(mask, dtype=bool)
        box, points = prompts
        self.segmenter.set_image(frame)
        refined = self.segmenter.segment_box(box, points)
        return refined if ops.iou(refined, mask) >= self.min_agreement else np.asarray(mask, dtype=bool)
