"""What a shared server allows: per-owner queued jobs, input clip length, and which LoRA files the local backend
may open. Built from AppConfig; a runner made without one (scripts, unit tests) trusts its caller."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import InputError
from ..core.requests import CapabilityRequest
from ..core.settings import GenerationSettings, LoraSpec

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
LORA_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
VIDEO_FIELDS = ("video", "first_clip", "last_clip", "mask_video")


def owner_digest(owner: str) -> str:
    """The folder name of one owner's handed-out files (ui/owned_files.py)."""
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class JobPolicy:
    """max_queued_jobs / max_clip_seconds: 0 = no limit. lora_folder: the only folder local LoRA files are
    read from (by file name, or a relative path inside it); hub ids (owner/name) only when downloads are allowed."""

    lora_folder: Path
    allow_downloads: bool = False
    max_queued_jobs: int = 0
    max_clip_seconds: float = 0.0
    upload_roots: tuple[Path, ...] = ()  # input files must lie under one of these (set by the UI); () = any
    owned_root: Path | None = None  # the folder of files handed to one owner each (ui/owned_files.py)
    shared: bool = False  # reachable by others: a job's model must be the start-up one or a catalog entry

    def check_uploads(self, files: list[tuple[str, str]], owner: str = "") -> None:
        """Each (field, path) must be a file uploaded to (or made by) the app, decided from the path alone: a
        server path is refused without looking at it, so its existence is never revealed. A file handed to one
        owner (a restored input) is that owner's input only; to anyone else it answers like a server path."""
        if not self.upload_roots:
            return
        for name, path in files:
            absolute = Path(os.path.abspath(path))
            if not any(absolute.is_relative_to(root) for root in self.upload_roots) or self._foreign(absolute, owner):
                raise InputError(name, "expects an uploaded file; a path on the server is not accepted.")

    def _foreign(self, path: Path, owner: str) -> bool:
        """Under another owner's folder of handed-out files (compared resolved, as Gradio serves them)."""
        if self.owned_root is None:
            return False
        path, root = path.resolve(), self.owned_root.resolve()
        if not path.is_relative_to(root) or path == root:
            return False
        return path.relative_to(root).parts[0] != owner_digest(owner)

    @classmethod
    def from_config(cls, config) -> "JobPolicy":
        return cls(config.lora_folder, config.allow_downloads, config.max_queued_jobs, config.max_clip_seconds,
                   shared=config.shared)

    def check_model(self, model: str | None, local) -> None:
        """On a shared server a job's model is the start-up model or a catalog entry (never a server folder), and
        a missing one is refused unless downloads are allowed (a visitor must not start an 80 GB download)."""
        from ..backends.model_catalog import load_catalog

        if not self.shared or not model or model == local.default_model:
            return
        catalog = load_catalog()
        if model not in catalog:
            raise InputError("model", f"'{model}' is not offered here; choose one of {', '.join(catalog)}.")
        if not self.allow_downloads and not local.installed(model):
            raise InputError("model", f"{catalog[model].label} is not installed on this server and it does not "
                                      "download models (VACE_ALLOW_DOWNLOADS is off); choose an installed one.")

    def check_queue(self, queued: int) -> None:
        if self.max_queued_jobs and queued >= self.max_queued_jobs:
            raise InputError("jobs", f"you already have {queued} job(s) queued or running; this server allows "
                             f"{self.max_queued_jobs} per person. Wait for one to finish, or cancel one.")

    def check_clips(self, request: CapabilityRequest) -> None:
        if not self.max_clip_seconds:
            return
        from ..media.video import clip_seconds

        for name in VIDEO_FIELDS:
            path = getattr(request, name, None)
            if isinstance(path, str) and path and Path(path).is_file():
                seconds = clip_seconds(path, name)
                if seconds > self.max_clip_seconds:
                    raise InputError(name, f"is {seconds:.1f} s long; this server accepts clips up to "
                                     f"{self.max_clip_seconds:g} s. Trim it first.")

    def local_loras(self, settings: GenerationSettings) -> GenerationSettings:
        """`settings` with each LoRA resolved to a file in the LoRA folder (or a hub id); InputError otherwise."""
        return replace(settings, loras=tuple(LoraSpec(self.resolve_lora(index, lora.path), lora.scale)
                                             for index, lora in enumerate(settings.loras, start=1)))

    def resolve_lora(self, index: int, name: str) -> str:
        text = str(name).strip()
        places = "a file name in the LoRA folder (models/loras/)"
        if self.allow_downloads:
            places += " or a Hugging Face id (owner/name)"
        relative = text.removeprefix("models/loras/").removeprefix("loras/")
        if text.lower().endswith(LORA_SUFFIXES) or "\\" in text or text.startswith((".", "/", "~")):
            folder = self.lora_folder.resolve()
            candidate = (folder / relative).resolve()
            if ".." in Path(relative).parts or Path(relative).is_absolute() or not candidate.is_relative_to(folder):
                raise InputError(f"lora {index}", f"'{text}' is outside the LoRA folder; use {places}.")
            if not candidate.is_file():
                available = sorted(p.name for p in folder.glob("*") if p.suffix.lower() in LORA_SUFFIXES)[:10] \
                    if folder.is_dir() else []
                listing = f" Available: {', '.join(available)}." if available else " The folder has no LoRA files."
                raise InputError(f"lora {index}", f"'{relative}' is not in the LoRA folder (models/loras/).{listing}")
            return str(candidate)
        if HUB_ID.match(text):
            if not self.allow_downloads:
                raise InputError(f"lora {index}", f"'{text}' looks like a Hugging Face id, but this server does not "
                                 f"download (VACE_ALLOW_DOWNLOADS is off); use {places}.")
            return text
        raise InputError(f"lora {index}", f"'{text}' is neither a LoRA file name nor a Hugging Face id; use {places}.")
