"""Learned video trackers (masks/video_trackers.py) built from tiny random configs: the real transformers classes,
sessions, processors and post-processing. Random weights make the masks noise, so the tests check the wiring:
prompts reach the session on their frames, corrections change the masks from their frame on, output shape and
dtype, streaming, progress and cancel, and the weight lookup."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vace_ui.core.errors import BackendUnavailable, GenerationCancelled, InputError
from vace_ui.masks import video_trackers as vt
from vace_ui.masks.tiny_trackers import build_tiny

NAMES = ("sam2", "sam3", "edgetam")
H, W = 48, 80


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def built():
    return {name: build_tiny(name) for name in NAMES}


def tracker(built, name):
    model, processor = built[name]
    return vt.VideoTracker(name, model=model, processor=processor, device="cpu")


def clip(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def box(y0, y1, x0, x1) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def recording(model, calls: list):
    """Wrap the model's forward to record (frame_idx, reverse, mask logits) of every call."""
    forward = model.forward

    def wrapped(*args, **kwargs):
        result = forward(*args, **kwargs)
        calls.append((kwargs["frame_idx"], kwargs.get("reverse", False), result.pred_masks.float().clone()))
        return result

    model.forward = wrapped
    return forward


@pytest.mark.parametrize("name", NAMES)
def test_masks_are_bool_at_clip_size_and_keyframes_exact(built, name):
    frames, key = clip(), box(10, 30, 20, 50)
    out = tracker(built, name).track(frames, {2: key})
    assert out.shape == (6, H, W) and out.dtype == bool
    assert np.array_equal(out[2], key)


@pytest.mark.parametrize("name", NAMES)
def test_prompts_on_frame_k_reach_the_session_at_frame_k(built, name):
    model, _ = built[name]
    calls: list = []
    original = recording(model, calls)
    try:
        runner = tracker(built, name)
        runner.track(clip(), {1: box(5, 25, 10, 40), 4: box(20, 40, 30, 70)})
    finally:
        model.forward = original
    session = runner.last_session
    inputs = session.mask_inputs_per_obj[0]
    assert sorted(inputs) == [1, 4] and sorted(session.output_dict_per_obj[0]["cond_frame_outputs"]) == [1, 4]
    size = runner._processor.target_size
    assert inputs[1].shape == (1, 1, size, size) and 0 < inputs[1].mean() < inputs[4].mean()  # the larger box on 4
    # Keyframes are run first (in order), then backward from the first keyframe, then forward past it.
    assert [(frame, reverse) for frame, reverse, _ in calls] == [
        (1, False), (4, False), (0, True), (2, False), (3, False), (5, False)]


@pytest.mark.parametrize("name", NAMES)
def test_a_correction_on_a_later_frame_changes_the_masks_from_there_on(built, name):
    model, _ = built[name]
    frames, first, correction = clip(7, seed=1), box(10, 30, 20, 50), box(5, 45, 40, 78)
    logits = {}
    for keys in ({1: first}, {1: first, 4: correction}):
        calls: list = []
        original = recording(model, calls)
        try:
            out = tracker(built, name).track(frames, keys)
        finally:
            model.forward = original
        logits[len(keys)] = {frame: value for frame, _, value in calls}
        if len(keys) == 2:
            assert np.array_equal(out[4], correction) and np.array_equal(out[1], first)
    for frame in (5, 6):  # after the correction every frame is predicted from a different memory
        assert not torch.allclose(logits[1][frame], logits[2][frame]), frame


def test_frames_are_streamed_one_at_a_time_and_old_memories_dropped(built):
    class Lazy:
        """A clip read frame by frame (like FrameSource), counting reads."""

        def __init__(self, frames):
            self.frames, self.reads = frames, []

        def __len__(self):
            return len(self.frames)

        def __getitem__(self, index):
            self.reads.append(index)
            return self.frames[index]

    frames = Lazy(clip(14, seed=2))
    runner = tracker(built, "edgetam")
    out = runner.track(frames, {3: box(10, 30, 20, 50)})
    assert out.shape == (14, H, W)
    table = runner.last_session.processed_frames
    assert isinstance(table, vt.StreamedFrames) and table.held <= table.keep
    assert table.requested[:4] == [3, 2, 1, 0] and sorted(table.requested) == list(range(14))
    assert set(frames.reads) == set(range(14))
    kept = runner.last_session.output_dict_per_obj[0]["non_cond_frame_outputs"]
    assert len(kept) <= 2 * runner._window() and 13 in kept and 4 not in kept


