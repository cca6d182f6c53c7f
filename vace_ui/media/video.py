"""Video files in and out, through PyAV: probing, streamed decoding, atomic H.264 MP4 writing.

Decoding is streamed frame by frame, so a long 1080p input is never held whole. Writing goes to a temporary file
in the target folder and is renamed into place only when complete: a failed or cancelled job leaves nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..core.constants import MAX_INPUT_PIXELS
from ..core.errors import MediaError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
METADATA_KEY = "comment"  # MP4 tag that carries the job's settings as JSON


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frame_count: int

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps if self.fps else 0.0


def _open(path: str | Path, field: str):
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(field, f"file not found: {path.name}.")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise MediaError(field, f"'{path.name}' is an image; a video (MP4, WebM, MOV) is expected here.")
    try:
        container = av.open(str(path))
    except Exception as error:
        raise MediaError(field, f"'{path.name}' could not be read as a video ({type(error).__name__}); "
                         "the file may be corrupt or in an unsupported format. Re-export it as MP4 (H.264).") from None
    if not container.streams.video:
        container.close()
        raise MediaError(field, f"'{path.name}' has no video stream (audio-only?); upload a video.")
    context = container.streams.video[0].codec_context
    if (context.width or 0) * (context.height or 0) > MAX_INPUT_PIXELS:
        container.close()
        raise MediaError(field, f"'{path.name}' is {context.width}x{context.height}; frames up to "
                         f"{MAX_INPUT_PIXELS // 1_000_000} megapixels are accepted. Scale it down first.")
    return container


def clip_seconds(path: str | Path, field: str = "video") -> float:
    """The clip's length from its header (no decoding); 0 when the header does not say."""
    container = _open(path, field)
    try:
        stream = container.streams.video[0]
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / 1_000_000
    finally:
        container.close()


def probe_video(path: str | Path, field: str = "video") -> VideoInfo:
    """Size, frame rate and exact frame count (counted by decoding when the header does not say)."""
    container = _open(path, field)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        count = 0
        width = height = 0
        try:
            for frame in container.decode(stream):
                if count == 0:
                    width, height = frame.width, frame.height
                count += 1
        except Exception as error:
            if count == 0:
                raise MediaError(field, f"'{Path(path).name}' could not be decoded ({type(error).__name__}); "
                                 "the file may be corrupt. Re-export it as MP4 (H.264).") from None
        if count == 0:
            raise MediaError(field, f"'{Path(path).name}' contains no frames.")
        if fps <= 0:
            fps = 16.0
        return VideoInfo(str(path), width, height, fps, count)
    finally:
        container.close()


def iter_frames(path: str | Path, indices: Sequence[int] | None = None, field: str = "video") -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames: all of them, or those at `indices` (ascending, repeats allowed), decoding once."""
    container = _open(path, field)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        wanted = list(indices) if indices is not None else None
        if wanted is not None and any(b < a for a, b in zip(wanted, wanted[1:])):
            raise ValueError("indices must be ascending")
        position = 0
        for index, frame in enumerate(container.decode(stream)):
            if wanted is None:
                yield frame.to_ndarray(format="rgb24")
                continue
            if position >= len(wanted):
                break
            if wanted[position] != index:
                continue
            array = frame.to_ndarray(format="rgb24")
            while position < len(wanted) and wanted[position] == index:
                yield array
                position += 1
        if wanted is not None and position < len(wanted):
            raise MediaError(
                field, f"ended at frame {index} before frame {wanted[position]}; the file may be truncated."
            )
    finally:
        container.close()


def read_frames(path: str | Path, indices: Sequence[int] | None = None, field: str = "video") -> np.ndarray:
    return np.stack(list(iter_frames(path, indices, field)))


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    metadata: dict | None = None,
    lossless: bool = False,
) -> Path:
    """Write RGB uint8 frames as browser-playable H.264 MP4 (yuv420p, faststart), atomically.

    `metadata` is stored as JSON in the MP4's comment tag. `lossless` uses qp 0 in yuv444p (exact for gray masks'
    luma; not all browsers play 4:4:4, so use it for files meant for other tools, not for preview).
    Sizes must be even (H.264 4:2:0); odd sizes are padded by one pixel on the right/bottom with edge pixels.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(suffix=".mp4", prefix=".partial-", dir=path.parent)
    os.close(handle)
    try:
        container = av.open(temp_name, mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            if metadata:
                container.metadata[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
            stream = None
            count = 0
            for frame in frames:
                frame = _even(np.ascontiguousarray(frame, dtype=np.uint8))
                if stream is None:
                    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    stream.width, stream.height = frame.shape[1], frame.shape[0]
                    stream.pix_fmt = "yuv444p" if lossless else "yuv420p"
                    stream.options = {"qp": "0"} if lossless else {"crf": "18", "preset": "veryfast"}
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise MediaError("video", "no frames to write.")
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
        os.replace(temp_name, path)
        return path
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _even(frame: np.ndarray) -> np.ndarray:
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def read_metadata(path: str | Path) -> dict:
    """The JSON settings embedded by write_video ({} when absent)."""
    import av

    with av.open(str(path)) as container:
        text = container.metadata.get(METADATA_KEY)
    return json.loads(text) if text else {}


def copy_with_metadata(source: str | Path, path: str | Path, metadata: dict) -> Path:
    """Re-mux a finished video (e.g. a provider's download) into `path` with `metadata`, without re-encoding."""
    import av

    path = Path(path)
    handle, temp_name = tempfile.mkstemp(suffix=".mp4", prefix=".partial-", dir=path.parent)
    os.close(handle)
    try:
        with (
            av.open(str(source)) as src,
            av.open(temp_name, "w", format="mp4", options={"movflags": "+faststart"}) as dst,
        ):
            dst.metadata[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
            in_stream = src.streams.video[0]
            out_stream = dst.add_stream_from_template(in_stream)
            for packet in src.demux(in_stream):
                if packet.dts is None:
                    continue
                packet.stream = out_stream
                dst.mux(packet)
        os.replace(temp_name, path)
        return path
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
