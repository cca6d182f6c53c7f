"""The model is a setting of the job: the picker lists the catalog (installed or missing, with the download
command), a job naming another model switches the local backend to it and a job naming none runs on VACE_MODEL."""

from __future__ import annotations

import numpy as np
import pytest

from vace_ui.backends.base import BackendJob
from vace_ui.backends.local import LocalBackend
from vace_ui.backends.tiny_model import ensure_tiny_model
from vace_ui.core.errors import InputError
from vace_ui.core.inputs import VaceInputs
from vace_ui.core.requests import Capability
from vace_ui.core.settings import GenerationSettings
from vace_ui.ui.model_picker import model_choices, model_note

A14B = "linoyts/Wan2.2-VACE-Fun-14B-diffusers"


class Reporter:
    cancelled = False

    def phase(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("picker-models")
    ensure_tiny_model(folder / "tiny-random")
    ensure_tiny_model(folder / "Wan2.2-VACE-Fun-A14B-diffusers", two_experts=True)  # the A14B entry's folder
    return folder


def _generate(backend: LocalBackend, model: str | None):
    n, h, w = 5, 32, 32
    inputs = VaceInputs(np.full((n, h, w, 3), 128, np.uint8), np.ones((n, h, w), bool))
    settings = GenerationSettings(prompt="a dog", steps=2, guidance_scale=1.0, seed=1, model=model)
    return backend.generate(BackendJob("j", Capability.EDIT, None, settings, inputs, 1, backend.models_dir),
                            Reporter())


def test_choices_mark_installed_and_missing_with_the_download_command(models_dir):
    local = LocalBackend("tiny-random", models_dir, device="cpu")
    choices = {choice.model_id: choice for choice in model_choices(local)}
    assert choices["tiny-random"].installed and choices[A14B].installed
    assert not choices["Wan-AI/Wan2.1-VACE-1.3B-diffusers"].installed
    assert "missing" in choices["Wan-AI/Wan2.1-VACE-14B-diffusers"].shown
    note = model_note(local, "Wan-AI/Wan2.1-VACE-1.3B-diffusers")
    assert "about 18 GB" in note
    assert f"hf download Wan-AI/Wan2.1-VACE-1.3B-diffusers --local-dir {models_dir / 'Wan2.1-VACE-1.3B-diffusers'}" \
        in note
    assert "installed" in model_note(local, A14B)


def test_a_folder_start_up_model_is_offered_too(models_dir):
    local = LocalBackend(str(models_dir / "tiny-random"), models_dir, device="cpu")
    choice = [c for c in model_choices(local) if c.model_id == str(models_dir / "tiny-random")]
    assert choice and choice[0].installed and choice[0].label == "tiny-random"


def test_the_jobs_model_is_used_for_that_job_only(models_dir):
    local = LocalBackend("tiny-random", models_dir, device="cpu")
    assert _generate(local, A14B).info["model"] == A14B
    assert getattr(local.load(), "transformer_2", None) is not None  # the two-expert folder was loaded
    assert _generate(local, None).info["model"] == "tiny-random"  # no model named: the start-up default
    assert getattr(local.load(), "transformer_2", None) is None


def test_a_missing_model_fails_the_job_with_the_download_command(tmp_path):
    from vace_ui.core.errors import BackendUnavailable

    local = LocalBackend("tiny-random", tmp_path, device="cpu")
    with pytest.raises(BackendUnavailable, match="hf download Wan-AI/Wan2.1-VACE-1.3B-diffusers"):
        _generate(local, "Wan-AI/Wan2.1-VACE-1.3B-diffusers")


def test_settings_keep_the_model_and_name_a_bad_value():
    restored = GenerationSettings.from_dict(GenerationSettings(model=A14B).to_dict())
    assert restored.model == A14B and GenerationSettings.from_dict({"model": None}).model is None
    with pytest.raises(InputError) as caught:
        GenerationSettings.from_dict({"model": 14})
    assert caught.value.field == "model"


def test_a_shared_server_offers_only_the_catalog_and_what_is_installed(models_dir, tmp_path):
    from vace_ui.jobs.policy import JobPolicy

    local = LocalBackend("tiny-random", models_dir, device="cpu")
    shared = JobPolicy(tmp_path, shared=True)
    shared.check_model(A14B, local)  # installed catalog entry
    shared.check_model("tiny-random", local)  # the start-up model
    with pytest.raises(InputError, match="not offered here") as caught:
        shared.check_model(str(models_dir / "tiny-random"), local)  # a server folder
    assert caught.value.field == "model"
    with pytest.raises(InputError, match="not installed on this server"):
        shared.check_model("Wan-AI/Wan2.1-VACE-14B-diffusers", local)
    JobPolicy(tmp_path, allow_downloads=True, shared=True).check_model("Wan-AI/Wan2.1-VACE-14B-diffusers", local)
    JobPolicy(tmp_path).check_model(str(models_dir / "tiny-random"), local)  # one's own server: trusted


def test_the_settings_panel_reads_and_restores_the_picked_model(models_dir):
    import gradio as gr

    from vace_ui.ui.components import settings_panel

    with gr.Blocks():
        panel = settings_panel(local=LocalBackend("tiny-random", models_dir, device="cpu"))
    values = panel.values_for(GenerationSettings(model=A14B))
    assert values[panel.model] == A14B
    data = {component: values.get(component) for component in panel.components}
    assert panel.read(data).model == A14B
    assert panel.values_for(GenerationSettings(model="/a/server/folder"))[panel.model] == "tiny-random"


def test_the_parallel_backend_switches_per_job_without_waiting_on_itself(models_dir):
    import threading

    from vace_ui.backends.parallel_backend import ParallelBackend, ParallelGroup

    members = [{"rank": rank, "pid": 100 + rank, "device": "cpu"} for rank in range(2)]
    backend = ParallelBackend("tiny-random", models_dir, ParallelGroup("ulysses", 2, 1, "cpu", members))
    assert "control_2" not in backend.capabilities().settings  # its workers follow one control stream only
    backend._call = lambda pipe, **kwargs: LocalBackend._call(backend, pipe, **kwargs)  # no group here: run locally
    backend._apply_parallel = lambda pipe: None  # (no torch.distributed group either)
    done: dict = {}
    thread = threading.Thread(target=lambda: done.setdefault("result", _generate(backend, A14B)), daemon=True)
    thread.start()
    thread.join(timeout=300)
    assert "result" in done, "the job's model switch waited on the backend's own lock"
    assert done["result"].info["model"] == A14B
