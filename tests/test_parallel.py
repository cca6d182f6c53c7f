"""Context parallelism for the VACE transformer: the plan splits the sequence across 2 gloo processes (tiny model)
and the split output matches one process; mode parsing and the Ulysses -> ring fallback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vace_ui.parallel import choose_mode, parse_parallel

ROOT = Path(__file__).resolve().parent.parent


def test_two_gloo_processes_match_one_process_with_ulysses():
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         "bench/parallel_check.py", "--mode", "ulysses"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "MATCH" in done.stdout, output[-4000:]
    # every rank saw half the 192 video tokens in the VACE block and the main block
    assert "'vace_blocks.0 control': 96, 'vace_blocks.0': 96, 'blocks.0': 96} of 192" in done.stdout, done.stdout


def test_full_size_check_without_gpus_says_it_needs_them():
    import torch

    if torch.cuda.device_count() >= 2:
        pytest.skip("this machine has the GPUs the full-size check needs")
    done = subprocess.run([sys.executable, "bench/parallel_check.py", "--model", "1.3b"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "needs 2 or more CUDA GPUs" in done.stderr, done.stderr[-2000:]


def test_parse_parallel():
    assert parse_parallel("") == ("", 1)
    assert parse_parallel("ring:2") == ("ring", 2)
    assert parse_parallel(" Ulysses:4 ") == ("ulysses", 4)
    for bad in ("ring", "ulysses:1", "tensor:2", "ring:x"):
        with pytest.raises(ValueError):
            parse_parallel(bad)


def test_ulysses_degree_must_divide_the_heads_else_ring():
    assert choose_mode("ulysses", 4, 12) == ("ulysses", "")  # 1.3B: 12 heads
    mode, note = choose_mode("ulysses", 8, 12)
    assert mode == "ring" and "does not divide 12" in note
    assert choose_mode("ring", 8, 12) == ("ring", "")


def test_ring_on_cpu_is_refused_with_the_reason():
    from diffusers import WanVACETransformer3DModel

    from vace_ui.backends.wan_specs import TINY
    from vace_ui.parallel import enable_context_parallel

    with pytest.raises(ValueError, match="log-sum-exp"):
        enable_context_parallel(WanVACETransformer3DModel(**TINY), "ring", 2)
