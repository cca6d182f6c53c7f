"""Text prompts (masks/text_masks.py): SAM 3 concept segmentation built from a tiny random config (the real
Sam3VideoModel / Sam3VideoProcessor with a small word-level tokenizer). Random weights make the masks noise, so the
tests check the wiring: the text reaches the model's text encoder, masks come on every frame at the clip's size as
bool, a painted correction changes the masks from its frame on (compile_edit), and missing weights are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from memory_media import MemoryMedia

from vace_ui.core.clip import CompileContext
from vace_ui.core.compile import compile_request
from vace_ui.core.errors import InputError
from vace_ui.core.requests import EditRequest, MaskKeyframe, MaskType
from vace_ui.core.settings import GenerationSettings
from vace_ui.masks import text_masks
from vace_ui.masks.tiny_trackers import build_tiny_text
from vace_ui.masks.tracker import track_masks
from vace_ui.masks.video_trackers import TrackerWeightsMissing

H, W = 48, 80


@pytest.fixture(scope="module")
def tiny():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield build_tiny_text()
    torch.set_num_threads(threads)


def test_the_text_reaches_the_text_encoder_and_every_frame_gets_a_bool_mask(tiny):
    model, processor = tiny
    seen = []
    original = model.detector_model.get_text_features

    def spy(*args, **kwargs):
        seen.append(kwargs["input_ids"].clone())
        return original(*args, **kwargs)

    model.detector_model.get_text_features = spy
    try:
        segmenter = text_masks.TextSegmenter(model=model, processor=processor, device="cpu")
        frames = np.random.default_rng(0).integers(0, 256, (3, H, W, 3), dtype=np.uint8)
        out = segmenter.segment(frames, "  all   people ")
    finally:
        model.detector_model.get_text_features = original
    expected = processor.tokenizer("all people").input_ids
    assert seen and seen[0][0, :len(expected)].tolist() == expected
    assert segmenter.last_session.prompts == {0: "all people"}
    assert out.shape == (3, H, W) and out.dtype == bool
    assert all(frame.any() for frame in out)  # masks on every frame (the tiny build's thresholds are 0)


def test_an_empty_text_is_a_clear_error(tiny):
    model, processor = tiny
    with pytest.raises(InputError, match="mask_text"):
        text_masks.TextSegmenter(model=model, processor=processor, device="cpu").segment(
            np.zeros((1, H, W, 3), np.uint8), "   ")


def test_missing_weights_name_the_files_and_the_folder(tmp_path):
    with pytest.raises(TrackerWeightsMissing) as caught:
        text_masks.find_text_weights(tmp_path)
    message = str(caught.value)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert name in message
    assert "models/trackers/sam3/" in message and str(tmp_path) not in message  # named, no server path


def test_a_text_prompt_is_a_mask_on_its_own_and_old_requests_keep_working():
    EditRequest.from_dict({"video": "clip.mp4", "mask_text": "the dog"}).validate()
    old = EditRequest.from_dict({"video": "clip.mp4", "keyframes": [{"path": "m.png", "frame": 0}]})
    assert old.mask_text == ""
    old.validate()
    with pytest.raises(InputError, match="mask"):
        EditRequest.from_dict({"video": "clip.mp4"}).validate()
    with pytest.raises(InputError, match="mask_text"):
        EditRequest.from_dict({"video": "clip.mp4", "mask_text": "the dog", "mask_video": "m.mp4"}).validate()


def test_a_painted_correction_changes_the_text_masks_from_its_frame_on():
    """The text gives a box on every frame; a correction painted on frame 5 replaces it from frame 5 on, carried
    by the flow tracker; frames 0-4 keep the text's masks."""
    height, width = 240, 416
    media = MemoryMedia()
    rng = np.random.default_rng(2)
    media.videos["clip.mp4"] = (np.repeat(rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8), 12, 0), 16.0)
    correction = np.zeros((height, width), np.uint8)
    correction[150:200, 300:380] = 255
    media.images["fix.png"] = correction
    asked = []

    def segment(frames, text):
        asked.append((len(frames), text))
        masks = np.zeros(np.asarray(frames).shape[:3], bool)
        masks[:, 20:80, 30:120] = True
        return masks

    def track(frames, keyframes, cut_occluders=True, tracker="flow"):
        return track_masks(frames, keyframes), "flow"

    ctx = CompileContext(media=media, track=track, segment=segment)
    settings = GenerationSettings(prompt="a cat", num_frames=9, size="416x240")
    text_only = compile_request(EditRequest("clip.mp4", mask_text="the dog", expand_ratio=0.0), settings, ctx)
    corrected = compile_request(EditRequest("clip.mp4", (MaskKeyframe("fix.png", 5),), mask_type=MaskType.TRACKING,
                                            mask_text="the dog", expand_ratio=0.0), settings, ctx)
    assert asked == [(9, "the dog"), (9, "the dog")]
    assert (text_only.mask[:, 50, 60] == 255).all() and (text_only.mask[:, 175, 340] == 0).all()
    assert (corrected.mask[:5] == text_only.mask[:5]).all()
    assert (corrected.mask[5:, 175, 340] == 255).all() and (corrected.mask[5:, 50, 60] == 0).all()
    assert any("SAM 3 text prompt 'the dog'" in note for note in corrected.notes)
    assert any("corrected from output frame 5" in note for note in corrected.notes)


def test_without_a_segmenter_a_text_prompt_is_refused_in_words():
    media = MemoryMedia()
    media.videos["clip.mp4"] = (np.zeros((9, 240, 416, 3), np.uint8), 16.0)
    settings = GenerationSettings(prompt="a cat", num_frames=9, size="416x240")
    with pytest.raises(InputError, match="text prompts are not available"):
        compile_request(EditRequest("clip.mp4", mask_text="the dog"), settings, CompileContext(media=media))
