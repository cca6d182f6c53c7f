"""Frames on demand: time to show frame k of a clip through `FrameReader` (seeking), cold and cached.

Run from the repository root:  .venv/bin/python bench/media.py [--repeats 3] [--no-baseline] [--no-long-gop]

The bench makes its clips with PyAV in a temporary folder: 30 fps H.264 (High profile: CABAC, deblocking, 3
B-frames in a pyramid, 2 references) of a panned textured picture with sensor-like noise, at 832x480 and 1920x1080,
10 s and 60 s. Like a phone recording, a keyframe every second (GOP 30); one more 60 s 1080p clip uses x264's
default keyframe interval (up to 250 frames, as many web exports and this app's own outputs have). The 60 s clips
are the 10 s encode repeated six times by re-muxing (packets copied with shifted timestamps): 1800 real frames
without six times the encoding time.

For each clip: opening (the packet index), frame k at 0/25/50/75/100 % cold (not cached: a seek to the keyframe
before k and decoding from there; median of the repeats, wall and CPU seconds), the next frame after it (the
decode continues), k again from the cache, and 16 timeline thumbnails in one pass; with the baseline, the last
frame the way the Edit tab read it before (decoding from frame 0, `iter_frames`), also a check that both give the
same pixels. Each clip is measured in a fresh process; peak memory is its resident set, sampled every 5 ms while
it opens, reads and thumbnails (the baseline excluded). Figures are printed last.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench.environment import cpu_model, describe  # noqa: E402
from vace_ui.media.frames import FrameReader  # noqa: E402
from vace_ui.media.video import iter_frames  # noqa: E402

FPS = 30
POSITIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def encode_segment(path: Path, width: int, height: int, frames: int, keyint: int | None) -> Path:
    rng = np.random.default_rng(0)
    pan = 600
    coarse = rng.integers(0, 255, ((height + pan) // 24, (width + pan) // 24, 3), dtype=np.uint8)
    fine = rng.integers(0, 255, ((height + pan) // 3, (width + pan) // 3, 3), dtype=np.uint8)
    size = (width + pan, height + pan)
    canvas = cv2.addWeighted(cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC), 0.8,
                             cv2.resize(fine, size, interpolation=cv2.INTER_LINEAR), 0.2, 0)
    noise = [np.clip(rng.normal(0, 3, (height, width, 3)), 0, 255).astype(np.uint8) for _ in range(4)]
    params = "cabac=1:deblock=1,0:bframes=3:b-pyramid=normal:ref=2" + (f":keyint={keyint}" if keyint else "")
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23", "x264-params": params}
        for i in range(frames):
            x, y = (2 * i) % pan, i % pan
            picture = cv2.add(np.ascontiguousarray(canvas[y:y + height, x:x + width]), noise[i % 4])
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def repeat_clip(segment: Path, path: Path, times: int) -> Path:
    """`times` copies of `segment` back to back, re-muxed (it starts on an IDR frame, so each copy decodes alone)."""
    with av.open(str(segment)) as source:
        packets = [p for p in source.demux(source.streams.video[0]) if p.size]
        span = round(len(packets) / FPS / packets[0].time_base)  # the segment's length in its time base
        with av.open(str(path), "w", options={"movflags": "+faststart"}) as target:
            stream = target.add_stream_from_template(source.streams.video[0])
            for copy in range(times):
                for packet in packets:
                    clone = av.Packet(bytes(packet))
                    clone.pts, clone.dts = packet.pts + copy * span, packet.dts + copy * span
                    clone.duration, clone.time_base, clone.stream = packet.duration, packet.time_base, stream
                    clone.is_keyframe = packet.is_keyframe
                    target.mux(clone)
    return path


class PeakRSS:
    """The process's peak resident set while active, sampled every 5 ms (VmRSS from /proc)."""

    def __enter__(self):
        self.peak, self._stop = self.now(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.now())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @staticmethod
    def now() -> int:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0


