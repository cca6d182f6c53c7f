"""Long video memory: peak RSS of a 60 s repaint job against a 5 s one (target: under 30% growth).

Run from the repository root:  .venv/bin/python bench/long_memory.py

Each case runs in a fresh subprocess (so its ru_maxrss is its own): it writes a synthetic 832x480 16 fps H.264
source (5 s = 81 frames, 60 s = 961 frames, streamed to the encoder), then runs a real windowed repaint job through
`JobRunner` and `jobs/windows.py` (81-frame windows, 16 overlapping) on a stand-in model that returns the window's
compiled frames (no weights: this measures what the app holds - decoding, compiling, colour matching, stitching
and writing - not a model). The 5 s case is one window; both cases read the source per window and write the
output from the saved windows. Figures: peak RSS of each child and the growth of the 60 s case over the 5 s one.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

W, H, FPS = 832, 480, 16


def source_frames(count: int):
    """A moving gradient, one frame at a time (never the whole clip in memory)."""
    ramp = np.linspace(0, 255, W, dtype=np.float32)[None, :, None]
    for index in range(count):
        frame = np.empty((H, W, 3), np.uint8)
        frame[...] = ((ramp + index * 3) % 256).astype(np.uint8)
        frame[..., 1] = (np.arange(H)[:, None] + index) % 256
        yield frame


def child(seconds: int) -> None:
    from vace_ui.backends.base import Backend, BackendCapabilities, BackendResult
    from vace_ui.core.requests import Capability, RepaintRequest
    from vace_ui.core.settings import GenerationSettings
    from vace_ui.jobs.runner import JobRunner
    from vace_ui.jobs.store import JobStore
    from vace_ui.media.video import probe_video, write_video

    class EchoModel(Backend):
        name, label = "echo", "echo stand-in model"

        def capabilities(self) -> BackendCapabilities:
            return BackendCapabilities(frozenset(Capability), frozenset())

        def generate(self, job, reporter) -> BackendResult:
            return BackendResult(frames=job.inputs.video.copy(), fps=FPS)

    frames = seconds * FPS + 1  # 4n+1 output frames
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        write_video(folder / "source.mp4", source_frames(frames), FPS)
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        store = JobStore(folder / "outputs")
        runner = JobRunner(store, {"echo": EchoModel()})
        settings = GenerationSettings(prompt="a pan", size=f"{W}x{H}", num_frames=frames, window_frames=81,
                                      window_overlap=16, color_strength=1.0, seed=1)
        job = runner.run(runner.create(RepaintRequest(str(folder / "source.mp4"), "gray"), settings, "echo").id)
        assert job.status.value == "succeeded", job.error
        out = probe_video(job.output_path)
        store.close()
    print(json.dumps({"seconds": seconds, "frames_out": out.frame_count, "windows": job.info.get("windows", 1),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_before_job_mb": baseline / 1024}))


def main() -> None:
    results = []
    for seconds in (5, 60):
        done = subprocess.run([sys.executable, __file__, "--child", str(seconds)], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    short, long = results
    growth = 100 * (long["peak_rss_mb"] / short["peak_rss_mb"] - 1)
    from bench.environment import describe

    print(describe(("numpy", "opencv-python-headless", "av")))
    print(f"long video memory: {W}x{H} {FPS} fps repaint, 81-frame windows, 16 overlapping, echo stand-in model")
    for row in results:
        print(f"  {row['seconds']:>2} s source: {row['windows']} window(s), {row['frames_out']} frames out, "
              f"peak RSS {row['peak_rss_mb']:.0f} MB (before the job {row['rss_before_job_mb']:.0f} MB)")
    print(f"  peak RSS growth 60 s over 5 s: {growth:.1f}% (target < 30%)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
    else:
        main()
