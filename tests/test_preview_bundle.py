"""Preview of what the model sees, and the exported input bundle (PNG frames, binary masks, references, manifest)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from PIL import Image

from vace_ui.core import constants as C
from vace_ui.core.requests import EditRequest, MaskKeyframe, ReferenceImage
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.preview import compile_preview, write_bundle, write_preview
from vace_ui.media.video import probe_video, read_frames


def _edit(media_dir):
    request = EditRequest(str(media_dir / "square.mp4"), (MaskKeyframe(str(media_dir / "mask.png"), 0),),
                          expand_ratio=0.0, references=(ReferenceImage(str(media_dir / "ref.png")),))
    return request, GenerationSettings(prompt="", size="128x128", num_frames=9)


def test_bundle_holds_exactly_the_model_inputs(tmp_path, media_dir):
    request, settings = _edit(media_dir)
    inputs = compile_preview(request, settings)
    path = write_bundle(inputs, request, settings, tmp_path / "bundle.zip")
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        assert {f"src_video/{i:05d}.png" for i in range(9)} <= names
        assert {f"src_mask/{i:05d}.png" for i in range(9)} <= names and "src_ref_images/0.png" in names
        frame = np.asarray(Image.open(io.BytesIO(bundle.read("src_video/00004.png"))))
        mask = np.asarray(Image.open(io.BytesIO(bundle.read("src_mask/00004.png"))))
        manifest = json.loads(bundle.read("manifest.json"))
    assert np.array_equal(frame, inputs.video[4]) and np.array_equal(mask, inputs.mask[4])
    assert set(np.unique(mask)) == {C.MASK_KEEP, C.MASK_GENERATE}
    assert (frame[mask == 255] == C.NEUTRAL_GRAY).all()
    assert manifest["num_frames"] == 9 and manifest["neutral_gray"] == C.NEUTRAL_GRAY
    assert manifest["mask_convention"].startswith("white (255) = generate")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle.zip"]  # written atomically, nothing left over


def test_preview_tints_the_generated_region(tmp_path, media_dir):
    request, settings = _edit(media_dir)
    inputs = compile_preview(request, settings)
    path = write_preview(inputs, tmp_path / "preview.mp4")
    assert probe_video(path).frame_count == 9
    shown = read_frames(path, [0])[0].astype(int)
    frame, beside = shown[:, :inputs.width], shown[:, inputs.width:]
    assert beside.shape == inputs.references[0].shape  # the reference the model receives, beside the frames
    assert np.abs(beside - inputs.references[0].astype(int)).mean() < 6
    masked = inputs.mask[0] == 255
    assert frame[masked][:, 0].mean() > frame[masked][:, 1].mean() + 40  # reddish tint over the mask
    unmasked_source = inputs.video[0][~masked].astype(int)
    assert np.abs(frame[~masked] - unmasked_source).mean() < 6  # the rest is the source (H.264 noise only)
