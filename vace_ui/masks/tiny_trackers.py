"""Tiny random-weight video trackers built in-process from small configs: the real transformers classes
(Sam2VideoModel, EdgeTamVideoModel, Sam3TrackerVideoModel), their processors, preprocessing and postprocessing, for
tests and offline demos. The weights are random, so the masks are noise; only the wiring is real. One bias is set
by hand: the object-score head says "object present", else random weights mostly answer "no object" and every
propagated mask comes out empty (the models' no-object score), which would hide the wiring the tests look at.
"""

from __future__ import annotations

IMAGE = 128  # input side; the three feature levels are IMAGE/4, IMAGE/8, IMAGE/16
HIDDEN = 128  # must exceed the memory width (64, fixed in the memory attention) like the real models' 256


def _common() -> dict:
    """Tracker config fields shared by the three families (memory attention, encoder, fuser)."""
    return dict(
        prompt_encoder_config=dict(hidden_size=HIDDEN, image_size=IMAGE, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=HIDDEN, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=16),
        memory_attention_hidden_size=HIDDEN, memory_attention_num_layers=1,
        memory_attention_rope_feat_sizes=[IMAGE // 16, IMAGE // 16], memory_encoder_hidden_size=HIDDEN,
        memory_encoder_output_channels=64, mask_downsampler_embed_dim=HIDDEN, memory_fuser_num_layers=1,
        memory_fuser_embed_dim=HIDDEN, memory_fuser_intermediate_dim=64, num_maskmem=3,
        max_object_pointers_in_encoder=4,
    )


def _hiera_vision() -> dict:
    sizes = [[IMAGE // 4] * 2, [IMAGE // 8] * 2, [IMAGE // 16] * 2]
    return dict(model_type="sam2_vision_model", backbone_config=dict(
        model_type="sam2_hiera_det_model", hidden_size=12, num_attention_heads=1, image_size=[IMAGE, IMAGE],
        blocks_per_stage=[1, 1, 2, 1], embed_dim_per_stage=[12, 24, 48, 96], num_attention_heads_per_stage=[1] * 4,
        window_size_per_stage=[4] * 4, global_attention_blocks=[3],
        window_positional_embedding_background_size=[4, 4]),
        backbone_channel_list=[96, 48, 24, 12], backbone_feature_sizes=sizes, fpn_hidden_size=HIDDEN)


def _sam2_processor(processor_class: str = "Sam2VideoProcessor"):
    import transformers

    size = {"height": IMAGE, "width": IMAGE}
    return getattr(transformers, processor_class)(transformers.Sam2ImageProcessor(size=size),
                                                 transformers.Sam2VideoVideoProcessor(size=size))


def _present(model):
    import torch

    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    return model.eval()


def build_tiny(name: str, seed: int = 0):
    """(model, processor) of tracker `name` (sam2, edgetam, sam3) with random weights."""
    import torch
    import transformers

    torch.manual_seed(seed)
    if name == "sam2":
        config = transformers.Sam2VideoConfig(vision_config=_hiera_vision(), image_size=IMAGE,
                                              memory_attention_feed_forward_hidden_size=64, **_common())
        return _present(transformers.Sam2VideoModel(config)), _sam2_processor()
    if name == "edgetam":
        config = transformers.EdgeTamVideoConfig(
            vision_config=_hiera_vision(), image_size=IMAGE, memory_attention_mlp_hidden_size=64,
            memory_attention_rope_k_sizes=[4, 4], perceiver_resampler_num_latents=16,
            perceiver_resampler_num_latents_2d=16, perceiver_resampler_mlp_intermediate_size=64,
            perceiver_resampler_num_layers=1, **_common())
        return _present(transformers.EdgeTamVideoModel(config)), _sam2_processor()
    if name == "sam3":
        config = build_tiny_config_sam3()
        side = config.image_size
        size = {"height": side, "width": side}
        processor = transformers.Sam3TrackerVideoProcessor(transformers.Sam2ImageProcessor(size=size),
                                                           transformers.Sam2VideoVideoProcessor(size=size))
        return _present(transformers.Sam3TrackerVideoModel(config)), processor
    raise ValueError(f"no tiny build for tracker {name!r}")


def build_tiny_config_sam3():
    """The tiny SAM 3 tracker config (a ViT at patch 14, the levels made by the FPN's scales)."""
    import transformers

    patch = 14
    side = IMAGE // 16 * patch  # a ViT grid of IMAGE/16 tokens at patch 14; FPN scales 4, 2, 1 make the levels
    grid = side // patch
    vision = dict(model_type="sam3_vision_model", fpn_hidden_size=HIDDEN,
                  backbone_feature_sizes=[[grid * 4] * 2, [grid * 2] * 2, [grid] * 2],
                  backbone_config=dict(model_type="sam3_vit_model", hidden_size=32, intermediate_size=64,
                                       num_hidden_layers=2, num_attention_heads=2, image_size=side,
                                       patch_size=patch, window_size=grid, global_attn_indexes=[1],
                                       pretrain_image_size=side))
    common = _common()
    common["prompt_encoder_config"] = dict(common["prompt_encoder_config"], image_size=side, patch_size=patch)
    common["memory_attention_rope_feat_sizes"] = [grid, grid]
    return transformers.Sam3TrackerVideoConfig(vision_config=vision, image_size=side,
                                               memory_attention_feed_forward_hidden_size=64, **common)


def build_tiny_text(seed: int = 0):
    """(model, processor): a tiny random-weight SAM 3 video model (detector with its CLIP text encoder, and tracker)
    and its processor with a small word-level tokenizer. Detection thresholds are 0 and the tracker says "object
    present", so random weights still yield masks on every frame (noise; only the wiring is real)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    torch.manual_seed(seed)
    tracker = build_tiny_config_sam3()
    side = tracker.image_size
    size = {"height": side, "width": side}
    small = dict(hidden_size=HIDDEN, num_layers=1, num_attention_heads=2, intermediate_size=64)
    text = dict(model_type="clip_text_model", vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=32, projection_dim=32, pad_token_id=0, bos_token_id=1,
                eos_token_id=2)
    detector = dict(vision_config=tracker.vision_config.to_dict(), text_config=text, geometry_encoder_config=small,
                    detr_encoder_config=small, detr_decoder_config=dict(small, num_queries=8),
                    mask_decoder_config=dict(hidden_size=HIDDEN, num_attention_heads=2))
    config = transformers.Sam3VideoConfig(detector_config=detector, tracker_config=tracker.to_dict(),
                                          low_res_mask_size=side // 4 * 4, score_threshold_detection=0.0,
                                          new_det_thresh=0.0, hotstart_delay=0, det_nms_thresh=0.5)
    model = transformers.Sam3VideoModel(config).eval()
    _present(model.tracker_model)
    words = ["<pad>", "<s>", "</s>", "<unk>", "the", "a", "all", "dog", "people", "cat", "person", "car"]
    backend = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1),
                                                                                                 ("</s>", 2)])
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                                     bos_token="<s>", eos_token="</s>")
    processor = transformers.Sam3VideoProcessor(transformers.Sam2ImageProcessor(size=size),
                                                transformers.Sam2VideoVideoProcessor(size=size), tokenizer)
    return model, processor
