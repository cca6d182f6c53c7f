"""Wan2.1 VACE models as published: transformer configs, component sizes, TeaCache coefficients, and the exact
parameter count and FLOPs of the diffusers modules built from them (see tests). Pure Python (no torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core import constants as C
from ..core.errors import InputError


@dataclass(frozen=True)
class ModelSpec:
    """A Wan2.1 VACE model: the transformer config (diffusers' WanVACETransformer3DModel), other component sizes,
    and TeaCache's fitted coefficients and thresholds for its base T2V model (use_ret_steps variant)."""

    name: str
    transformer: dict
    text_encoder_params: int
    vae_params: int
    teacache_coefficients: tuple[float, ...]
    teacache_thresholds: dict
    teacache_fit: str = "wan2.1-t2v-1.3b"
    text_tokens: int = 512
    experts: int = 1  # 2: Wan2.2 A14B, a high- and a low-noise transformer of this shape (one runs per step)


_BASE = {"patch_size": [1, 2, 2], "in_channels": 16, "out_channels": 16, "text_dim": 4096, "freq_dim": 256,
         "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "added_kv_proj_dim": None,
         "attention_head_dim": 128, "vace_in_channels": 96}
# diffusers scripts/convert_wan_to_diffusers.py, model types "Wan-VACE-1.3B" and "Wan-VACE-14B".
VACE_1_3B = {**_BASE, "num_attention_heads": 12, "num_layers": 30, "ffn_dim": 8960,
             "vace_layers": list(range(0, 30, 2))}
VACE_14B = {**_BASE, "num_attention_heads": 40, "num_layers": 40, "ffn_dim": 13824,
            "vace_layers": list(range(0, 40, 5))}
TINY = {**_BASE, "num_attention_heads": 2, "attention_head_dim": 12, "text_dim": 32, "ffn_dim": 32, "num_layers": 3,
        "rope_max_seq_len": 32, "vace_layers": [0, 2]}  # = tiny_model.build_tiny_pipeline()
# AutoencoderKLWan() defaults are the Wan2.1 VAE (the conversion script builds it that way).
WAN_VAE = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_scales": [],
           "temperal_downsample": [False, True, True], "dropout": 0.0}
UMT5_XXL_ENCODER_PARAMS = 5_680_000_000  # google/umt5-xxl encoder: 11.4 GB in bf16
WAN_VAE_PARAMS = 127_000_000
# TeaCache4Wan2.1 (ali-vilab/TeaCache), use_ret_steps=True coefficients; thresholds from its README table.
_TEA_1_3B = (-5.21862437e04, 9.23041404e03, -5.28275948e02, 1.36987616e01, -4.99875664e-02)
_TEA_14B = (-3.03318725e05, 4.90537029e04, -2.65530556e03, 5.87365115e01, -3.15583525e-01)

MODEL_SPECS: dict[str, ModelSpec] = {
    "wan2.1-vace-1.3b": ModelSpec("wan2.1-vace-1.3b", VACE_1_3B, UMT5_XXL_ENCODER_PARAMS, WAN_VAE_PARAMS,
                                  _TEA_1_3B, {"slow": 0.05, "fast": 0.10}),
    "wan2.1-vace-14b": ModelSpec("wan2.1-vace-14b", VACE_14B, UMT5_XXL_ENCODER_PARAMS, WAN_VAE_PARAMS,
                                 _TEA_14B, {"slow": 0.10, "fast": 0.20}, "wan2.1-t2v-14b"),
    # Wan2.2 VACE-Fun A14B: two 14B-shaped experts (each 34.7 GB in bf16 on the hub, as the Wan2.1 14B), the
    # Wan2.1 VAE and UMT5-XXL; TeaCache coefficients of Wan2.1 T2V 14B (none are published for the A14B experts).
    "wan2.2-vace-fun-a14b": ModelSpec("wan2.2-vace-fun-a14b", VACE_14B, UMT5_XXL_ENCODER_PARAMS, WAN_VAE_PARAMS,
                                      _TEA_14B, {"slow": 0.10, "fast": 0.20}, "wan2.1-t2v-14b", experts=2),
    "tiny-random": ModelSpec("tiny-random", TINY, 90_000, 50_000, _TEA_1_3B, {"slow": 0.05, "fast": 0.10}),
}


