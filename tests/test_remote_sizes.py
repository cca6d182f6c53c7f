"""Every raw-VACE provider and every capability, through the job path (real files, the app's compile) to a strict
fake on 127.0.0.1: the video and the mask the fake received decode to exactly the size the job asks it for, from
square, portrait and very wide sources and with asymmetric outpaint scales; and a backend with fixed sizes that
compiles nothing (DashScope) takes its own default when no size is given."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from conftest import moving_square_video
from fakes.comfyui_fake import FakeComfyUI
from fakes.harness import FakeClock, backend_options, decode
from fakes.replicate_fake import FakeReplicate
from fakes.wavespeed_fake import FakeWaveSpeed

from vace_ui.backends.remote import ComfyUIBackend, ReplicateBackend, WaveSpeedBackend
from vace_ui.core.requests import (
    EditRequest,
    ExtendRequest,
    MaskKeyframe,
    OutpaintRequest,
    ReferenceImage,
    ReferenceRequest,
    RepaintRequest,
)
from vace_ui.core.settings import GenerationSettings
from vace_ui.jobs.runner import JobRunner
from vace_ui.jobs.store import JobStatus, JobStore

SOURCES = {"square": (96, 96), "portrait": (72, 128), "wide": (320, 64)}
PROVIDERS = {  # fake, backend, frames the provider accepts
    "wavespeed": (FakeWaveSpeed, WaveSpeedBackend, 81),
    "replicate": (FakeReplicate, ReplicateBackend, 17),
    "comfyui": (FakeComfyUI, ComfyUIBackend, 17),
}
OUTPAINT = {"square": {"left": 1.5, "top": 1.2}, "portrait": {"right": 2.0, "bottom": 1.1},
            "wide": {"top": 1.6, "left": 1.1}}


def image_or_video(content: bytes) -> np.ndarray:
    """Decoded frames (N, H, W[, C]) of an uploaded PNG or MP4."""
    if content.startswith(b"\x89PNG"):
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(content)))[None]
    return decode(content)


def received(provider: str, fake) -> tuple[tuple[int, int], dict[str, np.ndarray]]:
    """(the size asked for, {"video"/"mask"/"ref": decoded upload}) from what the fake received last."""
    if provider == "wavespeed":
        body = fake.created[-1]
        size = tuple(int(v) for v in body["size"].split("*"))
        files = {"video": body.get("video"), "mask": body.get("mask_image") or body.get("mask_video"),
                 "ref": (body.get("images") or [None])[0]}
        return size, {k: image_or_video(fake.uploaded(v)) for k, v in files.items() if v}
    if provider == "replicate":
        values = fake.created[-1]["input"]
        size = tuple(int(v) for v in values["size"].split("*"))
        files = {"video": values.get("src_video"), "mask": values.get("src_mask"),
                 "ref": (values.get("src_ref_images") or [None])[0]}
        return size, {k: image_or_video(fake.file_content(v)) for k, v in files.items() if v}
    graph = fake.prompts[fake.order[-1]]["graph"]
    size = (graph["17"]["inputs"]["width"], graph["17"]["inputs"]["height"])
    names = {"video": graph.get("40", {}).get("inputs", {}).get("video"),
             "mask": graph.get("41", {}).get("inputs", {}).get("video")}
    return size, {k: image_or_video(fake.uploads[v]) for k, v in names.items() if v}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from vace_ui.media.images import write_png
    from vace_ui.media.video import write_video

    folder = tmp_path_factory.mktemp("sizes")
    for shape, (w, h) in SOURCES.items():
        for frames in (17, 81):
            write_video(folder / f"{shape}{frames}.mp4", moving_square_video(frames, w, h), 16)
        mask = np.zeros((h, w), dtype=np.uint8)
        mask[h // 4 : h // 2, w // 4 : w // 2] = 255
        write_png(folder / f"{shape}_mask.png", mask)
    image = np.full((60, 40, 3), 220, dtype=np.uint8)
    write_png(folder / "ref.png", image)
    return folder


def requests_for(folder, shape: str, frames: int) -> dict:
    video = str(folder / f"{shape}{frames}.mp4")
    return {
        "reference": ReferenceRequest((ReferenceImage(str(folder / "ref.png")),)),
        "repaint": RepaintRequest(video, "canny"),
        "edit": EditRequest(video, (MaskKeyframe(str(folder / f"{shape}_mask.png"), 0),), expand_ratio=0.0),
        "extend": ExtendRequest(first_clip=str(folder / f"{shape}17.mp4")),
        "outpaint": OutpaintRequest(video, **OUTPAINT[shape]),
    }


# WaveSpeed runs 81-frame jobs (its minimum): one source shape per capability keeps the test short there.
CASES = [(p, c, s) for p in ("replicate", "comfyui") for c in ("reference", "repaint", "edit", "extend", "outpaint")
         for s in SOURCES] + [("wavespeed", c, s) for c, s in (("reference", "square"), ("repaint", "wide"),
                                                              ("edit", "portrait"), ("extend", "square"),
                                                              ("outpaint", "wide"), ("outpaint", "portrait"))]


@pytest.mark.parametrize("provider, capability, shape", CASES)
def test_uploaded_video_and_mask_are_exactly_the_size_asked_for(tmp_path, sources, provider, capability, shape):
    fake_type, backend_type, frames = PROVIDERS[provider]
    clock = FakeClock()
    with fake_type() as fake:
        backend = backend_type(**backend_options(fake, clock))
        store = JobStore(tmp_path / "out")
        runner = JobRunner(store, {provider: backend})
        try:
            settings = GenerationSettings(prompt="a dog runs", num_frames=frames, steps=4, seed=3)  # size: auto
            job = runner.run(runner.create(requests_for(sources, shape, frames)[capability], settings, provider).id)
            assert job.status is JobStatus.SUCCEEDED, job.error
            size, files = received(provider, fake)
        finally:
            store.close()
    declared = [tuple(int(v) for v in s.split("x")) for s in backend.capabilities().sizes]
    assert size in declared
    assert job.settings["size"] == f"{size[0]}x{size[1]}"  # the job records the size it asked for
    if capability != "reference":
        assert files["video"].shape[1:3] == (size[1], size[0])
    if "mask" in files:
        assert files["mask"].shape[1:3] == (size[1], size[0])
    if capability in ("edit", "outpaint"):
        assert "mask" in files  # these keep something: a mask is always sent
    if "ref" in files:
        assert files["ref"].shape[1:3] == (size[1], size[0])
    assert any(f"{size[0]}x{size[1]}, the {backend.label} size nearest in aspect" in note for note in job.notes)
    if capability != "reference":  # a portrait canvas gets the provider's portrait size, not a cropped landscape
        w, h = SOURCES[shape]
        scales = OUTPAINT[shape] if capability == "outpaint" else {}
        wide = scales.get("left", 1.0) + scales.get("right", 1.0) - 1.0
        tall = scales.get("top", 1.0) + scales.get("bottom", 1.0) - 1.0
        assert (size[0] >= size[1]) == (w * wide >= h * tall)


def test_a_chosen_size_the_provider_lacks_is_refused_in_words(tmp_path, sources):
    clock = FakeClock()
    with FakeComfyUI() as fake:
        store = JobStore(tmp_path / "out")
        runner = JobRunner(store, {"comfyui": ComfyUIBackend(**backend_options(fake, clock))})
        try:
            settings = GenerationSettings(prompt="a", num_frames=17, size="1280x720")
            job = runner.run(runner.create(requests_for(sources, "square", 17)["repaint"], settings, "comfyui").id)
        finally:
            store.close()
        assert fake.order == []  # nothing was queued
    assert job.status is JobStatus.FAILED and "1280x720 is not offered by ComfyUI" in job.error


def test_data_urls_decode_the_same_as_uploads():
    """The helper above reads Replicate's inline data: URLs; check it on a known PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((5, 7), dtype=np.uint8)).save(buffer, format="PNG")
    with FakeReplicate() as fake:
        content = fake.file_content("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    assert image_or_video(content).shape == (1, 5, 7)


def test_preview_and_bundle_show_exactly_what_is_uploaded(tmp_path, sources):
    """The tab's preview and input bundle compile towards the chosen backend's sizes, as the job does."""
    import json
    import types
    import zipfile

    import gradio as gr

    from vace_ui.media.video import probe_video
    from vace_ui.ui.capability_tab import TabController, TabInputs
    from vace_ui.ui.components import result_panel, settings_panel

    with gr.Blocks():
        settings = settings_panel()
        panel = result_panel("repaint", [("ComfyUI", "comfyui")], "comfyui")
    request = requests_for(sources, "portrait", 17)["outpaint"]
    inputs = TabInputs(set(), lambda data: request, lambda data: {})
    data = {component: component.value for component in settings.components}
    data.update({settings.prompt: "a dog", settings.num_frames: 17, panel.backend: "comfyui"})
    assert data[settings.size] == "auto"  # the panel's default: no size chosen
    services = types.SimpleNamespace(backends={"comfyui": ComfyUIBackend()}, control_cache=None, video_tracker=None)
    controller = TabController(services)
    shown = controller.preview(inputs, settings, panel, data)
    info = probe_video(controller.full_preview(inputs, settings, panel, data)[panel.preview_video]["value"])
    # portrait 72x128 with right 2.0, bottom 1.1: 144:140.8, just wider than tall -> ComfyUI's 832x480
    assert (info.width, info.height) == (832, 480)
    assert "Sent to ComfyUI exactly as shown, asking for size 832x480" in shown[panel.status]
    assert "more border than asked" in shown[panel.status]  # the frame is wider than the expanded picture
    bundle = controller.bundle(inputs, settings, panel, data)[panel.bundle_file]["value"]  # a DownloadButton update
    with zipfile.ZipFile(bundle) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert (manifest["width"], manifest["height"]) == (832, 480)
