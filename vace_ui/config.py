"""All configuration, read from the environment here and nowhere else (plus the flags app.py passes in).

`AppConfig.from_env()` is built once at start-up and handed down (services -> backends, runner, UI). A few lookups
that annotators and segment-anything make lazily (`models_dir()`, `downloads_allowed()`, `annotator_device()`,
`sam_checkpoint()`) are functions of this module too, so no other module reads a variable itself. Every variable
is documented in the README's Settings section.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "Wan-AI/Wan2.1-VACE-1.3B-diffusers"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class ProviderEnv:
    """The environment variable names of one hosted provider: its key, its base URL and provider options."""

    key: str
    base_url: str
    options: tuple[tuple[str, str], ...] = ()  # (option name, variable)


PROVIDER_ENV: dict[str, ProviderEnv] = {
    "dashscope": ProviderEnv("DASHSCOPE_API_KEY", "VACE_DASHSCOPE_BASE_URL", (("region", "VACE_DASHSCOPE_REGION"),)),
    "wavespeed": ProviderEnv("WAVESPEED_API_KEY", "VACE_WAVESPEED_BASE_URL"),
    "replicate": ProviderEnv("REPLICATE_API_TOKEN", "VACE_REPLICATE_BASE_URL"),
    "comfyui": ProviderEnv("VACE_COMFYUI_TOKEN", "VACE_COMFYUI_URL", (
        ("unet", "VACE_COMFYUI_UNET"), ("clip", "VACE_COMFYUI_CLIP"), ("vae", "VACE_COMFYUI_VAE"))),
    "jiekou": ProviderEnv("JIEKOU_API_KEY", "VACE_JIEKOU_BASE_URL"),
}


@dataclass(frozen=True)
class ProviderConfig:
    """The operator's settings for one provider. `api_key` is the operator's own key: it is sent only to
    `base_url` (or the provider's default when that is None), never to a URL a visitor typed."""

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    poll_seconds: float | None = None
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)

    @classmethod
    def from_env(cls, provider: str, env: Mapping[str, str] | None = None) -> "ProviderConfig":
        env = os.environ if env is None else env
        names = PROVIDER_ENV[provider]
        poll = env.get("VACE_REMOTE_POLL_SECONDS", "").strip()
        return cls(base_url=env.get(names.base_url) or None, api_key=env.get(names.key) or None,
                   poll_seconds=float(poll) if poll else None,
                   options=tuple((option, env[var]) for option, var in names.options if env.get(var)))


def _flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    try:
        return float(text) if text else default
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None


