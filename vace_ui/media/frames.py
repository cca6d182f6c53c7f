"""Frames on demand: random access to one clip's frames for display, through PyAV's seeking.

`FrameReader` opens a clip once, indexes it from its packets (presentation timestamps and keyframes, read by
demuxing only: no decoding), and serves frame k by seeking to the keyframe at or before k and decoding forward from
there, so showing the last frame of a long clip costs about what showing the first does. Frame k is the k-th frame
that sequential decoding (`video.iter_frames`) yields, pixel for pixel: the index orders frames by timestamp, which
is how the decoder outputs them, and every decode after a seek is checked against that order. When the index cannot
be trusted (packets without timestamps, repeated timestamps, corrupt packets, a stream that does not start on a
keyframe, frames shown before it) or a decode disagrees with it, the reader falls back to decoding from the start,
still exact. (A decode checks the index from the keyframe it starts at on: a frame the decoder silently dropped
earlier in the clip would go unnoticed.)

Decoded frames are kept in a small LRU cache bounded in bytes, so stepping back and forth is instant, and timeline
thumbnails come from one ascending pass that decodes only the groups of pictures holding them. Nothing here holds a
whole clip: the compile path keeps streaming with `iter_frames`.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import MediaError
from .video import _open

DEFAULT_CACHE_MB = 64.0


@dataclass(frozen=True)
class ClipIndex:
    """Where each frame of a video stream is, from its packets alone.

    `pts[k]` is the presentation timestamp of frame k (frames in display order, as decoders output them);
    `keyframes` the frame numbers of the keyframes, ascending (0, the start of the file, always among them).
    `reliable` is False, with `reason`, when seeking by this index could not be trusted to be frame-exact.
    """

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    reliable: bool
    reason: str = ""
    packets: int = 0  # packets holding a frame, with or without timestamps
    key_dts: tuple[int | None, ...] = ()  # each keyframe's decode timestamp (None: unknown)

    @property
    def frame_count(self) -> int:
        return len(self.pts)

    def keyframe_slot(self, index: int) -> int:
        """The position in `keyframes` of the last keyframe at or before frame `index`."""
        return max(0, bisect.bisect_right(self.keyframes, index) - 1)

    @classmethod
    def from_packets(cls, packets) -> ClipIndex:
        """Build from an iterable of PyAV packets of one video stream, in decode order."""
        entries: list[tuple[int, bool, int | None]] = []
        reason, count, first = "", 0, None
        for packet in packets:
            if packet.size == 0:  # the demuxer's flush packet
                continue
            if first is None:
                first = (packet.pts, bool(packet.is_keyframe))
            if packet.is_discard:  # decoded but never shown (e.g. what an edit list cuts off): not a frame
                continue
            count += 1
            if packet.is_corrupt:
                reason = reason or "corrupt packets"
            if packet.pts is None:
                reason = reason or "packets without timestamps"
                continue
            entries.append((packet.pts, bool(packet.is_keyframe), packet.dts))
        if not entries:
            return cls((), (0,), False, reason or "no packets", count)
        pts = sorted(entry[0] for entry in entries)
        if len(set(pts)) != len(pts):
            reason = reason or "repeated timestamps"
        if not first[1]:
            reason = reason or "the stream does not start on a keyframe"
        elif first[0] is None or pts[0] < first[0]:
            reason = reason or "frames shown before the first keyframe"
        position = {value: k for k, value in enumerate(pts)}
        dts = {position[p]: d for p, key, d in entries if key}
        keys = tuple(sorted({0} | set(dts)))  # 0: the start of the file, a keyframe or not
        return cls(tuple(pts), keys, not reason, reason, count, tuple(dts.get(k) for k in keys))


class FrameCache:
    """LRU of decoded frames, bounded in bytes (a frame larger than the whole budget is not kept)."""

    def __init__(self, max_mb: float = DEFAULT_CACHE_MB):
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.bytes = 0

    def get(self, key: tuple) -> np.ndarray | None:
        array = self._items.get(key)
        if array is not None:
            self._items.move_to_end(key)
        return array

    def put(self, key: tuple, array: np.ndarray) -> None:
        if array.nbytes > self.max_bytes:
            return
        if key in self._items:
            self.bytes -= self._items.pop(key).nbytes
        self._items[key] = array
        self.bytes += array.nbytes
        while self.bytes > self.max_bytes:
            self.bytes -= self._items.popitem(last=False)[1].nbytes

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)


class _IndexMismatch(Exception):
    """A decode after a seek disagreed with the index: fall back to sequential decoding."""


class FrameReader:
    """One clip, opened once: `frame(k)` returns frame k (RGB uint8, read-only) by seeking, cached.

    Thread-safe (one decoder behind a lock). `mode` is "indexed" (seeking) or "sequential" (decoding from the
    start, when the index is unreliable; `fallback_reason` says why). Close it, or let it be collected.
    """

    def __init__(self, path: str | Path, field: str = "video", cache_mb: float = DEFAULT_CACHE_MB,
                 index: ClipIndex | None = None):
        """Open `path` and index it (or use `index`, one built for this file before)."""
        self.path, self.field = str(path), field
        self._lock = threading.Lock()
        self.cache = FrameCache(cache_mb)
        self._thumbnails: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
        self.index = index or self._build_index()
        self.fallback_reason = self.index.reason
        self.mode = "indexed" if self.index.reliable else "sequential"
        self._positions = {value: k for k, value in enumerate(self.index.pts)}
        self._container = None
        self._reopen()
        self._frames: Iterator[tuple[int, object]] | None = None
        self._next = -1  # the frame number `_frames` yields next (-1: nothing under way)
        self._target: int | None = None  # the timestamp of the frame being decoded to
        self.seeks = 0  # how many times decoding restarted (a seek, or a restart from the start)
        self.decoded = 0  # frames the decoder has output
        self.from_top = 0  # decodes started from the top of the file (sequential mode, or no seek landed)

    def _build_index(self) -> ClipIndex:
        container = _open(self.path, self.field)
        try:
            return ClipIndex.from_packets(container.demux(container.streams.video[0]))
        except MediaError:
            raise
        except Exception as error:
            raise self._error(f"could not be indexed ({type(error).__name__}); the file may be corrupt.") from None
        finally:
            container.close()

    @property
    def frame_count(self) -> int:
        """Frames by the packet index: exact when the index is reliable, else the count of packets (an estimate)."""
        return self.index.frame_count if self.index.reliable else self.index.packets

    def frame(self, index: int, max_side: int | None = None) -> np.ndarray:
        """Frame `index` as (H, W, 3) uint8; with `max_side`, scaled down to fit it (for display only)."""
        key = (int(index), max_side)
        with self._lock:
            cached = self.cache.get(key)
            if cached is None:
                cached = self._convert(self._decode(int(index)), max_side)
                self.cache.put(key, cached)
            return cached

    def thumbnails(self, count: int = 16, height: int = 72) -> list[tuple[int, np.ndarray]]:
        """`count` evenly spaced (frame number, small RGB image) pairs for a timeline, decoded once per reader."""
        key = (count, height)
        if key not in self._thumbnails:
            total = self.frame_count
            picks = sorted({round(i * (total - 1) / max(1, count - 1)) for i in range(count)}) if total else []
            self._thumbnails[key] = list(zip(picks, self._thumbnail_pass(picks, height)))
        return self._thumbnails[key]

    def _thumbnail_pass(self, picks: list[int], height: int) -> Iterator[np.ndarray]:
        for index in picks:
            with self._lock:
                yield self._convert(self._decode(index), height=height)

    def close(self) -> None:
        with self._lock:
            self._frames = None
            self._container.close()

    # decoding ------------------------------------------------------------------------------------------------------

    def _decode(self, index: int):
        if index < 0:
            raise ValueError("frame index must be >= 0")
        if self.mode == "indexed" and index >= self.index.frame_count:
            raise self._error(f"ended at frame {self.index.frame_count - 1} before frame {index}; "
                              "the file may be truncated.")
        try:
            return self._advance(index)
        except _IndexMismatch as mismatch:
            self.mode, self.fallback_reason = "sequential", str(mismatch)
            self._frames, self._next = None, -1
            return self._advance(index)

    def _advance(self, index: int):
        start = 0 if self.mode == "sequential" else self.index.keyframes[self.index.keyframe_slot(index)]
        if self._frames is None or not start <= self._next <= index:
            self._frames = self._from_start() if self.mode == "sequential" else self._from_keyframe(index)
            self.seeks += 1
        self._target = self.index.pts[index] if self.mode == "indexed" else None
        last = self._next - 1
        try:
            for last, frame in self._frames:
                self._next = last + 1
                if last == index:
                    return frame
                if last > index:
                    raise _IndexMismatch(f"frame {index} was never output")
        except BaseException:
            self._frames, self._next = None, -1
            raise
        self._frames, self._next = None, -1
        raise self._error(f"ended at frame {last} before frame {index}; the file may be truncated.")

    def _from_start(self) -> Iterator[tuple[int, object]]:
        self._reopen()  # as `iter_frames` does: no seek, whatever the timestamps
        self.from_top += 1
        return enumerate(self._decoded(self._container.demux(self._stream)))

    def _reopen(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = _open(self.path, self.field)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"

    def _from_keyframe(self, index: int) -> Iterator[tuple[int, object]]:
        """Seek to the keyframe before `index` and yield (frame number, frame) from it, checked against the index.

        Demuxers seek by presentation (MP4, Matroska) or by decode timestamps (MPEG-TS), so both are tried, and
        landing after the wanted keyframe retries from earlier ones. When no seek lands on an indexed keyframe at
        or before it, decoding starts from the top of a reopened file, as `iter_frames` does (still checked).
        """
        slot = self.index.keyframe_slot(index)
        wanted = self.index.keyframes[slot]
        for attempt in range(slot, max(-1, slot - 3), -1):
            timestamps = (self.index.pts[self.index.keyframes[attempt]], self.index.key_dts[attempt])
            for timestamp in dict.fromkeys(t for t in timestamps if t is not None):
                try:
                    self._container.seek(timestamp, stream=self._stream)
                except Exception:
                    continue
                packets = iter(self._container.demux(self._stream))
                first = next((p for p in packets if p.size), None)  # the flush packets at the end stay in
                if first is None or first.is_discard or not first.is_keyframe or first.pts not in self._positions:
                    continue
                if self._positions[first.pts] <= wanted:
                    return self._checked(self._positions[first.pts], itertools.chain([first], packets))
        self._reopen()
        self.from_top += 1
        return self._checked(0, self._container.demux(self._stream))

    def _checked(self, number: int, packets) -> Iterator[tuple[int, object]]:
        """(frame number, frame) from the decode, numbered by timestamp; each must be an indexed one, ascending."""
        landed, previous = self.index.pts[number], number - 1
        for frame in self._decoded(packets, skip_before_target=True):
            if frame.pts is not None and frame.pts < landed:
                continue  # an open GOP's leading pictures, which need the previous group: not ours to show
            number = self._positions.get(frame.pts, -1)
            if number <= previous:
                raise _IndexMismatch(f"decoded timestamp {frame.pts} out of the index's order")
            yield number, frame
            previous = number

    def _decoded(self, packets, skip_before_target: bool = False) -> Iterator[object]:
        """Decoded frames. With `skip_before_target`, pictures shown before the frame wanted and used by no other
        picture (non-reference) are not decoded at all: exact, since nothing depends on them, and with B-frames
        about half the pictures after a seek. Packets flagged discard are decoded too: the decoder drops their
        frames itself."""
        context = self._stream.codec_context
        try:
            for packet in packets:
                if skip_before_target:
                    early = packet.pts is not None and self._target is not None and packet.pts < self._target
                    context.skip_frame = "NONREF" if early else "DEFAULT"
                for frame in packet.decode():
                    self.decoded += 1
                    yield frame
        except MediaError:
            raise
        except Exception as error:
            raise self._error(f"could not be decoded ({type(error).__name__}); the file may be truncated or "
                              "corrupt. Re-export it as MP4 (H.264).") from None

    def _convert(self, frame, max_side: int | None = None, height: int | None = None) -> np.ndarray:
        """RGB of `frame`, scaled down (never up) to fit `max_side` or to `height` when either is given."""
        width, full_height = frame.width, frame.height
        height_out = full_height
        scale = min(max_side / max(width, full_height) if max_side else 1.0, height / full_height if height else 1.0)
        if scale < 1:
            width, height_out = max(2, round(width * scale / 2) * 2), max(2, round(full_height * scale / 2) * 2)
        array = frame.to_ndarray(format="rgb24", width=width, height=height_out)
        array.flags.writeable = False
        return array

    def _error(self, message: str) -> MediaError:
        return MediaError(self.field, f"'{Path(self.path).name}' {message}")


class FrameSource:
    """A session's frames on demand: one `FrameReader` for whichever clip is current, reopened when it changes.

    Safe to put in per-session state: a copy starts empty (no open file is shared between sessions).
    """

    def __init__(self, cache_mb: float = DEFAULT_CACHE_MB):
        self.cache_mb = cache_mb
        self._reader: FrameReader | None = None
        self._key: tuple | None = None
        self._lock = threading.Lock()

    def reader(self, path: str | Path, field: str = "video") -> FrameReader:
        stat = Path(path).stat() if Path(path).is_file() else None
        key = (str(path), stat.st_mtime_ns, stat.st_size) if stat else (str(path),)
        with self._lock:
            if self._reader is None or self._key != key:
                if self._reader is not None:
                    self._reader.close()
                self._reader, self._key = None, None
                self._reader, self._key = FrameReader(path, field, self.cache_mb), key
            return self._reader

    def frame(self, path: str | Path, index: int, max_side: int | None = None) -> np.ndarray:
        return self.reader(path).frame(index, max_side)

    def __deepcopy__(self, memo) -> FrameSource:
        return FrameSource(self.cache_mb)
