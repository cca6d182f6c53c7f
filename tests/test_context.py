"""The file-backed compile context: tracking goes through the mask tracker, with the refiner when one is given."""

from __future__ import annotations

import numpy as np

from vace_ui.config import AppConfig
from vace_ui.core.compile import compile_request
from vace_ui.core.requests import EditRequest, MaskKeyframe, MaskType
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.context import file_context
from vace_ui.services import create_services


def test_tracking_edit_follows_the_square_and_uses_the_refiner(media_dir):
    calls = []

    def refiner(frame, mask):
        calls.append(frame.shape)
        return mask

    request = EditRequest(str(media_dir / "square.mp4"), (MaskKeyframe(str(media_dir / "mask.png"), 0),),
                          mask_type=MaskType.TRACKING, expand_ratio=0.0)
    settings = GenerationSettings(prompt="a", size="160x128", num_frames=17, fit="crop")
    inputs = compile_request(request, settings, file_context(refiner=lambda: refiner))
    assert calls, "the refiner was asked for frames"
    first, last = inputs.mask[0] > 0, inputs.mask[16] > 0
    shift = np.flatnonzero(last.any(axis=0))[0] - np.flatnonzero(first.any(axis=0))[0]
    assert 24 <= shift <= 40  # the square moves 2 px per source frame: 32 px over 16 frames


def test_no_sam_weights_means_flow_tracking_alone(tmp_path, monkeypatch, tiny_models_dir):
    monkeypatch.setenv("VACE_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("VACE_SAM_CHECKPOINT", raising=False)
    services = create_services(AppConfig(model="tiny-random", models_dir=tiny_models_dir, output_dir=tmp_path / "o"))
    assert services.sam.refiner() is None
    tiny = create_services(AppConfig(model="tiny-random", models_dir=tiny_models_dir, output_dir=tmp_path / "p",
                                     sam_model="tiny-random"))
    assert tiny.sam.refiner() is None  # random weights never refine real masks


def test_cut_occluders_choice_reaches_the_tracker(media_dir, monkeypatch):
    import vace_ui.masks.tracker as tracker

    seen = []
    real = tracker.track_masks

    def recording(frames, keyframes, refiner=None, progress=None, config=None):
        seen.append(config.occlusion)
        return real(frames, keyframes, refiner, progress, config)

    monkeypatch.setattr(tracker, "track_masks", recording)
    settings = GenerationSettings(prompt="a", size="160x128", num_frames=9, fit="crop")
    for cut in (True, False):
        request = EditRequest(str(media_dir / "square.mp4"), (MaskKeyframe(str(media_dir / "mask.png"), 0),),
                              mask_type=MaskType.TRACKING, expand_ratio=0.0, cut_occluders=cut)
        compile_request(request, settings, file_context())
    assert seen == [True, False]