def test_progress_and_cancel(built):
    seen = []
    runner = tracker(built, "sam3")
    runner.track(clip(5), {0: box(10, 30, 20, 50)}, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 5) for i in range(1, 6)]
    asked = []

    def cancelled():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(GenerationCancelled):
        runner.track(clip(5), {0: box(10, 30, 20, 50)}, cancelled=cancelled)
    assert len(asked) == 3


def test_empty_keyframes_and_bad_input(built):
    runner = tracker(built, "sam2")
    out = runner.track(clip(4), {1: np.zeros((H, W), bool)})
    assert not out.any() and out.shape == (4, H, W)
    with pytest.raises(InputError, match="outside the clip"):
        runner.track(clip(4), {4: box(1, 5, 1, 5)})
    with pytest.raises(InputError, match="at least one frame"):
        runner.track(clip(4), {})
    with pytest.raises(InputError, match="frames are"):
        runner.track(clip(4), {0: np.zeros((10, 10), bool)})
    with pytest.raises(InputError):
        vt.VideoTracker("sam9")


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hf"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_missing_weights_name_the_files_and_folders(tmp_path, empty_cache):
    with pytest.raises(vt.TrackerWeightsMissing) as caught:
        vt.find_weights("sam2", tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, BackendUnavailable)
    assert "config.json" in message and "model.safetensors" in message and "VACE_ALLOW_DOWNLOADS=1" in message
    assert "models/trackers/sam2.1-hiera-tiny/" in message and "facebook/sam2.1-hiera-large" in message
    assert str(tmp_path) not in message  # the folder under the models label, never the server's path
    assert vt.find_weights("sam2", tmp_path, allow_downloads=True) == "facebook/sam2.1-hiera-large"
    assert vt.available(tmp_path) == [] and vt.resolve("auto", tmp_path) == "flow"
    with pytest.raises(InputError):
        vt.resolve("sam9", tmp_path)


def test_lookup_order_models_folder_then_hf_cache_and_auto_ranking(tmp_path, empty_cache):
    snapshot = empty_cache / "models--yonigozlan--EdgeTAM-hf" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (empty_cache / "models--yonigozlan--EdgeTAM-hf" / "refs").mkdir()
    (empty_cache / "models--yonigozlan--EdgeTAM-hf" / "refs" / "main").write_text("abc123")
    for name in vt.WEIGHT_FILES:
        (snapshot / name).write_bytes(b"x")
    assert vt.find_weights("edgetam", tmp_path) == str(snapshot)
    assert vt.resolve("auto", tmp_path) == "edgetam"
    small = tmp_path / "trackers" / "sam2.1-hiera-small"
    small.mkdir(parents=True)
    (small / "config.json").write_text("{}")
    assert vt.available(tmp_path) == ["edgetam"]  # a folder without model.safetensors does not count
    (small / "model.safetensors").write_bytes(b"x")
    assert vt.find_weights("sam2", tmp_path) == str(small)
    assert vt.resolve("auto", tmp_path) == "sam2" and vt.resolve("edgetam", tmp_path) == "edgetam"


def test_loads_a_saved_checkpoint_from_the_models_folder(tmp_path, built, empty_cache):
    model, processor = built["sam2"]
    folder = tmp_path / "trackers" / "sam2.1-hiera-tiny"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    source = vt.find_weights("sam2", tmp_path)
    loaded = vt.VideoTracker("sam2", source, device="cpu")
    frames, keys = clip(4, seed=3), {1: box(10, 30, 20, 50)}
    assert np.array_equal(loaded.track(frames, keys), tracker(built, "sam2").track(frames, keys))
    assert loaded.label == "SAM 2.1 (sam2.1-hiera-tiny)"
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded._model.state_dict()[key]), key
    broken = tmp_path / "trackers" / "broken"
    broken.mkdir()
    with pytest.raises(vt.TrackerWeightsMissing, match="could not be loaded"):
        vt.VideoTracker("sam2", str(broken), device="cpu").load()
