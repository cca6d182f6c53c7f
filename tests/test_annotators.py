"""Annotator interface, registry, weight lookup and the weight-free annotators (gray, canny, lineart, flow,
layout). Weighted annotators with random weights are in test_annotators_weighted.py."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vace_ui import annotators
from vace_ui.annotators import AnnotatorError, LayoutStyle, box_path
from vace_ui.annotators.base import Annotator, as_rgb
from vace_ui.annotators.flow import FlowAnnotator, flow_to_rgb, make_colorwheel
from vace_ui.annotators.layout import LayoutAnnotator
from vace_ui.annotators.lineart import LineartAnnotator, lineart_standard
from vace_ui.annotators.weights import WeightFile, models_dir

WEIGHT_FREE = ["gray", "canny", "lineart", "flow", "layout"]
WEIGHTED = ["depth", "depth_midas", "pose_body", "pose_body_face", "scribble", "scribble_pidinet"]
REPO = Path(__file__).resolve().parents[1]


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture: enough structure for edges and optical flow."""
    import cv2

    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def shifted_clip(count: int, dx: int, dy: int, height: int = 72, width: int = 96) -> list[np.ndarray]:
    """`count` frames of one texture, each moved (dx, dy) pixels from the previous."""
    base = texture(height + 40, width + 40, seed=3)
    return [base[20 - i * dy : 20 - i * dy + height, 20 - i * dx : 20 - i * dx + width].copy() for i in range(count)]


