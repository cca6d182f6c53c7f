"""App configuration from environment variables (and, for a few, command-line flags in app.py).

Every variable is documented in the README's Settings section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"


@dataclass(frozen=True)
class AppConfig:
    """model: a catalog id, a Hugging Face id, a local folder, or `tiny-random`.
    device: `auto` (CUDA when present, else CPU), `cuda`, `cuda:1`, `cpu`.
    backend: the backend selected when the app starts (`local` or a remote provider's name).
    sam_model: which segment-anything model answers clicks; `tiny-random` is a random-weight one for tests.
    tracker_model: `auto` (learned trackers from models/trackers or the HF cache) or `tiny-random` (random-weight
    ones built in-process, for tests).
    ray_address: empty (default): generate in this process; `local`, `auto` or `ray://host:port`: on Ray workers.
    ray_workers: how many Ray workers (0: one per GPU in the cluster, at least one); ray_retries: how many times a
    job whose worker died is retried on another worker before it fails."""

    model: str = DEFAULT_MODEL
    models_dir: Path = REPO_ROOT / "models"
    output_dir: Path = REPO_ROOT / "outputs"
    device: str = "auto"
    backend: str = "local"
    sam_model: str = "auto"  # segment-anything: auto (largest checkpoint in models/sam), vit_b, vit_l, vit_h, tiny-random
    tracker_model: str = "auto"  # learned video trackers: auto (weights in models/trackers or HF cache), tiny-random
    ray_address: str = ""
    ray_workers: int = 0
    ray_retries: int = 1

    @classmethod
    def from_env(cls, env: dict | None = None) -> "AppConfig":
        env = os.environ if env is None else env
        return cls(
            model=env.get("VACE_MODEL", DEFAULT_MODEL),
            models_dir=Path(env.get("VACE_MODELS_DIR", REPO_ROOT / "models")),
            output_dir=Path(env.get("VACE_OUTPUT_DIR", REPO_ROOT / "outputs")),
            device=env.get("VACE_DEVICE", "auto"),
            backend=env.get("VACE_BACKEND", "local"),
            sam_model=env.get("VACE_SAM_MODEL", "auto"),
            tracker_model=env.get("VACE_TRACKER_MODEL", "auto"),
            ray_address=env.get("VACE_RAY_ADDRESS", "").strip(),
            ray_workers=int(env.get("VACE_RAY_WORKERS", "0")),
            ray_retries=int(env.get("VACE_RAY_RETRIES", "1")),
        )
