"""Frames on demand: every frame served by seeking is the frame sequential decoding yields at that index."""

from __future__ import annotations

import copy
import dataclasses
import random
from fractions import Fraction

import numpy as np
import pytest

from vace_ui.core.errors import MediaError
from vace_ui.media.frames import ClipIndex, FrameCache, FrameReader, FrameSource
from vace_ui.media.video import iter_frames, write_video

W, H = 96, 64


def _picture(i: int) -> np.ndarray:
    """A textured frame that moves with i (so an off-by-one shows) and carries i in its brightness."""
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 200, (H, W + 400, 3), dtype=np.uint8)
    frame = texture[:, 3 * i % 400: 3 * i % 400 + W].copy()
    frame[:8] = (i * 5) % 256
    return frame


def _encode(path, count: int, options: dict, pts=None, time_base=None, fmt=None):
    import av

    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "30", **options}
        if time_base is not None:
            stream.codec_context.time_base = time_base
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(_picture(i), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _packets(path):
    import av

    with av.open(str(path)) as container:
        return [(p.pts, p.dts, p.is_keyframe) for p in container.demux(container.streams.video[0]) if p.size]


def _assert_exact_everywhere(path, expect_mode="indexed"):
    sequential = list(iter_frames(path))
    reader = FrameReader(path, cache_mb=0)  # no cache: every request decodes
    assert reader.mode == expect_mode, reader.fallback_reason
    assert reader.frame_count == len(sequential)
    orders = [list(range(len(sequential))), list(range(len(sequential)))[::-1]]
    orders.append(random.Random(3).sample(orders[0], len(orders[0])))
    for order in orders:
        for k in order:
            assert np.array_equal(reader.frame(k), sequential[k]), f"frame {k} differs ({reader.mode})"
    assert reader.mode == expect_mode, reader.fallback_reason
    if expect_mode == "indexed":
        assert reader.from_top == 0  # every request seeked, none fell back to decoding from the top
    return reader, sequential


def test_b_frames_every_frame_exact_in_any_order(tmp_path):
    path = _encode(tmp_path / "b.mp4", 50, {"bf": "3", "g": "12", "b_strategy": "0"})
    assert any(pts > dts for pts, dts, _ in _packets(path))  # really reordered
    reader, _ = _assert_exact_everywhere(path)
    assert len(reader.index.keyframes) >= 4


def test_variable_frame_rate_and_a_first_timestamp_that_is_not_zero(tmp_path):
    rng = np.random.default_rng(1)
    pts = (5000 + np.cumsum(rng.integers(10, 90, 45))).tolist()  # milliseconds, irregular, starting at ~5 s
    path = _encode(tmp_path / "vfr.mp4", 45, {"bf": "2", "g": "10"}, pts=pts, time_base=Fraction(1, 1000))
    steps = np.diff(sorted(p for p, _, _ in _packets(path)))
    assert len(set(steps.tolist())) > 5 and min(p for p, _, _ in _packets(path)) > 0
    _assert_exact_everywhere(path)


def test_open_gop_every_frame_exact(tmp_path):
    params = "open-gop=1:keyint=10:min-keyint=10:scenecut=0:bframes=3:b-adapt=0"
    path = _encode(tmp_path / "open.mp4", 48, {"x264-params": params})
    packets = _packets(path)
    keys = [i for i, (_, _, key) in enumerate(packets) if key]
    leading = [i for i in keys[1:] if i + 1 < len(packets) and packets[i + 1][0] < packets[i][0]]
    assert leading, "no open GOP: no picture after a keyframe is shown before it"
    _assert_exact_everywhere(path)


def test_long_gop_seeks_and_decodes_only_from_the_keyframe_before(tmp_path):
    path = _encode(tmp_path / "long.mp4", 130, {"bf": "3", "g": "60", "sc_threshold": "0"})
    reader, sequential = _assert_exact_everywhere(path)
    assert reader.index.keyframes[:3] == (0, 60, 120)
    fresh = FrameReader(path)
    fresh.frame(125)
    assert fresh.decoded <= 5 + 4  # the keyframe at 120 and what follows it, plus the decoder's reorder delay
    fresh.frame(126), fresh.frame(127)  # stepping forward continues the same decode: no new seek
    assert fresh.seeks == 1 and fresh.decoded <= 8 + 4
    before = fresh.decoded
    fresh.frame(59)  # the last of the first group: non-reference B-frames before it are not decoded at all
    assert fresh.seeks == 2 and fresh.decoded - before < 50


def test_an_untrustworthy_index_falls_back_to_sequential_and_stays_exact(tmp_path):
    path = _encode(tmp_path / "raw.h264", 30, {"bf": "2", "g": "8"}, fmt="h264")  # elementary stream: no pts
    reader, _ = _assert_exact_everywhere(path, expect_mode="sequential")
    assert reader.fallback_reason


def test_a_decode_that_disagrees_with_the_index_falls_back_and_stays_exact(tmp_path):
    path = _encode(tmp_path / "d.mp4", 30, {"bf": "2", "g": "6"})
    true_index = FrameReader(path).index
    missing = dataclasses.replace(true_index, pts=true_index.pts[:14] + true_index.pts[15:])  # one frame lost
    reader = FrameReader(path, cache_mb=0, index=missing)
    assert reader.mode == "indexed" and true_index.keyframes[:4] == (0, 6, 12, 18)
    sequential = list(iter_frames(path))
    assert np.array_equal(reader.frame(16), sequential[16])  # decoding from 12 meets the frame the index lacks
    assert reader.mode == "sequential" and "timestamp" in reader.fallback_reason
    for k in (20, 3, 25, 29):
        assert np.array_equal(reader.frame(k), sequential[k])


def test_index_refuses_repeated_timestamps_and_leading_frames():
    class P:
        def __init__(self, pts, dts, key, discard=False):
            self.pts, self.dts, self.is_keyframe, self.size, self.is_discard = pts, dts, key, 1, discard
            self.is_corrupt = False

    good = ClipIndex.from_packets([P(0, -1, True), P(2, 0, False), P(1, 1, False), P(3, 2, True)])
    assert good.reliable and good.pts == (0, 1, 2, 3) and good.keyframes == (0, 3) and good.key_dts == (-1, 2)
    assert not ClipIndex.from_packets([P(0, 0, True), P(0, 1, False)]).reliable
    assert not ClipIndex.from_packets([P(2, 0, True), P(1, 1, False)]).reliable  # shown before the first keyframe
    assert not ClipIndex.from_packets([P(0, 0, False), P(1, 1, True)]).reliable
    trimmed = ClipIndex.from_packets([P(0, 0, True, discard=True), P(1, 1, False), P(2, 2, False), P(3, 3, True)])
    assert trimmed.reliable and trimmed.pts == (1, 2, 3) and trimmed.keyframes == (0, 2)  # an edit list's cut


def test_truncated_file_gives_the_clear_media_error(tmp_path):
    frames = [_picture(i) for i in range(40)]
    whole = write_video(tmp_path / "whole.mp4", frames, 16)  # faststart: the index survives, the data does not
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.5)])
    with pytest.raises(MediaError) as sequential_error:
        list(iter_frames(cut, [39]))
    reader = FrameReader(cut)
    with pytest.raises(MediaError) as error:
        reader.frame(39)
    assert "truncated" in str(error.value) and "truncated" in str(sequential_error.value)
    assert np.array_equal(reader.frame(0), next(iter_frames(cut, [0])))


