"""What a benchmark's figures were measured on, printed by every bench with its figures: Python and platform, the
CPU model, cores and thread counts (OpenCV, torch, the BLAS environment), and the versions of the libraries it
depends on. Also `write_section`, which keeps each bench's part of bench/RESULTS.md apart from the others'."""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
                    "OPENCV_FOR_THREADS_NUM", "OPENCV_CPU_DISABLE", "NPY_DISABLE_CPU_FEATURES")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere what `platform` knows)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else (platform.processor() or platform.machine() or "unknown")


def versions(packages: list[str] | tuple[str, ...]) -> str:
    """'numpy 2.4.6, opencv-python-headless 5.1.0.95, ...' (installed distributions; 'not installed' if absent)."""
    parts = []
    for name in packages:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def threads() -> str:
    """Cores, usable cores and the thread counts of the libraries already imported, plus thread/CPU variables."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"{os.cpu_count()} cores ({usable} usable)"]
    if "cv2" in sys.modules:
        cv2 = sys.modules["cv2"]
        parts.append(f"cv2 threads {cv2.getNumThreads()}")
        parts.append(f"cv2 cpu {' '.join(f for f in cv2.getCPUFeaturesLine().split() if f.startswith('*'))}")
    if "torch" in sys.modules:
        parts.append(f"torch threads {sys.modules['torch'].get_num_threads()}")
    set_vars = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    if set_vars:
        parts.append(" ".join(set_vars))
    return "; ".join(parts)


def describe(packages: list[str] | tuple[str, ...]) -> str:
    """Three lines: platform, CPU and threads, library versions."""
    return "\n".join([
        f"environment: Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {platform.libc_ver()[0]} {platform.libc_ver()[1]}".rstrip(),
        f"cpu: {cpu_model()}; {threads()}",
        f"packages: {versions(packages)}",
    ])


def write_section(path: Path, name: str, text: str) -> None:
    """Put `text` in `path` between markers for `name`, replacing that bench's previous section only."""
    start, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else (old.rstrip() + "\n\n" + block).lstrip()
    path.write_text(new)
