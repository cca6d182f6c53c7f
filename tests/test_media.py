"""Media I/O: streamed decoding, atomic H.264 writing with metadata, and clear errors for bad files."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from vace_ui.core.errors import MediaError
from vace_ui.media.images import read_image, read_mask_image, write_mask_png, write_png
from vace_ui.media.video import iter_frames, probe_video, read_frames, read_metadata, write_video


def _audio_only(path):
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _zero_frames(path):
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(16))
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"


def test_write_then_read_round_trip_is_h264_with_metadata(tmp_path):
    import av

    frames = np.zeros((9, 64, 96, 3), dtype=np.uint8)
    frames[:, :, :48] = 200
    path = write_video(tmp_path / "out.mp4", frames, 16, {"prompt": "x"})
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (96, 64, 16, 9)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert read_metadata(path) == {"prompt": "x"}
    decoded = read_frames(path)
    assert abs(int(decoded[0, 10, 10, 0]) - 200) <= 3 and decoded[0, 10, 80, 0] <= 3


def test_selected_indices_decode_in_one_pass_with_repeats(tmp_path):
    frames = np.stack([np.full((32, 32, 3), i * 20, dtype=np.uint8) for i in range(10)])
    path = write_video(tmp_path / "n.mp4", frames, 16)
    picked = [int(f[0, 0, 0]) for f in iter_frames(path, [0, 0, 3, 9])]
    assert [round(v / 20) for v in picked] == [0, 0, 3, 9]


def test_failed_write_leaves_nothing(tmp_path):
    def broken():
        yield np.zeros((32, 32, 3), dtype=np.uint8)
        raise RuntimeError("generator broke")

    with pytest.raises(RuntimeError):
        write_video(tmp_path / "bad.mp4", broken(), 16)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"\x00" * 300), "could not be read as a video"),
        (_audio_only, "no video stream"),
        (_zero_frames, "no"),
        (lambda p: p.write_text("hello"), "could not be read as a video"),
    ],
    ids=["corrupt", "audio-only", "zero-frames", "text"],
)
def test_bad_videos_get_clear_errors(tmp_path, make, message):
    path = tmp_path / "in.mp4"
    make(path)
    with pytest.raises(MediaError) as raised:
        probe_video(path)
    assert message in str(raised.value) and raised.value.field == "video"


def test_image_given_as_video_and_video_given_as_image(tmp_path, media_dir):
    with pytest.raises(MediaError, match="is an image"):
        probe_video(media_dir / "ref.png")
    with pytest.raises(MediaError, match="is a video"):
        read_image(media_dir / "square.mp4")
    with pytest.raises(MediaError, match="could not be read as an image"):
        read_image(media_dir / "notes.txt")


def test_png_masks_stay_binary_and_brush_alpha_counts(tmp_path):
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[5:10, 5:10, 3] = 255  # a black brush stroke on a transparent layer
    write_png(tmp_path / "layer.png", rgba)
    mask = read_mask_image(tmp_path / "layer.png")
    assert mask.shape == (20, 30) and mask.dtype == bool and mask[5:10, 5:10].all() and mask.sum() == 25
    write_mask_png(tmp_path / "mask.png", mask)
    stored = np.asarray(Image.open(tmp_path / "mask.png"))
    assert stored.ndim == 2 and set(np.unique(stored)) == {0, 255} and (stored[5:10, 5:10] == 255).all()
