"""Bad input from the API of a shared server, through gradio_client against the real app: each a clear message
naming its field, nothing read from a server path, the same answer whether a server file exists or not; and the
upload and clip-length limits of a shared deployment."""

from __future__ import annotations

import logging

import pytest
from gradio_client import Client, handle_file

SETTINGS = {"prompt": "a dog runs", "size": "128x128", "num_frames": 9, "steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def client(running_app):
    return Client(running_app.url, verbose=False)


def _error(client, *args, api_name="/reference") -> str:
    with pytest.raises(Exception) as raised:
        client.predict(*args, api_name=api_name)
    text = str(raised.value)
    assert "Traceback" not in text and "upstream Gradio app has raised an exception" not in text
    return text


@pytest.mark.parametrize("lora, message", [
    ("../../../../etc/passwd", "lora 1: '../../../../etc/passwd' is outside the LoRA folder"),
    ("../../../../etc/no-such-file", "lora 1: '../../../../etc/no-such-file' is outside the LoRA folder"),
    ("/etc/hostname", "lora 1: '/etc/hostname' is outside the LoRA folder"),
    ("missing.safetensors", "lora 1: 'missing.safetensors' is not in the LoRA folder (models/loras/)"),
    ("someone/a-lora", "does not download (VACE_ALLOW_DOWNLOADS is off)"),
])
def test_lora_paths_are_limited_to_the_lora_folder(client, running_app, lora, message):
    before = len(running_app.services.store.list(10_000))
    text = _error(client, None, None, None, "", {**SETTINGS, "loras": [{"path": lora, "scale": 1.0}]})
    assert message in text and "weight_name" not in text
    assert len(running_app.services.store.list(10_000)) == before  # refused before a job exists


@pytest.mark.parametrize("settings, message", [
    ({"seed": "x"}, "seed: 'x' is not a whole number."),
    ({"steps": "many"}, "steps: 'many' is not a whole number."),
    ({"fit": "stretch"}, "fit: 'stretch' is not one of keep_aspect, crop, pad."),
    ({"loras": {"path": "a"}}, "loras: must be a list"),
])
def test_settings_values_of_the_wrong_type_name_the_field(client, settings, message):
    assert message in _error(client, None, None, None, "", {**SETTINGS, **settings})


def test_mask_type_and_roles_name_their_field(client, media_dir):
    text = _error(client, handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")), 0,
                  None, "wobble", 0.05, SETTINGS, api_name="/edit")
    assert "mask_type: 'wobble' is not one of tracking, fixed." in text
    text = _error(client, handle_file(str(media_dir / "ref.png")), None, None, "hero", SETTINGS)
    assert "references[0].role: 'hero' is not one of subject, background" in text


def test_a_server_path_where_an_upload_is_expected_is_refused_without_reading_it(client, caplog):
    caplog.set_level(logging.INFO)
    for path in ("/etc/passwd", "/etc/no-such-file"):
        text = _error(client, path, None, None, "subject", SETTINGS)
        assert "reference_1: expects an uploaded file; a path on the server is not accepted" in text
    text = _error(client, "/etc/passwd", "gray", 1.0, None, SETTINGS, api_name="/repaint")
    assert "video: expects an uploaded file" in text
    assert "Traceback" not in caplog.text


def test_a_shared_server_limits_upload_size_and_clip_length(tmp_path, tiny_models_dir, media_dir):
    from vace_ui.config import AppConfig
    from vace_ui.services import create_services
    from vace_ui.ui.app import build_app, launch_options

    config = AppConfig(model="tiny-random", models_dir=tiny_models_dir, sam_model="tiny-random", device="cpu",
                       output_dir=tmp_path / "outputs", shared=True, max_upload_mb=0.5, max_clip_seconds=1.0)
    services = create_services(config)
    demo = build_app(services)
    demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                **launch_options(services))
    try:
        shared = Client(demo.local_url, verbose=False)
        (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\x00" * 600_000)
        with pytest.raises(Exception, match="exceeds the maximum file size of 524288 bytes"):
            shared.predict(handle_file(str(tmp_path / "big.png")), None, None, "subject", SETTINGS,
                           api_name="/reference")
        text = _error(shared, handle_file(str(media_dir / "square.mp4")), "gray", 1.0, None, SETTINGS,
                      api_name="/repaint")
        assert "video: is 2.5 s long; this server accepts clips up to 1 s" in text
        path, job = shared.predict(handle_file(str(media_dir / "ref.png")), None, None, "subject", SETTINGS,
                                   api_name="/reference")
        assert job["status"] == "succeeded"  # within the limits, the same server works
    finally:
        demo.close()
