"""The model catalog (models/catalog.json): which models exist, how big they are, where they go."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import REPO_ROOT


@dataclass(frozen=True)
class ModelEntry:
    model_id: str
    label: str
    approx_download_gb: float
    sizes: tuple[str, ...]
    folder: str
    experts: int = 1  # 2: Wan2.2 A14B, a high-noise `transformer` and a low-noise `transformer_2`

    def download_command(self, models_dir: Path) -> str:
        return f"hf download {self.model_id} --local-dir {models_dir / self.folder}"


def load_catalog(path: Path = REPO_ROOT / "models" / "catalog.json") -> dict[str, ModelEntry]:
    data = json.loads(Path(path).read_text())
    return {
        model_id: ModelEntry(model_id, entry["label"], entry["approx_download_gb"], tuple(entry["sizes"]),
                             entry["folder"], entry.get("experts", 1))
        for model_id, entry in data.items()
    }


def entry_for(model: str) -> ModelEntry:
    """The catalog entry, or a generic one for an id or folder the catalog does not list."""
    catalog = load_catalog()
    if model in catalog:
        return catalog[model]
    name = Path(model.rstrip("/")).name or model
    return ModelEntry(model, name, 0, ("832x480", "480x832", "1280x720", "720x1280"), name)
