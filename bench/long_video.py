"""Long video: colour drift between sliding windows with correction off and on, and the seams at window boundaries.

Run from the repository root:  .venv/bin/python bench/long_video.py

The source is a static photo (scikit-image's astronaut, scaled up) panned 1 px per frame: 273 frames at 832x480,
16 fps, written as H.264 in a temporary folder. The job is a real repaint job through `JobRunner` and
`jobs/windows.py` (4 windows of 81 frames, 16 overlapping; the last keeps 19 to stay 4n+1) on a fake "model":
each window it returns the true frames of its span, continuing the colours of the frames it was told to keep (it
fits the LAB statistics of the kept frames, as a model continuing its context does), then adds a bias of its own:
window 2 +8 red, window 3 gamma 1.1, window 4 -8 green. Without correction these accumulate.

Figures: drift = the LAB distance (mean L, a, b per frame, averaged over the overlap) between the output's and the
source's colour change from the first window's overlap (frames 65-80) to the last window's (192-210): off, on, and
the share of the injected drift removed (target >= 80%). Seams = mean absolute frame-to-frame difference at each
window boundary (where a window's cross-fade begins and where it ends) over the median difference between
neighbouring frames inside windows (target <= 1.5x).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench.environment import describe  # noqa: E402
from vace_ui.backends.base import Backend, BackendCapabilities, BackendResult  # noqa: E402
from vace_ui.core.color import ColorMatch  # noqa: E402
from vace_ui.core.requests import Capability, RepaintRequest  # noqa: E402
from vace_ui.core.settings import GenerationSettings  # noqa: E402
from vace_ui.core.windows import plan_windows  # noqa: E402
from vace_ui.jobs.runner import JobRunner  # noqa: E402
from vace_ui.jobs.store import JobStore  # noqa: E402
from vace_ui.media.video import read_frames, write_video  # noqa: E402

TOTAL, WINDOW, OVERLAP, W, H = 273, 81, 16, 832, 480


def pan_video() -> np.ndarray:
    from skimage import data

    photo = cv2.resize(data.astronaut(), (W + TOTAL, int((W + TOTAL) * 1.0)), interpolation=cv2.INTER_CUBIC)
    top = (photo.shape[0] - H) // 2
    return np.stack([photo[top : top + H, index : index + W] for index in range(TOTAL)])


def gamma(frames: np.ndarray, value: float) -> np.ndarray:
    table = np.clip(np.rint(255.0 * (np.arange(256) / 255.0) ** value), 0, 255).astype(np.uint8)
    return table[frames]


BIASES = [
    lambda f: f,
    lambda f: np.clip(f.astype(int) + (8, 0, 0), 0, 255).astype(np.uint8),
    lambda f: gamma(f, 1.1),
    lambda f: np.clip(f.astype(int) + (0, -8, 0), 0, 255).astype(np.uint8),
]


class BiasedModel(Backend):
    """Returns the true frames of each window, in the colours of the kept frames, plus a bias of its own."""

    name, label = "fake", "biased fake model"

    def __init__(self, truth: np.ndarray):
        self.truth, self.plan = truth, plan_windows(TOTAL, WINDOW, OVERLAP)

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(frozenset(Capability), frozenset())

    def generate(self, job, reporter) -> BackendResult:
        window = self.plan.windows[job.extra["window"]]
        frames = self.truth[window.start : window.end]
        if window.keep:
            frames = ColorMatch.fit(frames[: window.keep], job.inputs.video[: window.keep]).apply(frames)
        return BackendResult(frames=BIASES[window.index](frames), fps=16)


def lab_means(frames: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(frame.astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(0)
                     for frame in frames])


def run(folder: Path, source: Path, truth: np.ndarray, strength: float) -> tuple[np.ndarray, float]:
    store = JobStore(folder / f"outputs-{strength:g}")
    runner = JobRunner(store, {"fake": BiasedModel(truth)})
    settings = GenerationSettings(prompt="a slow pan", size="832x480", num_frames=TOTAL, window_frames=WINDOW,
                                  window_overlap=OVERLAP, color_strength=strength, seed=1)
    started = time.perf_counter()
    job = runner.run(runner.create(RepaintRequest(str(source), "gray"), settings, "fake").id)
    seconds = time.perf_counter() - started
    assert job.status.value == "succeeded", job.error
    frames = read_frames(job.output_path)
    store.close()
    return frames, seconds


def main() -> None:
    plan = plan_windows(TOTAL, WINDOW, OVERLAP)
    first = range(plan.windows[1].start, plan.windows[0].end)
    last = range(plan.windows[-1].start, plan.windows[-2].end)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        write_video(folder / "pan.mp4", pan_video(), 16)
        truth = read_frames(folder / "pan.mp4")
        true_lab = lab_means(truth)
        true_change = true_lab[list(last)].mean(0) - true_lab[list(first)].mean(0)
        results = {}
        for strength in (0.0, 1.0):
            frames, seconds = run(folder, folder / "pan.mp4", truth, strength)
            lab = lab_means(frames)
            change = lab[list(last)].mean(0) - lab[list(first)].mean(0)
            diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))  # diffs[i]: i -> i+1
            edges = sorted({w.start - 1 for w in plan.windows[1:]} | {w.start + w.keep - 1 for w in plan.windows[1:]})
            inside = np.median(np.delete(diffs, edges))
            results[strength] = (float(np.linalg.norm(change - true_change)), float(diffs[edges].max() / inside),
                                 seconds, len(frames))
    off, on = results[0.0][0], results[1.0][0]
    print(f"long video: {TOTAL} frames at {W}x{H}, {plan.describe()}")
    for strength, (drift, seam, seconds, count) in results.items():
        print(f"  correction {strength:g}: drift {drift:.2f} LAB, worst seam {seam:.2f}x the median "
              f"neighbouring-frame difference, {count} frames out, {seconds:.1f} s")
    print(f"  drift removed by correction: {100 * (1 - on / off):.1f}% (target >= 80%); "
          f"worst seam with correction {results[1.0][1]:.2f}x (target <= 1.5x)")
    print(describe(("numpy", "opencv-python-headless", "scikit-image", "av")))

if __name__ == "__main__":
    main()
