"""Each named endpoint called through gradio_client against the real Gradio server, with the tiny model."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from vace_ui.media.video import probe_video

SETTINGS = {"prompt": "a dog runs", "size": "128x128", "num_frames": 9, "steps": 2, "seed": 3}


@pytest.fixture(scope="module")
def client(running_app):
    return Client(running_app.url, verbose=False)


def test_reference(client, media_dir):
    path, job = client.predict(handle_file(str(media_dir / "ref.png")), None, None, "subject", SETTINGS,
                               api_name="/reference")
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (128, 128, 9)
    assert job["status"] == "succeeded" and job["settings"]["seed"] == 3


def test_repaint(client, media_dir):
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), "canny", 0.5, None, SETTINGS,
                               api_name="/repaint")
    assert probe_video(path).frame_count == 9
    assert any("control: canny" in note for note in job["notes"])


def test_edit(client, media_dir):
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")),
                               0, None, "fixed", 0.1, SETTINGS, api_name="/edit")
    assert probe_video(path).frame_count == 9


def test_edit_takes_mask_shape_and_cut_occluders_after_settings(client, media_dir):
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")),
                               0, None, "tracking", 0.0, SETTINGS, "box", False, api_name="/edit")
    assert probe_video(path).frame_count == 9
    assert any("shape box" in note for note in job["notes"]) and any("tracked" in note for note in job["notes"])
    with pytest.raises(Exception, match="mask_shape: 'wobble' is not one of exact, box, hull"):
        client.predict(handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")),
                       0, None, "fixed", 0.0, SETTINGS, "wobble", True, api_name="/edit")


def test_edit_takes_the_tracker_last(client, media_dir):
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")),
                               0, None, "tracking", 0.0, SETTINGS, "exact", True, "sam2", api_name="/edit")
    assert probe_video(path).frame_count == 9
    assert any("by the sam2 tracker" in note for note in job["notes"])
    with pytest.raises(Exception, match="tracker: 'sam9' is not one of"):
        client.predict(handle_file(str(media_dir / "square.mp4")), handle_file(str(media_dir / "mask.png")),
                       0, None, "tracking", 0.0, SETTINGS, "exact", True, "sam9", api_name="/edit")


def test_edit_takes_a_mask_text_last(client, media_dir):
    """A text prompt instead of a painted mask: the tiny random SAM 3 masks every frame (noise, wiring only)."""
    path, job = client.predict(handle_file(str(media_dir / "square.mp4")), None, 0, None, "fixed", 0.0, SETTINGS,
                               "exact", True, "flow", "the dog", api_name="/edit")
    assert probe_video(path).frame_count == 9
    assert any("SAM 3 text prompt 'the dog'" in note for note in job["notes"])


def test_extend(client, media_dir):
    path, _ = client.predict(handle_file(str(media_dir / "square30.mp4")), None, None,
                             handle_file(str(media_dir / "ref.png")), SETTINGS, api_name="/extend")
    assert probe_video(path).frame_count == 47 + 9 + 1  # 3 s kept (less one, for 4n+1), 9 new, the last frame


def test_outpaint(client, media_dir):
    path, _ = client.predict(handle_file(str(media_dir / "square.mp4")), 1.0, 1.0, 1.5, 1.5, SETTINGS,
                             api_name="/outpaint")
    info = probe_video(path)
    assert info.width > info.height


@pytest.mark.parametrize(
    "endpoint, args, message",
    [
        ("/repaint", ("corrupt.mp4", "gray", 1.0, None), "could not be read as a video"),
        ("/repaint", ("ref.png", "gray", 1.0, None), "is an image; a video"),
        ("/repaint", ("square.mp4", "gray", 3.0, None), "strength"),
        ("/edit", ("square.mp4", None, 0, None, "fixed", 0.05), "mask: is missing"),
        ("/outpaint", ("square.mp4", 1.0, 1.0, 2.5, 1.0), "left_scale"),
    ],
)
def test_bad_input_gets_a_clear_message_and_server_keeps_serving(client, media_dir, endpoint, args, message):
    files = [handle_file(str(media_dir / arg)) if isinstance(arg, str) and "." in arg else arg for arg in args]
    with pytest.raises(Exception) as raised:
        client.predict(*files, SETTINGS, api_name=endpoint)
    assert message in str(raised.value)
    assert "Traceback" not in str(raised.value)
    path, _ = client.predict(None, None, None, "", SETTINGS, api_name="/reference")  # still serving
    assert probe_video(path).frame_count == 9


def test_over_long_prompt_and_too_many_frames(client):
    with pytest.raises(Exception, match="at most 2000"):
        client.predict(None, None, None, "", {**SETTINGS, "prompt": "x" * 2001}, api_name="/reference")
    with pytest.raises(Exception, match="4n\\+1"):
        client.predict(None, None, None, "", {**SETTINGS, "num_frames": 10}, api_name="/reference")


def test_api_info_lists_the_named_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/reference", "/repaint", "/edit", "/extend", "/outpaint"} <= names
