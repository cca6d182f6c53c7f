"""A shared server's rules without a browser: configuration defaults, owners in the store, per-owner limits,
LoRA places, typed settings errors, transparent masks, pixel caps, and a visitor's key never meeting the
operator's URL (or the operator's key a visitor's URL)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PIL import Image

from vace_ui.backends.remote import ReplicateBackend
from vace_ui.config import AppConfig, ProviderConfig
from vace_ui.core.errors import BackendUnavailable, InputError, MediaError
from vace_ui.core.requests import ReferenceRequest
from vace_ui.core.settings import GenerationSettings, LoraSpec
from vace_ui.jobs.policy import JobPolicy
from vace_ui.jobs.runner import JobRunner
from vace_ui.jobs.store import Job, JobStore
from vace_ui.media.images import read_image, read_mask_image, write_png
from vace_ui.ui.identity import owner_of, viewer_of

SMALL = GenerationSettings(prompt="a dog", size="128x128", num_frames=9, steps=2, seed=1)


def test_sharing_defaults_follow_the_deployment():
    local = AppConfig.from_env({})
    assert not local.shared and local.allow_ui_base_url and local.max_queued_jobs == 0
    for config in (AppConfig.from_env({}, share=True), AppConfig.from_env({"SPACE_ID": "me/app"}),
                   AppConfig.from_env({}, auth=True), AppConfig.from_env({}, host="0.0.0.0")):
        assert config.shared and not config.allow_ui_base_url and config.max_queued_jobs == 3
    assert AppConfig.from_env({"VACE_ALLOW_UI_BASE_URL": "1"}, share=True).allow_ui_base_url
    assert not AppConfig.from_env({"VACE_ALLOW_UI_BASE_URL": "0"}).allow_ui_base_url
    env = {"REPLICATE_API_TOKEN": "sk-operator-1234", "VACE_REPLICATE_BASE_URL": "http://127.0.0.1:9/v1",
           "VACE_ADMIN_USERS": "alice, bob", "VACE_REMOTE_POLL_SECONDS": "0.5"}
    config = AppConfig.from_env(env)
    assert config.provider("replicate").base_url == "http://127.0.0.1:9/v1"
    assert config.provider("replicate").poll_seconds == 0.5 and config.admin_users == {"alice", "bob"}
    assert "sk-operator-1234" not in repr(config) + repr(config.provider("replicate"))


def test_the_operator_key_goes_only_to_the_operator_url():
    backend = ReplicateBackend(provider=ProviderConfig(base_url="http://operator.test/v1", api_key="sk-operator-1"))
    assert backend.api_key() == "sk-operator-1"
    assert backend.for_session(None, None) is backend
    with pytest.raises(BackendUnavailable, match="typed in Settings"):
        backend.for_session(None, "http://visitor.test/v1")  # another URL without the visitor's own key
    mine = backend.for_session("sk-visitor-2", "http://visitor.test/v1")
    assert (mine.base_url, mine.api_key()) == ("http://visitor.test/v1", "sk-visitor-2")
    own_key = backend.for_session("sk-visitor-2", "http://operator.test/v1/")
    assert (own_key.base_url, own_key.api_key()) == ("http://operator.test/v1", "sk-visitor-2")
    assert (backend.base_url, backend.api_key()) == ("http://operator.test/v1", "sk-operator-1")  # untouched


def test_owners_in_the_store_and_an_old_store_gains_the_column(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with sqlite3.connect(folder / "jobs.sqlite") as db:  # a store from before owners existed
        db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, capability TEXT, backend TEXT, status TEXT, request "
                   "TEXT, settings TEXT, created_at TEXT, finished_at TEXT, output_path TEXT, error TEXT, progress "
                   "TEXT, remote_task_id TEXT, notes TEXT, timings TEXT, info TEXT)")
        db.execute("INSERT INTO jobs (id, capability, backend, status, created_at) VALUES "
                   "('old', 'reference', 'local', 'succeeded', '1')")
    store = JobStore(folder)
    store.save(Job("a1", "reference", "local", owner="user:alice"))
    store.save(Job("b1", "reference", "local", owner="user:bob"))
    assert [job.id for job in store.list(owner="user:alice")] == ["a1"]
    assert {job.id for job in store.list()} == {"old", "a1", "b1"}
    with pytest.raises(KeyError, match="no job b1"):
        store.get("b1", "user:alice")
    with pytest.raises(KeyError, match="no job nope"):
        store.get("nope", "user:alice")  # the same answer as another owner's job
    config = AppConfig(shared=True, admin_users=frozenset({"root"}))
    assert {job.id for job in store.list(owner=viewer_of(config, "root", None, None).owners)} == {"old", "a1", "b1"}
    local = viewer_of(AppConfig(shared=False), None, "0" * 32, "s1")
    assert local.owner == owner_of(None, "0" * 32, "other-session")  # the browser id, not the page session
    assert {job.id for job in store.list(owner=local.owners)} == {"old"}  # localhost keeps its older jobs
    store.close()


def test_the_n_plus_first_queued_job_of_one_owner_is_refused(tmp_path, tiny_backend):
    store = JobStore(tmp_path / "out")
    runner = JobRunner(store, {"local": tiny_backend}, policy=JobPolicy(tmp_path / "loras", max_queued_jobs=2))
    for _ in range(2):
        runner.create(ReferenceRequest(()), SMALL, "local", owner="user:alice")
    with pytest.raises(InputError, match="jobs: you already have 2 job.s. queued or running; this server allows 2"):
        runner.create(ReferenceRequest(()), SMALL, "local", owner="user:alice")
    runner.create(ReferenceRequest(()), SMALL, "local", owner="user:bob")  # another owner is not blocked
    finished = runner.run(store.list(owner="user:alice")[0].id)
    assert finished.status.value == "succeeded"
    runner.create(ReferenceRequest(()), SMALL, "local", owner="user:alice")  # one finished: room again
    store.close()


def test_loras_only_from_the_lora_folder_or_the_hub_when_downloads_are_allowed(tmp_path):
    folder = tmp_path / "loras"
    folder.mkdir()
    (folder / "style.safetensors").write_bytes(b"x")
    (tmp_path / "secret.safetensors").write_bytes(b"x")
    policy = JobPolicy(folder)

    def message(path: str, policy=policy) -> str:
        with pytest.raises(InputError) as caught:
            policy.local_loras(GenerationSettings(prompt="p", loras=(LoraSpec(path),)))
        return str(caught.value)

    assert policy.local_loras(GenerationSettings(prompt="p", loras=(LoraSpec("style.safetensors"),))).loras[0].path \
        == str((folder / "style.safetensors").resolve())
    existing, missing = message("../../../../etc/passwd"), message("../../../../etc/no-such-file")
    assert "outside the LoRA folder" in existing and "models/loras/" in existing
    assert existing.replace("passwd", "X") == missing.replace("no-such-file", "X")  # no existence oracle
    assert "outside the LoRA folder" in message("../secret.safetensors")
    assert "outside the LoRA folder" in message(str(tmp_path / "secret.safetensors"))
    absent = message("gone.safetensors")
    assert "'gone.safetensors' is not in the LoRA folder" in absent and "style.safetensors" in absent
    assert str(tmp_path) not in absent
    assert "does not download" in message("someone/some-lora")
    hub = JobPolicy(folder, allow_downloads=True)
    assert hub.local_loras(GenerationSettings(prompt="p", loras=(LoraSpec("someone/some-lora"),))).loras[0].path \
        == "someone/some-lora"


@pytest.mark.parametrize("data, message", [
    ({"seed": "x"}, "seed: 'x' is not a whole number."),
    ({"steps": 2.5}, "steps: 2.5 is not a whole number."),
    ({"num_frames": [9]}, "num_frames: [9] is not a whole number."),
    ({"guidance_scale": "high"}, "guidance_scale: 'high' is not a number."),
    ({"prompt": 5}, "prompt: must be text, not int."),
    ({"vae_tiling": "maybe"}, "vae_tiling: 'maybe' is not true or false."),
    ({"solver": "fast"}, "solver: 'fast' is not one of unipc, euler, dpm++."),
    ({"loras": "style.safetensors"}, "loras: must be a list"),
    ({"loras": [{"file": "a"}]}, "lora 1: must be an object with \"path\""),
    ({"loras": [{"path": "a.safetensors", "scale": "big"}]}, "lora 1 scale: 'big' is not a number."),
])
def test_settings_of_the_wrong_type_name_their_field(data, message):
    with pytest.raises(InputError) as caught:
        GenerationSettings.from_dict({"prompt": "p", **data})
    assert str(caught.value).startswith(message)


def test_a_transparent_mask_paints_nothing_and_alpha_decides(tmp_path):
    clear = np.zeros((32, 32, 4), np.uint8)
    clear[..., :3] = 255  # white but fully transparent
    write_png(tmp_path / "clear.png", clear)
    assert not (read_mask_image(tmp_path / "clear.png") > 0).any()
    stroke = clear.copy()
    stroke[8:16, 8:16, 3] = 255
    write_png(tmp_path / "stroke.png", stroke)
    mask = read_mask_image(tmp_path / "stroke.png") > 0
    assert mask[8:16, 8:16].all() and mask.sum() == 64
    opaque = np.zeros((32, 32, 4), np.uint8)
    opaque[..., 3] = 255
    opaque[:16, :, :3] = 255  # an opaque RGBA mask: its colour decides
    write_png(tmp_path / "opaque.png", opaque)
    opaque_mask = read_mask_image(tmp_path / "opaque.png") > 0
    assert opaque_mask[:16].all() and not opaque_mask[16:].any()


def test_huge_images_and_videos_are_refused_before_decoding(tmp_path):
    Image.new("1", (12000, 12000)).save(tmp_path / "huge.png")
    with pytest.raises(MediaError, match="is 12000x12000; images up to 16 megapixels"):
        read_image(tmp_path / "huge.png", "reference 1")
    from vace_ui.media.video import probe_video, write_video

    write_video(tmp_path / "small.mp4", np.zeros((2, 64, 96, 3), np.uint8), 16)
    assert probe_video(tmp_path / "small.mp4").frame_count == 2
    # a frame over the cap is refused from the header: 4112x4112 is above 4096*4096 pixels
    write_video(tmp_path / "big.mp4", np.zeros((1, 4112, 4112, 3), np.uint8), 16)
    with pytest.raises(MediaError, match="frames up to 16 megapixels"):
        probe_video(tmp_path / "big.mp4")


def test_job_errors_name_server_folders_by_label_only(tmp_path):
    from vace_ui.backends.local import LocalBackend

    models, outputs = tmp_path / "srv-models", tmp_path / "srv-outputs"
    models.mkdir()
    store = JobStore(outputs)
    backend = LocalBackend("Wan-AI/Wan2.1-VACE-1.3B-diffusers", models, device="cpu")
    runner = JobRunner(store, {"local": backend}, folders={"models": models})
    job = runner.run(runner.create(ReferenceRequest(()), SMALL, "local").id)
    assert job.status.value == "failed" and "--local-dir models/Wan2.1-VACE-1.3B-diffusers" in job.error
    assert str(tmp_path) not in job.error
    store.close()


def test_every_provider_names_its_variables_in_config_only():
    from vace_ui.backends.remote import REMOTE_BACKENDS
    from vace_ui.config import PROVIDER_ENV

    assert set(REMOTE_BACKENDS) == set(PROVIDER_ENV)
    for name, backend in REMOTE_BACKENDS.items():
        assert (backend.key_env, backend.base_url_env) == (PROVIDER_ENV[name].key, PROVIDER_ENV[name].base_url)
    comfy = REMOTE_BACKENDS["comfyui"](provider=ProviderConfig.from_env("comfyui", {"VACE_COMFYUI_UNET": "u.gguf"}))
    assert comfy.unet == "u.gguf"


def test_the_space_login_needs_a_space_with_oauth_and_names_its_owner():
    space = {"SYSTEM": "spaces", "SPACE_ID": "me/app", "OAUTH_CLIENT_ID": "id"}
    assert AppConfig.from_env(space).hf_login
    assert not AppConfig.from_env({**space, "SYSTEM": ""}).hf_login  # off a Space Gradio only mocks the login
    assert not AppConfig.from_env({"SYSTEM": "spaces", "SPACE_ID": "me/app"}).hf_login  # hf_oauth not enabled
    config = AppConfig.from_env({**space, "VACE_ADMIN_USERS": "carol"})
    assert viewer_of(config, None, "a1" * 16, None, "alice").owner == "hf:alice"
    assert viewer_of(config, None, "a1" * 16, None, "alice").owner != viewer_of(config, "alice", None, None).owner
    assert viewer_of(config, None, None, None, "carol").admin and not viewer_of(config, None, None, None, "bob").admin
    assert viewer_of(config, None, "a1" * 16, None, None).owner == owner_of(None, "a1" * 16, None)


def test_a_file_handed_to_one_owner_is_no_input_for_another(tmp_path):
    from vace_ui.jobs.policy import owner_digest

    owned = tmp_path / "vace-owned"
    policy = JobPolicy(tmp_path / "loras", upload_roots=(tmp_path,), owned_root=owned)
    restored = owned / owner_digest("hf:alice") / "x1" / "video.mp4"
    policy.check_uploads([("video", str(restored))], "hf:alice")
    policy.check_uploads([("video", str(tmp_path / "upload" / "video.mp4"))], "hf:bob")  # a plain upload
    for owner in ("hf:bob", ""):
        with pytest.raises(InputError, match="video: expects an uploaded file; a path on the server is not accepted"):
            policy.check_uploads([("video", str(restored))], owner)