def test_cache_is_lru_and_bounded_in_bytes():
    cache = FrameCache(max_mb=3 * 1000 / 1024 / 1024)  # room for three 1000-byte frames
    arrays = {i: np.full(1000, i, dtype=np.uint8) for i in range(5)}
    for i in range(3):
        cache.put((i,), arrays[i])
    assert cache.get((0,)) is arrays[0]  # 0 is now the most recent
    cache.put((3,), arrays[3])
    assert cache.get((1,)) is None and cache.get((0,)) is arrays[0] and len(cache) == 3 and cache.bytes == 3000
    cache.put((9,), np.zeros(5000, dtype=np.uint8))  # larger than the budget: not kept, nothing evicted
    assert cache.get((9,)) is None and len(cache) == 3


def test_cached_frames_are_served_without_decoding_and_are_read_only(tmp_path):
    path = _encode(tmp_path / "c.mp4", 20, {"bf": "2", "g": "6"})
    reader = FrameReader(path)
    first = reader.frame(13)
    decoded, seeks = reader.decoded, reader.seeks
    assert reader.frame(13) is first and (reader.decoded, reader.seeks) == (decoded, seeks)
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1
    small = reader.frame(13, max_side=48)
    assert small.shape == (32, 48, 3)


def test_thumbnails_come_from_one_ascending_pass_at_the_right_frames(tmp_path):
    path = _encode(tmp_path / "t.mp4", 60, {"bf": "3", "g": "10", "sc_threshold": "0"})
    sequential = list(iter_frames(path))
    reader = FrameReader(path)
    thumbs = reader.thumbnails(count=4, height=32)
    assert [k for k, _ in thumbs] == [0, 20, 39, 59]
    assert all(image.shape == (32, 48, 3) for _, image in thumbs)
    for k, image in thumbs:  # the band at the top carries the frame number in its brightness
        assert abs(float(image[:3].mean()) - float(sequential[k][:6].mean())) < 6
    assert reader.decoded < 60 and reader.thumbnails(count=4, height=32) is thumbs


def test_frame_source_reopens_per_clip_and_copies_empty(tmp_path):
    one = _encode(tmp_path / "one.mp4", 12, {"g": "4"})
    two = write_video(tmp_path / "two.mp4", [np.full((H, W, 3), 250, np.uint8)] * 3, 16)
    source = FrameSource(cache_mb=8)
    assert np.array_equal(source.frame(one, 5), list(iter_frames(one, [5]))[0])
    reader = source.reader(one)
    assert source.reader(one) is reader
    assert source.frame(two, 2).mean() > 240 and source.reader(two) is not reader
    clone = copy.deepcopy(source)
    assert clone.reader(one) is not source.reader(one)
    with pytest.raises(MediaError):
        source.frame(two, 3)


def test_edit_tab_reads_frames_through_the_sessions_source(tmp_path):
    import gradio as gr

    from vace_ui.ui.edit_tab import read_frame
    from vace_ui.ui.mask_editor import MaskEditor

    path = _encode(tmp_path / "e.mp4", 30, {"bf": "3", "g": "8"})
    state = gr.State(MaskEditor())  # gr.State deep-copies its value: the session's source must allow it
    session = copy.deepcopy(state.value)
    sequential = list(iter_frames(path))
    for k in (29, 3, 17, 17):
        assert np.array_equal(read_frame(str(path), k, session.frames), sequential[k])
    assert session.frames.reader(str(path)).seeks <= 3


@pytest.mark.parametrize("suffix, fmt", [(".mkv", "matroska"), (".ts", "mpegts"), (".mov", "mov")])
def test_other_containers_seek_exactly_too(tmp_path, suffix, fmt):
    path = _encode(tmp_path / f"c{suffix}", 40, {"bf": "3", "g": "9"}, fmt=fmt)
    reader, _ = _assert_exact_everywhere(path)
    assert len(reader.index.keyframes) >= 4
