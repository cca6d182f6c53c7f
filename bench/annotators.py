"""Benchmark of the weight-free annotators (gray, canny, lineart, flow, layout).

1. Speed at 832x480: frames per second of each annotator (through `Annotator.process`, as the app runs it)
   next to the bare OpenCV/numpy operation it wraps, run on the same decoded frames; printed as a ratio
   ours / bare in time (target: within 1.5x).
2. Memory: peak RSS growth while annotating a 60 s 1080p MP4 (generated here into a temp dir), decoded with
   PyAV frame by frame, annotated at the 832x480 target size and encoded to an MP4 as it streams, each
   annotator in a fresh process (target: under 1.5 GB).

Usage: .venv/bin/python bench/annotators.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAMES = ["gray", "canny", "lineart", "flow", "layout"]
TARGET = (832, 480)


# ---------------------------------------------------------------- media


def synthetic_frames(width: int, height: int, count: int, seed: int = 0):
    """A panning textured scene with a bright box crossing it: edges, lines and motion for every annotator."""
    import cv2

    rng = np.random.default_rng(seed)
    pad = max(64, count * 2 + 16)
    small = rng.integers(0, 256, ((height + pad) // 4 + 1, (width + pad) // 4 + 1, 3), dtype=np.uint8)
    scene = cv2.resize(small, ((width + pad) // 4 * 4 + 4, (height + pad) // 4 * 4 + 4), interpolation=cv2.INTER_CUBIC)
    scene = cv2.GaussianBlur(scene, (0, 0), 1.5)
    box = (min(width, height) // 4, min(width, height) // 5)
    for index in range(count):
        dx, dy = index % (pad - 8), (index // 2) % (pad - 8)
        frame = scene[dy : dy + height, dx : dx + width].copy()
        x = int((width - box[0]) * (0.5 + 0.45 * np.sin(index / 40)))
        y = int((height - box[1]) * (0.5 + 0.3 * np.cos(index / 55)))
        frame[y : y + box[1], x : x + box[0]] = (250, 245, 30)
        yield frame


def write_mp4(path: Path, frames, fps: int, width: int, height: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode(path: Path):
    """RGB uint8 frames from `path`, one at a time (PyAV)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")


# ---------------------------------------------------------------- speed


def mask_of(frame: np.ndarray) -> np.ndarray:
    """The layout bench's mask track: the bright box (R and G high, B low) of the synthetic scene."""
    return (frame[..., 0] > 200) & (frame[..., 1] > 200) & (frame[..., 2] < 80)


def bare_operation(name: str):
    """The plain OpenCV / numpy call(s) each annotator wraps, producing the same picture, no framework."""
    import cv2

    if name == "gray":
        return lambda frames: [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB) for f in frames]
    if name == "canny":
        return lambda frames: [
            cv2.cvtColor(cv2.Canny(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), 100, 200), cv2.COLOR_GRAY2RGB) for f in frames
        ]
    if name == "lineart":
        try:
            from vace_ui.annotators.weights import import_quietly

            detector = import_quietly("controlnet_aux.lineart_standard").LineartStandardDetector()
            return lambda frames: [detector(f, output_type="np") for f in frames]
        except ImportError:
            from vace_ui.annotators.lineart import lineart_standard

            return lambda frames: [lineart_standard(f) for f in frames]
    if name == "flow":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

        def flows(frames):
            grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
            return [dis.calc(a, b, None) for a, b in zip(grays, grays[1:])]

        return flows
    if name == "layout":

        def contours(frames):
            out = []
            for frame in frames:
                canvas = np.full(frame.shape, 255, dtype=np.uint8)
                found, _ = cv2.findContours(
                    mask_of(frame).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
                )
                out.append(cv2.drawContours(canvas, found, -1, (0, 0, 0), 3))
            return out

        return contours
    raise ValueError(name)


def ours(name: str):
    from vace_ui import annotators

    annotator = annotators.get(name)
    annotator.load()
    if name == "layout":
        return lambda frames: list(annotator.process(frames, masks=[mask_of(f) for f in frames]))
    return lambda frames: list(annotator.process(frames))


def speed(frames: list[np.ndarray], repeats: int) -> list[dict]:
    """Best-of-`repeats` time of each, ours and bare alternating so load from other processes hits both alike."""
    rows = []
    for name in NAMES:
        mine, bare = ours(name), bare_operation(name)
        mine(frames[:3]), bare(frames[:3])  # warm up (imports, allocations)
        best = {"ours": float("inf"), "bare": float("inf")}
        for _ in range(repeats):
            for key, run in (("ours", mine), ("bare", bare)):
                start = time.perf_counter()
                run(frames)
                best[key] = min(best[key], time.perf_counter() - start)
        rows.append({
            "name": name,
            "ours_fps": len(frames) / best["ours"],
            "bare_fps": len(frames) / best["bare"],
            "ratio": best["ours"] / best["bare"],
        })
    return rows