def model_spec(model_name: str) -> ModelSpec:
    """The spec for a model name or id ("Wan-AI/Wan2.1-VACE-14B-diffusers", "wan2.1-vace-1.3b", "tiny-random")."""
    key = model_name.lower()
    if "tiny" in key:
        return MODEL_SPECS["tiny-random"]
    if "wan2.2" in key or "a14b" in key:
        return MODEL_SPECS["wan2.2-vace-fun-a14b"]
    if "14b" in key:
        return MODEL_SPECS["wan2.1-vace-14b"]
    if "1.3b" in key or "1_3b" in key or "1-3b" in key:
        return MODEL_SPECS["wan2.1-vace-1.3b"]
    raise InputError("model", f"'{model_name}' is not a known VACE model (1.3B, 14B, Wan2.2 A14B or tiny-random).")


def spec_for_config(config: dict) -> ModelSpec:
    """The spec whose transformer shape matches a loaded transformer's config (custom shapes: closest by width)."""
    for spec in MODEL_SPECS.values():
        if spec.experts > 1:
            continue  # same shape as Wan2.1 14B per expert; a two-expert pipeline is named by its model id
        if all(config.get(key) == spec.transformer[key] for key in ("num_layers", "num_attention_heads", "ffn_dim")):
            return spec
    width = config.get("num_attention_heads", 12) * config.get("attention_head_dim", 128)
    return MODEL_SPECS["wan2.1-vace-14b" if width >= 3072 else "wan2.1-vace-1.3b"]


def transformer_params(config: dict) -> int:
    """Parameter count of WanVACETransformer3DModel(**config), exact (see tests)."""
    d = config["num_attention_heads"] * config["attention_head_dim"]
    f, text_dim, freq = config["ffn_dim"], config["text_dim"], config["freq_dim"]
    patch = math.prod(config["patch_size"])
    attention = 2 * (4 * (d * d + d) + 2 * d)
    block = attention + 2 * d + (d * f + f) + (f * d + d) + 6 * d  # + norm2 (affine) + ffn + modulation
    vace = len(config["vace_layers"]) * (block + d * d + d) + (d * d + d)  # proj_out each, proj_in on the first
    top = (config["in_channels"] * patch * d + d) + (config["vace_in_channels"] * patch * d + d)
    top += (freq * d + d) + (d * d + d) + (d * 6 * d + 6 * d) + (text_dim * d + d) + (d * d + d)
    top += d * config["out_channels"] * patch + config["out_channels"] * patch + 2 * d
    return config["num_layers"] * block + vace + top


def latent_tokens(config: dict, width: int, height: int, num_frames: int, num_references: int = 0) -> int:
    """Transformer sequence length: latent frames ((frames-1)/4+1, plus one per reference) x (h/16) x (w/16)."""
    _, patch_h, patch_w = config["patch_size"]
    frames = (num_frames - 1) // C.TEMPORAL_STRIDE + 1 + num_references
    return frames * (height // (8 * patch_h)) * (width // (8 * patch_w))


def transformer_flops(spec: ModelSpec, width: int, height: int, num_frames: int, num_references: int = 0) -> float:
    """FLOPs of one transformer call (one CFG branch of one step), multiply-add = 2. Matches torch's FLOP counter
    on the diffusers module (tests). Attention is dense: 4*L^2*d per self-attention."""
    cfg = spec.transformer
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    f, s, patch = cfg["ffn_dim"], spec.text_tokens, math.prod(cfg["patch_size"])
    n = latent_tokens(cfg, width, height, num_frames, num_references)
    block = 12 * n * d * d + 4 * s * d * d + 4 * n * n * d + 4 * n * s * d + 4 * n * d * f
    vace = len(cfg["vace_layers"]) * (block + 2 * n * d * d) + 2 * n * d * d
    embed = 2 * n * d * patch * (cfg["in_channels"] + cfg["vace_in_channels"] + cfg["out_channels"])
    conditions = 2 * s * (cfg["text_dim"] * d + d * d) + 2 * (cfg["freq_dim"] * d + d * d + 6 * d * d)
    return float(cfg["num_layers"] * block + vace + embed + conditions)
