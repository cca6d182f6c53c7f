"""Where annotator weights live, and how they are found without touching the network.

Every weight file has a home under the models folder: `<models>/<folder>/<filename>`, where `<models>` is
`$VACE_MODELS_DIR` or, by default, `models/` at the repository root. A file already in the Hugging Face cache
(from an earlier download) is used as well. Nothing is downloaded unless `VACE_ALLOW_DOWNLOADS=1`, so a machine
without internet gets an immediate error naming the files, never a hanging request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import config
from .base import AnnotatorError

MODELS_ENV = "VACE_MODELS_DIR"
DOWNLOAD_ENV = "VACE_ALLOW_DOWNLOADS"
DEVICE_ENV = "VACE_ANNOTATOR_DEVICE"
REPO_ROOT = Path(__file__).resolve().parents[2]


def models_dir() -> Path:
    """The folder weight files are looked up in: $VACE_MODELS_DIR, else <repo>/models."""
    return config.models_dir()


def downloads_allowed() -> bool:
    """True only when the user opted in with VACE_ALLOW_DOWNLOADS=1 (downloads go into the models folder)."""
    return config.downloads_allowed()


def pick_device() -> str:
    """$VACE_ANNOTATOR_DEVICE, else "cuda" when a GPU is visible, else "cpu". Imports torch: call from load()."""
    configured = config.annotator_device()
    if configured:
        return configured
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class WeightFile:
    """One file of a Hugging Face repository (`repo_id`/`filename`), kept locally at <models>/<folder>/<filename>."""

    repo_id: str
    filename: str
    folder: str

    @property
    def local_path(self) -> Path:
        return models_dir() / self.folder / self.filename

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/resolve/main/{self.filename}"

    def find(self) -> Path | None:
        """The file's path in the models folder or the Hugging Face cache, or None. Never uses the network."""
        if self.local_path.is_file():
            return self.local_path
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        cached = try_to_load_from_cache(self.repo_id, self.filename)
        return Path(cached) if isinstance(cached, str) and Path(cached).is_file() else None

    def download(self) -> Path:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(self.repo_id, self.filename, local_dir=models_dir() / self.folder))


def describe_files(files: Sequence[WeightFile]) -> str:
    """'a, b in <models>/<folder>/ (from https://huggingface.co/<repo>)', one clause per folder."""
    groups: dict[tuple[str, str], list[str]] = {}
    for spec in files:
        groups.setdefault((spec.folder, spec.repo_id), []).append(spec.filename)
    return " and ".join(
        f"{', '.join(names)} in models/{folder}/ (from https://huggingface.co/{repo})"
        for (folder, repo), names in groups.items()
    )


def missing_message(label: str, files: Sequence[WeightFile], alternatives: str = "") -> str:
    """The text shown when `files` are missing: the file names, the folder to put them in, where to get them."""
    text = f"{label} needs weight files that are not installed: {describe_files(files)}."
    if alternatives:
        text += f" {alternatives}"
    return text + f" Weights are looked up in the models folder (set {MODELS_ENV} to use another one)."


def find_all(files: Sequence[WeightFile]) -> list[Path] | None:
    """Paths of every file in `files`, or None when any is missing. Never uses the network."""
    paths = [spec.find() for spec in files]
    return None if any(path is None for path in paths) else paths  # type: ignore[return-value]


def require(label: str, files: Sequence[WeightFile], alternatives: str = "") -> list[Path]:
    """Paths of `files`; downloads the missing ones only when allowed, else raises AnnotatorError naming them."""
    paths = find_all(files)
    if paths is not None:
        return paths
    if downloads_allowed():
        try:
            return [spec.find() or spec.download() for spec in files]
        except Exception as error:  # network or hub failure: say which files and why
            raise AnnotatorError(f"{missing_message(label, files, alternatives)} Download failed: {error}") from error
    raise AnnotatorError(missing_message(label, files, alternatives))


def same_folder(paths: Sequence[Path]) -> Path:
    """The one folder holding all `paths` (a model folder in the models dir or one cache snapshot)."""
    folders = {path.parent for path in paths}
    if len(folders) != 1:
        raise AnnotatorError(f"model files are split across folders: {sorted(str(f) for f in folders)}")
    return folders.pop()


def import_quietly(module: str):
    """Import `module` (controlnet-aux and friends) with their import-time warnings about optional extras
    (mediapipe, mmpose, timm renames) silenced; those extras are not used here."""
    import importlib
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)
