"""The benches' shared helpers: the environment line every bench prints, RESULTS.md sections, and the tracking
bench's numpy warps (which stand in for cv2.warpAffine so the clips do not depend on OpenCV's rounding)."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data as photos

from bench import environment
from bench import tracking as bench


def test_describe_names_the_python_cpu_threads_and_versions():
    text = environment.describe(("numpy", "opencv-python-headless", "no-such-package-xyz"))
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0].startswith("environment: Python ")
    assert environment.cpu_model() in lines[1] and f"cv2 threads {cv2.getNumThreads()}" in lines[1]
    assert f"numpy {np.__version__}" in lines[2] and "no-such-package-xyz not installed" in lines[2]
    assert lines[2].split("opencv-python-headless ")[1].startswith(cv2.__version__)


def test_write_section_replaces_only_that_bench_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    environment.write_section(path, "a", "first A")
    environment.write_section(path, "b", "first B")
    environment.write_section(path, "a", "second A")
    text = path.read_text()
    assert "second A" in text and "first B" in text and "first A" not in text
    assert text.index("second A") < text.index("first B")  # kept in place
    assert text.count("<!-- a: begin -->") == 1 and text.count("<!-- b: end -->") == 1


def test_numpy_warp_matches_opencv_and_the_shift_path_matches_the_general_one():
    image = photos.astronaut()
    matrix = cv2.getRotationMatrix2D((256, 256), 33.3, 0.77)
    matrix[:, 2] += (50.3, 20.7)
    assert np.allclose(bench._rotation((256, 256), 33.3, 0.77), cv2.getRotationMatrix2D((256, 256), 33.3, 0.77))
    ours = bench._warp(image, matrix, (640, 480)).astype(int)
    theirs = cv2.warpAffine(image, matrix, (640, 480), flags=cv2.INTER_LINEAR).astype(int)
    inside = cv2.erode(cv2.warpAffine(np.ones(image.shape[:2], np.uint8), matrix, (640, 480)), np.ones((5, 5)))
    difference = np.abs(ours - theirs)[inside > 0]
    assert difference.max() <= 2 and (difference <= 1).mean() > 0.99
    assert (ours[inside == 0] == 0).mean() > 0.9  # zero border outside the moved image
    shift = np.array([[1.0, 0, -10.25], [0, 1, -3.5]])
    fast = bench._warp(image, shift, (400, 300)).astype(int)
    ys, xs = np.mgrid[0:300, 0:400].astype(np.float64)
    general = bench._sample(image, xs + 10.25, ys + 3.5).astype(int)
    assert np.abs(fast - general).max() <= 1
    mask = np.zeros((200, 300), np.uint8)
    cv2.ellipse(mask, (150, 100), (120, 60), 0, 0, 360, 1, -1)
    near = bench._warp(mask, matrix, (640, 480), nearest=True)
    reference = cv2.warpAffine(mask, matrix, (640, 480), flags=cv2.INTER_NEAREST)
    assert (near != reference).sum() < 0.02 * reference.sum()
