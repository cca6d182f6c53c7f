"""LoRAs through diffusers' LoRA loader on the tiny model: a saved LoRA changes the output, its scale matters,
and dropping it restores the plain model exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vace_ui.core.requests import ReferenceRequest
from vace_ui.core.settings import GenerationSettings, LoraSpec
from vace_ui.jobs.store import JobStatus
from vace_ui.media.video import read_frames


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory):
    from diffusers import WanVACEPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from vace_ui.backends.tiny_model import build_tiny_pipeline

    transformer = build_tiny_pipeline().transformer
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            if "lora_B" in name:  # peft starts B at zero (a no-op LoRA); make it do something
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    folder = tmp_path_factory.mktemp("lora")
    WanVACEPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(transformer))
    return folder / "pytorch_lora_weights.safetensors"


def _run(runner, **changes):
    settings = GenerationSettings(prompt="a dog runs", size="64x64", num_frames=5, steps=2, seed=11, **changes)
    job = runner.run(runner.create(ReferenceRequest(), settings).id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    return read_frames(job.output_path).astype(int)


def test_lora_changes_output_scale_matters_and_unloading_restores(runner, lora_file):
    plain = _run(runner)
    with_lora = _run(runner, loras=(LoraSpec(str(lora_file), 1.0),))
    stronger = _run(runner, loras=(LoraSpec(str(lora_file), 3.0),))
    again_plain = _run(runner)
    assert np.abs(with_lora - plain).mean() > 0.1
    assert np.abs(stronger - with_lora).mean() > 0.1
    assert np.array_equal(again_plain, plain)


def test_missing_lora_file_is_a_clear_error(runner):
    settings = GenerationSettings(prompt="a", size="64x64", num_frames=5, steps=1,
                                  loras=(LoraSpec("/nonexistent/style.safetensors", 1.0),))
    job = runner.run(runner.create(ReferenceRequest(), settings).id)
    assert job.status is JobStatus.FAILED and "LoRA 1 (style.safetensors) could not be loaded" in job.error


def test_a_long_video_loads_a_lora_by_name_from_the_lora_folder_in_every_window(tmp_path, tiny_backend, lora_file):
    """Shared servers take LoRAs by file name in the LoRA folder; the windows of a long video get the resolved file
    too, while the job keeps the name."""
    from vace_ui.jobs.policy import JobPolicy
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStore

    store = JobStore(tmp_path / "outputs")
    runner = JobRunner(store, {"local": tiny_backend}, policy=JobPolicy(lora_folder=lora_file.parent))
    try:
        settings = GenerationSettings(prompt="a dog runs", size="64x64", num_frames=17, steps=2, seed=11,
                                      window_frames=9, window_overlap=4, loras=(LoraSpec(lora_file.name, 1.0),))
        job = runner.run(runner.create(ReferenceRequest(), settings).id)
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job.notes[0].startswith("3 windows")
        assert job.settings["loras"] == [{"path": lora_file.name, "scale": 1.0}]
    finally:
        store.close()