@pytest.fixture
def empty_weights(tmp_path, monkeypatch):
    """An empty models folder and Hugging Face cache; downloads not allowed."""
    import huggingface_hub.constants

    monkeypatch.setenv("VACE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("VACE_ALLOW_DOWNLOADS", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "models"


# ---------------------------------------------------------------- registry and interface


def test_registry_lists_every_annotator_in_order_and_shares_instances():
    assert list(annotators.available()) == WEIGHT_FREE + WEIGHTED
    assert set(annotators.needing_weights()) == set(WEIGHTED)
    for name in WEIGHT_FREE + WEIGHTED:
        annotator = annotators.get(name)
        assert annotator is annotators.get(name)
        assert annotator.name == name and annotator.label
        assert annotator.needs_weights == (name in WEIGHTED)
        assert annotator.__doc__ and len(annotator.__doc__) > 40


def test_unknown_annotator_names_the_available_ones():
    with pytest.raises(AnnotatorError, match="unknown control 'sketchy'.*lineart"):
        annotators.get("sketchy")


def test_importing_annotators_does_not_import_heavy_libraries():
    code = (
        "import sys, vace_ui.annotators as a; a.get('depth'); a.get('pose_body');"
        "print(sorted(m for m in ('torch','cv2','controlnet_aux','transformers','onnxruntime') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_as_rgb_accepts_gray_and_rgba_and_rejects_other_input():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert np.array_equal(as_rgb(gray), np.stack([gray] * 3, axis=-1))
    rgba = np.zeros((3, 4, 4), dtype=np.uint8)
    rgba[..., 1] = 7
    assert as_rgb(rgba).shape == (3, 4, 3) and as_rgb(rgba)[0, 0, 1] == 7
    with pytest.raises(ValueError, match="uint8"):
        as_rgb(np.zeros((3, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        as_rgb(np.zeros((3, 4, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="numpy"):
        as_rgb("frame.png")


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_weight_free_annotators_stream_one_uint8_frame_per_input_at_input_size(name):
    clip = shifted_clip(5, 2, 1, height=37, width=53)
    seen = []
    outputs = list(annotators.get(name).process(iter(clip), total=5, progress=lambda d, t: seen.append((d, t))))
    assert len(outputs) == 5
    assert all(out.shape == (37, 53, 3) and out.dtype == np.uint8 for out in outputs)
    assert seen == [(i, 5) for i in range(1, 6)]
    resized = list(annotators.get(name).process(clip, size=(48, 32)))
    assert len(resized) == 5 and all(out.shape == (32, 48, 3) for out in resized)


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_processing_is_lazy_streaming(name):
    pulled = []

    def endless():
        for index in itertools.count():
            pulled.append(index)
            yield texture(24, 32, seed=index % 3)

    first = list(itertools.islice(annotators.get(name).process(endless()), 3))
    assert len(first) == 3
    assert len(pulled) <= 4  # flow looks one frame ahead; nothing else reads beyond what it returns


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_bad_frame_is_named_with_its_index(name):
    clip = shifted_clip(4, 1, 0, height=24, width=32)
    clip[2] = clip[2].astype(np.float32)
    with pytest.raises(AnnotatorError, match=r"failed on frame 2: expected uint8"):
        list(annotators.get(name).process(clip))
    clip = shifted_clip(4, 1, 0, height=24, width=32)
    clip[3] = np.zeros((20, 32, 3), dtype=np.uint8)
    with pytest.raises(AnnotatorError, match=r"frame 3: frame is 32x20, earlier frames are 32x24"):
        list(annotators.get(name).process(clip))


class _Exploding(Annotator):
    name = "exploding"
    label = "Exploding"

    def __init__(self, bad_output: bool = False):
        self.count = 0
        self.bad_output = bad_output

    def process_frame(self, frame):
        self.count += 1
        if self.bad_output:
            return frame[:, :, 0]
        if self.count == 2:
            raise ZeroDivisionError("division by zero in the model")
        return frame


def test_third_party_failures_and_malformed_outputs_name_the_frame():
    clip = shifted_clip(3, 1, 0, height=16, width=16)
    with pytest.raises(AnnotatorError, match="Exploding failed on frame 1: division by zero in the model"):
        list(_Exploding().process(clip))
    with pytest.raises(AnnotatorError, match=r"produced \(16, 16\) uint8 for frame 0; expected \(16, 16, 3\) uint8"):
        list(_Exploding(bad_output=True).process(clip))


# ---------------------------------------------------------------- weight lookup


def test_models_dir_defaults_to_repo_models_and_follows_the_env_var(monkeypatch, tmp_path):
    monkeypatch.delenv("VACE_MODELS_DIR", raising=False)
    assert models_dir() == REPO / "models"
    monkeypatch.setenv("VACE_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    assert WeightFile("org/repo", "a.pth", "Sub").local_path == tmp_path / "Sub" / "a.pth"


@pytest.mark.parametrize("name", WEIGHTED)
def test_weighted_annotators_without_weights_raise_naming_files_and_folder(name, empty_weights):
    annotator = type(annotators.get(name))()
    expected = {
        "depth": ["model.safetensors", "Depth-Anything-V2-Large-hf", "Depth-Anything-V2-Small-hf"],
        "depth_midas": ["dpt_hybrid-midas-501f0c75.pt", "Annotators"],
        "pose_body": ["yolox_l.onnx", "dw-ll_ucoco_384.onnx", "body_pose_model.pth"],
        "pose_body_face": ["dw-ll_ucoco_384.onnx", "body_pose_model.pth", "facenet.pth"],
        "scribble": ["ControlNetHED.pth"],
        "scribble_pidinet": ["table5_pidinet.pth"],
    }[name]
    problem = annotator.weights_problem()
    assert problem is not None and "models/" in problem and "VACE_MODELS_DIR" in problem
    assert str(empty_weights) not in problem  # the models folder by name, never its server path
    for text in expected:
        assert text in problem
    with pytest.raises(AnnotatorError) as caught:
        list(annotator.process([texture(16, 16)]))
    assert str(caught.value) == problem
    assert annotator.model is None


def test_weight_file_is_found_in_the_models_folder_or_the_hugging_face_cache(empty_weights, tmp_path):
    spec = WeightFile("lllyasviel/Annotators", "ControlNetHED.pth", "Annotators")
    assert spec.find() is None
    snapshot = tmp_path / "hf-cache" / "models--lllyasviel--Annotators" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "ControlNetHED.pth").write_bytes(b"cached")
    (tmp_path / "hf-cache" / "models--lllyasviel--Annotators" / "refs").mkdir()
    (tmp_path / "hf-cache" / "models--lllyasviel--Annotators" / "refs" / "main").write_text("a" * 40)
    assert spec.find() == snapshot / "ControlNetHED.pth"
    spec.local_path.parent.mkdir(parents=True)
    spec.local_path.write_bytes(b"local")
    assert spec.find() == spec.local_path  # the models folder wins over the cache


# ---------------------------------------------------------------- gray, canny


def test_gray_weights_are_the_official_bgr2gray_applied_to_rgb_frames():
    """The official GrayAnnotator runs cv2.COLOR_BGR2GRAY on RGB frames: gray = 0.114 R + 0.587 G + 0.299 B."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 100, 50), (255, 255, 255)]
    frame = np.zeros((10, 10 * len(colours), 3), dtype=np.uint8)
    for index, colour in enumerate(colours):
        frame[:, 10 * index : 10 * index + 10] = colour
    gray = annotators.get("gray").process_frame(frame)
    assert gray.shape == frame.shape and np.array_equal(gray[..., 0], gray[..., 1])
    assert np.array_equal(gray[..., 0], gray[..., 2])
    for index, (red, green, blue) in enumerate(colours):
        expected = 0.114 * red + 0.587 * green + 0.299 * blue
        assert abs(int(gray[5, 10 * index + 5, 0]) - expected) <= 0.5 + 1e-6, (red, green, blue)
    # saturated red reads dark (29), not the 76 of textbook luma; blue reads 76, not 29
    assert gray[5, 5, 0] < 35 and gray[5, 25, 0] > 70


def test_canny_marks_a_step_edge():
    frame = np.zeros((40, 40, 3), dtype=np.uint8)
    frame[:, 20:] = (255, 0, 0)
    edges = annotators.get("canny").process_frame(frame)
    columns = np.flatnonzero(edges[20, :, 0])
    assert columns.size and set(columns) <= {19, 20} and edges[:, :15].max() == 0


# ---------------------------------------------------------------- lineart


def _line_picture() -> np.ndarray:
    frame = np.full((120, 200, 3), 230, dtype=np.uint8)
    frame[:, 98:102] = 20  # a dark vertical stroke
    frame[60:64, 20:80] = 110  # a fainter horizontal stroke
    return frame


def test_lineart_matches_controlnet_aux_lineart_standard_exactly():
    aux = pytest.importorskip("controlnet_aux.lineart_standard")
    frame = texture(120, 200, seed=5)
    frame[:, 98:102] = 10
    expected = aux.LineartStandardDetector()(frame, output_type="np")
    assert np.array_equal(lineart_standard(frame), expected)
    annotator = LineartAnnotator()
    annotator.load()
    assert annotator.detector is not None  # controlnet-aux is installed: it is the one used
    assert np.array_equal(annotator.process_frame(frame), expected)


def test_lineart_draws_dark_strokes_as_white_lines_on_black():
    picture = lineart_standard(_line_picture())
    assert picture.shape == (120, 200, 3)
    assert picture[:, 99:101, 0].min() > 100  # on the stroke (line strength is normalised to about 127)
    assert picture[:, 150:, 0].max() < 10 and picture[:30, :60, 0].max() < 10  # flat areas stay black
    assert picture[58:66, 50, 0].max() > 60  # the fainter stroke too


# ---------------------------------------------------------------- flow


def _raft_reference(flow: np.ndarray) -> np.ndarray:
    """RAFT's flow_to_image written out plainly in float64 (the formula the fast version must reproduce)."""
    wheel = make_colorwheel().astype(np.float64)
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    rad_max = np.sqrt(u**2 + v**2).max()
    u, v = u / (rad_max + 1e-5), v / (rad_max + 1e-5)
    rad = np.sqrt(u**2 + v**2)
    fk = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (len(wheel) - 1)
    k0 = np.floor(fk).astype(int)
    k1 = np.where(k0 + 1 == len(wheel), 0, k0 + 1)
    f = fk - k0
    out = np.zeros(u.shape + (3,), dtype=np.uint8)
    for i in range(3):
        col = (1 - f) * wheel[k0, i] / 255 + f * wheel[k1, i] / 255
        out[..., i] = np.floor(255 * (1 - rad * (1 - col)))
    return out


def test_flow_rendering_follows_the_middlebury_wheel():
    wheel = make_colorwheel()
    assert wheel.shape == (55, 3) and tuple(wheel[0]) == (255, 0, 0) and tuple(wheel[15]) == (255, 255, 0)
    flow = np.random.default_rng(1).normal(0, 3, (30, 40, 2)).astype(np.float32)
    difference = np.abs(flow_to_rgb(flow).astype(int) - _raft_reference(flow).astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01
    still = flow_to_rgb(np.zeros((4, 4, 2), dtype=np.float32))
    assert (still == 255).all()  # no motion is white


@pytest.mark.parametrize(("dx", "dy", "hue"), [(3, 0, "red"), (-3, 0, "cyan"), (0, 3, "yellow")])
def test_flow_colour_shows_the_direction_of_motion(dx, dy, hue):
    pictures = list(FlowAnnotator().process(shifted_clip(4, dx, dy)))
    assert len(pictures) == 4
    assert np.array_equal(pictures[0], pictures[1])  # the first flow stands for frame 0 too
    r, g, b = pictures[2][20:52, 24:72].reshape(-1, 3).astype(int).mean(axis=0)
    if hue == "red":
        assert r > 200 and g < 120 and b < 120
    elif hue == "cyan":
        assert r < 120 and g > 150 and b > 200
    else:
        assert r > 200 and g > 170 and b < 120


def _interleaved(*generators) -> list[list[np.ndarray]]:
    """Pull one item from each generator in turn until all are done; each generator's items, in order."""
    results: list[list[np.ndarray]] = [[] for _ in generators]
    live = dict(enumerate(generators))
    while live:
        for index, generator in list(live.items()):
            try:
                results[index].append(next(generator))
            except StopIteration:
                del live[index]
    return results


def _same(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def test_two_clips_interleaved_through_the_shared_flow_annotator_each_match_their_solo_result():
    shared = annotators.get("flow")
    right, down = shifted_clip(6, 3, 0), shifted_clip(4, 0, 2)  # different lengths and motions
    solo_right, solo_down = list(shared.process(right)), list(shared.process(down))
    assert len(solo_right) == 6 and len(solo_down) == 4 and not _same(solo_right[:4], solo_down)
    together = _interleaved(shared.process(iter(right)), annotators.get("flow").process(iter(down)))
    assert _same(together[0], solo_right) and _same(together[1], solo_down)
    # the same, driving two streams by hand frame by frame: each keeps its own previous frame
    first, second = shared.open_stream(), shared.open_stream()
    by_hand = ([], [])
    for frame_a, frame_b in zip(right, down):
        by_hand[0].extend(first.feed(frame_a))
        by_hand[1].extend(second.feed(frame_b))
    for frame_a in right[len(down):]:
        by_hand[0].extend(first.feed(frame_a))
    by_hand[0].extend(first.flush())
    by_hand[1].extend(second.flush())
    assert _same(by_hand[0], solo_right) and _same(by_hand[1], solo_down)
    assert vars(shared) == {}  # the shared annotator itself holds nothing of any clip


def test_clips_annotated_in_threads_at_once_match_their_solo_results():
    from concurrent.futures import ThreadPoolExecutor

    clips = [shifted_clip(5, dx, dy, height=40, width=56) for dx, dy in ((2, 0), (0, 2), (-2, 1), (1, -2))]
    solo = [list(annotators.get("flow").process(clip)) for clip in clips]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            results = list(pool.map(lambda clip: list(annotators.get("flow").process(clip)), clips))
            assert all(_same(result, expected) for result, expected in zip(results, solo))


def test_two_layout_tracks_interleaved_each_match_their_solo_result():
    shared = LayoutAnnotator(style="filled")
    frames = [np.zeros((60, 80, 3), dtype=np.uint8)] * 3
    masks = [_square_mask(box=(10 + 10 * i, 10, 30 + 10 * i, 30)) for i in range(3)]
    boxes = box_path((0, 0, 20, 20), (60, 40, 80, 60), 3)
    solo_masks = list(shared.process(frames, masks=masks, size=(40, 30)))
    solo_boxes = list(shared.process(frames, boxes=boxes))
    together = _interleaved(shared.process(frames, masks=masks, size=(40, 30)), shared.process(frames, boxes=boxes))
    assert _same(together[0], solo_masks) and _same(together[1], solo_boxes)
    assert solo_masks[0].shape == (30, 40, 3) and solo_boxes[0].shape == (60, 80, 3)


def test_flow_of_a_single_frame_is_white_and_reset_between_clips():
    annotator = FlowAnnotator()
    only = list(annotator.process([texture(20, 30)]))
    assert len(only) == 1 and (only[0] == 255).all()
    moving = list(annotator.process(shifted_clip(3, 2, 0, 20, 30)))
    assert len(moving) == 3 and not (moving[2] == 255).all()


# ---------------------------------------------------------------- layout


def _square_mask(height=60, width=80, box=(20, 10, 50, 40)) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


def test_layout_outlines_or_fills_a_mask_in_black_on_white():
    outline = LayoutAnnotator().draw_mask(_square_mask())
    assert outline.shape == (60, 80, 3) and outline.dtype == np.uint8
    assert (outline[25, 35] == 255).all() and (outline[5, 5] == 255).all()  # inside and outside stay white
    assert (outline[10, 35] == 0).all() and (outline[25, 20] == 0).all()  # the border is black
    filled = LayoutAnnotator(style=LayoutStyle.FILLED).draw_mask(_square_mask())
    assert np.array_equal(filled[..., 0] == 0, _square_mask())


def test_layout_takes_a_mask_track_alongside_the_frames():
    frames = [texture(60, 80, seed=i) for i in range(3)]
    masks = [_square_mask(box=(10 + 10 * i, 10, 30 + 10 * i, 30)) for i in range(2)] + [None]
    pictures = list(LayoutAnnotator(style="filled").process(frames, masks=masks))
    assert len(pictures) == 3
    assert (pictures[0][20, 15] == 0).all() and (pictures[1][20, 15] == 255).all() and (pictures[1][20, 35] == 0).all()
    assert (pictures[2] == 255).all()  # no object in that frame
    half = list(LayoutAnnotator(style="filled").process(frames, masks=masks, size=(40, 30)))
    assert half[0].shape == (30, 40, 3) and (half[0][10, 8] == 0).all() and (half[0][10, 20] == 255).all()
    with pytest.raises(AnnotatorError, match="frame 2: the mask track ended before the video did"):
        list(LayoutAnnotator().process(frames, masks=masks[:2]))


def test_layout_box_path_moves_linearly_from_start_to_end():
    path = box_path((0, 0, 10, 10), (40, 20, 60, 40), 5)
    assert path[0] == (0, 0, 10, 10) and path[-1] == (40, 20, 60, 40) and path[2] == (20, 10, 35, 25)
    pictures = list(LayoutAnnotator().process_boxes(path, size=(80, 60)))
    assert len(pictures) == 5 and all(p.shape == (60, 80, 3) for p in pictures)
    last = pictures[-1][..., 0] == 0
    ys, xs = np.nonzero(last)
    assert (xs.min(), ys.min(), xs.max(), ys.max()) == (40, 20, 59, 39)  # 2 px outline inside the box
    assert last[20:22, 40:60].all() and last[20:40, 58:60].all()  # 2 px thick
    assert not last[22:38, 42:58].any()  # outline only
    filled = LayoutAnnotator(style=LayoutStyle.FILLED).draw_boxes([(0, 0, 10, 10), (70, 50, 80, 60)], (80, 60))
    assert (filled[5, 5] == 0).all() and (filled[55, 75] == 0).all() and (filled[30, 40] == 255).all()


def test_layout_boxes_follow_a_resize_and_plain_frames_are_read_as_masks():
    frames = [np.zeros((60, 80, 3), dtype=np.uint8)] * 2
    pictures = list(LayoutAnnotator(style="filled").process(frames, boxes=[(40, 30, 80, 60), None], size=(40, 30)))
    assert (pictures[0][20, 30] == 0).all() and (pictures[0][10, 10] == 255).all() and (pictures[1] == 255).all()
    mask_video = [np.where(_square_mask(), 255, 0).astype(np.uint8)] * 2
    as_masks = list(LayoutAnnotator(style="filled").process(mask_video))
    assert np.array_equal(as_masks[0][..., 0] == 0, _square_mask())
    from_masks = list(LayoutAnnotator(style="filled").process_masks([_square_mask()]))
    assert np.array_equal(from_masks[0], as_masks[0])
    with pytest.raises(AnnotatorError, match="masks or boxes, not both"):
        list(LayoutAnnotator().process(frames, masks=[None], boxes=[None]))
