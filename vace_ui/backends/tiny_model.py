"""A tiny random-weight Wan VACE pipeline, built from configs in seconds, offline.

Selected with VACE_MODEL=tiny-random. It produces noise, but runs the real diffusers `WanVACEPipeline` code end to
end (it is saved to disk once and loaded back with `from_pretrained`, exactly like real weights), so tests, CI and
the browser test exercise the same paths as a real model. The configs are diffusers' own test configs.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_MODEL_ID = "tiny-random"
_VOCAB_WORDS = (
    "a the of and in on with to is at by from video man woman dog cat car street walks runs dances red blue green "
    "forest city sky water light dark night day camera slow fast close up wide shot"
).split()
_MARKER = "vace_studio_tiny.json"


def _build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    vocab = {token: index for index, token in enumerate(specials + _VOCAB_WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


TINY_BOUNDARY_RATIO = 0.875  # Wan2.2 A14B's published expert switch (t >= 875 of 1000: the high-noise expert)


def _tiny_transformer(seed: int):
    import torch
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(seed)
    return WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=3,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        vace_layers=[0, 2],
        vace_in_channels=96,
    )


def build_tiny_pipeline(two_experts: bool = False):
    """Build the tiny pipeline in memory (random weights, seeded so every build is identical). two_experts: a
    Wan2.2 A14B-shaped pipeline, a high-noise `transformer` and a low-noise `transformer_2` switched at
    TINY_BOUNDARY_RATIO (diffusers' WanVACEPipeline, as for Wan2.2 VACE-Fun A14B)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    torch.manual_seed(0)
    tokenizer = _build_tokenizer()
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2)
    ).eval()
    transformer = _tiny_transformer(0)
    extra = {"transformer_2": _tiny_transformer(1), "boundary_ratio": TINY_BOUNDARY_RATIO} if two_experts else {}
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return WanVACEPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler, **extra
    )


def ensure_tiny_model(directory: Path, two_experts: bool = False) -> Path:
    """Save the tiny pipeline to `directory` once (a few MB) and return it; later calls reuse it."""
    directory = Path(directory)
    if (directory / _MARKER).exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    build_tiny_pipeline(two_experts).save_pretrained(directory)
    (directory / _MARKER).write_text(json.dumps({"note": "random weights: produces noise, for tests only"}))
    return directory
