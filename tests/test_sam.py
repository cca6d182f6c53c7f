"""segment-anything plumbing with a tiny random-weight Sam built in-process (real segment_anything classes,
preprocessing and postprocessing), checkpoint lookup and loading, and the tracker refiner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vace_ui.core.errors import BackendUnavailable, InputError
from vace_ui.masks.sam import (
    CHECKPOINTS,
    SamRefiner,
    SamSegmenter,
    SamWeightsMissing,
    available_checkpoints,
    build_tiny_sam,
    find_checkpoint,
    prompts_from_mask,
)
from vace_ui.masks.tracker import track_masks


@pytest.fixture(scope="module")
def segmenter():
    return SamSegmenter(model=build_tiny_sam(), device="cpu")


@pytest.fixture()
def image():
    return np.random.default_rng(3).integers(0, 256, (48, 80, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def isolated_models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VACE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("VACE_SAM_CHECKPOINT", raising=False)


def test_segment_returns_the_best_scoring_proposal_at_image_size(segmenter, image):
    segmenter.set_image(image)
    clicks = [(10, 12, True), (60, 30, False)]
    mask = segmenter.segment(clicks)
    assert mask.shape == (48, 80) and mask.dtype == bool
    # Same prompts straight through segment_anything's predictor: our choice is its highest-scoring mask.
    predictor = segmenter._predictor
    coords = np.array([[10, 12], [60, 30]], np.float32)
    masks, scores, _ = predictor.predict(coords, np.array([1, 0]), multimask_output=True)
    assert masks.shape == (3, 48, 80)
    assert np.array_equal(mask, masks[int(np.argmax(scores))])


def test_segment_box_with_and_without_points(segmenter, image):
    segmenter.set_image(image)
    boxed = segmenter.segment_box((5, 5, 40, 30))
    both = segmenter.segment_box((5, 5, 40, 30), [(20, 15, True)])
    assert boxed.shape == both.shape == (48, 80) and boxed.dtype == bool
    with pytest.raises(InputError, match="empty"):
        segmenter.segment_box((30, 5, 10, 30))


def test_prompts_are_validated(segmenter, image):
    fresh = SamSegmenter(model=build_tiny_sam(), device="cpu")
    with pytest.raises(InputError, match="set_image"):
        fresh.segment([(1, 1, True)])
    segmenter.set_image(image)
    with pytest.raises(InputError, match="at least once"):
        segmenter.segment([])
    with pytest.raises(InputError, match="inside"):
        segmenter.segment([(80, 5, True)])
    with pytest.raises(InputError):
        segmenter.set_image(image[..., 0])


def test_rgba_frames_are_accepted_and_alpha_ignored(segmenter, image):
    segmenter.set_image(image)
    plain = segmenter.segment([(30, 20, True)])
    segmenter.set_image(np.dstack([image, np.zeros(image.shape[:2], np.uint8)]))
    assert np.array_equal(segmenter.segment([(30, 20, True)]), plain)


def test_missing_weights_error_names_files_and_folder(tmp_path):
    with pytest.raises(SamWeightsMissing) as caught:
        SamSegmenter().load()
    message = str(caught.value)
    assert all(name in message for name in CHECKPOINTS.values())
    assert "models/sam/" in message and str(tmp_path) not in message  # the folder by name, no server path
    assert isinstance(caught.value, BackendUnavailable)
    with pytest.raises(SamWeightsMissing, match="sam_vit_b_01ec64.pth"):
        find_checkpoint("vit_b")
    with pytest.raises(InputError):
        find_checkpoint("vit_x")


def test_checkpoint_lookup_order(tmp_path, monkeypatch):
    folder = tmp_path / "models" / "sam"
    folder.mkdir(parents=True)
    (folder / CHECKPOINTS["vit_b"]).write_bytes(b"x")
    assert find_checkpoint() == ("vit_b", folder / CHECKPOINTS["vit_b"])
    (folder / CHECKPOINTS["vit_l"]).write_bytes(b"x")
    assert find_checkpoint()[0] == "vit_l"  # the largest present wins
    assert find_checkpoint("vit_b")[0] == "vit_b"
    assert set(available_checkpoints()) == {"vit_b", "vit_l"}
    explicit = tmp_path / "my_sam_vit_h.pth"
    explicit.write_bytes(b"x")
    monkeypatch.setenv("VACE_SAM_CHECKPOINT", str(explicit))
    assert find_checkpoint() == ("vit_h", explicit)
    monkeypatch.setenv("VACE_SAM_CHECKPOINT", str(tmp_path / "weights.pth"))
    with pytest.raises(SamWeightsMissing, match="not a file"):
        find_checkpoint()
    (tmp_path / "weights.pth").write_bytes(b"x")
    with pytest.raises(SamWeightsMissing, match="model type"):
        find_checkpoint()


def test_loads_a_checkpoint_file_into_the_built_network(tmp_path, image):
    source = build_tiny_sam(seed=5)
    folder = tmp_path / "models" / "sam"
    folder.mkdir(parents=True)
    torch.save(source.state_dict(), folder / CHECKPOINTS["vit_b"])
    built = []

    def builder(kind):
        built.append(kind)
        return build_tiny_sam(seed=99)  # different random weights: only loading can make them equal

    loaded = SamSegmenter(device="cpu", builder=builder)
    loaded.set_image(image)
    assert built == ["vit_b"] and loaded.model_type == "vit_b"
    reference = SamSegmenter(model=source, device="cpu")
    reference.set_image(image)
    clicks = [(40, 24, True)]
    assert np.array_equal(loaded.segment(clicks), reference.segment(clicks))
    for name, tensor in source.state_dict().items():
        assert torch.equal(tensor, loaded._model.state_dict()[name]), name


def test_prompts_from_mask_box_and_deepest_point():
    mask = np.zeros((20, 30), bool)
    mask[4:15, 6:25] = True
    box, points = prompts_from_mask(mask)
    assert box == (6, 4, 24, 14)
    (x, y, positive), = points
    assert positive and mask[y, x] and 8 <= y <= 10  # the middle row band is farthest from the outline
    assert prompts_from_mask(np.zeros((5, 5), bool)) is None


def test_refiner_takes_sam_mask_only_when_it_agrees(segmenter, image):
    mask = np.zeros((48, 80), bool)
    mask[10:30, 20:50] = True
    box, points = prompts_from_mask(mask)
    segmenter.set_image(image)
    expected = segmenter.segment_box(box, points)
    assert np.array_equal(SamRefiner(segmenter, min_agreement=0.0)(image, mask), expected)
    assert np.array_equal(SamRefiner(segmenter, min_agreement=1.01)(image, mask), mask)
    assert not SamRefiner(segmenter)(image, np.zeros((48, 80), bool)).any()


def test_refiner_plugs_into_the_tracker(segmenter):
    frames = np.random.default_rng(0).integers(0, 256, (4, 48, 80, 3), dtype=np.uint8)
    first = np.zeros((48, 80), bool)
    first[10:30, 20:50] = True
    refiner = SamRefiner(segmenter, min_agreement=0.0)
    masks = track_masks(frames, {0: first}, refiner=refiner)
    plain = track_masks(frames, {0: first})
    assert np.array_equal(masks[0], first)
    for index in (1, 2, 3):
        assert np.array_equal(masks[index], refiner(frames[index], plain[index]))


def test_a_missing_configured_checkpoint_is_named_without_its_server_folder(tmp_path):
    from vace_ui.masks.sam import SamSegmenter, SamWeightsMissing

    segmenter = SamSegmenter(checkpoint=tmp_path / "private" / "sam_vit_b_01ec64.pth")
    with pytest.raises(SamWeightsMissing) as caught:
        segmenter.load()
    assert "sam_vit_b_01ec64.pth" in str(caught.value) and str(tmp_path) not in str(caught.value)