def timed(call):
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(path: Path, repeats: int, baseline: bool) -> dict:
    """One clip, in a process of its own (so the resident-set figures are this clip's)."""
    rss_before = PeakRSS.now()
    with PeakRSS() as rss:
        reader, open_s, _ = timed(lambda: FrameReader(path))
        count = reader.frame_count
        ks = [round(p * (count - 1)) for p in POSITIONS]
        cold = {k: [] for k in ks}
        for run in range(repeats):
            reader.cache.clear()
            for k in ks if run % 2 == 0 else ks[::-1]:  # every request lands in another group: a seek each time
                _, wall, cpu = timed(lambda: reader.frame(k))
                cold[k].append((wall, cpu))
        following = {}
        for k in ks[:-1]:  # the frame after one just decoded: the decode continues, no seek
            reader.cache.clear()
            reader.frame(k)
            following[k] = timed(lambda: reader.frame(k + 1))[1]
        cached = {k: min(timed(lambda: reader.frame(k))[1] for _ in range(5)) for k in ks}
        cache_mb = reader.cache.bytes / 2**20
        thumbs_reader = FrameReader(path)
        _, thumbs_s, _ = timed(lambda: thumbs_reader.thumbnails(16, 72))
    result = {
        "frames": count, "mode": reader.mode, "gop": int(max(np.diff(reader.index.keyframes + (count,)))),
        "open_s": open_s, "cold": {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
                                   for k, v in cold.items()},
        "next_s": following, "cached": cached, "thumbs_s": thumbs_s, "thumbs_decoded": thumbs_reader.decoded,
        "cache_mb": cache_mb, "rss_before_mb": rss_before / 2**20, "rss_peak_mb": rss.peak / 2**20,
    }
    if baseline:
        last, wall, _ = timed(lambda: next(iter_frames(path, [count - 1])))
        result["baseline_last_s"] = wall
        result["same_pixels"] = bool(np.array_equal(last, reader.frame(count - 1)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip decoding from frame 0 (the old way)")
    parser.add_argument("--no-long-gop", action="store_true", help="skip the 60 s 1080p clip with x264's GOP")
    args = parser.parse_args()

    clips = [(832, 480, 30), (1920, 1080, 30)] + ([] if args.no_long_gop else [(1920, 1080, None)])
    rows = []
    with tempfile.TemporaryDirectory(prefix="vace-media-bench-") as folder:
        for width, height, keyint in clips:
            made = time.perf_counter()
            segment = encode_segment(Path(folder) / f"{width}x{height}_{keyint}_10s.mp4", width, height, 10 * FPS,
                                     keyint)
            longer = repeat_clip(segment, Path(folder) / f"{width}x{height}_{keyint}_60s.mp4", 6)
            print(f"made {width}x{height} clips in {time.perf_counter() - made:.1f} s", flush=True)
            for seconds, path in ((10, segment), (60, longer)):
                if keyint is None and seconds == 10:
                    continue
                mbps = path.stat().st_size * 8 / seconds / 1e6
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    result = pool.submit(measure, path, args.repeats, not args.no_baseline).result()
                rows.append((f"{width}x{height} {seconds}s", keyint, mbps, result))
                print(f"measured {rows[-1][0]}", flush=True)

    print()
    print(f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}, "
          f"numpy {np.__version__}, OpenCV {cv2.__version__}, Python {platform.python_version()}")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} threads (decoder threads: FFmpeg's automatic choice); "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(describe(("av", "numpy", "opencv-python-headless")))
    print("Times in seconds: wall (CPU of all threads in brackets); cold = not cached, median of the repeats.")
    for name, keyint, mbps, r in rows:
        gop = "x264 default GOP (keyint 250)" if keyint is None else f"GOP {keyint}"
        print(f"\n{name}, {gop} (longest {r['gop']} frames), {mbps:.1f} Mbit/s, {r['frames']} frames, "
              f"mode {r['mode']}; open + index {r['open_s']:.3f}")
        print("  k            " + "".join(f"{k:>16}" for k in r["cold"]))
        print("  cold         " + "".join(f"{w:>8.3f} ({c:.3f})" for w, c in r["cold"].values()))
        print("  next frame   " + "".join(f"{r['next_s'][k]:>16.3f}" if k in r["next_s"] else f"{'-':>16}"
                                          for k in r["cold"]))
        print("  cached       " + "".join(f"{v:>16.6f}" for v in r["cached"].values()))
        first, last = r["cold"][min(r["cold"])][0], r["cold"][max(r["cold"])][0]
        print(f"  worst cold {max(w for w, _ in r['cold'].values()):.3f}, last/first {last / first:.1f}, "
              f"cached worst {max(r['cached'].values()):.6f}; 16 thumbnails in one pass {r['thumbs_s']:.2f} "
              f"({r['thumbs_decoded']} frames decoded)")
        if "baseline_last_s" in r:
            print(f"  before (decoding from frame 0) the last frame took {r['baseline_last_s']:.2f}; "
                  f"same pixels: {r['same_pixels']}")
        print(f"  memory: resident {r['rss_before_mb']:.0f} MB before opening, peak {r['rss_peak_mb']:.0f} MB "
              f"while reading and thumbnailing (baseline excluded); cache holds {r['cache_mb']:.0f} MB")


if __name__ == "__main__":
    main()
