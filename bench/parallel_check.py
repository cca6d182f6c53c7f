"""Context parallelism check: the VACE transformer split across N processes must match one process.

Each rank builds the same seeded transformer and inputs, computes the full output alone (the reference), then
applies `vace_ui.parallel.vace_cp_plan()` with `enable_parallelism` and runs the same call split across the ranks;
rank 0 prints the largest difference and exits non-zero when it exceeds the tolerance.

CPU, gloo, tiny model (what the tests run):
    .venv/bin/python -m torch.distributed.run --nproc_per_node 2 bench/parallel_check.py --mode ulysses
GPU, NCCL, the full-size 1.3B transformer (random weights, bf16, 832x480, 81 frames), one process per GPU:
    .venv/bin/python -m torch.distributed.run --nproc_per_node 2 bench/parallel_check.py --model 1.3b --mode ring
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(model: str, device, dtype):
    import torch
    from diffusers import WanVACETransformer3DModel

    from vace_ui.backends.wan_specs import TINY, VACE_1_3B

    config = TINY if model == "tiny" else VACE_1_3B
    torch.manual_seed(0)
    transformer = WanVACETransformer3DModel(**config).to(device=device, dtype=dtype).eval()
    # tiny: 128x128, 9 frames -> latents 3x16x16 (192 tokens); 1.3b: 832x480, 81 frames -> 21x60x104
    frames, height, width = (3, 16, 16) if model == "tiny" else (21, 60, 104)
    generator = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.randn(*shape, generator=generator).to(device=device, dtype=dtype)

    inputs = {
        "hidden_states": rand(1, 16, frames, height, width),
        "timestep": torch.tensor([500], device=device),
        "encoder_hidden_states": rand(1, 512 if model != "tiny" else 16, config["text_dim"]),
        "control_hidden_states": rand(1, config["vace_in_channels"], frames, height, width),
        "return_dict": False,
    }
    return transformer, inputs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=("tiny", "1.3b"), default="tiny")
    parser.add_argument("--mode", choices=("ring", "ulysses"), default="ulysses")
    parser.add_argument("--atol", type=float, default=None, help="default: 1e-4 (fp32), 5e-2 (bf16)")
    args = parser.parse_args()

    import torch
    import torch.distributed as dist

    from vace_ui.parallel import enable_context_parallel

    cuda = torch.cuda.is_available()
    if args.model != "tiny" and torch.cuda.device_count() < 2:
        raise SystemExit(f"--model {args.model} is the multi-GPU check: it needs 2 or more CUDA GPUs (NCCL), and this "
                         f"machine has {torch.cuda.device_count()}. Without GPUs run the tiny model on gloo (the "
                         "default).")
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        # diffusers 0.42 derives each rank's device as `rank % torch.accelerator.device_count()`, which is 0
        # without an accelerator (ZeroDivisionError). On CPU every rank's device is simply "cpu": count one.
        torch.accelerator.device_count = lambda: 1
        torch.set_num_threads(1)
    dtype = torch.bfloat16 if cuda else torch.float32
    atol = args.atol if args.atol is not None else (5e-2 if dtype == torch.bfloat16 else 1e-4)

    transformer, inputs = build(args.model, device, dtype)
    with torch.no_grad():
        start = time.perf_counter()
        reference = transformer(**inputs)[0]
        single_s = time.perf_counter() - start
        note = enable_context_parallel(transformer, args.mode, world)
        seen = {}  # tokens inside the first VACE block and the first main block: must be a 1/world shard

        def record(name):
            def hook(module, args):
                seen.setdefault(name, args[0].shape[1])
            return hook

        transformer.vace_blocks[0].proj_in.register_forward_pre_hook(record("vace_blocks.0 control"))
        transformer.vace_blocks[0].norm1.register_forward_pre_hook(record("vace_blocks.0"))
        transformer.blocks[0].norm1.register_forward_pre_hook(record("blocks.0"))
        transformer(**inputs)  # warm-up (mesh, first collectives)
        dist.barrier()
        start = time.perf_counter()
        split = transformer(**inputs)[0]
        split_s = time.perf_counter() - start
    tokens = inputs["hidden_states"][0, 0].numel() // 4  # patch 1x2x2
    if any(count != tokens // world for count in seen.values()):
        raise SystemExit(f"rank {rank}: the sequence was not split: {seen}, {tokens} tokens over {world} ranks")
    difference = (split.float() - reference.float()).abs().max().item()
    worst = torch.tensor([difference], device=device)
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    if rank == 0:
        print(f"model {args.model}, {args.mode}:{world} on {'nccl' if cuda else 'gloo'} ({dtype}), output "
              f"{tuple(split.shape)}; tokens per rank {seen} of {tokens}; {note or 'no fallback'}")
        print(f"max |split - single| = {worst.item():.3g} (atol {atol:g}); single {single_s:.3f} s, "
              f"split {split_s:.3f} s per transformer call")
        print("MATCH" if worst.item() <= atol else "MISMATCH")
    dist.destroy_process_group()
    sys.exit(0 if worst.item() <= atol else 1)


if __name__ == "__main__":
    main()