# ---------------------------------------------------------------- memory (child process per annotator)


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (VmRSS) or its peak (VmHWM) in MiB, from /proc (Linux). The peak is
    per address space, so unlike ru_maxrss it does not carry the parent's peak across fork + exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(name: str, video: Path, out_dir: Path) -> dict:
    """Run in a fresh process: decode -> annotate at TARGET -> encode, sampling RSS."""
    import av

    from vace_ui import annotators

    baseline = rss_mb()
    annotator = annotators.get(name)
    start = time.perf_counter()
    annotator.load()
    loaded = rss_mb()
    peak_streaming = loaded
    frames = decode(video)
    kwargs = {}
    if name == "layout":
        frames, track = _split_masks(frames)
        kwargs["masks"] = track
    count = 0
    with av.open(str(out_dir / f"{name}.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = TARGET[0], TARGET[1], "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for picture in annotator.process(frames, size=TARGET, **kwargs):
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
            count += 1
            if count % 24 == 0:
                peak_streaming = max(peak_streaming, rss_mb())
        for packet in stream.encode():
            container.mux(packet)
    peak = rss_mb("VmHWM")
    return {
        "name": name,
        "frames": count,
        "seconds": time.perf_counter() - start,
        "baseline_mb": baseline,
        "load_mb": loaded - baseline,
        "peak_growth_mb": peak - baseline,
        "streaming_growth_mb": peak_streaming - loaded,
    }


def _split_masks(frames):
    """Tee the decoded frames into (frames, mask track) lazily: the mask for a frame is made when it is read."""
    pending: list[np.ndarray] = []

    def frame_stream():
        for frame in frames:
            pending.append(mask_of(frame))
            yield frame

    def mask_stream():
        while True:
            yield pending.pop(0) if pending else None

    return frame_stream(), mask_stream()


def memory(video: Path, out_dir: Path, names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        result = subprocess.run(
            [sys.executable, __file__, "--child", name, str(video), str(out_dir)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        if result.returncode != 0:
            raise SystemExit(f"{name} memory run failed:\n{result.stderr[-3000:]}")
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return rows


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short clips (speed: 24 frames; memory: 5 s input)")
    parser.add_argument("--only", nargs="*", choices=NAMES, help="annotators to run (default: all)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(memory_child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return
    names = args.only or NAMES
    NAMES[:] = names
    speed_frames, repeats = (24, 2) if args.quick else (96, 3)
    seconds, fps = (5, 24) if args.quick else (60, 24)
    import cv2  # noqa: F401  (imported here so `describe` reports its threads)

    from bench.environment import describe

    print(describe(("opencv-python-headless", "numpy", "av", "pillow", "controlnet-aux", "torch")))
    with tempfile.TemporaryDirectory(prefix="vace-annotator-bench-") as tmp:
        tmp_dir = Path(tmp)
        small = tmp_dir / "832x480.mp4"
        write_mp4(small, synthetic_frames(*TARGET, speed_frames), 16, *TARGET)
        frames = list(decode(small))
        print(f"\nSpeed at {TARGET[0]}x{TARGET[1]}: {len(frames)} decoded frames, best of {repeats}")
        print(f"{'annotator':<10} {'ours fps':>9} {'bare fps':>9} {'ours/bare time':>15}  bare op")
        bare_ops = {
            "gray": "cvtColor RGB2GRAY + GRAY2RGB",
            "canny": "cvtColor + Canny(100, 200) + GRAY2RGB",
            "lineart": "controlnet-aux LineartStandardDetector",
            "flow": "cvtColor + DIS(MEDIUM).calc",
            "layout": "findContours + drawContours",
        }
        for row in speed(frames, repeats):
            name, ours, bare = row["name"], row["ours_fps"], row["bare_fps"]
            print(f"{name:<10} {ours:>9.1f} {bare:>9.1f} {row['ratio']:>14.2f}x  {bare_ops[name]}")

        big = tmp_dir / "1080p.mp4"
        start = time.perf_counter()
        write_mp4(big, synthetic_frames(1920, 1080, seconds * fps, seed=1), fps, 1920, 1080)
        print(
            f"\nMemory: {seconds} s 1920x1080 at {fps} fps ({seconds * fps} frames, "
            f"{big.stat().st_size / 2**20:.1f} MiB, made in {time.perf_counter() - start:.0f} s), decoded with PyAV, "
            f"annotated at {TARGET[0]}x{TARGET[1]}, encoded"
        )
        print(
            f"{'annotator':<10} {'frames':>6} {'time s':>7} {'load MiB':>9} {'peak growth MiB':>16} "
            f"{'streaming growth MiB':>21}"
        )
        for row in memory(big, tmp_dir, names):
            print(f"{row['name']:<10} {row['frames']:>6} {row['seconds']:>7.1f} {row['load_mb']:>9.1f} "
                  f"{row['peak_growth_mb']:>16.1f} {row['streaming_growth_mb']:>21.1f}")
        print("\npeak growth = peak RSS minus RSS before load() (includes imports such as torch for controlnet-aux);")
        print("streaming growth = highest RSS sampled while streaming minus RSS right after load().")


if __name__ == "__main__":
    main()
