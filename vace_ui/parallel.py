"""One job across several GPUs: diffusers' context parallelism (ring / Ulysses) for the VACE transformer.

diffusers ships a `_cp_plan` for `WanTransformer3DModel` but none for `WanVACETransformer3DModel`. The VACE plan
below splits the same token sequence the Wan plan splits, at the first module that sees it:

- `rope`: its (cos, sin) outputs, along the sequence (dim 1), used by the VACE blocks and the main blocks alike;
- `vace_blocks.0`: both `hidden_states` and `control_hidden_states` (the control latents are padded to the video's
  token count before the blocks, so they split identically). Each VACE block then returns its hint for the local
  shard only; later VACE blocks receive the already split control states;
- `blocks.0`: `hidden_states`, so the main blocks hold the same shard the hints were computed for, and
  `hidden_states + hint` adds matching tokens;
- `proj_out`: gathered back along the sequence, so the unpatchify sees every token.

The text embeddings are not split (cross-attention keys), as in diffusers' Wan plan. Launch one process per GPU
with torchrun (`python app.py --gpus N` starts it, see `resolve_parallel` and `torchrun_command`);
`VACE_PARALLEL=ulysses:N` or `ring:N` picks the method (`parse_parallel`). Ulysses splits the attention heads too,
so its degree must divide the head count (12 for 1.3B, 40 for 14B); otherwise ring is used and the returned note
says so. Nothing here imports torch or diffusers at module level.
"""

from __future__ import annotations

import sys

MODES = ("ring", "ulysses")


def vace_cp_plan() -> dict:
    """The context-parallel plan for `WanVACETransformer3DModel` (diffusers >= 0.36 hook format)."""
    from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput

    return {
        "rope": {
            0: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
            1: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
        },
        "vace_blocks.0": {
            "hidden_states": ContextParallelInput(split_dim=1, expected_dims=3, split_output=False),
            "control_hidden_states": ContextParallelInput(split_dim=1, expected_dims=3, split_output=False),
        },
        "blocks.0": {
            "hidden_states": ContextParallelInput(split_dim=1, expected_dims=3, split_output=False),
        },
        "proj_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
    }


def parse_parallel(text: str) -> tuple[str, int]:
    """`ring:2`, `ulysses:4` -> (mode, degree); empty -> ("", 1)."""
    text = (text or "").strip().lower()
    if not text:
        return "", 1
    mode, _, degree = text.partition(":")
    if mode not in MODES or not degree.isdigit() or int(degree) < 2:
        raise ValueError(f"VACE_PARALLEL must be ring:N or ulysses:N with N >= 2, not {text!r}.")
    return mode, int(degree)


def resolve_parallel(text: str, gpus: int = 0, world_size: int = 1) -> str:
    """What the app runs: `mode:N`, or "" for one process. `text` is VACE_PARALLEL, `gpus` the --gpus flag (mode
    from VACE_PARALLEL, else ulysses), `world_size` the processes torchrun started (WORLD_SIZE; under a plain
    `torchrun --nproc-per-node N app.py` without either setting: ulysses:N)."""
    mode, degree = parse_parallel(text)
    if gpus:
        if gpus < 1:
            raise ValueError(f"--gpus must be 1 or more, not {gpus}.")
        if mode and degree != gpus:
            raise ValueError(f"--gpus {gpus} and VACE_PARALLEL={text.strip()} disagree; give one of them.")
        if gpus == 1:
            return ""
        mode, degree = mode or "ulysses", gpus
    elif not mode and world_size > 1:
        mode, degree = "ulysses", world_size
    if mode and world_size > 1 and degree != world_size:
        raise ValueError(f"VACE_PARALLEL={mode}:{degree} needs {degree} processes, but torchrun started "
                         f"{world_size}; use --nproc-per-node {degree}.")
    return f"{mode}:{degree}" if mode else ""


def torchrun_command(script: str, args: list[str], processes: int, restarts: int) -> list[str]:
    """torch's own launcher for `processes` ranks on this machine; it restarts the whole group (up to `restarts`
    times) when a rank dies."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
            "--max-restarts", str(restarts), script, *args]


def choose_mode(mode: str, degree: int, num_heads: int) -> tuple[str, str]:
    """Ulysses needs the head count divisible by the degree; fall back to ring and say so."""
    if mode == "ulysses" and num_heads % degree:
        return "ring", f"ulysses:{degree} does not divide {num_heads} attention heads; using ring:{degree}."
    return mode, ""


def enable_context_parallel(transformer, mode: str, degree: int, device: str | None = None) -> str:
    """Apply the VACE plan to a transformer in an initialized process group (one rank per device). Returns a note
    (empty, or the ring fallback). Ulysses runs on diffusers' native attention (CPU and CUDA). Ring merges partial
    attention with its log-sum-exp, which diffusers 0.42's native backend does not return: on CUDA the cuDNN
    backend (bf16/fp16) is selected for it; on CPU ring is refused with that reason. `device`: where the
    transformer will run (default: where it is now)."""
    from diffusers import ContextParallelConfig

    mode, note = choose_mode(mode, degree, transformer.config.num_attention_heads)
    if mode == "ring":
        if not str(device or transformer.device).startswith("cuda"):
            raise ValueError(f"{note} " * bool(note) + "Ring attention needs an attention backend that returns the "
                             "log-sum-exp (cuDNN or flash-attn on CUDA); diffusers' 0.42 native CPU attention does "
                             "not. Use ulysses on CPU.")
        transformer.set_attention_backend("_native_cudnn")
    degrees = {"ring_degree": degree} if mode == "ring" else {"ulysses_degree": degree}
    config = ContextParallelConfig(**degrees)
    transformer.enable_parallelism(config=config, cp_plan=vace_cp_plan())
    return note
