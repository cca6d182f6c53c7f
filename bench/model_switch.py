"""Model switch memory: load model A, run, switch to model B, run, switch back to A, run (target: memory after the
return within 10% of memory after the first load of A).

Run from the repository root:  .venv/bin/python bench/model_switch.py [--device cpu|cuda]

A and B are random-weight Wan VACE pipelines of two sizes built from configs (the tiny model's VAE and text encoder,
bigger transformers: A about 200 MB, B about 400 MB in float32), saved with `save_pretrained` and loaded back by the
real `LocalBackend` exactly like downloaded weights. The three jobs go through `LocalBackend.generate` with the
job's `model` setting (the per-job model of the UI picker and the API): job 2 names B, job 3 names none, so the
backend returns to its start-up model A. Figures: process RSS (and torch.cuda allocated / reserved bytes when the
run is on CUDA) after each job and after each release.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

MB = 1e6


def build(folder: Path, layers: int) -> float:
    """A random VACE pipeline with a `layers`-block transformer (every other block a VACE layer); returns its
    transformer's size in MB (float32)."""
    import torch
    from diffusers import WanVACETransformer3DModel

    from vace_ui.backends.tiny_model import build_tiny_pipeline

    pipe = build_tiny_pipeline()
    torch.manual_seed(layers)
    pipe.transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=8, attention_head_dim=64, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=2048, num_layers=layers, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, vace_layers=list(range(0, layers, 2)),
        vace_in_channels=96)
    size = sum(p.numel() * p.element_size() for p in pipe.transformer.parameters()) / MB
    pipe.save_pretrained(folder)
    return size


def memory() -> dict:
    import torch

    rss = int(Path("/proc/self/statm").read_text().split()[1]) * 4096
    figures = {"rss_mb": rss / MB}
    if torch.cuda.is_available():
        figures["cuda_allocated_mb"] = torch.cuda.memory_allocated() / MB
        figures["cuda_reserved_mb"] = torch.cuda.memory_reserved() / MB
    return figures


class Reporter:
    cancelled = False

    def phase(self, *args, **kwargs):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--build", nargs=2, metavar=("FOLDER", "LAYERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(build(Path(args.build[0]), int(args.build[1])))
        return

    from vace_ui.backends.base import BackendJob
    from vace_ui.backends.local import LocalBackend
    from vace_ui.core.inputs import VaceInputs
    from vace_ui.core.requests import Capability
    from vace_ui.core.settings import GenerationSettings

    with tempfile.TemporaryDirectory() as temp:
        folder_a, folder_b = Path(temp) / "model-a", Path(temp) / "model-b"
        sizes = [float(subprocess.run([sys.executable, __file__, "--build", str(folder), str(layers)], check=True,
                                      capture_output=True, text=True).stdout.split()[-1])
                 for folder, layers in ((folder_a, 8), (folder_b, 16))]  # built elsewhere: this process starts clean
        size_a, size_b = sizes
        backend = LocalBackend(str(folder_a), Path(temp), device=args.device)
        n, h, w = 5, 64, 64
        inputs = VaceInputs(np.full((n, h, w, 3), 128, np.uint8), np.ones((n, h, w), bool))
        from diffusers import WanVACEPipeline  # noqa: F401  (imported before "start": a one-off, not the model)

        rows = [("start (nothing loaded)", memory())]

        def job(model: str | None, label: str) -> None:
            settings = GenerationSettings(prompt="a dog runs", steps=2, guidance_scale=3.0, seed=1, model=model,
                                          memory_mode="gpu")
            result = backend.generate(BackendJob(label, Capability.EDIT, None, settings, inputs, 1, Path(temp)),
                                      Reporter())
            assert result.frames.shape == (n, h, w, 3)
            rows.append((label, memory()))

        job(None, "job 1: A loaded and run")
        job(str(folder_b), "job 2: switched to B, run")
        job(None, "job 3: back to A, run")
        released = backend.use_model("nothing")  # drop A too: what the process holds without a model
        rows.append(("A released (no model)", memory()))

    from bench.environment import describe

    print(describe(("torch", "diffusers", "transformers")))
    print(f"device: {backend.device()}; transformer A {size_a:.0f} MB, B {size_b:.0f} MB (float32 on CPU, "
          "bfloat16 on CUDA); VAE and text encoder tiny")
    keys = list(rows[0][1])
    print("| after | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for label, figures in rows:
        print(f"| {label} | " + " | ".join(f"{figures[key]:.0f}" for key in keys) + " |")
    first, back = rows[1][1], rows[3][1]
    for key in keys:
        growth = (back[key] - first[key]) / first[key] * 100 if first[key] else 0.0
        verdict = "ok" if abs(growth) <= 10 else "OVER TARGET"
        print(f"{key}: back on A {back[key]:.0f} vs first A {first[key]:.0f}: {growth:+.1f}% ({verdict}, target 10%)")
    print(f"release of A: rss {released['before']['rss_bytes'] / MB:.0f} -> {released['after']['rss_bytes'] / MB:.0f}"
          " MB")


if __name__ == "__main__":
    main()
