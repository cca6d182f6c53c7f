"""The lock files agree with the ranges: every direct requirement is locked at a version its range allows, every
locked package has hashes, the test lock keeps the app lock's versions, and the lock is closed under the
dependencies of the packages installed here at their locked versions (torch's nvidia-* wheels included).
Regenerate with `bash scripts/lock.sh` when this fails."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# The lock's target (scripts/lock.sh): CPython 3.11 on Linux x86_64.
TARGET = dict(default_environment(), python_version="3.11", python_full_version="3.11.0", sys_platform="linux",
              platform_system="Linux", platform_machine="x86_64", os_name="posix", implementation_name="cpython",
              platform_python_implementation="CPython", extra="")


def ranges(path: Path) -> list[Requirement]:
    """Requirements of a requirements file, following `-r` includes."""
    out = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            out += ranges(path.parent / line.split(None, 1)[1])
        else:
            out.append(Requirement(line))
    return out


def lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """{canonical name: (pinned version, hashes)} of a hash-pinned lock file."""
    text = path.read_text().replace("\\\n", " ")
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        found = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)\s*", line)
        assert found, f"{path.name}: not an exact pin with hashes: {line[:80]}"
        name, version, hashes = found.groups()
        out[canonicalize_name(name)] = (version, re.findall(r"sha256:([0-9a-f]{64})", hashes))
    return out


APP, DEV = lock(ROOT / "requirements.lock"), lock(ROOT / "requirements-dev.lock")


@pytest.mark.parametrize("ranges_file, locked", [("requirements.txt", APP), ("requirements-dev.txt", DEV)])
def test_every_direct_requirement_is_locked_inside_its_range(ranges_file, locked):
    for requirement in ranges(ROOT / ranges_file):
        if requirement.marker is not None and not requirement.marker.evaluate(TARGET):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} ({ranges_file}) is missing from the lock"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement.name}=={version} in the lock is outside {ranges_file}'s {requirement.specifier}")


def test_every_pin_has_hashes_and_the_test_lock_keeps_the_app_versions():
    for name, (version, hashes) in {**APP, **DEV}.items():
        assert hashes, f"{name}=={version} has no hash"
    assert set(APP) <= set(DEV)
    moved = {name: (APP[name][0], DEV[name][0]) for name in APP if APP[name][0] != DEV[name][0]}
    assert not moved, f"the test lock moves app packages: {moved}"


def test_lock_holds_the_cuda_torch_and_its_nvidia_wheels():
    assert DEV["torch"][0].startswith("2.14.") and "+" not in DEV["torch"][0]  # PyPI's CUDA build, not +cpu
    assert DEV["torchvision"][0].startswith("0.29.")
    assert {"nvidia-cublas", "nvidia-cudnn-cu13", "nvidia-nccl-cu13", "triton"} <= set(APP)


def test_lock_is_closed_under_the_dependencies_of_what_is_installed_here():
    """For each locked package installed here at its locked version, its own requirements (for the lock's
    target) are locked too, at versions they allow. Packages installed at other versions are not judged."""
    checked = 0
    for name, (version, _) in DEV.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        checked += 1
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            if requirement.marker is not None and not requirement.marker.evaluate(TARGET):
                continue
            dependency = canonicalize_name(requirement.name)
            assert dependency in DEV, f"{name} {version} needs {spec}, which the lock lacks"
            assert requirement.specifier.contains(DEV[dependency][0], prereleases=True), (
                f"{name} {version} needs {spec}; the lock has {DEV[dependency][0]}")
    assert checked >= 10, "too few locked packages are installed here to check the lock's closure"


def test_lock_script_targets_what_the_readme_says():
    script = (ROOT / "scripts" / "lock.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "--python-version 3.11" in script and "--python-platform x86_64-manylinux_2_28" in script
    assert "--generate-hashes" in script
    assert "requirements.lock" in readme and "bash scripts/lock.sh" in readme
    assert "-r requirements-dev.lock" in (ROOT / "scripts" / "test.sh").read_text()
