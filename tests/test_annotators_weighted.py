"""Weighted annotators built from the real model classes with random weights (no downloads): the loading code
(weight files in a models folder), pre/post-processing, output size and dtype, and streaming."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from vace_ui.annotators import AnnotatorError
from vace_ui.annotators.depth import DepthAnythingAnnotator, MidasDepthAnnotator
from vace_ui.annotators.pose import PoseBodyAnnotator, PoseBodyFaceAnnotator
from vace_ui.annotators.scribble import HedScribbleAnnotator, PidiNetScribbleAnnotator
from vace_ui.annotators.weights import import_quietly


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    import cv2

    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


@pytest.fixture
def models(tmp_path, monkeypatch):
    """An empty models folder that the annotators look in; no Hugging Face cache; no downloads."""
    import huggingface_hub.constants

    folder = tmp_path / "models"
    folder.mkdir()
    monkeypatch.setenv("VACE_MODELS_DIR", str(folder))
    monkeypatch.delenv("VACE_ALLOW_DOWNLOADS", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    torch.manual_seed(0)
    return folder


def run(annotator, frames):
    outputs = list(annotator.process(iter(frames), total=len(frames)))
    assert len(outputs) == len(frames)
    for frame, out in zip(frames, outputs):
        assert out.shape == frame.shape and out.dtype == np.uint8
    return outputs


# ---------------------------------------------------------------- depth


def save_tiny_depth_anything(folder) -> None:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone = Dinov2Config(
        image_size=56, patch_size=14, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
        intermediate_size=32, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=8, head_hidden_size=8,
        reassemble_hidden_size=16, patch_size=14,
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    processor = DPTImageProcessor(  # the Depth-Anything-V2 settings, at 56 instead of 518
        size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=3,
        do_pad=False, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    )
    processor.save_pretrained(folder)


def test_depth_anything_loads_a_hf_folder_from_the_models_dir_and_stretches_depth(models):
    save_tiny_depth_anything(models / "Depth-Anything-V2-Small-hf")
    annotator = DepthAnythingAnnotator(device="cpu")
    assert annotator.weights_problem() is None
    frames = [texture(45, 70, seed=i) for i in range(3)]
    outputs = run(annotator, frames)
    assert type(annotator.model).__name__ == "DepthAnythingForDepthEstimation"
    for out in outputs:
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
        assert out.min() == 0 and out.max() == 255  # stretched per frame
    assert not np.array_equal(outputs[0], outputs[1])  # each frame is its own depth map


def test_depth_anything_prefers_the_larger_model_and_reports_corrupt_files(models):
    save_tiny_depth_anything(models / "Depth-Anything-V2-Small-hf")
    large = models / "Depth-Anything-V2-Large-hf"
    save_tiny_depth_anything(large)
    (large / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(AnnotatorError, match="could not load .*Depth-Anything-V2-Large-hf"):
        DepthAnythingAnnotator(device="cpu").load()


def test_midas_runs_controlnet_aux_dpt_hybrid_with_random_weights():
    midas = import_quietly("controlnet_aux.midas")
    from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel

    torch.manual_seed(0)
    with warnings.catch_warnings():  # timm renamed the backbone; the notice is not ours to fix
        warnings.simplefilter("ignore", UserWarning)
        network = DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True).eval()
    annotator = MidasDepthAnnotator(model=midas.MidasDetector(network))
    annotator.detect_resolution = 64
    outputs = run(annotator, [texture(40, 56, seed=i) for i in range(2)])
    assert np.array_equal(outputs[0][..., 0], outputs[0][..., 2]) and outputs[0].std() > 0


# ---------------------------------------------------------------- scribble


def test_hed_scribble_loads_controlnet_hed_pth_and_gives_binary_strokes(models):
    hed = import_quietly("controlnet_aux.hed")
    (models / "Annotators").mkdir()
    network = hed.ControlNetHED_Apache2()
    with torch.no_grad():
        network.norm.fill_(127.0)  # random convs on centred input give edges on both sides of 0.5
    torch.save(network.state_dict(), models / "Annotators" / "ControlNetHED.pth")
    annotator = HedScribbleAnnotator(device="cpu")
    annotator.detect_resolution = 64
    outputs = run(annotator, [texture(48, 72, seed=i) for i in range(2)])
    assert isinstance(annotator.model, hed.HEDdetector)
    for out in outputs:
        assert set(np.unique(out)) <= {0, 255}


def test_pidinet_scribble_loads_a_data_parallel_checkpoint(models):
    pidi = import_quietly("controlnet_aux.pidi")
    (models / "Annotators").mkdir()
    state = {f"module.{key}": value for key, value in pidi.pidinet().state_dict().items()}
    torch.save({"state_dict": state}, models / "Annotators" / "table5_pidinet.pth")
    annotator = PidiNetScribbleAnnotator(device="cpu")
    annotator.detect_resolution = 64
    outputs = run(annotator, [texture(50, 40, seed=i) for i in range(2)])
    assert isinstance(annotator.model, pidi.PidiNetDetector)
    assert all(set(np.unique(out)) <= {0, 255} for out in outputs)


# ---------------------------------------------------------------- pose: OpenPose (controlnet-aux)


def test_openpose_body_loads_body_pose_model_pth(models):
    open_pose = import_quietly("controlnet_aux.open_pose")
    from controlnet_aux.open_pose.model import bodypose_model

    (models / "Annotators").mkdir()
    state = {".".join(key.split(".")[1:]): value for key, value in bodypose_model().state_dict().items()}
    torch.save(state, models / "Annotators" / "body_pose_model.pth")
    annotator = PoseBodyAnnotator(device="cpu")
    annotator.detect_resolution = 64
    run(annotator, [texture(48, 64)])
    assert isinstance(annotator.model, open_pose.OpenposeDetector)
    assert annotator.model.face_estimation is None and annotator.model.hand_estimation is None


# ---------------------------------------------------------------- pose: DWPose (onnxruntime)


class _FixedOutput(torch.nn.Module):
    """A graph with a model's exact input and output signature whose outputs are fixed tensors, so the
    decoding around it can be checked against known answers."""

    def __init__(self, *outputs: torch.Tensor):
        super().__init__()
        self.outputs = [torch.nn.Parameter(o, requires_grad=False) for o in outputs]
        for index, parameter in enumerate(self.outputs):
            self.register_parameter(f"out{index}", parameter)

    def forward(self, image):
        touch = image.mean() * 0  # keep the image an input of the graph
        results = tuple(output + touch for output in self.outputs)
        return results if len(results) > 1 else results[0]


def export_onnx(module: torch.nn.Module, shape: tuple[int, ...], path) -> None:
    pytest.importorskip("onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(shape),), str(path), dynamo=False, input_names=["input"])


def dwpose_files(folder, box_centre_det: tuple[float, float], box_size_det: float) -> None:
    """yolox_l.onnx: one confident person anchor (stride 32) at a known place; dw-ll_ucoco_384.onnx: every
    keypoint's SimCC peak at the centre of its crop."""
    folder.mkdir(parents=True)
    predictions = torch.full((1, 8400, 85), -20.0)
    predictions[..., 4:] = 0.0
    cx, cy = box_centre_det
    gx, gy = int(cx // 32), int(cy // 32)
    anchor = 80 * 80 + 40 * 40 + gy * 20 + gx
    predictions[0, anchor, :4] = torch.tensor(
        [cx / 32 - gx, cy / 32 - gy, math.log(box_size_det / 32), math.log(box_size_det / 32)]
    )
    predictions[0, anchor, 4:6] = 1.0  # objectness x person probability = 1
    export_onnx(_FixedOutput(predictions), (1, 3, 640, 640), folder / "yolox_l.onnx")
    simcc_x, simcc_y = torch.zeros(1, 133, 576), torch.zeros(1, 133, 768)
    simcc_x[..., 288] = 0.9  # x = 288 / 2 = 144: the middle of the 288-wide crop
    simcc_y[..., 384] = 0.9  # y = 192: the middle of the 384-high crop
    export_onnx(_FixedOutput(simcc_x, simcc_y), (1, 3, 384, 288), folder / "dw-ll_ucoco_384.onnx")


@pytest.mark.parametrize("cls", [PoseBodyAnnotator, PoseBodyFaceAnnotator])
def test_dwpose_onnx_decodes_boxes_and_keypoints_back_to_frame_pixels(models, cls):
    pytest.importorskip("onnxruntime")
    # frame 96x160 at detect resolution 96: the detector input is scaled 4x, so a box centred at (400, 160)
    # of size 160 there is centred at (100, 40), 40 px wide, in the frame
    dwpose_files(models / "DWPose", (400.0, 160.0), 160.0)
    annotator = cls(device="cpu")
    annotator.detect_resolution = 96
    assert annotator.weights_problem() is None
    frame = texture(96, 160)
    (picture,) = run(annotator, [frame])
    assert type(annotator.model).__name__ == "DWPoseOnnx"
    lit = np.argwhere(picture.max(axis=2) > 0)
    assert lit.size and np.allclose(lit.mean(axis=0), (40, 100), atol=1.5)  # every joint at the box centre
    assert np.abs(lit - (40, 100)).max() <= 6  # nothing drawn elsewhere
    centre = tuple(picture[40, 100])
    if cls is PoseBodyFaceAnnotator:
        assert centre == (255, 255, 255)  # face landmarks are white dots drawn over the body
    else:
        assert centre != (255, 255, 255) and max(centre) > 0


def test_dwpose_detector_with_the_wrong_anchor_count_is_reported(models):
    pytest.importorskip("onnxruntime")
    folder = models / "DWPose"
    dwpose_files(folder, (320.0, 320.0), 100.0)
    export_onnx(_FixedOutput(torch.zeros(1, 100, 85)), (1, 3, 640, 640), folder / "yolox_l.onnx")
    with pytest.raises(AnnotatorError, match="failed on frame 0: detector gave 100 anchors"):
        list(PoseBodyAnnotator(device="cpu").process([texture(64, 64)]))