@dataclass(frozen=True)
class AppConfig:
    """model: a catalog id, a Hugging Face id, a local folder, or `tiny-random`.
    device: `auto` (CUDA when present, else CPU), `cuda`, `cuda:1`, `cpu`.
    backend: the backend selected when the app starts (`local` or a remote provider's name).
    sam_model: which segment-anything model answers clicks; `tiny-random` is a random-weight one for tests.
    tracker_model: `auto` (learned trackers from models/trackers or the HF cache) or `tiny-random` (random-weight
    ones built in-process, for tests).
    ray_address: empty (default): generate in this process; `local`, `auto` or `ray://host:port`: on Ray workers.
    parallel: `ulysses:N` / `ring:N`: each job runs across N processes (one per GPU, started by torchrun), from
    `--gpus N` or VACE_PARALLEL; empty: one process. rank / world_size / local_rank: this process's place in that
    group (torchrun's RANK, WORLD_SIZE, LOCAL_RANK); parallel_restarts: how often torchrun restarts the whole group
    after a rank died (VACE_PARALLEL_RESTARTS).
    ray_workers: how many Ray workers (0: one per GPU in the cluster, at least one); ray_retries: how many times a
    job whose worker died is retried on another worker before it fails.
    shared: the app is reachable by others (share link, a Space, --auth, a non-loopback host).
    allow_ui_base_url: visitors may point a provider at another URL in Settings (with a key they type).
    hf_login: a Space with `hf_oauth: true` (SYSTEM=spaces, SPACE_ID and OAUTH_CLIENT_ID set, as a Space sets them;
    Gradio's real OAuth routes exist only there): the page shows "Sign in with
    Hugging Face" and a signed-in visitor's jobs belong to their Hugging Face user name.
    Limits (0 = none): queued jobs per owner, upload size (MB), input clip length (seconds)."""

    model: str = DEFAULT_MODEL
    models_dir: Path = REPO_ROOT / "models"
    output_dir: Path = REPO_ROOT / "outputs"
    device: str = "auto"
    backend: str = "local"
    sam_model: str = (
        "auto"  # segment-anything: auto (largest checkpoint in models/sam), vit_b, vit_l, vit_h, tiny-random
    )
    tracker_model: str = "auto"  # learned video trackers: auto (weights in models/trackers or HF cache), tiny-random
    ray_address: str = ""
    ray_workers: int = 0
    ray_retries: int = 1
    parallel: str = ""
    parallel_restarts: int = 10
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    parallel_attempt: int = 0  # torchrun's restart count (TORCHELASTIC_RESTART_COUNT)
    loras_dir: Path | None = None  # default: <models_dir>/loras
    allow_downloads: bool = False
    shared: bool = False
    allow_ui_base_url: bool = True
    hf_login: bool = False
    admin_users: frozenset[str] = frozenset()
    max_queued_jobs: int = 0
    max_upload_mb: float = 0.0
    max_clip_seconds: float = 0.0
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict, compare=False, repr=False)

    @property
    def lora_folder(self) -> Path:
        return self.loras_dir if self.loras_dir is not None else self.models_dir / "loras"

    def provider(self, name: str) -> ProviderConfig:
        return self.providers.get(name) or ProviderConfig()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, share: bool = False, auth: bool = False,
                 host: str = "127.0.0.1", gpus: int = 0) -> "AppConfig":
        from .parallel import resolve_parallel

        env = os.environ if env is None else env
        world_size = int(env.get("WORLD_SIZE", "1"))
        shared = share or auth or bool(env.get("SPACE_ID")) or host not in LOOPBACK_HOSTS
        models = Path(env.get("VACE_MODELS_DIR") or REPO_ROOT / "models")
        return cls(
            model=env.get("VACE_MODEL", DEFAULT_MODEL),
            models_dir=models,
            output_dir=Path(env.get("VACE_OUTPUT_DIR") or REPO_ROOT / "outputs"),
            device=env.get("VACE_DEVICE", "auto"),
            backend=env.get("VACE_BACKEND", "local"),
            sam_model=env.get("VACE_SAM_MODEL", "auto"),
            tracker_model=env.get("VACE_TRACKER_MODEL", "auto"),
            ray_address=env.get("VACE_RAY_ADDRESS", "").strip(),
            ray_workers=int(env.get("VACE_RAY_WORKERS", "0")),
            ray_retries=int(env.get("VACE_RAY_RETRIES", "1")),
            parallel=resolve_parallel(env.get("VACE_PARALLEL", ""), gpus, world_size),
            parallel_restarts=int(env.get("VACE_PARALLEL_RESTARTS", "10")),
            rank=int(env.get("RANK", "0")),
            world_size=world_size,
            local_rank=int(env.get("LOCAL_RANK", "0")),
            parallel_attempt=int(env.get("TORCHELASTIC_RESTART_COUNT", "0")),
            loras_dir=Path(env["VACE_LORAS_DIR"]) if env.get("VACE_LORAS_DIR") else None,
            allow_downloads=_flag(env.get("VACE_ALLOW_DOWNLOADS"), False),
            shared=shared,
            allow_ui_base_url=_flag(env.get("VACE_ALLOW_UI_BASE_URL"), not shared),
            hf_login=env.get("SYSTEM") == "spaces" and bool(env.get("SPACE_ID") and env.get("OAUTH_CLIENT_ID")),
            admin_users=frozenset(name.strip() for name in env.get("VACE_ADMIN_USERS", "").split(",") if name.strip()),
            max_queued_jobs=int(_number(env, "VACE_MAX_QUEUED_JOBS", 3 if shared else 0)),
            max_upload_mb=_number(env, "VACE_MAX_UPLOAD_MB", 200 if shared else 0),
            max_clip_seconds=_number(env, "VACE_MAX_CLIP_SECONDS", 60 if shared else 0),
            providers={name: ProviderConfig.from_env(name, env) for name in PROVIDER_ENV},
        )


def log_level(env: Mapping[str, str] | None = None) -> str:
    return (os.environ if env is None else env).get("VACE_LOG_LEVEL", "INFO")


# Looked up when used (annotator weights, segment-anything), so a test or a long-running process can change them.
def models_dir() -> Path:
    """$VACE_MODELS_DIR, else <repo>/models."""
    configured = os.environ.get("VACE_MODELS_DIR", "").strip()
    return Path(configured).expanduser() if configured else REPO_ROOT / "models"


def downloads_allowed() -> bool:
    """True only when the operator opted in with VACE_ALLOW_DOWNLOADS=1."""
    return _flag(os.environ.get("VACE_ALLOW_DOWNLOADS"), False)


def annotator_device() -> str | None:
    return os.environ.get("VACE_ANNOTATOR_DEVICE", "").strip() or None


def sam_checkpoint() -> str | None:
    return os.environ.get("VACE_SAM_CHECKPOINT") or None
